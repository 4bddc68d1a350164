"""`orbitmq bench replication` and `orbitmq bench send-path` as real subprocesses."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.test_bench import run_bench

pytestmark = pytest.mark.slow


def test_replication_measures_four_layouts_and_every_copys_lag() -> None:
    result = run_bench("replication", "--duration", "2", "-w", "16", "--json", timeout=360)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    rows = {row["layout"]: row for row in json.loads(result.stdout)}
    assert list(rows) == [
        "master alone", "ASYNC_MASTER + 1 slave", "SYNC_MASTER + 1 slave", "DLedger, 3 members",
    ]  # fmt: skip
    for row in rows.values():
        assert row["tps"] > 0 and row["send_failed"] == 0
        assert row["broker_cpu_us_per_msg"] > 0
    alone = rows["master alone"]
    assert alone["lag_max_bytes"] is None and alone["catch_up_s"] is None
    for layout in ("ASYNC_MASTER + 1 slave", "SYNC_MASTER + 1 slave", "DLedger, 3 members"):
        # The copies caught up after the load, so replication really ran.
        assert rows[layout]["catch_up_s"] is not None
        assert rows[layout]["lag_max_bytes"] >= 0
        assert rows[layout]["lag_mean_bytes"] <= rows[layout]["lag_max_bytes"]
    for layout in ("master alone", "ASYNC_MASTER + 1 slave", "SYNC_MASTER + 1 slave"):
        assert rows[layout]["lag_max_entries"] is None
    dledger = rows["DLedger, 3 members"]
    # Raft lag in entries was sampled from the leader's status while the load ran.
    assert dledger["lag_max_entries"] >= 0
    assert dledger["lag_mean_entries"] <= dledger["lag_max_entries"]


def test_send_path_reports_cpu_per_message() -> None:
    result = run_bench("send-path", "--count", "3000", timeout=120)
    assert result.returncode == 0, result.stderr
    match = re.search(r"3000 sends: ([0-9.]+) µs CPU per message", result.stdout)
    assert match and float(match.group(1)) > 0, result.stdout
