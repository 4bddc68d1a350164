"""Every crash the fuzzers ever found, replayed: tests/fuzz/corpus/<target>/<file>.

A file is the minimised input of one finding, named for what it broke; the folder is the
target (tests/fuzz/targets.py) it is fed to. The seeds (seeds.py) are replayed too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.seeds import seeds
from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).resolve().parent / "corpus"
_FILES = sorted(path for path in CORPUS.glob("*/*") if path.is_file())


def test_corpus_folders_name_targets() -> None:
    unknown = {path.parent.name for path in _FILES} - set(TARGETS)
    assert not unknown, f"corpus folders without a target: {sorted(unknown)}"


@pytest.mark.parametrize("path", _FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_crash_stays_fixed(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_decode(name: str) -> None:
    for seed in seeds(name):
        TARGETS[name](seed)
