"""Who may reach what: open paths, the session key, the session at login, and message ids
that name an address outside the cluster."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from orbitmq.client import MQClientError
from orbitmq.client.admin import ClusterInfo
from orbitmq.client.route import BrokerData
from orbitmq.dashboard.app import create_app
from orbitmq.dashboard.config import DashboardConfig
from orbitmq.dashboard.context import Console
from orbitmq.dashboard.message_view import view_by_offset_id
from orbitmq.dashboard.security import MIN_SESSION_KEY_CHARS, session_secret
from orbitmq.protocol.message import create_offset_msg_id

from .scripted import make_console

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "users.properties").write_text("admin=s3cret,1\n")
    console = Console(DashboardConfig("127.0.0.1:1", data_dir=tmp_path, login_required=True))
    with TestClient(create_app(console), follow_redirects=False) as client:
        yield client
    asyncio.run(console.aclose())


def _token(client: TestClient, path: str) -> str:
    found = TOKEN.search(client.get(path).text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("path", ["/metricsX", "/metrics.old", "/login-admin", "/loginx"])
def test_only_the_open_paths_themselves_skip_login(guarded: TestClient, path: str) -> None:
    answer = guarded.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_login_gives_a_new_csrf_token(guarded: TestClient) -> None:
    """A token known before login (e.g. planted with the cookie) is worthless after it."""
    before = _token(guarded, "/login")
    answer = guarded.post(
        "/login",
        data={"csrf_token": before, "username": "admin", "password": "s3cret", "next": "/ops"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ops"
    after = _token(guarded, "/ops")
    assert after != before
    refused = guarded.post("/ops/namesrv", data={"csrf_token": before, "namesrv_addr": "h:1"})
    assert refused.status_code == 403


def test_a_changed_password_ends_the_sessions_made_with_the_old_one(
    guarded: TestClient, tmp_path: Path
) -> None:
    token = _token(guarded, "/login")
    guarded.post("/login", data={"csrf_token": token, "username": "admin", "password": "s3cret"})
    assert guarded.get("/ops").status_code == 200
    users = tmp_path / "users.properties"
    users.write_text("admin=n3w-secret,1\n")
    os.utime(users, (1, 1))  # a different mtime even within one clock tick
    assert guarded.get("/ops").status_code == 303  # back to the login page


@pytest.mark.parametrize("stored", ["", "\n", "short"])
def test_an_empty_or_cut_session_key_is_replaced(tmp_path: Path, stored: str) -> None:
    """An empty key would sign sessions anyone can forge."""
    (tmp_path / "session.key").write_text(stored)
    key = session_secret(tmp_path)
    assert len(key) >= MIN_SESSION_KEY_CHARS
    assert (tmp_path / "session.key").read_text() == key
    assert session_secret(tmp_path) == key  # kept across restarts
    assert [p.name for p in tmp_path.iterdir()] == ["session.key"]


class _Admin:
    def __init__(self) -> None:
        self.viewed: list[str] = []

    async def cluster_info(self) -> ClusterInfo:
        data = BrokerData("C", "broker-a", {0: "127.0.0.1:10911"})
        return ClusterInfo({"broker-a": data}, {"C": ["broker-a"]})

    async def view_message(self, offset_msg_id: str) -> object:
        self.viewed.append(offset_msg_id)
        raise MQClientError("stop here")


def test_an_offset_id_outside_the_cluster_is_not_asked_for(tmp_path: Path) -> None:
    """The id names the address the console connects to: only brokers of the cluster."""

    async def run() -> None:
        admin = _Admin()
        console = await make_console(tmp_path, admin)
        outside = create_offset_msg_id(("10.1.2.3", 6379), 0)
        with pytest.raises(MQClientError, match="not a broker of this cluster"):
            await view_by_offset_id(console, outside)
        assert admin.viewed == []
        inside = create_offset_msg_id(("127.0.0.1", 10911), 0)
        with pytest.raises(MQClientError, match="stop here"):
            await view_by_offset_id(console, inside)
        assert admin.viewed == [inside]

    asyncio.run(run())
