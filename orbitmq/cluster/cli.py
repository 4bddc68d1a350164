"""`orbitmq cluster start|stop|status DIR` (ARCHITECTURE.md §3); docs/deployment.md."""

from __future__ import annotations

import asyncio
import sys
from typing import NoReturn

import click

from orbitmq.cluster.control import (
    cluster_table,
    process_states,
    process_table,
    start_cluster,
    stop_cluster,
)
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.template import DEFAULT_CONSOLE_PORT, ClusterPlan, load_plan
from orbitmq.config_file import ConfigError

_template = click.argument("template", type=click.Path(exists=True, file_okay=False))
_home = click.option(
    "--home",
    envvar="ORBITMQ_HOME",
    default="~/orbitmq",
    show_default=True,
    help="Stores (relative storePathRootDir), logs/ and run/ (pid files) go here.",
)
_port_offset = click.option(
    "--port-offset",
    envvar="ORBITMQ_PORT_OFFSET",
    type=int,
    default=0,
    show_default=True,
    help="Added to every listenPort, haListenPort, namesrvAddr and dLegerPeers port of the folder.",
)


def _plan(
    template: str, home: str, port_offset: int, console_port: int | None = DEFAULT_CONSOLE_PORT
) -> ClusterPlan:
    try:
        return load_plan(template, home, port_offset, console_port)
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _print_cluster_table(plan: ClusterPlan) -> None:
    try:
        lines = asyncio.run(cluster_table(plan.namesrv_addr))
    except Exception as exc:
        click.echo(f"cluster table unavailable from {plan.namesrv_addr}: {exc}", err=True)
        return
    click.echo("\n".join(lines))


@click.group(help="Start, stop and inspect every process of a conf/ template folder.")
def cluster() -> None:
    pass


@cluster.command(
    help="Start the NameServers, masters, DLedger groups and slaves of TEMPLATE in the background."
)
@_template
@_home
@_port_offset
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds to boot and register."
)
@click.option(
    "--dashboard-port",
    type=int,
    default=DEFAULT_CONSOLE_PORT,
    show_default=True,
    help="The web console's port on 127.0.0.1 (moved by --port-offset too).",
)
@click.option("--no-dashboard", is_flag=True, help="Do not start the web console.")
def start(
    template: str,
    home: str,
    port_offset: int,
    timeout: float,
    dashboard_port: int,
    no_dashboard: bool,
) -> None:
    plan = _plan(template, home, port_offset, None if no_dashboard else dashboard_port)
    try:
        start_cluster(plan, timeout, click.echo)
    except (ClusterError, ConfigError, OSError) as exc:
        _fail(f"cluster start failed: {exc}")
    click.echo(f"NameServers: {plan.namesrv_addr}; logs in {plan.log_dir()}")
    for console in plan.consoles:
        click.echo(f"Web console: http://{console.address}/")
    click.echo("")
    _print_cluster_table(plan)


@cluster.command(
    help="Stop the brokers (slaves first, masters last) and then the NameServers of TEMPLATE."
)
@_template
@_home
@_port_offset
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
def stop(template: str, home: str, port_offset: int, timeout: float) -> None:
    plan = _plan(template, home, port_offset)
    stop_cluster(plan, timeout, click.echo)


@cluster.command(help="Show which processes of TEMPLATE run, and the cluster table. "
                 "Exits 1 unless all of them run.")  # fmt: skip
@_template
@_home
@_port_offset
def status(template: str, home: str, port_offset: int) -> None:
    plan = _plan(template, home, port_offset)
    states = process_states(plan)
    click.echo("\n".join(process_table(plan, states)))
    if any(s.pid for s in states if s.spec.kind == "namesrv"):
        click.echo("")
        _print_cluster_table(plan)
    # A console is optional (`start --no-dashboard`): only a missing server is a failure.
    if not all(s.pid for s in states if s.spec.kind != "dashboard"):
        sys.exit(1)
