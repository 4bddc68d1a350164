"""Entry points: mqnamesrv, mqbroker, mqproxy, mqshutdown and `orbitmq …`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from orbitmq import __version__
from orbitmq.admin.cli import main as admin_main
from orbitmq.bench.cli import bench
from orbitmq.cluster.cli import cluster
from orbitmq.config_file import ConfigError
from orbitmq.dashboard.cli import dashboard
from orbitmq.dledger.cli import dledger
from orbitmq.errors import OrbitMQError

if TYPE_CHECKING:
    from orbitmq.proxy.server import ProxyServer
    from orbitmq.remoting.tls import TlsConfig

log = logging.getLogger("orbitmq")


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s - %(message)s",
        stream=sys.stderr,
    )


def run_until_signal(start: Callable[[], Awaitable[Callable[[], Awaitable[None]]]]) -> None:
    """Run `start()` (which returns an async closer) until SIGTERM or SIGINT, then close."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        close = await start()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await close()

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


async def _start_namesrv(config_file: str | None, overrides: dict[str, str]):  # type: ignore[no-untyped-def]
    from orbitmq.namesrv.config import load_namesrv_config
    from orbitmq.namesrv.server import NamesrvController

    controller = NamesrvController(load_namesrv_config(config_file, overrides))
    await controller.start()
    print(
        f"The Name Server boot success. serializeType=JSON, port {controller.port}",
        flush=True,
    )
    return controller


async def _start_broker(config_file: str | None, overrides: dict[str, str]):  # type: ignore[no-untyped-def]
    from orbitmq.broker.broker import BrokerController
    from orbitmq.broker.config import load_broker_config

    config = load_broker_config(config_file, overrides)
    controller = BrokerController(config, config_file)
    await controller.start()
    print(
        f"The broker[{config.broker_name}, {config.broker_addr}] boot success. "
        f"serializeType=JSON and name server is {config.namesrv_addr}",
        flush=True,
    )
    return controller


async def _start_proxy(
    namesrv_addr: str,
    proxy_config_file: str | None,
    port: int | None = None,
    *,
    acl_enable: bool = False,
    acl_plain_file: str = "",
    tls: TlsConfig | None = None,
) -> ProxyServer:
    """The RocketMQ 5 gRPC proxy in front of the NameServer's brokers (`tls`: how it
    dials them, from the broker it runs in).

    Raises:
        ConfigError: the proxy config file is bad, or its port cannot be bound.
    """
    from orbitmq.proxy.config import ProxyConfig, load_proxy_config
    from orbitmq.proxy.server import ProxyServer, ProxyStartError

    base = ProxyConfig(
        namesrv_addr=namesrv_addr, acl_enable=acl_enable, acl_plain_file=acl_plain_file
    )
    if tls is not None:
        base.tls = tls
    config = load_proxy_config(proxy_config_file, base)
    if port is not None:
        config.grpc_server_port = port
    server = ProxyServer(config)
    try:
        await server.start()
    except ProxyStartError as exc:
        await server.aclose()
        raise ConfigError(str(exc)) from exc
    print(
        f"The proxy boot success. gRPC port {server.port}, name server is {config.namesrv_addr}",
        flush=True,
    )
    return server


async def _start_dashboard(
    namesrv_port: int, home: str, port: int
) -> Callable[[], Awaitable[None]] | None:
    """The web console beside the NameServer and broker; None when its port is taken (the
    README's first command still gives a working NameServer and broker then)."""
    from orbitmq.dashboard.config import DashboardConfig
    from orbitmq.dashboard.server import DashboardServer
    from orbitmq.http_serving import HttpServeError

    server = DashboardServer(
        DashboardConfig(
            namesrv_addr=f"127.0.0.1:{namesrv_port}",
            port=port,
            data_dir=Path(home) / "dashboard",
        )
    )
    try:
        await server.start()
    except HttpServeError as exc:
        log.warning(
            "web console not started: %s; the NameServer and broker run without it "
            "(choose another port with --dashboard-port, or --no-dashboard)",
            exc,
        )
        return None
    print(f"The console boot success at {server.url}", flush=True)
    return server.aclose


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _serve_namesrv(config_file: str | None, port: int | None) -> None:
    overrides = {"listenPort": str(port)} if port is not None else {}

    async def start():  # type: ignore[no-untyped-def]
        controller = await _start_namesrv(config_file, overrides)
        return controller.aclose

    try:
        run_until_signal(start)
    except ConfigError as exc:
        _fail(str(exc))


def _serve_broker(
    config_file: str | None,
    namesrv_addr: str | None,
    enable_proxy: bool = False,
    proxy_config_file: str | None = None,
) -> None:
    overrides = {"namesrvAddr": namesrv_addr} if namesrv_addr else {}

    async def start():  # type: ignore[no-untyped-def]
        controller = await _start_broker(config_file, overrides)
        if not enable_proxy:
            return controller.aclose
        try:
            # In a broker the proxy checks 5.x clients against the broker's ACL file.
            proxy = await _start_proxy(
                controller.config.namesrv_addr,
                proxy_config_file,
                acl_enable=controller.config.acl_enable,
                acl_plain_file=controller.config.acl_plain_file,
                tls=controller.config.tls,
            )
        except BaseException:
            await controller.aclose()
            raise

        async def close() -> None:
            await proxy.aclose()
            await controller.aclose()

        return close

    try:
        run_until_signal(start)
    except ConfigError as exc:
        _fail(str(exc))


_config_option = click.option(
    "-c", "--config-file", type=click.Path(exists=True, dir_okay=False), help="properties file"
)
_enable_proxy_option = click.option(
    "--enable-proxy", is_flag=True, help="also serve RocketMQ 5 gRPC clients (local mode)"
)
_proxy_config_option = click.option(
    "-pc",
    "--proxy-config-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="rmq-proxy.json (grpcServerPort, default 8081, ...)",
)


@click.command(help="Start a NameServer.")
@_config_option
@click.option("-p", "--port", type=int, default=None, help="listenPort (overrides the file)")
def mqnamesrv(config_file: str | None, port: int | None) -> None:
    setup_logging()
    _serve_namesrv(config_file, port)


@click.command(help="Start a broker from a RocketMQ broker .properties file.")
@_config_option
@click.option("-n", "--namesrv-addr", default=None, help="NameServer list, ';' separated")
@_enable_proxy_option
@_proxy_config_option
def mqbroker(
    config_file: str | None,
    namesrv_addr: str | None,
    enable_proxy: bool,
    proxy_config_file: str | None,
) -> None:
    setup_logging()
    _serve_broker(config_file, namesrv_addr, enable_proxy, proxy_config_file)


def _serve_proxy(namesrv_addr: str | None, proxy_config_file: str | None) -> None:
    async def start():  # type: ignore[no-untyped-def]
        from orbitmq.proxy.config import load_proxy_config

        addr = namesrv_addr or load_proxy_config(proxy_config_file).namesrv_addr
        proxy = await _start_proxy(addr, proxy_config_file)
        return proxy.aclose

    try:
        run_until_signal(start)
    except ConfigError as exc:
        _fail(str(exc))


@click.command(help="Start a RocketMQ 5 gRPC proxy in front of the NameServer's brokers.")
@click.option("-n", "--namesrv-addr", default=None, help="NameServer list, ';' separated")
@_proxy_config_option
def mqproxy(namesrv_addr: str | None, proxy_config_file: str | None) -> None:
    setup_logging()
    _serve_proxy(namesrv_addr, proxy_config_file)


def _find_processes(role: str) -> list[int]:
    """Our processes of a role (namesrv or broker), found by command line in /proc."""
    markers = {
        "namesrv": ("mqnamesrv", ("orbitmq", "namesrv"), ("orbitmq", "standalone")),
        "broker": ("mqbroker", ("orbitmq", "broker"), ("orbitmq", "standalone")),
    }[role]
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        except OSError:
            continue
        names = [os.path.basename(a) for a in argv[:3]]
        for marker in markers:
            if isinstance(marker, str):
                hit = marker in names
            else:
                hit = marker[0] in names and marker[1] in argv[1:4]
            if hit:
                found.append(int(entry))
                break
    return found


@click.command(help="Stop the brokers or NameServers started on this machine.")
@click.argument("role", type=click.Choice(["broker", "namesrv"]))
def mqshutdown(role: str) -> None:
    pids = _find_processes(role)
    if not pids:
        click.echo(f"No mq{role} running.")
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        click.echo(
            f"The mq{role}({pid}) is running...\nSend shutdown request to mq{role}({pid}) OK"
        )


@click.group(help="OrbitMQ: a RocketMQ-compatible message queue.")
@click.version_option(__version__)
def main() -> None:
    pass


@main.command(help="Start a NameServer (same as mqnamesrv).")
@_config_option
@click.option("-p", "--port", type=int, default=None)
def namesrv(config_file: str | None, port: int | None) -> None:
    setup_logging()
    _serve_namesrv(config_file, port)


@main.command(
    help="A NameServer, a broker, its gRPC proxy and the console in one process; store "
    "under $ORBITMQ_HOME."
)
@_config_option
@click.option("--home", envvar="ORBITMQ_HOME", default="~/orbitmq", show_default=True)
@click.option("--namesrv-port", type=int, default=9876, show_default=True)
@click.option("--broker-port", type=int, default=10911, show_default=True)
@click.option("--broker-ip", default="127.0.0.1", show_default=True, help="brokerIP1")
@click.option(
    "--dashboard-port",
    type=int,
    default=8082,
    show_default=True,
    help="the web console's port (on 127.0.0.1)",
)
@click.option("--no-dashboard", is_flag=True, help="do not start the web console")
@click.option(
    "--grpc-port",
    type=int,
    default=8081,
    show_default=True,
    help="the gRPC port of RocketMQ 5 clients",
)
def standalone(
    config_file: str | None,
    home: str,
    namesrv_port: int,
    broker_port: int,
    broker_ip: str,
    dashboard_port: int,
    no_dashboard: bool,
    grpc_port: int,
) -> None:
    setup_logging()
    home = os.path.expanduser(home)
    os.makedirs(home, exist_ok=True)

    async def start():  # type: ignore[no-untyped-def]
        namesrv_controller = await _start_namesrv(
            None,
            {
                "listenPort": str(namesrv_port),
                "kvConfigPath": os.path.join(home, "namesrv", "kvConfig.json"),
            },
        )
        broker_overrides = {
            "brokerName": "broker-a",
            "brokerIP1": broker_ip,
            "listenPort": str(broker_port),
            "storePathRootDir": os.path.join(home, "store"),
            "namesrvAddr": f"127.0.0.1:{namesrv_controller.port}",
        }
        closers: list[Callable[[], Awaitable[None]]] = [namesrv_controller.aclose]

        async def close() -> None:
            for closer in reversed(closers):
                await closer()

        try:
            broker_controller = await _start_broker(config_file, broker_overrides)
            closers.append(broker_controller.aclose)
            try:
                proxy = await _start_proxy(f"127.0.0.1:{namesrv_controller.port}", None, grpc_port)
            except ConfigError as exc:
                log.warning(
                    "gRPC proxy not started: %s; the NameServer and broker run without it "
                    "(choose another port with --grpc-port)",
                    exc,
                )
            else:
                closers.append(proxy.aclose)
            if not no_dashboard:
                console_close = await _start_dashboard(
                    namesrv_controller.port, home, dashboard_port
                )
                if console_close is not None:
                    closers.append(console_close)
        except BaseException:
            await close()
            raise
        return close

    try:
        run_until_signal(start)
    except (ConfigError, OrbitMQError) as exc:
        _fail(str(exc))


# `orbitmq admin`, `bench`, `cluster`, `dledger` and `dashboard` live in their own packages.
# `orbitmq broker` and `orbitmq proxy` are mqbroker and mqproxy.
main.add_command(mqbroker, name="broker")
main.add_command(mqproxy, name="proxy")
main.add_command(admin_main, name="admin")
main.add_command(bench, name="bench")
main.add_command(cluster, name="cluster")
main.add_command(dledger, name="dledger")
main.add_command(dashboard, name="dashboard")
