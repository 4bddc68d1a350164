"""gRPC <-> 4.x message mapping and the proxy's checks (orbitmq/proxy/convert.py), and
the settings answered over Telemetry (orbitmq/proxy/settings.py)."""

from __future__ import annotations

import hashlib

import pytest

from orbitmq.protocol.message import MessageExt, SysFlag
from orbitmq.proxy import convert
from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.errors import ProxyError
from orbitmq.proxy.settings import SettingsError, merged_settings

MiB = 1024 * 1024
DAY_MS = 24 * 3600 * 1000


def message(**system: object) -> pb.Message:
    body = system.pop("body", b"payload")
    user = system.pop("user", {})
    return pb.Message(
        topic=pb.Resource(name="T"),
        body=body,  # type: ignore[arg-type]
        user_properties=user,  # type: ignore[arg-type]
        system_properties=pb.SystemProperties(message_id="01AB", **system),  # type: ignore[arg-type]
    )


def fields(msg: pb.Message) -> tuple[bytes, dict[str, str], int]:
    return convert.to_send_fields(msg, 4 * MiB, DAY_MS)


def test_a_normal_message_maps_to_4x_properties() -> None:
    body, properties, sys_flag = fields(
        message(tag="TagA", keys=["k1", "k2"], message_type=pb.NORMAL, user={"color": "blue"})
    )
    assert body == b"payload" and sys_flag == 0
    assert properties == {"color": "blue", "TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "01AB"}


def test_fifo_delay_and_transaction_properties() -> None:
    _, fifo, _ = fields(message(message_group="g1", message_type=pb.FIFO))
    assert fifo["__SHARDINGKEY"] == "g1"
    deliver = convert.now_ms() + 5_000
    _, delay, _ = fields(
        message(message_type=pb.DELAY, delivery_timestamp=convert.timestamp(deliver))
    )
    assert delay["TIMER_DELIVER_MS"] == str(deliver)
    _, tx, flag = fields(message(message_type=pb.TRANSACTION))
    assert tx["TRAN_MSG"] == "true" and flag & SysFlag.TRANSACTION_PREPARED


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        (message(body=b""), pb.MESSAGE_BODY_EMPTY),
        (message(body=b"x" * (4 * MiB + 1)), pb.MESSAGE_BODY_TOO_LARGE),
        (message(tag="a|b"), pb.ILLEGAL_MESSAGE_TAG),
        (message(tag=" "), pb.ILLEGAL_MESSAGE_TAG),
        (message(keys=[" "]), pb.ILLEGAL_MESSAGE_KEY),
        (message(user={"TAGS": "x"}), pb.ILLEGAL_MESSAGE_PROPERTY_KEY),
        (message(message_group="g" * 64), pb.ILLEGAL_MESSAGE_GROUP),
        (
            message(delivery_timestamp=convert.timestamp(convert.now_ms() + 2 * DAY_MS)),
            pb.ILLEGAL_DELIVERY_TIME,
        ),
    ],
)
def test_refused_sends_name_their_code(msg: pb.Message, code: int) -> None:
    with pytest.raises(ProxyError) as caught:
        fields(msg)
    assert caught.value.code == code


def test_message_id_is_required() -> None:
    msg = message()
    msg.system_properties.message_id = ""
    with pytest.raises(ProxyError) as caught:
        fields(msg)
    assert caught.value.code == pb.ILLEGAL_MESSAGE_ID


def test_stored_message_as_delivered() -> None:
    stored = MessageExt(
        topic="T",
        body=b"hello",
        properties={"TAGS": "TagA", "KEYS": "a b", "UNIQ_KEY": "01CD", "color": "red",
                    "__SHARDINGKEY": "g1", "CLUSTER": "DefaultCluster"},
        queue_id=2,
        queue_offset=9,
        born_timestamp=1_700_000_000_123,
        store_timestamp=1_700_000_000_456,
        reconsume_times=2,
    )  # fmt: skip
    out = convert.to_grpc_message(stored, "ns", receipt_handle="h", invisible_ms=30_000)
    system = out.system_properties
    assert out.topic == pb.Resource(resource_namespace="ns", name="T")
    assert dict(out.user_properties) == {"color": "red"}
    assert system.message_id == "01CD" and system.tag == "TagA" and list(system.keys) == ["a", "b"]
    assert system.message_group == "g1" and system.message_type == pb.FIFO
    assert system.body_encoding == pb.IDENTITY
    assert system.body_digest.checksum == hashlib.md5(b"hello").hexdigest().upper()
    assert system.delivery_attempt == 3 and system.receipt_handle == "h"
    assert (system.queue_id, system.queue_offset) == (2, 9)
    assert (
        system.born_timestamp.seconds == 1_700_000_000
        and system.born_timestamp.nanos == 123_000_000
    )


def test_a_message_group_always_lands_on_one_queue() -> None:
    assert {convert.queue_for_group("order-42", 8) for _ in range(5)} == {
        convert.queue_for_group("order-42", 8)
    }
    assert len({convert.queue_for_group(f"g{i}", 8) for i in range(200)}) == 8


@pytest.mark.parametrize("name", ["", "a b", "x" * 128, "t/1"])
def test_illegal_names(name: str) -> None:
    with pytest.raises(ProxyError) as caught:
        convert.check_name(name, "topic", pb.ILLEGAL_TOPIC)
    assert caught.value.code == pb.ILLEGAL_TOPIC


def test_settings_for_producers_and_consumers() -> None:
    producer = merged_settings(
        pb.Settings(client_type=pb.PRODUCER, publishing=pb.Publishing(max_body_size=1)),
        max_body_size=4 * MiB,
    )
    assert producer.publishing.max_body_size == 4 * MiB
    assert producer.publishing.validate_message_type
    assert producer.backoff_policy.max_attempts == 3
    consumer = merged_settings(
        pb.Settings(client_type=pb.PUSH_CONSUMER, subscription=pb.Subscription()),
        max_body_size=4 * MiB,
        fifo=True,
        max_attempts=5,
    )
    subscription = consumer.subscription
    assert subscription.fifo and subscription.receive_batch_size == 32
    assert subscription.long_polling_timeout.seconds == 20
    assert consumer.backoff_policy.max_attempts == 5
    assert consumer.backoff_policy.customized_backoff.next[0].seconds == 1
    assert not consumer.metric.on
    with pytest.raises(SettingsError):
        merged_settings(pb.Settings(client_type=pb.PRODUCER), max_body_size=1)
