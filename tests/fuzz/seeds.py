"""Valid inputs per target, made by the encoders (nothing binary is committed for them).

A coverage-guided fuzzer mutating valid frames, records and bodies gets past the magic
numbers and length checks that random bytes almost never satisfy.
"""

from __future__ import annotations

import zlib

import orjson


def _commands() -> list[bytes]:
    from orbitmq.protocol.codes import SerializeType
    from orbitmq.protocol.command import RemotingCommand
    from orbitmq.protocol.frame import encode_frame

    frames = []
    for serialize_type in SerializeType:
        command = RemotingCommand(
            code=310,
            opaque=7,
            flag=0,
            language="JAVA",
            version=409,
            remark="hi",
            ext_fields={"a": "PG", "b": "TopicTest", "queueId": "3"},
            body=b"hello",
            serialize_type=serialize_type,
        )
        frames.append(encode_frame(command))
    return frames


def _header(frame: bytes) -> bytes:
    header_len = int.from_bytes(frame[4:8], "big") & 0xFFFFFF
    return frame[8 : 8 + header_len]


def _record() -> bytes:
    from orbitmq.protocol.message import MessageExt, encode_record

    return bytes(
        encode_record(
            MessageExt(
                topic="TopicTest",
                body=b"body",
                properties={"TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "AC11"},
                born_host=("10.0.0.1", 5000),
                store_host=("::1", 10911),
            )
        )
    ) + bytes(encode_record(MessageExt(topic="T", body=b"")))


def _batch() -> bytes:
    from orbitmq.protocol.message import BatchEntry, encode_batch

    return encode_batch(
        [BatchEntry(b"one", 0, {"TAGS": "a"}), BatchEntry(b"", 1, {"KEYS": "x", "WAIT": "true"})]
    )


_ROUTE = (
    b'{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911","1":"127.0.0.1:10921"},'
    b'"brokerName":"b","cluster":"c"}],"filterServerTable":{},"orderTopicConf":"b:4",'
    b'"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,'
    b'"writeQueueNums":4}]}'
)
_REGISTER = (
    b'{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,'
    b'"timestamp":1700000000000},"topicConfigTable":{"T":{"perm":6,"readQueueNums":4,'
    b'"topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}}'
)


def _compressed_register() -> bytes:
    version = b'{"counter":3,"timestamp":1}'
    line = b"T 4 4 6 SINGLE_TAG"
    filters = b"[]"
    inner = b"".join(
        len(part).to_bytes(4, "big") + part if part is not None else (1).to_bytes(4, "big")
        for part in (version, None, line, filters)
    )
    return b"\x03" + zlib.compress(inner)


_HEARTBEAT = orjson.dumps(
    {
        "clientID": "10.0.0.1@1",
        "consumerDataSet": [
            {
                "groupName": "g",
                "consumeType": "CONSUME_PASSIVELY",
                "messageModel": 0,
                "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                "subscriptionDataSet": [
                    {"topic": "T", "subString": "TagA || TagB", "tagsSet": ["TagA", "TagB"]},
                    {"topic": "U", "subString": "a > 5", "expressionType": "SQL92"},
                ],
            }
        ],
        "producerDataSet": [{"groupName": "PG"}],
    }
)
_LOCK = (
    b'{"clientId":"10.0.0.1@1","consumerGroup":"g",'
    b'"mqSet":[{"brokerName":"b","queueId":0,"topic":"T"}]}'
)
_CHECK = (
    b'{"subscriptionData":{"topic":"T","subString":"a BETWEEN 1 AND 3","expressionType":"SQL92"}}'
)
_SLAVE = (
    b'{"dataVersion":{"counter":1,"timestamp":2},"topicConfigTable":{"T":{"readQueueNums":4}},'
    b'"subscriptionGroupTable":{"g":{"retryQueueNums":1}},"offsetTable":{"T@g":{0:5},"3":7}}'
)
_SQL = [
    b"a > 5 AND TAGS IN ('TagA', 'TagB')\x00a=6\x01TAGS=TagA",
    b"NOT (b IS NULL) OR c BETWEEN 1.5 AND 2e3\x00b=x\x01c=2",
    b"name STARTSWITH 'x' AND -n <> 10L /* c */ -- d\x00name=xy\x01n=-10",
    b"TRUE = flag OR s CONTAINS 'it''s'\x00flag=true\x01s=it's",
]


def seeds(target: str) -> list[bytes]:
    frames = _commands()
    table: dict[str, list[bytes]] = {
        "frame": [b"\x00" + b"".join(frames), b"\x03" + frames[0], b"\x01" + frames[1]],
        "client_transport": [b"\x00" + b"".join(frames), b"\x05" + frames[1]],
        "header_json": [_header(frames[0]), _header(frames[0]) + b"\n"],
        "header_rocketmq": [_header(frames[1])],
        "record": [_record()],
        "properties": [b"TAGS\x01a\x02KEYS\x01b c\x02"],
        "batch": [_batch()],
        "sql92": _SQL,
        "fastjson": [_ROUTE, b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:1}}'],
        "route": [_ROUTE],
        "namesrv_register": [b"\x00" + _REGISTER, b"\x02" + _REGISTER[40:], _compressed_register()],
        "slave_sync": [_SLAVE],
        "broker_bodies": [_HEARTBEAT, _LOCK, _CHECK],
    }
    return table[target]
