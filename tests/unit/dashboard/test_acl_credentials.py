"""The console's ACL account (rocketmq-dashboard's rocketmq.config.accessKey/secretKey)."""

import pytest

from orbitmq.config_file import ConfigError
from orbitmq.dashboard.config import DashboardConfig, config_from_properties


def test_keys_become_credentials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    values = config_from_properties(
        {"rocketmq.config.accessKey": "rocketmq2", "rocketmq.config.secretKey": "12345678"}
    )
    config = DashboardConfig(namesrv_addr="127.0.0.1:9876", data_dir=tmp_path, **values)  # type: ignore[arg-type]
    assert config.credentials is not None
    assert (config.credentials.access_key, config.credentials.secret_key) == (
        "rocketmq2",
        "12345678",
    )
    assert DashboardConfig(namesrv_addr="x:1", data_dir=tmp_path).credentials is None


def test_access_key_without_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="secretKey"):
        config_from_properties({"rocketmq.config.accessKey": "rocketmq2"})
