"""The plain_acl.yml model (PlainAccessConfig / PlainPermissionManager.load, 4.9.x):

    globalWhiteRemoteAddresses: [10.10.103.*, 192.168.0.*]
    accounts:
      - accessKey: RocketMQ          # longer than 6 characters, as RocketMQ requires
        secretKey: 12345678
        whiteRemoteAddress:          # requests from here need no signature
        admin: false
        defaultTopicPerm: DENY       # for topics not in topicPerms
        defaultGroupPerm: SUB        # for groups not in groupPerms
        topicPerms: [topicA=DENY, topicB=PUB|SUB]
        groupPerms: [groupA=DENY, groupB=SUB]

Parsing is pure (text in, AclConfig out); edits (mqadmin updateAclConfig, ...) change
the YAML document as RocketMQ's updateAccessConfig does and keep keys they do not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from orbitmq.acl.address import AddressMatcher, compile_pattern
from orbitmq.acl.errors import AclConfigError
from orbitmq.acl.permission import parse_perm
from orbitmq.protocol.topics import RETRY_GROUP_TOPIC_PREFIX

GLOBAL_WHITE = "globalWhiteRemoteAddresses"
ACCOUNTS = "accounts"
MIN_KEY_LENGTH = 7  # RocketMQ: "length should longer than 6"
# Account keys in the order RocketMQ writes them.
ACCOUNT_KEYS = (
    "accessKey",
    "secretKey",
    "whiteRemoteAddress",
    "admin",
    "defaultTopicPerm",
    "defaultGroupPerm",
    "topicPerms",
    "groupPerms",
)


@dataclass(frozen=True)
class Account:
    access_key: str
    secret_key: str
    white_remote_address: str
    admin: bool
    default_topic_perm: int
    default_group_perm: int
    # Topic names as they are, groups as their retry topic (%RETRY%group), as RocketMQ
    # keys both in one map.
    resource_perms: Mapping[str, int]
    white_match: AddressMatcher = field(repr=False, compare=False)


@dataclass(frozen=True)
class AclConfig:
    global_white_addresses: tuple[str, ...]
    accounts: Mapping[str, Account]
    document: Mapping[str, Any]  # the parsed YAML, for edits and getAclConfig
    _global_matchers: tuple[AddressMatcher, ...] = field(repr=False, compare=False, default=())

    def globally_white(self, host: str) -> bool:
        return any(match(host) for match in self._global_matchers)


def _text(value: object) -> str:
    """A YAML scalar as RocketMQ reads it into a String (`12345678` is a number in YAML)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _perm_list(key: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in value.split(",") if item.strip()]
    if not isinstance(value, list):
        raise AclConfigError(f"{key}: expected a list of NAME=PERM entries")
    return [_text(item) for item in value if _text(item)]


def _resource_perms(account: Mapping[str, Any], key: str) -> dict[str, int]:
    """PlainPermissionManager.parseResourcePerms: `name=PERM` entries; groups keyed by
    their retry topic."""
    perms: dict[str, int] = {}
    for entry in _perm_list(key, account.get(key)):
        name, equals, perm = entry.partition("=")
        if not equals or not name.strip():
            raise AclConfigError(f"{key}: entry {entry!r} is not NAME=PERM")
        resource = name.strip()
        if key == "groupPerms":
            resource = RETRY_GROUP_TOPIC_PREFIX + resource
        perms[resource] = parse_perm(perm)
    return perms


def parse_account(raw: Mapping[str, Any]) -> Account:
    """One entry of `accounts`.

    Raises:
        AclConfigError: keys missing or too short, a bad address or permission entry.
    """
    access_key = _text(raw.get("accessKey"))
    secret_key = _text(raw.get("secretKey"))
    if len(access_key) < MIN_KEY_LENGTH or len(secret_key) < MIN_KEY_LENGTH:
        raise AclConfigError(
            f"account {access_key or '(no accessKey)'}: accessKey and secretKey are "
            f"required and need at least {MIN_KEY_LENGTH} characters"
        )
    white = _text(raw.get("whiteRemoteAddress"))
    try:
        matcher = compile_pattern(white)
        perms = _resource_perms(raw, "topicPerms") | _resource_perms(raw, "groupPerms")
    except AclConfigError as exc:
        raise AclConfigError(f"account {access_key}: {exc}") from None
    admin = _text(raw.get("admin")).lower() == "true"
    return Account(
        access_key=access_key,
        secret_key=secret_key,
        white_remote_address=white,
        admin=admin,
        default_topic_perm=parse_perm(_optional(raw.get("defaultTopicPerm"))),
        default_group_perm=parse_perm(_optional(raw.get("defaultGroupPerm"))),
        resource_perms=perms,
        white_match=matcher,
    )


def _optional(value: object) -> str | None:
    return None if value is None else _text(value)


def parse_document(document: Mapping[str, Any]) -> AclConfig:
    """An AclConfig from the parsed YAML mapping.

    Raises:
        AclConfigError: a key holds the wrong kind of value, an account is invalid or
            listed twice.
    """
    white_raw = document.get(GLOBAL_WHITE) or []
    if isinstance(white_raw, str):
        white_raw = [white_raw]
    if not isinstance(white_raw, list):
        raise AclConfigError(f"{GLOBAL_WHITE}: expected a list of address patterns")
    white = tuple(_text(item) for item in white_raw if _text(item))
    accounts_raw = document.get(ACCOUNTS) or []
    if not isinstance(accounts_raw, list) or not all(isinstance(a, dict) for a in accounts_raw):
        raise AclConfigError(f"{ACCOUNTS}: expected a list of accounts (mappings)")
    accounts: dict[str, Account] = {}
    for raw in accounts_raw:
        account = parse_account(raw)
        if account.access_key in accounts:
            raise AclConfigError(f"{ACCOUNTS}: accessKey {account.access_key} is listed twice")
        accounts[account.access_key] = account
    return AclConfig(
        global_white_addresses=white,
        accounts=accounts,
        document=dict(document),
        _global_matchers=tuple(compile_pattern(pattern) for pattern in white),
    )


def parse_acl_yaml(text: str) -> AclConfig:
    """Parse plain_acl.yml text (an empty file is an empty config: nobody gets in
    without a white-listed address).

    Raises:
        AclConfigError: not YAML, or not RocketMQ's layout (the message says where).
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AclConfigError(f"not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise AclConfigError("expected a mapping with globalWhiteRemoteAddresses and accounts")
    return parse_document(document)


def dump_acl_yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)


# Edits (PlainPermissionManager.updateAccessConfig / deleteAccessConfig /
# updateGlobalWhiteAddrsConfig): each returns a new document, checked by parsing it.


def with_account(document: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Create the account `update["accessKey"]`, or change the keys `update` holds
    (None values are left as they were, as in RocketMQ's createAclAccessConfigMap).

    Raises:
        AclConfigError: the resulting account is invalid.
    """
    access_key = _text(update.get("accessKey"))
    accounts = [dict(a) for a in (document.get(ACCOUNTS) or [])]
    given = {k: v for k, v in update.items() if v is not None}
    for account in accounts:
        if _text(account.get("accessKey")) == access_key:
            account.update(given)
            break
    else:
        accounts.append({k: given[k] for k in ACCOUNT_KEYS if k in given})
    new = {**document, ACCOUNTS: accounts}
    parse_document(new)
    return new


def without_account(document: Mapping[str, Any], access_key: str) -> dict[str, Any]:
    """Raises:
    AclConfigError: no such account."""
    accounts = [dict(a) for a in (document.get(ACCOUNTS) or [])]
    kept = [a for a in accounts if _text(a.get("accessKey")) != access_key]
    if len(kept) == len(accounts):
        raise AclConfigError(f"no account with accessKey {access_key} in plain_acl.yml")
    return {**document, ACCOUNTS: kept}


def with_global_white(document: Mapping[str, Any], addresses: list[str]) -> dict[str, Any]:
    """Raises:
    AclConfigError: an address pattern is malformed."""
    new = {**document, GLOBAL_WHITE: [a.strip() for a in addresses if a.strip()]}
    parse_document(new)
    return new
