"""``report.html`` in a real browser at 1280 px: nothing runs off the side of the page.

A tiny store (baseline-2024 and new-rules-2025, one replicate of 2 000 borrowers, each scenario's own months)
gives a report with every section; Chromium (the ``browser`` fixture of conftest.py, skipped without Chromium
except under CI) lays it out at 1280 x 900. Wide tables may scroll inside their own box, the page itself must
not: the document is no wider than the viewport and no table, figure, image or box reaches past its right edge.
A screenshot goes to the artifacts folder for review.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.analysis.report import write_report
from experiments.engine.batch import run_batch
from experiments.engine.design import Design

WIDTH = 1280

#: Every element that could push the page wider, with its right edge and width (px) as laid out.
_MEASURE = """
() => {
  const out = [];
  for (const el of document.querySelectorAll('table, figure, img, .box, pre, h1, h2, h3, p, ul')) {
    const r = el.getBoundingClientRect();
    out.push({tag: el.tagName.toLowerCase(), cls: el.className || '', right: r.right, width: r.width,
              text: (el.textContent || '').slice(0, 60)});
  }
  return {scrollWidth: document.documentElement.scrollWidth, bodyScrollWidth: document.body.scrollWidth,
          viewport: window.innerWidth, elements: out};
}
"""


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("report-html") / "batch"
    design = Design(scenarios=("baseline-2024", "new-rules-2025"), replications=1, borrowers=2_000)
    assert run_batch(design.resolve(), store, workers=1, progress=False).status == "complete"
    return write_report(store).html


def test_report_html_does_not_overflow_at_1280px(browser, report_html: Path, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    try:
        page = context.new_page()
        page.goto(report_html.as_uri())
        page.wait_for_load_state("load")
        got = page.evaluate(_MEASURE)
        page.screenshot(path=str(artifacts / "report-1280.png"), full_page=False)
    finally:
        context.close()
    assert got["viewport"] == WIDTH
    # The page measured something: the sections, the tables and the figures of the report are there.
    tags = [e["tag"] for e in got["elements"]]
    assert tags.count("table") >= 5 and tags.count("img") >= 10 and "scorecard" in {e["cls"] for e in got["elements"]}
    assert got["scrollWidth"] <= WIDTH and got["bodyScrollWidth"] <= WIDTH
    wide = [e for e in got["elements"] if e["right"] > WIDTH + 0.5 or e["width"] > WIDTH]
    assert wide == []
