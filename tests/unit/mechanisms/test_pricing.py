"""Unit tests for model.mechanisms.pricing: PD, noisy estimates, quotes under caps, cap paths."""

import numpy as np
import pytest

from model.mechanisms.pricing import (
    annual_pd,
    cap_path,
    estimate_pd,
    loan_caps,
    max_priceable_pd,
    priced_above,
    quote,
)

INF = np.inf


# ------------------------------------------------------------------ annual_pd
def test_annual_pd_zero_hazard_is_zero():
    pd = annual_pd(np.zeros(4), np.array([0.0, 0.3, 1.0, 5.0]), 2.0)
    np.testing.assert_array_equal(pd, 0.0)


def test_annual_pd_formula_without_leverage():
    h = np.array([0.01])
    np.testing.assert_allclose(annual_pd(h, np.zeros(1), 1.5), 1 - 0.99**12)


def test_annual_pd_monotone_in_hazard_and_dsti():
    h = np.linspace(0.0, 0.02, 21)
    pd_h = annual_pd(h, np.full(h.size, 0.3), 1.0)
    assert np.all(np.diff(pd_h) > 0)
    d = np.linspace(0.0, 1.0, 11)
    pd_d = annual_pd(np.full(d.size, 0.01), d, 1.0)
    assert np.all(np.diff(pd_d) > 0)
    # Once saturated at 1 it stays there (weakly monotone everywhere).
    big = annual_pd(np.linspace(0.0, 1.0, 101), np.full(101, 0.5), 1.0)
    assert np.all(np.diff(big) >= 0) and big[-1] == 1.0


def test_annual_pd_clipped_to_unit_interval():
    pd = annual_pd(np.array([-0.5, 0.5, 1.0, 3.0]), np.array([-1.0, 10.0, 10.0, 0.0]), 5.0)
    assert np.all(pd >= 0.0) and np.all(pd <= 1.0)
    assert pd[0] == 0.0  # negative hazard clipped to 0
    assert pd[1] == 1.0 and pd[2] == 1.0 and pd[3] == 1.0


# ---------------------------------------------------------------- estimate_pd
def test_estimate_pd_without_noise_is_truth():
    truth = np.array([0.0, 0.01, 0.2, 0.9])
    z = np.random.default_rng(0).standard_normal(4)
    np.testing.assert_allclose(estimate_pd(truth, 0.0, z), truth)


def test_estimate_pd_mean_unbiased():
    rng = np.random.default_rng(42)
    n = 400_000
    truth = np.full(n, 0.05)
    est = estimate_pd(truth, 0.6, rng.standard_normal(n))
    assert abs(est.mean() / 0.05 - 1.0) < 0.02
    assert est.std() > 0.01  # the noise actually does something


def test_estimate_pd_clipped():
    est = estimate_pd(np.array([0.9]), 2.0, np.array([5.0]))
    assert est[0] == 1.0


# ---------------------------------------------------------------------- quote
def _q(**kw):
    base = dict(
        funding_cost=np.array([0.04]), spread=np.array([0.02]), est_pd=np.array([0.10]), lgd=0.8,
        take_rate=np.array([0.03]), service_fee=np.array([0.02]), guaranteed=np.array([False]),
        guarantee_margin=0.5, markup=np.array([0.0]), cap_nominal=np.array([INF]), cap_all_in=np.array([INF]),
    )
    base.update({k: np.atleast_1d(np.asarray(v)) if k not in ("lgd", "guarantee_margin") else v
                 for k, v in kw.items()})
    return quote(**base)


def test_quote_decomposition_not_guaranteed():
    q = _q()
    el = 0.10 * 0.8
    np.testing.assert_allclose(q["funder_rate"], 0.04 + 0.02 + el)
    np.testing.assert_allclose(q["required"], 0.04 + 0.02 + el + 0.03 + 0.02)
    np.testing.assert_allclose(q["apr"], q["required"])  # no markup, no cap
    np.testing.assert_allclose(q["originator_rate"], 0.03 + 0.02)
    assert q["ok"].all()


def test_quote_guarantee_moves_el_into_fees_with_margin():
    q = _q(guaranteed=[True])
    el = 0.10 * 0.8
    np.testing.assert_allclose(q["funder_rate"], 0.04 + 0.02)
    np.testing.assert_allclose(q["required"], 0.04 + 0.02 + 0.03 + 0.02 + el * 1.5)
    np.testing.assert_allclose(q["originator_rate"], 0.03 + 0.02 + el * 1.5)
    # The guarantee makes the loan dearer by exactly EL * margin.
    np.testing.assert_allclose(q["required"] - _q()["required"], el * 0.5)


def test_quote_markup_without_cap():
    q = _q(markup=[0.25], service_fee=[0.0])
    np.testing.assert_allclose(q["apr"], q["required"] * 1.25)


def test_all_in_cap_truncates_markup_bunching():
    ref = _q(markup=[0.5])
    req = float(ref["required"][0])
    cap = req * 1.2  # required < cap < required * (1 + markup)
    q = _q(markup=[0.5], cap_all_in=[cap])
    assert q["ok"][0]
    assert q["apr"][0] == pytest.approx(cap, abs=1e-15)
    assert q["apr"][0] >= q["required"][0]


def test_required_above_cap_refused():
    req = float(_q()["required"][0])
    q = _q(cap_all_in=[req * 0.99])
    assert not q["ok"][0]
    q2 = _q(cap_nominal=[0.01])
    assert not q2["ok"][0]


def test_nominal_cap_excludes_fees():
    # Nominal requirement = 0.04 + 0.02 + 0.08 + 0.03 = 0.17; fees = 0.02.
    q = _q(markup=[1.0], cap_nominal=[0.20])
    assert q["ok"][0]
    np.testing.assert_allclose(q["apr"], 0.20 + 0.02)
    assert q["apr"][0] > 0.20
    # With a guarantee, the guarantee fee also sits outside the nominal cap.
    qg = _q(markup=[2.0], cap_nominal=[0.20], guaranteed=[True])
    np.testing.assert_allclose(qg["apr"], 0.20 + 0.02 + 0.08 * 1.5)


def test_accepted_loans_never_below_required():
    rng = np.random.default_rng(3)
    n = 5000
    q = quote(
        funding_cost=rng.uniform(0.02, 0.06, n), spread=rng.uniform(0.0, 0.03, n), est_pd=rng.uniform(0, 0.4, n),
        lgd=0.85, take_rate=rng.uniform(0, 0.08, n), service_fee=rng.uniform(0, 0.08, n),
        guaranteed=rng.random(n) < 0.5, guarantee_margin=0.3, markup=rng.uniform(0, 0.6, n),
        cap_nominal=np.where(rng.random(n) < 0.5, 0.24, INF), cap_all_in=np.where(rng.random(n) < 0.5, 0.24, INF),
    )
    ok = q["ok"]
    assert 0 < ok.sum() < n
    assert np.all(q["apr"][ok] >= q["required"][ok] - 1e-12)
    assert np.all(q["originator_rate"][ok] >= -1e-12)
    # Accepted all-in-capped loans never exceed their cap.
    np.testing.assert_allclose(q["apr"] - q["funder_rate"], q["originator_rate"])


# ------------------------------------------------------------------- cap_path
def test_cap_path_before_start_is_inf():
    assert cap_path(0.24, 4.0, 0.03, start=100, by=124, month=99) == float("inf")


def test_cap_path_flat_without_lpr_multiple():
    for m in (100, 110, 124, 200):
        assert cap_path(0.20, 0.0, 0.03, start=100, by=124, month=m) == 0.20


def test_cap_path_linear_then_flat():
    start, by = 100, 124
    end = 4 * 0.03
    assert cap_path(0.24, 4.0, 0.03, start, by, start) == pytest.approx(0.24)
    assert cap_path(0.24, 4.0, 0.03, start, by, start + 12) == pytest.approx((0.24 + end) / 2)
    assert cap_path(0.24, 4.0, 0.03, start, by, by) == pytest.approx(end)
    assert cap_path(0.24, 4.0, 0.03, start, by, by + 30) == pytest.approx(end)
    path = [cap_path(0.24, 4.0, 0.03, start, by, m) for m in range(start, by + 1)]
    steps = np.diff(path)
    np.testing.assert_allclose(steps, steps[0])  # linear
    assert steps[0] < 0


def test_cap_path_never_rises_above_start():
    # 4 x LPR above the starting cap: the cap stays at apr_start.
    assert cap_path(0.10, 4.0, 0.05, 100, 124, 124) == pytest.approx(0.10)


# ------------------------------------------------------------------- loan_caps (announced caps)
def test_loan_caps_tighten_only_loans_that_outlive_the_announced_start():
    """Three 12-month loans; the announced 24% all-in cap starts in 6, 12 and 13 months.

    The first two would still run when it starts (on the start month counts), the third matures before."""
    nominal, all_in = loan_caps(cap_nominal=np.full(3, 0.36), cap_all_in=np.full(3, INF),
                                announced_nominal=np.full(3, INF), announced_all_in=np.full(3, 0.24),
                                months_to_start=np.array([6.0, 12.0, 13.0]), term_months=12)
    np.testing.assert_array_equal(nominal, [0.36, 0.36, 0.36])  # the cap in force still binds too
    np.testing.assert_array_equal(all_in, [0.24, 0.24, INF])


def test_loan_caps_keep_the_tighter_of_in_force_and_announced():
    nominal, all_in = loan_caps(cap_nominal=np.array([0.36, 0.36]), cap_all_in=np.array([0.20, 0.30]),
                                announced_nominal=np.array([0.30, INF]), announced_all_in=np.array([0.24, 0.24]),
                                months_to_start=np.array([3.0, 3.0]), term_months=np.array([12, 2]))
    np.testing.assert_array_equal(nominal, [0.30, 0.36])
    np.testing.assert_array_equal(all_in, [0.20, 0.30])


def test_loan_caps_without_announcement_are_the_caps_in_force_exactly():
    rng = np.random.default_rng(1)
    cap_n, cap_a = rng.uniform(0.1, 0.4, 50), np.where(rng.random(50) < 0.5, INF, rng.uniform(0.1, 0.4, 50))
    nominal, all_in = loan_caps(cap_nominal=cap_n, cap_all_in=cap_a, announced_nominal=np.full(50, INF),
                                announced_all_in=np.full(50, INF), months_to_start=np.full(50, INF), term_months=12)
    np.testing.assert_array_equal(nominal, cap_n)
    np.testing.assert_array_equal(all_in, cap_a)


# ------------------------------------------------------------------- max_priceable_pd
def test_max_priceable_pd_by_hand():
    """base = 0.03 + 0.5 * 0.02 + 0.05 = 0.09, fee 0.015, lgd 0.9, margin 0.3, 24% all-in.

    Borne by the funder: (0.24 - 0.09 - 0.015) / 0.9 = 0.15. Guaranteed: 0.135 / (0.9 * 1.3) = 0.11538...
    A 20% nominal cap on a borne loan: min(0.20 - 0.09, 0.135) / 0.9 = 0.12222...; on a guaranteed loan the
    nominal rate carries no EL, so only the all-in cap limits it."""
    common = dict(funding_cost=np.full(2, 0.03), spread=np.full(2, 0.02), min_spread_share=0.5,
                  take_rate=np.full(2, 0.05), service_fee=np.full(2, 0.015), guaranteed=np.array([False, True]),
                  lgd=0.9, guarantee_margin=0.3)
    got = max_priceable_pd(**common, cap_nominal=np.full(2, INF), cap_all_in=np.full(2, 0.24))
    np.testing.assert_allclose(got, [0.15, 0.135 / (0.9 * 1.3)])
    got = max_priceable_pd(**common, cap_nominal=np.full(2, 0.20), cap_all_in=np.full(2, 0.24))
    np.testing.assert_allclose(got, [0.11 / 0.9, 0.135 / (0.9 * 1.3)])


def test_max_priceable_pd_limits():
    """No cap: every PD; a cap below the price of a riskless loan: nothing; a guaranteed loan whose nominal part
    alone breaks a nominal cap: nothing."""
    common = dict(funding_cost=np.full(3, 0.03), spread=np.full(3, 0.02), min_spread_share=1.0,
                  take_rate=np.full(3, 0.05), service_fee=np.zeros(3), guaranteed=np.array([False, False, True]),
                  lgd=0.9, guarantee_margin=0.3)
    got = max_priceable_pd(**common, cap_nominal=np.array([INF, INF, 0.08]), cap_all_in=np.array([INF, 0.09, INF]))
    np.testing.assert_array_equal(got, [1.0, 0.0, 0.0])


def test_max_priceable_pd_with_a_kept_markup_by_hand():
    """Full spread: base = 0.03 + 0.02 + 0.05 = 0.10, fee 0.015, lgd 0.9, margin 0.3, 24% all-in, markup 0.2.

    Borne: (0.225 / 1.2 - 0.10) / 0.9 = 0.0972...; guaranteed: (0.225 - 0.12) / (0.9 * 1.3) = 0.0897...
    A zero markup gives the plain ceiling; a larger one a lower ceiling."""
    common = dict(funding_cost=np.full(2, 0.03), spread=np.full(2, 0.02), min_spread_share=1.0,
                  take_rate=np.full(2, 0.05), service_fee=np.full(2, 0.015), guaranteed=np.array([False, True]),
                  lgd=0.9, guarantee_margin=0.3, cap_nominal=np.full(2, INF), cap_all_in=np.full(2, 0.24))
    got = max_priceable_pd(**common, markup=0.2)
    np.testing.assert_allclose(got, [(0.225 / 1.2 - 0.10) / 0.9, (0.225 - 0.12) / (0.9 * 1.3)])
    np.testing.assert_allclose(max_priceable_pd(**common, markup=0.0), max_priceable_pd(**common))
    assert (max_priceable_pd(**common, markup=np.array([0.5, 0.5])) < got).all()


def _random_loans(rng: np.random.Generator, n: int) -> dict:
    """Random funders, platforms, guarantees and caps (half of each cap absent) for ``n`` loans."""
    return dict(funding_cost=rng.uniform(0.02, 0.06, n), spread=rng.uniform(0.0, 0.03, n),
                take_rate=rng.uniform(0, 0.08, n), service_fee=rng.uniform(0, 0.05, n),
                guaranteed=rng.random(n) < 0.5, cap_nominal=np.where(rng.random(n) < 0.5, 0.24, INF),
                cap_all_in=np.where(rng.random(n) < 0.5, rng.uniform(0.15, 0.36, n), INF))


def test_max_priceable_pd_with_markup_is_where_quote_keeps_it():
    """Random loans: just below the ceiling, quote's price carries the whole markup (the caps do not truncate
    it); just above, a cap truncates it."""
    rng = np.random.default_rng(11)
    n = 400
    args = _random_loans(rng, n)
    markup = rng.uniform(0.1, 0.8, n)
    ceiling = max_priceable_pd(**args, min_spread_share=1.0, lgd=0.85, guarantee_margin=0.3, markup=markup)
    inner = (ceiling > 1e-6) & (ceiling < 1 - 1e-6)
    assert inner.sum() > 50

    def full_markup(pd):
        q = quote(**args, est_pd=pd, lgd=0.85, guarantee_margin=0.3, markup=markup, min_spread_share=1.0)
        el = pd * 0.85
        g = args["guaranteed"]
        nominal_req = args["funding_cost"] + np.where(g, 0.0, el) + args["spread"] + args["take_rate"]
        fees = args["service_fee"] + np.where(g, el * 1.3, 0.0)
        return np.isclose(q["apr"], nominal_req * (1 + markup) + fees)

    assert full_markup(np.clip(ceiling - 1e-6, 0, 1))[inner].all()
    assert not full_markup(np.clip(ceiling + 1e-4, 0, 1))[inner].any()


def test_max_priceable_pd_is_the_edge_of_quote_ok():
    """Random loans: quote accepts the loan just below the ceiling and refuses it just above (where below 1)."""
    rng = np.random.default_rng(7)
    n = 400
    args = _random_loans(rng, n)
    ceiling = max_priceable_pd(**args, min_spread_share=0.3, lgd=0.85, guarantee_margin=0.3)
    inner = (ceiling > 1e-6) & (ceiling < 1 - 1e-6)
    assert inner.sum() > 50

    def ok(pd):
        return quote(**args, est_pd=pd, lgd=0.85, guarantee_margin=0.3, markup=np.zeros(n), min_spread_share=0.3)["ok"]

    assert ok(np.where(inner, ceiling - 1e-9, 0.0))[inner].all()
    assert not ok(np.where(inner, ceiling + 1e-9, 0.0))[inner].any()


# ------------------------------------------------------------------- priced_above
def test_priced_above_all_in_and_nominal():
    """Fees 0.02 + (guaranteed) 0.1 * 0.9 * 1.3 = 0.137. All-in 24%: 0.25 is above, 0.24 is not. Nominal 20%:
    0.25 - 0.02 = 0.23 is above for the unguaranteed loan, 0.25 - 0.137 = 0.113 is not for the guaranteed one."""
    common = dict(service_fee=np.full(2, 0.02), guaranteed=np.array([False, True]), est_pd=np.full(2, 0.1), lgd=0.9,
                  guarantee_margin=0.3)
    all_in = priced_above(apr=np.array([0.25, 0.24]), **common, cap_nominal=np.full(2, INF),
                          cap_all_in=np.full(2, 0.24))
    np.testing.assert_array_equal(all_in, [True, False])
    nominal = priced_above(apr=np.full(2, 0.25), **common, cap_nominal=np.full(2, 0.20), cap_all_in=np.full(2, INF))
    np.testing.assert_array_equal(nominal, [True, False])
    none = priced_above(apr=np.full(2, 0.9), **common, cap_nominal=np.full(2, INF), cap_all_in=np.full(2, INF))
    assert not none.any()
