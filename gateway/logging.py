"""structlog as JSON key/value lines, to stdout or a file. One ``event`` name per kind of line; never a secret."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import orjson
import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", file: str | None = None, stream: TextIO | None = None) -> None:
    """Send every structlog event as one JSON object per line to ``file`` (appended) or ``stream`` (stdout)."""
    if level not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}, got {level!r}")
    output = open(file, "ab") if file else (stream or sys.stdout)  # noqa: SIM115 - lives as long as the process
    factory = structlog.BytesLoggerFactory(output) if file else structlog.PrintLoggerFactory(output)
    renderer = (structlog.processors.JSONRenderer(serializer=orjson.dumps) if file
                else structlog.processors.JSONRenderer(serializer=lambda obj, **_: orjson.dumps(obj).decode()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
