"""What `orbitmq cluster` does on one host: start, find, stop and read the processes of a
plan, kept under that host's OrbitMQ home.

On a remote host it runs as `HOME/venv/bin/python -m orbitmq.cluster.agent` (over ssh,
remote.py), reading one JSON request on stdin and writing one JSON answer on stdout; on
this machine control.py calls `handle` directly. Either way the host keeps the state: so
any shell, on any machine, finds the same processes again. Layout under HOME:

    run/NAME.properties   the config NAME was started from (rendered by the controller)
    run/NAME.pid          its pid, written as soon as it is spawned
    logs/NAME.log         its output, appended across runs

A pid counts as NAME's only while its command line holds NAME's config path
(processes.is_running), so a stop never signals a process it did not start.
"""

from __future__ import annotations

import contextlib
import datetime
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import javaproperties
import orjson

from orbitmq.cluster.processes import (
    can_bind,
    is_running,
    log_tail,
    read_pid,
    spawn,
    terminate,
)

__all__ = ["BOOT_MARKERS", "INSTALLED_WHEEL", "handle"]

# What each server prints once it listens (orbitmq/cli.py).
BOOT_MARKERS = {
    "namesrv": b"The Name Server boot success",
    "broker": b"boot success",
    "dashboard": b"The console boot success",
}
INSTALLED_WHEEL = "venv/orbitmq-wheel.sha256"  # under HOME, written by `cluster install`
_LOG_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # logging's asctime, up to the comma
# Servers outlive the call that spawned them: their Popen objects are kept, not dropped
# while running (which warns), when the agent runs inside the controller.
_DETACHED: list[subprocess.Popen[bytes]] = []


class _Layout:
    def __init__(self, home: str) -> None:
        self.home = Path(home).expanduser()

    def config(self, name: str) -> Path:
        return self.home / "run" / f"{name}.properties"

    def pid(self, name: str) -> Path:
        return self.home / "run" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def running_pid(self, name: str) -> int | None:
        pid = read_pid(self.pid(name))
        return pid if pid is not None and is_running(pid, self.config(name)) else None


def _write_config(path: Path, properties: dict[str, str], origin: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        javaproperties.dump(properties, fh, comments=f" written by {origin}", timestamp=False)


def _booted(log: Path, kind: str, log_start: int) -> bool:
    with open(log, "rb") as fh:
        fh.seek(log_start)
        return BOOT_MARKERS[kind] in fh.read()


def _start(layout: _Layout, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Spawn every process not running yet, then wait for each to print its boot line."""
    results: dict[str, dict[str, Any]] = {}
    waiting: dict[str, tuple[Any, str, int]] = {}
    for process in request["processes"]:
        name = process["name"]
        pid = layout.running_pid(name)
        if pid is not None:
            results[name] = {"name": name, "state": "running", "pid": pid}
            continue
        taken = [port for port in process["ports"] if not can_bind("0.0.0.0", port)]
        if taken:
            results[name] = {
                "name": name,
                "state": "failed",
                "message": f"port {taken[0]} is in use by another process",
            }
            continue
        config = layout.config(name)
        _write_config(config, process["properties"], request.get("origin", "orbitmq cluster"))
        log = layout.log(name)
        log_start = log.stat().st_size if log.exists() else 0
        child = spawn(process["kind"], config, log, layout.home)
        _DETACHED.append(child)
        layout.pid(name).write_text(f"{child.pid}\n")
        waiting[name] = (child, process["kind"], log_start)
        results[name] = {"name": name, "state": "started", "pid": child.pid}
    deadline = time.monotonic() + float(request.get("timeout", 60.0))
    while waiting:
        for name, (child, kind, log_start) in list(waiting.items()):
            if _booted(layout.log(name), kind, log_start):
                del waiting[name]
            elif (code := child.poll()) is not None:
                del waiting[name]
                layout.pid(name).unlink(missing_ok=True)
                results[name] = _failed(layout, name, f"exited with code {code} while starting")
        if waiting and time.monotonic() > deadline:
            for name in waiting:
                results[name] = {
                    **_failed(layout, name, "did not finish booting in time"),
                    "pid": waiting[name][0].pid,
                }
            break
        time.sleep(0.05)
    return list(results.values())


def _failed(layout: _Layout, name: str, message: str) -> dict[str, Any]:
    log = layout.log(name)
    return {
        "name": name,
        "state": "failed",
        "message": message,
        "log": str(log),
        "log_tail": log_tail(log),
    }


def _status(layout: _Layout, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "pid": layout.running_pid(name)} for name in request["names"]]


def _stop(layout: _Layout, request: dict[str, Any]) -> list[dict[str, Any]]:
    """SIGTERM the named processes together; SIGKILL what outlives the timeout."""
    pids: dict[int, str] = {}
    results = []
    for name in request["names"]:
        pid = layout.running_pid(name)
        if pid is None:
            layout.pid(name).unlink(missing_ok=True)
            results.append({"name": name, "pid": None, "outcome": "not running"})
        else:
            pids[pid] = name
    killed = terminate(
        {pid: layout.config(name) for pid, name in pids.items()}, float(request["timeout"])
    )
    for pid, name in pids.items():
        outcome = "killed" if pid in killed else "stopped"
        if is_running(pid, layout.config(name)):
            outcome = "still running"
        else:
            layout.pid(name).unlink(missing_ok=True)
        results.append({"name": name, "pid": pid, "outcome": outcome})
    return results


def _log_time(line: str) -> float | None:
    try:
        stamp = datetime.datetime.strptime(line[:19], _LOG_TIME_FORMAT)
    except ValueError:
        return None
    millis = line[20:23]
    extra = int(millis) / 1000 if line[19:20] == "," and millis.isdigit() else 0.0
    return stamp.timestamp() + extra  # the host's local time, as logging wrote it


def _read_log(path: Path, lines: int, since: float | None) -> str:
    """The last `lines` lines of the log; with `since`, only those from then on (a line
    without a timestamp, such as a traceback's, goes with the line before it)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    if since is not None:
        keep = False
        kept = []
        for line in text:
            stamp = _log_time(line)
            if stamp is not None:
                keep = stamp >= since
            if keep:
                kept.append(line)
        text = kept
    return "\n".join(text[-lines:]) if lines else "\n".join(text)


def _logs(layout: _Layout, request: dict[str, Any]) -> list[dict[str, Any]]:
    since = request.get("since")
    return [
        {
            "name": name,
            "log": str(layout.log(name)),
            "text": _read_log(layout.log(name), int(request.get("lines", 0)), since),
        }
        for name in request["names"]
    ]


def _configs(layout: _Layout, request: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for name in request["names"]:
        properties = None
        with contextlib.suppress(OSError), open(layout.config(name), encoding="utf-8") as fh:
            properties = javaproperties.load(fh)
        results.append({"name": name, "properties": properties})
    return results


def _hello(layout: _Layout, request: dict[str, Any]) -> dict[str, Any]:
    wheel = layout.home / INSTALLED_WHEEL
    return {
        "version": metadata.version("orbitmq"),
        "python": sys.version.split()[0],
        "wheel_sha256": wheel.read_text().strip() if wheel.exists() else None,
        "home": str(layout.home),
        "time": time.time(),
    }


_OPERATIONS = {
    "start": _start,
    "status": _status,
    "stop": _stop,
    "logs": _logs,
    "configs": _configs,
    "hello": _hello,
}


def handle(request: dict[str, Any]) -> Any:
    """Carry out one request ({"op": …, "home": …, …}) on this host.

    Raises:
        ValueError: an unknown operation.
    """
    operation = _OPERATIONS.get(request.get("op", ""))
    if operation is None:
        raise ValueError(f"unknown agent operation {request.get('op')!r}")
    return operation(_Layout(request["home"]), request)


def main() -> None:
    request = orjson.loads(sys.stdin.buffer.read())
    try:
        answer = {"ok": True, "result": handle(request)}
    except Exception as exc:  # reported to the controller, which names the host
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.buffer.write(orjson.dumps(answer))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
