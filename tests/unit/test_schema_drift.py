"""schema.graphql is what the code serves: the CLI and the console plugin are written against it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from strawberry.printer import print_schema

from gateway.schema.root import schema

ROOT = Path(__file__).resolve().parents[2]
FIX = "run `strawberry export-schema gateway.schema.root:schema > schema.graphql` and review the change"


def test_checked_in_sdl_matches_the_code() -> None:
    assert print_schema(schema) + "\n" == (ROOT / "schema.graphql").read_text(), FIX


def test_strawberry_cli_exports_the_same() -> None:
    exe = shutil.which("strawberry", path=str(Path(sys.executable).parent))
    assert exe, "the strawberry CLI is installed with the dev extras"
    out = subprocess.run(
        [exe, "export-schema", "gateway.schema.root:schema"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout == (ROOT / "schema.graphql").read_text(), FIX
