"""The dated policy timeline: which rules are in force in a month, and the Regulator agent that applies them."""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np

from model.calendar import parse_month
from model.enums import FunderKind
from model.mechanisms.pricing import cap_path
from model.params import PolicyParams

KINDS = list(FunderKind)


@dataclass(frozen=True)
class Rules:
    """The rules in force in one month, resolved per funder kind (index = ``list(FunderKind)`` order).

    The ``announced_*`` fields and the ``*_announced`` flags carry what is announced but not yet in force (an
    instrument's ``announced`` month reached, the month it binds not yet); they default to "nothing announced".

    Attributes:
        cap_nominal: cap on the nominal rate per kind (``inf``: none).
        cap_all_in: cap on the all-in cost per kind (``inf``: none).
        binding_cap: the highest cap in force over kinds (``nan`` if none).
        new_cap_active: the new (post-legacy) all-in or nominal cap is in force.
        whitelist: the whitelist regime is in force.
        partner_cost: per-partner monitoring cost per quarter (yuan/1k borrowers).
        no_outsourcing: banks must screen and bear the risk of every loan (no platform guarantees).
        guarantee_max_share: highest guarantee-backed share of platform loans (1: no cap).
        borrowing_limit: most total licensed debt as a multiple of annual income (``inf``: none).
        shadow_open: shadow lenders can collect through payment-channel withholding.
        cleanup: stock loans above the cap are not renewed.
        cleanup_call: stock loans above the cap are called this month (the deadline).
        announced_cap_nominal: announced cap on the nominal rate per kind (``inf``: none).
        announced_cap_all_in: announced cap on the all-in cost per kind (``inf``: none); a kind cap is announced
            at its ``apr``, the level it starts at.
        announced_cap_months: months from this month until the announced cap of each kind starts (``inf``: none).
            With the general and a kind cap both announced, the kind carries the tighter cap and the earlier
            start (a conservative reading of two announcements).
        whitelist_announced: the whitelist regime is announced and not yet in force.
        anticipated_partner_cost: the share of the regime's per-partner cost funders charge themselves ahead of
            it (:func:`phase_in`) times that cost (yuan per partner per quarter; 0 unless announced).
        no_outsourcing_announced: the ban on outsourcing risk control is announced and not yet in force.
        no_outsourcing_months: months from this month until the announced ban starts (``inf``: none announced).
        no_outsourcing_share: the share of the ban's practice banks already follow ahead of it (:func:`phase_in`;
            0 unless announced): a bank loan written now that would still run when the ban starts is, with this
            probability, screened by the bank and carries no platform guarantee, as under the ban
            (model/mechanisms/underwriting.py ``underwrite``).
        cleanup_announced: the stock clean-up is announced and its deadline not yet reached.
        stock_cap_nominal, stock_cap_all_in: per kind, the new general cap that stock must meet by the clean-up
            deadline, while both are announced and the deadline is ahead (``inf``: none).
        stock_cap_months: per kind, months from this month until that deadline (``inf``: none). A loan written
            now that would still run then is priced within the stock cap (:func:`pricing.loan_caps`); without a
            clean-up, loans above a new cap are grandfathered and nothing is anticipated in pricing.
    """

    cap_nominal: np.ndarray
    cap_all_in: np.ndarray
    binding_cap: float
    new_cap_active: bool
    whitelist: bool
    partner_cost: float
    no_outsourcing: bool
    guarantee_max_share: float
    borrowing_limit: float
    shadow_open: bool
    cleanup: bool
    cleanup_call: bool
    announced_cap_nominal: np.ndarray = field(default_factory=lambda: np.full(len(KINDS), np.inf))
    announced_cap_all_in: np.ndarray = field(default_factory=lambda: np.full(len(KINDS), np.inf))
    announced_cap_months: np.ndarray = field(default_factory=lambda: np.full(len(KINDS), np.inf))
    whitelist_announced: bool = False
    anticipated_partner_cost: float = 0.0
    no_outsourcing_announced: bool = False
    no_outsourcing_months: float = float("inf")
    no_outsourcing_share: float = 0.0
    cleanup_announced: bool = False
    stock_cap_nominal: np.ndarray = field(default_factory=lambda: np.full(len(KINDS), np.inf))
    stock_cap_all_in: np.ndarray = field(default_factory=lambda: np.full(len(KINDS), np.inf))
    stock_cap_months: np.ndarray = field(default_factory=lambda: np.full(len(KINDS), np.inf))


def _on(switch_enabled: bool, start: str, month: int) -> bool:
    return bool(switch_enabled) and month >= parse_month(start)


def _ahead(switch_enabled: bool, announced: str, start: str, month: int) -> bool:
    """Announced (``announced`` reached; '' is never) and not yet in force (``start`` not reached)."""
    return bool(switch_enabled) and bool(announced) and parse_month(announced) <= month < parse_month(start)


def phase_in(announced: int, start: int, month: int) -> float:
    """Share of an announced rule's cost borne ahead of it: 0 at ``announced``, rising linearly to 1 at ``start``.

    Pure; months are absolute month numbers. Clipped to [0, 1]; 1 when ``start`` is not after ``announced``.
    This linear ramp is an assumption: firms prepare for a rule steadily between its announcement and its
    effective date.
    """
    if start <= announced:
        return 1.0
    return float(np.clip((month - announced) / (start - announced), 0.0, 1.0))


def rules_in_force(
    policy: PolicyParams, month: int, lpr: float, lpr_by: dict[str, float], base_partner_cost: float,
    scale: float = 1.0,
) -> Rules:
    """Resolve every dated instrument for ``month`` (absolute month number). Pure.

    Args:
        policy: the scenario's policy levers.
        month: absolute month number (see :mod:`model.calendar`).
        lpr: this month's LPR (unused directly; kept for paths that track the current LPR).
        lpr_by: LPR at each kind cap's ``by`` month, keyed by kind value.
        base_partner_cost: per-partner monitoring cost without a whitelist regime (yuan, already scaled).
        scale: modelled borrowers / 1000, converting the regime's yuan/1k partner cost to yuan.
    """
    rc = policy.rate_cap
    new_cap = _on(rc.enabled, rc.start, month)
    cap_nominal = np.full(len(KINDS), np.inf)
    cap_all_in = np.full(len(KINDS), np.inf)
    if new_cap:
        (cap_all_in if rc.fees_included else cap_nominal)[:] = rc.apr
    else:
        (cap_all_in if rc.legacy_fees_included else cap_nominal)[:] = rc.legacy_apr
    for i, kind in enumerate(KINDS):
        kc = getattr(policy.kind_caps, kind.value)
        if kc.enabled:
            c = cap_path(kc.apr, kc.lpr_multiple, lpr_by.get(kind.value, lpr), parse_month(kc.start),
                         parse_month(kc.by), month)
            cap_all_in[i] = min(cap_all_in[i], c)
    binding = np.minimum(cap_nominal, cap_all_in)
    finite = binding[np.isfinite(binding)]
    ann_nominal, ann_all_in, ann_months = (np.full(len(KINDS), np.inf) for _ in range(3))
    if _ahead(rc.enabled, rc.announced, rc.start, month):
        (ann_all_in if rc.fees_included else ann_nominal)[:] = rc.apr
        ann_months[:] = parse_month(rc.start) - month
    for i, kind in enumerate(KINDS):
        kc = getattr(policy.kind_caps, kind.value)
        if _ahead(kc.enabled, kc.announced, kc.start, month):
            ann_all_in[i] = min(ann_all_in[i], kc.apr)
            ann_months[i] = min(ann_months[i], parse_month(kc.start) - month)
    wl = policy.whitelist
    whitelist = _on(wl.enabled, wl.start, month)
    wl_ahead = _ahead(wl.enabled, wl.announced, wl.start, month)
    share = phase_in(parse_month(wl.announced), parse_month(wl.start), month) if wl_ahead else 0.0
    gc = policy.guarantee_cap
    bl = policy.borrowing_limit
    sc = policy.stock_cleanup
    cleanup = bool(sc.enabled) and new_cap
    # Stock still running at an announced clean-up deadline must meet the new cap: lenders price it so now.
    stock_nominal, stock_all_in, stock_months = (np.full(len(KINDS), np.inf) for _ in range(3))
    cleanup_ahead = bool(rc.enabled) and _ahead(sc.enabled, sc.announced, sc.deadline, month)
    if cleanup_ahead and (_ahead(rc.enabled, rc.announced, rc.start, month) or new_cap):
        (stock_all_in if rc.fees_included else stock_nominal)[:] = rc.apr
        stock_months[:] = parse_month(sc.deadline) - month
    no_out_ahead = _ahead(policy.no_outsourcing.enabled, policy.no_outsourcing.announced, policy.no_outsourcing.start,
                          month)
    return Rules(
        cap_nominal=cap_nominal,
        cap_all_in=cap_all_in,
        binding_cap=float(finite.max()) if finite.size else float("nan"),
        new_cap_active=new_cap,
        whitelist=whitelist,
        partner_cost=wl.partner_cost * scale if whitelist else base_partner_cost,
        no_outsourcing=_on(policy.no_outsourcing.enabled, policy.no_outsourcing.start, month),
        guarantee_max_share=gc.max_share if _on(gc.enabled, gc.start, month) else 1.0,
        borrowing_limit=bl.income_multiple if _on(bl.enabled, bl.start, month) else float("inf"),
        shadow_open=not _on(policy.payment_crackdown.enabled, policy.payment_crackdown.start, month),
        cleanup=cleanup,
        cleanup_call=cleanup and month == parse_month(sc.deadline),
        announced_cap_nominal=ann_nominal,
        announced_cap_all_in=ann_all_in,
        announced_cap_months=ann_months,
        whitelist_announced=wl_ahead,
        anticipated_partner_cost=share * wl.partner_cost * scale,
        no_outsourcing_announced=no_out_ahead,
        no_outsourcing_months=parse_month(policy.no_outsourcing.start) - month if no_out_ahead else float("inf"),
        no_outsourcing_share=phase_in(parse_month(policy.no_outsourcing.announced),
                                      parse_month(policy.no_outsourcing.start), month) if no_out_ahead else 0.0,
        cleanup_announced=cleanup_ahead,
        stock_cap_nominal=stock_nominal,
        stock_cap_all_in=stock_all_in,
        stock_cap_months=stock_months,
    )


def _matches(kind: str, region: str, kinds: list, regions: list) -> bool:
    return kind in kinds and ("all" in regions or region in regions)


def mandate_share(targets: list, by: list, start: int, month: int) -> float:
    """Allowed platform balance as a share of the baseline: linear from 1 at ``start`` through each target.

    Pure. Before ``start`` the share is 1 (no constraint); after the last date it stays at the last target.
    """
    if month < start:
        return 1.0
    points_m = [start] + [parse_month(b) for b in by]
    points_v = [1.0] + [float(t) for t in targets]
    return float(np.interp(month, points_m, points_v))


class Regulator(mesa.Agent):
    """Applies the dated policy timeline each month.

    It resolves the :class:`Rules` in force, records funders' baseline balances when a mandate or freeze
    starts, and sets each funder's allowed platform balance and bans through the funders' own methods.
    """

    def __init__(self, model: mesa.Model, policy: PolicyParams, base_partner_cost: float, scale: float = 1.0):
        super().__init__(model)
        self.policy = policy
        self.base_partner_cost = base_partner_cost
        self.scale = scale
        self.rules: Rules | None = None
        self._baseline: dict[int, float] = {}
        self._freeze_level: dict[int, float] = {}

    def apply(self, month: int, lpr: float, lpr_by: dict[str, float], funders: list) -> Rules:
        """Resolve this month's rules and impose funder-level limits. Returns the rules."""
        pol = self.policy
        self.rules = rules_in_force(pol, month, lpr, lpr_by, self.base_partner_cost, self.scale)
        bm, fz, ban = pol.balance_mandate, pol.balance_freeze, pol.new_business_ban
        for f in funders:
            limit = float("inf")
            if bm.enabled and _matches(f.kind.value, f.region.value, bm.kinds, bm.regions):
                start = parse_month(bm.start)
                if month >= start:
                    base = self._baseline.setdefault(f.unique_id, f.platform_outstanding)
                    limit = min(limit, base * mandate_share(bm.targets, bm.by, start, month))
            frozen = fz.enabled and _matches(f.kind.value, f.region.value, fz.kinds, fz.regions)
            if frozen and month >= parse_month(fz.start):
                limit = min(limit, self._freeze_level.setdefault(f.unique_id, f.platform_outstanding))
            banned = (
                ban.enabled and _matches(f.kind.value, f.region.value, ban.kinds, ban.regions)
                and month >= parse_month(ban.start)
            )
            f.set_platform_limit(limit, banned)
        return self.rules
