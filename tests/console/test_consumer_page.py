"""Consumer page in a real browser against the 2m-2s cluster: a group whose Python push
consumer is online but stuck shows the lag `mqadmin consumerProgress` reports; a row's
Refresh reads that group alone; auto refresh reloads the list; a group made with the page's
form and no client is listed, has its config on both masters and can be deleted; bad input
is named."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from playwright.sync_api import expect

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MQAdmin,
    SyncProducer,
    SyncPushConsumer,
)
from orbitmq.client.errors import ClientError
from tests.integration.test_two_masters_two_slaves import QUEUES, create_topic
from tests.processes import wait_until

from .conftest import ConsoleCluster, create_on_masters, screenshot, start_consumer

T = TypeVar("T")

TOPIC = "ConsolePageTopic"
GROUP = "CG_CONSOLE_LAG"
FIRST, MORE = 8, 6  # consumed, then sent while the listener is held


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a loop of its own thread (Playwright's sync API owns this one's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


async def _diff_total(namesrv_addr: str, group: str) -> int | None:
    async with MQAdmin(namesrv_addr) as admin:
        try:
            return (await admin.examine_consume_stats(group)).total_diff()
        except ClientError:
            return None


def mqadmin_diff_total(namesrv_addr: str, group: str) -> int:
    """`mqadmin consumerProgress -g GROUP`'s "Diff Total" line."""
    result = subprocess.run(
        [sys.executable, "-m", "orbitmq", "admin", "consumerProgress", "-n", namesrv_addr,
         "-g", group],
        capture_output=True, text=True, timeout=30, check=True,
    )
    match = re.search(r"^Diff Total: (\d+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return int(match.group(1))


@pytest.fixture(scope="module")
def lagging_group(console_cluster: ConsoleCluster) -> Iterator[SyncPushConsumer]:
    """GROUP online, caught up with FIRST messages, then MORE sent that its listener holds:
    a lag of MORE that stays put while the test looks."""
    namesrv = console_cluster.namesrv_addr
    run_async(create_topic(console_cluster.cluster, TOPIC, on_slaves=False))
    release = threading.Event()
    release.set()

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        release.wait(60)
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = SyncPushConsumer(GROUP, namesrv, consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer.subscribe(TOPIC, "*")
    consumer.register_message_listener(listener)
    producer = SyncProducer("PG_CONSOLE_LAG", namesrv)
    consumer.start()
    producer.start()
    try:
        for i in range(FIRST):
            producer.send(Message(TOPIC, f"first-{i}".encode()))
        wait_until(
            lambda: run_async(_diff_total(namesrv, GROUP)) == 0, 30, 0.5,
            f"{GROUP} never committed its first {FIRST} messages",
        )
        release.clear()
        for i in range(MORE):
            producer.send(Message(TOPIC, f"more-{i}".encode()))
        yield consumer
    finally:
        release.set()
        producer.shutdown()
        consumer.shutdown()


def test_list_shows_the_lag_mqadmin_reports(  # type: ignore[no-untyped-def]
    console_cluster: ConsoleCluster, lagging_group: SyncPushConsumer, page
) -> None:
    page.goto(f"{console_cluster.url}/consumer")
    page.locator("#refresh button").click()  # the cache may predate the test's messages
    row = page.locator(f"#groups tr[data-group='{GROUP}']")
    lag = int(row.locator("td.lag").inner_text())
    assert lag == mqadmin_diff_total(console_cluster.namesrv_addr, GROUP) == MORE
    assert row.locator("td.clients").inner_text() == "1"
    assert "PUSH" in row.inner_text() and "CLUSTERING" in row.inner_text()
    assert re.search(r"data from .+ \(\d+ s ago", page.locator("#data-age").inner_text())
    assert page.locator("#failures").count() == 0
    screenshot(page, "consumer")

    page.fill("#group-search input[name=q]", "console_lag")  # part of the name, any case
    page.locator("#group-search button").click()
    assert page.locator("#groups tbody tr").count() == 1
    page.locator("#groups th a[data-column=lag]").click()
    assert "sort=lag" in page.url and "q=console_lag" in page.url

    row = page.locator(f"#groups tr[data-group='{GROUP}']")
    row.get_by_role("link", name="Client").click()
    connections = page.locator("#connections tbody tr")
    assert connections.count() == 1 and "PYTHON" in connections.inner_text()
    assert TOPIC in page.locator("#subscriptions").inner_text()
    assert "CONSUME_FROM_FIRST_OFFSET" in page.locator("#consumer-settings").inner_text()


def test_consume_detail_has_a_row_per_queue_of_both_masters(  # type: ignore[no-untyped-def]
    console_cluster: ConsoleCluster, lagging_group: SyncPushConsumer, page
) -> None:
    page.goto(f"{console_cluster.url}/consumer/group?group={GROUP}&view=detail")
    queues = page.locator(f"table.queues[data-topic='{TOPIC}'] tbody tr")
    assert queues.count() == 2 * QUEUES
    brokers = {queues.nth(i).locator("td").first.inner_text() for i in range(2 * QUEUES)}
    assert brokers == {"broker-a", "broker-b"}
    shown = int(page.locator("#lag-total").inner_text())
    assert shown == mqadmin_diff_total(console_cluster.namesrv_addr, GROUP) == MORE
    lags = [int(queues.nth(i).locator("td.lag").inner_text()) for i in range(2 * QUEUES)]
    total = page.locator(f"table.queues[data-topic='{TOPIC}'] tfoot").inner_text()
    assert sum(lags) == MORE and str(MORE) in total
    screenshot(page, "consumer-detail")


ROW_TOPIC = "ConsoleRowRefreshTopic"
ROW_GROUP = "CG_CONSOLE_ROW_REFRESH"
ADDED = 4  # sent after the list was built


def data_from(page) -> str:  # type: ignore[no-untyped-def]
    """When the list's snapshot was taken (its "data from" time, not its age)."""
    match = re.search(r"data from (.+?) \(", page.locator("#data-age").inner_text())
    assert match, page.locator("#data-age").inner_text()
    return match.group(1)


def test_a_rows_refresh_reads_that_group_alone(  # type: ignore[no-untyped-def]
    console_cluster: ConsoleCluster, page
) -> None:
    """ROW_GROUP consumes FIRST messages and goes offline; ADDED more make its lag, which
    the row's Refresh shows without the list being built again."""
    namesrv = console_cluster.namesrv_addr
    create_on_masters(console_cluster, ROW_TOPIC)
    seen: list[MessageExt] = []
    consumer = start_consumer(console_cluster, ROW_GROUP, ROW_TOPIC, seen)
    producer = SyncProducer("PG_CONSOLE_ROW_REFRESH", namesrv)
    producer.start()
    try:
        try:
            for i in range(FIRST):
                producer.send(Message(ROW_TOPIC, f"first-{i}".encode()))
            wait_until(
                lambda: len(seen) >= FIRST and run_async(_diff_total(namesrv, ROW_GROUP)) == 0,
                30, 0.5, f"{ROW_GROUP} never committed its first {FIRST} messages",
            )  # fmt: skip
        finally:
            consumer.shutdown()
        page.goto(f"{console_cluster.url}/consumer?q={ROW_GROUP}")
        page.locator("#refresh button").click()  # a list that has the group, lag 0
        row = page.locator(f"#groups tr[data-group='{ROW_GROUP}']")
        assert row.locator("td.lag").inner_text() == "0"
        taken = data_from(page)

        for i in range(ADDED):
            producer.send(Message(ROW_TOPIC, f"added-{i}".encode()))
        row.get_by_role("button", name="Refresh").click()
        assert f"Group {ROW_GROUP} refreshed" in page.locator(".flash.ok").inner_text()
        assert row.locator("td.lag").inner_text() == str(ADDED)
        assert data_from(page) == taken  # the rest of the list is the same snapshot
        assert f"q={ROW_GROUP}" in page.url
    finally:
        producer.shutdown()


def test_auto_refresh_reloads_the_list_while_on(  # type: ignore[no-untyped-def]
    console_cluster: ConsoleCluster, page
) -> None:
    page.goto(f"{console_cluster.url}/consumer")
    box = page.locator("#auto-refresh")
    assert not box.is_checked()  # off at first
    started = time.monotonic()
    with page.expect_navigation(timeout=12_000):
        box.check()
    assert 9 < time.monotonic() - started < 12
    assert box.is_checked()  # remembered across the reload
    box.uncheck()
    page.reload()
    assert not box.is_checked()


def submit_group_form(page, url: str, group: str, retry_queue_nums: str = "1") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/consumer/edit")
    page.fill("input[name=groupName]", group)
    page.check("input[name=cluster][value=DefaultCluster]")
    page.fill("input[name=retryQueueNums]", retry_queue_nums)
    page.get_by_role("button", name="Save").click()


def test_bad_input_is_named(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    submit_group_form(page, console_cluster.url, "bad group!")
    assert "Group name 'bad group!' must be" in page.locator(".flash.error").inner_text()
    submit_group_form(page, console_cluster.url, "CG_CONSOLE_BAD", retry_queue_nums="0")
    error = page.locator(".flash.error").inner_text()
    assert "Retry queue nums must be between 1 and 64, not 0." in error
    assert page.input_value("input[name=groupName]") == "CG_CONSOLE_BAD"  # kept for a retry
    page.goto(f"{console_cluster.url}/consumer?q=CG_CONSOLE_BAD")
    assert page.locator("#groups tr[data-group]").count() == 0


def test_group_without_clients_is_listed_then_deleted(  # type: ignore[no-untyped-def]
    console_cluster: ConsoleCluster, page
) -> None:
    group = "CG_CONSOLE_FORM"
    submit_group_form(page, console_cluster.url, group)
    assert "saved on broker-a, broker-b." in page.locator(".flash.ok").inner_text()
    expect(page.locator("#config-broker-a")).to_have_count(1)
    expect(page.locator("#config-broker-b")).to_have_count(1)

    page.goto(f"{console_cluster.url}/consumer?q={group}")
    row = page.locator(f"#groups tr[data-group='{group}']")
    assert row.locator("td.clients").inner_text() == "0"
    assert "OFFLINE" in row.inner_text() and row.locator("td.lag").inner_text() == "0"

    row.get_by_role("link", name="Delete").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#delete button").click()
    assert "deleted (offsets removed) on broker-a, broker-b." in page.locator(
        ".flash.ok"
    ).first.inner_text()
    page.goto(f"{console_cluster.url}/consumer?q={group}")
    assert page.locator("#groups tr[data-group]").count() == 0


def test_a_hung_master_is_named_not_waited_for(  # type: ignore[no-untyped-def]
    console_cluster: ConsoleCluster, page
) -> None:
    """SIGSTOP keeps broker-b's master connected but silent; Refresh rebuilds the list."""
    master = console_cluster.cluster.master("broker-b")
    assert master.process is not None
    page.goto(f"{console_cluster.url}/consumer")
    master.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        page.locator("#refresh button").click()
        elapsed = time.monotonic() - started
        failures = page.locator("#failures").inner_text()
    finally:
        master.process.send_signal(signal.SIGCONT)
    assert f"broker-b ({master.addr}): did not answer within" in failures
    assert failures.count("broker-b") == 1  # one line, however many calls it missed
    assert elapsed < 8, f"the Consumer list took {elapsed:.1f} s with a master hung"
    assert "groups, data from" in page.locator("#data-age").inner_text()
