"""Message page in a real browser, on messages sent by the official RocketMQ C++ client
(PyPI rocketmq 0.4.4, its own venv): found by key and by the message id its SendResult
printed, the detail shows the offset message id, properties and body, the topic +
time-range query pages through them on the server, and the detail tracks a consumer
group and resends to its online member. A message in Chinese from our Python producer is
found by its key and shown as text."""

from __future__ import annotations

import pytest

from orbitmq.client import Message, MessageExt, SyncAdmin, SyncProducer
from tests.compatibility.cpp_harness import build_cpp_env, run_cpp

from .conftest import ConsoleCluster, create_on_masters, screenshot, start_consumer, wait_until

TOPIC = "MessagePageTopic"
COUNT = 61  # more than a page of 50
PICK = 7
GROUP = "CG_CONSOLE_MESSAGE_PAGE"
CJK_TOPIC = "MessagePageCjkTopic"
CJK_BODY, CJK_KEY = "订单已支付", "订单-1"
CJK_PROPERTY = ("备注", "加急发货 今天送达")


def send_with_cpp_client(cluster: ConsoleCluster) -> list[dict]:
    create_on_masters(cluster, TOPIC)
    python = build_cpp_env()
    return run_cpp(
        python, "produce", "--namesrv", cluster.namesrv_addr, "--topic", TOPIC,
        "--count", str(COUNT), "--keys-prefix", "msg-page-key", "--body-prefix", "msg-page-body",
        "--tag", "TagM", "--property", "color=blue", timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sent(console_cluster: ConsoleCluster) -> list[dict]:
    """The send results the C++ client printed, once for the module."""
    records = send_with_cpp_client(console_cluster)
    assert len(records) == COUNT
    return records


def offset_msg_id_of(cluster: ConsoleCluster, msg_id: str) -> str:
    with SyncAdmin(cluster.namesrv_addr) as admin:
        [msg] = admin.call(admin.admin.query_message(TOPIC, msg_id, unique=True))
    return msg.offset_msg_id


def listed_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    # A Search click returns once the result page is committed, not parsed; count()
    # does not wait, so wait for the document before counting its rows.
    page.wait_for_load_state()
    rows = page.locator("#messages tbody tr[data-msg-id]")
    return [rows.nth(i).get_attribute("data-msg-id") for i in range(rows.count())]


def shown_table(page, table_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(
        zip(
            page.locator(f"#{table_id} th").all_inner_texts(),
            page.locator(f"#{table_id} td").all_inner_texts(),
            strict=True,
        )
    )


def test_cpp_message_found_by_key_and_id_with_its_detail(
    console_cluster: ConsoleCluster, sent: list[dict], page
) -> None:  # type: ignore[no-untyped-def]
    msg_id = sent[PICK]["msg_id"]
    url = console_cluster.url

    page.goto(f"{url}/message?tab=key")
    page.fill("input[name=topic]", TOPIC)
    page.fill("input[name=key]", f"msg-page-key-{PICK}")
    page.get_by_role("button", name="Search").click()
    assert listed_ids(page) == [msg_id]

    page.goto(f"{url}/message?tab=id")
    page.fill("input[name=topic]", TOPIC)
    page.fill("input[name=msg_id]", msg_id)
    page.get_by_role("button", name="Search").click()
    assert listed_ids(page) == [msg_id]
    page.locator(f"#messages tr[data-msg-id='{msg_id}']").get_by_role("link", name="Detail").click()

    fields = dict(
        zip(
            page.locator("#message-fields th").all_inner_texts(),
            page.locator("#message-fields td").all_inner_texts(),
            strict=True,
        )
    )
    assert fields["Message ID"] == msg_id
    assert fields["Offset message ID"] == offset_msg_id_of(console_cluster, msg_id)
    assert fields["Keys"] == f"msg-page-key-{PICK}"
    properties = dict(
        zip(
            page.locator("#message-properties th").all_inner_texts(),
            page.locator("#message-properties td").all_inner_texts(),
            strict=True,
        )
    )
    assert properties["color"] == "blue"
    assert properties["orbit_seq"] == str(PICK)
    assert properties["UNIQ_KEY"] == msg_id
    assert page.inner_text("#message-body") == f"msg-page-body-{PICK}"
    screenshot(page, "message-detail")

    # The offset message id finds the same message without a topic.
    page.goto(f"{url}/message?tab=id&msg_id={fields['Offset message ID']}")
    assert listed_ids(page) == [msg_id]


def test_topic_and_time_range_pages_on_the_server(
    console_cluster: ConsoleCluster, sent: list[dict], page
) -> None:  # type: ignore[no-untyped-def]

    page.goto(f"{console_cluster.url}/message")
    page.fill("input[name=topic]", TOPIC)
    page.get_by_role("button", name="Search").click()
    first = listed_ids(page)
    assert len(first) == 50
    assert f"Page 1 of 2 ({COUNT} in all)" in page.inner_text(".pager")
    screenshot(page, "message")
    page.get_by_role("link", name="Next »").click()
    second = listed_ids(page)
    assert set(first) | set(second) == {r["msg_id"] for r in sent}
    assert len(second) == COUNT - 50


def test_detail_tracks_a_group_and_resends_to_its_online_member(
    console_cluster: ConsoleCluster, sent: list[dict], page
) -> None:  # type: ignore[no-untyped-def]
    msg_id = sent[PICK]["msg_id"]
    received: list[MessageExt] = []
    consumer = start_consumer(console_cluster, GROUP, TOPIC, received)
    detail = f"{console_cluster.url}/message/detail?id={offset_msg_id_of(console_cluster, msg_id)}"
    track = page.locator(f"#message-tracks tr[data-group='{GROUP}'] td")
    try:
        wait_until(lambda: len({m.msg_id for m in received}) >= COUNT, "all consumed")

        def tracked(expected: str) -> bool:
            page.goto(detail)
            return track.count() > 0 and track.nth(1).inner_text() == expected

        wait_until(lambda: tracked("CONSUMED"), "the group's offset past the message")
        before = [m.msg_id for m in received].count(msg_id)
        page.get_by_role("button", name="Resend").click()
        assert "CR_SUCCESS" in page.inner_text(".flash.ok")
        assert [m.msg_id for m in received].count(msg_id) == before + 1
    finally:
        consumer.shutdown()
    wait_until(lambda: tracked("NOT_ONLINE"), "the group offline")
    page.get_by_role("button", name="Resend").click()
    assert page.inner_text(".flash.error").startswith(f"no consumer of group {GROUP} online")


def test_chinese_message_is_found_by_key_and_shown_as_text(
    console_cluster: ConsoleCluster, page
) -> None:  # type: ignore[no-untyped-def]
    create_on_masters(console_cluster, CJK_TOPIC)
    producer = SyncProducer("PG_CONSOLE_MESSAGE_CJK", console_cluster.namesrv_addr)
    producer.start()
    try:
        name, value = CJK_PROPERTY
        sent = producer.send(Message(CJK_TOPIC, CJK_BODY, keys=CJK_KEY, properties={name: value}))
    finally:
        producer.shutdown()
    with SyncAdmin(console_cluster.namesrv_addr) as admin:
        wait_until(
            lambda: bool(admin.call(admin.admin.query_message(CJK_TOPIC, CJK_KEY))),
            "the key in the broker's index",
        )

    page.goto(f"{console_cluster.url}/message?tab=key")
    page.fill("input[name=topic]", CJK_TOPIC)
    page.fill("input[name=key]", CJK_KEY)
    page.get_by_role("button", name="Search").click()
    assert listed_ids(page) == [sent.msg_id]
    row = page.locator(f"#messages tr[data-msg-id='{sent.msg_id}']")
    assert CJK_KEY in row.inner_text()
    row.get_by_role("link", name="Detail").click()

    fields = shown_table(page, "message-fields")
    assert (fields["Keys"], fields["Tags"]) == (CJK_KEY, "-")
    assert fields["Body length"] == f"{len(CJK_BODY.encode())} bytes"
    assert shown_table(page, "message-properties")[name] == value
    assert page.inner_text("#message-body") == CJK_BODY
    assert "UTF-8" in page.locator("h2", has_text="Body").inner_text()  # text, not hex
    page.set_viewport_size({"width": 1400, "height": 1080})  # down to the body
    screenshot(page, "message-detail-cjk")
