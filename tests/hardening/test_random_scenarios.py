"""Invariants under random valid scenarios (property-based).

Levers and behavioural parameters are drawn across their documented ranges, together with structural corners
(zero platforms, a single funder, nobody seeking credit, a cap below every funding cost), and every month of
every run must satisfy the invariants below. ``ZHUDAI_PROPERTY_EXAMPLES`` raises the number of scenarios
(default 40 in CI).
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import LendingModel, load_scenario
from model.enums import KIND_CODES, FunderKind
from model.params import iter_fields

EXAMPLES = int(os.environ.get("ZHUDAI_PROPERTY_EXAMPLES", "40"))
KINDS = list(FunderKind)

# Numeric parameters with finite documented ranges that are safe to vary independently (not structure or
# lengths, which have cross-field rules of their own).
_SKIP = ("run.", "count", "bigtech_count", "regions", "channel_mix", "segment_shares", "kinds", "targets", ".by",
         "start", "deadline", "max_loans")
VARIABLE = [
    (key, f) for key, f, d in iter_fields()
    if isinstance(d, (int, float)) and not isinstance(d, bool) and f.metadata.get("hi") is not None
    and not any(s in key for s in _SKIP)
]
SWITCHES = [key for key, f, d in iter_fields() if isinstance(d, bool)]


@st.composite
def scenarios(draw):
    overrides = ["run.borrowers=400", "run.months=6", f"run.burn_in={draw(st.integers(0, 3))}"]
    for key, f in draw(st.lists(st.sampled_from(VARIABLE), min_size=0, max_size=8, unique_by=lambda kf: kf[0])):
        lo, hi = f.metadata.get("lo") or 0.0, f.metadata["hi"]
        hi = min(hi, lo + 50.0) if hi > 1e3 else hi  # budgets up to 1e12 add nothing but float noise
        if f.type in ("int", int):
            overrides.append(f"{key}={draw(st.integers(int(lo), int(hi)))}")
        else:
            overrides.append(f"{key}={draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))!r}")
    for key in draw(st.lists(st.sampled_from(SWITCHES), max_size=6, unique=True)):
        overrides.append(f"{key}={draw(st.booleans())}".replace("True", "true").replace("False", "false"))
    corner = draw(st.sampled_from(["none", "no_platforms", "one_funder", "no_seekers", "cap_below_costs"]))
    if corner == "no_platforms":
        overrides += ["platforms.head.count=0", "platforms.waist.count=0", "platforms.tail.count=0"]
    elif corner == "one_funder":
        overrides += [f"funders.{k.value}.count=0" for k in KINDS if k != FunderKind.CFC]
        overrides += ["funders.cfc.count=1", "funders.microlender.bigtech_count=0"]
    elif corner == "no_seekers":
        overrides += ["borrowers.seek_prob=[0.0, 0.0, 0.0]"]
    elif corner == "cap_below_costs":
        overrides += ["policy.rate_cap.enabled=true", "policy.rate_cap.apr=0.01", "policy.rate_cap.start=2024-01"]
    return overrides, corner


def _check_month(m: LendingModel, was_active: np.ndarray, n_borrowers: int) -> np.ndarray:
    t = m.tables()
    row = t["model"].iloc[-1]
    for name, value in row.items():
        if name in ("date", "binding_cap"):
            continue
        assert np.isfinite(float(value)), (name, value)
    for col in ("head_share", "cr5", "rationed_share", "default_rate", "npl_ratio", "multi_lender_share",
                "spiral_share", "api_share"):
        assert 0.0 <= row[col] <= 1.0 + 1e-12, (col, row[col])
    assert 0.0 <= row["hhi"] <= 10000.0 + 1e-6
    L = m.loans
    bal = L.view("balance")
    assert np.all(np.isfinite(bal)) and np.all(bal >= -1e-9)
    lic = ~L.view("shadow")
    assert abs(row["outstanding_balance"] - bal[lic].sum()) <= 1e-6 * max(1.0, bal[lic].sum())
    for p in m.platforms:
        assert np.isfinite(p.capital) and np.isfinite(p.outstanding)
    for f in m.funders:
        assert np.isfinite(f.profit) and np.isfinite(f.platform_outstanding)
    # New licensed loans this month respect the all-in cap of their funder's kind.
    new = lic & (L.view("orig_step") == m.t)
    if new.any():
        kind = np.array([KIND_CODES[m.funders[i].kind] for i in L.view("funder")[new]])
        assert np.all(L.view("apr")[new] <= m.rules.cap_all_in[kind] + 1e-12)
    # Exits are permanent.
    active = np.array([p.active for p in m.platforms], dtype=bool)
    assert not np.any(active & ~was_active)
    # Borrowers are conserved and their state is finite.
    b = m.borrowers
    assert b.n == n_borrowers and b.dpd.shape[0] == n_borrowers
    assert np.all(np.isfinite(b.buffer)) and np.all(b.buffer >= 0) and np.all(b.arrears >= 0)
    return active


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2**31 - 1))
def test_invariants_hold_every_month(drawn, seed):
    overrides, corner = drawn
    m = LendingModel(load_scenario("baseline", overrides=overrides), rng=seed)
    partners_before = np.array([f.partners.copy() for f in m.funders]) if m.funders else None
    was_active = np.array([p.active for p in m.platforms], dtype=bool)
    for _ in range(6):
        whitelisted = np.array([f.partners.copy() for f in m.funders]) if m.funders else partners_before
        m.step()
        was_active = _check_month(m, was_active, m.borrowers.n)
        # Every platform loan made this month went through a pair on the funder's whitelist at the time.
        L = m.loans
        new_plat = (L.view("orig_step") == m.t) & ~L.view("shadow") & (L.view("platform") >= 0)
        if new_plat.any():
            assert np.all(whitelisted[L.view("funder")[new_plat], L.view("platform")[new_plat]])
    if corner == "no_platforms":
        assert (m.tables()["model"]["platform_volume"] == 0).all()
    if corner == "cap_below_costs":
        assert (m.tables()["model"]["origination_volume"] == 0).all()
