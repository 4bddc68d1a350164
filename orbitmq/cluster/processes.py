"""Detached server processes found again through pid files (any shell can stop them).

A pid alone could name an unrelated process once ours is gone and the number reused, so
a process counts as ours only while its command line still holds its config path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["can_bind", "is_running", "log_tail", "read_pid", "spawn", "terminate"]


def spawn(kind: str, config: Path, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """`python -m orbitmq KIND -c CONFIG` in its own session, output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orbitmq", kind, "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # Own session: Ctrl-C in the starting shell, or that shell exiting, leaves it be.
            start_new_session=True,
        )


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def is_running(pid: int, config: Path) -> bool:
    """Alive, not a zombie, and started from `config` (Linux /proc)."""
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and os.fsencode(str(config)) in argv


def terminate(pids: dict[int, Path], timeout: float) -> list[int]:
    """SIGTERM every pid, wait for all to exit, SIGKILL those still alive after `timeout`.

    Returns:
        The pids that had to be killed.
    """
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    alive = dict(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {p: c for p, c in alive.items() if is_running(p, c)}
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 5
    while any(is_running(p, c) for p, c in alive.items()) and time.monotonic() < kill_deadline:
        time.sleep(0.05)
    return list(alive)


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    return "\n".join(text.splitlines()[-lines:])


def can_bind(host: str, port: int = 0) -> bool:
    """Whether a server could listen on host:port here (port 0: whether `host` is an
    address of this machine)."""
    with socket.socket() as sock:
        # As asyncio servers do, so a port held only by TIME_WAIT sockets counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
