"""Checks for every test run."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "orbitmq"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Python imports a compiled module in preference to its .py file, so a module
    edited since `scripts/setup.sh` compiled it would be tested as it was before."""
    stale = [
        str(compiled.relative_to(PACKAGE.parent))
        for compiled in PACKAGE.rglob("*.so")
        if (source := compiled.with_name(compiled.name.split(".")[0] + ".py")).exists()
        and source.stat().st_mtime > compiled.stat().st_mtime
    ]
    if stale:
        pytest.exit(
            f"compiled modules older than their source: {', '.join(stale)}; "
            "run `bash scripts/setup.sh` to rebuild them",
            returncode=4,
        )
