"""Borrower outcomes by segment and volume-weighted means by group (model/mechanisms/metrics.py)."""

from __future__ import annotations

import numpy as np

from model.mechanisms.metrics import borrower_outcomes, segment_outcomes, share_by, weighted_mean_by


def test_weighted_mean_and_share_by_group():
    groups = np.array([0, 0, 1, 2])
    # Group 0: (100 * 0.2 + 300 * 0.1) / 400 = 0.125; group 1: 0.3; group 2 has no weight: 0.
    np.testing.assert_allclose(weighted_mean_by(groups, np.array([0.2, 0.1, 0.3, 0.9]),
                                                np.array([100.0, 300.0, 50.0, 0.0]), 4), [0.125, 0.3, 0.0, 0.0])
    among = np.array([True, True, True, False])
    np.testing.assert_allclose(share_by(groups, np.array([True, False, True, True]), among, 3), [0.5, 1.0, 0.0])


def test_segment_outcomes_by_hand():
    """Six borrowers, two per segment (0 prime, 1 near-prime, 2 subprime).

    Borrower 4 (subprime) holds three licensed loans at DSTI 0.7: a multi-lender spiral; borrower 5 is in
    shadow credit only; borrower 0 sought and was served at 10%, borrower 2 sought and was refused, borrower 4
    was served at 24% and 30% on 100 and 300 yuan.
    """
    segment = np.array([0, 0, 1, 1, 2, 2])
    loan_borrower = np.array([0, 2, 4, 4, 4, 5])
    loan_shadow = np.array([False, False, False, False, False, True])
    dsti = np.array([0.1, 0.0, 0.3, 0.0, 0.7, 0.5])
    out = borrower_outcomes(loan_borrower=loan_borrower, loan_shadow=loan_shadow, n_borrowers=6, dsti=dsti,
                            btr_months=np.zeros(6, dtype=np.int16), dsti_at_btr_start=np.zeros(6), spiral_lenders=3,
                            spiral_months=3, spiral_dsti=0.6)
    np.testing.assert_array_equal(out.lenders, [1, 0, 1, 0, 3, 0])
    seg = segment_outcomes(
        segment=segment, n_segments=3, seeking=np.array([True, False, True, False, True, False]),
        served=np.array([True, False, False, False, True, False]), new_borrower=np.array([0, 4, 4]),
        new_amount=np.array([50.0, 100.0, 300.0]), new_apr=np.array([0.10, 0.24, 0.30]), dsti=dsti, outcomes=out,
        new_defaults=np.array([False, False, True, False, False, False]), shadow_borrowers=np.array([5]))
    np.testing.assert_allclose(seg.served, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(seg.apr_paid, [0.10, 0.0, (24.0 + 90.0) / 400.0])
    np.testing.assert_allclose(seg.dsti, [0.1, 0.3, 0.7])  # indebted borrowers only: 0, 2 and 4
    np.testing.assert_allclose(seg.default_rate, [0.0, 1.0, 0.0])
    np.testing.assert_allclose(seg.spiral, [0.0, 0.0, 1.0])
    np.testing.assert_allclose(seg.shadow, [0.0, 0.0, 0.5])


def test_every_segment_column_is_recorded():
    from model import LendingModel, load_scenario
    from model.output import MODEL_COLUMNS

    m = LendingModel(load_scenario("new-rules-2025", overrides=["run.borrowers=5000", "run.months=2"]), rng=3)
    m.run()
    table = m.tables()["model"]
    m.release()
    assert list(table.columns) == MODEL_COLUMNS
    for name in ("prime", "near_prime", "subprime"):
        served = table[f"served_share_{name}"]
        assert ((served >= 0) & (served <= 1)).all()
    # The head tier prices below the tail before the rules (calibrated tiers).
    assert table["apr_new_head"].iloc[0] < table["apr_new_tail"].iloc[0]
