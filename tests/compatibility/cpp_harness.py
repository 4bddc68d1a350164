"""Helpers to run the official RocketMQ C++ client (PyPI ``rocketmq==0.4.4``) out of process.

The client lives in its own virtualenv built by ``scripts/cpp_client_env.sh`` and is driven
by ``cpp_driver.py`` (run with that venv's python; it never imports orbitmq). The pytest
fixtures wrapping these helpers are in ``conftest.py`` of this folder.

* ``build_cpp_env()`` -> venv python path (runs the env script; idempotent, flock-serialised).
* ``run_cpp(cpp_python, *args, timeout=60, home=None, expect_rc=0)`` -> list of JSON records
  printed by the driver; raises :class:`CppClientError` on another exit code or a timeout.
* ``run_cpp_result(...)`` -> :class:`CppRun` without checking the exit code.
* ``CppProcess`` / ``CppClient.start(...)`` -> a driver running in the background.

Every run gets a private HOME (the library writes ``$HOME/logs/rocketmq-cpp/<pid>_*.log.*``
and broadcasting offsets to ``$HOME/.rocketmq_offsets``); errors include the exit code,
stderr, stdout and the tail of the library's own log -- usually the best clue to what the
server did wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
ENV_SCRIPT = REPO_ROOT / "scripts" / "cpp_client_env.sh"
DRIVER = HERE / "cpp_driver.py"
CPP_CLIENT_VERSION = "0.4.4"
ENV_BUILD_TIMEOUT = 900.0
LOG_TAIL_LINES = 60

# Driver exit codes (see cpp_driver.py).
EXIT_OK, EXIT_ERROR, EXIT_MISSING, EXIT_HUNG, EXIT_ENV = 0, 1, 2, 3, 4


class CppClientError(AssertionError):
    """A cpp_driver run failed; the message carries all diagnostics."""


# --------------------------------------------------------------------------- environment


def _subprocess_env(home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Nothing of the project's Python environment may leak into the C++ client's venv.
    for var in (
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "VIRTUAL_ENV",
        "PYTHONSAFEPATH",
    ):
        env.pop(var, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    if home is not None:
        env["HOME"] = str(home)
    return env


def build_cpp_env(timeout: float = ENV_BUILD_TIMEOUT) -> str:
    """Run scripts/cpp_client_env.sh; return the venv python or raise CppClientError."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            ["bash", str(ENV_SCRIPT)],
            cwd=REPO_ROOT,
            env=_subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise CppClientError(
            f"{ENV_SCRIPT} did not finish within {timeout:.0f}s\n--- stderr ---\n{e.stderr}"
        ) from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise CppClientError(
            f"building the C++ client venv failed: {ENV_SCRIPT} exited {proc.returncode}\n"
            f"--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}"
        )
    python = lines[-1].strip()
    if not os.access(python, os.X_OK):
        raise CppClientError(f"{ENV_SCRIPT} printed {python!r}, which is not an executable")
    elapsed = time.monotonic() - t0
    if elapsed > 5:
        sys.stderr.write(f"[compat] C++ client venv ready in {elapsed:.1f}s: {python}\n")
    return python


# --------------------------------------------------------------------------- results


def parse_json_lines(text: str) -> list[dict]:
    """JSON objects of stdout, one per line; anything else (library noise) is skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _tail(text: str, lines: int) -> str:
    parts = text.splitlines()
    if len(parts) <= lines:
        return text
    return f"[... {len(parts) - lines} lines cut ...]\n" + "\n".join(parts[-lines:])


def cpp_log_files(home: Path, pid: int | None = None) -> list[Path]:
    log_dir = Path(home) / "logs" / "rocketmq-cpp"
    if not log_dir.is_dir():
        return []
    pattern = f"{pid}_rocketmq-cpp.log*" if pid else "*rocketmq-cpp.log*"
    return sorted(log_dir.glob(pattern), key=lambda p: (p.stat().st_mtime, p.name))


def cpp_log_tail(home: Path, pid: int | None = None, lines: int = LOG_TAIL_LINES) -> str:
    """Last ``lines`` lines of the library log of process ``pid`` (all processes if None)."""
    files = cpp_log_files(home, pid)
    if not files:
        return f"(no librocketmq log under {Path(home) / 'logs' / 'rocketmq-cpp'})"
    chunks = []
    for f in files:
        try:
            chunks.append(f.read_text(errors="replace"))
        except OSError as e:
            chunks.append(f"({f}: {e})")
    return f"[{', '.join(str(f) for f in files)}]\n" + _tail("".join(chunks), lines)


@dataclass
class CppRun:
    """Outcome of one cpp_driver invocation."""

    args: tuple[str, ...]
    returncode: int | None  # None: killed after the harness timeout
    stdout: str
    stderr: str
    home: Path
    pid: int
    elapsed: float
    timed_out: bool = False
    records: list[dict] = field(default_factory=list)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return cpp_log_tail(self.home, self.pid, lines)

    def describe(self, headline: str | None = None) -> str:
        cmd = " ".join(self.args)
        if headline is None:
            if self.timed_out:
                headline = f"cpp_driver {cmd!r} killed after {self.elapsed:.1f}s (harness timeout)"
            else:
                headline = (
                    f"cpp_driver {cmd!r} exited with {self.returncode} after {self.elapsed:.1f}s"
                )
        return (
            f"{headline}\n"
            f"--- stderr ---\n{_tail(self.stderr, 40)}\n"
            f"--- stdout ({len(self.records)} JSON records) ---\n{_tail(self.stdout, 10)}\n"
            f"--- librocketmq log tail (HOME={self.home}) ---\n{self.log_tail()}"
        )

    def check(self, expect_rc: int = EXIT_OK) -> list[dict]:
        if self.timed_out or self.returncode != expect_rc:
            extra = "" if expect_rc == EXIT_OK else f" (expected exit {expect_rc})"
            raise CppClientError(self.describe() + extra)
        return self.records


class CppProcess:
    """A cpp_driver process running in the background (e.g. a consumer while producing)."""

    def __init__(self, python: str, args: tuple[str, ...], home: Path, keep_home: bool = True):
        self.args = tuple(str(a) for a in args)
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self._keep_home = keep_home
        tag = f"{self.args[0] if self.args else 'run'}-{time.monotonic_ns()}"
        self._out_path = self.home / f"driver-{tag}.stdout"
        self._err_path = self.home / f"driver-{tag}.stderr"
        self._t0 = time.monotonic()
        with open(self._out_path, "wb") as out, open(self._err_path, "wb") as err:
            self._proc = subprocess.Popen(
                [python, "-I", str(DRIVER), *self.args],
                cwd=self.home,
                env=_subprocess_env(self.home),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        self.pid = self._proc.pid
        self._result: CppRun | None = None

    def stdout_so_far(self) -> str:
        return self._out_path.read_text(errors="replace")

    def stderr_so_far(self) -> str:
        return self._err_path.read_text(errors="replace")

    def records_so_far(self) -> list[dict]:
        return parse_json_lines(self.stdout_so_far())

    def poll(self) -> int | None:
        return self._proc.poll()

    def wait_started(self, timeout: float = 15.0) -> None:
        """Wait for the driver's ``{"event": "started"}`` line (client start() returned).

        This does not mean a consumer has rebalanced and is pulling yet; allow the server a
        moment (or observe its pulls) before producing messages a new group must see.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if '"event": "started"' in self.stderr_so_far():
                return
            if self._proc.poll() is not None:
                raise CppClientError(self.wait(0).describe("cpp_driver exited before starting"))
            time.sleep(0.05)
        raise CppClientError(self.kill().describe(f"cpp_driver not started after {timeout}s"))

    def wait(self, timeout: float = 60.0) -> CppRun:
        """Wait for exit (kill after ``timeout``); return the CppRun without checking it."""
        if self._result is not None:
            return self._result
        timed_out = False
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._proc.kill()
            self._proc.wait()
        stdout = self.stdout_so_far()
        self._result = CppRun(
            args=self.args,
            returncode=None if timed_out else self._proc.returncode,
            stdout=stdout,
            stderr=self.stderr_so_far(),
            home=self.home,
            pid=self.pid,
            elapsed=time.monotonic() - self._t0,
            timed_out=timed_out,
            records=parse_json_lines(stdout),
        )
        return self._result

    def kill(self) -> CppRun:
        if self._proc.poll() is None:
            self._proc.kill()
        return self.wait(10)

    def result(self, timeout: float = 60.0, expect_rc: int = EXIT_OK) -> list[dict]:
        """Wait, then return the JSON records or raise CppClientError."""
        return self.wait(timeout).check(expect_rc)

    def cleanup_home(self) -> None:
        if not self._keep_home:
            shutil.rmtree(self.home, ignore_errors=True)


def run_cpp_result(
    cpp_python: str, *args, timeout: float = 60.0, home: Path | None = None
) -> CppRun:
    """Run cpp_driver to completion (killed after ``timeout``); no exit-code check.

    ``home``: HOME for the client (reuse one to keep broadcasting offsets across runs);
    default: a fresh temporary directory.
    """
    keep = home is not None
    home_path = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="orbitmq-cpp-"))
    proc = CppProcess(cpp_python, tuple(str(a) for a in args), home_path, keep_home=keep)
    return proc.wait(timeout)


def run_cpp(
    cpp_python: str,
    *args,
    timeout: float = 60.0,
    home: Path | None = None,
    expect_rc: int = EXIT_OK,
) -> list[dict]:
    """Run cpp_driver; return its JSON records, raise CppClientError on another exit code.

    A private temporary HOME is used unless ``home`` is given; it is deleted after a
    successful run and kept (path in the error message) after a failure.
    """
    run = run_cpp_result(cpp_python, *args, timeout=timeout, home=home)
    records = run.check(expect_rc)
    if home is None:
        shutil.rmtree(run.home, ignore_errors=True)
    return records


class CppClient:
    """Per-test front end: HOMEs under tmp_path, background processes reaped at teardown."""

    def __init__(self, python: str, base: Path):
        self.python = python
        self.base = Path(base)
        self._procs: list[CppProcess] = []
        self._n = 0

    def new_home(self) -> Path:
        self._n += 1
        home = self.base / f"home{self._n}"
        home.mkdir(parents=True, exist_ok=True)
        return home

    def result(self, *args, timeout: float = 60.0, home: Path | None = None) -> CppRun:
        return run_cpp_result(self.python, *args, timeout=timeout, home=home or self.new_home())

    def run(
        self, *args, timeout: float = 60.0, home: Path | None = None, expect_rc: int = EXIT_OK
    ) -> list[dict]:
        return self.result(*args, timeout=timeout, home=home).check(expect_rc)

    def start(self, *args, home: Path | None = None) -> CppProcess:
        proc = CppProcess(self.python, tuple(str(a) for a in args), home or self.new_home())
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
