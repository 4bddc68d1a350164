"""ACL for 5.x clients: a broker with aclEnable=true serving gRPC checks each call's
`authorization` header (the official Python 5.x client's Credentials) against its
plain_acl.yml, and the proxy signs its own requests to the broker with its account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import start_namesrv

from .harness import ProxiedCluster, run_py

ADMIN = ("proxyAdmin", "proxyAdmin123")
APP = ("appUser01", "appSecret01")
PLAIN_ACL = f"""\
globalWhiteRemoteAddresses:
  - 10.9.9.9
accounts:
  - accessKey: {ADMIN[0]}
    secretKey: {ADMIN[1]}
    admin: true
  - accessKey: {APP[0]}
    secretKey: {APP[1]}
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - Grpc5Acl=PUB|SUB
      - Grpc5AclReadOnly=SUB
    groupPerms:
      - GID_ACL=SUB
"""


@pytest.fixture(scope="module")
def acl_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedCluster]:
    workdir = tmp_path_factory.mktemp("grpc-acl")
    (workdir / "plain_acl.yml").write_text(PLAIN_ACL)
    namesrv, addr = start_namesrv(workdir)
    cluster = ProxiedCluster(workdir, namesrv, addr)
    cluster.admin_credentials = ("--accessKey", ADMIN[0], "--secretKey", ADMIN[1])
    try:
        cluster.start_broker(
            "broker-a",
            True,
            proxy_settings={"accessKey": ADMIN[0], "secretKey": ADMIN[1]},
            **{"aclEnable": "true", "rocketmq.acl.plain.file": workdir / "plain_acl.yml"},
        )
        for topic in ("Grpc5Acl", "Grpc5AclDenied", "Grpc5AclReadOnly"):
            cluster.create_topic(topic, 2)
        yield cluster
    finally:
        cluster.stop()


def stored(cluster: ProxiedCluster, topic: str) -> int:
    """Messages in `topic`: the sum of its queues' max offsets (mqadmin topicStatus)."""
    rows = [line.split() for line in cluster.admin("topicStatus", "-t", topic).splitlines()]
    return sum(int(row[3]) for row in rows[1:] if len(row) >= 4 and row[3].isdigit())


def as_user(cluster: ProxiedCluster, keys: tuple[str, str]) -> list[str]:
    return ["--endpoint", cluster.endpoint, "--access-key", keys[0], "--secret-key", keys[1]]


def test_an_account_sends_and_receives_what_it_may(acl_cluster: ProxiedCluster, home: Path) -> None:
    sent = run_py(home, "produce", *as_user(acl_cluster, APP), "--topic", "Grpc5Acl",
                  "--count", "3")  # fmt: skip
    assert sent[-1] == {"done": 3, "failed": 0}
    got = run_py(home, "simple", *as_user(acl_cluster, APP), "--topic", "Grpc5Acl",
                 "--group", "GID_ACL", "--expect", "3", "--timeout", "30")  # fmt: skip
    assert len([r for r in got if "message_id" in r]) == 3


@pytest.mark.parametrize(
    ("keys", "topic", "says"),
    [
        ((APP[0], "wrongSecret9"), "Grpc5Acl", "Check signature failed"),
        (("nobody0001", "whatever01"), "Grpc5Acl", "No acl config for accessKey=nobody0001"),
        (APP, "Grpc5AclDenied", "No PUB or SUB permission for topic:Grpc5AclDenied"),
        (APP, "Grpc5AclReadOnly", "No PUB permission for topic:Grpc5AclReadOnly"),
    ],
)
def test_refused_sends(
    acl_cluster: ProxiedCluster, home: Path, keys: tuple[str, str], topic: str, says: str
) -> None:
    before = stored(acl_cluster, topic)
    sent = run_py(home, "produce", *as_user(acl_cluster, keys), "--topic", topic,
                  "--count", "1")  # fmt: skip
    assert sent[-1]["failed"] == 1
    log = (home / "logs" / "rocketmq_python" / "rocketmq_client.log").read_text()
    assert says in log or says in sent[0]["error"]
    assert stored(acl_cluster, topic) == before  # nothing was stored


def test_a_group_without_sub_cannot_receive(acl_cluster: ProxiedCluster, home: Path) -> None:
    with pytest.raises(AssertionError, match="No SUB permission for group:GID_OTHER"):
        run_py(home, "simple", *as_user(acl_cluster, APP), "--topic", "Grpc5Acl",
               "--group", "GID_OTHER", "--expect", "1", "--timeout", "5")  # fmt: skip
