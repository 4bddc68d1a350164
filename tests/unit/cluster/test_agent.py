"""The host agent on this machine: start, status, logs, configs and stop of real server
processes under a home directory (run/NAME.properties, run/NAME.pid, logs/NAME.log),
and the log filter behind `orbitmq cluster logs --since`."""

from __future__ import annotations

import datetime
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from orbitmq.cluster import agent
from orbitmq.cluster.agent import INSTALLED_WHEEL, _read_log, handle
from orbitmq.cluster.processes import is_running
from tests.processes import free_port

NAME = "namesrv-x"
# The agent lets go of the Popen of every process it started (they outlive it, detached);
# run in this process, as on the controller's own machine, Popen.__del__ says so.
def _namesrv(home: Path, port: int, name: str = NAME) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "namesrv",
        "properties": {
            "listenPort": str(port),
            "kvConfigPath": str(home / name / "kvConfig.json"),
        },
        "ports": [port],
    }


def _start(home: Path, *processes: dict[str, Any], timeout: float = 30) -> list[dict[str, Any]]:
    return handle(
        {"op": "start", "home": str(home), "timeout": timeout, "processes": list(processes)}
    )


def _stop(home: Path, *names: str) -> list[dict[str, Any]]:
    return handle({"op": "stop", "home": str(home), "names": list(names), "timeout": 10})


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A home whose processes are stopped whatever the test did."""
    path = tmp_path / "home"
    yield path
    names = [p.stem for p in (path / "run").glob("*.pid")]
    if names:
        _stop(path, *names)


@pytest.mark.slow
def test_namesrv_lifecycle(home: Path) -> None:
    port = free_port()
    [started] = _start(home, _namesrv(home, port))
    assert started["name"] == NAME and started["state"] == "started"
    pid = started["pid"]
    assert isinstance(pid, int) and pid > 0
    assert (home / "run" / f"{NAME}.pid").read_text() == f"{pid}\n"
    config = home / "run" / f"{NAME}.properties"
    assert is_running(pid, config)
    assert _listening(port)  # "started" means booted: it listens

    # A second start finds it and spawns nothing.
    assert _start(home, _namesrv(home, port)) == [{"name": NAME, "state": "running", "pid": pid}]
    assert handle({"op": "status", "home": str(home), "names": [NAME]}) == [
        {"name": NAME, "pid": pid}
    ]

    log = home / "logs" / f"{NAME}.log"
    [row] = handle({"op": "logs", "home": str(home), "names": [NAME]})
    assert row["log"] == str(log)
    assert "The Name Server boot success" in row["text"]
    assert log.read_text().startswith(row["text"])  # all of it (it may have grown since)
    [row] = handle({"op": "logs", "home": str(home), "names": [NAME], "lines": 1})
    assert "\n" not in row["text"] and row["text"] in log.read_text().splitlines()
    [row] = handle({"op": "logs", "home": str(home), "names": [NAME], "since": time.time() - 600})
    assert "The Name Server boot success" in row["text"]  # untimed line, with its line
    [row] = handle({"op": "logs", "home": str(home), "names": [NAME], "since": time.time() + 600})
    assert row["text"] == ""

    assert handle({"op": "configs", "home": str(home), "names": [NAME]}) == [
        {"name": NAME, "properties": _namesrv(home, port)["properties"]}
    ]

    # Another process on the same port is refused before it is spawned.
    [taken] = _start(home, _namesrv(home, port, "namesrv-y"))
    assert taken["state"] == "failed"
    assert taken["message"] == f"port {port} is in use by another process"
    assert not (home / "run" / "namesrv-y.properties").exists()

    assert _stop(home, NAME) == [{"name": NAME, "pid": pid, "outcome": "stopped"}]
    assert not is_running(pid, config)
    assert not (home / "run" / f"{NAME}.pid").exists()
    assert not _listening(port)
    assert handle({"op": "status", "home": str(home), "names": [NAME]}) == [
        {"name": NAME, "pid": None}
    ]
    assert _stop(home, NAME) == [{"name": NAME, "pid": None, "outcome": "not running"}]

    # Started again: a new pid, and the log is appended to, not replaced.
    [again] = _start(home, _namesrv(home, port))
    assert again["state"] == "started" and again["pid"] != pid
    assert log.read_text().count("The Name Server boot success") == 2
    assert _stop(home, NAME)[0]["outcome"] == "stopped"


@pytest.mark.slow
def test_process_exiting_at_once_is_reported_with_its_log(home: Path, tmp_path: Path) -> None:
    port = free_port()
    broker = {
        "name": "broker-bad",
        "kind": "broker",
        "properties": {
            "brokerName": "broker-bad",
            "listenPort": str(port),
            "brokerRole": "NOPE",
            "namesrvAddr": f"127.0.0.1:{free_port()}",
            "storePathRootDir": str(tmp_path / "store"),
        },
        "ports": [port - 2, port, port + 1],
    }
    [result] = _start(home, broker)
    assert result["state"] == "failed"
    assert result["message"].startswith("exited with code ")
    assert result["log"] == str(home / "logs" / "broker-bad.log")
    assert "brokerRole" in result["log_tail"] and "NOPE" in result["log_tail"]
    assert "pid" not in result
    assert not (home / "run" / "broker-bad.pid").exists()
    # The config it was started from stays, for `config-diff` and for reading.
    [row] = handle({"op": "configs", "home": str(home), "names": ["broker-bad"]})
    assert row["properties"]["brokerRole"] == "NOPE"


@pytest.mark.slow
def test_start_that_outlasts_its_timeout_leaves_the_process_to_stop(home: Path) -> None:
    port = free_port()
    [result] = _start(home, _namesrv(home, port), timeout=0)
    assert result["state"] == "failed"
    assert result["message"] == "did not finish booting in time"
    assert "log_tail" in result
    pid = result["pid"]
    # Still its pid file: a later stop (or start) finds it.
    assert handle({"op": "status", "home": str(home), "names": [NAME]}) == [
        {"name": NAME, "pid": pid}
    ]
    assert _stop(home, NAME)[0] == {"name": NAME, "pid": pid, "outcome": "stopped"}


def test_port_in_use_is_refused_without_spawning(home: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        [result] = _start(home, _namesrv(home, port))
    assert result == {
        "name": NAME,
        "state": "failed",
        "message": f"port {port} is in use by another process",
    }
    assert not (home / "run").exists() and not (home / "logs").exists()


def test_a_pid_file_naming_another_process_is_not_ours(home: Path) -> None:
    """A reused pid: alive, but not started from NAME's config. Never signalled."""
    other = subprocess.Popen(["sleep", "30"])
    try:
        (home / "run").mkdir(parents=True)
        (home / "run" / f"{NAME}.pid").write_text(f"{other.pid}\n")
        assert handle({"op": "status", "home": str(home), "names": [NAME]}) == [
            {"name": NAME, "pid": None}
        ]
        assert _stop(home, NAME) == [{"name": NAME, "pid": None, "outcome": "not running"}]
        assert not (home / "run" / f"{NAME}.pid").exists()
        assert other.poll() is None  # untouched
    finally:
        other.kill()
        other.wait()


def test_garbage_pid_file_is_not_running(home: Path) -> None:
    (home / "run").mkdir(parents=True)
    (home / "run" / f"{NAME}.pid").write_text("not a pid\n")
    assert handle({"op": "status", "home": str(home), "names": [NAME]}) == [
        {"name": NAME, "pid": None}
    ]


def test_never_started_names(home: Path) -> None:
    names = ["a", "b"]
    assert handle({"op": "status", "home": str(home), "names": names}) == [
        {"name": "a", "pid": None},
        {"name": "b", "pid": None},
    ]
    assert handle({"op": "configs", "home": str(home), "names": names}) == [
        {"name": "a", "properties": None},
        {"name": "b", "properties": None},
    ]
    assert handle({"op": "logs", "home": str(home), "names": ["a"], "lines": 5}) == [
        {"name": "a", "log": str(home / "logs" / "a.log"), "text": ""}
    ]


def test_hello_reports_the_installed_wheel(home: Path) -> None:
    answer = handle({"op": "hello", "home": str(home)})
    assert answer["home"] == str(home)
    assert answer["wheel_sha256"] is None
    assert answer["python"] == sys.version.split()[0]
    assert isinstance(answer["version"], str) and answer["version"]
    assert abs(answer["time"] - time.time()) < 60
    (home / INSTALLED_WHEEL).parent.mkdir(parents=True)
    (home / INSTALLED_WHEEL).write_text("ab" * 32 + "\n")
    assert handle({"op": "hello", "home": str(home)})["wheel_sha256"] == "ab" * 32


def test_home_with_tilde_is_the_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert handle({"op": "hello", "home": "~/orbitmq"})["home"] == str(tmp_path / "orbitmq")


def test_unknown_operation_is_refused(home: Path) -> None:
    with pytest.raises(ValueError, match="unknown agent operation 'reboot'"):
        handle({"op": "reboot", "home": str(home)})
    with pytest.raises(ValueError, match="unknown agent operation None"):
        handle({"home": str(home)})


def _main(monkeypatch: pytest.MonkeyPatch, request: dict[str, Any]) -> Any:
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(orjson.dumps(request))))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    agent.main()
    return orjson.loads(out.getvalue())


def test_main_answers_one_json_request(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    answer = _main(monkeypatch, {"op": "status", "home": str(home), "names": ["a"]})
    assert answer == {"ok": True, "result": [{"name": "a", "pid": None}]}
    answer = _main(monkeypatch, {"op": "reboot", "home": str(home)})
    assert answer == {"ok": False, "error": "ValueError: unknown agent operation 'reboot'"}


# _read_log: logging's "%(asctime)s %(levelname)s %(name)s - %(message)s", local time.
T0 = datetime.datetime(2024, 5, 1, 10, 0, 0)


def _stamp(seconds: float, millis: int = 0) -> str:
    when = T0 + datetime.timedelta(seconds=seconds)
    return f"{when:%Y-%m-%d %H:%M:%S},{millis:03d}"


def _at(seconds: float) -> float:
    return (T0 + datetime.timedelta(seconds=seconds)).timestamp()


LOG_LINES = [
    "starting (printed before logging is set up)",
    f"{_stamp(0)} INFO orbitmq.broker - first",
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "KeyError: 'first'",
    f"{_stamp(60, 250)} WARNING orbitmq.store - second",
    "Traceback (most recent call last):",
    "ValueError: second",
    f"{_stamp(120)} INFO orbitmq.broker - third",
    "The broker boot success",
]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "broker.log"
    path.write_text("\n".join(LOG_LINES) + "\n")
    return path


def test_read_log_whole_and_last_lines(log: Path) -> None:
    assert _read_log(log, 0, None) == "\n".join(LOG_LINES)
    assert _read_log(log, 2, None) == "\n".join(LOG_LINES[-2:])
    assert _read_log(log, 100, None) == "\n".join(LOG_LINES)


def test_read_log_since_keeps_untimed_lines_with_their_line(log: Path) -> None:
    # From the second line on: its traceback comes along, the first one's does not.
    assert _read_log(log, 0, _at(60)) == "\n".join(LOG_LINES[5:])
    assert _read_log(log, 0, _at(30)) == "\n".join(LOG_LINES[5:])
    assert _read_log(log, 0, _at(61)) == "\n".join(LOG_LINES[8:])
    assert _read_log(log, 0, _at(0)) == "\n".join(LOG_LINES[1:])
    assert _read_log(log, 0, _at(120)) == "\n".join(LOG_LINES[8:])
    assert _read_log(log, 0, _at(121)) == ""


def test_read_log_since_then_last_lines(log: Path) -> None:
    assert _read_log(log, 3, _at(30)) == "\n".join(LOG_LINES[7:])
    assert _read_log(log, 1, _at(0)) == LOG_LINES[-1]


def test_read_log_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert _read_log(tmp_path / "nope.log", 10, None) == ""
    assert _read_log(tmp_path / "nope.log", 0, time.time()) == ""


def test_logs_operation_filters_like_read_log(home: Path, log: Path) -> None:
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "broker-a.log").write_text(log.read_text())
    request = {"op": "logs", "home": str(home), "names": ["broker-a"], "since": _at(60)}
    [row] = handle({**request, "lines": 2})
    assert row["text"] == "\n".join(LOG_LINES[-2:])
    [row] = handle(request)  # no "lines": all of them
    assert row["text"] == "\n".join(LOG_LINES[5:])


def test_read_log_since_honours_milliseconds(log: Path) -> None:
    assert _read_log(log, 0, _at(60.1)) == "\n".join(LOG_LINES[5:])
