"""Broker commands: brokerStatus, getBrokerConfig, updateBrokerConfig, cleanExpiredCQ,
cleanUnusedTopic, brokerConsumeStats, sendMsgStatus (tools/command/broker/*.java)."""

from __future__ import annotations

import time

import click

from orbitmq.admin.commands.topic import broker_names_of_cluster, masters_of_cluster
from orbitmq.admin.message_format import message_queue_str
from orbitmq.admin.runner import (
    JAVA_BOOL,
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import broker_consume_stats_lines, broker_status_lines, config_lines
from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.client.message import Message
from orbitmq.client.producer import Producer
from orbitmq.client.route import MASTER_ID


def cluster_brokers(info: ClusterInfo, cluster: str) -> list[tuple[str, list[str]]]:
    """(master address, slave addresses) of each broker set of `cluster`, by name.

    Raises:
        CommandError: the cluster is unknown.
    """
    result = []
    for name in broker_names_of_cluster(info, cluster):
        broker = info.broker_addr_table.get(name)
        if broker is None:
            continue
        slaves = [broker.broker_addrs[i] for i in sorted(broker.broker_addrs) if i != MASTER_ID]
        result.append((broker.broker_addrs.get(MASTER_ID, ""), slaves))
    return result


def all_addrs(info: ClusterInfo, cluster: str | None) -> list[str]:
    """Every address (masters and slaves) of one cluster, or of all clusters."""
    clusters = [cluster] if cluster else sorted(info.cluster_addr_table)
    addrs = []
    for name in clusters:
        for master, slaves in cluster_brokers(info, name):
            addrs += [a for a in (master, *slaves) if a]
    return addrs


def _require_target(broker_addr: str | None, cluster: str | None) -> None:
    if broker_addr is None and cluster is None:
        raise click.UsageError("one of -b BROKER_ADDR or -c CLUSTER is required")


@admin_command("brokerStatus", help="Fetch broker runtime status data")
@click.option("-b", "--brokerAddr", "broker_addr", default=None, help="Broker address")
@click.option("-c", "--clusterName", "cluster", default=None, help="which cluster")
def broker_status(namesrv_addr: str | None, broker_addr: str | None, cluster: str | None) -> None:
    _require_target(broker_addr, cluster)
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        out = output()
        async with MQAdmin(namesrv, **client_options()) as admin:
            if broker_addr is not None:
                table = await admin.get_broker_runtime_info(broker_addr.strip())
                out.lines(broker_status_lines(table))
                out.result(dict(sorted(table.items())))
                return
            assert cluster is not None
            result = {}
            for addr in all_addrs(await admin.cluster_info(), cluster.strip()):
                table = await admin.get_broker_runtime_info(addr)
                out.lines(broker_status_lines(table, addr))
                result[addr] = dict(sorted(table.items()))
            out.result(result)

    run_command("brokerStatus", body())


@admin_command("getBrokerConfig", help="Get broker config by cluster or special broker!")
@click.option("-b", "--brokerAddr", "broker_addr", default=None, help="get which broker")
@click.option("-c", "--clusterName", "cluster", default=None, help="get which cluster")
def get_broker_config(
    namesrv_addr: str | None, broker_addr: str | None, cluster: str | None
) -> None:
    _require_target(broker_addr, cluster)
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        out = output()
        result = {}
        async with MQAdmin(namesrv, **client_options()) as admin:

            async def show(title: str, addr: str) -> None:
                config = await admin.get_broker_config(addr)
                out.lines(config_lines(title, config))
                out.line()
                result[addr] = config

            if broker_addr is not None:
                await show(broker_addr.strip(), broker_addr.strip())
            else:
                assert cluster is not None
                for master, slaves in cluster_brokers(await admin.cluster_info(), cluster.strip()):
                    await show(f"Master: {master}", master)
                    for slave in slaves:
                        await show(f"My Master: {master}=====Slave: {slave}", slave)
        out.result(result)

    run_command("getBrokerConfig", body())


@admin_command("updateBrokerConfig", help="Update broker's config")
@click.option("-b", "--brokerAddr", "broker_addr", default=None, help="update which broker")
@click.option("-c", "--clusterName", "cluster", default=None, help="update which cluster")
@click.option("-k", "--key", required=True, help="config key")
@click.option("-v", "--value", required=True, help="config value")
def update_broker_config(
    namesrv_addr: str | None, broker_addr: str | None, cluster: str | None, key: str, value: str
) -> None:
    _require_target(broker_addr, cluster)
    if not key.strip():
        raise click.BadParameter("the config key is empty", param_hint="-k")
    namesrv = resolve_namesrv(namesrv_addr)
    properties = {key.strip(): value.strip()}

    async def body() -> None:
        updated = []
        async with MQAdmin(namesrv, **client_options()) as admin:
            if broker_addr is not None:
                addrs = [broker_addr.strip()]
            else:
                assert cluster is not None
                addrs = [
                    a for _, a in masters_of_cluster(await admin.cluster_info(), cluster.strip())
                ]
            for addr in addrs:
                note = await admin.update_broker_config(addr, properties)
                output().line(f"update broker config success, {addr}")
                if note:
                    click.echo(f"note: {addr}: {note}", err=True)
                updated.append({"brokerAddr": addr, "note": note})
        output().result({"key": key.strip(), "value": value.strip(), "brokers": updated})

    run_command("updateBrokerConfig", body())


def _cleanup_command(name: str, help: str, method: str):  # type: ignore[no-untyped-def]
    """cleanExpiredCQ / cleanUnusedTopic: one broker (-b), one cluster (-c) or all."""

    @admin_command(name, help=help)
    @click.option("-b", "--brokerAddr", "broker_addr", default=None, help="Broker address")
    @click.option("-c", "--cluster", "cluster", default=None, help="cluster name")
    def command(namesrv_addr: str | None, broker_addr: str | None, cluster: str | None) -> None:
        namesrv = resolve_namesrv(namesrv_addr)

        async def body() -> None:
            async with MQAdmin(namesrv, **client_options()) as admin:
                if broker_addr is not None:
                    addrs = [broker_addr.strip()]
                else:
                    addrs = all_addrs(await admin.cluster_info(), cluster and cluster.strip())
                if not addrs:
                    raise CommandError("no broker found at the NameServer")
                for addr in addrs:
                    await getattr(admin, method)(addr)
            output().line("success")
            output().result({"success": True, "brokers": addrs})

        run_command(name, body())

    return command


clean_expired_cq = _cleanup_command(
    "cleanExpiredCQ", "Clean expired ConsumeQueue on broker.", "clean_expired_consume_queue"
)
clean_unused_topic = _cleanup_command(
    "cleanUnusedTopic", "Clean unused topic on broker.", "clean_unused_topic"
)


@admin_command("brokerConsumeStats", help="Fetch broker consume stats data")
@click.option("-b", "--brokerAddr", "broker_addr", required=True, help="Broker address")
@click.option(
    "-t",
    "--timeoutMillis",
    "timeout_ms",
    type=click.IntRange(1),
    default=50000,
    help="request timeout Millis",
)
@click.option("-l", "--level", type=int, default=0, help="threshold of print diff")
@click.option("-o", "--order", type=JAVA_BOOL, default=False, help="order topic")
def broker_consume_stats(
    namesrv_addr: str | None, broker_addr: str, timeout_ms: int, level: int, order: bool
) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            stats = await admin.fetch_consume_stats_in_broker(
                broker_addr.strip(), order, timeout_ms / 1000
            )
        output().lines(broker_consume_stats_lines(stats, level))
        rows = []
        for group, per_topic in stats.groups:
            for consume_stats in per_topic:
                for mq, w in sorted(consume_stats.offset_table.items()):
                    rows.append(
                        {"topic": mq.topic, "group": group, "brokerName": mq.broker_name,
                         "queueId": mq.queue_id, "brokerOffset": w.broker_offset,
                         "consumerOffset": w.consumer_offset, "diff": w.diff,
                         "lastTimestamp": w.last_timestamp}
                    )  # fmt: skip
        output().result(
            {"brokerAddr": stats.broker_addr, "totalDiff": stats.total_diff, "queues": rows}
        )

    run_command("brokerConsumeStats", body(), timeout=max(60.0, timeout_ms / 1000 + 5))


def _jodie(size: int) -> bytes:
    """SendMsgStatusCommand.buildMessage: "hello jodie" once per started 11 bytes."""
    return b"hello jodie" * -(-size // 11)


@admin_command("sendMsgStatus", help="send msg to broker.")
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker Name")
@click.option(
    "-s",
    "--messageSize",
    "size",
    type=click.IntRange(1),
    default=128,
    help="Message Size, Default: 128",
)
@click.option(
    "-c", "--count", type=click.IntRange(1), default=50, help="send message count, Default: 50"
)
def send_msg_status(namesrv_addr: str | None, broker_name: str, size: int, count: int) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    topic = broker_name.strip()  # every broker has a topic named after itself
    payload = _jodie(size)

    async def body() -> None:
        async with Producer("PID_SMSC", namesrv, **client_options()) as producer:
            await producer.send(Message(topic, _jodie(16)))
            for _ in range(count):
                start = time.monotonic()
                result = await producer.send(Message(topic, payload))
                rt = int((time.monotonic() - start) * 1000)
                mq = result.message_queue
                queue = message_queue_str(mq.topic, mq.broker_name, mq.queue_id)
                output().line(
                    f"rt={rt}ms, SendResult=SendResult [sendStatus={result.status.name}, "
                    f"msgId={result.msg_id}, offsetMsgId={result.offset_msg_id}, "
                    f"messageQueue={queue}, queueOffset={result.queue_offset}]"
                )
                output().record(
                    {"rt": rt, "msgId": result.msg_id, "sendStatus": result.status.name}
                )

    run_command("sendMsgStatus", body())


COMMANDS = [
    broker_status,
    get_broker_config,
    update_broker_config,
    clean_expired_cq,
    clean_unused_topic,
    broker_consume_stats,
    send_msg_status,
]
