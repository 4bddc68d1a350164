"""Request signing (spec/remoting-protocol.md §7, observed on the wire)."""

from orbitmq.acl.signature import SessionCredentials, calculate_signature, signing_content
from orbitmq.protocol.command import RemotingCommand


def test_wire_vector() -> None:
    ext = {"AccessKey": "myAK", "OnsChannel": "ALIYUN", "topic": "TopicTest"}
    content = signing_content(ext, b"")
    assert content == b"myAKALIYUNTopicTest"
    assert calculate_signature(content, "mySK") == "zQhuhBFduwLsr64/DYPsmBzjFVo="


def test_sorted_by_code_unit_and_body_appended_signature_left_out() -> None:
    ext = {"b": "2", "_x": "u", "A": "1", "Signature": "old"}
    assert signing_content(ext, b"BODY") == b"1u2BODY"


def test_credentials_sign_a_command() -> None:
    command = RemotingCommand.request(10, {"topic": "T"}, b"x")
    SessionCredentials("myAK", "mySK", "tok").sign(command)
    ext = command.ext_fields
    assert ext["AccessKey"] == "myAK" and ext["SecurityToken"] == "tok"
    content = signing_content(ext, b"x")
    assert content == b"myAKtokTx"
    assert ext["Signature"] == calculate_signature(content, "mySK")
