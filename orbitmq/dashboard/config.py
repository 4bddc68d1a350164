"""What `orbitmq dashboard` is told: where the NameServers are, where it listens, where it
keeps its files, and whether people must log in."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from orbitmq.acl.signature import SessionCredentials
from orbitmq.config_file import ConfigError

DEFAULT_PORT = 8082  # rocketmq-dashboard 2.x; 8080/8081 belong to the 5.x proxy
DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_home() -> Path:
    return Path(os.path.expanduser(os.environ.get("ORBITMQ_HOME", "~/orbitmq")))


@dataclass
class DashboardConfig:
    """Args:
    namesrv_addr: NameServer list, `;` separated (one cluster).
    data_dir: chart history, users.properties and the session key live here.
    login_required: None = only when bound to a non-loopback address.
    root_path: "/rocketmq" when a reverse proxy serves the console at /rocketmq/ and
        strips that prefix (Spring Boot's server.servlet.context-path).
    collect_interval: seconds between two collections of figures (at most a minute).
    admin_timeout: seconds one broker or NameServer call may take before the page says
        which server did not answer.
    access_key / secret_key: the ACL account the console signs its requests with
        (rocketmq-dashboard's rocketmq.config.accessKey / secretKey); "" = unsigned.
    """

    namesrv_addr: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path | None = None
    login_required: bool | None = None
    collect_interval: float = 60.0
    admin_timeout: float = 3.0
    trace_topic: str = "RMQ_SYS_TRACE_TOPIC"
    root_path: str = ""  # the prefix a reverse proxy serves the console under
    access_key: str = ""
    secret_key: str = ""

    def __post_init__(self) -> None:
        if self.data_dir is None:
            self.data_dir = default_home() / "dashboard"
        self.data_dir = Path(self.data_dir)

    @property
    def data_path(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir

    @property
    def credentials(self) -> SessionCredentials | None:
        if not self.access_key:
            return None
        return SessionCredentials(self.access_key, self.secret_key)

    @property
    def needs_login(self) -> bool:
        if self.login_required is not None:
            return self.login_required
        return not is_loopback(self.host)

    @property
    def users_file(self) -> Path:
        return self.data_path / "users.properties"


# rocketmq-dashboard's own key names (Spring Boot's server.* and its rocketmq.config.*).
KEY_HOST = "server.address"
KEY_PORT = "server.port"
KEY_NAMESRV = "rocketmq.config.namesrvAddr"
KEY_DATA_PATH = "rocketmq.config.dataPath"
KEY_LOGIN = "rocketmq.config.loginRequired"
KEY_ROOT_PATH = "server.servlet.context-path"
KEY_ACCESS_KEY = "rocketmq.config.accessKey"
KEY_SECRET_KEY = "rocketmq.config.secretKey"


def config_from_properties(properties: dict[str, str]) -> dict[str, object]:
    """DashboardConfig arguments from a console `.properties` file.

    Raises:
        ConfigError: a value does not parse; the message names the key.
    """
    values: dict[str, object] = {}
    if KEY_NAMESRV in properties:
        values["namesrv_addr"] = properties[KEY_NAMESRV]
    if KEY_HOST in properties:
        values["host"] = properties[KEY_HOST]
    if KEY_PORT in properties:
        text = properties[KEY_PORT]
        if not text.isdigit() or not 0 <= int(text) < 65536:
            raise ConfigError(f"{KEY_PORT}={text} is not a port number")
        values["port"] = int(text)
    if KEY_DATA_PATH in properties:
        values["data_dir"] = Path(os.path.expanduser(properties[KEY_DATA_PATH]))
    if KEY_ROOT_PATH in properties:
        values["root_path"] = check_root_path(properties[KEY_ROOT_PATH], KEY_ROOT_PATH)
    if properties.get(KEY_ACCESS_KEY):
        if not properties.get(KEY_SECRET_KEY):
            raise ConfigError(f"{KEY_ACCESS_KEY} is set but {KEY_SECRET_KEY} is not")
        values["access_key"] = properties[KEY_ACCESS_KEY]
        values["secret_key"] = properties[KEY_SECRET_KEY]
    if KEY_LOGIN in properties:
        text = properties[KEY_LOGIN].lower()
        if text not in ("true", "false"):
            raise ConfigError(f"{KEY_LOGIN}={properties[KEY_LOGIN]} is not true or false")
        values["login_required"] = text == "true"
    return values


def check_root_path(text: str, what: str = "--root-path") -> str:
    """The empty path, or a path such as /rocketmq (no trailing slash).

    Raises:
        ConfigError: it does not start with '/' or has characters a URL path cannot.
    """
    path = text.strip().rstrip("/")
    if path and (not path.startswith("/") or any(c in path for c in " ?#%\\")):
        raise ConfigError(f"{what}={text} is not a URL path such as /rocketmq")
    return path
