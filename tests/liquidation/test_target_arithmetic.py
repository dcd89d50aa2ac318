"""The sale that restores a maintenance ratio, exactly."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from gateway.liquidation.target import required_sale


def test_the_worked_example() -> None:
    # A = 130, D = 100, target 150%, f = 0: sell 40, then (130 - 40) / (100 - 40) = 1.5
    assert required_sale(Fraction(130), Fraction(100), Fraction(3, 2), Fraction(0)) == 40


def test_costs_make_the_sale_larger() -> None:
    sale = required_sale(Fraction(130), Fraction(100), Fraction(3, 2), Fraction(1, 100))
    assert sale == Fraction(20) / (Fraction(3, 2) * Fraction(99, 100) - 1)
    assert sale > 40


def test_an_account_already_above_its_target_sells_nothing() -> None:
    assert required_sale(Fraction(160), Fraction(100), Fraction(3, 2), Fraction(0)) == 0
    assert required_sale(Fraction(160), Fraction(0), Fraction(3, 2), Fraction(0)) == 0


def test_a_target_no_sale_can_reach_is_reported_as_impossible() -> None:
    # T(1 - f) <= 1: each sale lowers the ratio's numerator as fast as its denominator
    assert required_sale(Fraction(100), Fraction(100), Fraction(101, 100), Fraction(1, 50)) is None


@given(
    assets=st.integers(1, 10**9),
    loan=st.integers(1, 10**9),
    target_percent=st.integers(101, 400),
    cost_bps=st.integers(0, 200),
)
def test_selling_the_required_amount_lands_exactly_on_the_target(assets, loan, target_percent, cost_bps) -> None:
    target = Fraction(target_percent, 100)
    cost = Fraction(cost_bps, 10_000)
    sale = required_sale(Fraction(assets), Fraction(loan), target, cost)
    if assets >= target * loan:
        assert sale == 0
    elif target * (1 - cost) <= 1 or (target * loan - assets) / (target * (1 - cost) - 1) >= assets:
        assert sale is None  # no sale gets there: it would need a ratio no sale moves, or more than the assets
    else:
        assert sale > 0
        assert (assets - sale) / (loan - sale * (1 - cost)) == target
