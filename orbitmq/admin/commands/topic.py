"""Topic commands: updateTopic, topicList, topicRoute (tools/command/topic/*.java)."""

from __future__ import annotations

import asyncio

import click
import orjson

from orbitmq.admin.formatting import pretty_json, topic_cluster_lines, topic_config_str
from orbitmq.admin.runner import (
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.broker.topic_attributes import attributes_to_text, parse_attributes
from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.client.errors import TopicNotExistError
from orbitmq.client.route import MASTER_ID
from orbitmq.client.route_cache import split_namesrv_addr
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.protocol.topics import is_group_topic

ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"
TOPIC_SYS_FLAG_UNIT = 0x1
TOPIC_SYS_FLAG_UNIT_SUB = 0x2


def broker_names_of_cluster(info: ClusterInfo, cluster: str) -> list[str]:
    """The broker names of `cluster`, sorted.

    Raises:
        CommandError: the cluster is unknown.
    """
    names = info.cluster_addr_table.get(cluster)
    if names is None:
        known = ", ".join(sorted(info.cluster_addr_table)) or "none"
        raise CommandError(f"cluster {cluster!r} not found (known clusters: {known})")
    return sorted(names)


def masters_of_cluster(info: ClusterInfo, cluster: str) -> list[tuple[str, str]]:
    """(brokerName, master address) of every broker set in `cluster`, sorted by name.

    Raises:
        CommandError: the cluster is unknown.
    """
    masters = []
    for name in broker_names_of_cluster(info, cluster):
        broker = info.broker_addr_table.get(name)
        if broker is not None and MASTER_ID in broker.broker_addrs:
            masters.append((name, broker.broker_addrs[MASTER_ID]))
    return masters


def broker_name_of(info: ClusterInfo, addr: str) -> str:
    """CommandUtil.fetchBrokerNameByAddr."""
    for name, broker in info.broker_addr_table.items():
        if addr in broker.broker_addrs.values():
            return name
    raise CommandError(f"no broker with address {addr} is registered at the NameServer")


async def _put_order_conf(admin: MQAdmin, namesrv_addr: str, topic: str, conf: str) -> None:
    """createOrUpdateOrderConf: the ORDER_TOPIC_CONFIG KV entry on every NameServer."""
    ext = {"namespace": ORDER_TOPIC_CONFIG, "key": topic, "value": conf}
    for addr in split_namesrv_addr(namesrv_addr):
        await admin.invoke(addr, RequestCode.PUT_KV_CONFIG, ext)


@admin_command("updateTopic", help="Update or create topic")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option(
    "-b", "--brokerAddr", "broker_addr", default=None, help="create topic to which broker"
)
@click.option("-c", "--clusterName", "cluster", default=None, help="create topic to which cluster")
@click.option(
    "-a",
    "--attributes",
    default=None,
    help="attribute(+a=b,+c=d,-e), e.g. +message.type=FIFO (NORMAL, FIFO, DELAY, "
    "TRANSACTION, MIXED)",
)
@click.option("-r", "--readQueueNums", "read_nums", type=int, default=8, show_default=True)
@click.option("-w", "--writeQueueNums", "write_nums", type=int, default=8, show_default=True)
@click.option(
    "-p",
    "--perm",
    type=int,
    default=6,
    show_default=True,
    help="set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]",
)
@click.option("-o", "--order", type=click.BOOL, default=False, help="set topic's order(true|false)")
@click.option("-u", "--unit", type=click.BOOL, default=False, help="is unit topic (true|false)")
@click.option("-s", "--hasUnitSub", "unit_sub", type=click.BOOL, default=False, help="has unit sub")
def update_topic(
    namesrv_addr: str | None,
    topic: str,
    broker_addr: str | None,
    cluster: str | None,
    attributes: str | None,
    read_nums: int,
    write_nums: int,
    perm: int,
    order: bool,
    unit: bool,
    unit_sub: bool,
) -> None:
    if broker_addr is None and cluster is None:
        raise click.UsageError("one of -b BROKER_ADDR or -c CLUSTER is required")
    namesrv = resolve_namesrv(namesrv_addr)
    topic = topic.strip()
    sys_flag = (TOPIC_SYS_FLAG_UNIT if unit else 0) | (TOPIC_SYS_FLAG_UNIT_SUB if unit_sub else 0)

    async def body() -> None:
        out = output()
        # Checked here first, as UpdateTopicSubCommand does (AttributeParser.parseToMap);
        # the broker checks the change against the topic's current attributes.
        changes = parse_attributes(attributes.strip()) if attributes is not None else None
        attributes_text = attributes_to_text(changes or {})
        async with MQAdmin(namesrv, **client_options()) as admin:
            created: list[str] = []

            async def create(addr: str) -> None:
                await admin.create_topic(
                    addr,
                    topic,
                    read_nums,
                    write_nums,
                    perm,
                    order,
                    topic_sys_flag=sys_flag,
                    attributes=attributes_text,
                )
                created.append(addr)

            if broker_addr is not None:
                addr = broker_addr.strip()
                await create(addr)
                if order:
                    name = broker_name_of(await admin.cluster_info(), addr)
                    conf = f"{name}:{write_nums}"
                    await _put_order_conf(admin, namesrv, topic, conf)
                    out.line(f"set broker orderConf. isOrder=true, orderConf=[{conf}]")
                out.line(f"create topic to {addr} success.")
            else:
                assert cluster is not None
                masters = masters_of_cluster(await admin.cluster_info(), cluster.strip())
                if not masters:
                    raise CommandError(f"cluster {cluster!r} has no master broker")
                for _, addr in masters:
                    await create(addr)
                    out.line(f"create topic to {addr} success.")
                if order:
                    conf = ";".join(f"{name}:{write_nums}" for name, _ in masters)
                    await _put_order_conf(admin, namesrv, topic, conf)
                    out.line(f"set cluster orderConf. isOrder=true, orderConf=[{conf}]")
            out.line(
                topic_config_str(
                    topic, read_nums, write_nums, perm, "SINGLE_TAG", sys_flag, order, changes
                )
            )
            out.result(
                {
                    "brokers": created,
                    "topicConfig": {
                        "topicName": topic,
                        "readQueueNums": read_nums,
                        "writeQueueNums": write_nums,
                        "perm": perm,
                        "topicSysFlag": sys_flag,
                        "order": order,
                        "attributes": changes or {},
                    },
                }
            )

    run_command("updateTopic", body())


async def _consumer_groups(admin: MQAdmin, topic: str, master: str | None) -> list[str]:
    """QUERY_TOPIC_CONSUME_BY_WHO at the topic's first master; [] when it cannot tell."""
    if master is None:
        return []
    try:
        response = await admin.invoke(
            master, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": topic}
        )
        raw = loads_tolerant(response.body) if response.body else {}
        return sorted(str(g) for g in raw.get("groupList") or [])
    except Exception:  # as TopicListSubCommand: an unanswered lookup prints no group
        return []


async def _topic_cluster_row(
    admin: MQAdmin, info: ClusterInfo, topic: str
) -> tuple[str, str, list[str]]:
    try:
        route = await admin.topic_route(topic)
    except Exception:
        return "", topic, []
    if not route.broker_datas:
        return "", topic, []
    first = route.broker_datas[0]
    cluster = next(
        (c for c, names in info.cluster_addr_table.items() if first.broker_name in names), ""
    )
    return cluster, topic, await _consumer_groups(admin, topic, first.master_addr)


@admin_command("topicList", help="Fetch all topic list from name server")
@click.option("-c", "--clusterModel", "cluster_model", is_flag=True, help="clusterModel")
def topic_list(namesrv_addr: str | None, cluster_model: bool) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        out = output()
        async with MQAdmin(namesrv, **client_options()) as admin:
            if not cluster_model:
                for topic in await admin.topic_list():
                    out.line(topic)
                    out.record(topic)
                return
            info = await admin.cluster_info()
            topics = [t for t in await admin.topic_list() if not is_group_topic(t)]
            rows = await asyncio.gather(*(_topic_cluster_row(admin, info, t) for t in topics))
            out.lines(topic_cluster_lines(rows))
            for cluster, topic, groups in rows:
                out.record({"cluster": cluster, "topic": topic, "consumerGroups": groups})

    run_command("topicList", body())


@admin_command("topicRoute", help="Examine topic route info")
@click.option("-t", "--topic", required=True, help="topic name")
def topic_route(namesrv_addr: str | None, topic: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    topic = topic.strip()

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            ext = {"topic": topic, "acceptStandardJsonOnly": "true"}
            response = await admin.invoke_namesrv(RequestCode.GET_ROUTEINFO_BY_TOPIC, ext)
            if not response.body:
                raise TopicNotExistError(
                    ResponseCode.TOPIC_NOT_EXIST,
                    f"No topic route info in name server for the topic: {topic}",
                )
            try:
                route = loads_tolerant(response.body)
            except orjson.JSONDecodeError as exc:
                raise CommandError(f"the NameServer sent an undecodable route: {exc}") from exc
            output().line(pretty_json(route))
            output().result(route)

    run_command("topicRoute", body())


COMMANDS = [update_topic, topic_list, topic_route]
