"""`orbitmq bench send-path`: the broker's send path in one process, without sockets.

Starts a BrokerController on a temporary store with no NameServer, encodes N
SEND_MESSAGE_V2 frames (1 KiB bodies, 8 queues, a tag, a unique key and UNIQ_KEY, so the
key index is built) with the Python client's codec, feeds
them to a RemotingConnection in bursts, as a pipelining client's bytes arrive, and waits
until reput has dispatched them all. Reports process CPU per message (flush and
pre-fault threads included) and wall time; `--profile` adds cProfile's top functions.
Without the client, the loopback and the other processes, repeated runs are comparable,
and under `valgrind --tool=callgrind` two counts give instructions per message.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import resource
import tempfile
import time
from dataclasses import dataclass

import click

from orbitmq.bench.cli_common import run_async
from orbitmq.bench.suite.servers import free_port
from orbitmq.broker.broker import BrokerController
from orbitmq.broker.config import load_broker_config
from orbitmq.client.message import Message, create_uniq_id
from orbitmq.client.route import MessageQueue
from orbitmq.client.send_codec import single_request
from orbitmq.protocol.frame import encode_frame
from orbitmq.remoting.connection import RemotingConnection

TOPIC = "Perf"
QUEUES = 8
BURST = 32  # frames per data_received, like a client with 32+ requests in flight


class _DiscardTransport:
    """Takes the responses; counts their bytes so the work is not optimised away."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, data: list[bytes]) -> None:
        self.written += sum(map(len, data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> tuple[str, int]:
        return ("127.0.0.1", 40000)


@dataclass
class SendPathResult:
    messages: int
    cpu_us_per_msg: float
    user_us_per_msg: float
    system_us_per_msg: float
    wall_us_per_msg: float
    response_bytes: int


def _frames(count: int, size: int, broker_name: str) -> list[bytes]:
    body = b"x" * size
    frames = []
    for i in range(count):
        mq = MessageQueue(TOPIC, broker_name, i % QUEUES)
        message = Message(TOPIC, body, tags="TagA", keys=f"key-{i}")
        request = single_request("bench", mq, message, create_uniq_id(), 4096)
        request.opaque = i + 1
        frames.append(encode_frame(request))
    return frames


async def measure(
    count: int, size: int, profiler: cProfile.Profile | None = None
) -> SendPathResult:
    with tempfile.TemporaryDirectory(prefix="orbitmq-send-path-") as home:
        config = load_broker_config(
            None,
            {
                "storePathRootDir": home,
                "namesrvAddr": "",
                "listenPort": str(free_port()),
                "brokerIP1": "127.0.0.1",
            },
        )
        broker = BrokerController(config)
        await broker.start()
        try:
            broker.topic_config_manager.create_in_send(TOPIC, "TBW102", QUEUES)
            transport = _DiscardTransport()
            connection = RemotingConnection(broker.dispatcher)
            connection.connection_made(transport)  # type: ignore[arg-type]
            frames = _frames(count, size, config.broker_name)
            bursts = [b"".join(frames[i : i + BURST]) for i in range(0, count, BURST)]
            store = broker.message_store
            usage = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            for burst in bursts:
                connection.data_received(burst)
                await asyncio.sleep(0)  # let reput and the responses' flush run, as live
            await store.wait_dispatched(store.get_commit_log_max_offset())
            if profiler is not None:
                profiler.disable()
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            await broker.aclose()
    user = after.ru_utime - usage.ru_utime
    system = after.ru_stime - usage.ru_stime
    return SendPathResult(
        messages=count,
        cpu_us_per_msg=1e6 * (user + system) / count,
        user_us_per_msg=1e6 * user / count,
        system_us_per_msg=1e6 * system / count,
        wall_us_per_msg=1e6 * wall / count,
        response_bytes=transport.written,
    )


@click.command("send-path", help="The broker's send path in one process: CPU per message.")
@click.option("--count", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("-s", "--size", type=click.IntRange(min=1), default=1024, show_default=True)
@click.option("--profile", is_flag=True, help="also print cProfile's top 30 functions")
def send_path(count: int, size: int, profile: bool) -> None:
    profiler = cProfile.Profile() if profile else None
    result = run_async(measure(count, size, profiler))
    click.echo(
        f"{result.messages} sends: {result.cpu_us_per_msg:.2f} µs CPU per message "
        f"(user {result.user_us_per_msg:.2f}, system {result.system_us_per_msg:.2f}), "
        f"{result.wall_us_per_msg:.2f} µs wall"
    )
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
        click.echo(text.getvalue())
