"""The hot-path modules run compiled where the install could compile them, and the same
code runs as plain Python where it could not (setup.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import orbitmq.broker.send_lane
import orbitmq.store.send_batch

ROOT = Path(__file__).resolve().parents[3]
# A short subset that covers the compiled modules' code (store, codecs, send lane).
FALLBACK_TESTS = [
    "tests/unit/store",
    "tests/unit/protocol",
    "tests/unit/remoting",
    "tests/unit/broker/test_send_lane.py",
    "tests/unit/broker/test_query.py",
]


def _compiler_available() -> bool:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is not None


@pytest.mark.skipif(
    os.environ.get("ORBITMQ_PURE_PYTHON") == "1" or not _compiler_available(),
    reason="pure-Python install (ORBITMQ_PURE_PYTHON=1 or no C compiler)",
)
def test_hot_path_modules_are_compiled() -> None:
    for module in (orbitmq.broker.send_lane, orbitmq.store.send_batch):
        assert module.__file__ is not None and module.__file__.endswith(".so"), (
            f"{module.__name__} runs from {module.__file__}: run `bash scripts/setup.sh`"
        )


@pytest.mark.slow
def test_subset_passes_on_the_pure_python_fallback(tmp_path: Path) -> None:
    """The package without its compiled modules (as installed without a compiler)."""
    ignore = shutil.ignore_patterns("*.so", "__pycache__", "*.c")
    shutil.copytree(ROOT / "orbitmq", tmp_path / "orbitmq", ignore=ignore)
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "ORBITMQ_PURE_PYTHON": "1"}
    probe = subprocess.run(
        [sys.executable, "-c", "import orbitmq.broker.send_lane as m; print(m.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == str(tmp_path / "orbitmq/broker/send_lane.py")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *FALLBACK_TESTS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
