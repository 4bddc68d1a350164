"""Self-tests of the C++ client harness that need no OrbitMQ server.

They prove that the isolated venv builds, that cpp_driver.py runs on the real librocketmq,
and that failures (nothing listening, a server that never answers) come back quickly as
clear errors instead of hangs.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from cpp_harness import (
    EXIT_ERROR,
    EXIT_HUNG,
    EXIT_MISSING,
    CppClientError,
    run_cpp,
)


@pytest.fixture
def closed_addr() -> str:
    """host:port where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def silent_addr():
    """host:port that accepts TCP connections (kernel backlog) but never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


def test_venv_has_the_cpp_client(cpp_python):
    info = run_cpp(cpp_python, "info", timeout=30)
    assert info[0]["rocketmq_version"] == "0.4.4"
    venv = Path(cpp_python).parent.parent
    assert Path(info[0]["client_file"]).is_relative_to(venv)
    assert Path(info[0]["library"]).name == "librocketmq.so"


def test_produce_without_server_fails_fast_and_clearly(cpp, closed_addr):
    t0 = time.monotonic()
    run = cpp.result(
        "produce",
        "--namesrv",
        closed_addr,
        "--topic",
        "CompatNoServer",
        "--group",
        "PID_COMPAT",
        "--count",
        "2",
        timeout=60,
    )
    assert time.monotonic() - t0 < 20
    assert run.returncode == EXIT_ERROR, run.describe()
    assert run.records == []
    assert "No route info of this topic: CompatNoServer" in run.stderr
    # The library's own log is found and tells the real story.
    assert "can not connect to server" in run.log_tail()


def test_run_cpp_error_carries_stderr_and_library_log(cpp_python, closed_addr, tmp_path):
    with pytest.raises(CppClientError) as excinfo:
        run_cpp(
            cpp_python,
            "produce",
            "--namesrv",
            closed_addr,
            "--topic",
            "CompatNoServer",
            "--count",
            "1",
            timeout=60,
            home=tmp_path,
        )
    text = str(excinfo.value)
    assert "exited with 1" in text
    assert "No route info of this topic" in text
    assert "librocketmq log tail" in text and "can not connect to server" in text


def test_pull_without_server_reports_missing_queues(cpp, closed_addr):
    run = cpp.result("pull", "--namesrv", closed_addr, "--topic", "CompatNoServer", timeout=60)
    assert run.returncode == EXIT_MISSING, run.describe()
    assert "no message queues for topic 'CompatNoServer'" in run.stderr


def test_consume_without_server_times_out_with_exit_2(cpp, closed_addr):
    proc = cpp.start(
        "consume",
        "--namesrv",
        closed_addr,
        "--topic",
        "CompatNoServer",
        "--group",
        "GID_COMPAT",
        "--expect",
        "1",
        "--timeout",
        "2",
    )
    proc.wait_started(timeout=15)
    with pytest.raises(CppClientError, match="received 0 of 1 distinct messages"):
        proc.result(timeout=60)
    assert proc.wait().returncode == EXIT_MISSING
    assert proc.wait().elapsed < 30


def test_driver_watchdog_stops_a_client_stuck_on_a_silent_server(cpp, silent_addr):
    # A name server that never answers makes send_sync block for ~50 s (10 route
    # requests x 5 s); the driver's watchdog must cut that short.
    t0 = time.monotonic()
    run = cpp.result(
        "produce",
        "--namesrv",
        silent_addr,
        "--topic",
        "CompatSilent",
        "--count",
        "1",
        "--timeout",
        "3",
        timeout=60,
    )
    assert run.returncode == EXIT_HUNG, run.describe()
    assert "watchdog" in run.stderr
    assert time.monotonic() - t0 < 20
