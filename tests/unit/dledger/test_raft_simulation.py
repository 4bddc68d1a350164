"""Seeded simulations of a Raft group under faults (simulation.py, raft-testing.md §2).

CI runs 2000 seeds in a few chunks. `ORBITMQ_RAFT_SEEDS=<n>` runs n seeds instead (a
longer hunt); `ORBITMQ_RAFT_SEED=<n>` replays the one seed a failure named.
"""

from __future__ import annotations

import dataclasses
import os
import random

import pytest

from orbitmq.dledger.raft import RaftCore
from tests.unit.dledger.simulation import (
    SEED_ENV,
    SEEDS_ENV,
    TRACE_LEN,
    AckBeforeSyncCore,
    DoubleVoteCore,
    LastTermOnlyVoteCore,
    SimParams,
    SimStats,
    Simulation,
    SimulationFailure,
    run_seed,
)

SEEDS = int(os.environ.get(SEEDS_ENV, "2000"))
CHUNKS = 4
REPLAY = os.environ.get(SEED_ENV)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_schedules_stay_safe_and_converge(chunk: int) -> None:
    if REPLAY and chunk:
        pytest.skip(f"replaying seed {REPLAY} in chunk 0")
    seeds = [int(REPLAY)] if REPLAY else range(chunk, SEEDS, CHUNKS)
    total = SimStats()
    for seed in seeds:
        stats = run_seed(seed)
        total.leaders += stats.leaders
        total.crashes += stats.crashes
        total.truncations += stats.truncations
        total.transfers += stats.transfers
        total.acked += stats.acked
    runs = len(seeds)
    if runs >= 100:
        # The schedules must actually reach the interesting states, or passing means little.
        assert total.leaders > 2 * runs
        assert total.crashes > 2 * runs
        assert total.truncations > runs // 4
        assert total.transfers > runs // 2
        assert total.acked > 10 * runs


def test_a_seed_replays_exactly() -> None:
    first, second = Simulation(11).run(), Simulation(11).run()
    assert first == second
    assert first.events > 100


@pytest.mark.parametrize(
    ("core", "params", "broken"),
    [
        (DoubleVoteCore, {}, "election safety"),
        (LastTermOnlyVoteCore, {}, "leader completeness"),
        # with SYNC_FLUSH and power cuts only, so that acks before fsync can matter
        (AckBeforeSyncCore, {"power_loss": True}, "leader completeness"),
        (RaftCore, {"power_loss": True, "lying_disk": True}, "leader completeness"),
    ],
)
def test_checker_catches_a_broken_rule(
    core: type[RaftCore], params: dict[str, bool], broken: str
) -> None:
    """The checker is not vacuous: each broken rule (or a disk that loses fsynced data)
    is caught within a few dozen seeds, with a replayable report."""
    for seed in range(200):
        drawn = SimParams.draw(random.Random(seed))
        if params:
            raft = dataclasses.replace(drawn.raft, sync_before_ack=True)
            drawn = dataclasses.replace(drawn, raft=raft, **params)
        try:
            Simulation(seed, core, drawn).run()
        except SimulationFailure as exc:
            lines = str(exc).splitlines()
            assert broken in lines[0]
            assert f"{SEED_ENV}={seed} pytest" in lines[1]
            assert lines[3] == f"last {len(lines) - 4} events:"
            assert 0 < len(lines) - 4 <= TRACE_LEN
            return
    pytest.fail(f"{core.__name__}: no violation found in 200 seeds")
