"""Import OrbitMQ from its .py sources even where scripts/setup.sh compiled them.

setup.py compiles the hot-path modules (COMPILED_MODULES) with Cython in place, and
Python prefers the extension module to the .py beside it. Atheris instruments Python
bytecode only, so a compiled decoder would be fuzzed blind (no coverage feedback). The
long runs (`python -m tests.fuzz`) therefore call `prefer_sources()` before anything
imports orbitmq; the CI tests (tests/fuzz/test_*.py) fuzz what production runs, the
compiled modules, unless ORBITMQ_FUZZ_SOURCES=1 is set for a run of tests/fuzz alone.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType


class _SourceFirstFinder(importlib.abc.MetaPathFinder):
    """For `orbitmq.*` modules, the .py file wins over a compiled one beside it."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("orbitmq.") or path is None:
            return None
        name = fullname.rpartition(".")[2]
        for entry in path:
            spec = importlib.util.spec_from_file_location(fullname, f"{entry}/{name}.py")
            if spec is not None and spec.origin is not None:
                try:
                    with open(spec.origin, "rb"):
                        return spec
                except OSError:
                    continue
        return None  # a package or a module without a .py: the normal finders decide


def prefer_sources() -> None:
    """Make later imports of orbitmq modules load their .py files.

    Raises:
        RuntimeError: a compiled orbitmq module is already imported (too late).
    """
    compiled = [
        name
        for name, module in sys.modules.items()
        if name.startswith("orbitmq.") and str(getattr(module, "__file__", "")).endswith(".so")
    ]
    if compiled:
        raise RuntimeError(f"compiled modules already imported: {', '.join(sorted(compiled))}")
    if not any(isinstance(f, _SourceFirstFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirstFinder())
