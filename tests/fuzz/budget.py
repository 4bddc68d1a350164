"""The CI budget of the fuzz tests (docs/fuzzing.md).

Every Hypothesis test here runs `ORBITMQ_FUZZ_EXAMPLES` examples (default 200; the whole
folder then takes well under a minute on one core). Raise it for a longer local run
(`ORBITMQ_FUZZ_EXAMPLES=100000 pytest tests/fuzz`), or use the coverage-guided Atheris
runs (scripts/fuzz.sh). No example database: CI stays reproducible; a failure prints the
input to add to tests/fuzz/corpus/.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("ORBITMQ_FUZZ_EXAMPLES", "200"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a slow example is judged by pytest-timeout, not by Hypothesis
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
