"""Unit tests for model.mechanisms.funding.line_key and fund_with_rerouting.

Layout with P = 2 platforms and F = 3 funders (funders 0 and 1 banks, kind 0; funder 2 a CFC, kind 5):
capacity index ``f * P + p`` for the (funder, platform) lines 0..5, then direct lines 6, 7, 8 for funders 0..2.
"""

import numpy as np

from model.mechanisms.funding import fund_with_rerouting, line_key

P = 2
KINDS = np.array([0, 0, 5])


def cap(**lines):
    """Capacity vector with the named lines set, e.g. ``cap(f0p0=10, d2=5)``; the rest 0."""
    c = np.zeros(3 * P + 3)
    for name, v in lines.items():
        c[int(name[1]) * P + int(name[3]) if name[0] == "f" else 3 * P + int(name[1])] = v
    return c


def fund(desk, amount, funder, capacity, seed=0):
    funder = np.asarray(funder, dtype=np.int64)
    got = fund_with_rerouting(np.random.default_rng(seed), desk=np.asarray(desk, dtype=np.int64),
                              amount=np.asarray(amount, dtype=float), funder=funder, capacity=capacity,
                              funder_kind=KINDS, n_platforms=P)
    return got, funder


def test_line_key():
    """Platform loans map to funder * P + platform, direct loans (desk P + f) to F * P + f."""
    key = line_key(np.array([0, 1, 2, 4, 3]), np.array([0, 2, 0, 2, 1]), P, 3)
    np.testing.assert_array_equal(key, [0, 5, 6, 8, 7])


def test_loan_that_does_not_fit_is_rerouted_to_same_kind_funder_with_most_room():
    """A 50 loan from bank 0 (line 10) moves to bank 1 (line 60), not to the CFC's larger line (1000).

    ``funder`` is updated in place, and only bank 1's line is drawn down: 60 - 50 = 10.
    """
    c = cap(f0p0=10, f1p0=60, f2p0=1000)
    got, funder = fund([0], [50.0], [0], c)
    np.testing.assert_array_equal(got, [True])
    np.testing.assert_array_equal(funder, [1])
    np.testing.assert_array_equal(c, cap(f0p0=10, f1p0=10, f2p0=1000))


def test_never_rerouted_to_another_kind():
    """A 50 loan from the CFC (line 10) is not funded although both banks have room: capacity is untouched."""
    c = cap(f2p1=10, f0p1=500, f1p1=500)
    got, funder = fund([1], [50.0], [2], c)
    np.testing.assert_array_equal(got, [False])
    np.testing.assert_array_equal(funder, [2])
    np.testing.assert_array_equal(c, cap(f2p1=10, f0p1=500, f1p1=500))


def test_direct_loans_are_never_rerouted():
    """A 50 direct loan of funder 0 (direct line 10) stays unfunded with funder 0, though funder 1's direct line
    and funder 0's platform lines are ample."""
    c = cap(d0=10, d1=1000, f0p0=1000)
    got, funder = fund([P + 0], [50.0], [0], c)
    np.testing.assert_array_equal(got, [False])
    np.testing.assert_array_equal(funder, [0])
    np.testing.assert_array_equal(c, cap(d0=10, d1=1000, f0p0=1000))


def test_direct_loan_that_fits_draws_its_direct_line():
    """A 30 direct loan of the CFC draws its direct line from 100 to 70."""
    c = cap(d2=100)
    got, funder = fund([P + 2], [30.0], [2], c)
    np.testing.assert_array_equal(got, [True])
    np.testing.assert_array_equal(funder, [2])
    np.testing.assert_array_equal(c, cap(d2=70))


def test_capacity_drawn_exactly_by_what_is_funded_and_never_negative():
    """40 random integer loans on 2 platforms: for each line, capacity after = before - sum of the funded
    amounts at the loans' final funders; no line goes below zero, and unfunded loans keep a same-kind funder."""
    rng = np.random.default_rng(4)
    n = 40
    desk = rng.integers(0, P, n)
    amount = rng.integers(1, 20, n).astype(float)
    funder0 = rng.integers(0, 3, n)
    before = cap(f0p0=60, f0p1=30, f1p0=45, f1p1=0, f2p0=80, f2p1=25)
    c = before.copy()
    got, funder = fund(desk, amount, funder0, c, seed=9)
    used = np.bincount(line_key(desk[got], funder[got], P, 3), weights=amount[got], minlength=c.size)
    np.testing.assert_allclose(c, before - used, atol=1e-9)
    assert np.all(c >= 0.0)  # integer amounts: no 1e-6 overdraft tolerance used
    np.testing.assert_array_equal(KINDS[funder], KINDS[funder0])
    assert got.any() and not got.all()
    # Every funded CFC loan is the CFC's own; the CFC's lines are its capacity only.
    assert used[4] <= 80 and used[5] <= 25


def test_empty_input():
    """No loans: nothing funded, capacity unchanged."""
    c = cap(f0p0=5)
    got, _ = fund(np.zeros(0), np.zeros(0), np.zeros(0), c)
    assert got.size == 0
    np.testing.assert_array_equal(c, cap(f0p0=5))
