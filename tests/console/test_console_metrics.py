"""The console's /metrics against the running 2m-2s cluster: rocketmq-exporter's names,
and a group's lag equal to what `mqadmin consumerProgress` reports."""

from __future__ import annotations

import json
import subprocess
import sys
import time

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
