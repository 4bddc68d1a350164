"""Pure helpers of the mqadmin commands and the CLI surface (no server needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from orbitmq.admin.cli import main
from orbitmq.admin.commands.cluster import broker_addresses
from orbitmq.admin.commands.message import plan_range
from orbitmq.admin.commands.topic import broker_name_of, masters_of_cluster
from orbitmq.admin.runner import CommandError, describe_error, resolve_namesrv
from orbitmq.client.admin import ClusterInfo
from orbitmq.client.errors import (
    NoRouteError,
    RemotingConnectError,
    TopicNotExistError,
    error_for_code,
)
from orbitmq.client.route import BrokerData

INFO = ClusterInfo(
    broker_addr_table={
        "broker-b": BrokerData("C1", "broker-b", {0: "10.0.0.3:10911"}),
        "broker-a": BrokerData("C1", "broker-a", {1: "10.0.0.2:10911", 0: "10.0.0.1:10911"}),
        "broker-s": BrokerData("C2", "broker-s", {1: "10.0.0.9:10911"}),
    },
    cluster_addr_table={"C2": ["broker-s"], "C1": ["broker-b", "broker-a"]},
)


def test_masters_of_cluster_sorted_and_slaves_skipped() -> None:
    assert masters_of_cluster(INFO, "C1") == [
        ("broker-a", "10.0.0.1:10911"),
        ("broker-b", "10.0.0.3:10911"),
    ]
    assert masters_of_cluster(INFO, "C2") == []
    with pytest.raises(CommandError, match=r"cluster 'nope' not found .*C1, C2"):
        masters_of_cluster(INFO, "nope")


def test_broker_name_of_address() -> None:
    assert broker_name_of(INFO, "10.0.0.2:10911") == "broker-a"
    with pytest.raises(CommandError, match="no broker with address"):
        broker_name_of(INFO, "1.2.3.4:5")


def test_broker_addresses_in_print_order() -> None:
    assert broker_addresses(INFO) == [
        ("C1", "broker-a", 0, "10.0.0.1:10911"),
        ("C1", "broker-a", 1, "10.0.0.2:10911"),
        ("C1", "broker-b", 0, "10.0.0.3:10911"),
        ("C2", "broker-s", 1, "10.0.0.9:10911"),
    ]


@pytest.mark.parametrize(
    ("lo", "hi", "start", "left", "expected"),
    [
        (0, 10, None, 128, (0, 10)),
        (0, 10, None, 3, (0, 3)),
        (5, 10, 2, 128, (5, 10)),
        (0, 10, 7, 128, (7, 10)),
        (0, 10, 7, 2, (7, 9)),
        (0, 10, 10, 5, (10, 10)),
        (0, 10, 11, 5, None),
        (0, 0, None, 5, (0, 0)),
    ],
)
def test_plan_range(
    lo: int, hi: int, start: int | None, left: int, expected: tuple[int, int] | None
) -> None:
    assert plan_range(lo, hi, start, left) == expected


def test_describe_error_names_the_fix() -> None:
    assert "is the server running" in describe_error(RemotingConnectError("cannot connect"))
    assert describe_error(error_for_code(17, "No topic route info for X")) == (
        "topic not found: No topic route info for X"
    )
    assert isinstance(error_for_code(17), TopicNotExistError)
    assert describe_error(error_for_code(1, "boom")) == "the server refused: CODE: 1 DESC: boom"
    assert "mqadmin updateTopic" in describe_error(NoRouteError("No route info of this topic"))
    assert describe_error(CommandError("plain")) == "plain"


def test_resolve_namesrv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAMESRV_ADDR", raising=False)
    assert resolve_namesrv(None) == "127.0.0.1:9876"
    monkeypatch.setenv("NAMESRV_ADDR", "10.0.0.1:9876;10.0.0.2:9876")
    assert resolve_namesrv(None) == "10.0.0.1:9876;10.0.0.2:9876"
    assert resolve_namesrv(" a:1 ") == "a:1"


def test_no_command_lists_commands() -> None:
    result = CliRunner().invoke(main, [], prog_name="mqadmin")
    assert result.exit_code == 0
    assert result.output.startswith("The most commonly used mqadmin commands are:\n")
    for name in ("updateTopic", "topicList", "topicRoute", "clusterList", "sendMessage"):
        assert f"   {name:<20} " in result.output
    assert "consumeMessage" in result.output
    assert "See 'mqadmin help <command>'" in result.output


@pytest.mark.parametrize("args", [["updateTopic", "-h"], ["help", "updateTopic"]])
def test_command_usage(args: list[str]) -> None:
    result = CliRunner().invoke(main, args, prog_name="mqadmin")
    assert result.exit_code == 0
    assert result.output.startswith(
        "usage: mqadmin updateTopic [-a <arg>] [--accessKey <arg>] [-b <arg>] [-c <arg>] [--debug]"
    )
    for flag in ("-t,--topic", "-b,--brokerAddr", "-c,--clusterName", "-n,--namesrvAddr"):
        assert f"\n {flag} <arg> " in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["updateTopic", "-t", "T"], "one of -b BROKER_ADDR or -c CLUSTER"),
        (["topicRoute"], "Missing option '-t'"),
        (["sendMessage", "-t", "T", "-p", "x", "-i", "1"], "Broker name must be set"),
        (["consumeMessage", "-t", "T", "-c", "0"], "positive messageNumber"),
        (["consumeMessage", "-t", "T", "-s", "soon"], "yyyy-MM-dd#HH:mm:ss:SSS"),
        (["noSuchCommand"], "The sub command noSuchCommand not exist."),
        (["help", "noSuchCommand"], "The sub command noSuchCommand not exist."),
    ],
)
def test_usage_errors_exit_1(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(main, args, prog_name="mqadmin")
    assert result.exit_code == 1
    assert needle in result.output
