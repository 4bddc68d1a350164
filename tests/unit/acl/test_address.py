"""White address patterns (RemoteAddressStrategyFactory's forms)."""

import pytest

from orbitmq.acl.address import compile_pattern, host_of
from orbitmq.acl.errors import AclConfigError


@pytest.mark.parametrize(
    ("pattern", "inside", "outside"),
    [
        ("*", ["1.2.3.4", "::1"], []),
        ("*.*.*.*", ["10.0.0.1"], []),
        ("", [], ["127.0.0.1"]),
        ("192.168.0.{1,2}", ["192.168.0.1", "192.168.0.2"], ["192.168.0.3", "192.168.1.1"]),
        ("192.168.1.1-5", ["192.168.1.1", "192.168.1.5"], ["192.168.1.6", "192.168.2.3"]),
        ("192.168.*.*", ["192.168.0.1", "192.168.255.9"], ["192.169.0.1", "x.y"]),
        ("192.168.1.1", ["192.168.1.1"], ["192.168.1.10"]),
        ("10.0.0.1,10.0.0.2", ["10.0.0.2"], ["10.0.0.3"]),
        ("::1", ["::1"], ["127.0.0.1"]),
    ],
)
def test_patterns(pattern: str, inside: list[str], outside: list[str]) -> None:
    match = compile_pattern(pattern)
    assert all(match(host) for host in inside)
    assert not any(match(host) for host in outside)


@pytest.mark.parametrize("bad", ["192.168.1", "192.168.1.300", "1.2.3.9-4", "a.b.c.d", "1.2.3.{}"])
def test_bad_patterns_name_themselves(bad: str) -> None:
    with pytest.raises(AclConfigError, match="white address"):
        compile_pattern(bad)


def test_host_of_cuts_the_port() -> None:
    assert host_of("127.0.0.1:10911") == "127.0.0.1"
    assert host_of("[::1]:10911") == "::1"
    assert host_of("10.0.0.1") == "10.0.0.1"
