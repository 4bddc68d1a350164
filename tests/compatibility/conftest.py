"""pytest fixtures for compatibility tests against the official RocketMQ C++ client.

Fixtures
  cpp_python  (session) python of the isolated ``rocketmq==0.4.4`` venv; if building it
              fails, the requesting test FAILS (never skips) with the script's output.
  cpp         (function) a :class:`cpp_harness.CppClient` bound to ``cpp_python`` with HOMEs
              under ``tmp_path``: ``cpp.run("produce", "--namesrv", addr, ...)`` -> records,
              ``cpp.result(...)`` -> CppRun (unchecked), ``cpp.start(...)`` -> background
              CppProcess (killed at teardown if still running).
  admin       (module) OrbitMQ's SyncAdmin on the NameServer of the module's ``cluster``
              fixture (each test module defines its own, e.g. ``scenario.cluster_fixture``).

Test modules import plain helpers from ``cpp_harness`` (``run_cpp``, ``CppClientError``,
exit codes) and the shared steps of a scenario (topics, probes, listeners) from
``scenario``. Every test in this folder is marked ``compat``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitmq.client import SyncAdmin

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # make cpp_harness importable under any --import-mode
    sys.path.insert(0, str(_HERE))

from cpp_harness import CPP_CLIENT_VERSION, CppClient, CppClientError, build_cpp_env, run_cpp  # noqa: E402


def pytest_collection_modifyitems(config, items):
    compat = pytest.mark.compat
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(compat)


@pytest.fixture(scope="session")
def cpp_python() -> str:
    """Python of the isolated rocketmq==0.4.4 venv (built once; failure fails the test)."""
    error = None
    try:
        python = build_cpp_env()
        info = run_cpp(python, "info", timeout=60)
    except CppClientError as e:
        error = str(e)
    if error is not None:
        pytest.fail(error, pytrace=False)
    if not info or info[0].get("rocketmq_version") != CPP_CLIENT_VERSION:
        pytest.fail(f"wrong C++ client in {python}: {info}", pytrace=False)
    return python


@pytest.fixture
def cpp(cpp_python, tmp_path):
    client = CppClient(cpp_python, tmp_path / "cpp")
    yield client
    client.close()


@pytest.fixture(scope="module")
def admin(cluster) -> Iterator[SyncAdmin]:
    client = SyncAdmin(cluster.namesrv_addr)
    client.start()
    try:
        yield client
    finally:
        client.shutdown()
