"""tests/fuzz fuzzes the compiled modules production runs; ORBITMQ_FUZZ_SOURCES=1 makes
a run of this folder alone load the .py sources instead (pure.py)."""

from __future__ import annotations

import os

if os.environ.get("ORBITMQ_FUZZ_SOURCES") == "1":
    from tests.fuzz.pure import prefer_sources

    prefer_sources()
