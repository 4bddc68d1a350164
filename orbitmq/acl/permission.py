"""Permission bits and checks (acl/common/Permission.java, apache/rocketmq 4.9.x)."""

from __future__ import annotations

from orbitmq.protocol.codes import RequestCode

DENY = 1
ANY = 1 << 1
PUB = 1 << 2
SUB = 1 << 3

# Request codes only an `admin: true` account may send: Permission.ADMIN_CODE, plus the
# ACL edits and the ACL read (it shows secret keys), which RocketMQ 4.9 leaves to any
# signed account.
ADMIN_CODES = frozenset(
    {
        int(RequestCode.UPDATE_AND_CREATE_ACL_CONFIG),
        int(RequestCode.DELETE_ACL_CONFIG),
        int(RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG),
        int(RequestCode.GET_BROKER_CLUSTER_ACL_CONFIG),
        int(RequestCode.UPDATE_AND_CREATE_TOPIC),
        int(RequestCode.UPDATE_BROKER_CONFIG),
        int(RequestCode.DELETE_TOPIC_IN_BROKER),
        int(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP),
        int(RequestCode.DELETE_SUBSCRIPTIONGROUP),
    }
)

_BY_TEXT = {"PUB": PUB, "SUB": SUB, "PUB|SUB": PUB | SUB, "SUB|PUB": PUB | SUB, "DENY": DENY}


def parse_perm(text: str | None) -> int:
    """Permission.parsePermFromString: anything unknown (or missing) is DENY."""
    if text is None:
        return DENY
    return _BY_TEXT.get(text.strip(), DENY)


def perm_text(perm: int) -> str:
    """The YAML spelling of a permission (for getAclConfig and the file we write)."""
    if perm & DENY:
        return "DENY"
    names = [name for bit, name in ((PUB, "PUB"), (SUB, "SUB")) if perm & bit]
    return "|".join(names) if names else "DENY"


def check_permission(needed: int, owned: int) -> bool:
    """Permission.checkPermission: DENY wins; ANY is met by PUB or SUB."""
    if owned & DENY:
        return False
    if needed & ANY:
        return bool(owned & (PUB | SUB))
    return bool(needed & owned)


def needs_admin(code: int) -> bool:
    return code in ADMIN_CODES
