"""Consumer and producer group commands: updateSubGroup, deleteSubGroup, consumerProgress,
consumerConnection, producerConnection, consumerStatus (tools/command/{consumer,connection})."""

from __future__ import annotations

from typing import Any

import click

from orbitmq.admin.commands.topic import masters_of_cluster
from orbitmq.admin.commands.topic_admin import delete_topic
from orbitmq.admin.formatting import java_str
from orbitmq.admin.runner import (
    JAVA_BOOL,
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import (
    consumer_connection_lines,
    producer_connection_lines,
    version_desc,
)
from orbitmq.client.admin import MQAdmin
from orbitmq.protocol.topics import DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX

# Groups every broker creates for itself (SubscriptionGroupManager.init).
SYSTEM_GROUPS = frozenset(
    {
        "TOOLS_CONSUMER",
        "FILTERSRV_CONSUMER",
        "SELF_TEST_C_GROUP",
        "CID_ONS-HTTP-PROXY",
        "CID_ONSAPI_PULL",
        "CID_ONSAPI_PERMISSION",
        "CID_ONSAPI_OWNER",
    }
)


def subscription_group_str(config: dict[str, Any]) -> str:
    """SubscriptionGroupConfig.toString() of 4.x; with RocketMQ 5's consumeMessageOrderly
    (in 5.x's place) when the config sets it."""
    orderly = ("consumeMessageOrderly",) if "consumeMessageOrderly" in config else ()
    names = (
        "groupName", "consumeEnable", "consumeFromMinEnable", "consumeBroadcastEnable",
        *orderly, "retryQueueNums", "retryMaxTimes", "brokerId",
        "whichBrokerWhenConsumeSlowly", "notifyConsumerIdsChangedEnable",
    )  # fmt: skip
    return (
        "SubscriptionGroupConfig [" + ", ".join(f"{n}={java_str(config[n])}" for n in names) + "]"
    )


def _target_option(what: str) -> Any:
    def decorate(fn: Any) -> Any:
        fn = click.option(
            "-c", "--clusterName", "cluster", default=None, help=f"{what} to which cluster"
        )(fn)
        return click.option(
            "-b", "--brokerAddr", "broker_addr", default=None, help=f"{what} to which broker"
        )(fn)

    return decorate


async def _targets(admin: MQAdmin, broker_addr: str | None, cluster: str | None) -> list[str]:
    if broker_addr is not None:
        return [broker_addr.strip()]
    assert cluster is not None
    return [addr for _, addr in masters_of_cluster(await admin.cluster_info(), cluster.strip())]


def _require_target(broker_addr: str | None, cluster: str | None) -> None:
    if broker_addr is None and cluster is None:
        raise click.UsageError("one of -b BROKER_ADDR or -c CLUSTER is required")


@admin_command("updateSubGroup", help="Update or create subscription group")
@_target_option("create subscription group")
@click.option("-g", "--groupName", "group", required=True, help="consumer group name")
@click.option(
    "-s", "--consumeEnable", "consume_enable", type=JAVA_BOOL, default=True, help="consume enable"
)
@click.option(
    "-m",
    "--consumeFromMinEnable",
    "from_min",
    type=JAVA_BOOL,
    default=False,
    help="from min offset",
)
@click.option(
    "-d", "--consumeBroadcastEnable", "broadcast", type=JAVA_BOOL, default=False, help="broadcast"
)
@click.option(
    "-o",
    "--consumeMessageOrderly",
    "orderly",
    type=JAVA_BOOL,
    default=None,
    help="consume message orderly",
)
@click.option(
    "-q",
    "--retryQueueNums",
    "retry_queue_nums",
    type=click.IntRange(0),
    default=1,
    help="retry queue nums",
)
@click.option(
    "-r",
    "--retryMaxTimes",
    "retry_max_times",
    type=click.IntRange(-1),
    default=16,
    help="retry max times",
)
@click.option(
    "-i",
    "--brokerId",
    "broker_id",
    type=click.IntRange(0),
    default=0,
    help="consumer from which broker id",
)
@click.option(
    "-w",
    "--whichBrokerWhenConsumeSlowly",
    "slow_broker",
    type=click.IntRange(0),
    default=1,
    help="which broker id when consume slowly",
)
@click.option(
    "-a",
    "--notifyConsumerIdsChanged",
    "notify",
    type=JAVA_BOOL,
    default=True,
    help="notify consumerId changed",
)
def update_sub_group(
    namesrv_addr: str | None, broker_addr: str | None, cluster: str | None, group: str,
    consume_enable: bool, from_min: bool, broadcast: bool, orderly: bool | None,
    retry_queue_nums: int, retry_max_times: int, broker_id: int, slow_broker: int,
    notify: bool,
) -> None:  # fmt: skip
    _require_target(broker_addr, cluster)
    namesrv = resolve_namesrv(namesrv_addr)
    config = {
        "groupName": group.strip(),
        "consumeEnable": consume_enable,
        "consumeFromMinEnable": from_min,
        "consumeBroadcastEnable": broadcast,
        "retryQueueNums": retry_queue_nums,
        "retryMaxTimes": retry_max_times,
        "brokerId": broker_id,
        "whichBrokerWhenConsumeSlowly": slow_broker,
        "notifyConsumerIdsChangedEnable": notify,
    }
    if orderly is not None:  # a FIFO group (RocketMQ 5): the proxy delivers it in order
        config["consumeMessageOrderly"] = orderly

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            addrs = await _targets(admin, broker_addr, cluster)
            for addr in addrs:
                await admin.create_subscription_group(addr, config)
                output().line(f"create subscription group to {addr} success.")
        output().line(subscription_group_str(config))
        output().result({"brokers": addrs, "subscriptionGroupConfig": config})

    run_command("updateSubGroup", body())


@admin_command("deleteSubGroup", help="Delete subscription group from broker.")
@_target_option("delete subscription group from which")
@click.option("-g", "--groupName", "group", required=True, help="subscription group name")
@click.option(
    "-r", "--removeOffset", "remove_offset", type=JAVA_BOOL, default=False, help="remove offset"
)
def delete_sub_group(
    namesrv_addr: str | None,
    broker_addr: str | None,
    cluster: str | None,
    group: str,
    remove_offset: bool,
) -> None:
    _require_target(broker_addr, cluster)
    namesrv = resolve_namesrv(namesrv_addr)
    group = group.strip()

    async def body() -> None:
        out = output()
        async with MQAdmin(namesrv, **client_options()) as admin:
            addrs = await _targets(admin, broker_addr, cluster)
            for addr in addrs:
                await admin.delete_subscription_group(addr, group, remove_offset)
                if cluster is None:
                    out.line(f"delete subscription group [{group}] from broker [{addr}] success.")
                else:
                    out.line(
                        f"delete subscription group [{group}] from broker [{addr}] in cluster "
                        f"[{cluster.strip()}] success."
                    )
            if cluster is not None:  # and the group's retry and dead-letter topics
                for prefix in (RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX):
                    await delete_topic(admin, cluster.strip(), prefix + group)
        out.result({"group": group, "brokers": addrs, "removeOffset": remove_offset})

    run_command("deleteSubGroup", body())


def _connections_json(connections: Any) -> list[dict[str, Any]]:
    return [
        {
            "clientId": c.client_id,
            "clientAddr": c.client_addr,
            "language": c.language,
            "version": version_desc(c.version),
        }
        for c in connections
    ]


@admin_command(
    "consumerConnection", help="Query consumer's socket connection, client version and subscription"
)
@click.option("-g", "--consumerGroup", "group", required=True, help="consumer group name")
@click.option("-b", "--brokerAddr", "broker_addr", default=None, help="broker address")
def consumer_connection(namesrv_addr: str | None, group: str, broker_addr: str | None) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            cc = await admin.examine_consumer_connection(
                group.strip(), broker_addr and broker_addr.strip()
            )
        output().lines(consumer_connection_lines(cc))
        output().result({
            "connections": _connections_json(cc.connections),
            "subscriptions": {t: s.get("subString") for t, s in cc.subscription_table.items()},
            "consumeType": cc.consume_type, "messageModel": cc.message_model,
            "consumeFromWhere": cc.consume_from_where,
        })  # fmt: skip

    run_command("consumerConnection", body())


@admin_command("producerConnection", help="Query producer's socket connection and client version")
@click.option("-g", "--producerGroup", "group", required=True, help="producer group name")
@click.option("-t", "--topic", required=True, help="topic name")
def producer_connection(namesrv_addr: str | None, group: str, topic: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            connections = await admin.examine_producer_connection(group.strip(), topic.strip())
        if not connections:
            raise CommandError(f"no producer of group {group.strip()!r} is connected")
        output().lines(producer_connection_lines(connections))
        output().result(_connections_json(connections))

    run_command("producerConnection", body())


COMMANDS = [update_sub_group, delete_sub_group, consumer_connection, producer_connection]
