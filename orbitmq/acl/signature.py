"""Request signatures (AclUtils.java, AclClientRPCHook.java; spec/remoting-protocol.md §7).

Signature = base64(HMAC-SHA1(secretKey, values of the ext fields sorted by key, without
`Signature`, concatenated, then the body)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from orbitmq.protocol.command import RemotingCommand

ACCESS_KEY = "AccessKey"
SECRET_KEY = "SecretKey"
SIGNATURE = "Signature"
SECURITY_TOKEN = "SecurityToken"
# MixAll.UNIQUE_MSG_QUERY_FLAG: the broker leaves it out of what it verifies (Java clients
# sign it, so the validator accepts either variant).
UNIQUE_KEY_QUERY = "_UNIQUE_KEY_QUERY"


def signing_content(ext_fields: Mapping[str, object], body: bytes | None, *skip: str) -> bytes:
    """The signed bytes: values sorted by key (code-unit order), then the body."""
    values = "".join(
        str(ext_fields[key])
        for key in sorted(ext_fields)
        if key != SIGNATURE and key not in skip and ext_fields[key] is not None
    )
    content = values.encode()
    return content + body if body else content


def calculate_signature(content: bytes, secret_key: str) -> str:
    digest = hmac.new(secret_key.encode(), content, hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class SessionCredentials:
    """An account's keys (SessionCredentials.java); `security_token` is optional (STS)."""

    access_key: str
    secret_key: str
    security_token: str | None = None

    def sign(self, command: RemotingCommand) -> None:
        """AclClientRPCHook.doBeforeRequest: add AccessKey (and SecurityToken), then the
        Signature over every ext field and the body."""
        ext = command.ext_fields
        ext[ACCESS_KEY] = self.access_key
        if self.security_token is not None:
            ext[SECURITY_TOKEN] = self.security_token
        ext.pop(SIGNATURE, None)
        ext[SIGNATURE] = calculate_signature(signing_content(ext, command.body), self.secret_key)
