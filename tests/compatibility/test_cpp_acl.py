"""ACL with the official RocketMQ C++ client (rocketmq 0.4.4, `set_session_credentials`):
the right keys send and pull; a wrong secret, an unknown key, a topic without PUB and
no credentials are refused and nothing is stored.

One NameServer and one ACL broker (real processes) serve the module; 127.0.0.1 is not
white-listed, so every C++ request must be signed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from cpp_harness import CppClient

from orbitmq.client import MessageQueue, SessionCredentials, SyncAdmin
from tests.integration.conftest import Cluster, make_cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ADMIN = SessionCredentials("rocketmq2", "12345678")
ACL = {
    "globalWhiteRemoteAddresses": ["10.9.9.9"],
    "accounts": [
        {
            "accessKey": "RocketMQ",
            "secretKey": "12345678",
            "defaultTopicPerm": "DENY",
            "defaultGroupPerm": "SUB",
            "topicPerms": ["CppAclTopic=PUB|SUB", "CppAclSubOnly=SUB"],
        },
        {"accessKey": "rocketmq2", "secretKey": "12345678", "admin": True},
    ],
}
TOPICS = ("CppAclTopic", "CppAclSubOnly")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cpp-acl")
    acl_file = workdir / "plain_acl.yml"
    acl_file.write_text(yaml.safe_dump(ACL), encoding="utf-8")
    running = make_cluster(workdir, aclEnable="true", **{"rocketmq.acl.plain.file": acl_file})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin(cluster: Cluster) -> Iterator[SyncAdmin]:
    client = SyncAdmin(cluster.namesrv_addr, credentials=ADMIN)
    client.start()
    try:
        for topic in TOPICS:
            client.create_topic(cluster.broker_addr, topic, 4, 4)
        yield client
    finally:
        client.shutdown()


def stored(cluster: Cluster, admin: SyncAdmin, topic: str) -> int:
    name = str(cluster.broker_props["brokerName"])
    return sum(
        admin.call(admin.admin.max_offset(MessageQueue(topic, name, q), cluster.broker_addr))
        for q in range(4)
    )


def produce(cpp: CppClient, cluster: Cluster, topic: str, *keys: str):  # type: ignore[no-untyped-def]
    args = ["produce", "--namesrv", cluster.namesrv_addr, "--topic", topic, "--count", "3"]
    if keys:
        args += ["--access-key", keys[0], "--secret-key", keys[1]]
    return cpp.result(*args, "--group", "PID_CPP_ACL", "--send-timeout-ms", "2000", timeout=60)


def test_right_keys_send_and_pull(cpp: CppClient, cluster: Cluster, admin: SyncAdmin) -> None:
    before = stored(cluster, admin, "CppAclTopic")
    records = produce(cpp, cluster, "CppAclTopic", "RocketMQ", "12345678").check()
    assert [r["status"] for r in records if "status" in r] == [0, 0, 0]
    assert stored(cluster, admin, "CppAclTopic") == before + 3
    pulled = cpp.run(
        "pull",
        "--namesrv",
        cluster.namesrv_addr,
        "--topic",
        "CppAclTopic",
        "--group",
        "CppAclGroup",
        "--access-key",
        "RocketMQ",
        "--secret-key",
        "12345678",
        "--timeout",
        "20",
        timeout=60,
    )
    assert len([r for r in pulled if (r.get("body") or "").startswith("body")]) >= 3


@pytest.mark.parametrize(
    ("topic", "keys", "remark"),
    [
        ("CppAclTopic", ("RocketMQ", "wrong-secret"), "signature does not match"),
        ("CppAclTopic", ("Unknown1", "12345678"), "No acl config for accessKey=Unknown1"),
        ("CppAclTopic", (), "No accessKey is configured"),  # C++ sends AccessKey ""
        ("CppAclSubOnly", ("RocketMQ", "12345678"), "No PUB permission for topic:CppAclSubOnly"),
    ],
)
def test_refused_sends_store_nothing(
    cpp: CppClient,
    cluster: Cluster,
    admin: SyncAdmin,
    topic: str,
    keys: tuple[str, ...],
    remark: str,
) -> None:
    before = stored(cluster, admin, topic)
    run = produce(cpp, cluster, topic, *keys)
    assert run.returncode == 1, run.describe()
    output = run.stderr + run.log_tail(400)
    assert remark in output and "error code:1" in output, run.describe()
    assert stored(cluster, admin, topic) == before
