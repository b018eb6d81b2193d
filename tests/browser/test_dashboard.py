"""``zhudai dashboard`` in a real browser: levers, stepping, the A/B comparison, errors, export.

Each test gets its own browser context, hence its own dashboard session on the module's server.
Screenshots at 1440x900 are written to the artifacts folder (see conftest.py) for review.
"""

from __future__ import annotations

import io
import re
import zipfile

import pandas as pd
from faulty_dashboard import FAULT_MONTH, MESSAGE
from playwright.sync_api import expect

from experiments.dashboard import views
from experiments.dashboard.browser import month_index

TIMEOUT = 60_000  # ms; building two runs at the default population takes a few seconds on a busy CI core
SERIES = "#concentration-series-{run}-head_share"


# ------------------------------------------------------------------------------------------- helpers
def open_dashboard(page, url: str) -> None:
    page.goto(url)
    expect(page.locator(".zhudai-date")).to_be_visible(timeout=TIMEOUT)
    page.set_default_timeout(TIMEOUT)


def date_text(page) -> str:
    return page.locator(".zhudai-date").inner_text().strip()


def click_and_wait_date(page, button: str) -> str:
    """Click a Mesa control button and wait until the date shown changes."""
    before = date_text(page)
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(".zhudai-date")).not_to_have_text(before, timeout=TIMEOUT)
    return date_text(page)


def start_play(page) -> None:
    """Press Play and wait until Mesa shows Pause.

    A click that lands while Mesa's controls are being re-rendered (after Use Threads is ticked, say) reaches
    a button that is being replaced and is lost; pressing again is what a person would do.
    """
    pause = page.get_by_role("button", name="❚❚")
    for _ in range(5):
        play = page.get_by_role("button", name="▶")
        if play.count():
            play.click()
        try:
            expect(pause).to_be_visible(timeout=8_000)
            return
        except AssertionError:
            continue
    expect(pause).to_be_visible()


def build_id(page) -> str:
    """The Run card's ``zhudai-build-N`` class: which model the page shows."""
    classes = page.locator(".zhudai-status").get_attribute("class") or ""
    return re.search(r"zhudai-build-\d+", classes).group(0)


def reset(page) -> None:
    """Press Reset and wait until the page shows the new model."""
    old = build_id(page)
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.locator(".zhudai-status")).not_to_have_class(re.compile(rf"\b{old}\b"), timeout=TIMEOUT)


def set_text(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Vuetify select labelled ``label``."""
    page.locator(".v-select", has=page.get_by_text(label, exact=True)).click()
    page.locator(".menuable__content__active .v-list-item", has_text=re.compile(f"^{re.escape(option)}$")).click()
    page.keyboard.press("Escape")


def series_path(page, run: str) -> str:
    return page.locator(SERIES.format(run=run) + " path").get_attribute("d") or ""


# --------------------------------------------------------------------------------------------- tests
def test_lever_step_and_side_by_side_comparison(server, page, artifacts):
    """Move a lever, step several months: the date and the plots move, and both runs are on the same axes."""
    open_dashboard(page, server.url)
    assert "not started" in date_text(page)
    page.screenshot(path=artifacts / "01-opened.png")

    set_text(page, "A: All-in APR cap (%)", "20")
    set_text(page, "A: All-in cap from (month)", "2024-02")
    reset(page)
    status = page.locator(".zhudai-status")
    expect(status).to_contain_text("A: new-rules-2025 + cap 20%, cap from 2024-02")
    expect(status).to_contain_text("B: baseline-2024")
    levers = page.locator(".zhudai-levers")
    expect(levers).to_contain_text("20% from 2024-02")        # run A after the levers
    expect(levers).to_contain_text("off (legacy 36% nominal)")  # run B as shipped

    first = click_and_wait_date(page, "Step")
    path_a, path_b = series_path(page, "A"), series_path(page, "B")
    assert path_a and path_b, "both runs must be plotted on the concentration axes"
    later = first
    for _ in range(3):
        later = click_and_wait_date(page, "Step")
    assert month_index(later) > month_index(first) >= month_index("2024-01")
    assert series_path(page, "A") != path_a, "the plotted head share of run A must change as the model steps"
    assert series_path(page, "B") != path_b

    # Every figure shows both runs (histogram: at least the run A).
    for stem in ("platforms_by_tier", "concentration", "whitelists", "rationing_shadow", "defaults_spirals",
                 "borrowers_by_segment"):
        for run in ("A", "B"):
            assert page.locator(f"[id^='{stem}-series-{run}-']").count() > 0, (stem, run)
    assert page.locator("[id^='apr_distribution-series-A-']").count() > 0
    # The headline table has a column per run, and the cap bites in A only: new APRs of A stay under 20%.
    expect(status.locator("th", has_text=re.compile("^A$"))).to_have_count(1)
    expect(status.locator("th", has_text=re.compile("^B$"))).to_have_count(1)
    expect(page.locator(".zhudai-view-apr_distribution")).to_contain_text("A cap 20%")
    expect(page.locator(".zhudai-table").filter(has_text="Largest platforms")).to_contain_text("#0")

    page.screenshot(path=artifacts / "02-stepped-1440x900.png")
    for card in ("status", "view-platforms_by_tier", "view-concentration", "view-whitelists",
                 "view-apr_distribution", "view-rationing_shadow", "view-defaults_spirals", "levers"):
        page.locator(f".zhudai-{card}").screenshot(path=artifacts / f"card-{card}.png")
    page.locator(".zhudai-table").filter(has_text="Largest platforms").screenshot(
        path=artifacts / "card-largest-platforms.png")
    assert not page.external_requests, f"the page must work offline: {page.external_requests[:5]}"


def test_compare_with_the_scenario_as_shipped_isolates_one_lever(server, page, artifacts):
    """B = run A's scenario without the lever: identical before the lever bites, apart after."""
    open_dashboard(page, server.url)
    choose(page, "Compare with (run B, as shipped)", "A as shipped (no lever changes)")
    choose(page, "Borrowers per run", "20000")
    set_text(page, "A: Borrowing limit (x income)", "0.5")
    reset(page)
    expect(page.locator(".zhudai-status")).to_contain_text("B: new-rules-2025 as shipped")
    expect(page.locator(".zhudai-levers")).to_contain_text("0.5x income from 2025-10")
    click_and_wait_date(page, "Step")
    # Same seed, same scenario, the limit not yet in force: the two curves coincide.
    assert series_path(page, "A") == series_path(page, "B")
    # Play until the limit (from 2025-10) has been in force for a few months, then pause.
    start_play(page)
    page.wait_for_function("u => { const t = document.querySelector('.zhudai-date').innerText.trim(); "
                           "return /^\\d{4}-\\d{2}$/.test(t) && t >= u; }", arg="2025-12",
                           timeout=3 * TIMEOUT)
    page.get_by_role("button", name="❚❚").click()
    assert series_path(page, "A") != series_path(page, "B"), "the borrowing limit must move run A away from B"
    page.screenshot(path=artifacts / "03-as-shipped-comparison.png")


def test_announcement_lever_is_applied_and_shown(server, page, artifacts):
    """"Rules announced" 0 (no warning) against the scenario as shipped (2025-04): the label and the Levers card
    show the months applied, and the runs coincide long before the announcement could matter."""
    open_dashboard(page, server.url)
    choose(page, "Compare with (run B, as shipped)", "A as shipped (no lever changes)")
    choose(page, "Borrowers per run", "20000")
    set_text(page, "A: Rules announced (months ahead)", "0")
    reset(page)
    expect(page.locator(".zhudai-status")).to_contain_text(
        "A: new-rules-2025 + rules announced at their start, no warning (in 2025-10)")
    levers = page.locator(".zhudai-levers")
    expect(levers).to_contain_text("2025-10: stock clean-up")  # run A: the clean-up's deadline is 2026-06
    expect(levers).to_contain_text("2025-04: all-in cap, whitelist, no outsourcing, stock clean-up")  # run B
    click_and_wait_date(page, "Step")
    assert series_path(page, "A") == series_path(page, "B")
    levers.screenshot(path=artifacts / "card-levers-announced.png")


def test_play_runs_and_pauses(server, page):
    """Play advances the date by itself; pause stops it."""
    open_dashboard(page, server.url)
    choose(page, "Compare with (run B, as shipped)", "none")
    reset(page)
    start_play(page)
    expect(page.locator(".zhudai-date")).to_have_text(re.compile(r"^\d{4}-\d{2}$"), timeout=TIMEOUT)
    first = date_text(page)
    expect(page.locator(".zhudai-date")).not_to_have_text(first, timeout=TIMEOUT)
    page.get_by_role("button", name="❚❚").click()
    page.wait_for_timeout(1500)  # the month under way when pausing may still be drawn
    paused = date_text(page)
    page.wait_for_timeout(2000)
    assert date_text(page) == paused, "the date must stop moving once paused"
    expect(page.get_by_role("button", name="▶")).to_be_enabled()
    assert page.locator("[id^='concentration-series-B-']").count() == 0  # no comparison run


def test_play_with_mesa_threads_draws_consistent_months(server, page):
    """With Mesa's "Use Threads" the model steps in one thread while the page draws in another; the model's
    lock keeps every card on a whole month, so the runs play on without errors."""
    open_dashboard(page, server.url)
    choose(page, "Borrowers per run", "20000")
    reset(page)
    threads = page.get_by_label("Use Threads")
    threads.check(force=True)  # Vuetify draws a ripple over the input
    expect(threads).to_be_checked()
    start_play(page)
    page.wait_for_function("u => { const t = document.querySelector('.zhudai-date').innerText.trim(); "
                           "return /^\\d{4}-\\d{2}$/.test(t) && t >= u; }", arg="2024-09", timeout=3 * TIMEOUT)
    page.get_by_role("button", name="❚❚").click()
    page.wait_for_timeout(1500)
    assert page.locator(".zhudai-error").count() == 0
    # The headline table and the plotted series agree on the month shown: one point per month so far.
    months = month_index(date_text(page)) - month_index("2024-01") + 1
    path = series_path(page, "A")
    assert path.count("L") + 1 == months, (months, path[:80])


def test_out_of_range_lever_is_shown_in_the_page_and_the_app_survives(server, page, artifacts):
    """A lever outside its range gives a message in the page; fixing it brings the runs back."""
    open_dashboard(page, server.url)
    set_text(page, "A: All-in APR cap (%)", "150")
    set_text(page, "Seed (both runs)", "seven")
    reset(page)
    error = page.locator(".zhudai-error")
    expect(error).to_contain_text("All-in APR cap (%): 150 is outside its range 0% to 100%")
    expect(error).to_contain_text("Seed: 'seven' is not a whole number")
    # Stepping a model that could not be built does nothing (Mesa then greys out Step and Play).
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.get_by_role("button", name="Step", exact=True)).to_be_disabled()
    expect(error).to_be_visible()
    page.screenshot(path=artifacts / "04-lever-out-of-range.png")

    set_text(page, "A: All-in APR cap (%)", "18")
    set_text(page, "Seed (both runs)", "7")
    reset(page)
    expect(error).to_have_count(0)
    expect(page.locator(".zhudai-status")).to_contain_text("seed 7")
    click_and_wait_date(page, "Step")
    assert series_path(page, "A")


def test_model_error_during_a_step_is_shown_and_the_app_survives(faulty_server, page, artifacts):
    """An exception inside a month stops the runs with a message naming the month; Reset starts again."""
    open_dashboard(page, faulty_server.url)
    error = page.locator(".zhudai-error")
    for _ in range(6):
        if error.count():
            break
        before = date_text(page)
        page.get_by_role("button", name="Step", exact=True).click()
        page.wait_for_function(
            "b => document.querySelector('.zhudai-error') || "
            "document.querySelector('.zhudai-date').innerText.trim() !== b", arg=before, timeout=TIMEOUT)
    expect(error).to_contain_text(f"Model error in run A, month {FAULT_MONTH}: FloatingPointError: {MESSAGE}")
    expect(page.get_by_role("button", name="Step", exact=True)).to_be_disabled()
    # What was computed before the fault is still on screen.
    assert series_path(page, "A")
    page.screenshot(path=artifacts / "05-model-error.png")

    reset(page)
    expect(error).to_have_count(0)
    assert "not started" in date_text(page)
    click_and_wait_date(page, "Step")
    assert "Model error" not in faulty_server.log() or "Traceback" in faulty_server.log()


def test_export_tables_csv_and_figures_png(server, page, artifacts):
    """The page's downloads: the tables as CSV (zipped) and each figure as PNG."""
    open_dashboard(page, server.url)
    choose(page, "Borrowers per run", "20000")
    reset(page)
    for _ in range(2):
        click_and_wait_date(page, "Step")
    months = month_index(date_text(page)) - month_index("2024-01") + 1

    with page.expect_download() as info:
        page.locator(".zhudai-csv").click()
    tables = artifacts / "zhudai-tables.zip"
    info.value.save_as(tables)
    with zipfile.ZipFile(tables) as zf:
        assert {"model.csv", "platforms.csv", "funders.csv", "settings.txt"} <= set(zf.namelist())
        model = pd.read_csv(io.BytesIO(zf.read("model.csv")))
        settings = zf.read("settings.txt").decode()
    assert sorted(model["run"].unique()) == ["A", "B"]
    assert (model.groupby("run").size() == months).all()
    assert "zhudai run new-rules-2025 --seed 1 --set run.borrowers=20000" in settings

    with page.expect_download() as info:
        page.locator(".zhudai-png-concentration").click()
    assert info.value.suggested_filename == f"concentration-{date_text(page)}.png"
    png = artifacts / info.value.suggested_filename
    info.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with page.expect_download() as info:
        page.locator(".zhudai-pngs").click()
    figures = artifacts / "zhudai-figures.zip"
    info.value.save_as(figures)
    with zipfile.ZipFile(figures) as zf:
        pngs = [n for n in zf.namelist() if n.endswith(".png")]
        assert sorted(pngs) == sorted(f"{stem}.png" for stem, _title, _view in views.FIGURES)
        assert all(zf.read(n)[:4] == b"\x89PNG" for n in pngs)
