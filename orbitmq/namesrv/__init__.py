"""The NameServer: route tables, KV config and their request handlers."""

from orbitmq.namesrv.config import NamesrvConfig, load_namesrv_config
from orbitmq.namesrv.route_table import RouteTable
from orbitmq.namesrv.server import NamesrvController

__all__ = ["NamesrvConfig", "NamesrvController", "RouteTable", "load_namesrv_config"]
