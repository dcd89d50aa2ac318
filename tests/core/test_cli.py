"""The command line answers at once (no heavy imports) and says what is wrong with a configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_help_lists_the_commands_without_importing_numba_or_the_server() -> None:
    probe = run("-c", "import sys; from gateway.cli import main\n"
                      "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                      "print('HEAVY', sorted(m for m in ('numba', 'numpy', 'aiohttp', 'pandas') if m in sys.modules))")
    assert probe.returncode == 0, probe.stderr
    for command in ("serve", "demo", "tca", "sim-venue", "reconcile", "check-config"):
        assert command in probe.stdout
    assert "HEAVY []" in probe.stdout


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[instruments]]\nsymbol = "X"\nprice_precision = 2\ntick_size = "0.01"\nreference_price = "1.005"\n')
    result = run("-m", "gateway.cli", "check-config", str(bad))
    assert result.returncode == 2
    assert "instruments[0].reference_price" in result.stderr
