"""Producer page in a real browser: a running Python producer is listed; once it stops,
the page says none is online."""

from __future__ import annotations

import time
from collections.abc import Callable

from orbitmq.client import Message, SyncAdmin, SyncProducer

from .conftest import ConsoleCluster

TOPIC = "ProducerPageTopic"
GROUP = "PG_CONSOLE_PRODUCER_PAGE"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.3)


def create_topic(cluster: ConsoleCluster) -> None:
    """On its own loop thread: Playwright's sync API owns this thread's loop."""
    with SyncAdmin(cluster.namesrv_addr) as admin:
        for name in ("broker-a", "broker-b"):
            admin.create_topic(cluster.cluster.master(name).addr, TOPIC, 2, 2)


def test_a_running_producer_is_listed(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    create_topic(console_cluster)
    producer = SyncProducer(GROUP, console_cluster.namesrv_addr)
    producer.start()
    try:
        producer.send(Message(TOPIC, b"hello"))
        client_id = producer.producer.client_id
        page.goto(f"{console_cluster.url}/producer")
        page.fill("input[name=topic]", TOPIC)
        page.fill("input[name=group]", GROUP)
        page.get_by_role("button", name="Search").click()

        def listed() -> bool:
            page.reload()
            return page.locator(f"#producers tr[data-client='{client_id}']").count() == 1

        wait_until(listed, f"{client_id} on the Producer page")
        cells = page.locator(f"#producers tr[data-client='{client_id}'] td").all_inner_texts()
        assert cells[2] == "PYTHON"
        assert cells[3].startswith("V")
    finally:
        producer.shutdown()

    def gone() -> bool:
        page.reload()
        return page.locator("#no-producers").count() == 1

    wait_until(gone, "the producer unregistered")
    assert (
        page.inner_text("#no-producers")
        == f"No producer of group {GROUP} online for topic {TOPIC}."
    )
