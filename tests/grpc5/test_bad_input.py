"""Malformed and wrong requests to the gRPC surface, made with raw stubs (generated from
RocketMQ's .proto files): each gets the Code RocketMQ's proxy answers with and a message
a person can act on, and the proxy goes on serving."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.apis import service_pb2 as spb
from orbitmq.proxy.apis import service_pb2_grpc as sgrpc

from .harness import ProxiedCluster

TOPIC = "Grpc5BadInput"


@pytest.fixture(scope="module")
def stub(local_cluster: ProxiedCluster) -> Iterator[sgrpc.MessagingServiceStub]:
    local_cluster.create_topic(TOPIC, 2)
    with grpc.insecure_channel(local_cluster.endpoint) as channel:
        yield sgrpc.MessagingServiceStub(channel)


def headers(client_id: str | None = "bad-input-client") -> list[tuple[str, str]]:
    return [("x-mq-client-id", client_id)] if client_id else []


def endpoints(cluster: ProxiedCluster) -> pb.Endpoints:
    host, port = cluster.endpoint.split(":")
    return pb.Endpoints(scheme=pb.IPv4, addresses=[pb.Address(host=host, port=int(port))])


def route(stub, cluster: ProxiedCluster, topic: str, client_id: str | None = "c1"):  # type: ignore[no-untyped-def]
    request = spb.QueryRouteRequest(topic=pb.Resource(name=topic), endpoints=endpoints(cluster))
    return stub.QueryRoute(request, metadata=headers(client_id), timeout=5)


def send_one(stub, body: bytes = b"x", **system: object) -> spb.SendMessageResponse:  # type: ignore[no-untyped-def]
    message = pb.Message(
        topic=pb.Resource(name=TOPIC),
        body=body,
        system_properties=pb.SystemProperties(
            message_id=str(system.pop("message_id", uuid.uuid4().hex)),
            message_type=pb.NORMAL,
            body_encoding=pb.IDENTITY,
            **system,  # type: ignore[arg-type]
        ),
    )
    return stub.SendMessage(
        spb.SendMessageRequest(messages=[message]), metadata=headers(), timeout=5
    )


def receive(stub, cluster: ProxiedCluster, group: str) -> list[spb.ReceiveMessageResponse]:  # type: ignore[no-untyped-def]
    queue = route(stub, cluster, TOPIC).message_queues[0]
    request = spb.ReceiveMessageRequest(
        group=pb.Resource(name=group),
        message_queue=queue,
        filter_expression=pb.FilterExpression(type=pb.TAG, expression="*"),
        batch_size=16,
        invisible_duration=Duration(seconds=30),
        long_polling_timeout=Duration(seconds=5),
    )
    return list(stub.ReceiveMessage(request, metadata=headers(), timeout=15))


def test_routes_of_bad_topics(stub, local_cluster: ProxiedCluster) -> None:  # type: ignore[no-untyped-def]
    missing = route(stub, local_cluster, "NoSuchTopicAnywhere")
    assert missing.status.code == pb.TOPIC_NOT_FOUND
    assert "mqadmin updateTopic" in missing.status.message
    illegal = route(stub, local_cluster, "bad topic!")
    assert illegal.status.code == pb.ILLEGAL_TOPIC
    assert "a-z A-Z 0-9" in illegal.status.message
    anonymous = route(stub, local_cluster, TOPIC, client_id=None)
    assert anonymous.status.code == pb.CLIENT_ID_REQUIRED
    no_endpoints = stub.QueryRoute(
        spb.QueryRouteRequest(topic=pb.Resource(name=TOPIC)), metadata=headers(), timeout=5
    )
    assert no_endpoints.status.code == pb.ILLEGAL_ACCESS_POINT
    good = route(stub, local_cluster, TOPIC)
    assert good.status.code == pb.OK and len(good.message_queues) == 2
    assert all(q.accept_message_types for q in good.message_queues)


def test_bad_sends(stub) -> None:  # type: ignore[no-untyped-def]
    assert send_one(stub, message_id="").status.code == pb.ILLEGAL_MESSAGE_ID
    assert send_one(stub, body=b"").status.code == pb.MESSAGE_BODY_EMPTY
    assert send_one(stub, tag="a|b").status.code == pb.ILLEGAL_MESSAGE_TAG
    reserved = stub.SendMessage(
        spb.SendMessageRequest(
            messages=[
                pb.Message(
                    topic=pb.Resource(name=TOPIC),
                    body=b"x",
                    user_properties={"UNIQ_KEY": "mine"},
                    system_properties=pb.SystemProperties(message_id="m1", message_type=pb.NORMAL),
                )
            ]
        ),
        metadata=headers(),
        timeout=5,
    )
    assert reserved.status.code == pb.ILLEGAL_MESSAGE_PROPERTY_KEY
    assert "UNIQ_KEY" in reserved.status.message
    ok = send_one(stub, tag="ok")
    assert ok.status.code == pb.OK and ok.entries[0].message_id


def test_bad_receipt_handles(stub, local_cluster: ProxiedCluster) -> None:  # type: ignore[no-untyped-def]
    assert send_one(stub, tag="handles").status.code == pb.OK
    frames = receive(stub, local_cluster, "GID_BAD_HANDLES")
    assert frames[0].status.code == pb.OK
    message = next(f.message for f in frames if f.HasField("message"))
    handle = message.system_properties.receipt_handle

    def ack(group: str, receipt_handle: str) -> spb.AckMessageResponse:
        request = spb.AckMessageRequest(
            group=pb.Resource(name=group),
            topic=pb.Resource(name=TOPIC),
            entries=[
                spb.AckMessageEntry(
                    message_id=message.system_properties.message_id,
                    receipt_handle=receipt_handle,
                )
            ],
        )
        return stub.AckMessage(request, metadata=headers(), timeout=5)

    garbage = ack("GID_BAD_HANDLES", "not a handle")
    assert garbage.status.code == pb.INVALID_RECEIPT_HANDLE
    other_group = ack("GID_SOMEONE_ELSE", handle)
    assert other_group.status.code == pb.INVALID_RECEIPT_HANDLE
    assert "GID_SOMEONE_ELSE" in other_group.status.message
    assert ack("GID_BAD_HANDLES", handle).status.code == pb.OK
    again = ack("GID_BAD_HANDLES", handle)
    assert again.status.code == pb.INVALID_RECEIPT_HANDLE  # acked already

    short = stub.ChangeInvisibleDuration(
        spb.ChangeInvisibleDurationRequest(
            group=pb.Resource(name="GID_BAD_HANDLES"),
            topic=pb.Resource(name=TOPIC),
            receipt_handle=handle,
            invisible_duration=Duration(seconds=13 * 3600),
            message_id=message.system_properties.message_id,
        ),
        metadata=headers(),
        timeout=5,
    )
    assert short.status.code == pb.ILLEGAL_INVISIBLE_TIME


def test_bad_receives(stub, local_cluster: ProxiedCluster) -> None:  # type: ignore[no-untyped-def]
    queue = route(stub, local_cluster, TOPIC).message_queues[0]

    def first_status(**fields: object) -> pb.Status:
        request = spb.ReceiveMessageRequest(
            group=pb.Resource(name=str(fields.pop("group", "GID_BAD_RECEIVE"))),
            message_queue=queue,
            filter_expression=fields.pop(
                "filter_expression", pb.FilterExpression(type=pb.TAG, expression="*")
            ),
            batch_size=4,
            long_polling_timeout=Duration(seconds=5),
            **fields,  # type: ignore[arg-type]
        )
        frames = list(stub.ReceiveMessage(request, metadata=headers(), timeout=15))
        return frames[0].status

    assert first_status(invisible_duration=Duration(seconds=1)).code == pb.ILLEGAL_INVISIBLE_TIME
    bad_sql = first_status(
        invisible_duration=Duration(seconds=30),
        filter_expression=pb.FilterExpression(type=pb.SQL, expression="a >"),
    )
    assert bad_sql.code == pb.ILLEGAL_FILTER_EXPRESSION
    assert first_status(group="bad group", invisible_duration=Duration(seconds=30)).code == (
        pb.ILLEGAL_CONSUMER_GROUP
    )


def test_unknown_rpc_is_unimplemented_and_serving_goes_on(
    stub, local_cluster: ProxiedCluster
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateOffset(spb.UpdateOffsetRequest(), metadata=headers(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert route(stub, local_cluster, TOPIC).status.code == pb.OK


def test_a_request_of_several_messages(stub) -> None:  # type: ignore[no-untyped-def]
    messages = [
        pb.Message(
            topic=pb.Resource(name=TOPIC),
            body=f"batch-{i}".encode(),
            system_properties=pb.SystemProperties(
                message_id=uuid.uuid4().hex, message_type=pb.NORMAL, tag="batch"
            ),
        )
        for i in range(3)
    ]
    answer = stub.SendMessage(
        spb.SendMessageRequest(messages=messages), metadata=headers(), timeout=5
    )
    assert answer.status.code == pb.OK
    assert [e.message_id for e in answer.entries] == [
        m.system_properties.message_id for m in messages
    ]
    messages[1].body = b""
    mixed = stub.SendMessage(
        spb.SendMessageRequest(messages=messages), metadata=headers(), timeout=5
    )
    assert mixed.status.code == pb.MULTIPLE_RESULTS
    assert [e.status.code for e in mixed.entries] == [pb.OK, pb.MESSAGE_BODY_EMPTY, pb.OK]


def test_a_changed_invisible_duration_makes_a_new_handle(
    stub, local_cluster: ProxiedCluster
) -> None:  # type: ignore[no-untyped-def]
    assert send_one(stub, tag="renew").status.code == pb.OK
    frames = receive(stub, local_cluster, "GID_CHANGE_HANDLE")
    message = next(f.message for f in frames if f.HasField("message"))
    old = message.system_properties.receipt_handle
    changed = stub.ChangeInvisibleDuration(
        spb.ChangeInvisibleDurationRequest(
            group=pb.Resource(name="GID_CHANGE_HANDLE"),
            topic=pb.Resource(name=TOPIC),
            receipt_handle=old,
            invisible_duration=Duration(seconds=60),
            message_id=message.system_properties.message_id,
        ),
        metadata=headers(),
        timeout=5,
    )
    assert changed.status.code == pb.OK and changed.receipt_handle not in ("", old)

    def ack(handle: str) -> int:
        request = spb.AckMessageRequest(
            group=pb.Resource(name="GID_CHANGE_HANDLE"),
            topic=pb.Resource(name=TOPIC),
            entries=[spb.AckMessageEntry(message_id="m", receipt_handle=handle)],
        )
        return stub.AckMessage(request, metadata=headers(), timeout=5).status.code

    assert ack(old) == pb.INVALID_RECEIPT_HANDLE
    assert ack(changed.receipt_handle) == pb.OK
