"""The benchmark is not run by the suite (its smoke is `make bench BENCH=--quick`), so this much of
it is: every module it runs imports, and its command line offers every section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_module_imports_and_the_command_offers_every_section() -> None:
    import bench.__main__ as bench_main

    done = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for section in bench_main.SECTIONS:
        assert section in done.stdout, (section, done.stdout)
