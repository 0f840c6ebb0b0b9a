"""The sandbox HTTP server: every simulator plus the admin API, on loopback.

`build_app(config)` mounts each registered simulator under its prefix and the admin API under
`/_admin`; `SandboxServer` runs that app with uvicorn in a background thread for tests and the
demo; `serve` runs it in the foreground for the CLI. Adding a simulator means writing one module
or package with a `Simulator` subclass and appending it to `SIMULATORS`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from support_assets.sandbox.base import (
    ConfigError,
    SandboxConfig,
    SandboxContext,
    Simulator,
    Stats,
    error,
    json_body,
)
from support_assets.sandbox.faults import FaultConfigError, FaultInjector, FaultMiddleware
from support_assets.sandbox.helpdesk_web import HelpdeskWebSimulator
from support_assets.sandbox.milvus import MilvusSimulator
from support_assets.sandbox.octadesk import OctadeskSimulator
from support_assets.sandbox.ploomes import PloomesSimulator
from support_assets.sandbox.sheets import SheetsSimulator
from support_assets.sandbox.telegram import TelegramSimulator
from support_assets.sandbox.ticker import WorldTicker

__all__ = ["SIMULATORS", "SandboxConfig", "SandboxServer", "SandboxState", "build_app", "serve"]

logger = logging.getLogger(__name__)

#: Simulator classes mounted by `build_app`, one per external system.
SIMULATORS: list[type[Simulator]] = [
    OctadeskSimulator,
    SheetsSimulator,
    HelpdeskWebSimulator,
    TelegramSimulator,
    PloomesSimulator,
    MilvusSimulator,
]

ADMIN_PREFIX = "/_admin"


@dataclass
class SandboxState:
    """The live sandbox behind an app: its context and simulators (also `app.state.sandbox`)."""

    initial_config: SandboxConfig
    context: SandboxContext
    simulators: dict[str, Simulator]

    def reset(self, updates: dict[str, Any] | None = None) -> SandboxConfig:
        """Rebuild every world from the startup config with `updates`; clear faults and stats."""
        config = self.initial_config.with_updates(updates or {})
        self.context.config = config
        for simulator in self.simulators.values():
            simulator.set_divergent(None)
            simulator.reset(config)
        self.context.faults.clear(base_latency_ms=config.latency_ms)
        self.context.faults.reset_counts()
        self.context.stats.clear()
        logger.info("sandbox reset: %s", config)
        return config

    def stats(self) -> dict[str, Any]:
        """Requests per route, records served per kind and faults injected per kind."""
        return {**self.context.stats.snapshot(), "faults_injected": self.context.faults.counts()}


class _StatsMiddleware:
    """Counts simulator requests per `"METHOD /route/template"` (admin requests excluded)."""

    def __init__(self, app: ASGIApp, state: SandboxState, routes: list[Route]) -> None:
        self.app, self.state, self.routes = app, state, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(ADMIN_PREFIX):
            path = scope["path"]
            for route in self.routes:
                match, _ = route.matches(scope)
                if match is Match.FULL:
                    path = route.path
                    break
            self.state.context.stats.count_request(f"{scope['method']} {path}")
        await self.app(scope, receive, send)


def _admin_routes(state: SandboxState) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def reset(request: Request) -> Response:
        try:
            config = state.reset(await json_body(request))
        except (ConfigError, ValueError) as exc:
            return error(400, str(exc))
        return JSONResponse({"ok": True, "config": config.to_dict()})

    async def faults(request: Request) -> Response:
        injector = state.context.faults
        if request.method == "DELETE":
            injector.clear()
        elif request.method == "PUT":
            try:
                injector.configure(await json_body(request))
            except (FaultConfigError, ValueError) as exc:
                return error(400, str(exc))
        return JSONResponse(injector.config.to_dict())

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            state.context.stats.clear()
            state.context.faults.reset_counts()
        return JSONResponse(state.stats())

    routes = [
        Route(f"{ADMIN_PREFIX}/health", health, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route(f"{ADMIN_PREFIX}/stats", stats, methods=["GET", "DELETE"]),
    ]
    for name, simulator in state.simulators.items():
        routes.extend(_prefixed(f"{ADMIN_PREFIX}/{name}", simulator.admin_routes()))

        async def truth(request: Request, simulator: Simulator = simulator) -> Response:
            return JSONResponse(simulator.truth())

        if not any(r.path == "/truth" for r in simulator.admin_routes()):
            routes.append(Route(f"{ADMIN_PREFIX}/{name}/truth", truth, methods=["GET"]))

        async def divergent(request: Request, simulator: Simulator = simulator) -> Response:
            if request.method == "PUT":
                try:
                    value = (await json_body(request)).get("divergent")
                except ValueError as exc:
                    return error(400, str(exc))
                if value is not None and not isinstance(value, bool):
                    return error(400, "divergent must be true, false or null")
                simulator.set_divergent(value)
            return JSONResponse({"divergent": simulator.divergent})

        routes.append(Route(f"{ADMIN_PREFIX}/{name}/divergent", divergent, methods=["GET", "PUT"]))
    return routes


def _prefixed(prefix: str, routes: list[Route]) -> list[Route]:
    """The same routes with `prefix` in front of their paths (flat, so stats see templates)."""
    return [
        Route(
            prefix + route.path,
            route.endpoint,
            methods=sorted(route.methods or ()),
            name=route.name,
        )  # fmt: skip
        for route in routes
    ]


def build_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox's ASGI app: every simulator under its prefix and the admin API."""
    config = config or SandboxConfig()
    context = SandboxContext(config, FaultInjector(config.latency_ms), Stats())
    simulators = {cls.name: cls(context) for cls in SIMULATORS}
    state = SandboxState(config, context, simulators)
    public: list[Route] = []
    for simulator in simulators.values():
        public.extend(_prefixed(simulator.prefix, simulator.routes()))
    app = Starlette(
        routes=public + _admin_routes(state),
        middleware=[
            Middleware(_StatsMiddleware, state=state, routes=public),
            Middleware(FaultMiddleware, injector=context.faults),
        ],
    )
    app.state.sandbox = state
    return app


class SandboxServer:
    """Runs the sandbox with uvicorn in a background thread on a pre-bound loopback socket.

    `port=0` picks a free port; the socket is bound before uvicorn starts, so `.url` is
    valid as soon as `start()` returns. `tick_seconds` > 0 moves the worlds on every that many
    seconds (`ticker.WorldTicker`); 0, the default, leaves them still. Use as a context manager.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_seconds: float = 0,
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self.requested_port = port
        self.tick_seconds = tick_seconds
        self._ticker: WorldTicker | None = None
        self.app = build_app(self.config)
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SandboxState:
        """The live sandbox (worlds, faults, stats) for in-process inspection."""
        return self.app.state.sandbox

    @property
    def port(self) -> int:
        """The bound port (known once `start()` has bound the socket)."""
        if self._port is None:
            raise RuntimeError("SandboxServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321`."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Bind, start uvicorn in a daemon thread and wait until it accepts requests."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        sock.listen(128)
        sock.set_inheritable(True)
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox server failed to start")
            time.sleep(0.002)
        logger.info("sandbox listening on %s", self.url)
        if self.tick_seconds > 0:
            self._ticker = WorldTicker(self.state.simulators, self.tick_seconds).start()
        return self

    def stop(self) -> None:
        """Stop the ticker, ask uvicorn to exit, wait for the thread and close the socket."""
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    tick_seconds: float = 0,
) -> None:
    """Run the sandbox in the foreground until interrupted (for the CLI)."""
    config = config or SandboxConfig()
    logger.info("serving the sandbox on http://%s:%d (seed %d)", host, port, config.seed)
    app = build_app(config)
    ticker = WorldTicker(app.state.sandbox.simulators, tick_seconds) if tick_seconds > 0 else None
    if ticker is not None:
        ticker.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
    finally:
        if ticker is not None:
            ticker.stop()
