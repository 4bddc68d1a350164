"""White-listed remote address patterns (RemoteAddressStrategyFactory.java, 4.9.x).

    ""                 matches nothing (no white list)
    "*", "*.*.*.*"     matches every address
    "192.168.0.{1,2}"  the listed last parts (MultipleRemoteAddressStrategy)
    "192.168.1.1-5"    a range in a part (RangeRemoteAddressStrategy)
    "192.168.*.*"      any value in the starred parts
    "192.168.1.1"      exactly that address (OneRemoteAddressStrategy)
IPv6 patterns are compared as exact text or `*`.
"""

from __future__ import annotations

from collections.abc import Callable

from orbitmq.acl.errors import AclConfigError

AddressMatcher = Callable[[str], bool]

_EVERY = frozenset({"*", "*.*.*.*", "*:*:*:*:*:*:*:*"})


def _never(_: str) -> bool:
    return False


def _always(_: str) -> bool:
    return True


def compile_pattern(pattern: str | None) -> AddressMatcher:
    """A matcher of host addresses (no port) for one pattern.

    Raises:
        AclConfigError: the pattern is malformed (names it).
    """
    text = (pattern or "").strip()
    if not text:
        return _never
    if text in _EVERY:
        return _always
    if "{" in text or "," in text:
        return _multiple(text)
    if ":" in text:  # IPv6: exact text only
        return text.__eq__
    parts = text.split(".")
    if len(parts) != 4:
        raise AclConfigError(f"white address {text!r} is not an IPv4 pattern (a.b.c.d)")
    checks = [_part(text, part) for part in parts]
    if all(isinstance(c, int) for c in checks):
        return text.__eq__

    def match(host: str) -> bool:
        values = host.split(".")
        if len(values) != 4 or not all(v.isdigit() for v in values):
            return False
        for check, value in zip(checks, values, strict=True):
            number = int(value)
            if isinstance(check, int):
                if number != check:
                    return False
            elif not check[0] <= number <= check[1]:
                return False
        return True

    return match


def _part(pattern: str, part: str) -> int | tuple[int, int]:
    """One dotted part: a number, `*` (0-255) or `low-high`."""
    if part == "*":
        return (0, 255)
    low, dash, high = part.partition("-")
    try:
        if dash:
            first, last = int(low), int(high)
            if 0 <= first <= last <= 255:
                return (first, last)
        elif 0 <= int(part) <= 255:
            return int(part)
    except ValueError:
        pass
    raise AclConfigError(f"white address {pattern!r}: bad part {part!r}")


def _multiple(text: str) -> AddressMatcher:
    """`192.168.0.{1,2}` (the braces hold last parts) or a plain comma list."""
    if text.endswith("}") and "{" in text:
        prefix, _, inner = text[:-1].partition("{")
        addresses = {prefix + item.strip() for item in inner.split(",") if item.strip()}
    else:
        addresses = {item.strip() for item in text.split(",") if item.strip()}
    for address in addresses:
        compile_pattern(address)  # each must be a valid address
    if not addresses:
        raise AclConfigError(f"white address {text!r} lists no address")
    return addresses.__contains__


def host_of(remote_addr: str) -> str:
    """`host:port` -> `host` (PlainAccessResource.parse cuts at the last colon)."""
    host, colon, _ = remote_addr.rpartition(":")
    host = host if colon else remote_addr
    return host.strip("[]")
