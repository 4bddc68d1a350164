"""ACL commands (tools/command/acl/*.java, apache/rocketmq 4.9.x): updateAclConfig,
deleteAclConfig, updateGlobalWhiteAddr, clusterAclConfigVersion, getAclConfig.

Each goes to one broker (`-b`) or to every master of a cluster (`-c`), which edits or
reads its own plain_acl.yml (orbitmq/broker/handlers/acl.py). updateAclConfig and
deleteAclConfig use RocketMQ's `-a/--accessKey` `-s/--secretKey` for the account they
edit, so the account that signs them is `--adminAccessKey/--adminSecretKey`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import click
import orjson

from orbitmq.admin.commands.topic import masters_of_cluster
from orbitmq.admin.runner import (
    JAVA_BOOL,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import format_date
from orbitmq.client.admin import MQAdmin
from orbitmq.protocol.codes import RequestCode

_ADMIN_FLAGS = ("--adminAccessKey", "--adminSecretKey")
_TARGET_HELP = "one of -b BROKER_ADDR or -c CLUSTER is required"


def _targets(
    namesrv_addr: str | None,
    broker_addr: str | None,
    cluster: str | None,
    each: Callable[[MQAdmin, str], Awaitable[None]],
) -> None:
    """Run `each(admin, broker address)` on `-b`, or on every master of `-c`."""
    if broker_addr is None and cluster is None:
        raise click.UsageError(_TARGET_HELP)
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            if broker_addr is not None:
                await each(admin, broker_addr.strip())
                return
            assert cluster is not None
            info = await admin.cluster_info()
            for _, addr in masters_of_cluster(info, cluster.strip()):
                await each(admin, addr)

    run_command(click.get_current_context().info_name or "mqadmin", body())


def _target_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("-c", "--clusterName", "cluster", default=None, help="cluster name")(fn)
    return click.option("-b", "--brokerAddr", "broker_addr", default=None, help="broker address")(
        fn
    )


@admin_command(
    "updateAclConfig", help="Update acl config yaml file in broker", credential_flags=_ADMIN_FLAGS
)
@_target_options
@click.option(
    "-a", "--accessKey", "access_key", required=True, help="set accessKey in acl config file"
)
@click.option(
    "-s", "--secretKey", "secret_key", default=None, help="set secretKey in acl config file"
)
@click.option(
    "-w",
    "--whiteRemoteAddress",
    "white",
    default=None,
    help="set white ip Address for account in acl config file",
)
@click.option(
    "-i",
    "--defaultTopicPerm",
    "topic_perm",
    default=None,
    help="set default topicPerm in acl config file",
)
@click.option(
    "-u",
    "--defaultGroupPerm",
    "group_perm",
    default=None,
    help="set default GroupPerm in acl config file",
)
@click.option(
    "-t",
    "--topicPerms",
    "topic_perms",
    default=None,
    help="set topicPerms list,eg: topicA=DENY,topicD=SUB",
)
@click.option(
    "-g",
    "--groupPerms",
    "group_perms",
    default=None,
    help="set groupPerms list,eg: groupD=DENY,groupD=SUB",
)
@click.option(
    "-m",
    "--admin",
    "is_admin",
    type=JAVA_BOOL,
    default=None,
    help="set admin flag in acl config file",
)
def update_acl_config(
    namesrv_addr: str | None,
    broker_addr: str | None,
    cluster: str | None,
    access_key: str,
    secret_key: str | None,
    white: str | None,
    topic_perm: str | None,
    group_perm: str | None,
    topic_perms: str | None,
    group_perms: str | None,
    is_admin: bool | None,
) -> None:
    values = {
        "accessKey": access_key.strip(),
        "secretKey": secret_key,
        "whiteRemoteAddress": white,
        "defaultTopicPerm": topic_perm,
        "defaultGroupPerm": group_perm,
        "topicPerms": topic_perms,
        "groupPerms": group_perms,
        "admin": None if is_admin is None else ("true" if is_admin else "false"),
    }
    ext = {k: v.strip() for k, v in values.items() if v is not None}

    async def each(admin: MQAdmin, addr: str) -> None:
        await admin.invoke(addr, RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, dict(ext))
        output().line(f"create or update plain access config to {addr} success.")
        output().record({"brokerAddr": addr, "accessKey": ext["accessKey"]})

    _targets(namesrv_addr, broker_addr, cluster, each)


@admin_command(
    "deleteAclConfig", help="Delete Acl Config Account in broker", credential_flags=_ADMIN_FLAGS
)
@_target_options
@click.option(
    "-a", "--accessKey", "access_key", required=True, help="set accessKey in acl config file"
)
def delete_acl_config(
    namesrv_addr: str | None, broker_addr: str | None, cluster: str | None, access_key: str
) -> None:
    async def each(admin: MQAdmin, addr: str) -> None:
        ext = {"accessKey": access_key.strip()}
        await admin.invoke(addr, RequestCode.DELETE_ACL_CONFIG, ext)
        output().line(f"delete plain access config account to {addr} success.")
        output().record({"brokerAddr": addr, "accessKey": ext["accessKey"]})

    _targets(namesrv_addr, broker_addr, cluster, each)


@admin_command(
    "updateGlobalWhiteAddr", help="Update global white address for acl Config File in broker"
)
@_target_options
@click.option(
    "-g",
    "--globalWhiteRemoteAddresses",
    "addresses",
    required=True,
    help="set globalWhiteRemoteAddress list,eg: 10.10.103.*,192.168.0.*",
)
def update_global_white_addr(
    namesrv_addr: str | None, broker_addr: str | None, cluster: str | None, addresses: str
) -> None:
    async def each(admin: MQAdmin, addr: str) -> None:
        ext = {"globalWhiteAddrs": addresses.strip()}
        await admin.invoke(addr, RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, ext)
        output().line(f"update global white remote addresses to {addr} success.")
        output().record({"brokerAddr": addr, "globalWhiteAddrs": addresses.strip()})

    _targets(namesrv_addr, broker_addr, cluster, each)


@admin_command(
    "clusterAclConfigVersion", help="List all of acl config version information in cluster"
)
@_target_options
def cluster_acl_config_version(
    namesrv_addr: str | None, broker_addr: str | None, cluster: str | None
) -> None:
    out = output()
    out.line(
        f"{'#Cluster Name':<16}  {'#Broker Name':<22}  {'#Broker Addr':<22}  "
        f"{'#AclConfigVersionNum':<20}  {'#AclLastUpdateTime':<22}"
    )

    async def each(admin: MQAdmin, addr: str) -> None:
        ext = (await admin.invoke(addr, RequestCode.GET_BROKER_CLUSTER_ACL_INFO)).ext_fields
        version = orjson.loads(ext.get("version") or "{}")
        counter, stamp = version.get("counter", 0), version.get("timestamp", 0)
        out.line(
            f"{ext.get('clusterName', ''):<16}  {ext.get('brokerName', ''):<22}  "
            f"{ext.get('brokerAddr', addr):<22}  {counter!s:<20}  {format_date(stamp):<22}"
        )
        out.record(
            {
                "clusterName": ext.get("clusterName"),
                "brokerName": ext.get("brokerName"),
                "brokerAddr": ext.get("brokerAddr", addr),
                "aclConfigVersion": counter,
                "aclLastUpdateTime": stamp,
            }
        )

    _targets(namesrv_addr, broker_addr, cluster, each)


@admin_command("getAclConfig", help="List all of acl config information in cluster")
@_target_options
def get_acl_config(namesrv_addr: str | None, broker_addr: str | None, cluster: str | None) -> None:
    out = output()

    async def each(admin: MQAdmin, addr: str) -> None:
        response = await admin.invoke(addr, RequestCode.GET_BROKER_CLUSTER_ACL_CONFIG)
        config = orjson.loads(response.body or b"{}")
        white = config.get("globalWhiteAddrs") or []
        out.line()
        out.line(f"{'globalWhiteRemoteAddresses':<20}: [{', '.join(white)}]")
        out.line()
        out.line("accounts:")
        for account in config.get("plainAccessConfigs") or []:
            for key, value in account.items():
                text = (
                    f"[{', '.join(value)}]"
                    if isinstance(value, list)
                    else str(value).lower()
                    if isinstance(value, bool)
                    else str(value)
                )
                out.line(f"  {key:<18}: {text}")
            out.line()
        out.record({"brokerAddr": addr, **config})

    _targets(namesrv_addr, broker_addr, cluster, each)


COMMANDS = [
    update_acl_config,
    delete_acl_config,
    update_global_white_addr,
    cluster_acl_config_version,
    get_acl_config,
]
