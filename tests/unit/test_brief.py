"""The report's front page (experiments/analysis/brief.py): findings follow from the summary's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from experiments.analysis import brief
from experiments.analysis.report import render_html, render_markdown
from experiments.analysis.scale import SUPPORTED_MIN_BORROWERS

REF, NEW, CAP = "baseline-2024", "new-rules-2025", "cap-12"


def _row(series: str, metric: str, mean: float, diff: tuple[float, float, float] | None = None,
         when: str = "horizon") -> dict:
    d = diff or (math.nan, math.nan, math.nan)
    return {"series": series, "scenario": series, "when": when, "date": "2027-12", "metric": metric, "mean": mean,
            "low": mean, "high": mean, "reference": REF, "pairs": 0 if diff is None else 5,
            "diff_mean": d[0], "diff_low": d[1], "diff_high": d[2]}


def _summary(new_head: tuple[float, float, float] = (0.132, 0.091, 0.173)) -> pd.DataFrame:
    return pd.DataFrame([
        _row(REF, "head_share", 0.70),
        _row(NEW, "head_share", 0.70 + new_head[0], new_head),
        _row(CAP, "head_share", 0.99, (0.29, 0.25, 0.33)),
        _row(REF, "platform_exits_tail_since_rule", 4.0, when="short-run"),
        _row(NEW, "platform_exits_tail_since_rule", 100.0, (96.0, 82.0, 110.0), when="short-run"),
        _row(CAP, "platform_exits_tail_since_rule", 100.0, (96.0, -3.0, 190.0), when="short-run"),
        _row(REF, "shadow_volume", 1.9e6),
        _row(NEW, "shadow_volume", 1.6e6, (-0.3e6, -0.5e6, -0.1e6)),
        _row(CAP, "shadow_volume", 2.9e6, (1.0e6, 0.6e6, 1.4e6)),
    ])


def test_finding_with_its_numbers_when_the_interval_excludes_zero() -> None:
    found = brief.findings(_summary())
    assert ("Under new-rules-2025, the head share of platform volume at the horizon is 13.2 points higher than "
            "under baseline-2024 (95% interval +9.1 to +17.3).") in found
    assert ("Under new-rules-2025, the number of tail platforms exiting from the first rule date to the horizon is "
            "96 higher than under baseline-2024 (95% interval +82 to +110).") in found
    assert ("Under new-rules-2025, shadow-credit volume at the horizon (yuan/month) is 300k yuan lower than under "
            "baseline-2024 (95% interval -500k to -100k).") in found
    assert not any(s.startswith(f"Under {REF},") for s in found)  # the reference is never compared with itself


def test_finding_disappears_when_the_interval_includes_zero() -> None:
    found = brief.findings(_summary())
    assert not any("cap-12, the number of tail platforms" in s for s in found)  # -3 .. +190
    assert not any("new-rules-2025, the head share" in s for s in brief.findings(_summary((0.05, -0.01, 0.11))))
    assert not any("new-rules-2025, the head share" in s for s in brief.findings(_summary((0.05, 0.0, 0.11))))


def test_changing_a_number_changes_the_sentence() -> None:
    """The regression bar: the findings are a function of the table."""
    before = brief.findings(_summary())
    after = brief.findings(_summary((-0.081, -0.120, -0.042)))
    changed = [s for s in after if s not in before]
    assert changed == ["Under new-rules-2025, the head share of platform volume at the horizon is 8.1 points lower "
                       "than under baseline-2024 (95% interval -12.0 to -4.2)."]
    assert [s for s in before if s not in after] == [before[0]]
    summary = _summary()
    summary.loc[(summary["series"] == CAP) & (summary["metric"] == "shadow_volume"), "diff_mean"] = 1.2e6
    assert "is 1.20M yuan higher" in " ".join(brief.findings(summary))
    summary.loc[(summary["series"] == CAP) & (summary["metric"] == "shadow_volume"), "diff_low"] = -0.1e6
    assert "cap-12, shadow-credit" not in " ".join(brief.findings(summary))


def test_no_finding_without_pairs() -> None:
    summary = _summary()
    summary["pairs"] = 1
    assert brief.findings(summary) == []


def test_ranks_order_correctly_with_ties() -> None:
    assert brief.ranks([3.0, 1.0, 2.0]) == [3, 1, 2]
    assert brief.ranks([3.0, 1.0, 2.0], lower_is_better=False) == [1, 3, 2]
    assert brief.ranks([2.0, 1.0, 2.0, 5.0]) == [2, 1, 2, 4]
    assert brief.ranks([0.1 + 0.2, 0.3, math.nan]) == [1, 1, None]


def test_scorecard_rows_columns_and_ranks() -> None:
    header, rows = brief.scorecard(_summary())
    assert header[0] == "scenario" and [r[0] for r in rows] == [REF, NEW, CAP]
    assert header[1:] == ["head share, horizon (lower better)", "tail exits since rule (lower better)",
                          "shadow credit, horizon (lower better)"]  # criteria absent from the summary left out
    head = [r[1] for r in rows]
    assert head == ["70.0% #1", "83.2% (+13.2 pp) #2", "99.0% (+29.0 pp) #3"]
    tail = [r[2] for r in rows]
    assert tail == ["4.0 #1", "100 (+96.0) #2=", "100 (+96.0) #2="]
    assert [r[3] for r in rows] == ["1.90M #2", "1.60M (−300k) #1", "2.90M (+1.00M) #3"]


def test_caveats_read_validation_and_calibration(tmp_path: Path) -> None:
    (tmp_path / "results" / "validation").mkdir(parents=True)
    (tmp_path / "results" / "validation" / "validation.csv").write_text(
        "target,figure,status\nmatthew,\"head share up, 0.82 vs 0.69\",PASS\nwaist_shrink,waist +17%,FAIL\n"
        "small_banks,\"banks 0.8 vs 0.0\",WARN\n", encoding="utf-8")
    (tmp_path / "results" / "calibration").mkdir(parents=True)
    (tmp_path / "results" / "calibration" / "report.md").write_text(
        "# Calibration\n\n**Loss at the estimate 8.33** (at the scenario's own values 21.3); 5 of 7 moments within "
        "tolerance.\n", encoding="utf-8")
    got = brief.caveats(20_000, tmp_path)
    assert "20,000 modelled borrowers, below the supported" in got[0] and f"{SUPPORTED_MIN_BORROWERS:,}" in got[0]
    assert got[1] == ("Calibration (results/calibration/report.md): loss at the estimate 8.33; 5 of 7 moments "
                      "within tolerance.")
    assert got[2].startswith("Validation: 2 of 3 targets open")
    assert got[3:] == ["FAIL waist_shrink: waist +17%", "WARN small_banks: banks 0.8 vs 0.0"]
    assert "at or above" in brief.caveats(SUPPORTED_MIN_BORROWERS, tmp_path)[0]


def test_caveats_without_results(tmp_path: Path) -> None:
    got = brief.caveats(None, tmp_path)
    assert "not recorded" in got[0]
    assert "parameters not calibrated" in got[1]
    assert got[2:] == ["Validation: no results (results/validation/validation.csv not found)."]


@pytest.mark.parametrize("with_reference", [True, False])
def test_blocks_render_in_markdown_and_html(tmp_path: Path, with_reference: bool) -> None:
    summary = _summary() if with_reference else _summary().assign(reference="", pairs=0)
    blocks = brief.brief_blocks(summary, 200_000, tmp_path)
    assert blocks[0] == ("h", 2, "At a glance")
    md = render_markdown(blocks)
    assert md.startswith("## At a glance") and "> **Caveats**" in md
    # The front page keeps new-rules' strongest industry finding (tail exits, 96/14 against head share 13.2/4.1).
    assert ("exiting from the first rule date to the horizon is 96 higher" in md) is with_reference
    assert "13.2 points higher" not in md
    assert ("13.2 points higher" in render_markdown(brief.all_findings_blocks(summary))) is with_reference
    page = render_html(blocks, "t")
    assert '<div class="box"><h3>Caveats</h3>' in page and '<table class="scorecard">' in page


# ------------------------------------------------------------------------------------------ key findings
def _many() -> pd.DataFrame:
    """Two scenarios, each with several findings in both groups, and one interval over zero."""
    return pd.DataFrame([
        _row(REF, "head_share", 0.70), _row(REF, "rationed_share", 0.40), _row(REF, "default_rate", 0.005),
        _row(REF, "platform_margin", 0.06), _row(REF, "shadow_volume", 1.9e6),
        _row(NEW, "head_share", 0.80, (0.10, 0.05, 0.15)),            # strength 2
        _row(NEW, "platform_margin", 0.04, (-0.02, -0.025, -0.015)),  # strength 4: the industry's key finding
        _row(NEW, "rationed_share", 0.45, (0.05, 0.04, 0.06)),        # strength 5: the borrowers' key finding
        _row(NEW, "default_rate", 0.004, (-0.001, -0.0015, -0.0005)),  # strength 2
        _row(CAP, "head_share", 0.99, (0.29, 0.25, 0.33)),            # strength 7.25, the only industry finding
        _row(CAP, "shadow_volume", 2.0e6, (0.1e6, -0.1e6, 0.3e6)),    # interval over zero: no finding
        _row(CAP, "default_rate", 0.003, (-0.002, -0.003, -0.001)),   # strength 2, the only borrowers' finding
    ])


def test_strength_is_the_effect_over_its_half_width() -> None:
    assert brief.strength(0.10, 0.05, 0.15) == pytest.approx(2.0)
    assert brief.strength(-0.02, -0.025, -0.015) == pytest.approx(4.0)
    # A bound clipped to the valid range: the other side gives the half-width.
    assert brief.strength(29.8, 29.2, 30.0) == pytest.approx(29.8 / 0.6)
    assert brief.strength(3.0, 3.0, 3.0) == math.inf


def test_key_findings_one_per_scenario_and_group_by_strength() -> None:
    found = brief.all_findings(_many())
    key = brief.key_findings(found)
    assert [(f.series, f.criterion.metric) for f in key] == [
        (NEW, "platform_margin"), (NEW, "rationed_share"), (CAP, "head_share"), (CAP, "default_rate")]
    # Each key finding is in the full list, at most one per scenario and group, and none in its scenario and
    # group is stronger.
    assert all(f in found for f in key)
    assert len({(f.series, f.criterion.group) for f in key}) == len(key) <= 2 * len({f.series for f in found})
    for f in key:
        rivals = [g for g in found if (g.series, g.criterion.group) == (f.series, f.criterion.group)]
        assert f.strength == max(g.strength for g in rivals)
    assert [f.sentence for f in found] == brief.findings(_many())


def test_key_findings_follow_the_numbers() -> None:
    summary = _many()
    # Narrow new-rules' head-share interval: it becomes the industry's strongest finding on the front page.
    at = (summary["series"] == NEW) & (summary["metric"] == "head_share")
    summary.loc[at, ["diff_low", "diff_high"]] = [0.095, 0.105]
    key = brief.key_findings(brief.all_findings(summary))
    assert (key[0].series, key[0].criterion.metric) == (NEW, "head_share")
    assert key[0].sentence.startswith("Under new-rules-2025, the head share of platform volume at the horizon is "
                                      "10.0 points higher")
    # Widen cap-12's only borrowers' finding over zero: cap-12 keeps one sentence.
    summary.loc[(summary["series"] == CAP) & (summary["metric"] == "default_rate"), "diff_high"] = 0.001
    assert [f.series for f in brief.key_findings(brief.all_findings(summary))] == [NEW, NEW, CAP]


def test_front_page_keeps_the_key_findings_and_all_findings_lists_every_one(tmp_path: Path) -> None:
    summary = _many()
    blocks = brief.brief_blocks(summary, 200_000, tmp_path)
    front = next(b[1] for b in blocks if b[0] == "ul")
    key = [f.sentence for f in brief.key_findings(brief.all_findings(summary))]
    assert front == key and len(front) == 4
    intro = next(b[1] for b in blocks if b[0] == "p")
    assert brief.KEY_RULE in intro and "4 of 6 findings" in intro
    appendix = brief.all_findings_blocks(summary)
    assert appendix[0] == ("h", 2, "All findings") and appendix[-1] == ("ul", brief.findings(summary))
    assert set(front) < set(appendix[-1][1])
    assert brief.all_findings_blocks(summary.assign(pairs=0)) == []
