"""PlainPermissionManager.validate: white lists, signatures, admin codes, permissions."""

import orjson
import pytest

from orbitmq.acl.config import parse_acl_yaml
from orbitmq.acl.errors import AclError
from orbitmq.acl.permission import ANY, DENY, PUB, SUB, check_permission, parse_perm
from orbitmq.acl.resource import required_perms
from orbitmq.acl.signature import SessionCredentials
from orbitmq.acl.validator import validate
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand

CONFIG = parse_acl_yaml(
    """
globalWhiteRemoteAddresses: [10.0.0.*]
accounts:
  - {accessKey: RocketMQ, secretKey: "12345678", defaultTopicPerm: DENY, defaultGroupPerm: SUB,
     topicPerms: [TopicA=PUB|SUB, TopicB=SUB], groupPerms: [GroupX=DENY]}
  - {accessKey: rocketmq2, secretKey: "12345678", admin: true}
  - {accessKey: whiteguy, secretKey: "12345678", whiteRemoteAddress: "192.168.0.{1,2}"}
"""
)
USER = SessionCredentials("RocketMQ", "12345678")
ADMIN = SessionCredentials("rocketmq2", "12345678")


def signed(
    code: int, ext: dict[str, str], keys: SessionCredentials | None, body: bytes = b""
) -> RemotingCommand:
    command = RemotingCommand.request(code, dict(ext), body)
    if keys is not None:
        keys.sign(command)
    return command


def send(topic: str, keys: SessionCredentials | None, group: str = "PG") -> RemotingCommand:
    return signed(RequestCode.SEND_MESSAGE_V2, {"a": group, "b": topic, "e": "0"}, keys)


def test_permission_semantics() -> None:
    assert parse_perm("PUB|SUB") == parse_perm("SUB|PUB") == PUB | SUB
    assert parse_perm(None) == parse_perm("bogus") == DENY
    assert check_permission(PUB, PUB | SUB) and not check_permission(PUB, SUB)
    assert not check_permission(SUB, DENY | SUB)
    assert check_permission(ANY, SUB) and not check_permission(ANY, DENY)


def test_white_listed_addresses_need_no_signature() -> None:
    validate(CONFIG, send("TopicZ", None), "10.0.0.9")
    validate(
        CONFIG,
        signed(RequestCode.UPDATE_AND_CREATE_TOPIC, {"AccessKey": "whiteguy"}, None),
        "192.168.0.2",
    )
    with pytest.raises(AclError, match="No accessKey is configured"):
        validate(CONFIG, send("TopicA", None), "127.0.0.1")


def test_signatures() -> None:
    validate(CONFIG, send("TopicA", USER), "127.0.0.1")
    with pytest.raises(AclError, match="signature does not match"):
        validate(CONFIG, send("TopicA", SessionCredentials("RocketMQ", "wrong")), "127.0.0.1")
    with pytest.raises(AclError, match="No acl config for accessKey=Nobody11"):
        validate(CONFIG, send("TopicA", SessionCredentials("Nobody11", "12345678")), "127.0.0.1")
    tampered = send("TopicA", USER)
    tampered.ext_fields["e"] = "1"
    with pytest.raises(AclError, match="signature does not match"):
        validate(CONFIG, tampered, "127.0.0.1")


def test_unique_key_query_signed_either_way() -> None:
    ext = {"topic": "TopicA", "key": "k", "_UNIQUE_KEY_QUERY": "true"}
    validate(CONFIG, signed(RequestCode.QUERY_MESSAGE, ext, USER), "127.0.0.1")


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (send("TopicB", USER), "No PUB permission for topic:TopicB"),
        (send("TopicQ", USER), "No PUB permission for topic:TopicQ"),
        (send("%RETRY%GroupX", USER, group="GroupX"), "No SUB permission for group:GroupX"),
        (
            signed(RequestCode.PULL_MESSAGE, {"topic": "TopicA", "consumerGroup": "GroupX"}, USER),
            "No SUB permission for group:GroupX",
        ),
        (
            signed(RequestCode.UPDATE_AND_CREATE_TOPIC, {"topic": "T"}, USER),
            "Need admin permission",
        ),
        (signed(RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, {}, USER), "Need admin permission"),
    ],
)
def test_refusals(command: RemotingCommand, error: str) -> None:
    with pytest.raises(AclError, match=error):
        validate(CONFIG, command, "127.0.0.1")


def test_allowed() -> None:
    pull = {"topic": "TopicB", "consumerGroup": "GroupY"}
    validate(CONFIG, signed(RequestCode.PULL_MESSAGE, pull, USER), "127.0.0.1")
    validate(
        CONFIG, signed(RequestCode.UPDATE_AND_CREATE_TOPIC, {"topic": "T"}, ADMIN), "127.0.0.1"
    )
    validate(CONFIG, send("AnyTopic", ADMIN), "127.0.0.1")  # admin without perms: all


def test_heartbeat_needs_sub_on_groups_and_subscriptions() -> None:
    body = orjson.dumps(
        {
            "clientID": "c",
            "consumerDataSet": [
                {"groupName": "G1", "subscriptionDataSet": [{"topic": "T1"}, {"topic": "T2"}]}
            ],
            "producerDataSet": [{"groupName": "P"}],
        }
    )
    command = RemotingCommand.request(RequestCode.HEART_BEAT, {}, body)
    assert required_perms(command) == {"%RETRY%G1": SUB, "T1": SUB, "T2": SUB}


def test_missing_resource_field_is_refused() -> None:
    with pytest.raises(AclError, match="no 'topic' field"):
        required_perms(RemotingCommand.request(RequestCode.PULL_MESSAGE, {"consumerGroup": "g"}))
