"""Topic commands: deleteTopic, topicStatus, topicClusterList, updateTopicPerm, allocateMQ
(tools/command/topic/*.java)."""

from __future__ import annotations

import click
import orjson

from orbitmq.admin.commands.topic import masters_of_cluster
from orbitmq.admin.formatting import topic_config_str
from orbitmq.admin.runner import (
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import topic_status_lines
from orbitmq.client.admin import MQAdmin
from orbitmq.client.consumer.rebalance import allocate_averagely
from orbitmq.client.route import MASTER_ID

PERM_CHOICES = (2, 4, 6)


def mq_json(topic: str, broker_name: str, queue_id: int) -> dict[str, object]:
    return {"brokerName": broker_name, "queueId": queue_id, "topic": topic}


async def delete_topic(admin: MQAdmin, cluster: str, topic: str) -> list[str]:
    """DeleteTopicSubCommand.deleteTopic: every master of the cluster, every NameServer."""
    masters = [addr for _, addr in masters_of_cluster(await admin.cluster_info(), cluster)]
    for addr in masters:
        await admin.delete_topic_in_broker(addr, topic)
    output().line(f"delete topic [{topic}] from cluster [{cluster}] success.")
    await admin.delete_topic_in_namesrv(topic, cluster)
    output().line(f"delete topic [{topic}] from NameServer success.")
    return masters


@admin_command("deleteTopic", help="Delete topic from broker and NameServer.")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option(
    "-c", "--clusterName", "cluster", required=True, help="delete topic from which cluster"
)
def delete_topic_command(namesrv_addr: str | None, topic: str, cluster: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            masters = await delete_topic(admin, cluster.strip(), topic.strip())
        output().result({"topic": topic.strip(), "cluster": cluster.strip(), "brokers": masters})

    run_command("deleteTopic", body())


@admin_command("topicStatus", help="Examine topic Status info")
@click.option("-t", "--topic", required=True, help="topic name")
def topic_status(namesrv_addr: str | None, topic: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            table = await admin.examine_topic_stats(topic.strip())
        out = output()
        out.lines(topic_status_lines(table))
        for mq in sorted(table):
            offset = table[mq]
            out.record(
                {
                    **mq_json(mq.topic, mq.broker_name, mq.queue_id),
                    "minOffset": offset.min_offset,
                    "maxOffset": offset.max_offset,
                    "lastUpdateTimestamp": offset.last_update_timestamp,
                }
            )

    run_command("topicStatus", body())


@admin_command("topicClusterList", help="get cluster info for topic")
@click.option("-t", "--topic", required=True, help="topic name")
def topic_cluster_list(namesrv_addr: str | None, topic: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            route = await admin.topic_route(topic.strip())
            info = await admin.cluster_info()
        if not route.broker_datas:
            raise CommandError(f"topic {topic.strip()!r} has no broker in its route")
        name = route.broker_datas[0].broker_name
        clusters = sorted(c for c, names in info.cluster_addr_table.items() if name in names)
        for cluster in clusters:
            output().line(cluster)
            output().record(cluster)

    run_command("topicClusterList", body())


@admin_command("updateTopicPerm", help="Update topic perm")
@click.option(
    "-b", "--brokerAddr", "broker_addr", default=None, help="create topic to which broker"
)
@click.option("-c", "--clusterName", "cluster", default=None, help="create topic to which cluster")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option(
    "-p",
    "--perm",
    type=int,
    required=True,
    help="set topic's permission(2|4|6), intro[2:W; 4:R; 6:RW]",
)
def update_topic_perm(
    namesrv_addr: str | None, broker_addr: str | None, cluster: str | None, topic: str, perm: int
) -> None:
    if broker_addr is None and cluster is None:
        raise click.UsageError("one of -b BROKER_ADDR or -c CLUSTER is required")
    if perm not in PERM_CHOICES:
        raise click.BadParameter(f"{perm} is not one of 2 (W), 4 (R), 6 (RW)", param_hint="-p")
    namesrv = resolve_namesrv(namesrv_addr)
    topic = topic.strip()

    async def body() -> None:
        out = output()
        async with MQAdmin(namesrv, **client_options()) as admin:
            route = await admin.topic_route(topic)
            if not route.queue_datas:
                raise CommandError(f"topic {topic!r} has no queues in its route")
            first = route.queue_datas[0]

            async def update(addr: str) -> None:
                await admin.create_topic(
                    addr,
                    topic,
                    first.read_queue_nums,
                    first.write_queue_nums,
                    perm,
                    topic_sys_flag=first.topic_sys_flag,
                )

            if broker_addr is not None:
                addr = broker_addr.strip()
                name = next(
                    (
                        b.broker_name
                        for b in route.broker_datas
                        if b.broker_addrs.get(MASTER_ID) == addr
                    ),
                    None,
                )
                if name is None:
                    raise CommandError(
                        f"updateTopicPerm error broker {addr} not exist or broker is not master!"
                    )
                old = next((q.perm for q in route.queue_datas if q.broker_name == name), 0)
                if old == perm:
                    out.line("new perm equals to the old one!")
                    out.result({"changed": False, "perm": perm})
                    return
                await update(addr)
                out.line(f"update topic perm from {old} to {perm} in {addr} success.")
                config = topic_config_str(
                    topic, first.read_queue_nums, first.write_queue_nums, perm, "SINGLE_TAG",
                    first.topic_sys_flag,
                )  # fmt: skip
                out.line(f"{config}.")
                out.result({"changed": True, "brokers": [addr], "oldPerm": old, "perm": perm})
                return
            assert cluster is not None
            masters = masters_of_cluster(await admin.cluster_info(), cluster.strip())
            for _, addr in masters:
                await update(addr)
                out.line(f"update topic perm from {first.perm} to {perm} in {addr} success.")
            out.result(
                {
                    "changed": True,
                    "brokers": [a for _, a in masters],
                    "oldPerm": first.perm,
                    "perm": perm,
                }
            )

    run_command("updateTopicPerm", body())


@admin_command("allocateMQ", help="Allocate MQ")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option("-i", "--ipList", "ip_list", required=True, help="ipList")
def allocate_mq(namesrv_addr: str | None, topic: str, ip_list: str) -> None:
    ips = [ip.strip() for ip in ip_list.split(",") if ip.strip()]
    if not ips:
        raise click.BadParameter("give at least one client ip, comma separated", param_hint="-i")
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            route = await admin.topic_route(topic.strip())
        queues = route.subscribe_queues(topic.strip())
        result = {
            ip: [
                mq_json(q.topic, q.broker_name, q.queue_id)
                for q in allocate_averagely(queues, ips, ip)
            ]
            for ip in ips
        }
        # RemotingSerializable.toJson(RebalanceResult, false): compact, fields sorted.
        output().line(orjson.dumps({"result": result}).decode())
        output().result({"result": result})

    run_command("allocateMQ", body())


COMMANDS = [delete_topic_command, topic_status, topic_cluster_list, update_topic_perm, allocate_mq]
