"""A broker or NameServer that answers nonsense or nothing costs a failure line, never a
500 page or a lost collection; the console's own files survive a write that dies."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.route import BrokerData
from orbitmq.dashboard.app import create_app
from orbitmq.dashboard.collector import FiguresCollector
from orbitmq.dashboard.pages.dlq import MAX_EXPORT
from orbitmq.protocol.message import create_offset_msg_id

from .scripted import make_console
from .test_collector import MASTER, FakeAdmin

OTHER = "10.0.0.2:10911"


class TwoMasters(FakeAdmin):
    """FakeAdmin's broker-a, and broker-b whose runtime info is not JSON."""

    async def cluster_info(self) -> ClusterInfo:
        a = BrokerData("C", "broker-a", {0: MASTER})
        b = BrokerData("C", "broker-b", {0: OTHER})
        return ClusterInfo({"broker-a": a, "broker-b": b}, {"C": ["broker-a", "broker-b"]})

    async def get_broker_runtime_info(self, addr: str) -> dict[str, str]:
        if addr == OTHER:
            orjson.loads(b"<html>")
        return {"brokerVersionDesc": "V5_3_0"}


async def test_one_malformed_answer_costs_that_broker_not_the_collection(tmp_path: Path) -> None:
    console = await make_console(tmp_path, TwoMasters())
    snapshot = await FiguresCollector(console).collect_once()
    runtime = {b.ref.addr: b.runtime for b in snapshot.brokers}
    assert runtime == {MASTER: {"brokerVersionDesc": "V5_3_0"}, OTHER: {}}
    assert [(f.name, f.addr) for f in snapshot.failures] == [("broker-b:0", OTHER)]
    assert "malformed answer" in snapshot.failures[0].reason


class DeadNameServer:
    async def cluster_info(self) -> ClusterInfo:
        raise ConnectionRefusedError(111, "Connection refused")

    async def get_broker_runtime_info(self, addr: str) -> dict[str, str]:
        raise AssertionError("no broker is asked before the NameServer answered")


def test_broker_page_names_a_dead_nameserver(tmp_path: Path) -> None:
    console = asyncio.run(make_console(tmp_path, DeadNameServer()))
    with TestClient(create_app(console)) as client:
        answer = client.get("/cluster/broker", params={"addr": MASTER})
    assert answer.status_code == 200
    assert "NameServer (127.0.0.1:9)" in answer.text and "Connection refused" in answer.text


def test_a_write_that_dies_keeps_the_previous_ops_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = asyncio.run(make_console(tmp_path, FakeAdmin()))
    console.namesrv_choices.append("h1:9876")
    console._save_ops()
    kept = (tmp_path / "ops.json").read_bytes()

    def dies_halfway(path: Path, data: bytes) -> int:
        with open(path, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", dies_halfway)
    console.namesrv_choices.append("h2:9876")
    with pytest.raises(OSError):
        console._save_ops()
    monkeypatch.undo()
    assert (tmp_path / "ops.json").read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.json", "session.key"]  # no tmp


class CountingViews(FakeAdmin):
    def __init__(self) -> None:
        super().__init__()
        self.views = 0

    async def view_message(self, offset_msg_id: str) -> object:
        self.views += 1
        raise AssertionError("an over-long selection must not be read")


def test_export_of_too_many_selected_messages_is_refused(tmp_path: Path) -> None:
    admin = CountingViews()
    console = asyncio.run(make_console(tmp_path, admin))
    ids = [create_offset_msg_id(("10.0.0.1", 10911), n) for n in range(MAX_EXPORT + 1)]
    with TestClient(create_app(console), follow_redirects=False) as client:
        found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/dlq").text)
        assert found is not None
        form = {"csrf_token": found.group(1), "group": "G", "format": "csv", "ids": ids}
        answer = client.post("/dlq/export", data=form)
        assert answer.status_code == 303
        page = client.get(answer.headers["location"]).text
    assert admin.views == 0
    assert f"Export at most {MAX_EXPORT} messages at once." in page
