"""Execution algorithms (TWAP, VWAP, POV) as deterministic state machines, and the factory that validates their params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algos.base import (
    Action,
    AlgoState,
    Amendment,
    CancelChild,
    ChildPurpose,
    ExecutionAlgorithm,
    Finish,
    FinishReason,
    MarketTape,
    Progress,
    ReplaceChild,
    ScheduledAlgorithm,
    SendChild,
    WakeAt,
)
from algos.curves import VolumeCurve, load_curve_csv, u_shaped_curve
from algos.params import ParamReader, parameter_error, read_common
from algos.pov import PovAlgorithm
from algos.twap import TwapAlgorithm
from algos.vwap import VwapAlgorithm
from gateway.clock import Clock
from gateway.model import Instrument, Quote, Side

ALGORITHMS: dict[str, type[ScheduledAlgorithm]] = {
    TwapAlgorithm.name: TwapAlgorithm,
    VwapAlgorithm.name: VwapAlgorithm,
    PovAlgorithm.name: PovAlgorithm,
}


def create_algorithm(
    algo: str,
    *,
    parent_id: str,
    instrument: Instrument,
    side: Side,
    quantity: int,
    params: Mapping[str, Any] | None,
    clock: Clock,
    quote: Quote | None = None,
    curves: Mapping[str, VolumeCurve] | None = None,
    tape: MarketTape | None = None,
) -> ScheduledAlgorithm:
    """Validate ``params`` for ``algo`` and build it; raise RefusalError (VALIDATION_PARAMETER) naming a bad one."""
    kind = ALGORITHMS.get(algo.upper()) if isinstance(algo, str) else None
    if kind is None:
        raise parameter_error("algo", f"must be one of {', '.join(ALGORITHMS)}, got {algo!r}")
    reader = ParamReader(params)
    common = read_common(
        reader,
        parent_id=parent_id,
        instrument=instrument,
        side=side,
        quantity=quantity,
        now_ns=clock.now_ns(),
        end_required=kind.end_required,
    )
    own = kind.read_params(reader, common, instrument, quantity, curves=curves or {})
    reader.refuse_unknown()
    return kind(parent_id, instrument, side, quantity, common, clock, quote, tape, **own)


__all__ = [
    "ALGORITHMS",
    "Action",
    "AlgoState",
    "Amendment",
    "CancelChild",
    "ChildPurpose",
    "ExecutionAlgorithm",
    "Finish",
    "FinishReason",
    "MarketTape",
    "PovAlgorithm",
    "Progress",
    "ReplaceChild",
    "SendChild",
    "TwapAlgorithm",
    "VolumeCurve",
    "VwapAlgorithm",
    "WakeAt",
    "create_algorithm",
    "load_curve_csv",
    "u_shaped_curve",
]
