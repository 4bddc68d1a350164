"""How long the console's pages take with many topics and groups: a NameServer, a
broker whose config/topics.json and subscriptionGroup.json already hold TOPICS topics and
GROUPS groups (as a broker that had them leaves its store), and `orbitmq dashboard`,
each its own process; every page fetched once cold and then ROUNDS times warm."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import orjson

from orbitmq.bench.scale.broker_load import write_topics_json
from orbitmq.bench.scale.servers import (
    BROKER_BOOT,
    broker_properties,
    start_namesrv,
    write_properties,
)
from orbitmq.bench.suite.servers import Server, free_port

CONSOLE_BOOT = "The console boot success"
# The pages a person opens, with a search that has to scan the whole list.
PAGES = (
    "/",
    "/cluster",
    "/topic",
    "/topic?q=000123",
    "/topic?page=50",
    "/consumer",
    "/consumer?q=GROUP_000777",
    "/producer",
    "/message",
    "/dlq",
    "/trace",
    "/ops",
    "/metrics",
)


CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True, slots=True)
class PageTiming:
    path: str
    status: int
    first_ms: float
    warm_median_ms: float
    warm_max_ms: float
    kib: float
    browser_ms: float | None = None  # median time to the load event in Chromium

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path, "status": self.status, "first_ms": self.first_ms,
            "warm_median_ms": self.warm_median_ms, "warm_max_ms": self.warm_max_ms,
            "kib": self.kib, "browser_ms": self.browser_ms,
        }  # fmt: skip


def group_name(number: int) -> str:
    return f"GROUP_{number:06d}"


def write_groups_json(store: Path, count: int) -> None:
    """config/subscriptionGroup.json with `count` groups."""
    table = {
        group_name(n): {"groupName": group_name(n), "consumeEnable": True,
                        "consumeBroadcastEnable": True, "retryQueueNums": 1,
                        "retryMaxTimes": 16, "brokerId": 0, "whichBrokerWhenConsumeSlowly": 1}
        for n in range(count)
    }  # fmt: skip
    wrapper = {"dataVersion": {"counter": count, "timestamp": int(time.time() * 1000)},
               "subscriptionGroupTable": table}  # fmt: skip
    (store / "config").mkdir(parents=True, exist_ok=True)
    (store / "config" / "subscriptionGroup.json").write_bytes(orjson.dumps(wrapper))


def _fetch(client: httpx.Client, path: str) -> tuple[int, float, int]:
    started = time.perf_counter()
    response = client.get(path)
    return response.status_code, (time.perf_counter() - started) * 1000, len(response.content)


def measure_pages(url: str, rounds: int, pages: tuple[str, ...] = PAGES) -> list[PageTiming]:
    timings = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for path in pages:
            status, first, size = _fetch(client, path)
            warm = [_fetch(client, path)[1] for _ in range(rounds)]
            timings.append(
                PageTiming(path, status, first, statistics.median(warm), max(warm), size / 1024)
            )
    return timings


def browser_load_times(url: str, rounds: int, pages: tuple[str, ...]) -> dict[str, float]:
    """Median ms from navigation start to the load event (scripts and charts included) per
    page, in Debian's Chromium through Playwright; {} when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {}
    if not Path(CHROMIUM).exists():
        return {}
    times: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page()
        for path in pages:
            if path == "/metrics":
                continue  # not a page a person opens
            samples = []
            for _ in range(rounds):
                page.goto(url + path, wait_until="load")
                samples.append(
                    page.evaluate(
                        "() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return n.loadEventEnd - n.startTime; }"
                    )
                )
            times[path] = statistics.median(samples)
        browser.close()
    return times


def run_console_scale(
    home: Path, topics: int, groups: int, rounds: int, browser: bool = True
) -> list[PageTiming]:
    namesrv = start_namesrv(home / "namesrv")
    servers = [namesrv]
    try:
        broker_home = home / "broker"
        broker_home.mkdir(parents=True)
        props = broker_properties(broker_home, namesrv.address)
        write_topics_json(broker_home / "store", topics)
        write_groups_json(broker_home / "store", groups)
        config = write_properties(broker_home / "broker.properties", props)
        broker = Server(
            "orbitmq broker",
            [sys.executable, "-m", "orbitmq", "broker", "-c", str(config)],
            broker_home,
            f"127.0.0.1:{props['listenPort']}",
        )
        servers.append(broker)
        broker.wait_until(lambda: BROKER_BOOT in broker.log_tail(5), "boot")
        console_home = home / "console"
        console_home.mkdir()
        port = free_port()
        console = Server(
            "orbitmq dashboard",
            [sys.executable, "-m", "orbitmq", "dashboard", "-n", namesrv.address,
             "--port", str(port), "--home", str(console_home)],
            console_home,
            f"127.0.0.1:{port}",
        )  # fmt: skip
        servers.append(console)
        console.wait_until(lambda: CONSOLE_BOOT in console.log_tail(20), "boot")
        url = f"http://127.0.0.1:{port}"
        timings = measure_pages(url, rounds)
        in_browser = browser_load_times(url, rounds, PAGES) if browser else {}
        return [replace(t, browser_ms=in_browser.get(t.path)) for t in timings]
    finally:
        for server in reversed(servers):
            server.stop()
