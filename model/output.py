"""The output contract: columns, their units and meanings, and the recorder that fills them.

The recorder plays the role of Mesa's ``DataCollector`` with a thinner, faster surface: each month it
appends one model row, one row per platform and one row per funder, computed from the model's
arrays. ``COLUMN_DOCS`` is the one place where every column is documented; the output reference page
(docs/reference/outputs.md) is rendered from it and tests check that the tables carry exactly these columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from model import kernels
from model.enums import Channel, FunderKind, Segment, Tier
from model.institutions import attribute_arrays
from model.mechanisms.metrics import (
    cr,
    hhi,
    safe_ratio,
    share_of,
    weighted_mean_by,
)

if TYPE_CHECKING:
    from model.lending import LendingModel

SCHEMA_VERSION = 1

_KIND_LABELS = {
    FunderKind.BANK_STATE: "State-owned banks", FunderKind.BANK_JOINT_STOCK: "Joint-stock banks",
    FunderKind.BANK_CITY: "City commercial banks", FunderKind.BANK_RURAL: "Rural commercial banks",
    FunderKind.BANK_INTERNET: "Internet banks", FunderKind.CFC: "Consumer-finance companies",
    FunderKind.MICROLENDER: "Microlenders (big-tech and small)", FunderKind.TRUST: "Trusts",
}
assert set(_KIND_LABELS) == set(FunderKind)

COLUMN_DOCS: dict[str, dict[str, tuple[str, str]]] = {
    "model": {
        "step": ("month", "Step number, 1 for the first simulated month."),
        "date": ("YYYY-MM", "Calendar month of the step."),
        "active_platforms": ("platforms", "Platforms still operating at the end of the month."),
        "active_platforms_head": ("platforms", "Active head-tier platforms."),
        "active_platforms_waist": ("platforms", "Active waist-tier platforms."),
        "active_platforms_tail": ("platforms", "Active tail-tier platforms."),
        "platform_exits": ("platforms", "Cumulative platform exits (failure, wind-down or abroad)."),
        "platform_exits_head": ("platforms", "Cumulative exits of head-tier platforms."),
        "platform_exits_waist": ("platforms", "Cumulative exits of waist-tier platforms."),
        "platform_exits_tail": ("platforms", "Cumulative exits of tail-tier platforms."),
        "origination_volume": ("yuan", "New licensed loans this month (renewals included)."),
        "platform_volume": ("yuan", "Part of origination_volume facilitated by platforms."),
        "outstanding_balance": ("yuan", "Licensed loan balance at the end of the month."),
        "head_share": ("share 0-1", "Head tier's share of platform_volume (0 when there is none)."),
        "hhi": ("0-10000", "Herfindahl-Hirschman index of platform volume: sum of squared percentage shares."),
        "cr5": ("share 0-1", "Combined share of the five largest platforms in platform_volume."),
        "mean_whitelist_size": ("platforms", "Mean partners per funder, over funders that lent through platforms at the start (zeros included)."),
        "funders_in_platform_lending": ("funders", "Funders still in platform lending."),
        **{f"lenders_{kind.value}": ("funders", f"{label} still lending, through platforms or directly (direct desk open, or a platform partner and room to fund platform loans).")
           for kind, label in _KIND_LABELS.items()},
        "avg_apr_new": ("1/yr", "Volume-weighted all-in APR of new licensed loans (0 when none)."),
        "max_apr_new": ("1/yr", "Highest all-in APR of a new licensed loan this month (0 when none)."),
        "apr_near_cap_share": ("share 0-1", "Share of new licensed volume priced within 1 point under the all-in cap of its funder's kind (0 without an all-in cap)."),
        "binding_cap": ("1/yr", "Highest rate cap in force over funder kinds (NaN when none)."),
        "applicants": ("borrowers", "Borrowers seeking licensed credit this month (new credit or refinancing)."),
        "rationed_share": ("share 0-1", "Share of applicants who got no licensed loan."),
        "shadow_volume": ("yuan", "New shadow-lender loans this month."),
        "shadow_borrowers": ("borrowers", "Borrowers holding a live shadow loan."),
        "default_rate": ("share 0-1 per month", "New defaults (borrowers entering 90+ days past due) / indebted borrowers."),
        "default_rate_multi": ("share 0-1 per month", "default_rate among indebted borrowers with 3+ lenders."),
        "default_rate_few": ("share 0-1 per month", "default_rate among indebted borrowers with 1-2 lenders."),
        "npl_ratio": ("share 0-1", "Licensed balance 90+ days past due / outstanding_balance."),
        "multi_lender_share": ("share 0-1", "Indebted borrowers with 3+ licensed lenders / indebted borrowers."),
        "spiral_share": ("share 0-1", "Borrowers in a debt spiral (docs/ODD.md) / indebted borrowers."),
        "platform_margin": ("share 0-1", "Platform-sector profit this month / platform_volume (0 when no volume)."),
        "withdrawn_volume": ("yuan", "Maturing balances a borrower wanted renewed but the lender withdrew."),
        "api_share": ("share 0-1", "Share of platforms' acquisition spend on API traffic."),
        "traffic_price": ("yuan", "Platforms' acquisition spend per application routed to them (0 when none)."),
        "indebted_borrowers": ("borrowers", "Borrowers with at least one licensed loan."),
        "lpr": ("1/yr", "One-year loan prime rate."),
        "multi_lender5_share": ("share 0-1", "Indebted borrowers with 5+ licensed lenders / indebted borrowers."),
        **{f"apr_new_{tier.label}": ("1/yr", f"Volume-weighted all-in APR of new {tier.label}-tier platform loans (0 when none).")
           for tier in Tier},
        **{column: (unit, text.format(segment=segment.name.lower().replace("_", "-")))
           for segment in Segment
           for column, unit, text in (
               (f"served_share_{segment.name.lower()}", "share 0-1", "Share of {segment} credit seekers who got a licensed loan this month (0 when none sought)."),
               (f"apr_paid_{segment.name.lower()}", "1/yr", "Volume-weighted all-in APR of {segment} borrowers' new licensed loans (0 when none)."),
               (f"dsti_{segment.name.lower()}", "share of income", "Mean debt service to income of indebted {segment} borrowers."),
               (f"default_rate_{segment.name.lower()}", "share 0-1 per month", "default_rate among indebted {segment} borrowers."),
               (f"spiral_share_{segment.name.lower()}", "share 0-1", "spiral_share among indebted {segment} borrowers."),
               (f"shadow_share_{segment.name.lower()}", "share 0-1", "Share of {segment} borrowers holding a live shadow loan."),
           )},
    },
    "platforms": {
        "step": ("month", "Step number."),
        "date": ("YYYY-MM", "Calendar month."),
        "platform_id": ("id", "Platform index (0-based, head first)."),
        "tier": ("label", "head, waist or tail."),
        "active": ("bool", "Still operating."),
        "exit_mode": ("label", "active, failure, wind_down or abroad."),
        "volume": ("yuan", "New loans facilitated this month."),
        "outstanding": ("yuan", "Balance of loans it facilitated."),
        "capital": ("yuan", "Equity; guarantees are paid from it."),
        "partners": ("funders", "Funders that hold the platform on their whitelist."),
        "margin": ("share", "Profit this month / volume (0 when no volume)."),
        "npl_ratio": ("share 0-1", "Balance 90+ days past due / outstanding."),
        "lines": ("yuan", "Credit lines funders committed this month."),
        "api_share": ("share 0-1", "API share of its acquisition budget."),
        "sigma": ("log SD", "Noise of its default-probability estimates (risk-control capability, lower is better)."),
    },
    "funders": {
        "step": ("month", "Step number."),
        "date": ("YYYY-MM", "Calendar month."),
        "funder_id": ("id", "Funder index (0-based)."),
        "kind": ("label", "bank_state, bank_joint_stock, bank_city, bank_rural, bank_internet, cfc, microlender or trust."),
        "region": ("label", "national, east, central or west."),
        "partners": ("platforms", "Whitelist size."),
        "platform_volume": ("yuan", "New platform loans funded this month."),
        "direct_volume": ("yuan", "New direct loans this month."),
        "apr_new": ("1/yr", "Volume-weighted all-in APR of its new loans this month (0 when none)."),
        "outstanding": ("yuan", "Platform plus direct balance."),
        "npl_ratio": ("share 0-1", "Balance 90+ days past due / outstanding."),
        "profit": ("yuan", "Interest income minus funding and direct servicing costs, losses borne and monitoring costs this month (it adds to capital)."),
        "in_platform_lending": ("bool", "Still in platform lending."),
        "direct_lending": ("bool", "Still lending directly (its direct desk is open)."),
        "capital": ("yuan", "Capital: capital_ratio of the initial balance plus every month's profit since; below zero the funder fails."),
    },
}

#: The output tables, in the contract's order: ``model``, ``platforms``, ``funders`` (files ``<name>.parquet``).
TABLES: tuple[str, ...] = tuple(COLUMN_DOCS)
MODEL_COLUMNS = list(COLUMN_DOCS["model"])
PLATFORM_COLUMNS = list(COLUMN_DOCS["platforms"])
FUNDER_COLUMNS = list(COLUMN_DOCS["funders"])

_EXIT_LABELS = {0: "active", 1: "failure", 2: "wind_down", 3: "abroad"}


class Recorder:
    """Collects the output tables month by month."""

    def __init__(self, model: LendingModel):
        self.model = model
        self.model_rows: list[dict] = []
        self.platform_cols: dict[str, list] = {c: [] for c in PLATFORM_COLUMNS}
        self.funder_cols: dict[str, list] = {c: [] for c in FUNDER_COLUMNS}
        self._start_lenders = [f for f in model.funders if f.started_in_platform_lending]
        self._segment = model.borrowers.segment.astype(np.intp)  # exogenous: fixed for the run

    def collect(self) -> None:
        m = self.model
        fl = m.flows
        b = m.borrowers
        L = m.loans
        P = m.n_platforms
        date = m.date
        plats = attribute_arrays(m.platforms, ("tier", "active", "profit"))
        tiers = plats["tier"].astype(int)
        active = plats["active"].astype(bool)
        vol = fl.platform_volume
        new_amt = np.concatenate(fl.new_amount) if fl.new_amount else np.zeros(0)
        new_apr = np.concatenate(fl.new_apr) if fl.new_apr else np.zeros(0)
        new_bor = np.concatenate(fl.new_borrower) if fl.new_borrower else np.zeros(0, dtype=np.int64)
        new_desk = np.concatenate(fl.new_desk) if fl.new_desk else np.zeros(0, dtype=np.int64)
        bor = L.view("borrower")
        bp = m.params.borrowers
        # metrics.borrower_outcomes and the borrowers holding a shadow loan, compiled (model/kernels.py).
        outcomes, shadow_borrowers = kernels.borrower_outcomes(
            loan_borrower=bor, loan_shadow=L.view("shadow"), n_borrowers=b.n, dsti=fl.dsti, btr_months=b.btr_months,
            dsti_at_btr_start=b.dsti_at_btr_start, spiral_lenders=bp.spiral_lenders, spiral_months=bp.spiral_months,
            spiral_dsti=bp.spiral_dsti)
        indebted, multi, spiral = outcomes.indebted, outcomes.multi, outcomes.spiral
        n_ind = int(np.count_nonzero(indebted))
        n_multi = int(np.count_nonzero(multi))
        few = indebted & ~multi
        new_def = fl.new_defaults_b
        spend = fl.spend.sum(axis=0) if P else np.zeros(4)
        profit = sum(plats["profit"].tolist())
        partners_per_platform = (np.array(m.funders.get("partners")).sum(axis=0) if m.funders
                                 else np.zeros(P, dtype=int))
        row = {
            "step": m.steps,
            "date": date,
            "active_platforms": int(active.sum()),
            "active_platforms_head": int((active & (tiers == Tier.HEAD)).sum()),
            "active_platforms_waist": int((active & (tiers == Tier.WAIST)).sum()),
            "active_platforms_tail": int((active & (tiers == Tier.TAIL)).sum()),
            "platform_exits": int((~active).sum()),
            "platform_exits_head": int((~active & (tiers == Tier.HEAD)).sum()),
            "platform_exits_waist": int((~active & (tiers == Tier.WAIST)).sum()),
            "platform_exits_tail": int((~active & (tiers == Tier.TAIL)).sum()),
            "origination_volume": float(new_amt.sum()),
            "platform_volume": float(vol.sum()),
            "outstanding_balance": fl.outstanding,
            "head_share": share_of(vol[tiers == Tier.HEAD].sum(), vol.sum()) if P else 0.0,
            "hhi": hhi(vol) if P else 0.0,
            "cr5": cr(vol, 5) if P else 0.0,
            "mean_whitelist_size": (float(np.mean([f.partners.sum() for f in self._start_lenders]))
                                    if self._start_lenders else 0.0),
            "funders_in_platform_lending": int(sum(m.funders.get("in_platform_lending"))),
            **{f"lenders_{kind.value}": int(sum(f.lending for f in m.funders if f.kind == kind)) for kind in FunderKind},
            "avg_apr_new": safe_ratio((new_amt * new_apr).sum(), new_amt.sum()),
            "max_apr_new": float(new_apr.max()) if new_apr.size else 0.0,
            "apr_near_cap_share": share_of(fl.near_cap_volume, new_amt.sum()),
            "binding_cap": m.rules.binding_cap,
            "applicants": fl.applicants,
            "rationed_share": share_of(fl.rationed, fl.applicants),
            "shadow_volume": fl.shadow_volume,
            "shadow_borrowers": int(shadow_borrowers.size),
            "default_rate": safe_ratio(np.count_nonzero(new_def & indebted), n_ind),
            "default_rate_multi": safe_ratio(np.count_nonzero(new_def & multi), n_multi),
            "default_rate_few": safe_ratio(np.count_nonzero(new_def & few), np.count_nonzero(few)),
            "npl_ratio": share_of(fl.npl, fl.outstanding),
            "multi_lender_share": safe_ratio(n_multi, n_ind),
            "spiral_share": safe_ratio(np.count_nonzero(spiral), n_ind),
            "platform_margin": safe_ratio(profit, vol.sum()),
            "withdrawn_volume": fl.withdrawn_volume,
            "api_share": share_of(spend[Channel.API], spend.sum()),
            "traffic_price": fl.traffic_price,
            "indebted_borrowers": n_ind,
            "lpr": m.lpr,
            "multi_lender5_share": safe_ratio((outcomes.lenders >= 5).sum(), n_ind),
        }
        on_plat = new_desk < P
        by_tier = weighted_mean_by(tiers[new_desk[on_plat]], new_apr[on_plat], new_amt[on_plat], len(Tier))
        row.update({f"apr_new_{tier.label}": float(by_tier[tier]) for tier in Tier})
        # metrics.segment_outcomes, compiled (model/kernels.py)
        seg = kernels.segment_outcomes(segment=self._segment, n_segments=len(Segment), seeking=fl.seeking,
                                       served=fl.served, new_borrower=new_bor, new_amount=new_amt, new_apr=new_apr,
                                       dsti=fl.dsti, outcomes=outcomes, new_defaults=new_def,
                                       shadow_borrowers=shadow_borrowers)
        for s in Segment:
            name = s.name.lower()
            row.update({f"served_share_{name}": float(seg.served[s]), f"apr_paid_{name}": float(seg.apr_paid[s]),
                        f"dsti_{name}": float(seg.dsti[s]), f"default_rate_{name}": float(seg.default_rate[s]),
                        f"spiral_share_{name}": float(seg.spiral[s]), f"shadow_share_{name}": float(seg.shadow[s])})
        self.model_rows.append(row)
        pc = self.platform_cols
        for p in m.platforms:
            pc["step"].append(m.steps)
            pc["date"].append(date)
            pc["platform_id"].append(p.index)
            pc["tier"].append(p.tier.label)
            pc["active"].append(p.active)
            pc["exit_mode"].append(_EXIT_LABELS[int(p.exit_mode)])
            pc["volume"].append(p.volume)
            pc["outstanding"].append(p.outstanding)
            pc["capital"].append(p.capital)
            pc["partners"].append(int(partners_per_platform[p.index]))
            pc["margin"].append(safe_ratio(p.profit, p.volume))
            pc["npl_ratio"].append(p.npl_ratio)
            pc["lines"].append(p.lines)
            pc["api_share"].append(float(p.mix[Channel.API]))
            pc["sigma"].append(p.sigma)
        fc = self.funder_cols
        for f in m.funders:
            fc["step"].append(m.steps)
            fc["date"].append(date)
            fc["funder_id"].append(f.index)
            fc["kind"].append(f.kind.value)
            fc["region"].append(f.region.value)
            fc["partners"].append(int(f.partners.sum()))
            fc["platform_volume"].append(float(fl.funder_platform_volume[f.index]))
            fc["direct_volume"].append(float(fl.funder_direct_volume[f.index]))
            vol_f = fl.funder_platform_volume[f.index] + fl.funder_direct_volume[f.index]
            fc["apr_new"].append(safe_ratio(fl.funder_apr_weighted[f.index], vol_f))
            fc["outstanding"].append(f.platform_outstanding + f.direct_outstanding)
            fc["npl_ratio"].append(f.npl_ratio)
            fc["profit"].append(f.profit)
            fc["in_platform_lending"].append(bool(f.in_platform_lending))
            fc["direct_lending"].append(bool(f.direct_lending))
            fc["capital"].append(f.capital)

    def tables(self) -> dict[str, pd.DataFrame]:
        model = pd.DataFrame(self.model_rows, columns=MODEL_COLUMNS)
        platforms = pd.DataFrame(self.platform_cols, columns=PLATFORM_COLUMNS)
        funders = pd.DataFrame(self.funder_cols, columns=FUNDER_COLUMNS)
        for df in (model, platforms, funders):
            df["step"] = df["step"].astype("int64")
        return {"model": model, "platforms": platforms, "funders": funders}
