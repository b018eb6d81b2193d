"""The parameter schema: every scenario key with its default, unit, bounds, provenance and meaning.

This module is the single source of truth for parameters. ``experiments/scenarios/baseline.toml``
and the parameter table in ``docs/ODD.md`` are rendered from it (``zhudai params``) and tests check
that the committed files match. Scenario files override defaults; see :mod:`model.config`.

Conventions:
    * Rates (APR, funding cost, fees) are annual fractions: ``0.24`` means 24% a year.
    * Hazards and probabilities marked "per month" are monthly.
    * Yuan amounts of institutions (budgets, capital, fixed costs) are given **per 1,000 modelled
      borrowers** (unit ``yuan/1k``), so that a run with 100k or 1M borrowers describes the same market.
    * Dates are calendar months ``YYYY-MM``.

Provenance tags: ``policy lever``, ``calibrated: <source>``, ``assumption``, ``design choice``.
Parameters tagged ``assumption`` that are behaviourally uncertain also carry ``uncertainty=True``: the
sensitivity designs address them; levers and uncertainties are kept apart (EMA Workbench vocabulary).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

LEVER = "policy lever"
ASSUMPTION = "assumption"
DESIGN = "design choice"
#: Counts of institutions: the starting structure of docs/domain.md, "Market structure in 2024".
STRUCTURE = "calibrated: docs/domain.md, Market structure in 2024 (8 head/30 waist/120 tail platforms; 6 state, ~12 joint-stock banks, ...)"
CR5_SOURCE = "calibrated: top five platforms hold about three quarters of platform balances in 2024 (docs/domain.md, Market structure in 2024)"


def p(
    default: Any,
    doc: str,
    unit: str = "",
    prov: str = ASSUMPTION,
    lo: float | None = None,
    hi: float | None = None,
    kind: str = "",
    uncertainty: bool = False,
    choices: tuple[str, ...] | None = None,
    min_len: int = 0,
    optional: bool = False,
) -> Any:
    """Declare a parameter field.

    Args:
        default: default value (lists are copied per instance).
        doc: meaning, one sentence.
        unit: unit of the value (empty for dimensionless flags and labels).
        prov: provenance tag.
        lo: inclusive lower bound for numbers (each element for lists).
        hi: inclusive upper bound for numbers (each element for lists).
        kind: ``"month"`` for ``YYYY-MM`` strings, ``"months"`` for lists of them.
        uncertainty: True for behavioural uncertainties screened by sensitivity analysis.
        choices: allowed values for strings or list elements.
        min_len: minimum list length.
        optional: for ``kind="month"``: the empty string is also allowed (the month is not set).
    """
    meta = dict(
        doc=doc, unit=unit, prov=prov, lo=lo, hi=hi, kind=kind, uncertainty=uncertainty,
        choices=choices, min_len=min_len, optional=optional,
    )
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, doc: str, **kwargs: Any) -> Any:
    """Declare a nested section with its own defaults (``kwargs`` override the class defaults)."""
    # Deep-copy so list defaults given here (regions, channel_mix) are not one object shared by every
    # instance: mutating one scenario's list would otherwise silently change the defaults of all others.
    return field(default_factory=lambda: cls(**copy.deepcopy(kwargs)), metadata=dict(doc=doc, section=True))


FUNDER_KINDS = (
    "bank_state", "bank_joint_stock", "bank_city", "bank_rural", "bank_internet", "cfc", "microlender",
    "trust",
)
REGIONS = ("national", "east", "central", "west")
REGION_FILTER = (*REGIONS, "all")
TIERS = ("head", "waist", "tail")
CHANNELS = ("info_flow", "api", "ecosystem", "referral")


# --------------------------------------------------------------------------------------------- run
@dataclass(frozen=True)
class RunParams:
    """When and how big: the calendar window and the borrower population."""

    start: str = p("2024-01", "First simulated month.", "YYYY-MM", DESIGN, kind="month")
    months: int = p(48, "Horizon: number of monthly steps.", "months", DESIGN, lo=1, hi=600)
    burn_in: int = p(
        60, "Unrecorded months run before ``start`` under the start month's rules, with platform exits held off "
        "(funders review and may leave as usual), so that borrowers' debts, lenders' loss learning and the credit "
        "cycle the initial book sets off (a default wave about 20 months in, and its echo when the charged-off "
        "return after their exclusion) have settled before the 2024 structure is observed.",
        "months", DESIGN, lo=0, hi=240,
    )
    burn_in_reviews: int = p(
        24, "Last months of the burn-in in which quarterly reviews run (platforms re-plan, funders review whitelists "
        "and direct books). Before them institutions keep their plans and whitelists while the borrowers' credit "
        "cycle settles, so that the initial book's default wave does not restructure the industry.",
        "months", DESIGN, lo=0, hi=240,
    )
    borrowers: int = p(
        200_000, "Number of modelled borrowers (each an individual agent in the vectorized population).",
        "borrowers", DESIGN, lo=0, hi=20_000_000,
    )
    population: float = p(
        100_000_000.0, "Real borrowers the modelled ones represent: each modelled borrower stands for "
        "population / borrowers real ones. Institutions' interest income, losses and bad loans are booked at this "
        "real scale, where their sampling noise is 1 / sqrt(population / borrowers) of the sample's (docs/ODD.md, "
        "'Population and scale').",
        "borrowers", "assumption: order of magnitude of active borrowers of platform-assisted consumer credit in "
        "China (about 10^8); only its magnitude matters once it is far above the modelled population",
        lo=1.0, hi=2e9,
    )


# ----------------------------------------------------------------------------------------- macro
@dataclass(frozen=True)
class MacroParams:
    """The rate environment and optional income shocks."""

    lpr_start: float = p(
        0.0345, "One-year loan prime rate in the first month.", "1/yr",
        "calibrated: PBOC 1-year LPR, 3.45% in Jan 2024", lo=0.0, hi=0.2,
    )
    lpr_end: float = p(
        0.030, "One-year LPR in the last month (linear path in between).", "1/yr",
        "calibrated: PBOC 1-year LPR, 3.0% from May 2025 (docs/domain.md 'about 3%')", lo=0.0, hi=0.2,
    )
    shock_enabled: bool = p(False, "Switch for an unemployment shock raising income-shock hazards.", "", LEVER)
    shock_start: str = p("2026-01", "First month of the unemployment shock.", "YYYY-MM", LEVER, kind="month")
    shock_months: int = p(6, "Duration of the unemployment shock.", "months", LEVER, lo=0, hi=600)
    shock_multiplier: float = p(2.0, "Multiplier on every borrower's income-shock hazard during the shock.", "x", LEVER, lo=0.0, hi=50.0)


# ------------------------------------------------------------------------------------- borrowers
@dataclass(frozen=True)
class BorrowerParams:
    """Borrower heterogeneity and behaviour; lists are per segment [prime, near_prime, subprime]."""

    segment_shares: list = p(
        [0.5, 0.3, 0.2], "Population shares of prime, near-prime and subprime borrowers (sum to 1).", "share",
        ASSUMPTION, lo=0.0, hi=1.0, min_len=3,
    )
    income_median: list = p(
        [9000.0, 6000.0, 4000.0], "Median monthly income per segment.", "yuan/month",
        "calibrated: NBS 2024 urban per-capita disposable income ~4,500 yuan/month; credit users skew higher",
        lo=0.0, hi=1e7, min_len=3,
    )
    income_sigma: float = p(0.5, "Log-normal dispersion of income within a segment.", "log", ASSUMPTION, lo=0.0, hi=3.0)
    hazard: list = p(
        [0.004, 0.013, 0.04287], "Median monthly probability of an income shock per segment (the true risk).",
        "1/month", "prime and near-prime: assumption (doubled from 0.002/0.007 when the tier prices were set by hand); subprime: calibrated: zhudai calibrate baseline-2024 --moments experiments/calibration/moments-2024.toml --params experiments/calibration/params-2024.toml --budget 72 --replications 3 --grid 5 --confirm 3 --final-replications 4 --borrowers 200000 --workers 2 --out runs/calibration (results/calibration/report.md); not identified (the loss profile stays within the 95% threshold over 0.02-0.07: a riskier subprime segment is screened out). Aimed at a head platform's 90+ DPD of 1.97% (Q2 2025) and small banks' 2024 NPL of 1.55-3.17% (docs/domain.md): the licensed NPL ratio at the estimate is about 1.1% before the rules, below the reported level (the calibration's open gap: docs/calibration.md)",
        lo=0.0, hi=1.0, min_len=3, uncertainty=True,
    )
    hazard_sigma: float = p(0.6, "Log-normal dispersion of the hazard within a segment.", "log", ASSUMPTION, lo=0.0, hi=3.0)
    shock_income_share: float = p(0.25, "Income during a shock as a share of normal income.", "share", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True)
    shock_months_mean: float = p(5.0, "Mean duration of an income shock (geometric).", "months", ASSUMPTION, lo=1.0, hi=120.0)
    essential_spend_share: list = p(
        [0.60, 0.70, 0.78], "Essential spending as a share of normal income per segment.", "share",
        ASSUMPTION, lo=0.0, hi=2.0, min_len=3,
    )
    buffer_months: list = p(
        [3.0, 1.0, 0.2], "Initial liquid savings per segment, in months of income.", "months",
        ASSUMPTION, lo=0.0, hi=120.0, min_len=3,
    )
    buffer_cap_months: list = p(
        [6.0, 2.0, 0.5], "Savings above this many months of income are spent (consumption smoothing).",
        "months", ASSUMPTION, lo=0.0, hi=240.0, min_len=3,
    )
    seek_prob: list = p(
        [0.012, 0.020, 0.030], "Monthly probability of seeking new consumer credit per segment.", "1/month",
        ASSUMPTION, lo=0.0, hi=1.0, min_len=3, uncertainty=True,
    )
    loan_income_multiple: list = p(
        [2.0, 1.5, 1.2], "Desired new loan as a multiple of monthly income per segment.", "months",
        "calibrated: average platform loan ticket 8-12k yuan (2024 annual reports)", lo=0.0, hi=100.0, min_len=3,
    )
    revolve_prob: list = p(
        [0.7, 0.8, 0.9], "Probability a borrower asks to renew a maturing credit line per segment.",
        "share", "calibrated: repeat borrowers bring most platform volume (listed platforms' 2024 reports, ~80-90%)", lo=0.0, hi=1.0,
        min_len=3, uncertainty=True,
    )
    initial_indebted: list = p(
        [0.20, 0.35, 0.55], "Share of each segment holding a licensed loan in the first month.", "share",
        ASSUMPTION, lo=0.0, hi=1.0, min_len=3,
    )
    initial_extra_loans: list = p(
        [0.1, 0.3, 0.8], "Mean number of further loans (Poisson) of an indebted borrower per segment.",
        "loans", "calibrated: docs/domain.md (subprime heavily multi-borrowed)", lo=0.0, hi=20.0, min_len=3,
    )
    term_months: int = p(12, "Term of a licensed loan (credit-line draw).", "months", "calibrated: 12-instalment products dominate platform lending", lo=1, hi=120)
    amortizing_share: float = p(
        0.5, "Share of principal repaid in equal instalments; the rest is a balloon refinanced at maturity.",
        "share", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True,
    )
    chargeoff_months: int = p(6, "Months past due at which a delinquent borrower's loans are charged off.", "months", "calibrated: 180-day write-off practice", lo=3, hi=24)
    recovery_rate: float = p(0.10, "Share of a charged-off balance recovered.", "share", ASSUMPTION, lo=0.0, hi=1.0)
    exclusion_months: int = p(24, "Months a charged-off borrower is refused licensed credit (credit record).", "months", ASSUMPTION, lo=0, hi=600)
    max_loans: int = p(8, "Most live licensed loans one borrower can hold; further applications are not made.", "loans", DESIGN, lo=1, hi=50)
    shadow_prob_consumption: float = p(
        0.05, "Probability a rationed consumption seeker turns to a shadow lender.", "share", ASSUMPTION,
        lo=0.0, hi=1.0, uncertainty=True,
    )
    shadow_prob_refinance: float = p(
        0.40, "Probability a rationed borrower who must refinance a repayment turns to a shadow lender.",
        "share", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True,
    )
    shadow_prob_priced_out: float = p(
        0.25, "Probability a rationed consumption seeker whom a licensed lender refused only because of the price "
        "cap turns to a shadow lender.", "share", "assumption: between the rationed consumption seeker's 0.05 and "
        "the refinancer's 0.40; a borrower priced out by the cap has shown demand at prices above it, and "
        "docs/domain.md names shadow lending as one of the three things such borrowers do",
        lo=0.0, hi=1.0, uncertainty=True,
    )
    applications_extra: float = p(
        1.0, "Mean number of further applications (Poisson) a consumption seeker makes beyond the first.",
        "applications", ASSUMPTION, lo=0.0, hi=50.0,
    )
    direct_share: float = p(
        0.25, "Share of applications made directly to licensed lenders' own apps rather than through platforms.",
        "share", ASSUMPTION, lo=0.0, hi=1.0,
    )
    refinance_search: float = p(
        3.0, "Multiplier on further applications of a borrower who must refinance a repayment.",
        "x", ASSUMPTION, lo=0.0, hi=100.0, uncertainty=True,
    )
    shadow_apr: float = p(
        0.80, "All-in APR of shadow loans (instalment malls, monthly guarantee schemes).", "1/yr",
        "calibrated: docs/domain.md ('far above 24%')", lo=0.0, hi=10.0,
    )
    max_shadow_loans: int = p(1, "Most live shadow loans one borrower can hold (shadow lenders ration too).", "loans", ASSUMPTION, lo=0, hi=50)
    shadow_term_months: int = p(6, "Term of a shadow loan.", "months", ASSUMPTION, lo=1, hi=60)
    spiral_months: int = p(3, "Debt spiral: consecutive months of borrowing to repay with rising DSTI.", "months", DESIGN, lo=1, hi=60)
    spiral_lenders: int = p(3, "Debt spiral: number of lenders that, with high DSTI, also defines a spiral.", "lenders", DESIGN, lo=1, hi=50)
    spiral_dsti: float = p(0.6, "Debt spiral: debt service to income at or above which a multi-lender borrower is in a spiral.", "share", DESIGN, lo=0.0, hi=10.0)

    @property
    def loan_life_months(self) -> float:
        """Average months a yuan lent stays outstanding: ``term * (1 - amortizing_share / 2)`` (derived)."""
        return self.term_months * (1.0 - self.amortizing_share / 2.0)


# ------------------------------------------------------------------------------------ channels
@dataclass(frozen=True)
class ChannelParams:
    """One acquisition channel."""

    attention: float = p(0.25, "Weight of the channel in where credit seekers apply (before risk tilts).", "weight", ASSUMPTION, lo=0.0, hi=100.0)
    risk_tilt: float = p(0.0, "Tilt of the applicant mix toward high-hazard borrowers (log weight per log-hazard SD).", "log", ASSUMPTION, lo=-5.0, hi=5.0, uncertainty=True)
    multi_tilt: float = p(0.0, "Tilt toward borrowers with many live loans (log weight per loan).", "log", ASSUMPTION, lo=-5.0, hi=5.0)


@dataclass(frozen=True)
class ChannelsParams:
    """Acquisition channels: information-flow ads, API embedding, own ecosystem, peer referral.

    Each application a seeker makes goes through one channel (chosen by attention and the seeker's
    risk) to one platform, in proportion to the platforms' spend on that channel. The traffic price of
    a channel is therefore its total spend over its applications: it falls when platforms buy less.
    Repeat borrowing by existing customers is the renewal of maturing lines and costs no traffic.
    """

    spend_returns: float = p(
        0.4669, "Returns to traffic spend: a platform's share of a channel's applications is proportional to spend^a.",
        "", "calibrated: zhudai calibrate baseline-2024 --moments experiments/calibration/moments-2024.toml --params experiments/calibration/params-2024.toml --budget 72 --replications 3 --grid 5 --confirm 3 --final-replications 4 --borrowers 200000 --workers 2 --out runs/calibration (results/calibration/report.md); not identified by the moments (95% interval the whole range 0.3-0.8) (was 0.5, an assumption)",
        lo=0.0, hi=1.0, uncertainty=True,
    )
    info_flow: ChannelParams = section(ChannelParams, "Information-flow ads (short-video feeds): higher quality.", attention=0.40, risk_tilt=0.0, multi_tilt=0.0)
    api: ChannelParams = section(ChannelParams, "API embedding in other apps: cheapest, worst quality, many multi-borrowers.", attention=0.30, risk_tilt=0.8, multi_tilt=0.4)
    # Ecosystem attention is calibrated (docs/calibration.md): it sets the head tier's own traffic.
    ecosystem: ChannelParams = section(ChannelParams, "Own apps and ecosystem (head platforms only): cheap, broad population; attention calibrated: zhudai calibrate baseline-2024 --moments experiments/calibration/moments-2024.toml --params experiments/calibration/params-2024.toml --budget 72 --replications 3 --grid 5 --confirm 3 --final-replications 4 --borrowers 200000 --workers 2 --out runs/calibration (results/calibration/report.md), by the 2024 CR5 and the stationarity moments; identified, 95% interval 0.61-1.0; the model's 2024 CR5 is about 0.63 against the reported 0.75 (docs/calibration.md).", attention=0.7392, risk_tilt=-0.4, multi_tilt=-0.2)
    referral: ChannelParams = section(ChannelParams, "Peer and big-tech referral (导流): other lenders' cast-offs.", attention=0.10, risk_tilt=1.0, multi_tilt=0.5)


# ------------------------------------------------------------------------------------ platforms
@dataclass(frozen=True)
class TierParams:
    """One platform tier. Tier defaults differ; see the tier sections of ``PlatformsParams``."""

    count: int = p(0, "Number of platforms in the tier.", "platforms", STRUCTURE, lo=0, hi=5000)
    balance_share: float = p(0.0, "Tier's share of platform loan balances in the first month.", "share", CR5_SOURCE, lo=0.0, hi=1.0)
    size_exponent: float = p(0.9, "Zipf exponent of initial balances within the tier (balance ~ rank^-a).", "", CR5_SOURCE, lo=0.0, hi=5.0)
    capital_ratio: float = p(0.10, "Initial capital as a share of the initial balance.", "share", ASSUMPTION, lo=0.0, hi=10.0)
    age_months: float = p(48.0, "Mean operating age in the first month (uniform +-50%).", "months", ASSUMPTION, lo=0.0, hi=600.0)
    capability_sigma: float = p(0.5, "Initial noise of the platform's default-probability estimate (log SD).", "log", ASSUMPTION, lo=0.0, hi=5.0, uncertainty=True)
    take_rate: float = p(0.05, "Platform's share of interest (points of APR) in the nominal rate.", "1/yr", "calibrated: docs/domain.md (platform share about 7 points incl. fees)", lo=0.0, hi=1.0)
    service_fee: float = p(0.02, "Technology-service fee charged on top of the nominal rate (a fee for the all-in cap).", "1/yr", "calibrated: docs/domain.md (share ~7 points plus tech fees; lower tiers' fees make a nominal 23% cost about 30% all-in)", lo=0.0, hi=1.0)
    opex_rate: float = p(0.03, "Servicing and collection cost as a share of balance.", "1/yr", ASSUMPTION, lo=0.0, hi=1.0)
    fixed_cost: float = p(2000.0, "Fixed operating cost per month.", "yuan/1k", ASSUMPTION, lo=0.0, hi=1e9)
    markup: float = p(0.15, "Proportional markup over the required price (market power); the cap truncates it.", "share", "head and tail: calibrated: zhudai calibrate baseline-2024 --moments experiments/calibration/moments-2024.toml --params experiments/calibration/params-2024.toml --budget 72 --replications 3 --grid 5 --confirm 3 --final-replications 4 --borrowers 200000 --workers 2 --out runs/calibration (results/calibration/report.md); weakly identified by the tier prices (head 17-18% all-in, lower tiers 24-36%: docs/domain.md); 95% intervals head 0.20-0.54, tail 0.47-1.0; waist: set by hand to the same price tiers (0.6)", lo=0.0, hi=5.0, uncertainty=True)
    guarantee_share: float = p(0.5, "Share of new loans the platform guarantees against loss (兜底) where allowed.", "share", "calibrated: docs/domain.md (before the rules platforms often guaranteed funders; tail platforms rely on guarantees)", lo=0.0, hi=1.0)
    target_pd: float = p(0.15, "Highest estimated annual default probability the platform accepts.", "1/yr", ASSUMPTION, lo=0.0, hi=1.0)
    acquisition_rate: float = p(0.03, "Acquisition spend per month as a share of the platform's funding request (planned volume).", "share", ASSUMPTION, lo=0.0, hi=1.0)
    channel_mix: list = p([0.5, 0.3, 0.0, 0.2], "Acquisition budget shares [info_flow, api, ecosystem, referral] (sum to 1).", "share", "calibrated: docs/domain.md channel descriptions", lo=0.0, hi=1.0, min_len=4)
    complaints: float = p(0.5, "Complaint and compliance-incident index (0 clean, 1 worst).", "index", ASSUMPTION, lo=0.0, hi=1.0)


@dataclass(frozen=True)
class PlatformsParams:
    """Platforms (助贷平台) by tier, and their behaviour."""

    head: TierParams = section(
        TierParams, "Head platforms: big-tech-linked or large listed; own traffic, strong risk control.",
        count=8, balance_share=0.80, size_exponent=1.3, capital_ratio=0.15, age_months=110.0,
        capability_sigma=0.25, take_rate=0.05, service_fee=0.015, opex_rate=0.02, fixed_cost=60.0,
        markup=0.3609, guarantee_share=0.5, target_pd=0.10, acquisition_rate=0.015,
        channel_mix=[0.35, 0.05, 0.50, 0.10], complaints=0.2,
    )
    waist: TierParams = section(
        TierParams, "Waist platforms: sizable independents that buy most traffic.",
        count=30, balance_share=0.14, size_exponent=0.7, capital_ratio=0.10, age_months=70.0,
        capability_sigma=0.40, take_rate=0.05, service_fee=0.04, opex_rate=0.03, fixed_cost=3.0,
        markup=0.60, guarantee_share=0.8, target_pd=0.18, acquisition_rate=0.015,
        channel_mix=[0.50, 0.35, 0.0, 0.15], complaints=0.45,
    )
    tail: TierParams = section(
        TierParams, "Tail platforms: many small players, weak risk control, cheap API traffic, guarantees.",
        count=120, balance_share=0.06, size_exponent=0.5, capital_ratio=0.08, age_months=36.0,
        capability_sigma=0.55, take_rate=0.06, service_fee=0.05, opex_rate=0.04, fixed_cost=0.3,
        markup=0.7577, guarantee_share=0.95, target_pd=0.30, acquisition_rate=0.020,
        channel_mix=[0.20, 0.60, 0.0, 0.20], complaints=0.75,
    )
    complaints_sigma: float = p(
        0.15, "Dispersion of platforms' complaint indices around their tier's value (normal, clipped to 0-1).",
        "index", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True,
    )
    capability_floor: float = p(0.10, "Lowest attainable noise of a default-probability estimate (log SD).", "log", ASSUMPTION, lo=0.0, hi=5.0)
    learning_elasticity: float = p(
        0.15, "Elasticity of estimate noise to cumulative loans underwritten (noise ~ data^-e).", "",
        ASSUMPTION, lo=0.0, hi=2.0, uncertainty=True,
    )
    repeat_noise_factor: float = p(0.5, "Estimate noise on an existing customer as a share of the platform's noise.", "share", ASSUMPTION, lo=0.0, hi=1.0)
    guarantee_margin: float = p(0.3, "Guarantee fee as expected loss times (1 + margin).", "share", ASSUMPTION, lo=0.0, hi=5.0)
    growth_target: float = p(0.05, "Most a profitable platform raises its acquisition intensity above its initial level.", "1/month", ASSUMPTION, lo=0.0, hi=1.0)
    plan_headroom: float = p(
        0.5, "Funding a platform asks for beyond the volume it placed last quarter (room to grow and renew).",
        "share", ASSUMPTION, lo=0.0, hi=10.0,
    )
    cheap_funding_preference: float = p(
        3.0, "How strongly platforms route loans to cheaper funders (weight ~ line x (1 / funding cost)^gamma).",
        "", ASSUMPTION, lo=0.0, hi=20.0, uncertainty=True,
    )
    min_plan_share: float = p(
        0.1, "Smallest plan an active platform keeps, as a share of its initial plan (it exits through losses, not by fading).",
        "share", DESIGN, lo=0.0, hi=1.0,
    )
    shrink_factor: float = p(0.85, "Factor on acquisition intensity after a quarter with a loss (and its inverse for recovery).", "", ASSUMPTION, lo=0.01, hi=1.0)
    risk_cut: float = p(0.85, "Factor on the target default probability after a quarter with a loss.", "", ASSUMPTION, lo=0.01, hi=1.0)
    cap_exposure: float = p(
        0.25, "Share of its book's balance priced above an announced, not yet binding cap from which a platform cuts its "
        "target default probability at each quarterly review (by ``risk_cut``, not below the highest PD it could "
        "price under that cap).", "share", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True,
    )
    cap_margin_share: float = p(
        0.5, "Share of its markup a platform keeps under a cap: at each quarterly review under a cap in force (or an "
        "announced one it is exposed to) it cuts its target default probability toward the highest PD it can price "
        "under the cap with the funder's full spread and this share of its markup, and buys less traffic.",
        "share", "assumption: docs/domain.md (waist and tail platforms cut their own lending on purpose while head "
        "platforms had funding to spare; platforms that earned on 36% loans pivot to low-risk assets around 20%)",
        lo=0.0, hi=5.0, uncertainty=True,
    )
    mix_speed: float = p(0.4, "Share of the channel mix moved each quarter toward the channels with the best return.", "share", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True)
    unfunded_quarters: int = p(2, "Consecutive quarters without funding after which a platform exits.", "quarters", ASSUMPTION, lo=1, hi=40)
    exit_capital_share: float = p(
        0.3, "A solvent platform whose capital falls below this share of its initial capital exits in an orderly way.",
        "share", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True,
    )
    abroad_prob: float = p(0.3, "Probability that a solvent exiting platform moves abroad rather than winding down.", "share", "calibrated: docs/domain.md (some move to South-East Asia, Mexico)", lo=0.0, hi=1.0)


# -------------------------------------------------------------------------------------- funders
@dataclass(frozen=True)
class FunderParams:
    """One funder kind."""

    count: int = p(0, "Number of funders of this kind.", "funders", STRUCTURE, lo=0, hi=5000)
    regions: list = p(["national"], "Regions assigned to the funders of this kind in turn (cycled).", "", DESIGN, choices=REGIONS, min_len=1)
    funding_cost: float = p(0.03, "Annual cost of funds.", "1/yr", "calibrated: docs/domain.md (banks ~3%, CFCs >4%, big-tech microlender ABS ~2%)", lo=0.0, hi=1.0)
    spread: float = p(0.01, "Funder's required margin over funding cost and expected loss.", "1/yr", ASSUMPTION, lo=0.0, hi=1.0)
    capability_sigma: float = p(0.8, "Noise of the funder's own default-probability estimate (log SD).", "log", ASSUMPTION, lo=0.0, hi=5.0, uncertainty=True)
    platform_budget: float = p(0.0, "Monthly budget for new platform loans per funder.", "yuan/1k", "calibrated: funder-kind shares of platform funding (banks ~2/3, CFCs, trusts, microlenders)", lo=0.0, hi=1e12)
    direct_budget: float = p(0.0, "Monthly budget for direct loans to own customers per funder.", "yuan/1k", ASSUMPTION, lo=0.0, hi=1e12)
    direct_opex_rate: float = p(0.03, "Servicing cost of direct loans as a share of balance.", "1/yr", ASSUMPTION, lo=0.0, hi=1.0)
    direct_fixed_cost: float = p(1.0, "Fixed monthly cost of an open direct-lending desk (systems, compliance, collection staff), whatever its volume.", "yuan/1k", "assumption: about 1.2 million yuan a year for a small lender's direct operation at the represented scale (1 yuan per 1,000 modelled borrowers a month with run.population 10^8); it makes a desk whose book shrinks below about 40% of a small microlender's 2024 book earn below its hurdle", lo=0.0, hi=1e12, uncertainty=True)
    direct_target_pd: float = p(0.10, "Highest estimated annual default probability accepted in direct lending.", "1/yr", ASSUMPTION, lo=0.0, hi=1.0)
    partners: int = p(10, "Whitelist size (platform partners) in the first month.", "platforms", ASSUMPTION, lo=0, hi=5000)
    hurdle: float = p(0.005, "Annual return on balance below which a line of lending (through platforms, or direct) is not worth it; under a whitelist regime, also what a new partner must be expected to earn.", "1/yr", "calibrated: bank ROA ~0.7% (2024)", lo=-1.0, hi=1.0)
    loss_tolerance: float = p(0.05, "Partner NPL ratio above which the funder drops the partner at review.", "share", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True)
    size_sigma: float = p(0.5, "Log-normal dispersion of budgets within the kind.", "log", ASSUMPTION, lo=0.0, hi=3.0)
    bigtech_count: int = p(0, "Of the funders counted, how many are big-tech-linked (microlenders only).", "funders", STRUCTURE, lo=0, hi=5000)
    bigtech_funding_cost: float = p(0.02, "Funding cost of big-tech-linked microlenders (ABS).", "1/yr", "calibrated: docs/domain.md (ABS close to 2%)", lo=0.0, hi=1.0)
    bigtech_budget_factor: float = p(20.0, "Budget multiple of a big-tech microlender over a small one.", "x", ASSUMPTION, lo=0.0, hi=1e6)
    capital_ratio: float = p(0.10, "Capital backing the lending business as a share of the funder's total loan balance at the start (after burn-in).", "share", "assumption (regulatory capital adequacy: banks and CFCs hold at least 10.5% of risk-weighted assets, consumer loans weighted 75%, plus buffers; microlenders may borrow only a few times their net assets)", lo=0.0, hi=10.0)


@dataclass(frozen=True)
class FundersParams:
    """Licensed funders by kind, and how they choose partners."""

    bank_state: FunderParams = section(
        FunderParams, "Large state-owned banks.", count=6, regions=["national"], funding_cost=0.025,
        spread=0.015, capability_sigma=0.50, platform_budget=14000.0, direct_budget=8000.0, direct_opex_rate=0.015,
        direct_target_pd=0.03, partners=40, hurdle=0.006, loss_tolerance=0.03, capital_ratio=0.10,
    )
    bank_joint_stock: FunderParams = section(
        FunderParams, "Joint-stock banks.", count=12, regions=["national"], funding_cost=0.028,
        spread=0.015, capability_sigma=0.55, platform_budget=8000.0, direct_budget=2000.0, direct_opex_rate=0.02,
        direct_target_pd=0.04, partners=30, hurdle=0.006, loss_tolerance=0.035, capital_ratio=0.10,
    )
    bank_city: FunderParams = section(
        FunderParams, "City commercial banks.", count=40, regions=["east", "east", "central", "west"],
        funding_cost=0.030, spread=0.02, capability_sigma=0.95, platform_budget=1900.0, partners=8,
        hurdle=0.006, loss_tolerance=0.04, capital_ratio=0.10,
    )
    bank_rural: FunderParams = section(
        FunderParams, "Rural commercial banks.", count=40, regions=["east", "central", "central", "west"],
        funding_cost=0.030, spread=0.02, capability_sigma=1.05, platform_budget=1000.0, partners=5,
        hurdle=0.006, loss_tolerance=0.04, capital_ratio=0.10,
    )
    bank_internet: FunderParams = section(
        FunderParams, "Internet banks (data-rich, online only).", count=4, regions=["national"],
        funding_cost=0.030, spread=0.015, capability_sigma=0.35, platform_budget=12000.0, direct_budget=3000.0,
        direct_opex_rate=0.02, direct_target_pd=0.06, partners=40, hurdle=0.006, loss_tolerance=0.05, capital_ratio=0.10,
    )
    cfc: FunderParams = section(
        FunderParams, "Consumer-finance companies.", count=30, regions=["national", "east", "central", "west"],
        funding_cost=0.042, spread=0.02, capability_sigma=0.60, platform_budget=2500.0, direct_budget=1200.0,
        direct_opex_rate=0.03, direct_target_pd=0.10, partners=15, hurdle=0.010, loss_tolerance=0.06, capital_ratio=0.12,
    )
    microlender: FunderParams = section(
        FunderParams, "Microlenders (小贷); the first ``bigtech_count`` are big-tech-linked.", count=22,
        regions=["national", "east", "central", "west"], funding_cost=0.07, spread=0.02, capability_sigma=0.80,
        platform_budget=450.0, direct_budget=200.0, direct_opex_rate=0.04, direct_target_pd=0.15, partners=6,
        hurdle=0.015, loss_tolerance=0.08, bigtech_count=2, bigtech_funding_cost=0.02, bigtech_budget_factor=25.0,
        capital_ratio=0.25,
    )
    trust: FunderParams = section(
        FunderParams, "Trust companies (a channel for platform loans).", count=5, regions=["national"],
        funding_cost=0.045, spread=0.02, capability_sigma=0.90, platform_budget=5000.0, partners=15,
        hurdle=0.008, loss_tolerance=0.06, capital_ratio=0.10,
    )
    platform_supply: float = p(
        1.0, "Scale of every funder's monthly platform budget (the supply of funding for platform loans) on the kinds' "
        "budgets above, whose split over kinds it keeps.", "",
        "design: 1 keeps the kinds' budgets as set; a lever for more or scarcer platform funding (docs/ODD.md, 'A steady "
        "counterfactual': at 1 funders lend about 99% of their platform budgets once reviews begin)",
        lo=0.1, hi=10.0,
    )
    pref_scale: float = p(1.0, "Weight of platform scale (log volume) in funders' partner preference.", "", ASSUMPTION, lo=0.0, hi=100.0, uncertainty=True)
    pref_age: float = p(0.5, "Weight of operating age (years) in funders' partner preference.", "", ASSUMPTION, lo=0.0, hi=100.0)
    pref_track: float = p(20.0, "Weight of the partner's historical loss rate (negative) in preference.", "", ASSUMPTION, lo=0.0, hi=1000.0)
    pref_compliance: float = p(1.0, "Weight of the complaint index (negative) in preference.", "", ASSUMPTION, lo=0.0, hi=100.0)
    pref_sharpness: float = p(
        0.3782, "How sharply funders concentrate credit lines and partner picks on preferred platforms (weights exp(sharpness x score)).",
        "", "calibrated: zhudai calibrate baseline-2024 --moments experiments/calibration/moments-2024.toml --params experiments/calibration/params-2024.toml --budget 72 --replications 3 --grid 5 --confirm 3 --final-replications 4 --borrowers 200000 --workers 2 --out runs/calibration (results/calibration/report.md); identified by the tail structure (its 2024 level and its persistence), 95% interval 0.18-0.42 (was 0.3, an assumption)",
        lo=0.0, hi=10.0, uncertainty=True,
    )
    partner_cost: float = p(0.02, "Monitoring cost per partner per quarter without a whitelist regime.", "yuan/1k", "calibrated: docs/domain.md (partner oversight was light before the rules raised its cost)", lo=0.0, hi=1e9)
    new_partners_per_review: int = p(2, "Most new partners a funder admits at one quarterly review.", "platforms", ASSUMPTION, lo=0, hi=1000)
    leave_quarters: int = p(4, "Consecutive quarterly reviews whose trailing-year return is below hurdle after which a funder leaves platform lending (or, judged on its direct book, closes its direct desk).", "quarters", ASSUMPTION, lo=1, hi=40)
    capital_floor_share: float = p(0.5, "A funder whose capital falls below this share of its initial capital stops new direct lending for good (capital below zero is failure: it stops all lending).", "share", "assumption (prompt corrective action: supervisors restrict the asset growth of an undercapitalized lender)", lo=0.0, hi=1.0, uncertainty=True)


# --------------------------------------------------------------------------------------- policy
@dataclass(frozen=True)
class RateCapPolicy:
    """The all-in cost ceiling for every licensed loan, replacing the legacy ceiling from ``start``."""

    legacy_apr: float = p(0.36, "Ceiling on the nominal rate before the new cap (judicial protection ceiling, old reading).", "1/yr", "calibrated: docs/domain.md (subprime paid 24-36%)", lo=1e-9, hi=1.0)
    legacy_fees_included: bool = p(False, "Whether guarantee and service fees count toward the legacy ceiling.", "", "calibrated: docs/domain.md (nominal 23% could cost 30% all-in)")
    enabled: bool = p(False, "Switch for the new cap.", "", LEVER)
    apr: float = p(0.24, "New ceiling on the APR of new licensed loans.", "1/yr", LEVER, lo=1e-9, hi=1.0)
    start: str = p("2025-10", "First month the new cap applies.", "YYYY-MM", LEVER, kind="month")
    fees_included: bool = p(True, "Whether guarantee and service fees count toward the new cap (all-in cost).", "", LEVER)
    announced: str = p(
        "", "Month the cap was announced, if before ``start`` ('' or ``start``: not announced ahead). From then a new "
        "or renewed loan whose term ends on or after ``start`` must be priced within the cap, and platforms with much "
        "of their book above it cut their risk appetite.", "YYYY-MM", LEVER, kind="month", optional=True,
    )


@dataclass(frozen=True)
class KindCapPolicy:
    """A cap for one funder kind, optionally falling on a path to a multiple of the LPR."""

    enabled: bool = p(False, "Switch for this kind's cap.", "", LEVER)
    apr: float = p(0.24, "Cap from ``start`` (all-in, fees included).", "1/yr", LEVER, lo=1e-9, hi=1.0)
    start: str = p("2026-01", "First month of this kind's cap.", "YYYY-MM", LEVER, kind="month")
    lpr_multiple: float = p(0.0, "If >0 the cap falls linearly from ``apr`` to this multiple of the LPR by ``by``.", "x", LEVER, lo=0.0, hi=100.0)
    by: str = p("2027-12", "Month the path reaches the LPR multiple.", "YYYY-MM", LEVER, kind="month")
    announced: str = p(
        "", "Month this kind's cap was announced, if before ``start`` ('' or ``start``: not announced ahead); "
        "anticipated like the general cap's announcement, at ``apr``.", "YYYY-MM", LEVER, kind="month", optional=True,
    )


@dataclass(frozen=True)
class KindCaps:
    """Per-kind caps (CFC window guidance, microlender guidance); the strictest cap in force binds."""

    bank_state: KindCapPolicy = section(KindCapPolicy, "Cap for state-owned banks.")
    bank_joint_stock: KindCapPolicy = section(KindCapPolicy, "Cap for joint-stock banks.")
    bank_city: KindCapPolicy = section(KindCapPolicy, "Cap for city commercial banks.")
    bank_rural: KindCapPolicy = section(KindCapPolicy, "Cap for rural commercial banks.")
    bank_internet: KindCapPolicy = section(KindCapPolicy, "Cap for internet banks.")
    cfc: KindCapPolicy = section(KindCapPolicy, "Cap for consumer-finance companies.", apr=0.20)
    microlender: KindCapPolicy = section(KindCapPolicy, "Cap for microlenders.", apr=0.24, lpr_multiple=4.0)
    trust: KindCapPolicy = section(KindCapPolicy, "Cap for trusts.")


@dataclass(frozen=True)
class WhitelistPolicy:
    """Whitelist regime (名单制): admission criteria, per-partner compliance cost, partner limit."""

    enabled: bool = p(False, "Switch for the whitelist regime.", "", LEVER)
    start: str = p("2025-10", "First month of the regime (first review at the quarter end).", "YYYY-MM", LEVER, kind="month")
    partner_cost: float = p(3.0, "Compliance and monitoring cost per partner per quarter under the regime.", "yuan/1k", LEVER, lo=0.0, hi=1e9)
    min_age_months: float = p(36.0, "Admission: minimum operating age of a partner.", "months", LEVER, lo=0.0, hi=600.0)
    max_complaints: float = p(0.7, "Admission: highest complaint index of a partner.", "index", LEVER, lo=0.0, hi=1.0)
    max_partners: int = p(0, "Most partners per funder (0: no limit).", "platforms", LEVER, lo=0, hi=5000)
    announced: str = p(
        "", "Month the regime was announced, if before ``start`` ('' or ``start``: not announced ahead). From then "
        "funders' quarterly reviews apply the admission criteria and charge each partner a share of "
        "``partner_cost`` rising linearly from 0 at the announcement to 1 at ``start``.", "YYYY-MM", LEVER,
        kind="month", optional=True,
    )


@dataclass(frozen=True)
class DatedSwitch:
    """A rule that is either off or in force from a month on."""

    enabled: bool = p(False, "Switch for the rule.", "", LEVER)
    start: str = p("2025-10", "First month the rule applies.", "YYYY-MM", LEVER, kind="month")


@dataclass(frozen=True)
class AnnouncedSwitch(DatedSwitch):
    """A rule that is either off or in force from a month on, and may be announced before it binds."""

    announced: str = p(
        "", "Month the rule was announced, if before ``start`` ('' or ``start``: not announced ahead). From then a "
        "bank loan that would still run when the ban starts (a term of ``borrowers.term_months``) is, with a "
        "probability rising linearly from 0 at the announcement to 1 at ``start``, screened by the bank and "
        "without a platform guarantee, as under the ban.", "YYYY-MM", LEVER, kind="month",
        optional=True,
    )


@dataclass(frozen=True)
class StockCleanupPolicy:
    """Clean-up of stock loans priced above the cap in force."""

    enabled: bool = p(False, "Switch: stock loans above the cap are not renewed and are called at the deadline.", "", LEVER)
    deadline: str = p("2026-06", "Month when remaining stock loans above the cap are called.", "YYYY-MM", LEVER, kind="month")
    announced: str = p(
        "", "Month the clean-up was announced, if before ``deadline`` ('' or ``deadline``: not announced ahead). The "
        "rules carry the announcement; lenders anticipate the cap itself (``policy.rate_cap.announced``), not "
        "this call.", "YYYY-MM", LEVER, kind="month", optional=True,
    )


@dataclass(frozen=True)
class BalanceMandatePolicy:
    """Funders of the given kinds and regions cut platform balances to target shares of a baseline."""

    enabled: bool = p(False, "Switch for the balance mandate.", "", LEVER)
    kinds: list = p(["bank_state", "bank_joint_stock"], "Funder kinds subject to the mandate.", "", LEVER, choices=FUNDER_KINDS, min_len=1)
    regions: list = p(["all"], "Regions subject to the mandate ('all' for every region).", "", LEVER, choices=REGION_FILTER, min_len=1)
    start: str = p("2025-10", "Month whose platform balance is the baseline; the path starts here.", "YYYY-MM", LEVER, kind="month")
    targets: list = p([0.5, 0.0], "Target balance as shares of the baseline at the dates in ``by``.", "share", LEVER, lo=0.0, hi=1.0, min_len=1)
    by: list = p(["2025-12", "2026-12"], "Dates the targets are due (ascending).", "YYYY-MM", LEVER, kind="months", min_len=1)


@dataclass(frozen=True)
class FreezePolicy:
    """A freeze on platform lending of given funder kinds and regions."""

    enabled: bool = p(False, "Switch for the freeze.", "", LEVER)
    kinds: list = p(["trust"], "Funder kinds affected.", "", LEVER, choices=FUNDER_KINDS, min_len=1)
    regions: list = p(["all"], "Regions affected ('all' for every region).", "", LEVER, choices=REGION_FILTER, min_len=1)
    start: str = p("2025-10", "First month of the freeze.", "YYYY-MM", LEVER, kind="month")


@dataclass(frozen=True)
class BanPolicy:
    """A stop to platform lending for given funder kinds and regions: no new loans, whitelists cleared."""

    enabled: bool = p(False, "Switch for the ban.", "", LEVER)
    kinds: list = p(["bank_city", "bank_rural"], "Funder kinds affected.", "", LEVER, choices=FUNDER_KINDS, min_len=1)
    regions: list = p(["east"], "Regions affected ('all' for every region).", "", LEVER, choices=REGION_FILTER, min_len=1)
    start: str = p("2026-03", "First month of the ban.", "YYYY-MM", LEVER, kind="month")


@dataclass(frozen=True)
class BorrowingLimitPolicy:
    """A limit on a borrower's total licensed debt as a multiple of annual income."""

    enabled: bool = p(False, "Switch for the borrowing limit.", "", LEVER)
    start: str = p("2025-10", "First month of the limit.", "YYYY-MM", LEVER, kind="month")
    income_multiple: float = p(1.0, "Most total licensed debt as a multiple of annual normal income.", "x", LEVER, lo=0.0, hi=100.0)


@dataclass(frozen=True)
class GuaranteeCapPolicy:
    """A cap on the guarantee-backed share of each platform's new loans."""

    enabled: bool = p(False, "Switch for the guarantee-share cap.", "", LEVER)
    start: str = p("2025-10", "First month of the cap.", "YYYY-MM", LEVER, kind="month")
    max_share: float = p(0.3, "Highest guarantee-backed share of new platform loans.", "share", LEVER, lo=0.0, hi=1.0)


@dataclass(frozen=True)
class PolicyParams:
    """Policy levers. Every instrument is dated and can be switched off."""

    rate_cap: RateCapPolicy = section(RateCapPolicy, "The all-in rate cap and the legacy ceiling.")
    kind_caps: KindCaps = section(KindCaps, "Caps per funder kind.")
    whitelist: WhitelistPolicy = section(WhitelistPolicy, "The whitelist regime.")
    no_outsourcing: AnnouncedSwitch = section(AnnouncedSwitch, "Ban on outsourcing core risk control: funders screen each loan themselves and bear its risk (no platform guarantees).")
    stock_cleanup: StockCleanupPolicy = section(StockCleanupPolicy, "Clean-up of stock loans above the cap.")
    balance_mandate: BalanceMandatePolicy = section(BalanceMandatePolicy, "Balance mandates.")
    balance_freeze: FreezePolicy = section(FreezePolicy, "Balance freezes: platform balances may only fall from their level at the start.")
    new_business_ban: BanPolicy = section(BanPolicy, "Bans on platform lending.")
    payment_crackdown: DatedSwitch = section(DatedSwitch, "Payment-channel crackdown: no new shadow loans through withholding.", start="2026-06")
    borrowing_limit: BorrowingLimitPolicy = section(BorrowingLimitPolicy, "Total-borrowing limit.")
    guarantee_cap: GuaranteeCapPolicy = section(GuaranteeCapPolicy, "Guarantee-share cap.")


# -------------------------------------------------------------------------------------- pricing
@dataclass(frozen=True)
class PricingParams:
    """Common pricing and underwriting parameters."""

    lgd: float = p(0.9, "Loss given default used in pricing (1 - expected recovery).", "share", ASSUMPTION, lo=0.0, hi=1.0)
    shock_to_default: float = p(
        0.33, "Share of income shocks that end in default, as lenders' PD models assume (PD uses hazard x share).",
        "share", "calibrated: internal consistency (lenders' mean PD equals the simulated 12-month default rate, baseline-2024)",
        lo=0.0, hi=1.0,
    )
    min_spread_share: float = p(
        0.0, "Least share of its spread a funder accepts when a cap squeezes the price (the platform's share is sticky).",
        "share", "calibrated: docs/domain.md (a bank: 24% minus funding, platform share, fees and provisions left no profit)",
        lo=0.0, hi=1.0, uncertainty=True,
    )
    shock_pd: float = p(
        0.2609, "Annual PD lenders' models assign to a borrower now in an income shock (bureau signals: inquiry bursts, arrears).",
        "1/yr", "calibrated: zhudai calibrate baseline-2024 --moments experiments/calibration/moments-2024.toml --params experiments/calibration/params-2024.toml --budget 72 --replications 3 --grid 5 --confirm 3 --final-replications 4 --borrowers 200000 --workers 2 --out runs/calibration (results/calibration/report.md); weakly identified by the NPL ratio, 95% interval 0.05-0.45 (was 0.5, an assumption)",
        lo=0.0, hi=1.0, uncertainty=True,
    )
    loss_memory: float = p(
        0.9, "Monthly decay of the loss record a lender uses to calibrate its PD estimates (realised / expected).",
        "", ASSUMPTION, lo=0.0, hi=1.0, uncertainty=True,
    )
    leverage_sensitivity: float = p(
        3.0, "How much debt service to income raises a borrower's default probability (PD x (1 + s * DSTI)).",
        "", ASSUMPTION, lo=0.0, hi=20.0, uncertainty=True,
    )
    direct_markup: float = p(0.10, "Proportional markup of direct lenders over their required price.", "share", ASSUMPTION, lo=0.0, hi=5.0)
    max_dsti: float = p(
        0.7, "Lenders refuse a loan that would lift debt service above this share of income.", "share",
        "calibrated: common platform DSTI ceilings of 50-70% (practitioner reports)", lo=0.0, hi=10.0,
    )
    funder_screens_always: bool = p(False, "If true, funders apply their own screen even where outsourcing is allowed.", "", DESIGN)


# ------------------------------------------------------------------------------------------ root
@dataclass(frozen=True)
class Params:
    """All parameters of one scenario."""

    run: RunParams = section(RunParams, "Calendar window and population size.")
    macro: MacroParams = section(MacroParams, "Rates and macro shocks.")
    borrowers: BorrowerParams = section(BorrowerParams, "Borrower population.")
    channels: ChannelsParams = section(ChannelsParams, "Acquisition channels.")
    platforms: PlatformsParams = section(PlatformsParams, "Platforms by tier.")
    funders: FundersParams = section(FundersParams, "Funders by kind.")
    pricing: PricingParams = section(PricingParams, "Pricing and underwriting.")
    policy: PolicyParams = section(PolicyParams, "Policy levers.")


def iter_fields(cls: type = Params, prefix: str = ""):
    """Yield ``(dotted_key, field, default)`` for every leaf parameter of a section class."""
    instance = cls()
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        value = getattr(instance, f.name)
        if f.metadata.get("section"):
            sub = type(value)
            for k, ff, _d in iter_fields(sub, key + "."):
                yield k, ff, _get(value, k[len(key) + 1:])
        else:
            yield key, f, value


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
