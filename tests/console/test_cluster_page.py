"""Cluster and OPS pages in a real browser against the 2m-2s cluster."""

from __future__ import annotations

import signal
import time

from orbitmq.client import MQAdmin
from tests.processes import free_port

from .conftest import ConsoleCluster, run_async, screenshot


async def _broker_addrs(namesrv_addr: str) -> dict[str, str]:
    async with MQAdmin(namesrv_addr) as admin:
        info = await admin.cluster_info()
    return {
        addr: f"{name}:{broker_id}"
        for name, data in info.broker_addr_table.items()
        for broker_id, addr in data.broker_addrs.items()
    }


def test_cluster_page_lists_every_broker(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    expected = run_async(_broker_addrs(console_cluster.namesrv_addr))
    assert len(expected) == 4
    page.goto(f"{console_cluster.url}/cluster")
    rows = page.locator("#brokers tbody tr")
    assert rows.count() == 4
    shown = {}
    for i in range(4):
        row = rows.nth(i)
        cells = row.locator("td")
        shown[row.get_attribute("data-addr")] = (
            f"{cells.nth(1).inner_text()}:{cells.nth(2).get_attribute('data-value')}"
        )
        assert "OrbitMQ" in cells.nth(4).inner_text()  # version from GET_BROKER_RUNTIME_INFO
    assert shown == expected
    assert page.locator("#failures").count() == 0
    screenshot(page, "cluster")

    page.locator("#brokers tbody tr").first.get_by_role("link", name="Config").click()
    config = page.locator("#broker-config")
    assert "brokerClusterName" in config.inner_text()
    page.get_by_role("link", name="Status").click()
    assert "commitLogMaxOffset" in page.locator("#broker-status").inner_text()


def test_ops_page_switches_namesrv_list(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{console_cluster.url}/ops")
    assert page.locator("#current-namesrv").inner_text() == console_cluster.namesrv_addr
    page.fill("input[name=namesrv_addr]", "not an address")
    page.get_by_role("button", name="Add and use").click()
    assert "is not host:port" in page.locator(".flash.error").inner_text()
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    page.fill("input[name=namesrv_addr]", dead)
    page.get_by_role("button", name="Add and use").click()
    try:
        assert dead in page.locator(".flash.ok").inner_text()
        page.goto(f"{console_cluster.url}/cluster")
        assert f"NameServer ({dead})" in page.locator("#failures").inner_text()
    finally:
        page.goto(f"{console_cluster.url}/ops")
        row = page.locator("#namesrv-choices tr", has_text=console_cluster.namesrv_addr)
        row.get_by_role("button", name="Use").click()
    assert page.locator("#current-namesrv").inner_text() == console_cluster.namesrv_addr
    page.goto(f"{console_cluster.url}/cluster")
    assert page.locator("#brokers tbody tr").count() == 4


def test_a_hung_broker_is_named_not_waited_for(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    """SIGSTOP keeps the slave's connections open but silent: worse than a dead broker."""
    slave = console_cluster.cluster.slave("broker-b")
    assert slave.process is not None
    slave.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        page.goto(f"{console_cluster.url}/cluster")
        elapsed = time.monotonic() - started
        failures = page.locator("#failures").inner_text()
    finally:
        slave.process.send_signal(signal.SIGCONT)
    assert f"broker-b:1 ({slave.addr}): did not answer within" in failures
    assert elapsed < 8, f"the Cluster page took {elapsed:.1f} s with one broker hung"
    row = page.locator(f"#brokers tr[data-addr='{slave.addr}']")
    assert "did not answer" in row.inner_text()
    assert page.locator("#brokers tbody tr").count() == 4


def test_every_page_of_the_navigation_loads(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    """Each page reached through the navigation bar answers 200 with its heading; the
    `page` fixture fails the test on any JavaScript error."""
    page.goto(f"{console_cluster.url}/cluster")
    labels = page.locator("header.top nav a").all_inner_texts()
    assert labels == [
        "OPS", "Dashboard", "Cluster", "Topic", "Consumer", "Producer", "Message",
        "DLQMessage", "MessageTrace",
    ]  # fmt: skip
    for label in labels:
        with page.expect_navigation() as navigation:
            page.locator("header.top nav a", has_text=label).first.click()
        assert navigation.value.status == 200, label
        assert page.locator("header.top nav a.active").inner_text() == label
        assert page.locator("main h1").first.is_visible(), label
