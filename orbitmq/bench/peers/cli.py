"""`orbitmq bench peer-producer|peer-consumer`: the same load on NATS JetStream or Redis
Streams, with the output, --json, --processes and CPU figure (here of the server's pid)
of `bench producer|consumer`. Needs the `bench` extra (nats-py, redis)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from orbitmq.bench.cli_common import (
    check_processes,
    finish,
    load_options,
    run_async,
    self_argv,
    worker_option,
)
from orbitmq.bench.common import make_body
from orbitmq.bench.fleet import run_fleet, split_count
from orbitmq.bench.peers.frame import PeerOutcome, PeerRun
from orbitmq.bench.worker import LineSink, WorkerLink

__all__ = ["peer_consumer", "peer_producer"]

SYSTEMS = ("nats", "redis")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _load(system: str, url: str, size: int, window: int, batch: int, group: str) -> Any:
    """The system's load object; imported here so `orbitmq bench` works without the extra."""
    try:
        if system == "nats":
            from orbitmq.bench.peers.nats_load import NatsLoad

            return NatsLoad(url, make_body(size), window, batch, group)
        from orbitmq.bench.peers.redis_load import RedisLoad

        return RedisLoad(url, make_body(size), window, batch, group)
    except ImportError as exc:
        raise click.ClickException(
            f"{exc.name} is not installed: pip install 'orbitmq[bench]'"
        ) from exc


def _peer_options(fn: F) -> F:
    for option in reversed(
        [
            click.option("--system", type=click.Choice(SYSTEMS), required=True),
            click.option("--url", required=True, help="nats://HOST:PORT or redis://HOST:PORT"),
            click.option(
                "-s",
                "--size",
                type=click.IntRange(min=1),
                default=1024,
                show_default=True,
                help="message body size in bytes",
            ),
            click.option(
                "-g",
                "--group",
                default="orbitmq-bench",
                show_default=True,
                help="durable consumer / consumer group name",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _worker_args(system: str, url: str, size: int, group: str, duration: float) -> list[str]:
    return ["--system", system, "--url", url, "-s", str(size), "-g", group,
            "--duration", str(duration)]  # fmt: skip


async def _in_process(load: Any, run: PeerRun, work: Callable[[Any, PeerRun], Awaitable[T]]) -> T:
    await load.connect()
    try:
        return await work(load, run)
    finally:
        await load.aclose()


@click.command("peer-producer", help="Produce on NATS JetStream or Redis Streams.")
@_peer_options
@load_options
@worker_option
@click.option("-w", "--window", type=click.IntRange(min=1), default=64, show_default=True,
              help="messages in flight at once, per process")  # fmt: skip
def peer_producer(
    system: str, url: str, size: int, group: str, count: int | None, duration: float,
    interval: float, as_json: bool, broker_pid: int | None, processes: int, worker: bool,
    window: int,
) -> None:  # fmt: skip
    check_processes(processes, count, worker)
    settings = {"role": "peer-producer", "system": system, "message_size": size,
                "window": window}  # fmt: skip
    load = _load(system, url, size, window, 1, group)
    out = sys.stderr if as_json or worker else sys.stdout

    async def produce(load: Any, run: PeerRun) -> PeerOutcome:
        report, cpu = await run.send(load.produce)
        return PeerOutcome(settings, report, cpu)

    async def main() -> PeerOutcome:
        if worker:
            return await _in_process(load, PeerRun(count, duration, WorkerLink(), None), produce)
        if processes == 1:
            run = PeerRun(count, duration, LineSink(out, interval), broker_pid)
            return await _in_process(load, run, produce)
        common = [*_worker_args(system, url, size, group, duration), "-w", str(window)]
        argvs = [
            self_argv("peer-producer", *common, *(["--count", str(n)] if n else []))
            for n in split_count(count, processes)
        ]
        result = await run_fleet(argvs, interval=interval, out=out, broker_pid=broker_pid)
        return PeerOutcome(settings, result.tally.report(), result.cpu, processes)

    outcome = run_async(main())
    if not worker:
        finish(outcome, as_json)


@click.command("peer-consumer", help="Consume from NATS JetStream or Redis Streams.")
@_peer_options
@load_options
@worker_option
@click.option("--batch", type=click.IntRange(1, 10_000), default=256, show_default=True,
              help="messages asked for per fetch / XREADGROUP")  # fmt: skip
def peer_consumer(
    system: str, url: str, size: int, group: str, count: int | None, duration: float,
    interval: float, as_json: bool, broker_pid: int | None, processes: int, worker: bool,
    batch: int,
) -> None:  # fmt: skip
    check_processes(processes, count, worker)
    settings = {"role": "peer-consumer", "system": system, "batch": batch}
    load = _load(system, url, size, 1, batch, group)
    out = sys.stderr if as_json or worker else sys.stdout

    async def consume(load: Any, run: PeerRun) -> PeerOutcome:
        report, cpu = await run.consume(load.consume)
        return PeerOutcome(settings, report, cpu)

    async def main() -> PeerOutcome:
        if worker:
            return await _in_process(load, PeerRun(None, duration, WorkerLink(), None), consume)
        if processes == 1:
            run = PeerRun(count, duration, LineSink(out, interval), broker_pid)
            return await _in_process(load, run, consume)
        common = [*_worker_args(system, url, size, group, duration), "--batch", str(batch)]
        argvs = [self_argv("peer-consumer", *common) for _ in range(processes)]
        result = await run_fleet(
            argvs, interval=interval, out=out, broker_pid=broker_pid, target=count
        )
        return PeerOutcome(settings, result.tally.report(), result.cpu, processes)

    outcome = run_async(main())
    if not worker:
        finish(outcome, as_json)
