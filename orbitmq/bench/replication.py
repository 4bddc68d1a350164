"""`orbitmq bench replication`: what a slave costs the producer, and how far it lags.

Three layouts of one broker set, each started fresh with `orbitmq cluster start` on
loopback (one NameServer): a master alone, an ASYNC_MASTER with one slave, a SYNC_MASTER
with one slave. Each gets the same `bench producer` load; meanwhile the master's
GET_BROKER_RUNTIME_INFO is sampled for `slaveFallBehindMuch` (bytes the slave has not yet
acknowledged), and after the load the time until the slave has caught up is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from orbitmq.bench.suite.servers import free_port, is_port_free
from orbitmq.client.admin import MQAdmin

TOPIC = "Perf"
SAMPLE_SECONDS = 0.5
CATCH_UP_LIMIT_SECONDS = 60.0
SLAVE_CONNECT_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Layout:
    name: str
    master_role: str
    with_slave: bool


LAYOUTS = (
    Layout("master alone", "ASYNC_MASTER", False),
    Layout("ASYNC_MASTER + 1 slave", "ASYNC_MASTER", True),
    Layout("SYNC_MASTER + 1 slave", "SYNC_MASTER", True),
)


@dataclass
class LayoutResult:
    layout: str
    tps: float
    p99_ms: float
    send_failed: int
    broker_cpu_us_per_msg: float | None
    lag_max_bytes: int | None
    lag_mean_bytes: float | None
    catch_up_s: float | None


def _write_template(folder: Path, layout: Layout, namesrv_port: int, first_port: int) -> str:
    """The broker-a files of a 2m-2s folder, on free ports; returns the master address."""
    folder.mkdir(parents=True)
    common = {
        "brokerClusterName": "DefaultCluster",
        "brokerName": "broker-a",
        "flushDiskType": "ASYNC_FLUSH",
        "namesrvAddr": f"127.0.0.1:{namesrv_port}",
        "brokerIP1": "127.0.0.1",
    }
    brokers = {
        "broker-a": {"brokerId": 0, "brokerRole": layout.master_role, "listenPort": first_port}
    }
    if layout.with_slave:
        brokers["broker-a-s"] = {
            "brokerId": 1,
            "brokerRole": "SLAVE",
            "listenPort": first_port + 10,
        }
    for name, values in brokers.items():
        values = {**common, **values, "storePathRootDir": f"store/{name}"}
        text = "".join(f"{key}={value}\n" for key, value in values.items())
        (folder / f"{name}.properties").write_text(text)
    return f"127.0.0.1:{first_port}"


def _free_listen_port() -> int:
    """A master listenPort whose VIP and HA neighbours, and the slave's (+10), are free."""
    while True:
        port = free_port()
        neighbours = (port - 2, port + 1, port + 8, port + 10, port + 11)
        if port < 60000 and all(is_port_free(p) for p in neighbours):
            return port


def _orbitmq(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def _sample_lag(admin: MQAdmin, master: str, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        info = await admin.get_broker_runtime_info(master)
        samples.append(int(info.get("slaveFallBehindMuch", "0")))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)


async def _wait_for_slave(admin: MQAdmin, master: str) -> None:
    """A slave registers before its HA client connects (it learns the address then)."""
    deadline = time.monotonic() + SLAVE_CONNECT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        info = await admin.get_broker_runtime_info(master)
        if int(info.get("haConnectionCount", "0")) > 0:
            return
        await asyncio.sleep(0.1)
    raise click.ClickException(
        f"no slave connected to {master} within {SLAVE_CONNECT_LIMIT_SECONDS:g} s"
    )


async def _measure(
    layout: Layout, namesrv: str, master: str, broker_pid: int, duration: float, window: int
) -> LayoutResult:
    load = [
        sys.executable, "-m", "orbitmq", "bench", "producer", "-n", namesrv, "-t", TOPIC,
        "-s", "1024", "--mode", "async", "-w", str(window), "--duration", str(duration),
        "--broker-pid", str(broker_pid), "--json",
    ]  # fmt: skip
    samples: list[int] = []
    stop = asyncio.Event()
    async with MQAdmin(namesrv) as admin:
        if layout.with_slave:
            await _wait_for_slave(admin, master)
        sampler = asyncio.create_task(_sample_lag(admin, master, samples, stop))
        proc = await asyncio.create_subprocess_exec(
            *load, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        out, _ = await proc.communicate()
        stop.set()
        await sampler
        catch_up = None
        if layout.with_slave:
            started = time.monotonic()
            while time.monotonic() - started < CATCH_UP_LIMIT_SECONDS:
                info = await admin.get_broker_runtime_info(master)
                if int(info.get("slaveFallBehindMuch", "0")) == 0:
                    catch_up = time.monotonic() - started
                    break
                await asyncio.sleep(0.05)
    summary = json.loads(out.decode().strip().splitlines()[-1])
    cpu = summary.get("broker_cpu") or {}
    return LayoutResult(
        layout=layout.name,
        tps=summary["tps"],
        p99_ms=summary["p99_rt_ms"],
        send_failed=summary["send_failed"] + summary["response_failed"],
        broker_cpu_us_per_msg=cpu.get("us_per_msg"),
        lag_max_bytes=max(samples) if layout.with_slave and samples else None,
        lag_mean_bytes=statistics.fmean(samples) if layout.with_slave and samples else None,
        catch_up_s=catch_up,
    )


def run_layout(layout: Layout, duration: float, window: int) -> LayoutResult:
    with tempfile.TemporaryDirectory(prefix="orbitmq-bench-replication-") as work:
        folder, home = Path(work) / "template", Path(work) / "home"
        namesrv_port = free_port()
        master = _write_template(folder, layout, namesrv_port, _free_listen_port())
        namesrv = f"127.0.0.1:{namesrv_port}"
        started = _orbitmq("cluster", "start", str(folder), "--home", str(home), timeout=120)
        try:
            if started.returncode != 0:
                raise click.ClickException(
                    f"cluster start failed:\n{started.stdout}{started.stderr}"
                )
            created = _orbitmq(
                "admin", "updateTopic", "-n", namesrv, "-c", "DefaultCluster", "-t", TOPIC,
                "-r", "8", "-w", "8", timeout=60,
            )  # fmt: skip
            if created.returncode != 0:
                raise click.ClickException(f"updateTopic failed:\n{created.stderr}")
            broker_pid = int((home / "run" / "broker-a.pid").read_text())
            return asyncio.run(_measure(layout, namesrv, master, broker_pid, duration, window))
        finally:
            _orbitmq("cluster", "stop", str(folder), "--home", str(home), timeout=120)


def _format(results: list[LayoutResult]) -> str:
    def opt(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    rows = [
        "| Layout | Produce msg/s | p99 ms | Failed | Master CPU µs/msg | Lag max (bytes) "
        "| Lag mean (bytes) | Catch-up after load (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        rows.append(
            f"| {r.layout} | {r.tps:,.0f} | {r.p99_ms:.2f} | {r.send_failed} "
            f"| {opt(r.broker_cpu_us_per_msg, '.1f')} | {opt(r.lag_max_bytes, ',')} "
            f"| {opt(r.lag_mean_bytes, ',.0f')} | {opt(r.catch_up_s, '.2f')} |"
        )
    return "\n".join(rows)


@click.command(help="Produce TPS of a master alone, with an ASYNC slave and with a SYNC slave.")
@click.option("--duration", type=click.FloatRange(min=1), default=20.0, show_default=True)
@click.option("-w", "--window", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def replication(duration: float, window: int, as_json: bool) -> None:
    results = []
    for layout in LAYOUTS:
        click.echo(f"{layout.name}: {duration:g} s of 1 KiB sends, {window} in flight", err=True)
        results.append(run_layout(layout, duration, window))
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results]))
    else:
        click.echo(_format(results))
