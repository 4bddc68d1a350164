"""Long, coverage-guided fuzzing with Atheris (libFuzzer), on demand.

    python -m tests.fuzz TARGET [libFuzzer flags...]      # e.g. -max_total_time=600
    python -m tests.fuzz --list

scripts/fuzz.sh runs every target in turn for a given number of seconds. The orbitmq
modules are loaded from their .py sources (pure.py), because Atheris instruments Python
bytecode and the Cython-compiled modules would give it no coverage; the CI tests fuzz the
compiled build. The run starts from tests/fuzz/corpus/TARGET (the crashes found so far)
plus a few valid inputs (seeds.py) and keeps what it learns in
.fuzz/corpus/TARGET (not committed); a crash is written to .fuzz/crashes/TARGET/ for
minimising (`-minimize_crash=1`) and adding to tests/fuzz/corpus/TARGET/.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from tests.fuzz.pure import prefer_sources

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    prefer_sources()  # before tests.fuzz.targets imports any orbitmq module
    # Bad frames are logged ("closing connection ..."): millions of lines otherwise.
    logging.disable(logging.CRITICAL)
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import TARGETS

    if len(argv) < 2 or argv[1] in ("-h", "--help", "--list"):
        print("targets:", " ".join(TARGETS))
        return 0 if len(argv) >= 2 else 2
    name, flags = argv[1], argv[2:]
    if name not in TARGETS:
        print(f"unknown target {name!r}; targets: {' '.join(TARGETS)}", file=sys.stderr)
        return 2
    try:
        import atheris
    except ImportError:
        print(
            "Atheris is not installed: pip install -e '.[fuzz]' (or run the Hypothesis "
            "targets: pytest tests/fuzz with ORBITMQ_FUZZ_EXAMPLES=100000)",
            file=sys.stderr,
        )
        return 2

    work = ROOT / ".fuzz" / "corpus" / name
    crashes = ROOT / ".fuzz" / "crashes" / name
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds(name)):
        (work / f"seed-{i}").write_bytes(seed)
    regression = ROOT / "tests" / "fuzz" / "corpus" / name
    dirs = [str(work)] + ([str(regression)] if regression.is_dir() else [])

    # Import everything the target touches now, so that instrument_all covers it.
    target = TARGETS[name]
    for seed in seeds(name)[:1]:
        with contextlib.suppress(Exception):
            target(seed)
    atheris.instrument_all()
    libfuzzer_argv = [
        argv[0],
        *flags,
        f"-artifact_prefix={crashes}/",
        "-timeout=10",  # a hang is a finding too
        "-rss_limit_mb=2048",  # so is an allocation sized by a length field
        *dirs,
    ]
    atheris.Setup(libfuzzer_argv, target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
