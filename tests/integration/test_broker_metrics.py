"""A broker process with metricsExporterType=PROM serves RocketMQ 5's series on /metrics:
exact counts of what our Python producer sent and our pull consumer took, consumer lag,
RPC latency; a second broker on the same host serves its own port; DISABLE serves
nothing; a taken metrics port stops the broker from starting."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from orbitmq.client import Message, MQAdmin, Producer, PullConsumer
from orbitmq.client.consumer.pull_codec import PullStatus
from tests.integration.conftest import Cluster, make_cluster
from tests.processes import (
    ServerProcess,
    broker_properties,
    free_port,
    start_broker,
    write_properties,
)

pytestmark = pytest.mark.slow

TOPIC = "MetricsTopic"
GROUP = "CG_METRICS_PULL"
QUEUES = 4
SENDS = 30


def prom_exporter(port: int) -> dict[str, object]:
    """Broker properties that serve /metrics at 127.0.0.1:`port`."""
    return {
        "metricsExporterType": "PROM",
        "metricsPromExporterHost": "127.0.0.1",
        "metricsPromExporterPort": port,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(
        tmp_path_factory.mktemp("metrics"),
        brokerName="broker-metrics",
        metricsLabel="env:it",
        **prom_exporter(free_port()),
    )
    try:
        yield running
    finally:
        running.stop()


async def scrape(port: int) -> list[Sample]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    families = text_string_to_metric_families(response.text)
    return [sample for family in families for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0].value


async def commit_log_max_offset(admin: MQAdmin, broker_addr: str) -> int:
    return int((await admin.get_broker_runtime_info(broker_addr))["commitLogMaxOffset"])


async def test_sends_pulls_and_lag_are_exact(cluster: Cluster) -> None:
    port = int(cluster.broker_props["metricsPromExporterPort"])
    admin = MQAdmin(cluster.namesrv_addr)
    await admin.start()
    try:
        await admin.create_topic(cluster.broker_addr, TOPIC, QUEUES, QUEUES)
        before = await commit_log_max_offset(admin, cluster.broker_addr)
        producer = Producer("PG_METRICS", cluster.namesrv_addr)
        await producer.start()
        try:
            for i in range(SENDS):
                await producer.send(Message(TOPIC, b"payload-%d" % i * (i + 1), tags="A"))
        finally:
            await producer.shutdown()
        written = await commit_log_max_offset(admin, cluster.broker_addr) - before
    finally:
        await admin.shutdown()

    samples = await scrape(port)
    base = {"cluster": "DefaultCluster", "node_type": "broker", "node_id": "broker-metrics"}
    produced = {**base, "env": "it", "topic": TOPIC, "message_type": "normal", "is_system": "false"}
    assert value(samples, "rocketmq_messages_in_total", **produced) == SENDS
    assert value(samples, "rocketmq_throughput_in_total", **produced) == written
    sends = {"request_code": "send_message_v2", "response_code": "success", "result": "success"}
    assert value(samples, "rocketmq_rpc_latency_count", **sends) >= SENDS

    consumer = PullConsumer(GROUP, cluster.namesrv_addr)
    await consumer.start()
    try:
        queues = await consumer.fetch_message_queues(TOPIC)
        pulled = {}
        for mq in queues:
            result = await consumer.pull(mq, "*", 0, 64)
            if result.status is PullStatus.FOUND:
                pulled[mq] = result.next_begin_offset
        assert sum(pulled.values()) == SENDS
        # Commit all but the last message of every queue that has any.
        for mq, end in pulled.items():
            await consumer.update_consumer_offset(mq, end - 1)
        samples = await scrape(port)
    finally:
        await consumer.shutdown()
    consumed = {**base, "topic": TOPIC, "consumer_group": GROUP, "is_retry": "false"}
    assert value(samples, "rocketmq_messages_out_total", **consumed) == SENDS
    assert value(samples, "rocketmq_throughput_out_total", **consumed) == written
    assert value(samples, "rocketmq_consumer_lag_messages", **consumed) == len(pulled)
    assert value(samples, "rocketmq_consumer_inflight_messages", **consumed) == len(pulled)
    assert value(samples, "rocketmq_consumer_ready_messages", **consumed) == 0
    pulls = {"request_code": "pull_message", "response_code": "success"}
    assert value(samples, "rocketmq_rpc_latency_count", **pulls) >= len(pulled)


async def test_a_second_broker_on_the_host_serves_its_own_port(cluster: Cluster) -> None:
    port = free_port()
    props = broker_properties(
        cluster.workdir,
        cluster.namesrv_addr,
        brokerName="broker-metrics-2",
        **prom_exporter(port),
    )
    second = start_broker(cluster.workdir, props)
    try:
        first_port = int(cluster.broker_props["metricsPromExporterPort"])
        for scrape_port, name in ((port, "broker-metrics-2"), (first_port, "broker-metrics")):
            samples = await scrape(scrape_port)
            assert value(samples, "rocketmq_broker_permission", node_id=name) == 6
    finally:
        second.stop()


async def test_disable_serves_nothing(cluster: Cluster) -> None:
    port = free_port()
    props = broker_properties(
        cluster.workdir,
        cluster.namesrv_addr,
        brokerName="broker-no-metrics",
        metricsExporterType="DISABLE",
        metricsPromExporterPort=port,
    )
    broker = start_broker(cluster.workdir, props)
    try:
        with pytest.raises(httpx.ConnectError):
            await scrape(port)
    finally:
        broker.stop()
    assert "metrics exporter" not in broker.tail(400)


def test_a_taken_metrics_port_stops_the_broker(cluster: Cluster, tmp_path: Path) -> None:
    taken = int(cluster.broker_props["metricsPromExporterPort"])
    props = broker_properties(
        tmp_path,
        cluster.namesrv_addr,
        brokerName="broker-port-taken",
        **prom_exporter(taken),
    )
    path = write_properties(tmp_path / "broker-port-taken.properties", props)
    broker = ServerProcess(
        [sys.executable, "-m", "orbitmq", "broker", "-c", str(path)], "boot success", "taken"
    )
    try:
        exit_code = broker.process.wait(30)
    except subprocess.TimeoutExpired:
        broker.stop()
        raise
    broker.stop()
    assert exit_code != 0
    assert f"metricsPromExporterPort={taken}" in broker.tail()
