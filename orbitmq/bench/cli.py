"""`orbitmq bench …`: the click group, and the producer/consumer commands around
ProducerBench/ConsumerBench. With `--processes N` the command starts N copies of itself
as fleet workers (fleet.py) and prints their merged figures.
"""

from __future__ import annotations

import os
import random
import sys

import click

from orbitmq.bench.broker_sets import broker_sets
from orbitmq.bench.cli_common import (
    check_processes,
    finish,
    flag,
    load_options,
    run_async,
    self_argv,
    target_options,
    worker_option,
)
from orbitmq.bench.consumer import ConsumerBench, ConsumerConfig, ConsumerOutcome
from orbitmq.bench.cpp_cli import cpp_producer
from orbitmq.bench.fleet import run_fleet, split_count
from orbitmq.bench.grpc5 import grpc_bench
from orbitmq.bench.peers.cli import peer_consumer, peer_producer
from orbitmq.bench.producer import MODES, ProducerBench, ProducerConfig, ProducerOutcome
from orbitmq.bench.raw.cli import raw_consumer, raw_producer
from orbitmq.bench.replication import replication
from orbitmq.bench.scale.cli import broker_scale, console_scale, namesrv_scale
from orbitmq.bench.send_path import send_path
from orbitmq.bench.stats import ConsumeTally, SendTally
from orbitmq.bench.suite.cli import suite
from orbitmq.bench.worker import WorkerLink

MAX_MESSAGE_SIZE = 4 * 1024 * 1024


@click.group(
    help="Load generators printing TPS, latency and failures.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def bench() -> None:
    pass


def _producer_worker_argv(c: ProducerConfig, count: int | None) -> list[str]:
    args = [
        "-n", c.namesrv_addr, "-t", c.topic, "--duration", str(c.duration), "-s", str(c.size),
        "-w", str(c.window), "--mode", c.mode, "--batch", str(c.batch), flag(c.keys, "keys"),
        flag(c.tags, "tags"), "-g", c.group, "--send-timeout", str(c.send_timeout),
    ]  # fmt: skip
    if count is not None:
        args += ["--count", str(count)]
    return self_argv("producer", *args)


@bench.command(help="Send messages as fast as the window allows.")
@target_options
@load_options
@worker_option
@click.option(
    "-s",
    "--size",
    type=click.IntRange(1, MAX_MESSAGE_SIZE),
    default=128,
    show_default=True,
    help="message body size in bytes",
)
@click.option(
    "-w",
    "--window",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="requests in flight at once (concurrent senders), per process",
)
@click.option("--mode", type=click.Choice(MODES), default="sync", show_default=True)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="messages per request (SEND_BATCH_MESSAGE when > 1)",
)
@click.option("--keys/--no-keys", default=False, show_default=True, help="set a unique key")
@click.option("--tags/--no-tags", default=False, show_default=True, help="set a tag (tag0..9)")
@click.option("-g", "--group", default="benchmark_producer", show_default=True)
@click.option("--send-timeout", type=float, default=3.0, show_default=True)
def producer(
    namesrv: str, topic: str, count: int | None, duration: float, interval: float,
    as_json: bool, broker_pid: int | None, processes: int, worker: bool, size: int,
    window: int, mode: str, batch: int, keys: bool, tags: bool, group: str,
    send_timeout: float,
) -> None:  # fmt: skip
    check_processes(processes, count, worker)
    config = ProducerConfig(
        namesrv, topic, size, window, count, duration, mode, batch, keys, tags, interval,
        group, send_timeout,
    )  # fmt: skip
    if worker:
        run_async(ProducerBench(config, sys.stderr).run(None, WorkerLink()))
        return
    out = sys.stderr if as_json else sys.stdout
    if not as_json:
        click.echo(
            f"Producer benchmark: topic={topic} size={size} window={window} mode={mode} "
            f"batch={batch} count={count or '-'} duration={duration}s processes={processes} "
            f"namesrv={namesrv}"
        )

    async def main() -> ProducerOutcome:
        if processes == 1:
            return await ProducerBench(config, out).run(broker_pid)
        argvs = [_producer_worker_argv(config, n) for n in split_count(count, processes)]
        result = await run_fleet(argvs, interval=interval, out=out, broker_pid=broker_pid)
        assert isinstance(result.tally, SendTally)
        return ProducerOutcome(config, result.tally.report(), result.cpu, processes)

    finish(run_async(main()), as_json)


def _consumer_worker_argv(c: ConsumerConfig) -> list[str]:
    args = [
        "-n", c.namesrv_addr, "-t", c.topic, "-g", c.group, "-e", c.expression,
        "--duration", str(c.duration), "--threads", str(c.threads),
        "--pull-batch", str(c.pull_batch), "--consume-batch", str(c.consume_batch),
    ]  # fmt: skip
    if c.from_first:
        args.append("--from-first")
    return self_argv("consumer", *args)


@bench.command(help="Consume messages and report TPS and born/store-to-consumer delays.")
@target_options
@load_options
@worker_option
@click.option("-g", "--group", default=None, help="consumer group (default: a new random one)")
@click.option("--from-first", is_flag=True, help="a new group starts at the oldest message")
@click.option("-e", "--expression", default="*", show_default=True, help="TAG subscription")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="listener calls in flight",
)
@click.option("--pull-batch", type=click.IntRange(1, 1024), default=32, show_default=True)
@click.option("--consume-batch", type=click.IntRange(1, 1024), default=1, show_default=True)
def consumer(
    namesrv: str, topic: str, count: int | None, duration: float, interval: float,
    as_json: bool, broker_pid: int | None, processes: int, worker: bool, group: str | None,
    from_first: bool, expression: str, threads: int, pull_batch: int, consume_batch: int,
) -> None:  # fmt: skip
    check_processes(processes, count, worker)
    group = group or f"benchmark_consumer_{random.randrange(10_000):04d}_{os.getpid()}"
    config = ConsumerConfig(
        namesrv, topic, group, expression, count, duration, from_first, interval, threads,
        pull_batch, consume_batch,
    )  # fmt: skip
    if worker:
        run_async(ConsumerBench(config, sys.stderr).run(None, WorkerLink()))
        return
    out = sys.stderr if as_json else sys.stdout
    if not as_json:
        click.echo(
            f"Consumer benchmark: topic={topic} group={group} from_first={from_first} "
            f"count={count or '-'} duration={duration}s processes={processes} "
            f"namesrv={namesrv}"
        )

    async def main() -> ConsumerOutcome:
        if processes == 1:
            return await ConsumerBench(config, out).run(broker_pid)
        # One group shared by all workers (they split the queues); the count is counted
        # by the parent, which stops them all once it is reached.
        argvs = [_consumer_worker_argv(config) for _ in range(processes)]
        result = await run_fleet(
            argvs, interval=interval, out=out, broker_pid=broker_pid, target=count
        )
        assert isinstance(result.tally, ConsumeTally)
        return ConsumerOutcome(config, result.tally.report(), result.cpu, processes)

    finish(run_async(main()), as_json)


bench.add_command(cpp_producer)
bench.add_command(peer_producer)
bench.add_command(peer_consumer)
bench.add_command(raw_producer)
bench.add_command(raw_consumer)
bench.add_command(suite)
bench.add_command(replication)
bench.add_command(send_path)
bench.add_command(namesrv_scale)
bench.add_command(console_scale)
bench.add_command(broker_scale)
bench.add_command(broker_sets)
bench.add_command(grpc_bench)
