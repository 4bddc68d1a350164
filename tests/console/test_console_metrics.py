"""The console's /metrics against the running 2m-2s cluster: rocketmq-exporter's names,
and a group's lag equal to what `mqadmin consumerProgress` reports."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.scenario import start_collector, wait_for
from tests.integration.test_two_masters_two_slaves import create_topic, producing, send_bodies

from .conftest import ConsoleCluster, run_async

TOPIC = "ConsoleMetricsTopic"
GROUP = "ConsoleMetricsGroup"
CONSUMED = 12
LEFT = 8
SCRAPE_DEADLINE = 30.0  # a few collections at --collect-interval 2


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        family.name: [(s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(response.text)
    }


def consumer_progress_diff(namesrv_addr: str, group: str, topic: str) -> int:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orbitmq",
            "admin",
            "consumerProgress",
            "-n",
            namesrv_addr,
            "-g",
            group,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    queues = json.loads(result.stdout)["queues"]
    return sum(q["diff"] for q in queues if q["topic"] == topic)


async def consume_some(namesrv_addr: str) -> None:
    """CONSUMED messages consumed by a push consumer that then leaves, LEFT sent after."""
    async with producing(namesrv_addr, "ConsoleMetricsPG") as producer:
        await send_bodies(producer, TOPIC, "consumed", CONSUMED)
    collector = await start_collector(namesrv_addr, GROUP, TOPIC)
    try:
        await wait_for(lambda: len(collector.bodies) == CONSUMED, 30, "consumer never caught up")
    finally:
        await collector.consumer.shutdown()  # commits its offsets on the way out
    async with producing(namesrv_addr, "ConsoleMetricsPG") as producer:
        await send_bodies(producer, TOPIC, "left", LEFT)


def group_diff(samples: dict[str, list[tuple[dict[str, str], float]]]) -> float | None:
    values = [
        value
        for labels, value in samples.get("rocketmq_group_diff", [])
        if labels["group"] == GROUP and labels["topic"] == TOPIC
    ]
    return values[0] if len(values) == 1 else None


def test_group_diff_equals_mqadmin_consumer_progress(console_cluster: ConsoleCluster) -> None:
    cluster = console_cluster.cluster
    run_async(create_topic(cluster, TOPIC, on_slaves=False))
    run_async(consume_some(cluster.namesrv_addr))
    lag = consumer_progress_diff(cluster.namesrv_addr, GROUP, TOPIC)
    assert lag == LEFT

    deadline = time.monotonic() + SCRAPE_DEADLINE
    samples = scrape(console_cluster.url)
    while group_diff(samples) != lag and time.monotonic() < deadline:
        time.sleep(0.5)
        samples = scrape(console_cluster.url)
    assert group_diff(samples) == lag, samples.get("rocketmq_group_diff")

    ((labels, _),) = [s for s in samples["rocketmq_group_diff"] if s[0]["group"] == GROUP]
    assert labels == {
        "group": GROUP,
        "topic": TOPIC,
        "countOfOnlineConsumers": "0",  # the consumer left
        "msgModel": "1",  # CLUSTERING's ordinal, as rocketmq-exporter labels it
    }
    consumed = {
        labels["broker"]: value
        for labels, value in samples["rocketmq_consumer_offset"]
        if labels["group"] == GROUP and labels["topic"] == TOPIC
    }
    assert set(consumed) == {"broker-a", "broker-b"} and sum(consumed.values()) == CONSUMED
    produced = sum(
        value for labels, value in samples["rocketmq_producer_offset"] if labels["topic"] == TOPIC
    )
    assert produced == CONSUMED + LEFT
    masters = {cluster.master(name).addr for name in ("broker-a", "broker-b")}
    put_tps = {labels["brokerIP"] for labels, _ in samples["rocketmq_brokeruntime_put_tps10"]}
    assert put_tps == masters
    replication = {labels["brokerIP"] for labels, _ in samples["rocketmq_broker_commitlog_diff"]}
    assert replication == {cluster.slave(name).addr for name in ("broker-a", "broker-b")}


EXTRA_TOPIC = "ConsoleExporterExtraTopic"
EXTRA_PRODUCER_GROUP = "ConsoleExtraPG"
LIVE_GROUP = "ConsoleExtraLiveGroup"
LAG_GROUP = "ConsoleExtraLagGroup"
CLIENT_FAMILIES = (
    "rocketmq_client_consume_ok_msg_tps",
    "rocketmq_client_consume_fail_msg_tps",
    "rocketmq_client_consume_fail_msg_count",
    "rocketmq_client_consume_rt",
    "rocketmq_client_consumer_pull_rt",
    "rocketmq_client_consumer_pull_tps",
)
Samples = dict[str, list[tuple[dict[str, str], float]]]


def _of(samples: Samples, family: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [
        (have, value)
        for have, value in samples.get(family, [])
        if all(have.get(k) == v for k, v in labels.items())
    ]


async def scrape_until(url: str, ready: Callable[[Samples], bool]) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        deadline = time.monotonic() + SCRAPE_DEADLINE
        while True:
            response = await http.get(f"{url}/metrics")
            samples = {
                family.name: [(s.labels, s.value) for s in family.samples]
                for family in text_string_to_metric_families(response.text)
            }
            if ready(samples) or time.monotonic() > deadline:
                return samples
            await asyncio.sleep(0.5)


async def extra_series(console: ConsoleCluster) -> tuple[Samples, str]:
    """A running producer, a running push consumer, and a group left behind by LEFT
    messages; the scrape once all three show, and the running consumer's client id."""
    namesrv = console.namesrv_addr
    lagging = await start_collector(namesrv, LAG_GROUP, EXTRA_TOPIC)
    async with producing(namesrv, EXTRA_PRODUCER_GROUP) as producer:
        await send_bodies(producer, EXTRA_TOPIC, "early", CONSUMED)
        try:
            await wait_for(lambda: len(lagging.bodies) == CONSUMED, 30, "lag group never read")
        finally:
            await lagging.consumer.shutdown()  # commits its offsets, then lags behind
        live = await start_collector(namesrv, LIVE_GROUP, EXTRA_TOPIC)
        try:
            await send_bodies(producer, EXTRA_TOPIC, "late", LEFT)
            await wait_for(lambda: len(live.bodies) == CONSUMED + LEFT, 30, "live group lags")
            client_id = live.consumer.client_id

            def ready(samples: Samples) -> bool:
                return (
                    bool(_of(samples, "rocketmq_producer_count", group=EXTRA_PRODUCER_GROUP))
                    and any(
                        value > 0
                        for _, value in _of(
                            samples, "rocketmq_group_get_latency_by_storetime", group=LAG_GROUP
                        )
                    )
                    and all(_of(samples, f, clientId=client_id) for f in CLIENT_FAMILIES)
                )

            return await scrape_until(console.url, ready), client_id
        finally:
            await live.consumer.shutdown()


def test_producer_count_latency_and_client_series(console_cluster: ConsoleCluster) -> None:
    run_async(create_topic(console_cluster.cluster, EXTRA_TOPIC, on_slaves=False))
    samples, client_id = run_async(extra_series(console_cluster), timeout=150)

    producers = _of(samples, "rocketmq_producer_count", group=EXTRA_PRODUCER_GROUP)
    assert {labels["broker"] for labels, _ in producers} <= {"broker-a", "broker-b"}
    assert producers and all(value == 1 for _, value in producers), producers
    assert set(producers[0][0]) == {"cluster", "broker", "group"}

    latencies = _of(samples, "rocketmq_group_get_latency_by_storetime", group=LAG_GROUP)
    assert {labels["topic"] for labels, _ in latencies} >= {EXTRA_TOPIC}
    assert max(value for _, value in latencies) > 0, latencies

    pulls = _of(samples, "rocketmq_client_consumer_pull_tps", clientId=client_id)
    assert {labels["topic"] for labels, _ in pulls} == {EXTRA_TOPIC, f"%RETRY%{LIVE_GROUP}"}
    assert all(labels["group"] == LIVE_GROUP and labels["clientAddr"] for labels, _ in pulls)
