"""Unit tests for model.mechanisms.funding: line_key, pool_key, fund_from_pools and carried_over.

Layout with P = 2 platforms and F = 3 funders (funders 0 and 1 banks, kind 0; funder 2 a CFC, kind 5):
capacity index ``f * P + p`` for the (funder, platform) lines 0..5, then direct lines 6, 7, 8 for funders 0..2.
"""

import numpy as np

from model.mechanisms.funding import carried_over, fund_from_pools, line_key, pool_key

P = 2
KINDS = np.array([0, 0, 5])


def cap(**lines):
    """Capacity vector with the named lines set, e.g. ``cap(f0p0=10, d2=5)``; the rest 0."""
    c = np.zeros(3 * P + 3)
    for name, v in lines.items():
        c[int(name[1]) * P + int(name[3]) if name[0] == "f" else 3 * P + int(name[1])] = v
    return c


def fund(desk, amount, funder, capacity, seed=0):
    return fund_from_pools(np.random.default_rng(seed), desk=np.asarray(desk, dtype=np.int64),
                           amount=np.asarray(amount, dtype=float), funder=np.asarray(funder, dtype=np.int64),
                           capacity=capacity, funder_kind=KINDS, n_platforms=P)


def test_line_key():
    """Platform loans map to funder * P + platform, direct loans (desk P + f) to F * P + f."""
    key = line_key(np.array([0, 1, 2, 4, 3]), np.array([0, 2, 0, 2, 1]), P, 3)
    np.testing.assert_array_equal(key, [0, 5, 6, 8, 7])


def test_pool_key():
    """Platform loans pool by (kind, platform): both banks' loans at platform 1 share pool 0 * P + 1; the CFC's
    is 5 * P + 1; direct loans keep one pool per funder after the n_kinds * P platform pools."""
    key = pool_key(np.array([1, 1, 1, P + 2]), np.array([0, 1, 2, 2]), KINDS, P, 6)
    np.testing.assert_array_equal(key, [1, 1, 11, 14])


def test_loan_draws_on_the_pool_of_same_kind_lines_and_stays_with_its_funder():
    """A 50 loan priced with bank 0 (line 10) fits the banks' pool at platform 0 (10 + 60): it is funded, stays
    bank 0's and draws bank 0's line below zero; the pool as a whole stays within its 70."""
    c = cap(f0p0=10, f1p0=60, f2p0=1000)
    got = fund([0], [50.0], [0], c)
    np.testing.assert_array_equal(got, [True])
    np.testing.assert_array_equal(c, cap(f0p0=-40, f1p0=60, f2p0=1000))


def test_other_kinds_lines_are_not_in_the_pool():
    """A 50 loan priced with the CFC (line 10 at platform 1) cannot use the banks' 1000: it is funded with
    probability 10 / 50, never more; over many draws its expected draw is the CFC's 10."""
    draws = []
    for seed in range(400):
        c = cap(f2p1=10, f0p1=500, f1p1=500)
        got = fund([1], [50.0], [2], c, seed=seed)
        np.testing.assert_array_equal(c[[0, 1, 2, 3]], [0, 500, 0, 500])  # banks untouched
        draws.append(50.0 * got[0])
    assert 6.0 < np.mean(draws) < 14.0


def test_direct_loans_draw_only_their_funders_direct_line():
    """A 30 direct loan of the CFC draws its direct line from 100 to 70; platform lines are untouched."""
    c = cap(d2=100, f2p0=500)
    got = fund([P + 2], [30.0], [2], c)
    np.testing.assert_array_equal(got, [True])
    np.testing.assert_array_equal(c, cap(d2=70, f2p0=500))


def test_each_pool_funds_its_capacity_in_expectation():
    """Loans ten times larger than the lines: averaged over seeds, each pool's draw is its capacity, and
    what is funded is drawn exactly from the loans' own lines."""
    desk = np.array([0, 0, 1, 1, P + 2])
    amount = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    funder = np.array([0, 1, 2, 0, 2])
    before = cap(f0p0=4, f1p0=6, f2p1=10, f0p1=3, d2=7)
    drawn = np.zeros_like(before)
    n = 3000
    for seed in range(n):
        c = before.copy()
        got = fund(desk, amount, funder, c, seed=seed)
        used = np.bincount(line_key(desk[got], funder[got], P, 3), weights=amount[got], minlength=c.size)
        np.testing.assert_allclose(c, before - used)
        drawn += used
    mean = drawn / n
    # Banks' pool at platform 0 (10), the CFC's and banks' pools at platform 1 (10 and 3), funder 2's direct line (7).
    np.testing.assert_allclose([mean[0] + mean[2], mean[5], mean[1] + mean[3], mean[8]], [10, 10, 3, 7], rtol=0.15)


def test_empty_input():
    """No loans: nothing funded, capacity unchanged."""
    c = cap(f0p0=5)
    got = fund(np.zeros(0), np.zeros(0), np.zeros(0), c)
    assert got.size == 0
    np.testing.assert_array_equal(c, cap(f0p0=5))


def test_carried_over_keeps_a_direct_lines_remainder_up_to_last_commitment():
    """A direct line is its own pool: its unused remainder carries up to last month's commitment, an overdraft in
    full; a line not renewed carries nothing; a layout change (first month) carries nothing."""
    def direct(*values):
        return cap(**{f"d{f}": v for f, v in enumerate(values)})

    got = carried_over(direct(5.0, -3.0, 40.0), direct(10.0, 10.0, 10.0), direct(10.0, 10.0, 0.0),
                       funder_kind=KINDS, n_platforms=P)
    np.testing.assert_array_equal(got, direct(5.0, -3.0, 0.0))
    got = carried_over(direct(40.0, -40.0, 7.0), direct(10.0, 10.0, 10.0), direct(10.0, 10.0, 10.0),
                       funder_kind=KINDS, n_platforms=P)
    np.testing.assert_array_equal(got, direct(10.0, -40.0, 7.0))
    now = direct(10.0, 10.0, 10.0)
    np.testing.assert_array_equal(carried_over(np.zeros(0), np.zeros(0), now, funder_kind=KINDS, n_platforms=P),
                                  np.zeros(now.size))


def test_carried_over_pools_same_kind_lines_and_shares_by_this_months_commitments():
    """The banks' pool at platform 0 left 5 - 45 = -40 of last month's 10 + 60: the overdraft carries in full and
    is shared 1:3 by this month's commitments (20, 60); the CFC's pool at platform 0 left 900 of 1000 and
    carries all of it (below last commitment); at platform 1 the banks' unused 30 + 50 is clipped at their
    last commitment 50 and goes to the one bank still committed; the CFC's direct line carries its 7."""
    left = cap(f0p0=5, f1p0=-45, f2p0=900, f0p1=30, f1p1=50, d2=7)
    before = cap(f0p0=10, f1p0=60, f2p0=1000, f0p1=20, f1p1=30, d2=10)
    now = cap(f0p0=20, f1p0=60, f2p0=1000, f0p1=0, f1p1=40, d2=10)
    got = carried_over(left, before, now, funder_kind=KINDS, n_platforms=P)
    np.testing.assert_allclose(got, cap(f0p0=-10, f1p0=-30, f2p0=900, f0p1=0, f1p1=50, d2=7))
