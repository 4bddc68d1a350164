"""Cluster commands: clusterList, clusterRT (tools/command/cluster/*.java)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import time

import click

from orbitmq.admin.formatting import BrokerRow, cluster_list_lines, cluster_more_stats_lines
from orbitmq.admin.runner import (
    JAVA_BOOL,
    CommandError,
    admin_command,
    client_options,
    describe_error,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.client.message import Message
from orbitmq.client.producer import Producer

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


async def cluster_rows(admin: MQAdmin) -> list[BrokerRow]:
    """Every broker address, master and slave rows alike, with its runtime info."""
    addresses = broker_addresses(await admin.cluster_info())
    tables = await asyncio.gather(*(_runtime_info(admin, a[3]) for a in addresses))
    return [
        BrokerRow(cluster, name, broker_id, addr, table)
        for (cluster, name, broker_id, addr), table in zip(addresses, tables, strict=True)
    ]


@admin_command("clusterList", help="List all of clusters")
@click.option("-m", "--moreStats", "more_stats", is_flag=True, help="Print more stats")
@click.option(
    "-i",
    "--interval",
    type=click.IntRange(1),
    default=None,
    help="specify intervals numbers, it is in seconds",
)
@click.option(
    "--rounds",
    type=click.IntRange(0),
    default=0,
    help="with -i, stop after this many rounds | default 0: never (OrbitMQ)",
)
def cluster_list(
    namesrv_addr: str | None, more_stats: bool, interval: int | None, rounds: int
) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        done = 0
        async with MQAdmin(namesrv, **client_options()) as admin:
            while True:
                rows = await cluster_rows(admin)
                if more_stats:
                    output().lines(cluster_more_stats_lines(rows))
                else:
                    output().lines(cluster_list_lines(rows, time.time_ns() // 1_000_000))
                for row in rows:
                    output().record(
                        {
                            "cluster": row.cluster,
                            "brokerName": row.broker_name,
                            "brokerId": row.broker_id,
                            "addr": row.addr,
                            "runtime": row.runtime,
                        }
                    )
                done += 1
                if interval is None or (rounds and done >= rounds):
                    return
                await asyncio.sleep(interval)

    limit = None if interval is not None and not rounds else 60.0 + rounds * (interval or 0)
    run_command("clusterList", body(), timeout=limit)


RT_HEAD = "%-24s  %-24s  %-4s  %-8s  %-8s"
RT_ROW = "%-24s  %-24s  %-8s  %-16s  %-16s"
TLOG_TIMEZONE = _dt.timezone(_dt.timedelta(hours=8))  # Java prints tlog lines in GMT+8


async def _send_round(
    producer: Producer, topic: str, body: bytes, amount: int
) -> tuple[float, int, int]:
    """CLusterSendMsgRTCommand: `amount` sends; the first one is not timed."""
    elapsed = 0.0
    ok = failed = 0
    for i in range(amount):
        start = time.monotonic()
        try:
            await producer.send(Message(topic, body))
            ok += 1
        except Exception:
            failed += 1
        if i:
            elapsed += (time.monotonic() - start) * 1000
    return elapsed / max(amount - 1, 1), ok, failed


@admin_command("clusterRT", help="List All clusters Message Send RT")
@click.option(
    "-a", "--amount", type=click.IntRange(1), default=100, help="message amount | default 100"
)
@click.option(
    "-s", "--size", type=click.IntRange(1), default=128, help="message size | default 128 Byte"
)
@click.option("-c", "--cluster", default=None, help="cluster name | default display all cluster")
@click.option(
    "-p",
    "--printLog",
    "print_log",
    type=JAVA_BOOL,
    default=False,
    help="print as tlog | default false",
)
@click.option(
    "-m",
    "--machineRoom",
    "machine_room",
    default="noname",
    help="machine room name | default noname",
)
@click.option(
    "-i",
    "--interval",
    type=click.IntRange(0),
    default=10,
    help="print interval | default 10 seconds",
)
@click.option(
    "--rounds",
    type=click.IntRange(0),
    default=0,
    help="stop after this many rounds | default 0: never (OrbitMQ)",
)
def cluster_rt(
    namesrv_addr: str | None, amount: int, size: int, cluster: str | None, print_log: bool,
    machine_room: str, interval: int, rounds: int,
) -> None:  # fmt: skip
    namesrv = resolve_namesrv(namesrv_addr)
    body_bytes = b"a" * size

    async def body() -> None:
        out = output()
        async with (
            MQAdmin(namesrv, **client_options()) as admin,
            Producer(
                str(time.time_ns() // 1_000_000), namesrv, **client_options()
            ) as producer,
        ):
            info = await admin.cluster_info()
            names = [cluster.strip()] if cluster else sorted(info.cluster_addr_table)
            if cluster and cluster.strip() not in info.cluster_addr_table:
                raise CommandError(f"cluster [{cluster.strip()}] not exist")
            if not print_log:
                out.line(
                    RT_HEAD
                    % ("#Cluster Name", "#Broker Name", "#RT", "#successCount", "#failCount")
                )
            done = 0
            while True:
                for name in names:
                    for broker in sorted(info.cluster_addr_table[name]):
                        rt, ok, failed = await _send_round(producer, broker, body_bytes, amount)
                        if print_log:
                            now = _dt.datetime.now(TLOG_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S")
                            out.line(f"{now}|{machine_room}|{name}|{broker}|{round(rt)}")
                        else:
                            out.line(RT_ROW % (name, broker, f"{rt:.2f}", ok, failed))
                        out.record(
                            {
                                "cluster": name,
                                "brokerName": broker,
                                "rt": rt,
                                "successCount": ok,
                                "failCount": failed,
                            }
                        )
                done += 1
                if rounds and done >= rounds:
                    return
                await asyncio.sleep(interval)

    run_command(
        "clusterRT",
        body(),
        timeout=60.0 + rounds * (interval + amount) if rounds else None,
    )


COMMANDS = [cluster_list, cluster_rt]
