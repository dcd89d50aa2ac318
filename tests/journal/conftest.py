"""Fixtures of the journal tests: a journaled gateway on a SimClock whose venue outlives the gateway's crashes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:  # pytest runs with --import-mode=importlib: make the helpers beside these tests importable
    sys.path.insert(0, HERE)

from journal_helpers import JournaledWorld


@pytest.fixture
def journaled_world(tmp_path: Path) -> Iterator[Callable[..., JournaledWorld]]:
    worlds: list[JournaledWorld] = []

    def build(**options: Any) -> JournaledWorld:
        world = JournaledWorld(tmp_path / f"journal{len(worlds)}", **options)
        worlds.append(world)
        return world

    yield build
    for world in worlds:
        world.close()
