import orjson

from orbitmq.client.consumer.broker_requests import parse_reset_offsets, running_info_body
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.subscription import parse_subscription


def test_reset_offsets_fastjson_object_keys() -> None:
    body = (
        b'{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:5,'
        b'{"brokerName":"broker-a","queueId":1,"topic":"T"}:7}}'
    )
    assert parse_reset_offsets(body) == {
        MessageQueue("T", "broker-a", 0): 5,
        MessageQueue("T", "broker-a", 1): 7,
    }


def test_reset_offsets_list_form() -> None:
    body = orjson.dumps(
        {"offsetTable": [{"brokerName": "b", "queueId": 3, "topic": "T", "offset": 9}, {}]}
    )
    assert parse_reset_offsets(body) == {MessageQueue("T", "b", 3): 9}


def test_reset_offsets_standard_json_with_string_keys() -> None:
    key = '{"brokerName":"b","queueId":1,"topic":"T"}'
    body = orjson.dumps({"offsetTable": {key: 4}})
    assert parse_reset_offsets(body) == {MessageQueue("T", "b", 1): 4}


def test_reset_offsets_garbage() -> None:
    assert parse_reset_offsets(b"nonsense") == {}


def test_running_info() -> None:
    raw = orjson.loads(running_info_body("CONSUME_PASSIVELY", 20, 1, [parse_subscription("T")]))
    assert raw["properties"]["PROP_CONSUME_TYPE"] == "CONSUME_PASSIVELY"
    assert raw["subscriptionSet"][0]["topic"] == "T"
