"""users.properties, the console's config keys and who must log in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orbitmq.config_file import ConfigError
from orbitmq.dashboard.config import DashboardConfig, config_from_properties, is_loopback
from orbitmq.dashboard.pages.common import FormError, check_group_name, check_topic_name
from orbitmq.dashboard.pages.ops import check_namesrv_list
from orbitmq.dashboard.users import UsersFileError, UserStore, parse_users


def test_users_file_roles_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "users.properties"
    path.write_text("admin=s3cret,1\nviewer=look\n")
    store = UserStore(path)
    assert store.check_file() == 2
    admin = store.authenticate("admin", "s3cret")
    assert admin is not None and admin.is_admin
    viewer = store.authenticate("viewer", "look")
    assert viewer is not None and not viewer.is_admin
    assert store.authenticate("viewer", "LOOK") is None
    assert store.authenticate("nobody", "") is None
    admin_stamp, viewer_stamp = store.stamp("admin"), store.stamp("viewer")
    assert admin_stamp and viewer_stamp and store.lookup("admin", admin_stamp) == admin
    path.write_text("viewer=changed\n")
    os.utime(path, (1, 1))  # a different mtime even within one clock tick
    assert store.lookup("admin", admin_stamp) is None  # removed users lose their session
    assert store.lookup("viewer", viewer_stamp) is None  # so do sessions of an old password
    assert store.authenticate("viewer", "changed") is not None
    assert store.stamp("viewer") != viewer_stamp
    assert UserStore(path, b"other key").stamp("viewer") != store.stamp("viewer")


def test_users_file_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsersFileError, match="does not exist: create it"):
        UserStore(tmp_path / "missing.properties").check_file()
    with pytest.raises(UsersFileError, match="has no password"):
        parse_users("admin=\n")


def test_login_needed_off_loopback_unless_told() -> None:
    assert not DashboardConfig("ns:9876").needs_login
    assert DashboardConfig("ns:9876", host="0.0.0.0").needs_login
    assert not DashboardConfig("ns:9876", host="0.0.0.0", login_required=False).needs_login
    assert DashboardConfig("ns:9876", login_required=True).needs_login
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert not is_loopback("10.1.2.3") and not is_loopback("example.org")


def test_config_keys_are_rocketmq_dashboards() -> None:
    values = config_from_properties(
        {
            "server.port": "18082",
            "server.address": "0.0.0.0",
            "rocketmq.config.namesrvAddr": "a:9876;b:9876",
            "rocketmq.config.loginRequired": "true",
            "rocketmq.config.dataPath": "/tmp/console-data",
        }
    )
    config = DashboardConfig(**values)  # type: ignore[arg-type]
    assert (config.port, config.host, config.namesrv_addr) == (18082, "0.0.0.0", "a:9876;b:9876")
    assert config.needs_login and config.users_file == Path("/tmp/console-data/users.properties")
    assert config_from_properties({"server.servlet.context-path": "/rocketmq/"}) == {
        "root_path": "/rocketmq"
    }
    with pytest.raises(ConfigError, match="not a URL path"):
        config_from_properties({"server.servlet.context-path": "rocketmq"})
    with pytest.raises(ConfigError, match=r"server\.port=x"):
        config_from_properties({"server.port": "x"})
    with pytest.raises(ConfigError, match=r"loginRequired=yes"):
        config_from_properties({"rocketmq.config.loginRequired": "yes"})


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "is required"),
        ("a b", "contains characters outside"),
        ("x" * 128, "longer than 127"),
    ],
)
def test_topic_names_checked_as_rocketmq_does(name: str, error: str) -> None:
    with pytest.raises(FormError, match=error):
        check_topic_name(name)


def test_names_and_namesrv_lists_that_pass() -> None:
    assert check_topic_name("%RETRY%G_1|x-y") == "%RETRY%G_1|x-y"
    assert check_group_name("CG-1") == "CG-1"
    assert check_namesrv_list(" a:9876 ; b:9877;") == "a:9876;b:9877"
    for bad in ("a", "a:0", "a:70000", "a:b", ""):
        with pytest.raises(FormError):
            check_namesrv_list(bad)
