"""Unit tests for model.mechanisms.shadow: who borrows from shadow lenders, how much, and the one draw."""

import numpy as np
from builders import book, population

from model.mechanisms.shadow import priced_out_borrowers, shadow_lend


def _lend(rng, pop, bk, *, shadow_open=True, prob_refinance=1.0, prob_consumption=1.0, max_shadow_loans=1,
          priced_out=None, prob_priced_out=1.0):
    n = pop.seeking.size
    return shadow_lend(rng, seeking=pop.seeking, seeking_refi=pop.seeking_refi, delinquent_need=pop.delinquent_need,
                       proceeds=pop.proceeds, shortfall=pop.shortfall, seek_amount=pop.seek_amount,
                       priced_out=np.zeros(n, dtype=bool) if priced_out is None else np.asarray(priced_out),
                       loan_borrower=bk.borrower, loan_shadow=bk.shadow, shadow_open=shadow_open,
                       prob_refinance=prob_refinance, prob_priced_out=prob_priced_out,
                       prob_consumption=prob_consumption, max_shadow_loans=max_shadow_loans)


def _five_borrowers():
    # 0: rationed consumption seeker; 1: rationed refinancer; 2: funded seeker; 3: delinquent and short;
    # 4: rationed but already holding a shadow loan.
    pop = population(n=5, seeking=[True, True, True, False, True], seeking_refi=[False, True, False, False, False],
                     delinquent_need=[False, False, False, True, False], proceeds=[0.0, 0.0, 50.0, 0.0, 0.0],
                     shortfall=[0.0, 7.0, 0.0, 9.0, 0.0], seek_amount=[30.0, 7.0, 50.0, 0.0, 20.0])
    bk = book(n=2, borrower=[4, 2], shadow=[True, False])
    return pop, bk


def test_no_shadow_loan_and_no_draw_when_channels_are_closed():
    pop, bk = _five_borrowers()
    rng = np.random.default_rng(3)
    got = _lend(rng, pop, bk, shadow_open=False)
    assert got.who.size == 0 and got.amount.size == 0
    assert got.rationed == 3  # seekers 0, 1 and 4 got nothing
    assert rng.random() == np.random.default_rng(3).random()  # the generator was not touched


def test_rationed_and_delinquent_borrow_their_need_with_one_draw():
    pop, bk = _five_borrowers()
    rng = np.random.default_rng(3)
    got = _lend(rng, pop, bk)
    np.testing.assert_array_equal(got.who, [0, 1, 3])
    np.testing.assert_array_equal(got.amount, [30.0, 7.0, 9.0])  # sought amount, shortfall, shortfall
    assert got.rationed == 3
    twin = np.random.default_rng(3)
    twin.random(5)
    assert rng.random() == twin.random()  # exactly one rng.random(n_borrowers)


def test_probabilities_by_kind_of_need():
    pop, bk = _five_borrowers()
    # Refinancing-like needs (rationed refinancer, delinquent) only; consumption seekers never.
    got = _lend(np.random.default_rng(0), pop, bk, prob_refinance=1.0, prob_consumption=0.0)
    np.testing.assert_array_equal(got.who, [1, 3])
    got = _lend(np.random.default_rng(0), pop, bk, prob_refinance=0.0, prob_consumption=1.0, max_shadow_loans=2)
    np.testing.assert_array_equal(got.who, [0, 4])  # borrower 4 may now hold a second shadow loan


def test_zero_amounts_are_dropped():
    pop = population(n=2, seeking=True, proceeds=0.0, seek_amount=[0.0, 12.0])
    got = _lend(np.random.default_rng(1), pop, book(n=0))
    np.testing.assert_array_equal(got.who, [1])
    np.testing.assert_array_equal(got.amount, [12.0])


def test_a_seeker_priced_out_by_the_cap_borrows_with_its_own_probability():
    """Borrower 0 (a rationed consumption seeker) was refused only by the cap: it turns to a shadow lender with
    ``prob_priced_out`` even when other consumption seekers never do. A funded seeker (2) is never rationed,
    whatever its flag, and a refinancer (1) keeps the refinancers' probability."""
    pop, bk = _five_borrowers()
    flags = [True, True, True, False, False]
    got = _lend(np.random.default_rng(0), pop, bk, prob_refinance=0.0, prob_consumption=0.0, priced_out=flags)
    np.testing.assert_array_equal(got.who, [0])
    got = _lend(np.random.default_rng(0), pop, bk, prob_refinance=0.0, prob_consumption=1.0, prob_priced_out=0.0,
                priced_out=flags, max_shadow_loans=2)
    np.testing.assert_array_equal(got.who, [4])  # 0 is priced out at probability 0; 4 is an ordinary seeker


def test_priced_out_borrowers_flags_a_borrower_with_any_offer_refused_by_the_cap():
    got = priced_out_borrowers(borrower=np.array([0, 0, 2, 3]), priced_out=np.array([False, True, False, True]),
                               n_borrowers=5)
    np.testing.assert_array_equal(got, [True, False, False, True, False])
