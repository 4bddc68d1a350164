"""`orbitmq bench raw-producer|raw-consumer` as real subprocesses against a real
`orbitmq standalone`, redis-server and nats-server (each skipped when not installed): the
counts they report are what the server stored, and what a consumer reads back."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orbitmq.bench.raw import nats_wire, redis_wire
from orbitmq.bench.raw.pipeline import parse_url
from orbitmq.bench.suite.servers import (
    TOPIC,
    Server,
    create_topic,
    start_nats,
    start_redis,
    start_standalone,
)
from orbitmq.client.admin import MQAdmin

pytestmark = pytest.mark.slow

KEYS_TOPIC = "PerfKeys"


def raw(*args: str, timeout: float = 90.0) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "NAMESRV_ADDR"}
    result = subprocess.run(
        [sys.executable, "-m", "orbitmq", "bench", *args, "--json"],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def check_costs(summary: dict[str, Any], pid: int | None) -> None:
    generator = summary["generator_cpu"]
    assert generator["cpu_s"] > 0 and generator["us_per_msg"] > 0
    if pid is not None:  # /proc counts in 10 ms ticks: a short load may show none
        assert summary["broker_cpu"]["pid"] == pid and summary["broker_cpu"]["us_per_msg"] >= 0


def skip_without(program: str) -> None:
    if shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
        pytest.skip(f"{program} is not installed (scripts/perf.sh installs it)")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_standalone(tmp_path_factory.mktemp("orbitmq"))
    try:
        create_topic(server)
        create_topic(server, KEYS_TOPIC, 2)
        yield server
    finally:
        server.stop()


async def stored(namesrv: str, topic: str = TOPIC) -> list[int]:
    """The max offset of each of the topic's queues: how many messages each holds."""
    async with MQAdmin(namesrv) as admin:
        route = await admin.topic_route(topic)
        return [await admin.max_offset(mq) for mq in route.subscribe_queues(topic)]


def admin_json(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "orbitmq", "admin", *args, "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_orbitmq_produce_and_consume(standalone: Server) -> None:
    target = ["--system", "orbitmq", "-n", standalone.address, "-t", TOPIC]
    produced = raw("raw-producer", *target, "--count", "3000", "--processes", "2", "-w", "16",
                   "--broker-pid", str(standalone.pid))  # fmt: skip
    assert produced["messages"] == 3000
    assert produced["send_failed"] == produced["response_failed"] == 0
    check_costs(produced, standalone.pid)
    per_queue = asyncio.run(stored(standalone.address))
    assert sum(per_queue) == 3000 and len(per_queue) == 8
    assert max(per_queue) - min(per_queue) <= 6  # spread over the queues
    timed = raw("raw-producer", *target, "--duration", "1", "--connections", "1")
    assert timed["messages"] > 0 and timed["elapsed_s"] < 10
    total = sum(asyncio.run(stored(standalone.address)))
    assert total == 3000 + timed["messages"]
    consumed = raw("raw-consumer", *target, "--count", str(total), "--processes", "2",
                   "--duration", "30", "--broker-pid", str(standalone.pid))  # fmt: skip
    assert consumed["messages"] == total
    check_costs(consumed, standalone.pid)


def test_orbitmq_messages_carry_unique_indexed_keys(standalone: Server) -> None:
    raw("raw-producer", "--system", "orbitmq", "-n", standalone.address, "-t", KEYS_TOPIC,
        "--count", "40", "--connections", "2", "-w", "4")  # fmt: skip
    messages = admin_json("printMsg", "-n", standalone.address, "-t", KEYS_TOPIC, "-d", "false")
    assert len(messages) == 40
    keys = {m["properties"]["KEYS"] for m in messages}
    uniq_keys = {m["properties"]["UNIQ_KEY"] for m in messages}
    assert len(keys) == len(uniq_keys) == 40
    assert {m["tags"] for m in messages} == {"TagA"}
    assert {m["properties"]["WAIT"] for m in messages} == {"true"}
    key = sorted(keys)[7]
    found = admin_json("queryMsgByKey", "-n", standalone.address, "-t", KEYS_TOPIC, "-k", key)
    assert [m["keys"] for m in found] == [key]


def redis_xlen(url: str) -> int:
    host, port = parse_url(url, "redis")
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(redis_wire.command(b"XLEN", redis_wire.STREAM))
        reply = sock.recv(100)
    assert reply.startswith(b":"), reply
    return int(reply[1:].strip())


def nats_stored(url: str) -> int:
    host, port = parse_url(url, "nats")
    subject = f"$JS.API.STREAM.INFO.{nats_wire.STREAM}"
    info = asyncio.run(nats_wire.api_request(host, port, subject, {}))
    return int(info["state"]["messages"])


@pytest.mark.parametrize("system", ["redis", "nats"])
def test_peer_produce_and_consume(tmp_path: Path, system: str) -> None:
    skip_without(f"{system}-server")
    server = start_redis(tmp_path) if system == "redis" else start_nats(tmp_path)
    try:
        target = ["--system", system, "--url", server.address]
        produced = raw("raw-producer", *target, "--count", "2000", "--processes", "2",
                       "--broker-pid", str(server.pid))  # fmt: skip
        assert produced["messages"] == 2000
        assert produced["send_failed"] == produced["response_failed"] == 0
        check_costs(produced, server.pid)
        count = redis_xlen if system == "redis" else nats_stored
        assert count(server.address) == 2000
        consumed = raw("raw-consumer", *target, "--count", "2000", "--processes", "2",
                       "--duration", "30", "-g", "g1", "--broker-pid", str(server.pid))  # fmt: skip
        assert consumed["messages"] == 2000
        check_costs(consumed, server.pid)
        again = raw("raw-consumer", *target, "--duration", "5", "-g", "g1")  # read: nothing left
        assert again["messages"] == 0
    finally:
        server.stop()
