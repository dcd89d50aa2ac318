"""The target arithmetic, exact: how much to sell, and whether the fills so far have met the target.

For a target maintenance ratio T with assets A, loan D and expected cost rate f, selling S (at mark) lowers assets by S
and repays S(1 - f) of the loan, so the sale that restores the ratio solves (A - S) / (D - S(1 - f)) = T:

    S = (T*D - A) / (T*(1 - f) - 1)

e.g. A = 130, D = 100, T = 150%, f = 0 gives S = 40. When T*(1 - f) <= 1, or S >= A, no sale can restore the ratio.
"""

from __future__ import annotations

from fractions import Fraction

from gateway.liquidation.model import Target, TargetKind


def required_sale(assets: Fraction, loan: Fraction, target_ratio: Fraction, cost_rate: Fraction) -> Fraction | None:
    """The sale S at mark that brings (A - S) / (D - S(1 - f)) to the target; 0 if already there; None if no sale
    can (T(1 - f) <= 1, or it would take selling all the assets or more)."""
    if loan <= 0 or assets >= target_ratio * loan:
        return Fraction(0)
    denominator = target_ratio * (1 - cost_rate) - 1
    if denominator <= 0:
        return None
    sale = (target_ratio * loan - assets) / denominator
    return sale if sale < assets else None


class TargetTracker:
    """Follows fills against the instruction's target; ``met`` is checked after every fill."""

    def __init__(self, target: Target, required: Fraction, cost_rate: Fraction, fee_rate: Fraction,
                 marks: dict[str, Fraction], line_quantities: dict[str, int]) -> None:
        self.target = target
        self.required = required
        self.cost_rate = cost_rate
        self.fee_rate = fee_rate
        self.marks = marks  # decision price per symbol, currency per share
        self.line_quantities = dict(line_quantities)
        self.filled: dict[str, int] = {symbol: 0 for symbol in line_quantities}
        self.sold_value = Fraction(0)  # at fill prices
        self.sold_at_mark = Fraction(0)
        self.fees = Fraction(0)

    def on_fill(self, symbol: str, quantity: int, price: Fraction) -> None:
        self.filled[symbol] = self.filled.get(symbol, 0) + quantity
        value = quantity * price
        self.sold_value += value
        self.sold_at_mark += quantity * self.marks.get(symbol, price)
        self.fees += value * self.fee_rate

    def ratio_now(self) -> Fraction | None:
        if self.target.kind is not TargetKind.RATIO:
            return None
        loan = self.target.loan - (self.sold_value - self.fees)
        if loan <= 0:
            return None
        return (self.target.assets - self.sold_at_mark) / loan

    def remaining(self) -> Fraction:
        """Value (at mark) still to sell for the target; 0 once met."""
        kind = self.target.kind
        if kind is TargetKind.NOTIONAL:
            return max(Fraction(0), self.target.notional - self.sold_value)
        if kind is TargetKind.POSITIONS:
            return sum((max(0, wanted - self.filled.get(symbol, 0)) * self.marks[symbol]
                        for symbol, wanted in self.line_quantities.items()), Fraction(0))
        assets = self.target.assets - self.sold_at_mark
        loan = self.target.loan - (self.sold_value - self.fees)
        remaining = required_sale(assets, loan, self.target.target_ratio, self.cost_rate)
        return Fraction(0) if remaining is None or remaining <= 0 else remaining

    def met(self) -> bool:
        if self.target.kind is TargetKind.RATIO:
            ratio = self.ratio_now()
            return ratio is None or ratio >= self.target.target_ratio
        return self.remaining() <= 0
