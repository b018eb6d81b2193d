"""Remake the dashboard screenshots of docs/guide/dashboard.md (needs Debian's chromium and the project installed).

    python docs/images/take_screenshots.py [--until 2026-06]

Starts ``zhudai dashboard``, plays the default comparison (new-rules-2025 against baseline-2024, 100,000
borrowers, seed 1) to the given month, and saves the top and the lower half of the page at 1440x900 as
``dashboard.png`` and ``dashboard-lower.png`` beside this script.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--until", default="2026-06", help="month to play to (YYYY-MM)")
    args = ap.parse_args()
    from playwright.sync_api import expect, sync_playwright

    from experiments.dashboard.browser import DashboardProcess, launch_chromium, open_page

    with DashboardProcess() as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_page(browser, server.url)
        date = page.locator(".zhudai-date")
        page.get_by_role("button", name="▶").click()
        page.wait_for_function("u => { const t = document.querySelector('.zhudai-date').innerText.trim(); "
                               "return /^\\d{4}-\\d{2}$/.test(t) && t >= u; }", arg=args.until, timeout=600_000)
        page.get_by_role("button", name="❚❚").click()
        expect(date).to_have_text(re.compile(r"^\d{4}-\d{2}$"))
        page.wait_for_timeout(2000)
        page.screenshot(path=HERE / "dashboard.png")
        page.locator(".zhudai-levers").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=HERE / "dashboard-lower.png")
        print(f"saved at {date.inner_text()}: {HERE / 'dashboard.png'}, {HERE / 'dashboard-lower.png'}")
        browser.close()


if __name__ == "__main__":
    main()
