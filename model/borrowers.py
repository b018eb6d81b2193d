"""Borrowers as a vectorized agent set, and the loan book as arrays.

Every borrower is an individual agent whose state is one row of the arrays in
:class:`BorrowerPopulation` (struct of arrays). Every loan is one row of :class:`LoanBook`.
Money is yuan as float64; balances are compared with an absolute tolerance of 1e-6 yuan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.params import BorrowerParams

#: Months past due at which a loan counts as non-performing (90+ days).
NPL_DPD = 3


class BorrowerPopulation:
    """The borrower population: one row per borrower.

    Attributes (all arrays of length ``n``):
        segment: 0 prime, 1 near-prime, 2 subprime. Exogenous, drawn from ``segment_shares``.
        income: normal monthly income (yuan). Exogenous, log-normal around the segment median.
        hazard: monthly income-shock probability, the borrower's true risk. Exogenous, log-normal.
        risk_z: standardized log hazard (what channels select on). Derived once.
        spend_share: essential spending share of normal income. Exogenous (segment value).
        buffer: liquid savings (yuan). Endogenous.
        shocked: in an income shock this month. Endogenous (Markov).
        dpd: months past due (0 current, 3+ non-performing). Endogenous.
        arrears: missed interest owed (yuan). Endogenous.
        excluded_until: step until which licensed lenders refuse the borrower (after a charge-off).
        btr_months: consecutive months the borrower borrowed to repay. Endogenous.
        dsti_at_btr_start: DSTI in the first month of the current borrowing-to-repay run.
        revolve_prob: probability of asking to renew a maturing line. Exogenous (segment value).
    """

    def __init__(self, n: int, params: BorrowerParams, rng: np.random.Generator):
        self.n = n
        self.params = params
        seg = rng.choice(3, size=n, p=np.asarray(params.segment_shares, dtype=float) / sum(params.segment_shares))
        self.segment = seg.astype(np.int8)
        med_income = np.asarray(params.income_median, dtype=float)[seg]
        self.income = med_income * np.exp(params.income_sigma * rng.standard_normal(n))
        med_hazard = np.asarray(params.hazard, dtype=float)[seg]
        self.hazard = np.clip(med_hazard * np.exp(params.hazard_sigma * rng.standard_normal(n)), 0.0, 1.0)
        log_h = np.log(np.maximum(self.hazard, 1e-9))
        sd = log_h.std() if n > 1 else 0.0
        self.risk_z = (log_h - log_h.mean()) / sd if sd > 0 else np.zeros(n)
        self.spend_share = np.asarray(params.essential_spend_share, dtype=float)[seg]
        self.buffer = np.asarray(params.buffer_months, dtype=float)[seg] * self.income
        self.buffer_cap = np.asarray(params.buffer_cap_months, dtype=float)[seg] * self.income
        self.revolve_prob = np.asarray(params.revolve_prob, dtype=float)[seg]
        self.seek_prob = np.asarray(params.seek_prob, dtype=float)[seg]
        self.loan_size = np.asarray(params.loan_income_multiple, dtype=float)[seg] * self.income
        self.shocked = np.zeros(n, dtype=bool)
        self.dpd = np.zeros(n, dtype=np.int16)
        self.arrears = np.zeros(n)
        self.excluded_until = np.full(n, -(2**30), dtype=np.int32)
        self.btr_months = np.zeros(n, dtype=np.int16)
        self.dsti_at_btr_start = np.zeros(n)

    def draw_shocks(self, rng: np.random.Generator) -> np.ndarray:
        """The month's one uniform per borrower that :meth:`update_shocks` compares with its probabilities."""
        return rng.random(self.n)

    def update_shocks(self, rng: np.random.Generator, hazard_multiplier: float) -> None:
        """Income shocks start with the borrower's hazard and end with probability ``1 / mean duration``."""
        u = self.draw_shocks(rng)
        recover = 1.0 / self.params.shock_months_mean
        start = ~self.shocked & (u < np.clip(self.hazard * hazard_multiplier, 0.0, 1.0))
        end = self.shocked & (u < recover)
        self.shocked = (self.shocked | start) & ~end

    def cash_available(self) -> np.ndarray:
        """Savings plus this month's income minus essential spending (can be negative)."""
        income_now = np.where(self.shocked, self.income * self.params.shock_income_share, self.income)
        return self.buffer + income_now - self.spend_share * self.income


@dataclass
class NewLoans:
    """Loans to add to the book (one row each)."""

    borrower: np.ndarray
    desk: np.ndarray
    funder: np.ndarray
    platform: np.ndarray
    principal: np.ndarray
    apr: np.ndarray
    funder_rate: np.ndarray
    guaranteed: np.ndarray
    term: int
    amortizing_share: float
    step: int
    shadow: bool = False
    pd_est: np.ndarray | None = None  # the originator's PD estimate used in pricing (for loss calibration)


class LoanBook:
    """All live loans, licensed and shadow, one row per loan.

    Attributes:
        borrower, desk, funder, platform: who owes whom (platform -1 for direct loans, funder -1 and
            platform -1 for shadow loans; desk -1 for shadow loans).
        balance: outstanding principal (yuan).
        principal0: principal at origination.
        apr: all-in annual rate the borrower pays; ``funder_rate`` is the funder's part.
        amort: principal repaid in each instalment; the rest is a balloon at maturity.
        months_left: instalments left; 0 or less means matured and overdue.
        guaranteed: platform guarantee (兜底) covers the funder's loss.
        renewable: the lender would renew at maturity (cleared by withdrawals).
        shadow: a shadow-lender loan.
        orig_step: step of origination.
        pd_est: the originator's PD estimate at origination, for comparing realised with expected losses.
    """

    FIELDS = (
        ("borrower", np.int64), ("desk", np.int32), ("funder", np.int32), ("platform", np.int32),
        ("balance", np.float64), ("principal0", np.float64), ("apr", np.float64), ("funder_rate", np.float64),
        ("amort", np.float64), ("months_left", np.int32), ("guaranteed", np.bool_), ("renewable", np.bool_),
        ("shadow", np.bool_), ("orig_step", np.int32), ("pd_est", np.float64),
    )

    def __init__(self, capacity: int = 1024):
        self.size = 0
        cap = max(capacity, 16)
        for name, dt in self.FIELDS:
            setattr(self, name, np.zeros(cap, dtype=dt))

    @property
    def capacity(self) -> int:
        return self.borrower.shape[0]

    def view(self, name: str) -> np.ndarray:
        """The live rows of one field."""
        return getattr(self, name)[: self.size]

    def add(self, new: NewLoans) -> np.ndarray:
        """Append loans; returns their row indices."""
        k = new.borrower.shape[0]
        if k == 0:
            return np.empty(0, dtype=np.int64)
        if self.size + k > self.capacity:
            self._grow(self.size + k)
        rows = slice(self.size, self.size + k)
        self.borrower[rows] = new.borrower
        self.desk[rows] = new.desk
        self.funder[rows] = new.funder
        self.platform[rows] = new.platform
        self.balance[rows] = new.principal
        self.principal0[rows] = new.principal
        self.apr[rows] = new.apr
        self.funder_rate[rows] = new.funder_rate
        self.amort[rows] = new.principal * new.amortizing_share / new.term
        self.months_left[rows] = new.term
        self.guaranteed[rows] = new.guaranteed
        self.renewable[rows] = True
        self.shadow[rows] = new.shadow
        self.orig_step[rows] = new.step
        self.pd_est[rows] = 0.0 if new.pd_est is None else new.pd_est
        self.size += k
        return np.arange(rows.start, rows.stop)

    def _grow(self, needed: int) -> None:
        cap = max(needed, int(self.capacity * 1.5))
        for name, dt in self.FIELDS:
            old = getattr(self, name)
            arr = np.zeros(cap, dtype=dt)
            arr[: self.size] = old[: self.size]
            setattr(self, name, arr)

    def remove(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is true (repaid or written off), keeping row order.

        Each field is compacted in place (``arr[:n] = arr[np.flatnonzero(~mask)]``) by a compiled loop.
        """
        from model.kernels import compact  # model.kernels imports this module

        self.size = compact([getattr(self, name) for name, _dt in self.FIELDS], mask)

    def instalment(self) -> np.ndarray:
        """Scheduled payment of each live loan this month: interest plus amortization (no balloon)."""
        bal = self.view("balance")
        return bal * self.view("apr") / 12.0 + np.minimum(self.view("amort"), bal)
