"""`orbitmq cluster logs --since` and `config-diff`: the pure parts (parse_since, the
comparison of a template with a running config, process selection)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from orbitmq.cluster.inspect import _BROKER_DEFAULTS, _differences, _select, parse_since
from orbitmq.cluster.template import load_plan
from orbitmq.config_file import ConfigError

CONF = Path(__file__).resolve().parents[3] / "conf"
NOW = 1_800_000_000.25


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("0s", 0),
        ("1.5h", 5400),
        ("  45m \n", 2700),
    ],
)
def test_since_duration_is_that_long_before_now(text: str, seconds: float) -> None:
    assert parse_since(text, NOW) == pytest.approx(NOW - seconds)


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("2024-05-01 10:20:30", datetime.datetime(2024, 5, 1, 10, 20, 30)),
        ("2024-05-01 10:20", datetime.datetime(2024, 5, 1, 10, 20)),
        ("2024-05-01T10:20:30", datetime.datetime(2024, 5, 1, 10, 20, 30)),
        ("2024-05-01", datetime.datetime(2024, 5, 1)),
        (" 2024-12-31 23:59:59 ", datetime.datetime(2024, 12, 31, 23, 59, 59)),
    ],
)
def test_since_time_is_local_time(text: str, when: datetime.datetime) -> None:
    # Naive: the local time, as the log lines' own timestamps are.
    assert parse_since(text, NOW) == when.timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10",
        "10x",
        "10 m",
        "-5m",
        "5M",
        "1w",
        "m",
        "yesterday",
        "2024-13-01",
        "2024-05-01 25:00",
        "01/05/2024",
    ],
)
def test_bad_since_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--since .* is neither a duration"):
        parse_since(text, NOW)


def test_same_config_has_no_differences() -> None:
    config = {"listenPort": "10911", "brokerName": "broker-a"}
    assert _differences(config, dict(config), "running file") == []


def test_each_kind_of_difference_one_line_in_key_order() -> None:
    expected = {"listenPort": "10911", "brokerName": "broker-a", "deleteWhen": "04"}
    actual = {"listenPort": "10921", "brokerName": "broker-a", "aclEnable": "true"}
    assert _differences(expected, actual, "running file") == [
        "  aclEnable: only in the running file: true",
        "  deleteWhen: missing from the running file (template: 04)",
        "  listenPort: template 10911, running file 10921",
    ]


def test_surrounding_whitespace_is_no_difference() -> None:
    assert _differences({"k": " v"}, {"k": "v "}, "live broker") == []


def test_home_path_matches_its_expansion() -> None:
    expected = {"storePathRootDir": "~/orbitmq/store/broker-a"}
    running = {"storePathRootDir": "/home/mq/orbitmq/store/broker-a"}
    assert _differences(expected, running, "live broker") == []
    moved = {"storePathRootDir": "/home/mq/orbitmq/store/broker-b"}
    assert _differences(expected, moved, "live broker") == [
        "  storePathRootDir: template ~/orbitmq/store/broker-a, "
        "live broker /home/mq/orbitmq/store/broker-b"
    ]
    # Only the template's `~` is read as a home: not the other way round.
    assert _differences(
        {"storePathRootDir": "/home/mq/store"}, {"storePathRootDir": "~/store"}, "live broker"
    ) == ["  storePathRootDir: template /home/mq/store, live broker ~/store"]


def test_running_only_keys_equal_to_defaults_are_skipped() -> None:
    defaults = {"fileReservedTime": "72", "deleteWhen": "04"}
    actual = {"brokerName": "b", "fileReservedTime": "72", "deleteWhen": "01"}
    assert _differences({"brokerName": "b"}, actual, "running file", defaults) == [
        "  deleteWhen: only in the running file: 01"  # not the default: reported
    ]
    # Without defaults every extra key counts.
    assert _differences({"brokerName": "b"}, actual, "running file") == [
        "  deleteWhen: only in the running file: 01",
        "  fileReservedTime: only in the running file: 72",
    ]


def test_defaults_do_not_excuse_a_key_missing_from_the_running_config() -> None:
    defaults = {"fileReservedTime": "72"}
    assert _differences({"fileReservedTime": "72"}, {}, "running file", defaults) == [
        "  fileReservedTime: missing from the running file (template: 72)"
    ]


def test_broker_defaults_are_the_brokers_own() -> None:
    assert _BROKER_DEFAULTS["listenPort"] == "10911"
    assert _BROKER_DEFAULTS["flushDiskType"] == "ASYNC_FLUSH"
    actual = {"brokerName": "b", "flushDiskType": "ASYNC_FLUSH", "listenPort": "10912"}
    assert _differences({"brokerName": "b"}, actual, "running file", _BROKER_DEFAULTS) == [
        "  listenPort: only in the running file: 10912"
    ]


def test_select_by_name_or_label(tmp_path: Path) -> None:
    plan = load_plan(CONF / "2m-2s-sync-4hosts", tmp_path)
    assert _select(plan, set()) == list(plan.processes)
    # A NameServer's name covers it on every host; its label, on one host.
    assert [s.label for s in _select(plan, {"namesrv-9876"})] == [
        f"namesrv-9876@10.0.0.{i}" for i in range(1, 5)
    ]
    assert [s.label for s in _select(plan, {"namesrv-9876@10.0.0.2", "broker-b"})] == [
        "namesrv-9876@10.0.0.2",
        "broker-b",
    ]


def test_select_unknown_names_them_and_lists_the_plan(tmp_path: Path) -> None:
    plan = load_plan(CONF / "2m-2s-sync-4hosts", tmp_path)
    with pytest.raises(ConfigError, match=r"no process broker-c, namesrv-9876@10\.0\.0\.9 in") as e:
        _select(plan, {"broker-a", "broker-c", "namesrv-9876@10.0.0.9"})
    assert "namesrv-9876@10.0.0.1" in str(e.value) and "dashboard" in str(e.value)
