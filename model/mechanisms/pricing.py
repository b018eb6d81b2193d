"""Risk estimation and all-in pricing under caps. Pure functions over numpy arrays.

Price decomposition of a licensed loan (annual rates on the outstanding balance)::

    funder_rate   = funding_cost + spread + (expected loss, if the funder bears it)
    nominal       = funder_rate + take_rate                         (the contractual interest rate)
    fees          = service_fee + guarantee_fee                     (guarantee_fee = EL * (1 + margin) if guaranteed)
    required      = nominal + fees                                  (all-in cost the originator needs)

An originator with market power asks ``required * (1 + markup)``; a cap truncates the capped measure
(nominal, or all-in when fees count toward the cap) at the cap, so loans whose required price sits a
little under the cap bunch at it. The platform's take and fees are sticky; under a binding cap the
funder's spread absorbs the squeeze, down to ``min_spread_share`` of its normal spread (docs/domain.md: a
bank found that 24% all-in minus funding, the platform's share, fees and provisions left no profit). A
loan that cannot be priced under the caps even with that thinnest spread is refused. Quoting has no side
effects; the model commits originations separately.
"""

from __future__ import annotations

import numpy as np


def annual_pd(hazard_monthly: np.ndarray, dsti: np.ndarray, leverage_sensitivity: float) -> np.ndarray:
    """True annual default probability of a borrower.

    ``PD = (1 - (1 - h)^12) * (1 + s * DSTI)``, clipped to [0, 1]: the chance of an income shock within a
    year, scaled up by debt service to income (a shock is more often fatal to a leveraged borrower).

    Args:
        hazard_monthly: monthly income-shock hazard ``h``.
        dsti: debt service to normal income after the loan.
        leverage_sensitivity: ``s``.
    """
    base = 1.0 - (1.0 - np.clip(hazard_monthly, 0.0, 1.0)) ** 12
    return np.clip(base * (1.0 + leverage_sensitivity * np.maximum(dsti, 0.0)), 0.0, 1.0)


def estimate_pd(true_pd: np.ndarray, sigma: np.ndarray | float, z: np.ndarray) -> np.ndarray:
    """A lender's noisy estimate of PD: ``PD * exp(sigma * z - sigma^2 / 2)``, mean-unbiased, clipped to [0, 1].

    Args:
        true_pd: true annual PD.
        sigma: the lender's estimation noise (log SD); falls as its risk-control capability grows.
        z: standard normal draws, one per estimate.
    """
    sigma = np.asarray(sigma, dtype=float)
    return np.clip(true_pd * np.exp(sigma * z - 0.5 * sigma * sigma), 0.0, 1.0)


def quote(
    *,
    funding_cost: np.ndarray,
    spread: np.ndarray,
    est_pd: np.ndarray,
    lgd: float,
    take_rate: np.ndarray,
    service_fee: np.ndarray,
    guaranteed: np.ndarray,
    guarantee_margin: float,
    markup: np.ndarray,
    cap_nominal: np.ndarray,
    cap_all_in: np.ndarray,
    min_spread_share: float = 1.0,
) -> dict[str, np.ndarray]:
    """Price loans and test them against the caps in force. No side effects.

    Args:
        funding_cost, spread: the funder's cost of funds and required margin (annual).
        est_pd: the pricer's PD estimate; expected loss ``EL = est_pd * lgd``.
        lgd: loss given default.
        take_rate, service_fee: the originator's interest share and fee (zero for direct loans).
        guaranteed: True where the originator guarantees the loan (EL moves from the rate into a fee).
        guarantee_margin: guarantee fee = ``EL * (1 + margin)``.
        markup: proportional markup the originator asks over the required price.
        cap_nominal: cap on the nominal rate (``inf`` where none applies).
        cap_all_in: cap on the all-in cost (``inf`` where none applies).
        min_spread_share: least share of its spread a funder accepts when a cap squeezes the price.

    Returns:
        dict with ``apr`` (all-in price offered), ``funder_rate`` (funder's part of the APR),
        ``originator_rate`` (the rest: take, fees, guarantee fee, markup), ``required`` (all-in price with
        the full spread), ``minimum`` (all-in price with the thinnest spread) and ``ok`` (the minimum fits
        every cap).
    """
    el = est_pd * lgd
    guaranteed = guaranteed.astype(bool)
    cost = funding_cost + np.where(guaranteed, 0.0, el)  # the funder's cost and borne expected loss
    fees = service_fee + np.where(guaranteed, el * (1.0 + guarantee_margin), 0.0)
    nominal_req = cost + spread + take_rate
    nominal_min = cost + min_spread_share * spread + take_rate
    required = nominal_req + fees
    minimum = nominal_min + fees
    ok = (nominal_min <= cap_nominal) & (minimum <= cap_all_in)
    nominal_offer = np.minimum(nominal_req * (1.0 + markup), cap_nominal)
    apr = np.minimum(nominal_offer + fees, cap_all_in)
    # The funder is paid its cost and as much of its spread as the price leaves after the platform's part.
    room = apr - cost - take_rate - fees
    funder_rate = cost + np.clip(room, 0.0, spread)
    return {
        "apr": apr,
        "funder_rate": funder_rate,
        "originator_rate": apr - funder_rate,
        "required": required,
        "minimum": minimum,
        "ok": ok,
    }


def loan_caps(*, cap_nominal: np.ndarray, cap_all_in: np.ndarray, announced_nominal: np.ndarray,
              announced_all_in: np.ndarray, months_to_start: np.ndarray,
              term_months: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """The caps each loan is priced under: those in force, and a cap the loan would still be running under.

    A loan written this month with a term of ``term_months`` has its last instalment ``term_months`` months
    from now; if that is on or after the month from which a cap applies to it (``term_months >=
    months_to_start``; for the 2025 rules, the stock clean-up deadline, when stock above the new cap is called),
    the lender prices it within that cap already, so that no loan it writes now would be called. Renewals are
    loans like any other here. All arrays are per loan. Pure.

    Args:
        cap_nominal, cap_all_in: the caps in force (``inf`` where none applies).
        announced_nominal, announced_all_in: the caps a running loan must meet from ``months_to_start`` on
            (``inf`` where none).
        months_to_start: months from now until that cap applies to running loans (``inf`` where none).
        term_months: each loan's term in months (a scalar for one term for all).

    Returns:
        ``(cap_nominal, cap_all_in)`` per loan; equal to the caps in force where nothing is announced.
    """
    outlives = np.asarray(term_months) >= months_to_start
    return (np.where(outlives, np.minimum(cap_nominal, announced_nominal), cap_nominal),
            np.where(outlives, np.minimum(cap_all_in, announced_all_in), cap_all_in))


def priced_above(*, apr: np.ndarray, service_fee: np.ndarray, guaranteed: np.ndarray, est_pd: np.ndarray,
                 lgd: float, guarantee_margin: float, cap_nominal: np.ndarray, cap_all_in: np.ndarray) -> np.ndarray:
    """Loans (of a book) whose price is above a cap: the all-in price against an all-in cap, the nominal rate
    (the price less its fees, as :func:`quote` adds them) against a nominal cap. Pure; all arrays per loan.

    Args:
        apr: each loan's all-in price.
        service_fee, guaranteed, est_pd: its originator's service fee, whether it is guaranteed, and the PD
            estimate it was priced on (the guarantee fee is ``est_pd * lgd * (1 + guarantee_margin)``).
        cap_nominal, cap_all_in: the caps to test against (``inf`` where none).
    """
    fees = service_fee + np.where(guaranteed, est_pd * lgd * (1.0 + guarantee_margin), 0.0)
    return (apr - fees > cap_nominal + 1e-12) | (apr > cap_all_in + 1e-12)


def max_priceable_pd(*, funding_cost: np.ndarray, spread: np.ndarray, min_spread_share: float,
                     take_rate: np.ndarray, service_fee: np.ndarray, guaranteed: np.ndarray, lgd: float,
                     guarantee_margin: float, cap_nominal: np.ndarray, cap_all_in: np.ndarray,
                     markup: np.ndarray | float = 0.0) -> np.ndarray:
    """The highest estimated PD at which a loan is priceable under the caps, keeping a markup ``markup``.

    With ``markup = 0`` this inverts :func:`quote`'s test (the price with the thinnest spread fits every cap).
    With ``base = funding_cost + min_spread_share * spread + take_rate``, ``EL = pd * lgd`` and ``k = 1 +
    markup`` (the nominal rate carries the markup, as in ``quote``): a loan the funder bears needs
    ``(base + EL) * k <= cap_nominal`` and ``(base + EL) * k + service_fee <= cap_all_in``; a guaranteed loan
    needs ``base * k <= cap_nominal`` and ``base * k + service_fee + EL * (1 + guarantee_margin) <= cap_all_in``.
    Pure; the result is clipped to [0, 1] (0: nothing priceable, 1: every PD priceable, as with no cap).

    Args:
        funding_cost, spread, take_rate, service_fee: as in :func:`quote`, per loan.
        guaranteed: True where the originator guarantees the loan.
        cap_nominal, cap_all_in: the caps to price under (``inf`` where none).
        markup: proportional markup the price must still carry (per loan or one for all; 0: none).
    """
    guaranteed = np.asarray(guaranteed, dtype=bool)
    k = 1.0 + np.asarray(markup, dtype=float)
    base = funding_cost + min_spread_share * spread + take_rate
    borne = _pd_within(np.minimum(cap_nominal, cap_all_in - service_fee) / k - base, lgd)
    backed = np.where(base * k <= cap_nominal,
                      _pd_within(cap_all_in - service_fee - base * k, lgd * (1.0 + guarantee_margin)), 0.0)
    return np.where(guaranteed, backed, borne)


def _pd_within(room: np.ndarray, slope: float) -> np.ndarray:
    """The highest PD in [0, 1] with ``pd * slope <= room`` (0 if even PD 0 does not fit)."""
    room = np.asarray(room, dtype=float)
    if slope <= 0:
        return np.where(room >= 0, 1.0, 0.0)
    return np.clip(room / slope, 0.0, 1.0)


def cap_path(apr_start: float, lpr_multiple: float, lpr_at_by: float, start: int, by: int, month: int) -> float:
    """A cap falling linearly from ``apr_start`` at ``start`` to ``lpr_multiple * LPR`` at ``by`` (then flat).

    Without a path (``lpr_multiple <= 0``) the cap is ``apr_start`` from ``start`` on. Months are absolute
    month numbers; before ``start`` the cap is not in force (``inf``).
    """
    if month < start:
        return float("inf")
    if lpr_multiple <= 0 or by <= start:
        return apr_start
    end = min(apr_start, lpr_multiple * lpr_at_by)
    frac = min(1.0, (month - start) / (by - start))
    return apr_start + (end - apr_start) * frac
