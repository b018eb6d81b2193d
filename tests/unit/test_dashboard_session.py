"""Unit tests for experiments.dashboard.session and .views: lockstep runs with common random numbers,
reproducibility, error handling that never raises to the page, exports and figures.

Populations are tiny (2,000 borrowers) and runs short (at most 6 months); the few DashboardModels are shared
through module-scoped fixtures, which the tests only read (stepping a faulted or invalid model is a no-op).
"""

import io
import re
import zipfile
from types import SimpleNamespace

import mesa
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from experiments.dashboard import views
from experiments.dashboard.levers import overrides_for
from experiments.dashboard.session import AS_SHIPPED, NO_COMPARISON, DashboardModel
from model import world
from model.calendar import parse_month
from model.config import load_scenario
from model.enums import FunderKind
from model.lending import LendingModel

SCENARIO = "new-rules-2025"
N = "2000"          # the smallest population _parse_int allows is 1,000
SEED = "3"
K = 6               # months stepped by the shared fixtures: 2024-01 .. 2024-06
TABLES = ("model", "platforms", "funders")
VIEWS = [(stem, view) for stem, _title, view in views.FIGURES]
BANK_KINDS = [k.value for k in FunderKind if k.is_bank]


def _stepped(dm: DashboardModel, months: int) -> DashboardModel:
    for _ in range(months):
        dm.step()
    return dm


def _texts(fig: Figure) -> str:
    """Visible texts drawn on the figure or its axes (messages such as "no run")."""
    texts = [*fig.texts, *(t for ax in fig.axes for t in ax.texts)]
    return " ".join(t.get_text() for t in texts if t.get_visible())


def _table(dm: DashboardModel, tag: str, name: str = "model") -> pd.DataFrame:
    (arm,) = [a for a in dm.arms if a.tag == tag]
    return arm.table(name)


def _registry_keys() -> set[int]:
    return {id(k) for k in mesa.Agent._ids}


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def crn():
    """new-rules-2025 against itself as shipped, no lever moved, seed 3, stepped K months."""
    dm = DashboardModel(scenario=SCENARIO, compare=AS_SHIPPED, borrowers=N, seed=SEED)
    before = SimpleNamespace(date=dm.date, months=dm.months_done,
                             figures={stem: view(dm) for stem, view in VIEWS})
    return SimpleNamespace(dm=_stepped(dm, K), before=before)


@pytest.fixture(scope="module")
def capped():
    """Run A with a 20% cap (from the scenario's 2025-10), B as shipped: identical before the cap starts."""
    return _stepped(DashboardModel(scenario=SCENARIO, compare=AS_SHIPPED, borrowers=N, seed=SEED, cap="20"), K)


@pytest.fixture(scope="module")
def early_cap():
    """Run A with a 20% cap from 2024-02, B as shipped; caps and new-loan APRs recorded after every month."""
    dm = DashboardModel(scenario=SCENARIO, compare=AS_SHIPPED, borrowers=N, seed=SEED, cap="20",
                        cap_start="2024-02")
    months = []
    for _ in range(K):
        dm.step()
        a = dm.arms[0]
        apr, principal = dm.new_loan_aprs(a)
        months.append(SimpleNamespace(date=dm.date, caps=dm.caps_in_force(a), binding=a.model.rules.binding_cap,
                                      apr=apr, principal=principal))
    return SimpleNamespace(dm=dm, months=months)


@pytest.fixture(scope="module")
def no_warning():
    """Run A with the 2025 rules announced at their start (announcement lever 0), B as shipped (2025-04); built
    only: the months that differ (from 2025-04) are far beyond a short test run."""
    return DashboardModel(scenario=SCENARIO, compare=AS_SHIPPED, borrowers=N, seed=SEED, announce_lead="0")


@pytest.fixture(scope="module")
def solo():
    """One run only (compare none), another seed, stepped 2 months (platform volume is still broad then)."""
    return _stepped(DashboardModel(scenario=SCENARIO, compare=NO_COMPARISON, borrowers=N, seed="4"), 2)


def _fault_at(month: str, scenario: str | None, message: str):
    original = LendingModel.settle_repayments

    def settle_repayments(self, *args):
        if self.date == month and (scenario is None or self.scenario.name == scenario):
            raise RuntimeError(message)
        return original(self, *args)

    return settle_repayments


@pytest.fixture(scope="module")
def fault_a():
    """settle_repayments raises in 2024-03 (run A is stepped first); the model is stepped 5 times."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LendingModel, "settle_repayments", _fault_at("2024-03", None, "kaboom in A"))
        dm = DashboardModel(scenario=SCENARIO, compare=AS_SHIPPED, borrowers=N, seed=SEED)
        history = []
        for _ in range(5):
            dm.step()
            history.append((dm.error, dm.running))
    return SimpleNamespace(dm=dm, history=history)


@pytest.fixture(scope="module")
def fault_b():
    """settle_repayments raises in 2024-03 only in run B (baseline-2024), after run A completed that month."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LendingModel, "settle_repayments", _fault_at("2024-03", "baseline-2024", "kaboom in B"))
        dm = _stepped(DashboardModel(scenario=SCENARIO, compare="baseline-2024", borrowers=N, seed=SEED), 4)
    return dm


@pytest.fixture(scope="module")
def build_fault():
    """LendingModel.__init__ fails (building the initial loan book raises) while building run A."""
    keys = _registry_keys()

    def broken(*args, **kwargs):
        raise ValueError("no loan book today")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(world, "initial_book", broken)
        dm = DashboardModel(scenario=SCENARIO, compare=AS_SHIPPED, borrowers=N, seed=SEED)
    leaked = [k for k in mesa.Agent._ids if id(k) not in keys and isinstance(k, LendingModel)]
    return SimpleNamespace(dm=dm, leaked=leaked)


# ------------------------------------------------------------------------------ lockstep and common numbers
def test_fresh_model_has_not_started(crn):
    """Before the first step the page says which month comes first, and no month is done."""
    assert crn.before.months == 0
    assert crn.before.date == "not started (first month 2024-01)"


def test_runs_advance_in_lockstep(crn):
    """After K steps both runs have done K months and sit on the same calendar month."""
    dm = crn.dm
    assert [a.tag for a in dm.arms] == ["A", "B"]
    assert [a.model.steps for a in dm.arms] == [K, K]
    assert dm.months_done == K
    assert dm.date == "2024-06" == dm.arms[0].model.date == dm.arms[1].model.date
    assert dm.running is True and dm.error is None
    assert dm.horizon == 48


@pytest.mark.parametrize("name", TABLES)
def test_no_lever_moved_means_identical_runs(crn, name):
    """Same scenario, same seed, no lever moved: A and B are the same run (common random numbers)."""
    a, b = _table(crn.dm, "A", name), _table(crn.dm, "B", name)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)


def test_run_labels(crn, capped):
    """Labels name the scenario, the levers moved in A, and B as shipped."""
    assert [a.label for a in crn.dm.arms] == ["A: new-rules-2025", "B: new-rules-2025 as shipped"]
    assert [a.label for a in capped.arms] == ["A: new-rules-2025 + cap 20%", "B: new-rules-2025 as shipped"]


def test_different_seeds_give_different_runs(crn, solo):
    """Seed 3 and seed 4 of the same scenario differ in their first two months."""
    a3 = _table(crn.dm, "A").iloc[:2].reset_index(drop=True)
    a4 = _table(solo, "A")
    assert list(a3["date"]) == list(a4["date"]) == ["2024-01", "2024-02"]
    assert not np.allclose(a3["origination_volume"], a4["origination_volume"])


# ----------------------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("name", TABLES)
def test_run_a_equals_a_standalone_lending_model(capped, name):
    """Run A is exactly LendingModel(load_scenario(scenario, lever overrides + size), rng=seed)."""
    overrides = {**overrides_for({"cap": "20"}), "run.borrowers": int(N)}
    model = LendingModel(load_scenario(SCENARIO, overrides), rng=int(SEED))
    try:
        for _ in range(K):
            model.step()
        pd.testing.assert_frame_equal(model.tables()[name], _table(capped, "A", name))
    finally:
        mesa.Agent._ids.pop(model, None)


def _command(dm: DashboardModel) -> tuple[str, int, list[str]]:
    (line,) = [ln for ln in dm.settings_text().splitlines() if "zhudai run" in ln]
    match = re.search(r"zhudai run (\S+) --seed (\d+) (.*) --out \S+$", line)
    assert match, line
    assert "  " not in line
    return match[1], int(match[2]), re.findall(r"--set (\S+)", match[3])


@pytest.mark.parametrize(("fixture", "expected_sets"), [
    ("capped", ["run.borrowers=2000", "policy.rate_cap.apr=0.2", "policy.rate_cap.enabled=true"]),
    # new-rules-2025 announces the cap in 2025-04: a cap from 2024-02 is announced when it binds.
    ("early_cap", ["run.borrowers=2000", "policy.rate_cap.apr=0.2", "policy.rate_cap.enabled=true",
                   "policy.rate_cap.start=2024-02", "policy.rate_cap.announced=2024-02"]),
    ("crn", ["run.borrowers=2000"]),
    ("no_warning", ["run.borrowers=2000", "policy.rate_cap.announced=2025-10", "policy.whitelist.announced=2025-10",
                    "policy.no_outsourcing.announced=2025-10", "policy.stock_cleanup.announced=2025-10"]),
])
def test_settings_command_reproduces_run_a(request, fixture, expected_sets):
    """settings_text names the seed, size and lever overrides; its --set values resolve to run A's parameters."""
    got = request.getfixturevalue(fixture)
    dm = got if isinstance(got, DashboardModel) else got.dm
    name, seed, sets = _command(dm)
    assert (name, seed) == (SCENARIO, int(SEED))
    assert sorted(sets) == sorted(expected_sets)
    assert load_scenario(name, sets).params == dm.arms[0].scenario.params
    text = dm.settings_text()
    assert text.startswith(f"seed = {SEED}\nborrowers = {N}\n")
    for arm in dm.arms:
        assert f"{arm.label}  (scenario {arm.scenario.name})" in text


# ----------------------------------------------------------------------------------- announcement lever
def test_announcement_lever_reaches_the_model_of_run_a(no_warning):
    """Lead 0 through the session: run A's model gets every 2025 rule announced at its start and anticipates
    nothing in 2025-06, while run B (as shipped, announced 2025-04) anticipates the cap and the whitelist then."""
    dm = no_warning
    assert dm.error is None
    a, b = dm.arms
    assert a.label == "A: new-rules-2025 + rules announced at their start, no warning (in 2025-10)"
    for section in ("rate_cap", "whitelist", "no_outsourcing", "stock_cleanup"):
        assert dm.overrides[f"policy.{section}.announced"] == "2025-10"
        assert getattr(a.model.params.policy, section).announced == "2025-10"
        assert getattr(b.model.params.policy, section).announced == "2025-04"
    month = parse_month("2025-06")
    rules_a, rules_b = a.model._rules_for(month), b.model._rules_for(month)
    assert not rules_a.whitelist_announced and not rules_a.cleanup_announced
    assert np.isinf(rules_a.announced_cap_all_in).all() and rules_a.anticipated_partner_cost == 0.0
    assert rules_b.whitelist_announced and rules_b.cleanup_announced
    assert np.isfinite(rules_b.announced_cap_all_in).all() and rules_b.anticipated_partner_cost > 0.0


def test_announcement_lever_on_a_scenario_without_announced_rules_says_it_has_no_effect():
    """baseline-2024 announces nothing: the lever changes no parameter, and run A's label says so."""
    dm = DashboardModel(scenario="baseline-2024", compare=NO_COMPARISON, borrowers=N, seed=SEED, announce_lead="6")
    assert dm.error is None and dm.overrides == {}
    (arm,) = dm.arms
    assert arm.label == ("A: baseline-2024 + rules announced 6 months ahead "
                         "(no effect: baseline-2024 announces no rule ahead)")
    assert arm.model.params == load_scenario("baseline-2024", {"run.borrowers": int(N)}).params


# ------------------------------------------------------------------------------- effect of a lever in time
@pytest.mark.parametrize("name", TABLES)
def test_lever_before_cap_start_leaves_months_identical(capped, name):
    """A 20% cap that starts in 2025-10 changes nothing in 2024-01..2024-06: A and B are equal there."""
    a_rc, b_rc = (arm.scenario.params.policy.rate_cap for arm in capped.arms)
    assert (a_rc.apr, b_rc.apr, a_rc.start) == (0.2, 0.24, "2025-10")
    assert list(_table(capped, "A")["date"]) == [f"2024-0{m}" for m in range(1, K + 1)]
    pd.testing.assert_frame_equal(_table(capped, "A", name), _table(capped, "B", name))


def test_early_cap_start_makes_runs_differ(early_cap):
    """With the cap from 2024-02, month one is identical and new-loan APRs differ within a few months."""
    a, b = _table(early_cap.dm, "A"), _table(early_cap.dm, "B")
    pd.testing.assert_frame_equal(a.iloc[:1], b.iloc[:1])
    window = slice(1, 4)
    differs = (a["max_apr_new"].iloc[window] != b["max_apr_new"].iloc[window]) | (
        a["avg_apr_new"].iloc[window] != b["avg_apr_new"].iloc[window])
    assert differs.any()
    assert (a["max_apr_new"].iloc[1:] <= 0.2 + 1e-9).all()


# --------------------------------------------------------------------------------------- caps and new loans
def test_caps_in_force_follow_the_cap_start(early_cap):
    """Before the cap start the legacy 36% applies; from 2024-02 every bank kind is capped at 20%."""
    first, *later = early_cap.months
    assert first.date == "2024-01"
    assert set(first.caps.values()) == {0.36}
    for month in later:
        assert set(BANK_KINDS) <= set(month.caps)
        assert all(month.caps[k] == pytest.approx(0.2) for k in BANK_KINDS), month.date
        assert month.binding == pytest.approx(0.2)


def test_new_loan_aprs_respect_the_cap(early_cap):
    """While the cap is in force every new licensed loan is priced at or below the binding cap."""
    total = 0
    for month in early_cap.months[1:]:
        assert month.apr.shape == month.principal.shape
        assert (month.apr <= month.binding + 1e-9).all(), month.date
        assert (month.principal > 0).all()
        total += month.apr.size
    assert total > 0  # not vacuous: loans were made


def test_new_loan_aprs_match_the_model_table(early_cap):
    """The last month's new-loan APRs agree with the recorded max_apr_new of run A."""
    last = early_cap.months[-1]
    recorded = _table(early_cap.dm, "A")["max_apr_new"].iloc[-1]
    assert (last.apr.max() if last.apr.size else 0.0) == pytest.approx(recorded)


# ------------------------------------------------------------------------------------- largest_platforms
@pytest.mark.parametrize("n", [1, 5, 8])
def test_largest_platforms_shape_and_order(solo, n):
    """At most n rows, by volume share descending, shares in [0, 1] summing to at most 1."""
    top = solo.largest_platforms(solo.arms[0], n=n)
    assert 0 < len(top) <= n
    shares = top["share"].to_numpy()
    assert ((shares >= 0) & (shares <= 1)).all()
    assert shares.sum() <= 1 + 1e-12
    assert (np.diff(shares) <= 0).all()
    assert shares[0] > 0


def test_largest_platforms_partner_counts(solo):
    """partners == banks + CFC + micro + trust, and equals the platforms table's partner count."""
    arm = solo.arms[0]
    top = solo.largest_platforms(arm)
    assert (top["partners"] == top[["banks", "CFC", "micro", "trust"]].sum(axis=1)).all()
    plat = arm.table("platforms")
    now = plat[plat["step"] == solo.months_done].set_index("platform_id")
    for row in top.itertuples():
        assert now.loc[int(row.platform.lstrip("#")), "partners"] == row.partners


def test_largest_platforms_covers_the_market(solo):
    """Asking for every platform lists each once, and their shares add up to the whole volume."""
    arm = solo.arms[0]
    every = solo.largest_platforms(arm, n=10_000)
    assert len(every) == arm.model.n_platforms
    assert every["platform"].is_unique
    assert every["share"].sum() == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------- invalid settings
INVALID = [
    pytest.param(({"seed": "x", "borrowers": "5"}, ["Seed: 'x' is not a whole number", "Borrowers: 5 is outside"]),
                 id="seed-x-borrowers-5"),
    pytest.param(({"seed": "-1", "borrowers": "abc"}, ["Seed: -1 is outside", "Borrowers: 'abc' is not a whole"]),
                 id="seed-neg-borrowers-abc"),
    pytest.param(({"scenario": "no-such", "compare": "nor-this"},
                  ["Scenario: 'no-such'", "Compare with: 'nor-this'"]), id="unknown-names"),
    pytest.param(({"cap": "abc", "whitelist": "maybe"},
                  ["All-in APR cap (%): 'abc'", "Whitelist required: 'maybe'"]), id="bad-levers"),
    pytest.param(({"cap": "0.00000001"}, ["All-in APR cap (%): 0.00000001 is below the smallest cap"]),
                 id="schema-rejects-override"),
    pytest.param(({"announce_lead": "-3"}, ["Rules announced (months ahead): -3 is outside its range"]),
                 id="announcement-after-start"),
]


@pytest.fixture(scope="module", params=INVALID)
def invalid(request):
    kwargs, expected = request.param
    settings = {"scenario": SCENARIO, "compare": AS_SHIPPED, "borrowers": N, "seed": SEED, **kwargs}
    return SimpleNamespace(dm=DashboardModel(**settings), expected=expected)


def test_invalid_settings_set_error_without_runs(invalid):
    """Invalid settings never raise: error names every problem, no runs, not running, no date."""
    dm = invalid.dm
    assert isinstance(dm.error, str) and dm.error.startswith("Cannot start: ")
    for fragment in invalid.expected:
        assert fragment in dm.error
    assert dm.arms == []
    assert dm.running is False
    assert dm.date == "no run"
    assert dm.months_done == 0


def test_step_is_a_noop_on_invalid_settings(invalid):
    """Stepping an invalid model changes nothing and raises nothing."""
    dm = invalid.dm
    error = dm.error
    dm.step()
    dm.step()
    assert (dm.error, dm.arms, dm.running, dm.date) == (error, [], False, "no run")


@pytest.mark.parametrize(("stem", "view"), VIEWS)
def test_views_render_on_invalid_settings(invalid, stem, view):
    """Every view still draws a figure (saying there is no run) and exports to PNG."""
    fig = view(invalid.dm)
    assert isinstance(fig, Figure)
    assert "no run" in _texts(fig)
    assert views.png(fig).startswith(b"\x89PNG")


def test_exports_work_on_invalid_settings(invalid):
    """The zips are still produced, with the settings but no table rows."""
    dm = invalid.dm
    with zipfile.ZipFile(io.BytesIO(dm.tables_zip())) as zf:
        assert zf.read("settings.txt").decode() == dm.settings_text()
        assert zf.read("model.csv").decode().strip() == ""
    with zipfile.ZipFile(io.BytesIO(views.figures_zip(dm))) as zf:
        assert len(zf.namelist()) == len(views.FIGURES) + 1


# --------------------------------------------------------------------------------------- model errors
def test_fault_in_a_step_is_caught_and_reported(fault_a):
    """No exception escapes; error names the run, the month and the exception; running stops then."""
    errors = [e for e, _ in fault_a.history]
    assert errors[:2] == [None, None]
    assert [r for _, r in fault_a.history] == [True, True, False, False, False]
    error = errors[2]
    assert error is not None and errors[3:] == [error, error]
    assert "run A" in error and "2024-03" in error
    assert "RuntimeError" in error and "kaboom in A" in error
    assert fault_a.dm.running is False


def test_steps_after_a_fault_do_nothing(fault_a):
    """Further steps leave every run, table and the message as they were."""
    dm = fault_a.dm
    before = ([a.model.steps for a in dm.arms], dm.combined("model"), dm.error)
    dm.step()
    dm.step()
    assert [a.model.steps for a in dm.arms] == before[0]
    pd.testing.assert_frame_equal(dm.combined("model"), before[1])
    assert dm.error == before[2]
    assert dm.running is False


def test_tables_before_a_fault_stay_readable(fault_a):
    """The months completed before the fault are still in combined() and the export."""
    dm = fault_a.dm
    model = dm.combined("model")
    assert list(model.columns[:2]) == ["run", "label"]
    for tag in ("A", "B"):
        assert list(model.loc[model["run"] == tag, "date"]) == ["2024-01", "2024-02"]
    with zipfile.ZipFile(io.BytesIO(dm.tables_zip())) as zf:
        assert len(pd.read_csv(zf.open("model.csv"))) == 4


@pytest.mark.parametrize(("stem", "view"), VIEWS)
def test_views_render_after_a_fault(fault_a, stem, view):
    """What was computed stays on screen: every view still draws."""
    assert isinstance(view(fault_a.dm), Figure)


def test_months_done_after_a_fault_counts_recorded_months(fault_a):
    """months_done is the number of months recorded (2), not the number of months attempted."""
    assert len(_table(fault_a.dm, "A")) == 2
    assert fault_a.dm.months_done == 2


def test_date_after_a_fault_is_the_last_completed_month(fault_a):
    """date names the last month actually completed (2024-02), not the month that failed."""
    assert fault_a.dm.date == "2024-02"


def test_fault_in_run_b_is_reported(fault_b):
    """A fault in run B names run B and its month, and stops the page."""
    assert "run B" in fault_b.error and "2024-03" in fault_b.error and "kaboom in B" in fault_b.error
    assert fault_b.running is False


def test_fault_in_run_b_keeps_runs_in_lockstep(fault_b):
    """After a fault, every run shows (and exports) the same months."""
    model = fault_b.combined("model")
    assert model.groupby("run").size().to_dict() == {"A": 2, "B": 2}


def test_fault_while_building_is_caught(build_fault):
    """An exception in LendingModel.__init__ is reported as a building error; nothing runs."""
    dm = build_fault.dm
    assert dm.error is not None
    assert "building" in dm.error and "run A" in dm.error
    assert "ValueError" in dm.error and "no loan book today" in dm.error
    assert dm.arms == [] and dm.running is False and dm.date == "no run"
    dm.step()
    assert dm.arms == [] and dm.running is False


def test_fault_while_building_leaves_registry_clean(build_fault):
    """A failed build leaves no LendingModel behind in Mesa's agent-id registry."""
    assert build_fault.leaked == []


# ------------------------------------------------------------------------------------------------ exports
def test_tables_zip_contents(crn):
    """tables_zip holds the three tables of both runs, one row per run per month, and the settings."""
    dm = crn.dm
    with zipfile.ZipFile(io.BytesIO(dm.tables_zip())) as zf:
        assert sorted(zf.namelist()) == ["funders.csv", "model.csv", "platforms.csv", "settings.txt"]
        assert zf.read("settings.txt").decode() == dm.settings_text()
        model = pd.read_csv(zf.open("model.csv"))
        platforms = pd.read_csv(zf.open("platforms.csv"))
        funders = pd.read_csv(zf.open("funders.csv"))
    assert list(model.columns[:2]) == ["run", "label"]
    assert model.groupby("run").size().to_dict() == {"A": K, "B": K}
    assert not model.duplicated(["run", "date"]).any()
    for tag in ("A", "B"):
        assert list(model.loc[model["run"] == tag, "date"]) == list(_table(dm, tag)["date"])
    for name, table in (("platforms", platforms), ("funders", funders)):
        assert set(table["run"]) == {"A", "B"}
        assert len(table) == sum(len(a.table(name)) for a in dm.arms)


def test_figures_zip_contents(crn):
    """figures_zip has one PNG per view plus the settings."""
    dm = crn.dm
    with zipfile.ZipFile(io.BytesIO(views.figures_zip(dm))) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted([f"{stem}.png" for stem, _ in VIEWS] + ["settings.txt"])
        for stem, _ in VIEWS:
            assert zf.read(f"{stem}.png").startswith(b"\x89PNG")
        assert zf.read("settings.txt").decode() == dm.settings_text()


# -------------------------------------------------------------------------------------------------- views
@pytest.mark.parametrize(("stem", "view"), VIEWS)
def test_views_before_the_first_month(crn, stem, view):
    """Before any step every view is a placeholder asking to step."""
    fig = crn.before.figures[stem]
    assert isinstance(fig, Figure)
    assert "press Step" in _texts(fig)


def _series_runs(text: str, stem: str) -> set[str]:
    return set(re.findall(rf'id="{re.escape(stem)}-series-([AB])-[^"]+"', text))


@pytest.mark.parametrize(("stem", "view"), VIEWS)
def test_svg_has_series_of_both_runs(crn, stem, view):
    """Each view's SVG carries prefixed series ids for run A and run B (the APR histogram at least for A)."""
    text = views.svg(view(crn.dm), stem)
    runs = _series_runs(text, stem)
    if stem == "apr_distribution":
        assert "A" in runs
    else:
        assert runs == {"A", "B"}
    assert 'id="series-' not in text


@pytest.mark.parametrize(("stem", "view"), VIEWS)
def test_svg_root_is_fluid(crn, stem, view):
    """The root <svg> has no fixed width/height (only a viewBox and a fluid style)."""
    text = views.svg(view(crn.dm), stem)
    assert text.startswith("<svg")
    root = re.match(r"<svg\b[^>]*>", text)[0]
    assert not re.search(r"\s(width|height)=", root)
    assert "viewBox=" in root
    assert "width:100%" in root


@pytest.mark.parametrize(("stem", "view"), VIEWS)
def test_svg_single_run_has_only_a(solo, stem, view):
    """With compare none only run A is drawn."""
    runs = _series_runs(views.svg(view(solo), stem), stem)
    assert "B" not in runs
    if stem != "apr_distribution":
        assert runs == {"A"}


# ------------------------------------------------------------------------------------------------ registry
@pytest.mark.parametrize("fixture", ["crn", "capped", "early_cap", "solo"])
def test_built_models_are_released_from_mesa_registry(request, fixture):
    """The session pops its LendingModels from mesa.Agent._ids (even after stepping)."""
    got = request.getfixturevalue(fixture)
    dm = got if isinstance(got, DashboardModel) else got.dm
    assert dm.arms
    for arm in dm.arms:
        assert arm.model not in mesa.Agent._ids
        assert len(arm.model.platforms) > 0  # there were agents to register


@pytest.mark.filterwarnings("ignore:.*found despite early return:UserWarning")  # Solara's linter on Mesa's code
def test_a_reset_model_and_its_figures_are_freed():
    """The page's figure cache holds models weakly: after a Reset the old model (and its runs) can be collected."""
    import gc
    import weakref

    from experiments.dashboard import app

    dm = DashboardModel(scenario="new-rules-2025", compare="none", borrowers="2000", seed="3")
    dm.step()
    assert app._canvas(dm) is app._canvas(dm)
    assert "concentration-series-A-head_share" in app._canvas(dm).svg("concentration")
    gone = weakref.ref(dm)
    del dm
    gc.collect()
    assert gone() is None
    assert len(app._CANVASES) == 0
