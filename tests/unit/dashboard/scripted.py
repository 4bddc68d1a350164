"""A console whose admin client is a test's scripted stand-in."""

from __future__ import annotations

from pathlib import Path

from orbitmq.dashboard.config import DashboardConfig
from orbitmq.dashboard.context import Console


async def make_console(tmp_path: Path, admin: object) -> Console:
    """A console whose admin is `admin` (its own, never used, is closed first)."""
    config = DashboardConfig("127.0.0.1:9", data_dir=tmp_path, admin_timeout=0.3)
    console = Console(config)
    await console.aclose()
    console.admin = admin  # type: ignore[assignment]
    return console
