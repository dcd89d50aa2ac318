"""Read and validate an algorithm's ``params``: every refusal is VALIDATION_PARAMETER naming the parameter and the limit.

Parameters arrive as a JSON object. Unknown names are refused (a typo in ``limit_prcie`` must not silently trade
without a limit). Prices are decimal strings or numbers at the instrument's tick; times are integer nanoseconds since
the epoch or ISO 8601 text with a UTC offset; durations are seconds.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from gateway.clock import NANOS_PER_SECOND
from gateway.model import ErrorCode, Instrument, RefusalError, Side, refuse

MAX_DURATION_NS = 7 * 24 * 3600 * NANOS_PER_SECOND  # a parent order lives a trading week at most
DEFAULT_REQUOTE_INTERVAL_NS = 2 * NANOS_PER_SECOND

E = TypeVar("E", bound=Enum)


class Aggression(str, Enum):
    """Where a scheduled child is priced: at our own touch, at the mid, or across the spread."""

    PASSIVE = "passive"
    MID = "mid"
    AGGRESSIVE = "aggressive"


class EndBehavior(str, Enum):
    """What happens to the unfilled remainder at the end time."""

    CANCEL = "cancel"  # cancel the remainder and finish
    COMPLETE = "complete"  # cross the spread for the remainder until done (within the limit price)
    CONTINUE = "continue"  # keep working the remainder passively past the end time


def parameter_error(name: str, message: str) -> RefusalError:
    return refuse(ErrorCode.VALIDATION_PARAMETER, f"{name} {message}", name)


class ParamReader:
    """Typed access to a params object; remembers what was read so leftovers can be refused as unknown."""

    def __init__(self, params: Mapping[str, Any] | None) -> None:
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise parameter_error("params", f"must be an object, got {type(params).__name__}")
        self.params = params
        self._read: set[str] = set()

    def has(self, name: str) -> bool:
        return self.params.get(name) is not None

    def raw(self, name: str) -> Any:
        self._read.add(name)
        return self.params.get(name)

    def refuse_unknown(self) -> None:
        unknown = sorted(set(self.params) - self._read)
        if unknown:
            raise parameter_error(unknown[0], f"is not a parameter of this algorithm (unknown: {', '.join(unknown)})")

    def integer(self, name: str, default: int | None, minimum: int | None = None, maximum: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise parameter_error(name, f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise parameter_error(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise parameter_error(name, f"must be at most {maximum}, got {value}")
        return value

    def number(
        self,
        name: str,
        default: float | None,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise parameter_error(name, f"must be a number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise parameter_error(name, f"must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise parameter_error(name, f"must be a finite number, got {value!r}")
        if minimum is not None and (number < minimum or (exclusive_minimum and number == minimum)):
            relation = "greater than" if exclusive_minimum else "at least"
            raise parameter_error(name, f"must be {relation} {minimum:g}, got {value}")
        if maximum is not None and number > maximum:
            raise parameter_error(name, f"must be at most {maximum:g}, got {value}")
        return number

    def price(self, name: str, instrument: Instrument) -> int | None:
        value = self.raw(name)
        if value is None:
            return None
        try:
            price = instrument.parse_price(value, name)
        except RefusalError as error:  # same words, the parameter code
            raise parameter_error(name, error.refusal.message.removeprefix(f"{name} ").strip()) from None
        if not instrument.within_limits(price):
            low = instrument.format_price(instrument.limit_down) if instrument.limit_down else "-"
            high = instrument.format_price(instrument.limit_up) if instrument.limit_up else "-"
            raise parameter_error(name, f"{value} is outside the day's price limits [{low}, {high}] of {instrument.symbol}")
        return price

    def timestamp(self, name: str) -> int | None:
        value = self.raw(name)
        if value is None:
            return None
        return parse_timestamp(name, value)

    def choice(self, name: str, kind: type[E], default: E) -> E:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return kind(value.lower() if isinstance(value, str) else value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise parameter_error(name, f"must be one of {allowed}, got {value!r}") from None

    def weights(self, name: str) -> list[float] | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise parameter_error(name, "must be a non-empty list of bucket weights")
        weights: list[float] = []
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) or item < 0:
                raise parameter_error(name, f"weight {index} must be a non-negative number, got {item!r}")
            weights.append(float(item))
        if sum(weights) <= 0:
            raise parameter_error(name, "weights must not all be zero")
        return weights


def parse_timestamp(name: str, value: object) -> int:
    """Integer ns since the epoch, or ISO 8601 text with an offset (``2024-03-01T14:30:00Z``)."""
    if isinstance(value, bool):
        raise parameter_error(name, f"must be ns since the epoch or ISO 8601 text, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise parameter_error(name, f"must be positive ns since the epoch, got {value}")
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise parameter_error(name, f"is not ISO 8601 text: {value!r}") from None
        if moment.tzinfo is None:
            raise parameter_error(name, f"needs a UTC offset (e.g. 'Z' or '+01:00'): {value!r}")
        seconds = int(moment.timestamp())  # whole seconds exactly, then the microseconds
        return seconds * NANOS_PER_SECOND + moment.microsecond * 1000
    raise parameter_error(name, f"must be ns since the epoch or ISO 8601 text, got {value!r}")


def seconds_to_ns(seconds: float) -> int:
    return round(seconds * NANOS_PER_SECOND)


def default_seed(parent_id: str) -> int:
    """A seed that is the same for the same parent id on every run and machine (``hash`` is salted per process)."""
    return zlib.crc32(parent_id.encode())


@dataclass(slots=True)
class CommonParams:
    """The parameters every algorithm understands, validated and in exact units."""

    start_ns: int
    end_ns: int | None
    limit_price: int | None
    i_would_price: int | None
    i_would_max_quantity: int  # shares the I-would may take in all
    min_child_quantity: int
    max_child_quantity: int
    round_lot: int
    aggression: Aggression
    randomize_size: float  # a slice is scaled by a factor in [1 - x, 1 + x]
    randomize_time: float  # a wake moves by up to x of the slice interval either way
    seed: int
    end_behavior: EndBehavior
    requote_interval_ns: int  # a passive child is repriced at most this often, to keep its queue place
    cross_ticks: int = 0  # a crossing child may take liquidity this many ticks beyond the far touch


def read_common(
    reader: ParamReader,
    *,
    parent_id: str,
    instrument: Instrument,
    side: Side,
    quantity: int,
    now_ns: int,
    end_required: bool,
) -> CommonParams:
    """Read the common parameters; raise RefusalError naming the first bad one."""
    start_ns = reader.timestamp("start_time")
    if start_ns is None or start_ns < now_ns:
        start_ns = now_ns  # a start in the past means "now": the order cannot trade backwards
    end_ns = reader.timestamp("end_time")
    duration_s = reader.number("duration_s", None, minimum=0.0, exclusive_minimum=True)
    if end_ns is not None and duration_s is not None:
        raise parameter_error("duration_s", "cannot be given together with end_time; give one of them")
    if duration_s is not None:
        end_ns = start_ns + seconds_to_ns(duration_s)
    if end_ns is None and end_required:
        raise parameter_error("end_time", "is required (or duration_s)")
    if end_ns is not None:
        if end_ns <= start_ns:
            raise parameter_error("end_time", f"must be after the start time {start_ns} ns, got {end_ns} ns")
        if end_ns - start_ns > MAX_DURATION_NS:
            raise parameter_error("end_time", f"is more than {MAX_DURATION_NS // NANOS_PER_SECOND} s after the start")

    limit_price = reader.price("limit_price", instrument)
    i_would_price = reader.price("i_would_price", instrument)
    i_would_fraction = reader.number("i_would_max_fraction", 1.0, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    assert i_would_fraction is not None
    if i_would_price is None and reader.has("i_would_max_fraction"):
        raise parameter_error("i_would_max_fraction", "needs i_would_price")
    if i_would_price is not None and limit_price is not None:
        if side is Side.BUY and i_would_price > limit_price:
            raise parameter_error("i_would_price", "must not be above limit_price for a buy")
        if side is Side.SELL and i_would_price < limit_price:
            raise parameter_error("i_would_price", "must not be below limit_price for a sell")

    lot = instrument.lot_size
    round_lot = reader.integer("round_lot", lot, minimum=lot)
    assert round_lot is not None
    if round_lot % lot:
        raise parameter_error("round_lot", f"must be a multiple of the lot size {lot} of {instrument.symbol}, got {round_lot}")
    min_child = reader.integer("min_child_quantity", min(round_lot, quantity), minimum=lot, maximum=quantity)
    assert min_child is not None
    if min_child % lot:
        raise parameter_error("min_child_quantity", f"must be a multiple of the lot size {lot}, got {min_child}")
    max_child = reader.integer("max_child_quantity", quantity, minimum=min_child)
    assert max_child is not None
    if max_child % lot:
        raise parameter_error("max_child_quantity", f"must be a multiple of the lot size {lot}, got {max_child}")
    max_child = min(max_child, quantity)
    i_would_max_quantity = max(lot, int(quantity * i_would_fraction) // lot * lot)

    aggression = reader.choice("aggression", Aggression, Aggression.PASSIVE)
    randomize_size = reader.number("randomize_size", 0.0, minimum=0.0, maximum=0.5)
    randomize_time = reader.number("randomize_time", 0.0, minimum=0.0, maximum=0.5)
    seed = reader.integer("seed", None, minimum=0)
    end_behavior = reader.choice("end_behavior", EndBehavior, EndBehavior.CANCEL)
    if end_ns is None and reader.has("end_behavior"):
        raise parameter_error("end_behavior", "needs an end_time or duration_s")
    requote_s = reader.number("requote_interval_s", DEFAULT_REQUOTE_INTERVAL_NS / NANOS_PER_SECOND, minimum=0.0,
                              maximum=3600.0)
    cross_ticks = reader.integer("cross_ticks", 0, minimum=0, maximum=1_000)
    assert randomize_size is not None and randomize_time is not None and requote_s is not None
    assert cross_ticks is not None
    return CommonParams(
        start_ns=start_ns,
        end_ns=end_ns,
        limit_price=limit_price,
        i_would_price=i_would_price,
        i_would_max_quantity=i_would_max_quantity,
        min_child_quantity=min_child,
        max_child_quantity=max_child,
        round_lot=round_lot,
        aggression=aggression,
        randomize_size=randomize_size,
        randomize_time=randomize_time,
        seed=default_seed(parent_id) if seed is None else seed,
        end_behavior=end_behavior,
        requote_interval_ns=seconds_to_ns(requote_s),
        cross_ticks=cross_ticks,
    )


def read_slice_interval(reader: ParamReader, duration_ns: int) -> int:
    """The slice interval from ``slice_interval_s`` or ``slices``; by default about 30 slices, 1 s to 5 min each."""
    interval_s = reader.number("slice_interval_s", None, minimum=0.1, maximum=3600.0)
    slices = reader.integer("slices", None, minimum=1, maximum=10_000)
    if interval_s is not None and slices is not None:
        raise parameter_error("slices", "cannot be given together with slice_interval_s; give one of them")
    if slices is not None:
        interval_ns = duration_ns // slices
        if interval_ns < NANOS_PER_SECOND // 10:
            raise parameter_error("slices", f"{slices} over {duration_ns / NANOS_PER_SECOND:g} s is shorter than 0.1 s a slice")
        return interval_ns
    if interval_s is not None:
        return min(seconds_to_ns(interval_s), duration_ns)
    default_ns = min(max(duration_ns // 30, NANOS_PER_SECOND), 300 * NANOS_PER_SECOND)
    return min(default_ns, duration_ns)


DEFAULT_TOLERANCE = 0.05  # the band around the schedule, as a share of the order


def read_tolerance(reader: ParamReader, largest_slice: float, slice_word: str, quantity: int, min_child_quantity: int,
                   lot_size: int) -> float:
    """The schedule band ``tolerance``: at least one slice wide (by default the wider of 5% and the largest slice),
    and never narrower than the minimum child size."""
    tolerance = reader.number("tolerance", None, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    if tolerance is None:
        tolerance = max(DEFAULT_TOLERANCE, largest_slice)
    elif tolerance < largest_slice - 1e-9:
        raise parameter_error(
            "tolerance", f"{tolerance:g} is narrower than {slice_word} ({largest_slice:.4f} of the order); "
            "widen it or use more slices"
        )
    band = tolerance * quantity
    if min_child_quantity > max(band, lot_size) and min_child_quantity < quantity:
        raise parameter_error(
            "min_child_quantity", f"{min_child_quantity} is larger than the tolerance band {band:.0f} shares"
        )
    return tolerance

