"""Browser tests of the web console: a real 2m-2s cluster (NameServer, two masters, two
slaves, from conf/2m-2s-async), `orbitmq dashboard` as its own process, and Debian's
Chromium driven by Playwright. A page that logs a JavaScript error fails its test.

Fixtures are per worker (pytest-xdist runs test files whole), and shared by the tests of
a worker: each test uses topics and groups of its own names.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from orbitmq.client import ConsumeStatus, MessageExt, SyncAdmin
from orbitmq.client.sync import SyncPushConsumer
from tests.integration.test_two_masters_two_slaves import (
    TwoMastersTwoSlaves,
    start_two_masters_two_slaves,
)
from tests.processes import ServerProcess, free_port

CHROMIUM = "/usr/bin/chromium"
DOCS_CONSOLE = Path(__file__).resolve().parents[2] / "docs" / "console"
CONSOLE_BOOT = "The console boot success"
MASTERS = ("broker-a", "broker-b")

pytestmark = pytest.mark.slow
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Run `coro` to the end on a thread of its own: Playwright's sync API keeps an event
    loop running in the test's thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout)


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = 15.0, interval: float = 0.3
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(interval)


@dataclass
class ConsoleCluster:
    cluster: TwoMastersTwoSlaves
    console: ServerProcess
    url: str
    home: Path

    @property
    def namesrv_addr(self) -> str:
        return self.cluster.namesrv_addr


def create_on_masters(cluster: ConsoleCluster, topic: str, queues: int = 2) -> None:
    """`topic` on both masters, from a blocking client on its own loop thread: Playwright's
    sync API owns the test thread's loop."""
    with SyncAdmin(cluster.namesrv_addr) as admin:
        for name in MASTERS:
            admin.create_topic(cluster.cluster.master(name).addr, topic, queues, queues)


def start_consumer(
    cluster: ConsoleCluster,
    group: str,
    topic: str,
    seen: list[MessageExt],
    status: ConsumeStatus = ConsumeStatus.CONSUME_SUCCESS,
    **options: Any,
) -> SyncPushConsumer:
    """A running push consumer of `topic` from its first offset that adds what it is
    given to `seen` and answers `status`."""
    lock = threading.Lock()

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        with lock:
            seen.extend(msgs)
        return status

    running = SyncPushConsumer(
        group, cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET", **options
    )
    running.subscribe(topic)
    running.register_message_listener(listener)
    running.start()
    return running


def start_console(
    home: Path, namesrv_addr: str, *, host: str = "127.0.0.1", extra: tuple[str, ...] = ()
) -> tuple[ServerProcess, str]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "orbitmq",
        "dashboard",
        "-n",
        namesrv_addr,
        "--host",
        host,
        "--port",
        str(port),
        "--home",
        str(home),
        "--collect-interval",
        "2",
        *extra,
    ]
    process = ServerProcess(argv, CONSOLE_BOOT, f"console:{port}")
    process.wait_booted()
    return process, f"http://{host}:{port}"


@pytest.fixture(scope="session")
def console_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleCluster]:
    workdir = tmp_path_factory.mktemp("console-2m2s")
    cluster = start_two_masters_two_slaves(workdir, "2m-2s-async")
    try:
        console, url = start_console(workdir / "home", cluster.namesrv_addr)
        try:
            yield ConsoleCluster(cluster, console, url, workdir / "home")
        finally:
            console.stop()
    finally:
        cluster.stop()


# Per module, not per session: while Playwright's sync API is open, its event loop runs in
# this thread, and pytest-asyncio tests of other files on the same worker could not run.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh --test installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser page that records JavaScript errors; the test fails on any."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
    assert not errors, "JavaScript errors on the page:\n" + "\n".join(errors)


def screenshot(page: object, name: str) -> Path:
    """Save docs/console/NAME.png (docs/console.md shows them, so they stay true)."""
    DOCS_CONSOLE.mkdir(parents=True, exist_ok=True)
    path = DOCS_CONSOLE / f"{name}.png"
    tmp = path.with_suffix(".tmp.png")
    page.screenshot(path=str(tmp), full_page=False)  # type: ignore[attr-defined]
    shutil.move(tmp, path)
    return path
