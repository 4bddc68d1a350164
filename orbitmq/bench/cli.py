"""`orbitmq bench producer|consumer`: the click commands around ProducerBench/ConsumerBench.

Every `--interval` seconds a line goes to stdout (to stderr with `--json`, so that
stdout holds only the final JSON object). Failures to start (no route, bad pid, server
down) print one line on stderr and exit with code 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
import orjson

from orbitmq.bench.common import DEFAULT_DURATION
from orbitmq.bench.consumer import ConsumerBench, ConsumerConfig, ConsumerOutcome
from orbitmq.bench.producer import MODES, ProducerBench, ProducerConfig, ProducerOutcome
from orbitmq.errors import OrbitMQError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESRV_ADDR = "127.0.0.1:9876"
MAX_MESSAGE_SIZE = 4 * 1024 * 1024


def _common_options(fn: F) -> F:
    options = [
        click.option(
            "-n",
            "--namesrv",
            "namesrv",
            envvar="NAMESRV_ADDR",
            default=DEFAULT_NAMESRV_ADDR,
            show_default=True,
            help="NameServer list, ';' separated (env NAMESRV_ADDR)",
        ),
        click.option("-t", "--topic", default="BenchmarkTest", show_default=True),
        click.option(
            "--count",
            type=click.IntRange(min=1),
            default=None,
            help="stop after this many messages (default: no count limit)",
        ),
        click.option(
            "--duration",
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_DURATION,
            show_default=True,
            help="stop after this many seconds (always bounded)",
        ),
        click.option(
            "--interval",
            type=click.FloatRange(min=0.1),
            default=5.0,
            show_default=True,
            help="seconds between progress lines",
        ),
        click.option("--json", "as_json", is_flag=True, help="print one JSON summary on stdout"),
        click.option(
            "--broker-pid",
            type=int,
            default=None,
            help="report this process's CPU µs per message (Linux /proc)",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed; map expected failures to stderr + exit 1."""
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(coro)
        return uvloop.run(coro)
    except (OrbitMQError, OSError, ValueError, TimeoutError) as exc:
        click.echo(f"bench failed: {exc or type(exc).__name__}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("bench interrupted", err=True)
        sys.exit(1)


def _finish(outcome: ProducerOutcome | ConsumerOutcome, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(outcome.to_json()).decode())
        return
    click.echo(f"[Summary] {outcome.report.line()}")
    report = outcome.report
    click.echo(
        f"[Summary] Messages: {report.messages} Elapsed(s): {report.elapsed_s:.3f} "
        f"TPS: {report.tps:.1f}"
    )
    if outcome.cpu is not None:
        click.echo(f"[Summary] {outcome.cpu.line()}")


@click.group(
    help="Load generators printing TPS, latency and failures.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def bench() -> None:
    pass


@bench.command(help="Send messages as fast as the window allows.")
@_common_options
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
    help="requests in flight at once (concurrent senders)",
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
    as_json: bool, broker_pid: int | None, size: int, window: int, mode: str, batch: int,
    keys: bool, tags: bool, group: str, send_timeout: float,
) -> None:  # fmt: skip
    config = ProducerConfig(
        namesrv, topic, size, window, count, duration, mode, batch, keys, tags, interval,
        group, send_timeout,
    )  # fmt: skip
    out = sys.stderr if as_json else sys.stdout
    if not as_json:
        click.echo(
            f"Producer benchmark: topic={topic} size={size} window={window} mode={mode} "
            f"batch={batch} count={count or '-'} duration={duration}s namesrv={namesrv}"
        )

    async def main() -> ProducerOutcome:
        return await ProducerBench(config, out).run(broker_pid)

    _finish(_run(main()), as_json)


@bench.command(help="Consume messages and report TPS and born/store-to-consumer delays.")
@_common_options
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
    as_json: bool, broker_pid: int | None, group: str | None, from_first: bool,
    expression: str, threads: int, pull_batch: int, consume_batch: int,
) -> None:  # fmt: skip
    group = group or f"benchmark_consumer_{random.randrange(10_000):04d}_{os.getpid()}"
    config = ConsumerConfig(
        namesrv, topic, group, expression, count, duration, from_first, interval, threads,
        pull_batch, consume_batch,
    )  # fmt: skip
    out = sys.stderr if as_json else sys.stdout
    if not as_json:
        click.echo(
            f"Consumer benchmark: topic={topic} group={group} from_first={from_first} "
            f"count={count or '-'} duration={duration}s namesrv={namesrv}"
        )

    async def main() -> ConsumerOutcome:
        return await ConsumerBench(config, out).run(broker_pid)

    _finish(_run(main()), as_json)
