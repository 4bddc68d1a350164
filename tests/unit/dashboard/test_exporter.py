"""The console's /metrics families: rocketmq-exporter's names and labels over a snapshot,
and GET_BROKER_RUNTIME_INFO values parsed one key at a time."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orbitmq.dashboard.exporter import FAMILY_NAMES, exporter_registry, families
from orbitmq.dashboard.figures import (
    BrokerFigures,
    BrokerRef,
    ClientConsumeStatus,
    GroupFigures,
    GroupLatency,
    OnlineConsumers,
    ProducerCount,
    Snapshot,
    TopicFigures,
    client_statuses,
)
from orbitmq.dashboard.runtime_stats import RUNTIME_METRIC_NAMES, human_bytes, runtime_values

MASTER_A = BrokerRef("C", "broker-a", 0, "10.0.0.1:10911")
SLAVE_A = BrokerRef("C", "broker-a", 1, "10.0.0.2:10911")
MASTER_B = BrokerRef("C", "broker-b", 0, "10.0.0.3:10911")
RUNTIME = {
    "brokerVersionDesc": "OrbitMQ 0.1.0",
    "brokerVersion": "409",
    "bootTimestamp": "1700000000000",
    "msgPutTotalTodayNow": "120",
    "putTps": "12.5 10.0 9.75",
    "getTransferedTps": "3.0 2.0 1.0",
    "commitLogDirCapacity": "Total : 49.0 GiB, Free : 20.5 GiB.",
    "remainHowManyDataToFlush": "1.5 KiB",
    "putMessageDistributeTime": "[<=0ms]:5 [0~10ms]:7 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 "
    "[200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:1 ",
    "commitLogMaxOffset": "5000",
    "commitLogDiskRatio": "0.25",
}


def _snapshot() -> Snapshot:
    return Snapshot(
        taken_ms=1,
        brokers=(
            BrokerFigures(MASTER_A, RUNTIME, put_tps=4.567, get_tps=1.0),
            BrokerFigures(SLAVE_A, {"commitLogMaxOffset": "4200"}),
            BrokerFigures(MASTER_B, {}),  # did not answer
        ),
        topics=(
            TopicFigures("C", "broker-a", "Orders", 300, 1.234),
            TopicFigures("C", "broker-b", "Orders", 200, 0.5),
            TopicFigures("C", "broker-a", "%RETRY%G", 4, 0.0),
            TopicFigures("C", "broker-a", "%DLQ%G", 2, 0.0),
        ),
        groups=(
            GroupFigures("C", "broker-a", "G", "Orders", 300, 290, 2.0),
            GroupFigures("C", "broker-b", "G", "Orders", 200, 180, 1.0),
            GroupFigures("C", "broker-a", "G", "%RETRY%G", 4, 1, 0.0),
            GroupFigures("C", "broker-a", "B", "Orders", 300, 100, 0.0),
        ),
        online={
            "G": OnlineConsumers(
                "G", ("10.1.1.1:5000", "10.1.1.2:5000"), ("c1", "c2"), "CLUSTERING"
            ),
            "B": OnlineConsumers("B", ("10.1.1.3:5000",), ("c3",), "BROADCASTING"),
        },
    )


def _samples(snapshot: Snapshot | None) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(dict(s.labels), s.value) for s in f.samples] for f in families(snapshot)}


def test_every_family_is_a_gauge_with_rocketmq_exporters_name_even_when_empty() -> None:
    empty = families(None)
    assert [f.name for f in empty] == list(FAMILY_NAMES)
    assert all(f.type == "gauge" and not f.samples for f in empty)
    assert {
        "rocketmq_group_diff",
        "rocketmq_producer_tps",
        "rocketmq_consumer_tps",
        "rocketmq_brokeruntime_put_tps10",
        "rocketmq_brokeruntime_pmdt_10stomore",
        "rocketmq_brokeruntime_commitlogdir_capacity_free",
    } <= set(FAMILY_NAMES)
    assert len(set(FAMILY_NAMES)) == len(FAMILY_NAMES)


def test_group_lag_is_summed_over_broker_sets_for_clustering_groups() -> None:
    samples = _samples(_snapshot())
    assert samples["rocketmq_group_diff"] == [
        ({"group": "G", "topic": "Orders", "countOfOnlineConsumers": "2", "msgModel": "1"}, 30)
    ]  # B is a broadcasting group: no lag series, as in rocketmq-exporter
    assert samples["rocketmq_group_retrydiff"] == [
        ({"group": "G", "topic": "%RETRY%G", "countOfOnlineConsumers": "2", "msgModel": "1"}, 3)
    ]
    assert ({"caddr": "10.1.1.1:5000,10.1.1.2:5000", "localaddr": "c1,c2", "group": "G"}, 2) in (
        samples["rocketmq_group_count"]
    )
    assert (
        {"cluster": "C", "broker": "broker-b", "topic": "Orders", "group": "G"},
        180,
    ) in samples["rocketmq_consumer_offset"]
    assert (
        {"cluster": "C", "broker": "broker-a", "topic": "Orders", "group": "G"},
        2.0,
    ) in samples["rocketmq_consumer_tps"]


def test_topic_offsets_split_into_producer_retry_and_dlq() -> None:
    samples = _samples(_snapshot())
    assert samples["rocketmq_producer_offset"] == [
        ({"cluster": "C", "broker": "broker-a", "topic": "Orders"}, 300),
        ({"cluster": "C", "broker": "broker-b", "topic": "Orders"}, 200),
    ]
    assert samples["rocketmq_producer_tps"][0] == (
        {"cluster": "C", "broker": "broker-a", "topic": "Orders"},
        1.23,
    )
    assert samples["rocketmq_topic_retry_offset"] == [
        ({"cluster": "C", "broker": "broker-a", "topic": "%RETRY%G"}, 4)
    ]
    assert samples["rocketmq_topic_dlq_offset"] == [
        ({"cluster": "C", "broker": "broker-a", "group": "G"}, 2)
    ]


def test_broker_families_and_runtime_labels() -> None:
    samples = _samples(_snapshot())
    broker = {"cluster": "C", "brokerIP": "10.0.0.1:10911", "broker": "broker-a"}
    assert samples["rocketmq_broker_tps"] == [(broker, 4.57)]
    assert samples["rocketmq_broker_qps"] == [(broker, 1.0)]
    assert samples["rocketmq_broker_commitlog_diff"] == [
        ({"cluster": "C", "brokerIP": "10.0.0.2:10911", "broker": "broker-a"}, 800)
    ]
    runtime_labels = {
        "cluster": "C",
        "brokerIP": "10.0.0.1:10911",
        "brokerHost": "",
        "des": "OrbitMQ 0.1.0",
        "boottime": "1700000000000",
        "broker_version": "409",
    }
    assert samples["rocketmq_brokeruntime_put_tps10"] == [(runtime_labels, 12.5)]
    assert samples["rocketmq_brokeruntime_msg_put_total_today_now"] == [(runtime_labels, 120)]
    # masters only, as rocketmq-exporter; a silent master has no runtime series
    assert len(samples["rocketmq_brokeruntime_commitlog_maxoffset"]) == 1


def test_runtime_values_parse_each_key_on_its_own() -> None:
    values = runtime_values(RUNTIME)
    assert values["rocketmq_brokeruntime_put_tps60"] == 10.0
    assert values["rocketmq_brokeruntime_put_tps600"] == 9.75
    assert values["rocketmq_brokeruntime_gettransfered_tps10"] == 3.0  # 4.x spelling
    assert values["rocketmq_brokeruntime_commitlogdir_capacity_total"] == 49.0 * 1024**3
    assert values["rocketmq_brokeruntime_commitlogdir_capacity_free"] == 20.5 * 1024**3
    assert values["rocketmq_brokeruntime_remain_howmanydata_toflush"] == 1536.0
    assert values["rocketmq_brokeruntime_pmdt_0ms"] == 5
    assert values["rocketmq_brokeruntime_pmdt_0to10ms"] == 7
    assert values["rocketmq_brokeruntime_pmdt_10stomore"] == 1
    assert values["rocketmq_brokeruntime_commitlog_disk_ratio"] == 0.25
    assert set(values) <= set(RUNTIME_METRIC_NAMES)
    # RocketMQ sends empty TPS strings in its first seconds: only those series drop
    odd = runtime_values({**RUNTIME, "putTps": "", "commitLogDirCapacity": "unknown"})
    assert "rocketmq_brokeruntime_put_tps10" not in odd
    assert "rocketmq_brokeruntime_commitlogdir_capacity_total" not in odd
    assert odd["rocketmq_brokeruntime_msg_put_total_today_now"] == 120
    assert (
        runtime_values({"getTransferredTps": "1 2 3", "getTransferedTps": "9 9 9"})[
            "rocketmq_brokeruntime_gettransfered_tps600"
        ]
        == 3.0
    )
    assert human_bytes("512 B") == 512.0


def test_registry_output_parses_as_prometheus_text() -> None:
    snapshot = _snapshot()
    registry = exporter_registry(lambda: snapshot)
    parsed = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert set(parsed) == set(FAMILY_NAMES)
    diff = parsed["rocketmq_group_diff"].samples
    assert [(s.labels["group"], s.labels["topic"], s.value) for s in diff] == [("G", "Orders", 30)]


def test_producer_latency_and_client_families_have_rocketmq_exporters_labels() -> None:
    status = ClientConsumeStatus(
        "10.1.1.1:5000", "c1", "G", "Orders", 12.5, 32.0, 3.25, 30.0, 0.5, 7
    )
    snapshot = Snapshot(
        taken_ms=1,
        producers=(ProducerCount("C", "broker-a", "PG", 2),),
        latencies=(GroupLatency("C", "broker-a", "Orders", "G", 65_000),),
        clients=(status,),
    )
    samples = _samples(snapshot)
    assert samples["rocketmq_producer_count"] == [
        ({"cluster": "C", "broker": "broker-a", "group": "PG"}, 2)
    ]
    assert samples["rocketmq_group_get_latency_by_storetime"] == [
        ({"cluster": "C", "broker": "broker-a", "topic": "Orders", "group": "G"}, 65_000)
    ]
    client = {"clientAddr": "10.1.1.1:5000", "clientId": "c1", "group": "G", "topic": "Orders"}
    clients = {name: v for name, v in samples.items() if name.startswith("rocketmq_client")}
    assert clients == {
        "rocketmq_client_consume_fail_msg_count": [(client, 7)],
        "rocketmq_client_consume_fail_msg_tps": [(client, 0.5)],
        "rocketmq_client_consume_ok_msg_tps": [(client, 30.0)],
        "rocketmq_client_consume_rt": [(client, 3.25)],
        "rocketmq_client_consumer_pull_rt": [(client, 12.5)],
        "rocketmq_client_consumer_pull_tps": [(client, 32.0)],
    }
    order = list(FAMILY_NAMES)  # rocketmq-exporter's order
    assert order.index("rocketmq_group_count") + 1 == order.index("rocketmq_producer_count")
    assert order.index("rocketmq_consumer_offset") + 1 == order.index(
        "rocketmq_group_get_latency_by_storetime"
    )


def test_a_running_info_status_table_becomes_client_figures() -> None:
    table = {"T": {"pullRT": "1.5", "consumeFailedMsgs": 4}, "%RETRY%G": {}}
    statuses = client_statuses("10.1.1.1:5000", "c1", "G", table)
    assert [(s.topic, s.pull_rt, s.pull_tps, s.consume_failed_msgs) for s in statuses] == [
        ("%RETRY%G", 0.0, 0.0, 0),  # a figure left out is 0
        ("T", 1.5, 0.0, 4),
    ]
