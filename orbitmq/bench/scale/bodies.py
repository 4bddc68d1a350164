"""REGISTER_BROKER requests of simulated broker sets, encoded once before the load.

A simulated set looks to the NameServer like a RocketMQ master: its own address and
connection, and a RegisterBrokerBody listing its topics, either compressed as RocketMQ
4.9+ brokers send it with `compressedRegister=true` (RegisterBrokerBody.encode(true)):

    zlib(i32 len | DataVersion JSON | i32 topicCount |
         topicCount x (i32 len | "topicName readQueueNums writeQueueNums perm SINGLE_TAG") |
         i32 len | filterServerList JSON)

or as the plain JSON body (Java's default, and what an OrbitMQ broker sends).

Topics are shared out in groups: `sets_per_topic` consecutive broker sets serve the same
topics, so 1 gives every set topics of its own and the set count gives every topic on
every set.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import orjson

from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand

CLUSTER = "ScaleCluster"
QUEUES = 8
PERM_READ_WRITE = 6
BODY_FORMATS = ("compressed", "json")

_I32 = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class Layout:
    """Which broker sets serve which topics."""

    broker_sets: int
    topics_per_set: int
    sets_per_topic: int = 1

    @property
    def groups(self) -> int:
        return -(-self.broker_sets // self.sets_per_topic)

    @property
    def distinct_topics(self) -> int:
        return self.groups * self.topics_per_set

    def broker_name(self, index: int) -> str:
        return f"scale-broker-{index:04d}"

    def broker_addr(self, index: int) -> str:
        # Never dialled: the NameServer only stores and serves broker addresses.
        return f"127.1.{index // 250}.{index % 250 + 1}:10911"

    def topic(self, group: int, number: int) -> str:
        return f"ScaleTopic-{group:04d}-{number:05d}"

    def topics_of(self, index: int) -> list[str]:
        group = index // self.sets_per_topic
        return [self.topic(group, n) for n in range(self.topics_per_set)]

    def all_topics(self) -> list[str]:
        return [self.topic(g, n) for g in range(self.groups) for n in range(self.topics_per_set)]


def _chunk(data: bytes) -> bytes:
    return _I32.pack(len(data)) + data


def compressed_body(counter: int, timestamp: int, topics: list[str]) -> bytes:
    version = orjson.dumps({"counter": counter, "timestamp": timestamp})
    parts = [_chunk(version), _I32.pack(len(topics))]
    parts += [
        _chunk(f"{t} {QUEUES} {QUEUES} {PERM_READ_WRITE} SINGLE_TAG".encode()) for t in topics
    ]
    parts.append(_chunk(b"[]"))
    return zlib.compress(b"".join(parts), 9)  # Deflater(BEST_COMPRESSION)


def json_body(counter: int, timestamp: int, topics: list[str]) -> bytes:
    table = {
        t: {
            "order": False,
            "perm": PERM_READ_WRITE,
            "readQueueNums": QUEUES,
            "topicFilterType": "SINGLE_TAG",
            "topicName": t,
            "topicSysFlag": 0,
            "writeQueueNums": QUEUES,
        }
        for t in topics
    }
    wrapper = {
        "dataVersion": {"counter": counter, "timestamp": timestamp},
        "topicConfigTable": table,
    }
    return orjson.dumps({"filterServerList": [], "topicConfigSerializeWrapper": wrapper})


@dataclass(frozen=True, slots=True)
class Registration:
    """One broker set's REGISTER_BROKER: header fields and body, ready to send."""

    ext_fields: dict[str, str]
    body: bytes

    def request(self) -> RemotingCommand:
        return RemotingCommand.request(
            RequestCode.REGISTER_BROKER, dict(self.ext_fields), self.body
        )


def registration(
    layout: Layout, index: int, body_format: str, counter: int, timestamp: int
) -> Registration:
    """Broker set `index`'s registration with DataVersion (counter, timestamp)."""
    topics = layout.topics_of(index)
    if body_format == "compressed":
        body = compressed_body(counter, timestamp, topics)
    else:
        body = json_body(counter, timestamp, topics)
    addr = layout.broker_addr(index)
    host, _, port = addr.rpartition(":")
    ext = {
        "brokerName": layout.broker_name(index),
        "brokerAddr": addr,
        "clusterName": CLUSTER,
        "haServerAddr": f"{host}:{int(port) + 1}",
        "brokerId": "0",
        "compressed": "true" if body_format == "compressed" else "false",
        "bodyCrc32": str(zlib.crc32(body) & 0x7FFFFFFF),
    }
    return Registration(ext, body)
