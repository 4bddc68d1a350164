"""ACL for 5.x clients: the `authorization` header checked against the accounts of the
same plain_acl.yml the brokers use (orbitmq/acl), as RocketMQ 5's proxy does with ACL 1.0.

Header: `MQv2-HMAC-SHA1 Credential=<accessKey>[/...], SignedHeaders=x-mq-date-time,
Signature=<hex>`, the signature being HMAC-SHA1(secretKey, the x-mq-date-time value) in
hex (Python clients write lower case, Java upper). The order of checks is the 4.x
broker's: a globally white-listed address passes; then the account must exist; its own
white address passes unchecked; then the signature, then the permissions the RPC needs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from orbitmq.acl.address import host_of
from orbitmq.acl.errors import AclError
from orbitmq.acl.permission import SUB
from orbitmq.acl.store import AclStore
from orbitmq.acl.validator import check_perms
from orbitmq.protocol.topics import retry_topic
from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.errors import ProxyError

AUTHORIZATION = "authorization"
DATE_TIME = "x-mq-date-time"
ALGORITHM = "MQv2-HMAC-SHA1"


def needs(topic: str | None = None, group: str | None = None, perm: int = SUB) -> dict[str, int]:
    """The resources an RPC touches: `perm` on the topic, SUB on the group (kept as its
    retry topic, as the 4.x validator keys groups)."""
    needed: dict[str, int] = {}
    if topic:
        needed[topic] = perm
    if group:
        needed[retry_topic(group)] = SUB
    return needed


def parse_authorization(value: str) -> tuple[str, str]:
    """(access key, signature) of an `authorization` header.

    Raises:
        ProxyError: UNAUTHORIZED, the header is not RocketMQ's.
    """
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise ProxyError(pb.UNAUTHORIZED, f"authorization must use {ALGORITHM}, not {algorithm!r}")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, _, text = item.strip().partition("=")
        fields[key] = text
    access_key = fields.get("Credential", "").split("/", 1)[0]
    return access_key, fields.get("Signature", "")


class GrpcAuthenticator:
    def __init__(self, store: AclStore) -> None:
        self.store = store

    def check(self, metadata: Mapping[str, str], peer: str, needed: Mapping[str, int]) -> None:
        """Let the call through, or raise.

        Args:
            metadata: the call's headers.
            peer: grpc's peer string, e.g. `ipv4:127.0.0.1:50000`.
            needed: resource -> permission (`needs`).

        Raises:
            ProxyError: UNAUTHORIZED (no or unknown key, bad signature), FORBIDDEN (a
                permission the account lacks).
        """
        config = self.store.config
        host = host_of(peer.partition(":")[2] if peer.startswith(("ipv4:", "ipv6:")) else peer)
        if config.globally_white(host):
            return
        access_key, signature = parse_authorization(metadata.get(AUTHORIZATION, f"{ALGORITHM} "))
        if not access_key:
            raise ProxyError(
                pb.UNAUTHORIZED,
                f"no credentials: {host} is not white-listed, so calls need an access key "
                "and secret key (the client's Credentials)",
            )
        account = config.accounts.get(access_key)
        if account is None:
            raise ProxyError(pb.UNAUTHORIZED, f"No acl config for accessKey={access_key}")
        if account.white_match(host):
            return
        expected = hmac.new(
            account.secret_key.encode(), metadata.get(DATE_TIME, "").encode(), hashlib.sha1
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ProxyError(
                pb.UNAUTHORIZED,
                f"Check signature failed for accessKey={access_key}: the signature does not "
                "match (wrong secretKey?)",
            )
        try:
            check_perms(account, 0, needed)
        except AclError as exc:
            raise ProxyError(pb.FORBIDDEN, str(exc)) from None
