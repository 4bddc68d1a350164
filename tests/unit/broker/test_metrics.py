"""The broker's Prometheus series: counters fed by the hot paths, the collector's families,
the exporter's HTTP endpoint and its settings.

The in-process tests start a real BrokerController with metricsExporterType=PROM on an
ephemeral port and feed frames to a RemotingConnection whose transport keeps the answers,
as tests/unit/broker/test_send_lane.py does; scrapes are parsed with prometheus-client's
own parser.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from orbitmq.broker.broker import BrokerController
from orbitmq.broker.metrics.counters import BrokerMetrics, RpcLatency
from orbitmq.broker.metrics.labels import parse_metrics_label
from orbitmq.client.message import Message, create_uniq_id
from orbitmq.client.route import MessageQueue
from orbitmq.client.send_codec import single_request
from orbitmq.config_file import ConfigError
from orbitmq.http_serving import HttpServeError, serve_asgi
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import FLAG_ONEWAY, RemotingCommand
from orbitmq.protocol.frame import encode_frame
from orbitmq.protocol.message import SysFlag
from tests.unit.inprocess import broker_config

from .wire import connect

TOPIC = "MetricsTopic"
GROUP = "CG_METRICS"
QUEUES = 4
BASE = {"cluster": "DefaultCluster", "node_type": "broker", "node_id": "broker-a", "zone": "z1"}


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[BrokerController]:
    config = broker_config(
        tmp_path,
        "",
        metrics_exporter_type="PROM",
        metrics_prom_exporter_host="127.0.0.1",
        metrics_prom_exporter_port=0,
        metrics_label="zone:z1",
    )
    running = BrokerController(config)
    await running.start()
    running.topic_config_manager.create_in_send(TOPIC, "TBW102", QUEUES)
    yield running
    await running.aclose()


def _send_frame(opaque: int, queue_id: int, message: Message, *, oneway: bool = False) -> bytes:
    request = single_request(
        "PG_METRICS",
        MessageQueue(message.topic, "broker-a", queue_id),
        message,
        create_uniq_id(),
        1 << 20,
    )
    request.opaque = opaque
    if oneway:
        request.flag |= FLAG_ONEWAY
    return encode_frame(request)


def _request_frame(opaque: int, code: int, ext: dict[str, str]) -> bytes:
    request = RemotingCommand.request(code, ext)
    request.opaque = opaque
    return encode_frame(request)


async def _settle(broker: BrokerController) -> None:
    store = broker.message_store
    await store.wait_dispatched(store.get_commit_log_max_offset())
    await asyncio.sleep(0.01)  # the connection's flush of the answers


def _scrape(broker: BrokerController) -> list[Sample]:
    assert broker.metrics_exporter is not None
    text = generate_latest(broker.metrics_exporter.registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels` (and the base labels)."""
    wanted = {**BASE, **labels}
    found = [s for s in samples if s.name == name and wanted.items() <= s.labels.items()]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0].value


def _pull_ext(queue_id: int, offset: int) -> dict[str, str]:
    return {
        "consumerGroup": GROUP,
        "topic": TOPIC,
        "queueId": str(queue_id),
        "queueOffset": str(offset),
        "maxMsgNums": "64",
        "sysFlag": "4",
        "commitOffset": "0",
        "suspendTimeoutMillis": "0",
        "subscription": "*",
        "subVersion": "0",
        "expressionType": "TAG",
    }


# ---------------------------------------------------------------------- counters


def test_message_sizes_fall_in_rocketmq_buckets() -> None:
    metrics = BrokerMetrics()
    metrics.record_put("T", "normal", 1, 1024)  # le="1024.0" is inclusive
    metrics.record_put("T", "normal", 1, 1025)
    metrics.record_put("T", "normal", 2, 2 * 5 * 1024 * 1024)  # a batch: its mean, twice
    row = metrics.messages_in[("T", "normal")]
    assert row[:2] == [4, 1024 + 1025 + 10 * 1024 * 1024]
    assert row[2:] == [1, 1, 0, 0, 0, 0, 2]


def test_rpc_latency_buckets_and_sum() -> None:
    rpc = RpcLatency()
    rpc.record(11, 0, False, False, 0.0005)
    rpc.record(11, 0, False, False, 0.001)  # exactly 1 ms: the 1 ms bucket
    rpc.record(11, 0, False, False, 3.5, count=2)
    row = rpc.rows[(11, 0, False, False)]
    assert row[:-1] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert row[-1] == pytest.approx(0.5 + 1 + 7000)


def test_lane_sends_of_fifo_messages_are_told_apart() -> None:
    metrics = BrokerMetrics()
    entries = [
        ("T", None, 0, 0, 0, 0, None, 0, b"", props, 0, None, None)
        for props in (
            b"UNIQ_KEY\x01x\x02",
            b"__SHARDINGKEY\x01k\x02UNIQ_KEY\x01x\x02",
        )
    ]
    metrics.record_sends(entries, [100, 5000], 0, 2)
    assert metrics.messages_in[("T", "normal")][:2] == [1, 100]
    assert metrics.messages_in[("T", "fifo")][:2] == [1, 5000]


# ---------------------------------------------------------------------- settings


def test_metrics_label_is_parsed_and_checked() -> None:
    assert parse_metrics_label(" env:prod , zone:a ,") == {"env": "prod", "zone": "a"}
    assert parse_metrics_label("") == {}
    for bad, needle in (
        ("env", "is not name:value"),
        ("env:a:b", "is not name:value"),
        ("env:", "is not name:value"),
        ("1env:a", "not a Prometheus label name"),
        ("topic:x", "sets label 'topic' itself"),
        ("env:a,env:b", "given twice"),
    ):
        with pytest.raises(ConfigError, match=needle) as info:
            parse_metrics_label(bad)
        assert "metricsLabel=" in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"metrics_exporter_type": "prom"}, "metricsExporterType='prom': expected one of"),
        ({"metrics_prom_exporter_port": 70000}, "metricsPromExporterPort='70000'"),
        ({"metrics_label": "nolabel"}, "metricsLabel='nolabel'"),
    ],
)
def test_bad_metrics_settings_name_the_key(
    tmp_path: Path, overrides: dict[str, object], needle: str
) -> None:
    from orbitmq.broker.config import load_broker_config

    keys = {
        "metrics_exporter_type": "metricsExporterType",
        "metrics_prom_exporter_port": "metricsPromExporterPort",
        "metrics_label": "metricsLabel",
    }
    properties = {keys[k]: str(v) for k, v in overrides.items()}
    properties["storePathRootDir"] = str(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_broker_config(None, properties)
    assert needle in str(info.value)


async def test_disabled_and_unsupported_exporters_count_and_serve_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for kind in ("DISABLE", "OTLP_GRPC"):
        config = broker_config(
            tmp_path, "", store_path_root_dir=str(tmp_path / kind), metrics_exporter_type=kind
        )
        broker = BrokerController(config)
        with caplog.at_level(logging.WARNING):
            await broker.start()
        try:
            assert broker.metrics is None and broker.metrics_exporter is None
            assert broker.dispatcher.rpc_recorder is None
        finally:
            await broker.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("metricsExporterType=OTLP_GRPC is not supported" in w for w in warnings)
    assert not any("DISABLE" in w for w in warnings)


# ---------------------------------------------------------------------- collector


async def test_sends_are_counted_exactly_with_their_bytes_and_latency(
    broker: BrokerController,
) -> None:
    connection, transport = connect(broker)
    messages = [Message(TOPIC, b"x" * (100 + 20 * i), tags="A") for i in range(20)]
    frames = [_send_frame(i + 1, i % QUEUES, m, oneway=i >= 18) for i, m in enumerate(messages)]
    connection.data_received(b"".join(frames[:10]))  # two reads: two lane batches
    connection.data_received(b"".join(frames[10:]))
    await _settle(broker)
    assert len(transport.responses()) == 18
    samples = _scrape(broker)
    labels = {"topic": TOPIC, "message_type": "normal"}
    assert _value(samples, "rocketmq_messages_in_total", **labels, is_system="false") == 20
    # Every record of the commit log is one of these sends.
    written = broker.message_store.get_commit_log_max_offset()
    assert _value(samples, "rocketmq_throughput_in_total", **labels) == written
    assert _value(samples, "rocketmq_message_size_count", **labels) == 20
    assert _value(samples, "rocketmq_message_size_sum", **labels) == written
    assert _value(samples, "rocketmq_message_size_bucket", **labels, le="1024.0") == 20
    rpc = {"request_code": "send_message_v2", "response_code": "success"}
    assert _value(samples, "rocketmq_rpc_latency_count", **rpc, result="success") == 18
    assert _value(samples, "rocketmq_rpc_latency_count", **rpc, result="oneway") == 2
    assert _value(samples, "rocketmq_rpc_latency_bucket", **rpc, result="success", le="+Inf") == 18
    assert _value(samples, "rocketmq_topic_number") == len(broker.topic_config_manager.table)
    assert _value(samples, "rocketmq_broker_permission") == 6
    assert _value(samples, "rocketmq_storage_dispatch_behind_bytes", storage_type="local") == 0


async def test_general_path_sends_carry_their_message_type(broker: BrokerController) -> None:
    connection, transport = connect(broker)
    delayed = Message(TOPIC, b"later", delay_time_level=1)
    fifo = Message(TOPIC, b"in order", properties={"__SHARDINGKEY": "order-1"})
    prepared = Message(TOPIC, b"maybe", properties={"TRAN_MSG": "true", "PGROUP": "PG_METRICS"})
    frames = [_send_frame(i + 1, 0, m) for i, m in enumerate((delayed, fifo, prepared, prepared))]
    connection.data_received(b"".join(frames))
    await _settle(broker)
    answers = transport.responses()
    assert all(a.code == ResponseCode.SUCCESS for a in answers.values())
    samples = _scrape(broker)
    for kind, count in (("delay", 1), ("fifo", 1), ("transaction", 2)):
        value = _value(samples, "rocketmq_messages_in_total", topic=TOPIC, message_type=kind)
        assert value == count, kind
    assert _value(samples, "rocketmq_half_messages", topic=TOPIC) == 2
    service = broker.transaction_service
    for opaque, kind in ((3, SysFlag.TRANSACTION_COMMIT), (4, SysFlag.TRANSACTION_ROLLBACK)):
        answer = answers[opaque]
        service.end_transaction(
            "PG_METRICS",
            int(answer.ext_fields["queueOffset"]),
            int(answer.ext_fields["msgId"][16:], 16),
            kind,
        )
    samples = _scrape(broker)
    assert _value(samples, "rocketmq_commit_messages_total", topic=TOPIC) == 1
    assert _value(samples, "rocketmq_rollback_messages_total", topic=TOPIC) == 1
    assert not [s for s in samples if s.name == "rocketmq_half_messages"]


async def test_pulls_count_messages_out_and_consumer_progress(broker: BrokerController) -> None:
    connection, transport = connect(broker)
    frames = [_send_frame(i + 1, i % 2, Message(TOPIC, b"m" * 300)) for i in range(10)]
    connection.data_received(b"".join(frames))
    await _settle(broker)
    pulls = [_request_frame(100 + q, RequestCode.PULL_MESSAGE, _pull_ext(q, 0)) for q in (0, 1)]
    commit = {"consumerGroup": GROUP, "topic": TOPIC, "queueId": "0", "commitOffset": "2"}
    connection.data_received(
        b"".join(pulls) + _request_frame(200, RequestCode.UPDATE_CONSUMER_OFFSET, commit)
    )
    await _settle(broker)
    answers = transport.responses()
    assert answers[100].code == answers[101].code == ResponseCode.SUCCESS
    pulled_bytes = len(answers[100].body) + len(answers[101].body)
    samples = _scrape(broker)
    labels = {"topic": TOPIC, "consumer_group": GROUP, "is_retry": "false", "is_system": "false"}
    assert _value(samples, "rocketmq_messages_out_total", **labels) == 10
    assert _value(samples, "rocketmq_throughput_out_total", **labels) == pulled_bytes
    # Queue 0: 5 stored, 2 committed, all pulled. Queue 1 was never committed: no lag.
    assert _value(samples, "rocketmq_consumer_lag_messages", **labels) == 3
    assert _value(samples, "rocketmq_consumer_inflight_messages", **labels) == 3
    assert _value(samples, "rocketmq_consumer_ready_messages", **labels) == 0
    assert _value(samples, "rocketmq_consumer_lag_latency", **labels) >= 0
    pull = {"request_code": "pull_message", "response_code": "success", "is_long_polling": "false"}
    assert _value(samples, "rocketmq_rpc_latency_count", **pull) == 2


async def test_dead_letters_are_counted_by_origin_topic_and_group(broker: BrokerController) -> None:
    connection, transport = connect(broker)
    connection.data_received(_send_frame(1, 0, Message(TOPIC, b"poison")))
    await _settle(broker)
    offset = int(transport.responses()[1].ext_fields["msgId"][16:], 16)
    back = {"group": GROUP, "offset": str(offset), "delayLevel": "-1", "originTopic": TOPIC}
    connection.data_received(_request_frame(2, RequestCode.CONSUMER_SEND_MSG_BACK, back))
    await _settle(broker)
    assert transport.responses()[2].code == ResponseCode.SUCCESS
    samples = _scrape(broker)
    dlq = {"topic": TOPIC, "consumer_group": GROUP, "is_system": "false"}
    assert _value(samples, "rocketmq_send_to_dlq_messages_total", **dlq) == 1
    in_topics = {s.labels["topic"] for s in samples if s.name == "rocketmq_messages_in_total"}
    assert in_topics == {TOPIC}  # the dead letter is no produced message


async def test_connections_by_language_and_version(broker: BrokerController) -> None:
    from orbitmq.broker.client_manager import ClientChannelInfo

    manager = broker.client_manager
    producer, _ = connect(broker)
    consumer, _ = connect(broker)
    manager.register_producer("PG_METRICS", ClientChannelInfo(producer, "p@1", "JAVA", 409))
    manager.register_consumer(
        GROUP,
        ClientChannelInfo(consumer, "c@1", "PYTHON", 409),
        consume_type="CONSUME_ACTIVELY",
        message_model="CLUSTERING",
        consume_from_where="CONSUME_FROM_LAST_OFFSET",
        subscriptions=[],
    )
    samples = _scrape(broker)
    assert (
        _value(
            samples,
            "rocketmq_producer_connections",
            language="java",
            version="v4_9_8",
            protocol_type="remoting",
        )
        == 1
    )
    consumer_labels = {"consumer_group": GROUP, "language": "python", "consume_mode": "pull"}
    assert _value(samples, "rocketmq_consumer_connections", **consumer_labels) == 1


# ---------------------------------------------------------------------- HTTP


async def test_exporter_serves_metrics_over_http(broker: BrokerController) -> None:
    port = broker.config.metrics_prom_exporter_port
    assert port > 0
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
        missing = await client.get(f"http://127.0.0.1:{port}/other")
    assert response.status_code == 200
    names = {f.name for f in text_string_to_metric_families(response.text)}
    assert {"rocketmq_topic_number", "rocketmq_storage_flush_behind_bytes"} <= names
    assert missing.status_code == 404


async def test_serve_asgi_binds_reports_and_stops() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    server = await serve_asgi(app, "127.0.0.1", 0, name="test server", lifespan="off")
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{server.port}/")).status_code == 204
        with pytest.raises(HttpServeError, match=f"test server: .*127.0.0.1:{server.port}"):
            await serve_asgi(app, "127.0.0.1", server.port, name="test server")
    finally:
        await server.aclose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", server.port))  # released


async def test_broker_does_not_start_when_its_metrics_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = broker_config(
            tmp_path,
            "",
            metrics_exporter_type="PROM",
            metrics_prom_exporter_host="127.0.0.1",
            metrics_prom_exporter_port=port,
        )
        broker = BrokerController(config)
        with pytest.raises(ConfigError, match=f"metricsPromExporterPort={port}"):
            await broker.start()
    # Nothing is left open: the same store and ports start a broker.
    config.metrics_exporter_type = "DISABLE"
    again = BrokerController(config)
    await again.start()
    await again.aclose()
