"""Running the console: check the users file when login is required, start the figures
collector, and serve the application in the current event loop (so `orbitmq standalone`
and `orbitmq cluster start` can run it beside a NameServer and a broker)."""

from __future__ import annotations

import logging

from orbitmq.dashboard.app import create_app
from orbitmq.dashboard.collector import FiguresCollector
from orbitmq.dashboard.config import DashboardConfig
from orbitmq.dashboard.context import Console
from orbitmq.http_serving import AsgiServer, serve_asgi

log = logging.getLogger(__name__)


class DashboardServer:
    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.console: Console | None = None
        self.collector: FiguresCollector | None = None
        self._http: AsgiServer | None = None

    @property
    def port(self) -> int:
        assert self._http is not None
        return self._http.port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}/"

    async def start(self) -> None:
        config = self.config
        config.data_path.mkdir(parents=True, exist_ok=True)
        console = Console(config)
        if config.needs_login:
            count = console.users.check_file()  # a missing or bad file stops the start
            log.info("console login required: %d users in %s", count, config.users_file)
        self.console = console
        self.collector = FiguresCollector(console)
        app = create_app(console)
        app.state.collector = self.collector
        try:
            self._http = await serve_asgi(
                app,
                config.host,
                config.port,
                name="console",
                lifespan="off",
                root_path=config.root_path,
            )
        except BaseException:
            await console.aclose()
            raise
        self.collector.start()
        log.info("console at %s (NameServer %s)", self.url, config.namesrv_addr)

    async def aclose(self) -> None:
        if self.collector is not None:
            await self.collector.aclose()
        if self._http is not None:
            await self._http.aclose()
        if self.console is not None:
            await self.console.aclose()
