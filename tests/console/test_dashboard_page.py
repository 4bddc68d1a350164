"""The Dashboard page in a real browser against the 2m-2s cluster: the broker table, the
four plotly charts, a topic reaching Topic TOP 10 after sends, and chart history kept
across a restart of the console process."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson

from orbitmq.dashboard.history import day_of
from tests.integration.test_two_masters_two_slaves import create_topic, producing, send_bodies

from .conftest import ConsoleCluster, run_async, screenshot, start_console

TOPIC = "DashboardPageTopic"
SENT = 30
PAST_DAY = "2024-02-29"
CHARTS = ("broker-top", "broker-trend", "topic-top", "topic-trend")


async def send(namesrv_addr: str) -> None:
    async with producing(namesrv_addr, "DashboardPagePG") as producer:
        await send_bodies(producer, TOPIC, "dash", SENT)


def test_dashboard_shows_brokers_and_charts_with_the_topic_in_top_10(
    console_cluster: ConsoleCluster,
    page,  # type: ignore[no-untyped-def]
) -> None:
    cluster = console_cluster.cluster
    run_async(create_topic(cluster, TOPIC, on_slaves=False))
    time.sleep(2.5)  # one collection lists the new topic: all its messages count as today's
    run_async(send(cluster.namesrv_addr))

    page.goto(f"{console_cluster.url}/")
    rows = page.locator("#dashboard-brokers tbody tr")
    rows.first.wait_for()
    assert rows.count() == 4
    shown = {rows.nth(i).get_attribute("data-addr") for i in range(4)}
    assert shown == {node.addr for node in cluster.nodes.values()}
    for chart in CHARTS:  # plotly drew every chart (an SVG each), data or not
        page.locator(f"#{chart} svg.main-svg").first.wait_for()
    # the page refreshes itself: the topic shows up within a few collections, no reload
    page.locator("#topic-top .xtick text", has_text=TOPIC).wait_for(timeout=30_000)
    page.select_option("#dashboard-topic", TOPIC)
    page.locator("#topic-trend .scatterlayer .trace").first.wait_for(timeout=15_000)
    produced = sum(
        int(rows.nth(i).locator("td").nth(2).inner_text())
        for i in range(4)
        if rows.nth(i).locator("td").count() == 5
    )
    assert produced >= SENT
    screenshot(page, "dashboard")


def _history_dir(home: Path) -> Path:
    return home / "dashboard" / "dashboard"


def _write_past_day(home: Path) -> int:
    noon = int(time.mktime(time.strptime(f"{PAST_DAY} 12:00", "%Y-%m-%d %H:%M")) * 1000)
    directory = _history_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    brokers = {"broker-a:0": [f"{noon + i * 60_000},{i}.5" for i in range(5)]}
    topics = {"PastTopic": [f"{noon + i * 60_000},1.0,{10 * i},0.5,{5 * i}" for i in range(5)]}
    (directory / f"{PAST_DAY}.json").write_bytes(orjson.dumps(brokers))
    (directory / f"{PAST_DAY}_topic.json").write_bytes(orjson.dumps(topics))
    return noon


def _today_points(url: str) -> list[float]:
    body = httpx.get(f"{url}/dashboard/broker.json", timeout=10).json()
    return sorted(p[0] for series in body["series"] for p in series["points"])


def test_history_survives_a_console_restart(
    console_cluster: ConsoleCluster,
    page,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    home = tmp_path / "home"
    _write_past_day(home)
    console, url = start_console(home, console_cluster.namesrv_addr)
    try:
        deadline = time.monotonic() + 20
        while len(_today_points(url)) < 8 and time.monotonic() < deadline:
            time.sleep(0.5)  # a few collections of the four brokers
        before = _today_points(url)
        assert len(before) >= 8
    finally:
        console.stop()  # SIGTERM: the collector writes what it holds
    today = day_of(int(time.time() * 1000))
    assert (_history_dir(home) / f"{today}.json").exists()

    console, url = start_console(home, console_cluster.namesrv_addr)
    try:
        after = _today_points(url)
        assert after[: len(before)] == before  # today's points from before the restart

        page.goto(f"{url}/?date={PAST_DAY}")
        page.locator("#topic-top .xtick text", has_text="PastTopic").wait_for()
        page.locator("#broker-trend .legendtext", has_text="broker-a:0").wait_for()
        assert page.locator("#dashboard-topic").input_value() == "PastTopic"

        page.fill("#dashboard-date", "2001-01-01")  # no file: empty charts, no error
        page.dispatch_event("#dashboard-date", "change")
        page.locator("#topic-top .annotation-text", has_text="No topic data").wait_for()
        page.locator("#broker-trend .annotation-text", has_text="No broker data").wait_for()
        assert "date=2001-01-01" in page.url
    finally:
        console.stop()
