"""PlainPermissionManager.validate (apache/rocketmq 4.9.x), pure:

1. an address in globalWhiteRemoteAddresses passes;
2. otherwise the AccessKey must name an account;
3. an address in that account's whiteRemoteAddress passes;
4. otherwise the Signature must match, and
5. the account must hold the admin flag for admin codes and the needed permission on
   every topic and group (resource_perms, else defaultTopicPerm / defaultGroupPerm).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from orbitmq.acl.config import Account, AclConfig
from orbitmq.acl.errors import AclError
from orbitmq.acl.permission import ANY, check_permission, needs_admin, perm_text
from orbitmq.acl.resource import required_perms
from orbitmq.acl.signature import (
    ACCESS_KEY,
    SIGNATURE,
    UNIQUE_KEY_QUERY,
    calculate_signature,
    signing_content,
)
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.topics import RETRY_GROUP_TOPIC_PREFIX, is_retry_topic

# The NameServer requests that change something an operator set (not broker
# registration, which brokers send unsigned): OrbitMQ checks them with aclEnable=true,
# RocketMQ 4.x's NameServer checks nothing. Each needs an admin account.
NAMESRV_WRITE_CODES = frozenset(
    {
        int(RequestCode.PUT_KV_CONFIG),
        int(RequestCode.DELETE_KV_CONFIG),
        int(RequestCode.DELETE_TOPIC_IN_NAMESRV),
        int(RequestCode.WIPE_WRITE_PERM_OF_BROKER),
        int(RequestCode.ADD_WRITE_PERM_OF_BROKER),
        int(RequestCode.UPDATE_NAMESRV_CONFIG),
    }
)


def validate(config: AclConfig, request: RemotingCommand, host: str) -> None:
    """Let `request` from `host` (no port) through, or raise.

    Raises:
        AclError: refused; the message names the key, the check or the resource.
    """
    if config.globally_white(host):
        return
    account = authenticate(config, request.ext_fields, request.body, host)
    if account is None:
        return
    check_perms(account, request.code, required_perms(request))


def validate_namesrv(config: AclConfig, request: RemotingCommand, host: str) -> None:
    """The NameServer's check: reads pass; writes need a white-listed address or a
    signed request of an admin account.

    Raises:
        AclError: refused (as `validate`).
    """
    if request.code not in NAMESRV_WRITE_CODES or config.globally_white(host):
        return
    account = authenticate(config, request.ext_fields, request.body, host)
    if account is not None and not account.admin:
        raise AclError(
            f"Need admin permission for request code={request.code} on the NameServer, but "
            f"accessKey={account.access_key} is not admin"
        )


def authenticate(
    config: AclConfig, ext: Mapping[str, str], body: bytes | None, host: str
) -> Account | None:
    """The signing account, or None when its white address lets the request through
    unchecked (RocketMQ checks no permission then either).

    Raises:
        AclError: no AccessKey, an unknown one, or a signature that does not match.
    """
    access_key = ext.get(ACCESS_KEY)
    if not access_key:
        raise AclError(
            f"No accessKey is configured: {host} is not white-listed, so requests need "
            "AccessKey and Signature (client credentials)"
        )
    account = config.accounts.get(access_key)
    if account is None:
        raise AclError(f"No acl config for accessKey={access_key}")
    if account.white_match(host):
        return None
    signature = ext.get(SIGNATURE) or ""
    expected = calculate_signature(signing_content(ext, body), account.secret_key)
    if hmac.compare_digest(expected, signature):
        return account
    if UNIQUE_KEY_QUERY in ext:
        alternative = calculate_signature(
            signing_content(ext, body, UNIQUE_KEY_QUERY), account.secret_key
        )
        if hmac.compare_digest(alternative, signature):
            return account
    raise AclError(
        f"Check signature failed for accessKey={access_key}: the signature does not match "
        "(wrong secretKey?)"
    )


def check_perms(account: Account, code: int, needed: Mapping[str, int]) -> None:
    """PlainPermissionManager.checkPerm.

    Raises:
        AclError: names the admin code or the first resource lacking its permission.
    """
    if needs_admin(code) and not account.admin:
        raise AclError(
            f"Need admin permission for request code={code}, but accessKey="
            f"{account.access_key} is not admin"
        )
    if account.admin and not account.resource_perms:
        return  # an admin account without topicPerms/groupPerms may use everything
    for resource, perm in needed.items():
        group = is_retry_topic(resource)
        owned = account.resource_perms.get(resource)
        if owned is None:
            owned = account.default_group_perm if group else account.default_topic_perm
        if not check_permission(perm, owned):
            what = (
                f"group:{resource[len(RETRY_GROUP_TOPIC_PREFIX) :]}"
                if group
                else f"topic:{resource}"
            )
            wanted = "PUB or SUB" if perm & ANY else perm_text(perm)
            raise AclError(
                f"No {wanted} permission for {what} (accessKey="
                f"{account.access_key} has {perm_text(owned)})"
            )
