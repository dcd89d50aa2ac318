"""structlog as JSON key/value lines, to stdout or a file. One ``event`` name per kind of line; never a secret.

Lines are rendered on the engine's loop but written by a background thread: the hot path appends to a buffer and
never waits on a terminal or a disk. The buffer is flushed every ``flush_interval_s`` and at exit.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from typing import Any, BinaryIO

import orjson
import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class BufferedLineWriter:
    """Collect rendered lines; a daemon thread writes them out in batches."""

    def __init__(self, output: BinaryIO, flush_interval_s: float = 0.05) -> None:
        self._output = output
        self._lines: list[bytes] = []
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._interval_s = flush_interval_s
        self._thread = threading.Thread(target=self._run, name="unwind-log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def write_line(self, line: bytes) -> None:
        self._lines.append(line)  # list.append is atomic under the GIL: no lock on the hot path

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            if lines:
                self._output.write(b"".join(lines))
                self._output.flush()

    def _run(self) -> None:
        while True:
            self._wakeup.wait(self._interval_s)
            try:
                self.flush()
            except (OSError, ValueError):  # the output went away (closed terminal, full disk): keep the gateway up
                with self._lock:
                    self._lines.clear()


class _BufferedLogger:
    """The structlog logger that hands each rendered line to the writer."""

    def __init__(self, writer: BufferedLineWriter) -> None:
        self._writer = writer

    def msg(self, message: bytes) -> None:
        self._writer.write_line(message + b"\n")

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def configure_logging(level: str = "info", file: str | None = None, stream: Any = None) -> BufferedLineWriter:
    """Send every structlog event as one JSON object per line to ``file`` (appended) or ``stream`` (stdout)."""
    if level not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}, got {level!r}")
    if file:
        output: BinaryIO = open(file, "ab")  # noqa: SIM115 - lives as long as the process
    else:
        output = (stream or sys.stdout).buffer if hasattr(stream or sys.stdout, "buffer") else sys.stdout.buffer
    writer = BufferedLineWriter(output)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=lambda *args: _BufferedLogger(writer),
        cache_logger_on_first_use=True,
    )
    return writer
