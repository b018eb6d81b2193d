"""Concentration over one population (experiments/analysis/concentration.py): hand-made platforms tables, the
identities the reconciling sentence rests on, and the sentence itself (present when the measures disagree, absent
when they agree)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from experiments.analysis.concentration import (
    concentration_blocks,
    concentration_summary,
    concentration_table,
    gini,
    hhi,
    in_start_population,
    measures,
    reconcile,
)
from experiments.analysis.stats import mean_interval


def _platforms(months: list[list[float]], tiers: list[str], *, run_id: str = "r0", series: str = "s",
               replicate: int = 0, active: list[list[bool]] | None = None) -> pd.DataFrame:
    """A platforms table of one run: one row per platform and month (month i is 2025-0{i+1})."""
    rows = []
    for step, volumes in enumerate(months, start=1):
        for pid, (tier, volume) in enumerate(zip(tiers, volumes, strict=True)):
            rows.append({"run_id": run_id, "series": series, "scenario": series, "replicate": replicate,
                         "step": step, "date": f"2025-{step:02d}", "platform_id": pid, "tier": tier,
                         "active": True if active is None else active[step - 1][pid], "volume": float(volume)})
    return pd.DataFrame(rows)


def _gini_by_pairs(v: list[float]) -> float:
    x = np.asarray(v, dtype=float)
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean()))


def test_exited_platforms_stay_in_the_population_at_zero_volume():
    tiers = ["head", "head", "tail", "tail"]
    # Month 2: tail platform 3 exits after lending 10; month 3: it is gone (recorded at 0).
    table = _platforms([[50, 30, 10, 10], [50, 30, 10, 10], [60, 30, 10, 0]], tiers,
                       active=[[True] * 4, [True, True, True, False], [True, True, True, False]])
    out = concentration_table(table).set_index("step")
    assert list(out["platforms"]) == [4, 4, 4]
    # Its exit month's lending counts (it is industry volume); after that it is a platform at zero.
    assert out.loc[2, "gini"] == pytest.approx(out.loc[1, "gini"])
    last = out.loc[3]
    assert last["head_share"] == pytest.approx(0.9)
    assert last["cr5"] == pytest.approx(1.0)
    assert last["hhi"] == pytest.approx(60 ** 2 + 30 ** 2 + 10 ** 2)
    assert last["gini"] == pytest.approx(_gini_by_pairs([60, 30, 10, 0]))
    assert last["zero_share"] == pytest.approx(0.25) and last["lending"] == 3
    # The Gini over survivors only would leave the zero out and be lower: that is not this population.
    assert last["gini"] > gini(np.array([60.0, 30.0, 10.0]))
    # A platform whose rows are missing after the first month is also counted at zero; one first seen later is not.
    dropped = table[~((table["platform_id"] == 3) & (table["step"] == 3))]
    entrant = pd.DataFrame([{**table.iloc[-1].to_dict(), "platform_id": 99, "volume": 1000.0}])
    again = concentration_table(pd.concat([dropped, entrant], ignore_index=True)).set_index("step")
    pd.testing.assert_series_equal(again.loc[3], last)
    assert in_start_population(pd.concat([table, entrant], ignore_index=True)).tolist() == [True] * 12 + [False]


def test_measures_match_the_hand_values_and_the_documented_identities():
    rng = np.random.default_rng(3)
    for _ in range(50):
        v = rng.pareto(1.2, size=12) * rng.integers(0, 2, size=12)
        v[0] += 1.0  # something is lent
        head = rng.random(12) < 0.4
        m = measures(v, head)
        s = v / v.sum()
        assert m["hhi"] == pytest.approx(np.sum((100 * s) ** 2))
        assert m["cr5"] == pytest.approx(np.sort(s)[::-1][:5].sum())
        assert m["head_share"] == pytest.approx(s[head].sum())
        assert m["gini"] == pytest.approx(_gini_by_pairs(list(v)))
        # HHI = g^2 h_in + (1 - g)^2 h_out for the head tier and for the five largest.
        for g, h_in, h_out in ((m["head_share"], m["hhi_head"], m["hhi_nonhead"]),
                               (m["cr5"], m["hhi_top5"], m["hhi_rest5"])):
            assert g ** 2 * h_in + (1 - g) ** 2 * h_out == pytest.approx(m["hhi"])
        assert m["both"] + m["head_outside_top5"] == pytest.approx(m["head_share"])
        assert m["both"] + m["top5_outside_head"] == pytest.approx(m["cr5"])
        z, g_lend = m["zero_share"], m["gini_lending"]
        assert z + (1 - z) * g_lend == pytest.approx(m["gini"])
    assert hhi(np.zeros(3)) == 0.0 and math.isnan(gini(np.zeros(3))) and math.isnan(gini(np.zeros(0)))
    nothing = measures(np.zeros(4), np.array([True, False, False, False]))
    assert nothing["head_share"] == nothing["cr5"] == nothing["hhi"] == 0.0 and math.isnan(nothing["gini"])


# Reference: the head tier (2 platforms) lends 72 and 8, the two tail platforms 10 each. Scenario: one tail platform
# exits and the head tier lends 45 and 45. Head share rises 80% -> 90%; HHI falls 5,448 -> 4,150 because the head
# tier's volume is split evenly (its own HHI 8,200 -> 5,000); the Gini falls 0.480 -> 0.425 although a platform
# lends nothing, because the three that lend are far more equal (0.480 -> 0.233).
TIERS = ["head", "head", "tail", "tail"]
REFERENCE = [72, 8, 10, 10]
SCENARIO = [45, 45, 10, 0]


def _pair(reference: list[float], scenario: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = concentration_table(_platforms([reference], TIERS, run_id="a", series="ref"))
    mine = concentration_table(_platforms([scenario], TIERS, run_id="b", series="new"))
    return mine, ref


def test_hhi_falls_while_head_share_rises_and_the_sentence_says_why():
    mine, ref = _pair(REFERENCE, SCENARIO)
    assert mine["head_share"].iloc[0] == pytest.approx(0.9) and ref["head_share"].iloc[0] == pytest.approx(0.8)
    assert mine["hhi"].iloc[0] == pytest.approx(4150) and ref["hhi"].iloc[0] == pytest.approx(5448)
    assert mine["hhi_head"].iloc[0] == pytest.approx(5000) and ref["hhi_head"].iloc[0] == pytest.approx(8200)
    sentence = reconcile(mine, ref)
    assert sentence is not None
    first = sentence.split(". ")[0]
    assert first.startswith("HHI falls (-1,298) while head share rises (+10.0 pp) because the more even spread of "
                            "volume within the head tier across its 2 platforms (their HHI 8,200 → 5,000, as if "
                            "1.2 → 2.0 equal-sized platforms)")
    # The parts of the split are exact: what the sentence says moves HHI adds up to the difference.
    moved = [float(x.replace(",", "")) for x in re.findall(r"moves? (?:HHI|it) by ([+-][\d,]+)", first)]
    assert sum(moved) == pytest.approx(-1298, abs=1.0)
    # CR5 is 100% in both (four platforms): it does not move, so no sentence about it.
    assert "CR5" not in sentence
    # The Gini falls with HHI against head share: the platforms that lend are more equal, more than the exit adds.
    assert ("The Gini falls (-0.055) while head share (+10.0 pp) rises because the more even spread of volume among "
            "the platforms that lend (their Gini 0.480 → 0.233) moves the Gini by -0.216, while the rise in "
            "platforms that lend nothing (0.0 → 1.0 of the 4") in sentence
    assert "moves it by +0.161" in sentence


def test_agreement_gives_no_sentence():
    mine, ref = _pair([40, 10, 25, 25], [70, 10, 10, 10])
    d = {m: mine[m].iloc[0] - ref[m].iloc[0] for m in ("head_share", "hhi", "gini")}
    assert all(v > 0 for v in d.values())
    assert reconcile(mine, ref) is None
    # Identical runs (no difference at all) say nothing either.
    assert reconcile(ref.assign(series="new"), ref) is None


def test_summary_pairs_replicates_and_the_block_reconciles_only_disagreements():
    parts = []
    for rep, (ref, new) in enumerate([(REFERENCE, SCENARIO), ([70, 10, 10, 10], [46, 44, 10, 0])]):
        parts.append(_platforms([ref], TIERS, run_id=f"a{rep}", series="ref", replicate=rep))
        parts.append(_platforms([new], TIERS, run_id=f"b{rep}", series="new", replicate=rep))
    table = concentration_table(pd.concat(parts, ignore_index=True))
    summary = concentration_summary(table, ["ref", "new"], {"ref": "ref", "new": "new"}, "ref",
                                    ["2025-01", "horizon"])
    assert set(summary["metric"]) == {"conc_head_share", "conc_cr5", "conc_hhi", "conc_gini"}
    row = summary[(summary["series"] == "new") & (summary["when"] == "horizon")
                  & (summary["metric"] == "conc_hhi")].iloc[0]
    diffs = (table[table["series"] == "new"].set_index("replicate")["hhi"]
             - table[table["series"] == "ref"].set_index("replicate")["hhi"]).to_numpy()
    pairs, mean, _, low, high = mean_interval(diffs)
    assert (row["pairs"], row["diff_mean"], row["diff_low"]) == (pairs, pytest.approx(mean),
                                                                 pytest.approx(max(low, -10000)))
    assert row["diff_high"] == pytest.approx(min(high, 10000))
    ref_row = summary[(summary["series"] == "ref") & (summary["metric"] == "conc_gini")].iloc[0]
    assert math.isnan(ref_row["diff_mean"]) and ref_row["runs"] == 2
    assert (summary["low"].dropna() >= 0).all() and (summary.loc[summary["metric"] != "conc_hhi", "high"] <= 1).all()
    blocks = concentration_blocks(summary, table, ["ref", "new"], "ref",
                                  [("2025-01", "rule date"), ("horizon", "horizon")])
    assert blocks[0] == ("h", 2, "Concentration")
    assert "every platform of the run's first month (4 platforms)" in blocks[1][1]
    tables = [b for b in blocks if b[0] == "table"]
    assert tables[0][1] == ["measure", "when", "ref", "new"] and len(tables[0][2]) == 8
    assert tables[1][1] == ["measure", "when", "new"]
    sentences = [b[1] for b in blocks if b[0] == "p" and b[1].startswith("new against ref")]
    assert len(sentences) == 2  # one per date (both dates are the same month here)
    assert "HHI falls" in sentences[0] and "head share rises" in sentences[0]
    # The same summary with agreeing runs: no sentence at all.
    agree = concentration_table(pd.concat([_platforms([[40, 10, 25, 25]], TIERS, run_id="a", series="ref"),
                                           _platforms([[70, 10, 10, 10]], TIERS, run_id="b", series="new")],
                                          ignore_index=True))
    agree_summary = concentration_summary(agree, ["ref", "new"], {}, "ref", ["horizon"])
    blocks = concentration_blocks(agree_summary, agree, ["ref", "new"], "ref", [("horizon", "horizon")])
    assert not [b for b in blocks if b[0] == "p" and b[1].startswith("new against ref")]
    assert len([b for b in blocks if b[0] == "table"]) == 2
