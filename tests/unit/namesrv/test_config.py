"""NamesrvConfig from RocketMQ .properties files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from orbitmq.namesrv.config import NamesrvConfig, load_namesrv_config
from orbitmq.namesrv.errors import ConfigError


def test_defaults() -> None:
    config = load_namesrv_config()
    assert config == NamesrvConfig()
    assert config.listen_port == 9876
    assert config.host == "0.0.0.0"
    assert config.kv_config_file == Path("~/namesrv/kvConfig.json").expanduser()
    assert config.scan_not_active_broker_interval_ms == 10_000
    assert config.broker_channel_expired_ms == 120_000


def test_properties_file_and_overrides(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text(
        "# a Java NameServer file\n"
        "listenPort = 9877\n"
        f"kvConfigPath={tmp_path}/kv.json\n"
        "orderMessageEnable=TRUE\n"
        "serverWorkerThreads=8\n"
        "someTypo=1\n"
    )
    with caplog.at_level(logging.DEBUG, logger="orbitmq.namesrv.config"):
        config = load_namesrv_config(path, {"listenPort": 0})
    assert config.listen_port == 0
    assert config.kv_config_path == f"{tmp_path}/kv.json"
    assert config.order_message_enable is True
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["unknown namesrv config key someTypo ignored"]


def test_override_by_field_name() -> None:
    assert load_namesrv_config(None, {"listen_port": "1234"}).listen_port == 1234


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("listenPort=abc", "listenPort"),
        ("listenPort=70000", "listenPort"),
        ("orderMessageEnable=yes", "orderMessageEnable"),
    ],
)
def test_bad_value_names_key(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=key):
        load_namesrv_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_namesrv_config(tmp_path / "absent.properties")


def test_config_error_is_the_shared_cli_error(tmp_path: Path) -> None:
    from orbitmq.config_file import ConfigError as SharedConfigError

    path = tmp_path / "namesrv.properties"
    path.write_text("listenPort=x\n")
    with pytest.raises(SharedConfigError):
        load_namesrv_config(path)


def test_bad_update_changes_nothing() -> None:
    from orbitmq.namesrv.config import apply_properties

    config = NamesrvConfig()
    with pytest.raises(ConfigError, match="listenPort"):
        apply_properties(config, {"orderMessageEnable": "true", "listenPort": "-1"})
    assert config == NamesrvConfig()
