"""Compiled equivalents of the month's population- and book-wide passes (Numba).

The mechanisms in :mod:`model.mechanisms` are pure NumPy functions and remain the model's definition: each
function here computes, bit for bit, what the pure function it names computes, in one or two loops instead of
a dozen array passes with their temporaries (each pass over 10M borrowers or loans reads and writes hundreds of
megabytes). Bit for bit means the same floating-point operations on the same operands in the same order:
elementwise expressions are written as NumPy evaluates them (left to right, products with masks kept as
products), and sums per bin are accumulated in item order starting from zero, as ``np.bincount`` adds them.
Nothing is compiled with ``fastmath`` (which would let the compiler reorder or fuse them). Sums of a whole
array, which NumPy adds pairwise, are left to NumPy. tests/unit/test_kernels.py checks each against its pure
function on random inputs.

Compiled code is cached on disk (``cache=True``): the first run of a checkout compiles (a few seconds), later
processes load it.
"""

from __future__ import annotations

import numba
import numpy as np

from model.borrowers import NPL_DPD
from model.mechanisms.accounting import Books, new_loan_balances
from model.mechanisms.acquisition import CreditDemand
from model.mechanisms.billing import Bills
from model.mechanisms.metrics import BorrowerOutcomes, SegmentOutcomes, weighted_mean_by
from model.mechanisms.renewal import DebtPositions
from model.mechanisms.settlement import Settlement
from model.mechanisms.shadow import ShadowLoans

_jit = numba.njit(cache=True, nogil=True)


# ================================================================= settlement
@_jit
def _settle_borrowers(dpd, arrears, buffer_cap, btr_months, dsti_at_btr_start, cash, proceeds, shadow_proceeds,
                      due, interest_due_b, seeking_refi, delinquent_need, dsti, chargeoff_months, dpd_new, arrears_new,
                      buffer, btr_new, dsti_start):
    """Per borrower: the new state, whether it pays, its interest multiplier and whether it is charged off.

    The new state goes to ``dpd_new``, ``arrears_new``, ``buffer``, ``btr_new`` and ``dsti_start``, which may be
    the state's own arrays (``dpd``, ``arrears``, ``btr_months``, ``dsti_at_btr_start``; each borrower's row is
    read before it is written).
    """
    n = dpd.size
    new_defaults = np.empty(n, dtype=np.bool_)
    pays = np.empty(n, dtype=np.bool_)
    mult = np.empty(n)
    co_b = np.empty(n, dtype=np.bool_)
    for i in range(n):
        funds = cash[i] + proceeds[i]
        funds += shadow_proceeds[i]
        need = due[i] + arrears[i]
        indebted = due[i] > 0
        p = funds >= need - 1e-9 and indebted
        pays[i] = p
        billed = interest_due_b[i] > 0
        m = arrears[i] / (interest_due_b[i] + (0.0 if billed else 1.0))
        m *= 1.0 if billed else 0.0
        m += 1.0
        m *= 1.0 if p else 0.0
        mult[i] = m
        missed = indebted and not p
        a = arrears[i] + interest_due_b[i] * (1.0 if missed else 0.0)
        a *= 0.0 if p else 1.0
        d = (dpd[i] + (1 if missed else 0)) * (0 if p else 1)
        buf = funds - need * (1.0 if p else 0.0)
        buf -= proceeds[i] * (0.0 if seeking_refi[i] else 1.0)
        buf -= shadow_proceeds[i] * (0.0 if (seeking_refi[i] or delinquent_need[i]) else 1.0)
        buf = min(max(buf, 0.0), buffer_cap[i])  # np.clip(buf, 0, cap)
        buffer[i] = buf
        new_defaults[i] = dpd[i] < NPL_DPD and d >= NPL_DPD
        btr = (seeking_refi[i] or delinquent_need[i]) and (proceeds[i] + shadow_proceeds[i]) > 0
        dsti_start[i] = dsti[i] if (btr and btr_months[i] == 0) else dsti_at_btr_start[i]
        b = (btr_months[i] + 1) * (1 if btr else 0)
        co = d >= chargeoff_months
        co_b[i] = co
        if co:
            d, a, b = 0, 0.0, 0
        dpd_new[i] = d
        arrears_new[i] = a
        btr_new[i] = b
    return new_defaults, pays, mult, co_b


@_jit
def _settle_loans(interest_due, principal_due, renewed, amort, balance, months_left, borrower, pays, mult, co_b,
                  keep, bal_new, months_new):
    """Per loan: interest paid, balances before and after payment, instalments left, charge-offs and losses.

    ``bal_new`` and ``months_new`` receive the new balances and instalments left; they may be ``balance[:n_old]``
    and ``months_left`` themselves (each row is read before it is written).
    """
    n_old = principal_due.size
    n = borrower.size
    interest_paid = np.empty(n_old)
    balance_start = np.empty(n_old)
    chargeoff = np.empty(n, dtype=np.bool_)
    loss = np.zeros(n)
    for j in range(n_old):
        i = borrower[j]
        interest_paid[j] = interest_due[j] * mult[i]
        bal = balance[j]
        balance_start[j] = bal
        pp = principal_due[j] * (1.0 if pays[i] else 0.0)
        pp += (bal - min(amort[j], bal)) if renewed[j] else 0.0  # renewal_payoff
        b = bal - pp
        b = max(b, 0.0)
        bal_new[j] = b
        months_new[j] = months_left[j] - 1
        co = co_b[i]
        chargeoff[j] = co
        if co:
            loss[j] = b * keep
    for j in range(n_old, n):
        co = co_b[borrower[j]]
        chargeoff[j] = co
        if co:
            loss[j] = balance[j] * keep
    return interest_paid, balance_start, chargeoff, loss


def settle_repayments(*, dpd: np.ndarray, arrears: np.ndarray, buffer_cap: np.ndarray, btr_months: np.ndarray,
                      dsti_at_btr_start: np.ndarray, excluded_until: np.ndarray, cash: np.ndarray,
                      proceeds: np.ndarray, shadow_proceeds: np.ndarray, due: np.ndarray, interest_due_b: np.ndarray,
                      seeking_refi: np.ndarray, delinquent_need: np.ndarray, dsti: np.ndarray,
                      interest_due: np.ndarray, principal_due: np.ndarray, renewed: np.ndarray, amort: np.ndarray,
                      balance: np.ndarray, months_left: np.ndarray, borrower: np.ndarray, t: int,
                      chargeoff_months: int, recovery_rate: float, exclusion_months: int,
                      in_place: bool = False, buffer_out: np.ndarray | None = None) -> Settlement:
    """:func:`model.mechanisms.settlement.settle_repayments`, bit for bit, in one pass over the borrowers and one
    over the loans. Same arguments and result.

    With ``in_place`` the new state is written over the old, which the model would replace with it anyway: the
    borrowers' ``dpd``, ``arrears``, ``btr_months``, ``dsti_at_btr_start`` and ``excluded_until`` arrays, and the
    billed loans' ``balance[:n_old]`` and ``months_left`` (the loan book's own arrays), and the result's fields
    are those arrays; the new buffer is written into ``buffer_out``. Nothing is then copied twice, and the
    month's memory peak, which is here, holds neither the old state nor the new twice.
    """
    n, n_old = dpd.size, principal_due.size
    if in_place:
        dpd_new, arrears_new, btr_new, dsti_start = dpd, arrears, btr_months, dsti_at_btr_start
        buffer = buffer_out
        bal_new, months_new = balance[:n_old], months_left
    else:
        dpd_new, arrears_new, btr_new = np.empty(n, dtype=np.int16), np.empty(n), np.empty(n, dtype=np.int16)
        dsti_start, buffer = np.empty(n), np.empty(n)
        bal_new, months_new = np.empty(n_old), np.empty(n_old, dtype=months_left.dtype)
    new_defaults, pays, mult, co_b = _settle_borrowers(
        dpd, arrears, buffer_cap, btr_months, dsti_at_btr_start, cash, proceeds, shadow_proceeds, due,
        interest_due_b, seeking_refi, delinquent_need, dsti, chargeoff_months, dpd_new, arrears_new, buffer, btr_new,
        dsti_start)
    interest_paid, balance_start, chargeoff, loss = _settle_loans(
        interest_due, principal_due, renewed, amort, balance, months_left, borrower, pays, mult, co_b,
        1.0 - recovery_rate, bal_new, months_new)
    del pays, mult
    if co_b.any():
        if not in_place:
            excluded_until = excluded_until.copy()
        excluded_until[co_b] = t + exclusion_months
    return Settlement(dpd=dpd_new, arrears=arrears_new, buffer=buffer, btr_months=btr_new,
                      dsti_at_btr_start=dsti_start, excluded_until=excluded_until, new_defaults_b=new_defaults,
                      interest_paid=interest_paid, balance_start=balance_start, balance=bal_new,
                      months_left=months_new, chargeoff=chargeoff, loss=loss)


# ================================================================= accounting
@_jit
def _group_factors(tot_s, tot_p, inv_sqrt_weight):
    """:func:`model.mechanisms.accounting.real_scale`'s per-group ``keep`` and ``ratio`` (group 0: left as sampled)."""
    n_groups = tot_s.size
    keep = np.empty(n_groups)
    ratio = np.empty(n_groups)
    for g in range(n_groups):
        keep[g] = inv_sqrt_weight if tot_p[g] > 0 else 1.0
        ratio[g] = tot_s[g] / tot_p[g] if tot_p[g] > 0 else 0.0
    keep[0] = 1.0
    ratio[0] = 0.0
    return keep, ratio


@_jit
def _group_of(desk, by_desk):
    """Pooling group of a loan by its desk, shifted by one as real_scale shifts it (desk -1: the table's last entry)."""
    return by_desk[desk if desk >= 0 else by_desk.size - 1] + 1


@_jit
def _scale_losses_and_claims(loss, interest_paid, interest_due, balance_start, pd_est, desk, by_desk, guaranteed,
                             platform, shadow, lgd, scale, inv_sqrt_weight, n_platforms):
    n = loss.size
    n_groups = by_desk.max() + 2
    loss_out = np.empty(n)
    interest_out = np.empty(n)
    claims = np.zeros(n_platforms + 1)
    if scale:
        tot_loss, tot_el = np.zeros(n_groups), np.zeros(n_groups)
        tot_int, tot_due = np.zeros(n_groups), np.zeros(n_groups)
        for j in range(n):
            g = _group_of(desk[j], by_desk)
            tot_loss[g] += loss[j]
            tot_el[g] += balance_start[j] * pd_est[j] * lgd / 12.0
            tot_int[g] += interest_paid[j]
            tot_due[g] += interest_due[j]
        keep_l, ratio_l = _group_factors(tot_loss, tot_el, inv_sqrt_weight)
        keep_i, ratio_i = _group_factors(tot_int, tot_due, inv_sqrt_weight)
    for j in range(n):
        if scale:
            g = _group_of(desk[j], by_desk)
            el = balance_start[j] * pd_est[j] * lgd / 12.0
            k = keep_l[g]
            lo = loss[j] * k + (1.0 - k) * el * ratio_l[g]
            k = keep_i[g]
            interest_out[j] = interest_paid[j] * k + (1.0 - k) * interest_due[j] * ratio_i[g]
        else:
            lo = loss[j]
            interest_out[j] = interest_paid[j]
        loss_out[j] = lo
        if guaranteed[j] and platform[j] >= 0 and not shadow[j]:
            claims[platform[j]] += lo
    return loss_out, interest_out, claims[:n_platforms]


def scale_losses_and_claims(*, loss: np.ndarray, interest_paid: np.ndarray, interest_due: np.ndarray,
                            balance_start: np.ndarray, pd_est: np.ndarray, desk: np.ndarray, by_desk: np.ndarray,
                            guaranteed: np.ndarray, platform: np.ndarray, shadow: np.ndarray, lgd: float,
                            weight: float, n_platforms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The billed loans' losses and interest at the real population's scale, and the platforms' guarantee claims.

    Bit for bit what the pure functions of :mod:`model.mechanisms.accounting` compute::

        expected_loss = balance_start * pd_est * lgd / 12.0
        loss = real_scale(sampled=loss, proxy=expected_loss, group=by_desk[desk], weight=weight)
        interest_paid = real_scale(sampled=interest_paid, proxy=interest_due, group=by_desk[desk], weight=weight)
        claims = guarantee_claims(loss=loss, guaranteed=guaranteed, platform=platform, shadow=shadow,
                                  n_platforms=n_platforms).claims

    in two passes over the billed loans (group totals, then the scaled amounts and the claims). ``by_desk`` is
    the pooling group of each desk with -1 (no group) last, for shadow loans' desk -1
    (``LendingModel._group_by_desk``). Returns ``(loss, interest_paid, claims)``.
    """
    scale = weight > 1.0 and loss.size > 0
    inv = float(1.0 / np.sqrt(weight)) if scale else 1.0
    return _scale_losses_and_claims(loss, interest_paid, interest_due, balance_start, pd_est, desk, by_desk,
                                    guaranteed, platform, shadow, lgd, scale, inv, n_platforms)


@_jit
def _book_billed(interest_paid, balance_start, loss, chargeoff, borne, solvent, balance, platform, funder, desk,
                 apr, funder_rate, guaranteed, shadow, borrower, pd_est, dpd, funding_cost, direct_opex_rate,
                 opex_rate, pd_scale, lgd, by_desk, scale, inv_sqrt_weight):
    n_old = interest_paid.size
    P, F = opex_rate.size, funding_cost.size
    n_desks = P + F
    # NPL balances at the real scale (real_scale): group totals first.
    if scale:
        n_groups = by_desk.max() + 2
        tot_s, tot_p = np.zeros(n_groups), np.zeros(n_groups)
        for j in range(n_old):
            g = _group_of(desk[j], by_desk)
            bal_end = balance[j] * (0.0 if chargeoff[j] else 1.0)
            tot_s[g] += bal_end * (1.0 if dpd[borrower[j]] >= NPL_DPD else 0.0)
            tot_p[g] += bal_end * pd_est[j]
        keep, ratio = _group_factors(tot_s, tot_p, inv_sqrt_weight)
    pair = np.zeros((5, F * P + 1))      # income, funding, loss, balance, npl borne per funder x platform
    direct = np.zeros((6, F))            # income, funding, loss, balance, opex, expected per funder (direct)
    plat = np.zeros((5, P + 1))          # revenue, opex, balance, npl, loss per platform
    by_desk_sum = np.zeros((2, n_desks + 1))  # expected and realised losses per desk
    n_lic = 0
    for j in range(n_old):
        n_lic += not shadow[j]
    funder_loss_lic, loss_lic = np.empty(n_lic), np.empty(n_lic)
    bal_end_lic, npl_end_lic = np.empty(n_lic), np.empty(n_lic)
    finished = np.zeros(balance.size, dtype=np.bool_)
    k_lic = 0
    for j in range(n_old):
        lic = not shadow[j]
        p = platform[j]
        f = funder[j]
        a = apr[j]
        on_plat = lic and p >= 0
        share_f = funder_rate[j] / a if a > 0 else 0.0
        if p < 0:
            share_f = 1.0
        f_income = interest_paid[j] * share_f
        o_income = interest_paid[j] - f_income
        bal0 = balance_start[j]
        cost_f = funding_cost[f if f >= 0 else 0]
        fcost = bal0 * cost_f / 12.0
        g_plat = on_plat and guaranteed[j]
        funder_loss = loss[j] * (borne[p] if g_plat else 1.0)
        bal_end = balance[j] * (0.0 if chargeoff[j] else 1.0)
        npl_end = bal_end * (1.0 if dpd[borrower[j]] >= NPL_DPD else 0.0)
        if scale:
            g = _group_of(desk[j], by_desk)
            k = keep[g]
            npl_end = npl_end * k + (1.0 - k) * (bal_end * pd_est[j]) * ratio[g]
        npl_borne = npl_end * (0.0 if (g_plat and solvent[p]) else 1.0)
        expected = bal0 * pd_est[j] * lgd / 12.0
        finished[j] = chargeoff[j] or balance[j] <= 1e-6
        if not lic:
            continue
        funder_loss_lic[k_lic] = funder_loss
        loss_lic[k_lic] = loss[j]
        bal_end_lic[k_lic] = bal_end
        npl_end_lic[k_lic] = npl_end
        k_lic += 1
        d = desk[j]
        by_desk_sum[0, d] += expected
        by_desk_sum[1, d] += loss[j]
        if on_plat:
            key = f * P + p
            pair[0, key] += f_income
            pair[1, key] += fcost
            pair[2, key] += funder_loss
            pair[3, key] += bal_end
            pair[4, key] += npl_borne
            plat[0, p] += o_income
            plat[1, p] += bal0 * opex_rate[p] / 12.0
            plat[2, p] += bal_end
            plat[3, p] += npl_end
            plat[4, p] += loss[j]
        else:
            direct[0, f] += f_income
            direct[1, f] += fcost
            direct[2, f] += funder_loss
            direct[3, f] += bal_end
            opex_d = direct_opex_rate[f]
            direct[4, f] += bal0 * opex_d / 12.0
            margin = a - cost_f - opex_d - pd_est[j] * pd_scale[d] * lgd
            direct[5, f] += bal0 * margin / 12.0
    return pair, direct, plat, by_desk_sum, funder_loss_lic, loss_lic, bal_end_lic, npl_end_lic, finished


def book_month(*, interest_paid: np.ndarray, balance_start: np.ndarray, loss: np.ndarray, chargeoff: np.ndarray,
               claims: np.ndarray, paid: np.ndarray, platform_solvent: np.ndarray, balance: np.ndarray,
               platform: np.ndarray, funder: np.ndarray, desk: np.ndarray, apr: np.ndarray, funder_rate: np.ndarray,
               guaranteed: np.ndarray, shadow: np.ndarray, borrower: np.ndarray, pd_est: np.ndarray, dpd: np.ndarray,
               funding_cost: np.ndarray, direct_opex_rate: np.ndarray, opex_rate: np.ndarray, lgd: float,
               by_desk: np.ndarray | None = None, weight: float = 1.0,
               pd_scale: np.ndarray | None = None) -> Books:
    """:func:`model.mechanisms.accounting.book_month`, bit for bit, in two passes over the billed loans.

    Same arguments and result, but for two: ``claims`` is the per-platform array
    (:attr:`GuaranteeClaims.claims <model.mechanisms.accounting.GuaranteeClaims>`), and the NPL balances' pooling
    groups are given per desk, ``by_desk`` (with -1, no group, last; as for :func:`scale_losses_and_claims`),
    instead of per loan (``group = by_desk[desk[:n_old]]``). The month's new loans (the rows after the billed
    ones, a few per cent of the book) are added with NumPy as :func:`book_month` adds them.
    """
    n_old = interest_paid.size
    P, F = opex_rate.size, funding_cost.size
    scale = by_desk is not None and weight > 1.0 and n_old > 0
    inv = float(1.0 / np.sqrt(weight)) if scale else 1.0
    cover = np.divide(paid, claims, out=np.zeros(P), where=claims > 0)
    pair, direct, plat, desks, funder_loss, loss_lic, bal_end, npl_end, finished = _book_billed(
        interest_paid, balance_start, loss, chargeoff, 1.0 - cover, platform_solvent.astype(bool), balance,
        platform, funder, desk, apr, funder_rate, guaranteed, shadow, borrower, pd_est, dpd, funding_cost,
        direct_opex_rate, opex_rate, np.ones(P + F) if pd_scale is None else pd_scale, lgd,
        by_desk if scale else np.full(1, -1, dtype=np.int64), scale, inv)
    fresh = new_loan_balances(balance=balance, shadow=shadow, platform=platform, funder=funder, n_old=n_old,
                              n_platforms=P, n_funders=F)
    pairs = [pair[i, : F * P].reshape(F, P) if P else np.zeros((F, 0)) for i in range(5)]
    if P:
        pairs[3] = pairs[3] + fresh.by_pair
    d_bal = direct[3] + fresh.by_funder
    if P:
        rev, opex, npl, ploss = plat[0, :P], plat[1, :P], plat[3, :P], plat[4, :P]
        out = plat[2, :P] + fresh.by_platform
    else:
        rev = opex = out = npl = ploss = np.zeros(0)
    return Books(
        income=pairs[0], funding=pairs[1], loss=pairs[2], balance=pairs[3], npl=pairs[4],
        direct_income=direct[0], direct_cost=direct[1] + direct[4], direct_loss=direct[2], direct_balance=d_bal,
        direct_expected=direct[5],
        revenue=rev, opex=opex, outstanding=out, platform_npl=npl, platform_loss=ploss,
        expected=desks[0, : P + F], realised=desks[1, : P + F],
        funder_loss_total=float(funder_loss.sum()), guarantee_paid=float(paid.sum()),
        licensed_loss=float(loss_lic.sum()), outstanding_total=float(bal_end.sum() + fresh.total),
        npl_total=float(npl_end.sum()), finished=finished,
    )


# ================================================================= debt, bills, income
@_jit
def _measure_debt(borrower, balance, shadow, apr, amort, income):
    n = income.size
    n_licensed = np.zeros(n, dtype=np.int64)
    debt_licensed = np.zeros(n)
    service = np.zeros(n)
    for j in range(borrower.size):
        i = borrower[j]
        bal = balance[j]
        service[i] += bal * apr[j] / 12.0 + min(amort[j], bal)
        if not shadow[j]:
            n_licensed[i] += 1
            debt_licensed[i] += bal
    dsti = np.zeros(n)
    for i in range(n):
        if income[i] > 0:
            dsti[i] = service[i] / income[i]
    return n_licensed, debt_licensed, dsti


def measure_debt(*, borrower: np.ndarray, balance: np.ndarray, shadow: np.ndarray, apr: np.ndarray,
                 amort: np.ndarray, income: np.ndarray) -> DebtPositions:
    """:func:`model.mechanisms.renewal.measure_debt` with ``instalment`` the book's
    :meth:`LoanBook.instalment() <model.borrowers.LoanBook.instalment>` (``balance * apr / 12 + min(amort,
    balance)``), bit for bit, in one pass over the loans: the book's ``apr`` and ``amort`` are given instead."""
    return DebtPositions(*_measure_debt(borrower, balance, shadow, apr, amort, income))


@_jit
def _bill(balance, months_left, amort, apr, borrower, renewed, arrears, cash, n_borrowers):
    n = balance.size
    interest_due = np.empty(n)
    principal_due = np.empty(n)
    due = np.zeros(n_borrowers)
    interest_due_b = np.zeros(n_borrowers)
    for j in range(n):
        bal = balance[j]
        amort_now = min(amort[j], bal)
        interest = bal * apr[j] / 12.0
        if months_left[j] <= 1:
            principal = bal - ((bal - amort_now) if renewed[j] else 0.0)  # less renewal_payoff
        else:
            principal = amort_now
        interest_due[j] = interest
        principal_due[j] = principal
        i = borrower[j]
        due[i] += interest + principal
        interest_due_b[i] += interest
    shortfall = np.empty(n_borrowers)
    for i in range(n_borrowers):
        s = due[i] + arrears[i]
        s -= cash[i]
        s = max(s, 0.0)
        shortfall[i] = s * (1.0 if due[i] > 0 else 0.0)
    return interest_due, principal_due, due, interest_due_b, shortfall


def bill_repayments(*, balance: np.ndarray, months_left: np.ndarray, amort: np.ndarray, apr: np.ndarray,
                    borrower: np.ndarray, renewed: np.ndarray, arrears: np.ndarray, cash: np.ndarray,
                    n_borrowers: int) -> Bills:
    """:func:`model.mechanisms.billing.bill_repayments`, bit for bit, in one pass over the loans and one over the
    borrowers. Same arguments and result."""
    return Bills(*_bill(balance, months_left, amort, apr, borrower, renewed, arrears, cash, n_borrowers))


@_jit
def _shocks_and_cash(u, shocked, hazard, hazard_multiplier, recover, income, shock_income_share, buffer,
                     spend_share):
    n = u.size
    shocked_new = np.empty(n, dtype=np.bool_)
    cash = np.empty(n)
    for i in range(n):
        h = hazard[i] * hazard_multiplier
        h = min(max(h, 0.0), 1.0)  # np.clip(h, 0, 1)
        was = shocked[i]
        start = not was and u[i] < h
        end = was and u[i] < recover
        s = (was or start) and not end
        shocked_new[i] = s
        income_now = income[i] * shock_income_share if s else income[i]
        cash[i] = buffer[i] + income_now - spend_share[i] * income[i]
    return shocked_new, cash


def shocks_and_cash(*, u: np.ndarray, shocked: np.ndarray, hazard: np.ndarray, hazard_multiplier: float,
                    shock_months_mean: float, income: np.ndarray, shock_income_share: float, buffer: np.ndarray,
                    spend_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`BorrowerPopulation.update_shocks <model.borrowers.BorrowerPopulation.update_shocks>` given its draws
    ``u``, then :meth:`~model.borrowers.BorrowerPopulation.cash_available`, bit for bit, in one pass over the
    borrowers. Returns the new ``shocked`` and the cash."""
    return _shocks_and_cash(u, shocked, hazard, hazard_multiplier, 1.0 / shock_months_mean, income,
                            shock_income_share, buffer, spend_share)


# ================================================================= the loan book
@_jit
def _compact(arr, keep, n):
    k = 0
    for j in range(n):
        if keep[j]:
            arr[k] = arr[j]
            k += 1
    return k


def compact(arrays: list[np.ndarray], drop: np.ndarray) -> int:
    """``arr[:k] = arr[np.flatnonzero(~drop)]`` in place for each array, over its ``drop.size`` first rows
    (``LoanBook.remove``); returns ``k``, the rows kept. A copy of values in order: nothing is computed."""
    keep = ~drop
    k = drop.size
    for arr in arrays:
        k = _compact(arr, keep, drop.size)
    return k


# ================================================================= credit demand and shadow lending
@_jit
def _seek_credit(u, t, dpd, excluded_until, shortfall, n_licensed, seek_prob, loan_size, max_loans):
    n = dpd.size
    seeking = np.empty(n, dtype=np.bool_)
    refinancing = np.empty(n, dtype=np.bool_)
    amount = np.empty(n)
    delinquent_need = np.empty(n, dtype=np.bool_)
    for i in range(n):
        short = shortfall[i] > 0
        eligible = (dpd[i] == 0) & (excluded_until[i] < t)
        refi = eligible & short
        consume = eligible & (not refi) & (n_licensed[i] < max_loans) & (u[i] < seek_prob[i])
        a = shortfall[i] * (1.0 if refi else 0.0)
        a += loan_size[i] * (1.0 if consume else 0.0)
        amount[i] = a
        seeking[i] = refi | consume
        refinancing[i] = refi
        delinquent_need[i] = (dpd[i] > 0) & short
    return seeking, refinancing, amount, delinquent_need


def seek_credit(rng: np.random.Generator, *, t: int, dpd: np.ndarray, excluded_until: np.ndarray,
                shortfall: np.ndarray, n_licensed: np.ndarray, seek_prob: np.ndarray, loan_size: np.ndarray,
                max_loans: int) -> CreditDemand:
    """:func:`model.mechanisms.acquisition.seek_credit`, bit for bit (the same one uniform per borrower), in one
    pass over the borrowers. Same arguments and result."""
    u = rng.random(dpd.size)
    return CreditDemand(*_seek_credit(u, t, dpd, excluded_until, shortfall, n_licensed, seek_prob, loan_size,
                                      max_loans))


@_jit
def _rationed(seeking, proceeds):
    n_rationed = 0
    for i in range(seeking.size):
        n_rationed += seeking[i] & (proceeds[i] <= 0)
    return n_rationed


@_jit
def _shadow_lend(u, seeking, seeking_refi, delinquent_need, proceeds, shortfall, seek_amount, priced_out,
                 loan_borrower, loan_shadow, prob_refinance, prob_priced_out, prob_consumption, max_shadow_loans):
    n = seeking.size
    n_shadow = np.zeros(n, dtype=np.int64)
    for j in range(loan_borrower.size):
        if loan_shadow[j]:
            n_shadow[loan_borrower[j]] += 1
    takes = np.zeros(n, dtype=np.bool_)
    n_who = 0
    for i in range(n):
        rationed = seeking[i] & (proceeds[i] <= 0)
        refi_like = (rationed & seeking_refi[i]) | delinquent_need[i]
        if not (refi_like or rationed):
            continue
        if refi_like:
            p = prob_refinance
        elif priced_out[i]:
            p = prob_priced_out
        else:
            p = prob_consumption
        amount = shortfall[i] if delinquent_need[i] else seek_amount[i]
        if u[i] < p and n_shadow[i] < max_shadow_loans and amount > 0:
            takes[i] = True
            n_who += 1
    who = np.empty(n_who, dtype=np.int64)
    amounts = np.empty(n_who)
    k = 0
    for i in range(n):
        if takes[i]:
            who[k] = i
            amounts[k] = shortfall[i] if delinquent_need[i] else seek_amount[i]
            k += 1
    return who, amounts


def shadow_lend(rng: np.random.Generator, *, seeking: np.ndarray, seeking_refi: np.ndarray,
                delinquent_need: np.ndarray, proceeds: np.ndarray, shortfall: np.ndarray, seek_amount: np.ndarray,
                priced_out: np.ndarray, loan_borrower: np.ndarray, loan_shadow: np.ndarray, shadow_open: bool,
                prob_refinance: float, prob_priced_out: float, prob_consumption: float,
                max_shadow_loans: int) -> ShadowLoans:
    """:func:`model.mechanisms.shadow.shadow_lend`, bit for bit (the same draws), in one pass over the book's
    shadow loans and two over the borrowers. Same arguments and result."""
    n_rationed = int(_rationed(seeking, proceeds))
    if not shadow_open:
        return ShadowLoans(who=np.empty(0, dtype=np.int64), amount=np.empty(0), rationed=n_rationed)
    u = rng.random(seeking.size)
    who, amount = _shadow_lend(u, seeking, seeking_refi, delinquent_need, proceeds, shortfall, seek_amount,
                               priced_out, loan_borrower, loan_shadow, prob_refinance, prob_priced_out,
                               prob_consumption, max_shadow_loans)
    return ShadowLoans(who=who, amount=amount, rationed=n_rationed)


# ================================================================= maturing lines
@_jit
def any_maturing(shadow: np.ndarray, months_left: np.ndarray) -> bool:
    """``(~shadow & (months_left == 1)).any()``: a licensed loan reaches its last instalment this month."""
    for j in range(shadow.size):  # noqa: SIM110 (compiled: a generator would not be)
        if not shadow[j] and months_left[j] == 1:
            return True
    return False


@_jit
def _renewals(u, t, shadow, months_left, platform, funder, borrower, table, n_f, n_p, renewable, dpd,
              excluded_until, revolve_prob):
    n = u.size
    wants = np.zeros(n, dtype=np.bool_)
    n_cand = 0
    n_withdrawn = 0
    for j in range(n):
        p, f = platform[j], funder[j]
        slot = f * n_p + p if p >= 0 else (n_f * n_p + f if f >= 0 else n_f * n_p + n_f)
        r = renewable[j] & table[slot]
        renewable[j] = r
        if not shadow[j] and months_left[j] == 1:
            i = borrower[j]
            if dpd[i] == 0 and excluded_until[i] < t and u[j] < revolve_prob[i]:
                wants[j] = True
                if r:
                    n_cand += 1
                else:
                    n_withdrawn += 1
    cand = np.empty(n_cand, dtype=np.int64)
    withdrawn = np.empty(n_withdrawn, dtype=np.int64)
    a = b = 0
    for j in range(n):
        if wants[j]:
            if renewable[j]:
                cand[a] = j
                a += 1
            else:
                withdrawn[b] = j
                b += 1
    return cand, withdrawn


def renewals(rng: np.random.Generator, *, t: int, shadow: np.ndarray, months_left: np.ndarray,
             platform: np.ndarray, funder: np.ndarray, borrower: np.ndarray, renewable: np.ndarray,
             platform_active: np.ndarray, partners: np.ndarray, direct_open: np.ndarray, dpd: np.ndarray,
             excluded_until: np.ndarray, revolve_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which maturing lines are asked to be renewed, and which of them their lender still renews, in one pass.

    Bit for bit, with ``maturing = ~shadow & (months_left == 1)``, what ``LendingModel.mature_and_withdraw``
    does with the pure functions of :mod:`model.mechanisms.renewal`::

        renewable &= lender_still_lends(platform=platform, funder=funder, platform_active=platform_active,
                                        partners=partners, direct_open=direct_open)       # in place
        wants = renewal_wanted(rng, t=t, maturing=maturing, borrower=borrower, dpd=dpd,
                               excluded_until=excluded_until, revolve_prob=revolve_prob)  # the same draws
        cand, withdrawn = np.flatnonzero(wants & renewable), np.flatnonzero(wants & ~renewable)

    Updates ``renewable`` in place and returns ``(cand, withdrawn)``.
    """
    n_f, n_p = partners.shape
    table = np.concatenate([(partners & platform_active[None, :]).ravel(), direct_open.astype(bool), [True]])
    u = rng.random(borrower.size)
    return _renewals(u, t, shadow, months_left, platform, funder, borrower, table, n_f, n_p, renewable, dpd,
                     excluded_until, revolve_prob)


# ================================================================= the recorder's borrower measurements
@_jit
def _borrower_outcomes(loan_borrower, loan_shadow, n_borrowers, dsti, btr_months, dsti_at_btr_start, spiral_lenders,
                       spiral_months, spiral_dsti):
    n = n_borrowers
    lenders = np.zeros(n, dtype=np.int64)
    has_shadow = np.zeros(n, dtype=np.bool_)
    for j in range(loan_borrower.size):
        if loan_shadow[j]:
            has_shadow[loan_borrower[j]] = True
        else:
            lenders[loan_borrower[j]] += 1
    indebted = np.empty(n, dtype=np.bool_)
    multi = np.empty(n, dtype=np.bool_)
    spiral = np.empty(n, dtype=np.bool_)
    for i in range(n):
        ind = lenders[i] > 0
        mul = lenders[i] >= spiral_lenders
        indebted[i] = ind
        multi[i] = mul
        spiral[i] = ind & (((btr_months[i] >= spiral_months) & (dsti[i] > dsti_at_btr_start[i]))
                           | (mul & (dsti[i] >= spiral_dsti)))
    return lenders, indebted, multi, spiral, np.flatnonzero(has_shadow)


def borrower_outcomes(*, loan_borrower: np.ndarray, loan_shadow: np.ndarray, n_borrowers: int, dsti: np.ndarray,
                      btr_months: np.ndarray, dsti_at_btr_start: np.ndarray, spiral_lenders: int,
                      spiral_months: int, spiral_dsti: float) -> tuple[BorrowerOutcomes, np.ndarray]:
    """:func:`model.mechanisms.metrics.borrower_outcomes` (same arguments and result), and the borrowers holding a
    live shadow loan, ``np.unique(loan_borrower[loan_shadow])``, in one pass over the book and one over the
    borrowers, bit for bit."""
    lenders, indebted, multi, spiral, shadow_borrowers = _borrower_outcomes(
        loan_borrower, loan_shadow, n_borrowers, dsti, btr_months, dsti_at_btr_start, spiral_lenders, spiral_months,
        spiral_dsti)
    return BorrowerOutcomes(lenders=lenders, indebted=indebted, multi=multi, spiral=spiral), shadow_borrowers


@_jit
def _segment_sums(segment, n_segments, seeking, served, dsti, indebted, new_defaults, spiral):
    counts = np.zeros((6, n_segments), dtype=np.int64)  # size, seeking, served seekers, indebted, defaults, spirals
    dsti_sum = np.zeros(n_segments)
    for i in range(segment.size):
        s = segment[i]
        counts[0, s] += 1
        if seeking[i]:
            counts[1, s] += 1
            counts[2, s] += served[i]
        if indebted[i]:
            dsti_sum[s] += dsti[i]
            counts[3, s] += 1
            counts[4, s] += new_defaults[i]
            counts[5, s] += spiral[i]
    return counts, dsti_sum


def segment_outcomes(*, segment: np.ndarray, n_segments: int, seeking: np.ndarray, served: np.ndarray,
                     new_borrower: np.ndarray, new_amount: np.ndarray, new_apr: np.ndarray, dsti: np.ndarray,
                     outcomes: BorrowerOutcomes, new_defaults: np.ndarray,
                     shadow_borrowers: np.ndarray) -> SegmentOutcomes:
    """:func:`model.mechanisms.metrics.segment_outcomes`, bit for bit, with its counts and DSTI sums per segment
    taken in one pass over the borrowers. Same arguments and result."""
    counts, dsti_sum = _segment_sums(segment, n_segments, seeking, served, dsti, outcomes.indebted, new_defaults,
                                     outcomes.spiral)
    size, n_seeking, n_served, n_indebted, n_defaults, n_spiral = counts
    in_shadow = np.bincount(segment[shadow_borrowers], minlength=n_segments)

    def share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        num, den = num.astype(float), den.astype(float)
        return np.divide(num, den, out=np.zeros(n_segments), where=den > 0)

    return SegmentOutcomes(
        served=share(n_served, n_seeking),
        apr_paid=weighted_mean_by(segment[new_borrower], new_apr, new_amount, n_segments),
        dsti=np.divide(dsti_sum, n_indebted, out=np.zeros(n_segments), where=n_indebted > 0),
        default_rate=share(n_defaults, n_indebted),
        spiral=share(n_spiral, n_indebted),
        shadow=np.divide(in_shadow, size, out=np.zeros(n_segments), where=size > 0),
    )
