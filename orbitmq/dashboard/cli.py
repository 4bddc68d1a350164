"""`orbitmq dashboard`: the web console and its /metrics, as its own process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from orbitmq.dashboard.config import DEFAULT_HOST, DEFAULT_PORT, DashboardConfig


@click.command(help="The web console (and the cluster's /metrics) on HOST:PORT.")
@click.option(
    "-c",
    "--config-file",
    type=click.Path(exists=True, dir_okay=False),
    help="properties file with rocketmq-dashboard's keys (server.address, server.port, "
    "rocketmq.config.namesrvAddr, rocketmq.config.dataPath, rocketmq.config.loginRequired, "
    "server.servlet.context-path); "
    "options given here win",
)
@click.option(
    "-n",
    "--namesrv-addr",
    envvar="NAMESRV_ADDR",
    default=None,
    help="NameServer list, ';' separated (also NAMESRV_ADDR)  [default: 127.0.0.1:9876]",
)
@click.option("--host", default=None, help=f"address to listen on  [default: {DEFAULT_HOST}]")
@click.option("--port", type=int, default=None, help=f"[default: {DEFAULT_PORT}]")
@click.option(
    "--home",
    envvar="ORBITMQ_HOME",
    default="~/orbitmq",
    show_default=True,
    help="the console keeps its files under HOME/dashboard",
)
@click.option(
    "--login/--no-login",
    default=None,
    help="require login (default: only when HOST is not a loopback address)",
)
@click.option(
    "--root-path",
    default=None,
    help="path prefix a reverse proxy serves the console under and strips, e.g. /rocketmq "
    "(server.servlet.context-path)",
)
@click.option(
    "--collect-interval",
    type=click.FloatRange(1, 60),
    default=60.0,
    show_default=True,
    help="seconds between two collections of the charts' and /metrics' figures",
)
def dashboard(
    config_file: str | None,
    namesrv_addr: str | None,
    host: str | None,
    port: int | None,
    home: str,
    login: bool | None,
    root_path: str | None,
    collect_interval: float,
) -> None:
    from orbitmq.cli import run_until_signal, setup_logging
    from orbitmq.config_file import ConfigError, read_properties
    from orbitmq.dashboard.config import check_root_path, config_from_properties
    from orbitmq.dashboard.server import DashboardServer
    from orbitmq.dashboard.users import UsersFileError
    from orbitmq.http_serving import HttpServeError

    setup_logging()
    values: dict[str, Any] = {
        "namesrv_addr": "127.0.0.1:9876",
        "data_dir": Path(os.path.expanduser(home)) / "dashboard",
        "collect_interval": collect_interval,
    }
    try:
        if config_file:
            values.update(config_from_properties(read_properties(config_file)))
        if root_path is not None:
            values["root_path"] = check_root_path(root_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    given = {"namesrv_addr": namesrv_addr, "host": host, "port": port, "login_required": login}
    values.update({k: v for k, v in given.items() if v is not None})
    config = DashboardConfig(**values)

    async def start():  # type: ignore[no-untyped-def]
        server = DashboardServer(config)
        await server.start()
        click.echo(f"The console boot success at {server.url} (NameServer {config.namesrv_addr})")
        return server.aclose

    try:
        run_until_signal(start)
    except (UsersFileError, HttpServeError) as exc:
        raise click.ClickException(str(exc)) from exc
