"""One point of the broker curve: a real `orbitmq broker` (and its NameServer) with N
topics of 8 queues.

1. create: N x UPDATE_AND_CREATE_TOPIC, one after another as a script calling
   `mqadmin updateTopic` does, timed, with the broker's and the NameServer's CPU per
   topic; or (`file`) topics.json written before the broker first starts;
2. fill (`messages_per_queue` > 0): that many messages sent into every queue, so that
   the restarted broker has a consume queue per queue to load, as a broker in use does;
3. restart: SIGTERM, then a new process, timed from spawn to its boot line, to the
   first SEND_MESSAGE_V2 it accepts and to its route being served by the NameServer;
   RssAnon, open files and memory maps after that send;
4. registration: `registrations` UPDATE_BROKER_CONFIG brokerPermission requests, each
   of which bumps the DataVersion and registers the whole topic table (broker CPU per
   full registration; the NameServer rewrites every topic), then the same body replayed
   as another broker set with an unchanged DataVersion (NameServer CPU of the
   registration every broker sends every 30 s).
"""

from __future__ import annotations

import asyncio
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from orbitmq.bench.common import BenchError
from orbitmq.bench.cpu import read_cpu_seconds
from orbitmq.bench.memory import read_memory
from orbitmq.bench.scale.bodies import QUEUES
from orbitmq.bench.scale.servers import (
    BROKER_BOOT,
    broker_properties,
    open_files_and_maps,
    start_namesrv,
    write_properties,
)
from orbitmq.bench.suite.servers import Server
from orbitmq.broker.registration import register_body
from orbitmq.client.message import Message, MessageQueue
from orbitmq.client.send_codec import single_request
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError

TIMEOUT_S = 30.0
POLL_S = 0.005
START_LIMIT_S = 120.0
REPLAY_NAME = "broker-scale-replay"

TOPIC_PREFIX = "ScaleTopic-"

Probe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class BrokerLoad:
    topics: int
    create: str  # "admin" or "file"
    registrations: int
    messages_per_queue: int = 0
    window: int = 64  # fill sends in flight


@dataclass(frozen=True, slots=True)
class BrokerPoint:
    topics: int
    create: str
    create_s: float | None  # admin only
    create_broker_us: float | None  # CPU per UPDATE_AND_CREATE_TOPIC
    create_namesrv_us: float | None
    fill_failures: int  # fill sends not answered SUCCESS
    boot_s: float  # spawn -> boot line
    first_send_s: float  # spawn -> first accepted send
    routed_s: float  # spawn -> NameServer serves the route of the last topic
    rss_mib: float
    anon_mib: float
    open_files: int
    memory_maps: int
    body_kib: float  # the full register body
    register_broker_us: float  # broker CPU per full registration
    register_namesrv_us: float  # NameServer CPU per full registration, DataVersion changed
    repeat_namesrv_us: float  # NameServer CPU per full registration, DataVersion unchanged
    topics_registered: int  # topics the NameServer lists afterwards

    def to_json(self) -> dict[str, object]:
        return {
            name: round(value, 3) if isinstance(value, float) else value
            for name, value in ((f, getattr(self, f)) for f in self.__slots__)
        }


def topic_name(number: int) -> str:
    return f"{TOPIC_PREFIX}{number:06d}"


def _topic_json(name: str) -> dict[str, object]:
    return {
        "order": False, "perm": 6, "readQueueNums": QUEUES, "topicFilterType": "SINGLE_TAG",
        "topicName": name, "topicSysFlag": 0, "writeQueueNums": QUEUES,
    }  # fmt: skip


def write_topics_json(store: Path, count: int) -> None:
    """config/topics.json as a broker that already had `count` topics leaves it."""
    table = {topic_name(n): _topic_json(topic_name(n)) for n in range(count)}
    wrapper = {"dataVersion": {"counter": count, "timestamp": int(time.time() * 1000)},
               "topicConfigTable": table}  # fmt: skip
    (store / "config").mkdir(parents=True, exist_ok=True)
    (store / "config" / "topics.json").write_bytes(orjson.dumps(wrapper))


async def _checked(client: RemotingClient, address: str, request: RemotingCommand) -> bytes:
    response = await client.invoke(address, request, TIMEOUT_S)
    if response.code != ResponseCode.SUCCESS:
        raise BenchError(f"request {request.code} to {address} failed: {response.remark}")
    return response.body


class BrokerScaleRun:
    def __init__(self, load: BrokerLoad, home: Path) -> None:
        self.load = load
        self.home = home
        self.client = RemotingClient()
        self.last_topic = topic_name(load.topics - 1)

    async def run(self) -> BrokerPoint:
        namesrv = start_namesrv(self.home / "namesrv")
        props = broker_properties(self.home / "broker", namesrv.address)
        self.namesrv, self.props = namesrv, props
        self.broker_addr = f"127.0.0.1:{props['listenPort']}"
        broker: Server | None = None
        fill_failures = 0
        try:
            create_s = create_broker_us = create_namesrv_us = None
            if self.load.create == "file":
                write_topics_json(Path(str(props["storePathRootDir"])), self.load.topics)
            if self.load.create == "admin" or self.load.messages_per_queue:
                broker = self._spawn_broker()
                await self._wait(broker, self._booted(broker))
                if self.load.create == "admin":
                    create_s, create_broker_us, create_namesrv_us = await self._create(broker)
                fill_failures = await self._fill()
                broker.stop()
            broker, (boot_s, send_s, routed_s) = await self._restart()
            memory = read_memory(broker.pid)
            files, maps = open_files_and_maps(broker.pid)
            body, reg_broker_us, reg_namesrv_us = await self._force_registrations(broker)
            repeat_namesrv_us = await self._replay(body)
            listed = await self._topics_listed()
        finally:
            if broker is not None:
                broker.stop()
            namesrv.stop()
            await self.client.aclose()
        return BrokerPoint(
            self.load.topics, self.load.create, create_s, create_broker_us, create_namesrv_us,
            fill_failures, boot_s, send_s, routed_s, memory.rss_kib / 1024,
            memory.anon_kib / 1024, files, maps, len(body) / 1024, reg_broker_us,
            reg_namesrv_us, repeat_namesrv_us, listed,
        )  # fmt: skip

    def _spawn_broker(self) -> Server:
        config = write_properties(self.home / "broker.properties", self.props)
        argv = [sys.executable, "-m", "orbitmq", "broker", "-c", str(config)]
        return Server("orbitmq broker", argv, self.home, self.broker_addr)

    async def _restart(self) -> tuple[Server, list[float]]:
        """A new broker process; seconds from spawn to boot line, first send and route."""
        start = time.monotonic()
        broker = self._spawn_broker()
        marks = await self._wait(broker, self._booted(broker), self._sends, self._routed)
        return broker, [mark - start for mark in marks]

    async def _wait(self, broker: Server, *probes: Probe) -> list[float]:
        """When each probe first answered True (monotonic seconds)."""

        async def until(probe: Probe) -> float:
            while not await probe():
                await asyncio.sleep(POLL_S)
            return time.monotonic()

        try:
            async with asyncio.timeout(START_LIMIT_S):
                return list(await asyncio.gather(*(until(p) for p in probes)))
        except (TimeoutError, BenchError) as exc:
            broker.stop()
            raise BenchError(f"broker did not start: {exc}\n{broker.log_tail()}") from None

    @staticmethod
    def _booted(broker: Server) -> Probe:
        async def probe() -> bool:
            if broker.process.poll() is not None:
                raise BenchError(f"broker exited with {broker.process.returncode}")
            return BROKER_BOOT in broker.log_tail(3)

        return probe

    async def _send(self, topic: str, queue_id: int) -> bool:
        mq = MessageQueue(topic, str(self.props["brokerName"]), queue_id)
        request = single_request("scale_bench", mq, Message(topic, b"x"), "ScaleBench", 4096)
        try:
            response = await self.client.invoke(self.broker_addr, request, TIMEOUT_S)
        except RemotingError:
            return False
        return response.code == ResponseCode.SUCCESS

    async def _sends(self) -> bool:
        return await self._send(topic_name(0), 0)

    async def _fill(self) -> int:
        """`messages_per_queue` sends into every queue, `window` at a time; returns how
        many failed."""
        load = self.load
        targets = (
            (topic_name(n), queue_id)
            for n in range(load.topics)
            for queue_id in range(QUEUES)
            for _ in range(load.messages_per_queue)
        )
        failed = 0

        async def sender() -> None:
            nonlocal failed
            for topic, queue_id in targets:  # shared: each target goes to one sender
                if not await self._send(topic, queue_id):
                    failed += 1

        await asyncio.gather(*(sender() for _ in range(load.window)))
        return failed

    async def _routed(self) -> bool:
        request = RemotingCommand.request(
            RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": self.last_topic}
        )
        response = await self.client.invoke(self.namesrv.address, request, TIMEOUT_S)
        return response.code == ResponseCode.SUCCESS and self.broker_addr.encode() in response.body

    async def _create(self, broker: Server) -> tuple[float, float, float]:
        broker_cpu, namesrv_cpu = read_cpu_seconds(broker.pid), read_cpu_seconds(self.namesrv.pid)
        start = time.monotonic()
        for number in range(self.load.topics):
            ext = {
                "topic": topic_name(number), "defaultTopic": "TBW102",
                "readQueueNums": str(QUEUES), "writeQueueNums": str(QUEUES), "perm": "6",
                "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false",
            }  # fmt: skip
            request = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, ext)
            await _checked(self.client, self.broker_addr, request)
        elapsed = time.monotonic() - start
        n = self.load.topics
        return (
            elapsed,
            (read_cpu_seconds(broker.pid) - broker_cpu) * 1e6 / n,
            (read_cpu_seconds(self.namesrv.pid) - namesrv_cpu) * 1e6 / n,
        )

    async def _force_registrations(self, broker: Server) -> tuple[bytes, float, float]:
        """UPDATE_BROKER_CONFIG brokerPermission=6: a new DataVersion and a full register."""
        broker_cpu, namesrv_cpu = read_cpu_seconds(broker.pid), read_cpu_seconds(self.namesrv.pid)
        n = self.load.registrations
        for _ in range(n):
            request = RemotingCommand.request(
                RequestCode.UPDATE_BROKER_CONFIG, {}, b"brokerPermission=6\n"
            )
            await _checked(self.client, self.broker_addr, request)
        broker_us = (read_cpu_seconds(broker.pid) - broker_cpu) * 1e6 / n
        namesrv_us = (read_cpu_seconds(self.namesrv.pid) - namesrv_cpu) * 1e6 / n
        wrapper = orjson.loads(
            await _checked(
                self.client,
                self.broker_addr,
                RemotingCommand.request(RequestCode.GET_ALL_TOPIC_CONFIG),
            )
        )
        return register_body(wrapper, 6), broker_us, namesrv_us

    async def _replay(self, body: bytes) -> float:
        """NameServer CPU per registration of `body` whose DataVersion it already has."""
        ext = {
            "brokerName": REPLAY_NAME, "brokerAddr": "127.1.0.1:10911",
            "clusterName": "ReplayCluster", "haServerAddr": "127.1.0.1:10912",
            "brokerId": "0", "compressed": "false",
            "bodyCrc32": str(zlib.crc32(body) & 0x7FFFFFFF),
        }  # fmt: skip
        replay = RemotingClient()
        try:
            request = RemotingCommand.request(RequestCode.REGISTER_BROKER, dict(ext), body)
            await _checked(replay, self.namesrv.address, request)  # the first one writes topics
            before = read_cpu_seconds(self.namesrv.pid)
            for _ in range(self.load.registrations):
                request = RemotingCommand.request(RequestCode.REGISTER_BROKER, dict(ext), body)
                await _checked(replay, self.namesrv.address, request)
            return (read_cpu_seconds(self.namesrv.pid) - before) * 1e6 / self.load.registrations
        finally:
            await replay.aclose()

    async def _topics_listed(self) -> int:
        """ScaleTopic-* topics the NameServer lists for the broker's cluster."""
        request = RemotingCommand.request(
            RequestCode.GET_TOPICS_BY_CLUSTER, {"cluster": str(self.props["brokerClusterName"])}
        )
        body = await _checked(self.client, self.namesrv.address, request)
        topics = orjson.loads(body).get("topicList") or []
        return sum(1 for topic in topics if topic.startswith(TOPIC_PREFIX))
