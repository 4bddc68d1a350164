"""Cluster commands: clusterList (tools/command/cluster/ClusterListSubCommand.java)."""

from __future__ import annotations

import asyncio
import time

import click

from orbitmq.admin.formatting import BrokerRow, cluster_list_lines, cluster_more_stats_lines
from orbitmq.admin.runner import describe_error, namesrv_option, resolve_namesrv, run_command
from orbitmq.client.admin import ClusterInfo, MQAdmin

RUNTIME_INFO_TIMEOUT = 3.0


def broker_addresses(info: ClusterInfo) -> list[tuple[str, str, int, str]]:
    """(cluster, brokerName, brokerId, addr) in print order: clusters and names sorted
    (Java iterates a TreeSet of names), ids ascending."""
    out = []
    for cluster in sorted(info.cluster_addr_table):
        for name in sorted(set(info.cluster_addr_table[cluster])):
            broker = info.broker_addr_table.get(name)
            if broker is None:
                continue
            for broker_id in sorted(broker.broker_addrs):
                out.append((cluster, name, broker_id, broker.broker_addrs[broker_id]))
    return out


async def _runtime_info(admin: MQAdmin, addr: str) -> dict[str, str] | None:
    """GET_BROKER_RUNTIME_INFO (28); None (and a note on stderr) if the broker fails."""
    try:
        async with asyncio.timeout(RUNTIME_INFO_TIMEOUT):
            return await admin.get_broker_runtime_info(addr)
    except Exception as exc:
        click.echo(f"warning: broker {addr}: {describe_error(exc)}", err=True)
        return None


@click.command("clusterList", help="List all of clusters")
@namesrv_option
@click.option("-m", "--moreStats", "more_stats", is_flag=True, help="Print more stats")
def cluster_list(namesrv_addr: str | None, more_stats: bool) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv) as admin:
            addresses = broker_addresses(await admin.cluster_info())
            tables = await asyncio.gather(*(_runtime_info(admin, a[3]) for a in addresses))
            rows = [
                BrokerRow(cluster, name, broker_id, addr, table)
                for (cluster, name, broker_id, addr), table in zip(addresses, tables, strict=True)
            ]
            if more_stats:
                lines = cluster_more_stats_lines(rows)
            else:
                lines = cluster_list_lines(rows, time.time_ns() // 1_000_000)
            for line in lines:
                click.echo(line)

    run_command("clusterList", body())


COMMANDS = [cluster_list]
