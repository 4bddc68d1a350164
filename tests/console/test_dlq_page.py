"""DLQMessage page in a real browser: a message a consumer group gave up on is listed under
the group, Resend hands it to a running consumer of that group (CONSUME_MESSAGE_DIRECTLY
through the broker), and Export downloads it."""

from __future__ import annotations

import base64

import orjson

from orbitmq.client import ClientError, ConsumeStatus, Message, MessageExt, SyncAdmin, SyncProducer
from orbitmq.protocol.topics import dlq_topic

from .conftest import ConsoleCluster, create_on_masters, screenshot, start_consumer, wait_until

TOPIC = "DlqPageTopic"
GROUP = "CG_CONSOLE_DLQ_PAGE"
BODY = b"dead letter body \xe2\x9c\x89"


def send_one(cluster: ConsoleCluster) -> str:
    """On the client's own loop thread: Playwright's sync API owns this thread's loop."""
    create_on_masters(cluster, TOPIC)
    with SyncProducer("PG_CONSOLE_DLQ_PAGE", cluster.namesrv_addr) as producer:
        return producer.send(Message(TOPIC, BODY, tags="TagD", keys=["dlq-page-key"])).msg_id


def make_dead_letter(cluster: ConsoleCluster, msg_id: str) -> None:
    """A member that always fails, allowed no retry: the broker moves the message to
    %DLQ%<group> at the first failure."""
    failed: list[MessageExt] = []
    failing = start_consumer(
        cluster, GROUP, TOPIC, failed, ConsumeStatus.RECONSUME_LATER, max_reconsume_times=0
    )
    try:
        wait_until(lambda: any(m.msg_id == msg_id for m in failed), "the failing delivery")
        with SyncAdmin(cluster.namesrv_addr) as admin:

            def in_dlq() -> bool:
                query = admin.admin.query_message(dlq_topic(GROUP), msg_id, unique=True)
                try:
                    found = admin.call(query)
                except ClientError:  # no route for the DLQ topic yet
                    return False
                return bool(found)

            wait_until(in_dlq, f"{msg_id} in {dlq_topic(GROUP)}")
    finally:
        failing.shutdown()


def test_dead_letter_is_listed_resent_and_exported(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    msg_id = send_one(console_cluster)
    make_dead_letter(console_cluster, msg_id)
    received: list[MessageExt] = []
    healthy = start_consumer(console_cluster, GROUP, TOPIC, received)
    try:
        page.goto(f"{console_cluster.url}/dlq")
        page.fill("input[name=group]", GROUP)
        page.get_by_role("button", name="Search").click()
        row = page.locator(f"#dlq-messages tr[data-msg-id='{msg_id}']")
        assert row.locator("td").nth(3).inner_text() == "dlq-page-key"

        page.on("dialog", lambda dialog: dialog.accept())
        row.locator("input[name=ids]").check()
        page.get_by_role("button", name="Resend selected").click()
        assert "CR_SUCCESS" in page.inner_text(".flash.ok")
        resent = [m for m in received if m.topic == dlq_topic(GROUP)]
        assert [m.msg_id for m in resent] == [msg_id]
        assert resent[0].body == BODY
        screenshot(page, "dlq")

        with page.expect_download() as download:
            page.click("#export-all-jsonl")
        lines = download.value.path().read_bytes().splitlines()
        [exported] = [orjson.loads(line) for line in lines if msg_id.encode() in line]
        assert exported["keys"] == "dlq-page-key"
        assert base64.b64decode(exported["bodyBase64"]) == BODY

        row.get_by_role("link", name="Detail").click()
        assert page.inner_text("#message-body") == BODY.decode()
    finally:
        healthy.shutdown()


def test_a_group_without_dead_letters_says_so(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{console_cluster.url}/dlq?group=CG_CONSOLE_NEVER_FAILED")
    assert page.inner_text("#dlq-notice") == (
        "Group CG_CONSOLE_NEVER_FAILED has no dead letters "
        "(there is no topic %DLQ%CG_CONSOLE_NEVER_FAILED)."
    )
