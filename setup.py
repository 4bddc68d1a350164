"""Build hooks: generate the RocketMQ 5 gRPC stubs (scripts/grpc_stubs.py) and compile
the hot-path modules with Cython when a C compiler is there.

Each listed module is ordinary Python (the one source of truth); Cython compiles it as
it is into an extension module that Python imports instead of the .py file. Without
Cython, without a compiler, or with ORBITMQ_PURE_PYTHON=1 the package installs and runs
from the .py files alone (slower). Everything else is in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

# The modules every send and pull runs through (see docs/performance.md, "Profile").
COMPILED_MODULES = [
    "orbitmq.broker.send_lane",
    "orbitmq.broker.handlers.pull",
    "orbitmq.broker.headers",
    "orbitmq.store.send_batch",
    "orbitmq.store.message_store",
    "orbitmq.store.commit_log",
    "orbitmq.store.dispatch",
    "orbitmq.store.index_file",
    "orbitmq.store.index_service",
    "orbitmq.store.consume_queue",
    "orbitmq.store.mapped_file",
    "orbitmq.store.mapped_file_queue",
    "orbitmq.store.layout",
    "orbitmq.store.pull",
    "orbitmq.store.results",
    "orbitmq.protocol.command",
    "orbitmq.protocol.message",
    "orbitmq.protocol.frame",
    "orbitmq.protocol.header_json",
    "orbitmq.protocol.subscription",
    "orbitmq.remoting.connection",
    "orbitmq.remoting.dispatch",
    # Our Python client's send and consume paths.
    "orbitmq.client.transport",
    "orbitmq.client.send_codec",
    "orbitmq.client.consumer.consume",
    "orbitmq.client.consumer.process_queue",
]


class OptionalBuildExt(build_ext):
    """A failed compile leaves the pure-Python module in place instead of failing."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: the .py files still work
            _warn(f"compiled modules skipped ({exc}); OrbitMQ runs as pure Python")

    def build_extension(self, ext: Extension) -> None:
        if not self.inplace and _copy_compiled_in_place(ext, self.get_ext_fullpath(ext.name)):
            return
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"{ext.name} not compiled ({exc}); its .py file is used")


class BuildPyWithStubs(build_py):
    """orbitmq/proxy/apis is generated, not committed: make it before packaging."""

    def run(self) -> None:
        script = Path(__file__).resolve().parent / "scripts" / "grpc_stubs.py"
        if script.is_file():
            subprocess.run([sys.executable, str(script)], check=True)
        super().run()


def _copy_compiled_in_place(ext: Extension, target: str) -> bool:
    """A wheel build (`orbitmq cluster install`) takes the module scripts/setup.sh
    compiled in place when it is newer than its .py, instead of minutes of compiling."""
    source = Path(ext.name.replace(".", "/") + ".py")
    built = source.with_name(Path(target).name)  # the same name: the same ABI suffix
    if not built.is_file() or built.stat().st_mtime < source.stat().st_mtime:
        return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(built, target)
    return True


def _warn(text: str) -> None:
    print(f"orbitmq setup: {text}", file=sys.stderr)


def _extensions() -> list[Extension]:
    if os.environ.get("ORBITMQ_PURE_PYTHON") == "1":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed; OrbitMQ runs as pure Python")
        return []
    modules = [Extension(name, [name.replace(".", "/") + ".py"]) for name in COMPILED_MODULES]
    return cythonize(
        modules,
        build_dir="build/cython",
        quiet=True,
        compiler_directives={
            "language_level": 3,
            # Annotations stay hints, as in CPython: no type checks or coercions added.
            "annotation_typing": False,
            "binding": True,
        },
    )


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithStubs},
)
