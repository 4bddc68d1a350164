import os
import re

import orjson

from orbitmq.client.heartbeat import ConsumerData, heartbeat_body, make_client_id
from orbitmq.protocol.subscription import parse_subscription


def test_client_id() -> None:
    cid = make_client_id(ip="10.1.2.3")
    assert re.fullmatch(rf"10\.1\.2\.3@{os.getpid()}#\d+", cid)
    assert make_client_id(ip="10.1.2.3") != cid
    assert make_client_id("worker-1", ip="10.1.2.3") == "10.1.2.3@worker-1"


def test_producer_heartbeat() -> None:
    assert orjson.loads(heartbeat_body("c@1", ["PG"])) == {
        "clientID": "c@1",
        "consumerDataSet": [],
        "producerDataSet": [{"groupName": "PG"}],
    }


def test_consumer_heartbeat_uses_enum_names() -> None:
    data = ConsumerData("G", subscriptions=[parse_subscription("T", "TagA", 9)])
    body = heartbeat_body("c@1", [], [data])
    assert b" " not in body.replace(b"TagA", b"")  # compact JSON
    consumer = orjson.loads(body)["consumerDataSet"][0]
    assert consumer == {
        "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
        "consumeType": "CONSUME_PASSIVELY",
        "groupName": "G",
        "messageModel": "CLUSTERING",
        "subscriptionDataSet": [parse_subscription("T", "TagA", 9).to_json()],
        "unitMode": False,
    }
