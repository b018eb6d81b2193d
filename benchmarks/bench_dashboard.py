"""How fast the dashboard advances: months per second with every figure redrawn, by population.

Two measurements:

* ``server``: in one process, what a month costs the dashboard's server: stepping runs A and B
  (new-rules-2025 against baseline-2024, one seed) plus redrawing the six figures as the page does
  (:class:`experiments.dashboard.views.Canvas`), the headline table and the largest-platforms table.
* ``browser`` (with ``--browser``): the real page. Starts ``zhudai dashboard``, opens it in Debian's
  Chromium at 1440x900, sets the population, presses Play and counts the months shown after a fixed time.
  This includes Mesa's play interval, the websocket and the browser drawing the SVG.

    python benchmarks/bench_dashboard.py --borrowers 50000 100000 200000 [--months 12] [--browser]

Target: the default population (100,000 borrowers per run) advances at least 2 months a second
with every figure redrawn every month.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def server_rate(borrowers: int, months: int, warmup: int = 3) -> dict:
    """Seconds per month for stepping the two runs and for redrawing everything the page shows."""
    from experiments.dashboard import views
    from experiments.dashboard.session import DashboardModel

    dm = DashboardModel(borrowers=str(borrowers))
    canvas = views.Canvas(dm)
    step_s = draw_s = 0.0
    for i in range(warmup + months):
        t0 = time.perf_counter()
        dm.step()
        t1 = time.perf_counter()
        for stem, _title, _view in views.FIGURES:
            canvas.svg(stem)
        for arm in dm.arms:
            views.headline(dm, arm)
            dm.largest_platforms(arm, n=6)
        t2 = time.perf_counter()
        if i >= warmup:
            step_s += t1 - t0
            draw_s += t2 - t1
    return {"borrowers": borrowers, "step_s_per_month": step_s / months, "draw_s_per_month": draw_s / months,
            "months_per_s": months / (step_s + draw_s), "months_per_s_model_only": months / step_s}


def browser_rate(borrowers: int, seconds: float) -> dict:
    """Months the real page advances per second while playing."""
    import re

    from playwright.sync_api import expect, sync_playwright

    from experiments.dashboard.browser import DashboardProcess, launch_chromium, month_index, open_page

    with DashboardProcess() as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_page(browser, server.url)
        date = page.locator(".zhudai-date")
        page.locator(".v-select", has=page.get_by_text("Borrowers per run", exact=True)).click()
        page.locator(".menuable__content__active .v-list-item", has_text=re.compile(f"^{borrowers}$")).click()
        page.get_by_role("button", name="Reset", exact=True).click()
        expect(page.locator(".zhudai-status")).to_contain_text(f"{borrowers:,} borrowers", timeout=120_000)
        page.get_by_role("button", name="▶").click()
        expect(date).to_have_text(re.compile(r"^\d{4}-\d{2}$"), timeout=60_000)
        first, t0 = date.inner_text(), time.perf_counter()
        time.sleep(seconds)
        last, t1 = date.inner_text(), time.perf_counter()
        page.get_by_role("button", name="❚❚").click()
        browser.close()
    months = month_index(last) - month_index(first)
    return {"borrowers": borrowers, "months": months, "seconds": t1 - t0, "months_per_s": months / (t1 - t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    ap.add_argument("--months", type=int, default=12, help="months timed per population (server measurement)")
    ap.add_argument("--browser", action="store_true", help="also time the real page in Chromium")
    ap.add_argument("--seconds", type=float, default=8.0, help="play time per population (browser measurement)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print("server: two runs stepped and every view redrawn each month")
    print(f"{'borrowers':>10} {'step s/month':>13} {'draw s/month':>13} {'months/s':>9} {'model only':>11}")
    for n in args.borrowers:
        r = server_rate(n, args.months)
        print(f"{n:>10,} {r['step_s_per_month']:>13.3f} {r['draw_s_per_month']:>13.3f} {r['months_per_s']:>9.2f} "
              f"{r['months_per_s_model_only']:>11.1f}")
    if args.browser:
        print(f"\nbrowser: Play in Chromium at 1440x900 for {args.seconds:g} s")
        print(f"{'borrowers':>10} {'months':>7} {'seconds':>8} {'months/s':>9}")
        for n in args.borrowers:
            r = browser_rate(n, args.seconds)
            print(f"{n:>10,} {r['months']:>7} {r['seconds']:>8.1f} {r['months_per_s']:>9.2f}")


if __name__ == "__main__":
    main()
