"""One-line builders of hand-made inputs for the mechanisms' unit tests: borrowers, a loan book, institutions.

Every field defaults to a quiet value and can be overridden with a scalar (broadcast) or a list, e.g.
``book(n=3, balance=[100, 50, 20], apr=0.2)``. Dtypes follow model/borrowers.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from model.borrowers import LoanBook

_NEVER_EXCLUDED = -(2**30)

# field: (default, dtype)
_BORROWER_FIELDS = {
    # state (model/borrowers.py BorrowerPopulation)
    "dpd": (0, np.int16), "arrears": (0.0, float), "buffer": (0.0, float), "buffer_cap": (1e6, float),
    "btr_months": (0, np.int16), "dsti_at_btr_start": (0.0, float), "excluded_until": (_NEVER_EXCLUDED, np.int32),
    # this month's flows (model/lending.py LendingModel attributes)
    "cash": (0.0, float), "proceeds": (0.0, float), "shadow_proceeds": (0.0, float), "dsti": (0.0, float),
    "seeking": (False, bool), "seeking_refi": (False, bool), "delinquent_need": (False, bool),
    "shortfall": (0.0, float), "seek_amount": (0.0, float),
}

_LOAN_DEFAULTS = {
    "desk": 0, "funder": 0, "platform": 0, "balance": 100.0, "apr": 0.24, "funder_rate": 0.12, "amort": 10.0,
    "months_left": 6, "guaranteed": False, "renewable": True, "shadow": False, "orig_step": 0, "pd_est": 0.06,
}


def _fill(n: int, value, dtype) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n, arr, dtype=dtype)
    assert arr.shape == (n,), f"expected {n} values, got {arr.shape}"
    return arr.copy()


def population(n: int = 3, **fields) -> SimpleNamespace:
    """``n`` borrowers: current, no arrears, no cash, not seeking, never excluded, unless overridden."""
    unknown = set(fields) - set(_BORROWER_FIELDS)
    assert not unknown, f"unknown borrower fields {unknown}"
    return SimpleNamespace(n=n, **{k: _fill(n, fields.get(k, d), dt) for k, (d, dt) in _BORROWER_FIELDS.items()})


def book(n: int = 3, **fields) -> SimpleNamespace:
    """``n`` licensed loans at platform 0 from funder 0, one per borrower (``borrower = 0..n-1``) unless overridden.

    ``principal0`` defaults to ``balance``; ``renewed`` (not a book field) defaults to False.
    """
    dtypes = dict(LoanBook.FIELDS)
    unknown = set(fields) - set(dtypes) - {"renewed"}
    assert not unknown, f"unknown loan fields {unknown}"
    out = {"borrower": _fill(n, fields.get("borrower", np.arange(n)), dtypes["borrower"])}
    for k, d in _LOAN_DEFAULTS.items():
        out[k] = _fill(n, fields.get(k, d), dtypes[k])
    out["principal0"] = _fill(n, fields.get("principal0", out["balance"]), dtypes["principal0"])
    out["renewed"] = _fill(n, fields.get("renewed", False), bool)
    return SimpleNamespace(n=n, **out)


def institutions(platforms: int = 2, funders: int = 1, **fields) -> SimpleNamespace:
    """Per-platform ``opex_rate`` and ``solvent``; per-funder ``funding_cost``, ``direct_opex_rate``, ``kind``."""
    per_platform = {"opex_rate": (0.01, float), "solvent": (True, bool)}
    per_funder = {"funding_cost": (0.03, float), "direct_opex_rate": (0.02, float), "kind": (0, np.int64)}
    unknown = set(fields) - set(per_platform) - set(per_funder)
    assert not unknown, f"unknown institution fields {unknown}"
    out = {k: _fill(platforms, fields.get(k, d), dt) for k, (d, dt) in per_platform.items()}
    out |= {k: _fill(funders, fields.get(k, d), dt) for k, (d, dt) in per_funder.items()}
    return SimpleNamespace(n_platforms=platforms, n_funders=funders, **out)
