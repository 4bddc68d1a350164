"""`orbitmq dledger status|transfer`: each DLedger group's term, leader, commit index and
follower lag, and moving leadership to a chosen member (for maintenance)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click
import orjson

from orbitmq.admin.runner import CommandError, describe_error, resolve_namesrv, run_command
from orbitmq.client.admin import MQAdmin
from orbitmq.dledger.rpc import LEADERSHIP_TRANSFER, METADATA

STATUS_TIMEOUT_S = 3.0

_namesrv = click.option("-n", "--namesrvAddr", "namesrv_addr", help="NameServer address(es).")


async def member_statuses(admin: MQAdmin) -> list[dict[str, Any]]:
    """The Raft status of every broker registered with the NameServers that runs DLedger."""
    info = await admin.cluster_info()
    addresses = sorted(
        {
            addr
            for broker in info.broker_addr_table.values()
            for addr in broker.broker_addrs.values()
        }
    )

    async def one(addr: str) -> dict[str, Any] | None:
        try:
            response = await admin.invoke(addr, METADATA, timeout=STATUS_TIMEOUT_S)
        except Exception as exc:
            click.echo(f"warning: broker {addr}: {describe_error(exc)}", err=True)
            return None
        status: dict[str, Any] = orjson.loads(response.body)
        status["broker_addr"] = addr
        return status

    found = await asyncio.gather(*(one(a) for a in addresses))
    return [s for s in found if s is not None]


def status_lines(statuses: list[dict[str, Any]]) -> list[str]:
    """One line per member, grouped; a leader's line says how far each follower lags."""
    header = (
        f"{'#Group':<16} {'#Member':<8} {'#Role':<10} {'#Term':>6} {'#Leader':<8} "
        f"{'#Commit':>9} {'#Applied':>9} {'#LastIndex':>10} {'#BrokerId':>9} {'#Addr':<22} #Lag"
    )
    lines = [header]
    for status in sorted(statuses, key=lambda s: (s["group"], s["self_id"])):
        lag = ""
        if status["role"] == "LEADER":
            lag = " ".join(
                f"{peer}={status['last_index'] - peer_status['match_index']}"
                for peer, peer_status in sorted(status.get("peers", {}).items())
                if peer != status["self_id"]
            )
        lines.append(
            f"{status['group']:<16} {status['self_id']:<8} {status['role']:<10} "
            f"{status['term']:>6} {status['leader_id'] or '-':<8} "
            f"{status['committed_index']:>9} {status['applied_index']:>9} "
            f"{status['last_index']:>10} {status['broker_id']:>9} {status['broker_addr']:<22} "
            f"{lag}"
        )
    return lines


@click.group(help="Inspect and steer DLedger (Raft) broker groups.")
def dledger() -> None:
    pass


@dledger.command(help="Each DLedger group's members: role, term, leader, commit index, lag.")
@_namesrv
@click.option("--json", "json_output", is_flag=True, help="Print the raw statuses as JSON.")
def status(namesrv_addr: str | None, json_output: bool) -> None:
    async def body() -> None:
        async with MQAdmin(resolve_namesrv(namesrv_addr)) as admin:
            statuses = await member_statuses(admin)
        if not statuses:
            raise CommandError("no DLedger broker is registered with the NameServer(s)")
        if json_output:
            click.echo(orjson.dumps(statuses, option=orjson.OPT_INDENT_2).decode())
            return
        for line in status_lines(statuses):
            click.echo(line)

    run_command("dledger status", body())


@dledger.command(help="Move leadership of a DLedger group to the member TRANSFEREE (e.g. n1).")
@_namesrv
@click.option("-g", "--group", required=True, help="dLegerGroup (normally the brokerName).")
@click.option("-t", "--transferee", required=True, help="The member to lead, e.g. n1.")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for it to lead.")
def transfer(namesrv_addr: str | None, group: str, transferee: str, wait: float) -> None:
    async def body() -> None:
        async with MQAdmin(resolve_namesrv(namesrv_addr)) as admin:
            members = [s for s in await member_statuses(admin) if s["group"] == group]
            leaders = [s for s in members if s["role"] == "LEADER"]
            if not leaders:
                raise CommandError(f"DLedger group {group} has no leader now (or is unknown)")
            leader = leaders[0]
            if leader["self_id"] == transferee:
                click.echo(f"{transferee} already leads {group} (term {leader['term']})")
                return
            await admin.invoke(
                leader["broker_addr"], LEADERSHIP_TRANSFER, {"transfereeId": transferee}
            )
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                for member in await member_statuses(admin):
                    if (
                        member["self_id"] == transferee
                        and member["group"] == group
                        and (member["role"] == "LEADER" and member["broker_id"] == 0)
                    ):
                        click.echo(
                            f"{transferee} leads {group} in term {member['term']} and is "
                            f"master at {member['broker_addr']}"
                        )
                        return
            raise CommandError(
                f"{transferee} did not become leader of {group} within {wait:.0f} s "
                "(is it running and caught up? see `orbitmq dledger status`)"
            )

    run_command("dledger transfer", body(), timeout=wait + 15)
