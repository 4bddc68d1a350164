"""`orbitmq cluster install|start|stop|status|restart|rolling-restart|logs|config-diff DIR`
(ARCHITECTURE.md §3); docs/deployment.md is the guide."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import click

from orbitmq.cluster.control import (
    StopOutcome,
    cluster_table,
    process_states,
    process_table,
    start_cluster,
    stop_cluster,
)
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.inspect import config_diff, show_logs
from orbitmq.cluster.install import install_cluster
from orbitmq.cluster.remote import DEFAULT_CONNECT_TIMEOUT
from orbitmq.cluster.rolling import DEFAULT_CLIENT_PAUSE, rolling_restart
from orbitmq.cluster.template import DEFAULT_CONSOLE_PORT, ClusterPlan, load_plan
from orbitmq.config_file import ConfigError

_template = click.argument("template", type=click.Path(exists=True, file_okay=False))
_home = click.option(
    "--home",
    envvar="ORBITMQ_HOME",
    default="~/orbitmq",
    show_default=True,
    help="On this machine: stores (relative storePathRootDir), logs/ and run/ (pid files). "
    "Remote hosts use the hosts file's home=.",
)
_port_offset = click.option(
    "--port-offset",
    envvar="ORBITMQ_PORT_OFFSET",
    type=int,
    default=0,
    show_default=True,
    help="Added to every listenPort, haListenPort, namesrvAddr and dLegerPeers port of the folder.",
)
_connect_timeout = click.option(
    "--connect-timeout",
    type=float,
    default=DEFAULT_CONNECT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for a host's ssh before calling it unreachable.",
)
_dashboard_port = click.option(
    "--dashboard-port",
    type=int,
    default=DEFAULT_CONSOLE_PORT,
    show_default=True,
    help="The web console's port on 127.0.0.1 of this machine (moved by --port-offset too).",
)
_no_dashboard = click.option("--no-dashboard", is_flag=True, help="Do not start the web console.")
_start_timeout = click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds to boot and register."
)


def _sigkill_after(flag: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        flag,
        type=float,
        default=30.0,
        show_default=True,
        help="Seconds to wait after SIGTERM before SIGKILL.",
    )


_stop_timeout = _sigkill_after("--stop-timeout")


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


def _timed(what: str, action: Callable[[], Any]) -> Any:
    """Run `action`; a ClusterError/ConfigError/OSError ends the command with exit 1."""
    began = time.monotonic()
    try:
        result = action()
    except (ClusterError, ConfigError, OSError) as exc:
        _fail(f"{what} failed after {time.monotonic() - began:.1f} s: {exc}")
    click.echo(f"{what} took {time.monotonic() - began:.1f} s")
    return result


def _print_cluster_table(plan: ClusterPlan) -> None:
    try:
        lines = asyncio.run(cluster_table(plan.namesrv_addr))
    except Exception as exc:
        click.echo(f"cluster table unavailable from {plan.namesrv_addr}: {exc}", err=True)
        return
    click.echo("\n".join(lines))


def _report_stop(outcome: StopOutcome) -> None:
    if outcome.left:
        names = ", ".join(s.label for s in outcome.left)
        click.echo(f"may still be running: {names}", err=True)
        for host, why in outcome.unreachable.items():
            click.echo(f"  host {host}: {why}", err=True)
        sys.exit(1)


@click.group(
    help="Operate every process of a conf/ template folder: on this machine, or on the "
    "hosts its `hosts` file lists (over ssh)."
)
def cluster() -> None:
    pass


@cluster.command(
    help="Put this OrbitMQ build on every host of TEMPLATE's hosts file: a wheelhouse built "
    "here, copied over ssh into a virtualenv under each host's home (no internet needed there)."
)
@_template
@_home
@_connect_timeout
@click.option(
    "--wheelhouse",
    type=click.Path(exists=True, file_okay=False),
    help="Install these wheels instead of building them here (orbitmq and its dependencies).",
)
def install(template: str, home: str, connect_timeout: float, wheelhouse: str | None) -> None:
    plan = _plan(template, home, 0, None)
    if plan.inventory is None:
        _fail(f"{template} has no hosts file: every process runs on this machine already")
    failed = _timed(
        "install", lambda: install_cluster(plan, click.echo, connect_timeout, wheelhouse)
    )
    if failed:
        _fail(f"not installed on: {', '.join(failed)}")


def _start(
    template: str,
    home: str,
    port_offset: int,
    timeout: float,
    dashboard_port: int,
    no_dashboard: bool,
    connect_timeout: float,
) -> None:
    plan = _plan(template, home, port_offset, None if no_dashboard else dashboard_port)
    outcome = _timed(
        "cluster start", lambda: start_cluster(plan, timeout, click.echo, connect_timeout)
    )
    where = "on each host" if plan.inventory is not None else str(plan.log_dir())
    click.echo(f"NameServers: {plan.namesrv_addr}; logs: {where} (`orbitmq cluster logs`)")
    for console in plan.consoles:
        click.echo(f"Web console: http://{console.address}/")
    click.echo("")
    _print_cluster_table(plan)
    if outcome.degraded:
        click.echo("", err=True)
        click.echo("the cluster is degraded: these hosts could not be reached", err=True)
        for host, why in outcome.unreachable.items():
            names = ", ".join(s.label for s in plan.processes if s.host == host)
            click.echo(f"  {host} ({names}): {why}", err=True)
        click.echo(f"run `orbitmq cluster start {template}` again once they are back", err=True)
        sys.exit(1)


@cluster.command(
    help="Start the NameServers, masters, DLedger groups and slaves of TEMPLATE in the "
    "background, tier by tier, hosts in parallel."
)
@_template
@_home
@_port_offset
@_start_timeout
@_dashboard_port
@_no_dashboard
@_connect_timeout
def start(
    template: str,
    home: str,
    port_offset: int,
    timeout: float,
    dashboard_port: int,
    no_dashboard: bool,
    connect_timeout: float,
) -> None:
    _start(template, home, port_offset, timeout, dashboard_port, no_dashboard, connect_timeout)


@cluster.command(
    help="Stop the console, slaves, masters and then the NameServers of TEMPLATE. "
    "Only processes started from TEMPLATE's configs are signalled."
)
@_template
@_home
@_port_offset
@_sigkill_after("--timeout")
@_connect_timeout
def stop(
    template: str, home: str, port_offset: int, timeout: float, connect_timeout: float
) -> None:
    plan = _plan(template, home, port_offset)
    outcome = _timed(
        "cluster stop", lambda: stop_cluster(plan, timeout, click.echo, connect_timeout)
    )
    _report_stop(outcome)


@cluster.command(
    help="Stop, then start every process of TEMPLATE (see rolling-restart for no downtime)."
)
@_template
@_home
@_port_offset
@_start_timeout
@_stop_timeout
@_dashboard_port
@_no_dashboard
@_connect_timeout
def restart(
    template: str,
    home: str,
    port_offset: int,
    timeout: float,
    stop_timeout: float,
    dashboard_port: int,
    no_dashboard: bool,
    connect_timeout: float,
) -> None:
    plan = _plan(template, home, port_offset)
    outcome = _timed(
        "cluster stop", lambda: stop_cluster(plan, stop_timeout, click.echo, connect_timeout)
    )
    _report_stop(outcome)
    _start(template, home, port_offset, timeout, dashboard_port, no_dashboard, connect_timeout)


@cluster.command(
    "rolling-restart",
    help="Restart the brokers one at a time without failing a send: per broker set, write "
    "permission is taken away on every NameServer until clients stop sending there, then "
    "slaves restart (each waited for until caught up) and then the master; DLedger groups "
    "restart followers first and hand leadership over before their leader restarts.",
)
@_template
@_home
@_port_offset
@_start_timeout
@_stop_timeout
@click.option(
    "--client-pause",
    type=float,
    default=DEFAULT_CLIENT_PAUSE,
    show_default=True,
    help="Longest wait for producers to stop sending to a broker set whose write permission "
    "was taken away (clients refresh routes every 30 s); it ends early once the set's "
    "master has stored nothing for --idle seconds.",
)
@click.option(
    "--idle",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds without a stored message that end the client pause early.",
)
@click.option(
    "--with-namesrvs",
    "namesrvs",
    is_flag=True,
    help="Restart the NameServers too, first, one at a time (each waited for until every "
    "broker registered with it again: up to registerNameServerPeriod, 30 s).",
)
@_connect_timeout
def rolling_restart_command(
    template: str,
    home: str,
    port_offset: int,
    timeout: float,
    stop_timeout: float,
    client_pause: float,
    idle: float,
    namesrvs: bool,
    connect_timeout: float,
) -> None:
    plan = _plan(template, home, port_offset, None)
    _timed(
        "rolling restart",
        lambda: rolling_restart(
            plan,
            click.echo,
            start_timeout=timeout,
            stop_timeout=stop_timeout,
            client_pause=client_pause,
            idle=idle,
            namesrvs=namesrvs,
            connect_timeout=connect_timeout,
        ),
    )
    click.echo("")
    _print_cluster_table(plan)


@cluster.command(help="Show which processes of TEMPLATE run, host by host, and the cluster "
                 "table. Exits 1 unless all of them run.")  # fmt: skip
@_template
@_home
@_port_offset
@_connect_timeout
def status(template: str, home: str, port_offset: int, connect_timeout: float) -> None:
    plan = _plan(template, home, port_offset)
    states = process_states(plan, connect_timeout)
    click.echo("\n".join(process_table(plan, states)))
    if any(s.pid for s in states if s.spec.kind == "namesrv"):
        click.echo("")
        _print_cluster_table(plan)
    # A console is optional (`start --no-dashboard`): only a missing server is a failure.
    if not all(s.pid for s in states if s.spec.kind != "dashboard"):
        sys.exit(1)


@cluster.command(help="Print the logs of TEMPLATE's processes, host by host.")
@_template
@_home
@_port_offset
@click.option("--since", help="Only lines from then on: 30s, 10m, 2h, 1d, or 'YYYY-MM-DD HH:MM'.")
@click.option("-n", "--lines", type=int, default=50, show_default=True,
              help="The last N lines of each log (0: all).")  # fmt: skip
@click.option("-p", "--process", "names", multiple=True,
              help="Only this process (e.g. broker-a, namesrv-9876); repeatable.")  # fmt: skip
@_connect_timeout
def logs(
    template: str,
    home: str,
    port_offset: int,
    since: str | None,
    lines: int,
    names: tuple[str, ...],
    connect_timeout: float,
) -> None:
    plan = _plan(template, home, port_offset)
    try:
        ok = show_logs(plan, click.echo, since, lines, set(names), connect_timeout)
    except (ClusterError, ConfigError) as exc:
        _fail(str(exc))
    if not ok:
        sys.exit(1)


@cluster.command(
    "config-diff",
    help="Show what differs between each process's running config (the file it started "
    "from on its host, and a broker's live settings) and TEMPLATE as it is now. "
    "Exits 1 when anything differs.",
)
@_template
@_home
@_port_offset
@_connect_timeout
def config_diff_command(template: str, home: str, port_offset: int, connect_timeout: float) -> None:
    plan = _plan(template, home, port_offset)
    try:
        same = config_diff(plan, click.echo, connect_timeout)
    except (ClusterError, ConfigError) as exc:
        _fail(str(exc))
    if not same:
        sys.exit(1)
