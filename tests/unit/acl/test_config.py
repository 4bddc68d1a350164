"""plain_acl.yml parsing and edits."""

import pytest

from orbitmq.acl.config import (
    dump_acl_yaml,
    parse_acl_yaml,
    with_account,
    with_global_white,
    without_account,
)
from orbitmq.acl.errors import AclConfigError
from orbitmq.acl.permission import DENY, PUB, SUB

ROCKETMQ_SAMPLE = """
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB
  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    admin: true
"""


def test_rocketmq_sample_file() -> None:
    config = parse_acl_yaml(ROCKETMQ_SAMPLE)
    assert config.global_white_addresses == ("10.10.103.*", "192.168.0.*")
    assert config.globally_white("192.168.0.7") and not config.globally_white("127.0.0.1")
    user = config.accounts["RocketMQ"]
    assert user.secret_key == "12345678" and not user.admin
    assert user.default_topic_perm == DENY and user.default_group_perm == SUB
    assert user.resource_perms["topicB"] == PUB | SUB
    assert user.resource_perms["%RETRY%groupA"] == DENY
    admin = config.accounts["rocketmq2"]
    assert admin.admin and admin.white_match("192.168.1.9")
    assert admin.default_topic_perm == DENY  # missing: DENY, as RocketMQ


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts: [unclosed", "not valid YAML"),
        ("- a list", "expected a mapping"),
        ("accounts:\n  - accessKey: short\n    secretKey: 12345678\n", "at least 7"),
        ("accounts:\n  - {accessKey: abcdefg, secretKey: abcdefg, topicPerms: [x]}\n", "NAME=PERM"),
        (
            "accounts:\n  - {accessKey: abcdefg, secretKey: abcdefg}\n"
            "  - {accessKey: abcdefg, secretKey: abcdefg}\n",
            "twice",
        ),
        ("globalWhiteRemoteAddresses: [1.2.3]\n", "white address"),
    ],
)
def test_bad_files(text: str, message: str) -> None:
    with pytest.raises(AclConfigError, match=message):
        parse_acl_yaml(text)


def test_empty_file_is_an_empty_config() -> None:
    config = parse_acl_yaml("")
    assert not config.accounts and not config.global_white_addresses


def test_edits_keep_what_they_do_not_touch() -> None:
    document = dict(parse_acl_yaml(ROCKETMQ_SAMPLE).document)
    changed = with_account(
        document, {"accessKey": "RocketMQ", "defaultTopicPerm": "PUB", "admin": None}
    )
    account = parse_acl_yaml(dump_acl_yaml(changed)).accounts["RocketMQ"]
    assert account.default_topic_perm == PUB and account.resource_perms["topicA"] == DENY
    added = with_account(changed, {"accessKey": "newuser1", "secretKey": "abcdefgh"})
    assert set(parse_acl_yaml(dump_acl_yaml(added)).accounts) == {
        "RocketMQ",
        "rocketmq2",
        "newuser1",
    }
    removed = without_account(added, "newuser1")
    assert "newuser1" not in parse_acl_yaml(dump_acl_yaml(removed)).accounts
    with pytest.raises(AclConfigError, match="no account"):
        without_account(removed, "newuser1")
    white = with_global_white(removed, ["127.0.0.1", " "])
    assert parse_acl_yaml(dump_acl_yaml(white)).global_white_addresses == ("127.0.0.1",)
    with pytest.raises(AclConfigError):
        with_account(document, {"accessKey": "tiny", "secretKey": "x"})
