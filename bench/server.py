"""The sandbox in its own process (so the loaders and the simulator do not share a GIL).

``python bench/server.py PORT TICKETS LATENCY_MS`` serves until terminated; no access log.
"""

import sys

import uvicorn

from support_assets.sandbox.server import SandboxConfig, build_app


def main() -> None:
    port, tickets, latency_ms = (int(a) for a in sys.argv[1:4])
    config = SandboxConfig(octadesk_tickets=tickets, octadesk_chats=10, latency_ms=latency_ms)
    uvicorn.run(
        build_app(config),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
