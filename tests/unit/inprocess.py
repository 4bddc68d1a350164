"""In-process servers for unit tests: a NameServer, broker configs, a master/slave set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orbitmq.broker.broker import BrokerController
from orbitmq.broker.config import BrokerConfig
from orbitmq.namesrv.config import NamesrvConfig
from orbitmq.namesrv.server import NamesrvController
from tests.processes import free_port


async def start_namesrv(tmp: Path) -> NamesrvController:
    namesrv = NamesrvController(
        NamesrvConfig(listen_port=0, host="127.0.0.1", kv_config_path=str(tmp / "kv.json"))
    )
    await namesrv.start()
    return namesrv


@dataclass
class BrokerSet:
    """An in-process NameServer with a master and its slave (brokerId 1)."""

    namesrv: NamesrvController
    master: BrokerController
    slave: BrokerController

    @property
    def namesrv_addr(self) -> str:
        return f"127.0.0.1:{self.namesrv.port}"


def broker_config(tmp: Path, namesrv_addr: str, **overrides: object) -> BrokerConfig:
    role = str(overrides.get("broker_role", "ASYNC_MASTER"))
    values: dict[str, object] = {
        "broker_name": "broker-a",
        "broker_ip1": "127.0.0.1",
        "bind_address": "127.0.0.1",
        "listen_port": free_port(),  # its HA port, listen_port + 1, is free too
        "store_path_root_dir": str(tmp / f"store-{role}"),
        "namesrv_addr": namesrv_addr,
        "mapped_file_size_commit_log": 8 * 1024 * 1024,
        "mapped_file_size_consume_queue": 20 * 1000,
        **overrides,
    }
    return BrokerConfig(**values).finish()  # type: ignore[arg-type]


async def start_broker_set(
    tmp: Path, master: dict[str, object] | None = None, slave: dict[str, object] | None = None
) -> BrokerSet:
    namesrv = await start_namesrv(tmp)
    addr = f"127.0.0.1:{namesrv.port}"
    master_broker = BrokerController(broker_config(tmp, addr, **(master or {})))
    await master_broker.start()
    slave_config = broker_config(tmp, addr, broker_role="SLAVE", broker_id=1, **(slave or {}))
    slave_broker = BrokerController(slave_config)
    await slave_broker.start()
    return BrokerSet(namesrv, master_broker, slave_broker)


async def stop_broker_set(brokers: BrokerSet) -> None:
    for broker in (brokers.slave, brokers.master):
        if not broker.closing:
            await broker.aclose()
    await brokers.namesrv.aclose()
