"""`orbitmq bench raw-producer|raw-consumer`: the pre-encoded load on OrbitMQ, Redis
Streams or NATS JetStream, with the output, --json, --processes and server CPU figure of
`bench producer|consumer`, plus the generator's own CPU per message.

The generator's CPU is each process's CPU time from the start of its run to the end;
fleet workers leave theirs in a file that the parent adds up (the fleet protocol carries
only tallies).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from orbitmq.bench.cli_common import (
    check_processes,
    finish,
    load_options,
    run_async,
    self_argv,
    target_options,
    worker_option,
)
from orbitmq.bench.cpu import CpuUsage
from orbitmq.bench.fleet import run_fleet, split_count
from orbitmq.bench.peers.frame import PeerRun
from orbitmq.bench.raw.loads import SYSTEMS, RawLoad, RawSettings
from orbitmq.bench.stats import ConsumeReport, SendReport
from orbitmq.bench.worker import LineSink, WorkerLink

__all__ = ["raw_consumer", "raw_producer"]

F = TypeVar("F", bound=Callable[..., Any])
_ORBITMQ_PULL_BATCH = 32  # the broker's maxTransferCountOnMessageInMemory
_PEER_BATCH = 256


@dataclass(frozen=True, slots=True)
class RawOutcome:
    settings: dict[str, Any]
    report: SendReport | ConsumeReport
    cpu: CpuUsage | None  # the server's
    generator_cpu_s: float
    processes: int = 1

    @property
    def generator_us_per_message(self) -> float | None:
        messages = self.report.messages
        return self.generator_cpu_s * 1e6 / messages if messages else None

    def to_json(self) -> dict[str, Any]:
        per = self.generator_us_per_message
        return {
            **self.settings,
            "processes": self.processes,
            **self.report.to_json(),
            "broker_cpu": self.cpu.to_json() if self.cpu is not None else None,
            "generator_cpu": {
                "cpu_s": round(self.generator_cpu_s, 3),
                "us_per_msg": round(per, 3) if per is not None else None,
            },
        }

    def generator_line(self) -> str:
        per = self.generator_us_per_message
        return (
            f"Generator CPU: {self.processes} process(es) used {self.generator_cpu_s:.2f}s "
            f"for {self.report.messages} messages = "
            f"{f'{per:.2f}' if per is not None else 'n/a'} us/msg"
        )


def _raw_options(fn: F) -> F:
    for option in reversed(
        [
            click.option("--system", type=click.Choice(SYSTEMS), required=True),
            click.option("--url", default=None,
                         help="redis://HOST:PORT or nats://HOST:PORT (peers)"),
            click.option("--broker", default=None,
                         help="OrbitMQ broker HOST:PORT (default: from the topic's route)"),
            click.option("--queues", type=click.IntRange(1, 1024), default=8,
                         show_default=True, help="queues of the topic, with --broker"),
            click.option("--connections", type=click.IntRange(min=1), default=3,
                         show_default=True, help="connections per process"),
            click.option("-s", "--size", type=click.IntRange(1, 4 * 1024 * 1024),
                         default=1024, show_default=True, help="message body size in bytes"),
            click.option("-g", "--group", default="raw_bench", show_default=True,
                         help="consumer group / durable name"),
            click.option("--part", default="0/1", hidden=True,
                         help="this worker's index/count in its fleet"),
            click.option("--cpu-file", default=None, hidden=True,
                         help="where a worker leaves its CPU seconds"),
        ]
    ):  # fmt: skip
        fn = option(fn)
    fn = target_options(fn)
    fn = load_options(fn)
    return worker_option(fn)


def _settings(opts: dict[str, Any], window: int, batch: int | None, depth: int) -> RawSettings:
    part, _, parts = str(opts["part"]).partition("/")
    if opts["system"] != "orbitmq" and opts["url"] is None:
        raise click.UsageError(f"--url is required with --system {opts['system']}")
    default_batch = _ORBITMQ_PULL_BATCH if opts["system"] == "orbitmq" else _PEER_BATCH
    return RawSettings(
        opts["system"], opts["namesrv"], opts["topic"], opts["url"], opts["broker"],
        opts["queues"], opts["connections"], window, opts["size"], opts["group"],
        batch or default_batch, depth, int(part), int(parts or 1),
    )  # fmt: skip


def _forwarded(opts: dict[str, Any]) -> list[str]:
    """The options every worker of a fleet gets from its parent."""
    args = ["--system", opts["system"], "-n", opts["namesrv"], "-t", opts["topic"],
            "--queues", str(opts["queues"]), "--connections", str(opts["connections"]),
            "-s", str(opts["size"]), "-g", opts["group"],
            "--duration", str(opts["duration"])]  # fmt: skip
    for name in ("url", "broker"):
        if opts[name] is not None:
            args += [f"--{name}", opts[name]]
    return args


async def _fleet(
    command: str, opts: dict[str, Any], extra: list[str], counts: list[int | None],
    target: int | None,
) -> tuple[Any, CpuUsage | None, float]:  # fmt: skip
    """Run the workers; (merged tally, server CPU, generator CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="orbitmq-raw-") as tmp:
        files = [Path(tmp, str(i)) for i in range(len(counts))]
        argvs = [
            self_argv(command, *_forwarded(opts), *extra, "--part", f"{i}/{len(counts)}",
                      "--cpu-file", str(files[i]), *(["--count", str(n)] if n else []))
            for i, n in enumerate(counts)
        ]  # fmt: skip
        out = sys.stderr if opts["as_json"] else sys.stdout
        result = await run_fleet(
            argvs, interval=opts["interval"], out=out, broker_pid=opts["broker_pid"], target=target
        )
        generator = sum(float(f.read_text()) for f in files if f.exists())
    return result.tally, result.cpu, generator


def _done(outcome: RawOutcome, opts: dict[str, Any]) -> None:
    if opts["worker"]:
        if opts["cpu_file"]:
            Path(opts["cpu_file"]).write_text(repr(outcome.generator_cpu_s))
        return
    finish(outcome, opts["as_json"])
    if not opts["as_json"]:
        click.echo(f"[Summary] {outcome.generator_line()}")


def _sink(opts: dict[str, Any]) -> LineSink | WorkerLink:
    if opts["worker"]:
        return WorkerLink()
    return LineSink(sys.stderr if opts["as_json"] else sys.stdout, opts["interval"])


@click.command("raw-producer", help="Pre-encoded produce load: measures the server.")
@_raw_options
@click.option("-w", "--window", type=click.IntRange(min=1), default=64, show_default=True,
              help="requests in flight per connection")  # fmt: skip
def raw_producer(**opts: Any) -> None:
    check_processes(opts["processes"], opts["count"], opts["worker"])
    settings = _settings(opts, opts["window"], None, 1)
    info = {"role": "raw-producer", "system": settings.system, "message_size": settings.size,
            "connections": settings.connections, "window": settings.window}  # fmt: skip

    async def main() -> RawOutcome:
        if opts["worker"] or opts["processes"] == 1:
            load = RawLoad(settings)
            await load.connect_producer()
            try:
                pid = None if opts["worker"] else opts["broker_pid"]
                run = PeerRun(opts["count"], opts["duration"], _sink(opts), pid)
                report, cpu = await run.send(load.produce)
            finally:
                await load.aclose()
            return RawOutcome(info, report, cpu, load.cpu_seconds)
        counts = split_count(opts["count"], opts["processes"])
        extra = ["-w", str(settings.window)]
        tally, cpu, generator = await _fleet("raw-producer", opts, extra, counts, None)
        return RawOutcome(info, tally.report(), cpu, generator, opts["processes"])

    _done(run_async(main()), opts)


@click.command("raw-consumer", help="Pre-encoded consume load: reads a backlog from the start.")
@_raw_options
@click.option("--batch", type=click.IntRange(1, 10_000), default=None,
              help=f"messages per pull / XREADGROUP COUNT / fetch (default: "
                   f"{_ORBITMQ_PULL_BATCH} OrbitMQ, {_PEER_BATCH} peers)")  # fmt: skip
@click.option("--depth", type=click.IntRange(1, 64), default=4, show_default=True,
              help="reads in flight per connection (peers; OrbitMQ: 1 per queue)")  # fmt: skip
def raw_consumer(**opts: Any) -> None:
    check_processes(opts["processes"], opts["count"], opts["worker"])
    settings = _settings(opts, 1, opts["batch"], opts["depth"])
    info = {"role": "raw-consumer", "system": settings.system, "group": settings.group,
            "batch": settings.batch, "connections": settings.connections}  # fmt: skip

    async def main() -> RawOutcome:
        if opts["worker"] or opts["processes"] == 1:
            load = RawLoad(settings)
            await load.connect_consumer()
            try:
                count = None if opts["worker"] else opts["count"]
                pid = None if opts["worker"] else opts["broker_pid"]
                run = PeerRun(count, opts["duration"], _sink(opts), pid)
                report, cpu = await run.consume(load.consume)
            finally:
                await load.aclose()
            return RawOutcome(info, report, cpu, load.cpu_seconds)
        counts: list[int | None] = [None] * opts["processes"]
        extra = ["--batch", str(settings.batch), "--depth", str(settings.depth)]
        tally, cpu, generator = await _fleet("raw-consumer", opts, extra, counts, opts["count"])
        return RawOutcome(info, tally.report(), cpu, generator, opts["processes"])

    _done(run_async(main()), opts)
