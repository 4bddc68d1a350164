"""Topic page in a real browser against the 2m-2s cluster: list and search, create through
the form (checked with mqadmin, the Router view and the Topic config view: the message
type), form errors, Status after sends,
Send message, Reset offset with no consumer online, Consumer manage, and delete."""

from __future__ import annotations

import re
import subprocess
import sys

from playwright.sync_api import expect

from orbitmq.client import Message, SyncProducer

from .conftest import MASTERS, ConsoleCluster, create_on_masters, screenshot, wait_until


def mqadmin_topics(namesrv_addr: str) -> set[str]:
    """`mqadmin topicList -n NS` (`orbitmq admin`), as a person would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "orbitmq", "admin", "topicList", "-n", namesrv_addr],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    topics = set(done.stdout.split())
    assert "TBW102" in topics, done.stdout + done.stderr  # the command really listed
    return topics


# Blocking clients on their own loop threads: Playwright's sync API owns this thread's loop.
def send(namesrv_addr: str, topic: str, count: int) -> None:
    with SyncProducer("PG_CONSOLE_TOPIC_STATUS", namesrv_addr) as producer:
        for i in range(count):
            producer.send(Message(topic, f"status {i}".encode()))


def listed(page, url: str, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/topic?q={query}")
    return [
        page.locator("#topics tbody tr").nth(i).get_attribute("data-topic")
        for i in range(page.locator("#topics tbody tr[data-topic]").count())
    ]


def test_topic_list_searches_by_part_of_the_name(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    topics = ["TopicPageSearchAlpha", "TopicPageSearchBeta"]
    for topic in topics:
        create_on_masters(console_cluster, topic, 4)
    url = console_cluster.url
    wait_until(lambda: listed(page, url, "TopicPageSearch") == topics, "both topics listed")
    row = page.locator("#topics tr[data-topic='TopicPageSearchAlpha']")
    assert "broker-a, broker-b" in row.inner_text()
    assert "Normal" in row.inner_text()

    page.goto(f"{url}/topic")
    page.fill("#topic-search input[name=q]", "searchalp")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#topics tbody tr")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-topic") == "TopicPageSearchAlpha"

    page.goto(f"{url}/topic")
    page.select_option("#topic-search select[name=kind]", "system")
    page.get_by_role("button", name="Search").click()
    system = page.locator("#topics tbody tr[data-topic]").evaluate_all(
        "rows => rows.map(r => r.dataset.topic)"
    )
    assert {"TBW102", "SCHEDULE_TOPIC_XXXX", "DefaultCluster", *MASTERS} <= set(system)
    assert not set(topics) & set(system)
    page.goto(f"{url}/topic?q=TopicPage")
    screenshot(page, "topic")


def test_create_topic_through_the_form(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    topic = "TopicPageCreated"
    url = console_cluster.url
    page.goto(f"{url}/topic")
    page.click("#add-topic")
    page.fill("input[name=topic]", "bad name!")
    page.fill("input[name=write_queue_nums]", "4")
    page.fill("input[name=read_queue_nums]", "4")
    page.check("input[name=cluster][value=DefaultCluster]")
    page.get_by_role("button", name="Commit").click()
    assert "contains characters outside [%|a-zA-Z0-9_-]" in page.inner_text("#form-error")

    page.fill("input[name=topic]", topic)
    page.fill("input[name=write_queue_nums]", "1025")
    page.get_by_role("button", name="Commit").click()
    assert "Write queue number must be between 1 and 1024, not 1025." in page.inner_text(
        "#form-error"
    )
    assert page.input_value("input[name=topic]") == topic  # the form keeps what was typed

    page.fill("input[name=write_queue_nums]", "4")
    page.select_option("select[name=message_type]", "FIFO")
    page.get_by_role("button", name="Commit").click()
    assert f"Topic {topic} created or updated on broker-a, broker-b." in page.inner_text(
        ".flash.ok"
    )
    expect(page.locator(f"#topics tr[data-topic='{topic}']")).to_have_count(1)
    wait_until(lambda: topic in mqadmin_topics(console_cluster.namesrv_addr), "in topicList")

    def routed_on_both() -> bool:
        page.goto(f"{url}/topic/route?topic={topic}")
        rows = page.locator("#route-queues tbody tr")
        return sorted(rows.nth(i).get_attribute("data-broker") for i in range(rows.count())) == [
            *MASTERS
        ]

    wait_until(routed_on_both, "queues on both masters")
    for name in MASTERS:
        cells = page.locator(f"#route-queues tr[data-broker='{name}'] td").all_inner_texts()
        assert cells[1:4] == ["4", "4", "6"]

    # The message type went as the attribute message.type, and the form shows it back.
    page.goto(f"{url}/topic/config?topic={topic}")
    attributes = page.locator("#topic-config tr", has_text="attributes").locator("td")
    expect(attributes).to_have_text(["message.type=FIFO"] * len(MASTERS))
    page.goto(f"{url}/topic/edit?topic={topic}")
    assert page.input_value("select[name=message_type]") == "FIFO"


def test_status_send_message_and_delete(console_cluster: ConsoleCluster, page) -> None:  # type: ignore[no-untyped-def]
    topic = "TopicPageStatus"
    url = console_cluster.url
    create_on_masters(console_cluster, topic, 4)
    send(console_cluster.namesrv_addr, topic, 6)

    def max_offsets() -> int:
        page.goto(f"{url}/topic/status?topic={topic}")
        cells = page.locator("#topic-status td.max-offset").all_inner_texts()
        return sum(int(c) for c in cells) if len(cells) == 8 else -1

    assert max_offsets() == 6
    screenshot(page, "topic-status")

    page.get_by_role("link", name="Send message").click()
    page.fill("input[name=tag]", "TagA")
    page.fill("input[name=key]", "KeyTopicPage")
    page.fill("textarea[name=body]", "hello from the console")
    page.get_by_role("button", name="Send").click()
    result = page.inner_text("#send-result")
    assert "SEND_OK" in result
    assert re.search(r"Message id \(UNIQ_KEY\)\s+[0-9A-F]{32}", result), result
    assert max_offsets() == 7

    group = "CG_TOPIC_PAGE_RESET"  # never online: the console writes the offsets itself
    page.get_by_role("link", name="Reset offset").click()
    page.fill("input[name=group]", group)
    page.get_by_role("button", name="Skip accumulate").click()  # = reset to the end
    assert f"no consumer of {group} is online" in page.inner_text(".flash.ok")
    moved = page.locator("#reset-result tbody tr td:nth-child(4)").all_inner_texts()
    assert len(moved) == 8 and sum(int(m) for m in moved) == 7
    page.get_by_role("link", name="Consumer manage").click()
    progress = page.locator(f".group-progress[data-group='{group}']")
    assert progress.locator(".group-lag").inner_text() == "0"
    expect(progress.locator("tbody tr")).to_have_count(8)

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#delete-topic")
    assert f"Topic {topic} deleted on broker-a, broker-b, NameServer" in page.inner_text(
        ".flash.ok"
    )
    expect(page.locator(f"#topics tr[data-topic='{topic}']")).to_have_count(0)
    wait_until(
        lambda: topic not in mqadmin_topics(console_cluster.namesrv_addr), "gone from topicList"
    )
