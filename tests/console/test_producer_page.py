"""Producer page in a real browser: a running Python producer is listed; once it stops,
the page says none is online."""

from __future__ import annotations

from orbitmq.client import Message, SyncProducer

from .conftest import ConsoleCluster, create_on_masters, wait_until

TOPIC = "ProducerPageTopic"
GROUP = "PG_CONSOLE_PRODUCER_PAGE"


def test_a_running_producer_is_listed(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    create_on_masters(console_cluster, TOPIC)
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
