"""MessageTrace page in a real browser: a send and a consume traced by our Python client
are found by message id and by key, shown as tables and a timeline; a trace topic that
does not exist is named as such."""

from __future__ import annotations

from orbitmq.client import Message, MessageExt, SyncProducer

from .conftest import ConsoleCluster, create_on_masters, screenshot, start_consumer, wait_until

TOPIC = "TracePageTopic"
PRODUCER_GROUP = "PG_CONSOLE_TRACE_PAGE"
CONSUMER_GROUP = "CG_CONSOLE_TRACE_PAGE"
KEY = "trace-page-key"


def traced_send_and_consume(cluster: ConsoleCluster) -> str:
    """On the clients' own loop threads: Playwright's sync API owns this thread's loop."""
    create_on_masters(cluster, TOPIC)
    got: list[MessageExt] = []
    consumer = start_consumer(cluster, CONSUMER_GROUP, TOPIC, got, enable_trace=True)
    try:
        # Kept open while the message is consumed: its trace goes out in the background.
        with SyncProducer(PRODUCER_GROUP, cluster.namesrv_addr, enable_trace=True) as producer:
            msg_id = producer.send(Message(TOPIC, b"traced", tags="TagT", keys=[KEY])).msg_id
            wait_until(
                lambda: any(m.msg_id == msg_id for m in got),
                "the traced message consumed",
                20,
                0.5,
            )
    finally:
        consumer.shutdown()  # also sends the trace records still buffered
    return msg_id


def test_send_and_consume_trace_is_shown(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    msg_id = traced_send_and_consume(console_cluster)
    page.goto(f"{console_cluster.url}/trace")
    assert page.input_value("input[name=trace_topic]") == "RMQ_SYS_TRACE_TOPIC"
    page.fill("input[name=q]", msg_id)
    section = page.locator(f"section.trace[data-msg-id='{msg_id}']")

    def traced() -> bool:
        page.get_by_role("button", name="Search").click()
        return section.locator(".trace-consume tbody tr").count() > 0 and (
            section.locator(".trace-send").count() == 1
        )

    wait_until(traced, "the Pub and SubBefore/SubAfter records on the page", 20, 0.5)
    send = section.locator(".trace-send td").all_inner_texts()
    assert send[0] == PRODUCER_GROUP
    assert send[3] == "SUCCESS"
    assert send[5] == "127.0.0.1"
    consume = section.locator(f".trace-consume[data-group='{CONSUMER_GROUP}'] tbody td")
    assert consume.nth(3).inner_text() == "SUCCESS"
    assert section.locator(".timeline-bar").count() == 2
    screenshot(page, "trace")

    # By key: the trace messages are indexed under the message's keys too.
    page.goto(f"{console_cluster.url}/trace?q={KEY}")
    assert page.locator("section.trace").get_attribute("data-msg-id") == msg_id


def test_a_missing_trace_topic_is_named(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{console_cluster.url}/trace?trace_topic=NoSuchTraceTopic&q=x")
    assert page.inner_text("#trace-error").startswith(
        "Trace topic NoSuchTraceTopic does not exist."
    )
