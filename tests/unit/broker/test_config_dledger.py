"""DLedger-mode broker keys: dLegerPeers parsing, the load-time checks (each error names
its key), the derived DLedgerConfig, and brokerRole/brokerId giving way to elections."""

from __future__ import annotations

import os

import pytest

from orbitmq.broker.config import BrokerConfig, load_broker_config
from orbitmq.config_file import ConfigError, to_properties
from orbitmq.dledger.config import follower_broker_id, format_peers, parse_peers

PEERS = "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913"


def dledger_config(**extra: str) -> BrokerConfig:
    properties = {
        "brokerName": "RaftNode00",
        "storePathRootDir": "/data/store",
        "enableDLegerCommitLog": "true",
        "dLegerPeers": PEERS,
        "dLegerSelfId": "n1",
        **extra,
    }
    return load_broker_config(None, properties)


def test_parse_peers_keeps_the_order_of_the_text() -> None:
    peers = parse_peers("n2-host-c.example.com:3;n0-10.0.0.1:1 ; ;n1-localhost:65535;")
    assert peers == {
        "n2": ("host-c.example.com", 3),
        "n0": ("10.0.0.1", 1),
        "n1": ("localhost", 65535),
    }
    assert list(peers) == ["n2", "n0", "n1"]
    assert format_peers(peers) == "n2-host-c.example.com:3;n0-10.0.0.1:1;n1-localhost:65535"
    assert parse_peers("") == {}


@pytest.mark.parametrize(
    "entry",
    [
        "n0127.0.0.1:40911",  # no id
        "-127.0.0.1:40911",
        "node-127.0.0.1:40911",  # the id has no digits: no brokerId can be derived
        "n0x-127.0.0.1:40911",
        "n0-127.0.0.1",  # no port
        "n0-127.0.0.1:",
        "n0-:40911",
        "n0-127.0.0.1:port",
        "n0-127.0.0.1:0",
        "n0-127.0.0.1:65536",
        "n0-300.0.0.1:40911",  # numbers and dots must be an IPv4 address
        "n0-10.0.0:40911",
        "n0-bad_host:40911",
        "n0-host..example:40911",
        "n0-[::1]:40911",
    ],
)
def test_parse_peers_names_the_key_and_the_bad_entry(entry: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_peers(f"n9-127.0.0.1:1;{entry}")
    assert "dLegerPeers" in str(info.value)
    assert repr(entry) in str(info.value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("n0-h1:1;n0-h2:2", "dLegerPeers lists id n0 twice"),
        ("n0-h1:1;n1-h1:1", r"dLegerPeers entry 'n1-h1:1' uses h1:1, as n0 does already"),
        ("n1-h1:1;m1-h2:2", "ids n1 and m1 would both register as brokerId 2"),
        ("n1-h1:1;n01-h2:2", "ids n1 and n01 would both register as brokerId 2"),
    ],
)
def test_parse_peers_refuses_duplicates(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_peers(text)


def test_follower_broker_id_is_the_digits_plus_one() -> None:
    assert [follower_broker_id(i) for i in ("n0", "n1", "n2", "node12")] == [1, 2, 3, 13]
    with pytest.raises(ValueError, match="letters followed by digits"):
        follower_broker_id("leader")


def test_dledger_config_from_the_properties() -> None:
    config = dledger_config(preferredLeaderId="n2; n0", flushDiskType="SYNC_FLUSH")
    dledger = config.dledger_config()
    assert dledger is not None
    assert dledger.group == "RaftNode00"  # dLegerGroup defaults to brokerName
    assert config.dleger_group == "RaftNode00"
    assert dledger.self_id == "n1"
    assert dledger.peers == parse_peers(PEERS)
    assert dledger.self_address == ("127.0.0.1", 40912)
    assert dledger.quorum == 2
    assert dledger.preferred_leader_ids == ("n2", "n0")
    assert dledger.data_dir == os.path.join("/data/store", "dledger-n1")
    assert dledger.heartbeat_interval_ms == 200
    assert dledger.election_timeout_ms == 1000
    assert dledger.sync_flush is True
    assert dledger.data_file_size == 1024**3


def test_dledger_config_overrides() -> None:
    config = dledger_config(
        dLegerGroup="g1",
        storePathDLedgerCommitLog="~/raft",
        dLegerHeartBeatIntervalMs="50",
        dLegerElectionTimeoutMs="300",
        mappedFileSizeCommitLog="1048576",
        enableBatchPush="true",
    )
    dledger = config.dledger_config()
    assert dledger is not None
    assert dledger.group == "g1"
    assert dledger.data_dir == os.path.expanduser("~/raft")
    assert (dledger.heartbeat_interval_ms, dledger.election_timeout_ms) == (50, 300)
    assert dledger.sync_flush is False
    assert dledger.data_file_size == 1048576
    assert config.enable_batch_push is True


def test_no_dledger_config_without_the_switch() -> None:
    config = load_broker_config(None, {"dLegerPeers": PEERS, "dLegerSelfId": "n7"})
    assert config.dledger_config() is None  # the other keys are not even checked then
    assert config.ha_config().listen_port == config.listen_port + 1


@pytest.mark.parametrize(
    "role_and_id", [{}, {"brokerRole": "SYNC_MASTER"}, {"brokerRole": "SLAVE", "brokerId": "0"}]
)
def test_election_not_the_file_decides_role_and_id(role_and_id: dict[str, str]) -> None:
    config = dledger_config(**role_and_id)
    # Not a master until elected: sends are refused until the role change says LEADER.
    assert config.broker_id == -1
    assert not config.is_master
    with pytest.raises(ConfigError, match="enableDLegerCommitLog=true: DLedger replicates"):
        config.ha_config()  # classic HA never runs beside DLedger


def test_new_keys_have_their_defaults_and_appear_in_broker_config() -> None:
    properties = to_properties(BrokerConfig())
    assert properties["preferredLeaderId"] == ""
    assert properties["storePathDLedgerCommitLog"] == ""
    assert properties["enableBatchPush"] == "false"
    assert properties["dLegerHeartBeatIntervalMs"] == "200"
    assert properties["dLegerElectionTimeoutMs"] == "1000"
    assert properties["dLegerMinPeers"] == "3"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"dLegerPeers": ""}, "dLegerPeers is required when enableDLegerCommitLog=true"),
        ({"dLegerPeers": "n0-127.0.0.1"}, "dLegerPeers entry 'n0-127.0.0.1' is not id-host:port"),
        ({"dLegerPeers": PEERS + ";n0-h:1"}, "dLegerPeers lists id n0 twice"),
        ({"dLegerPeers": PEERS + ";n3-127.0.0.1:40911"}, "uses 127.0.0.1:40911, as n0 does"),
        ({"dLegerSelfId": ""}, r"dLegerSelfId is required .*\(one of n0, n1, n2\)"),
        ({"dLegerSelfId": "n3"}, r"dLegerSelfId=n3 is not in dLegerPeers \(n0, n1, n2\)"),
        (
            {"dLegerPeers": "n0-h:1;n1-h:2", "dLegerSelfId": "n0"},
            "dLegerPeers lists 2 member.*at least 3.*Set dLegerMinPeers=2 to run with fewer",
        ),
        ({"dLegerMinPeers": "4"}, "dLegerPeers lists 3 member.*Set dLegerMinPeers=3"),
        ({"dLegerMinPeers": "0"}, "dLegerMinPeers='0': expected 1 to"),
        ({"preferredLeaderId": "n0;n5"}, r"preferredLeaderId n5 is not in dLegerPeers"),
        (
            {"dLegerElectionTimeoutMs": "200"},
            "dLegerElectionTimeoutMs=200 must exceed dLegerHeartBeatIntervalMs=200",
        ),
        ({"dLegerHeartBeatIntervalMs": "0"}, "dLegerHeartBeatIntervalMs='0': expected 1 to"),
        ({"enableBatchPush": "yes"}, "enableBatchPush='yes': expected true or false"),
        (
            {"storePathDLedgerCommitLog": "/data/store/"},
            "storePathDLedgerCommitLog=/data/store/ is storePathRootDir",
        ),
    ],
)
def test_bad_dledger_settings_are_startup_errors_naming_the_key(
    extra: dict[str, str], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        dledger_config(**extra)


def test_fewer_members_with_the_explicit_override() -> None:
    config = dledger_config(dLegerPeers="n1-127.0.0.1:40912", dLegerMinPeers="1")
    dledger = config.dledger_config()
    assert dledger is not None
    assert (dledger.peers, dledger.quorum) == ({"n1": ("127.0.0.1", 40912)}, 1)
