"""A chat whose events or messages answer 404 keeps what an earlier run captured: an
Octadesk-shaped server on loopback, the real raw chats asset and the DuckDB warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.definitions import build_resources
from support_assets.sources.octadesk.assets import octadesk_raw_chats
from support_assets_tests.support.loopback import serve_app

EVENTS = [{"type": "created", "date": "2026-11-01T10:00:00.000Z"}]
MESSAGES = [{"id": "m1", "body": "Olá, preciso de ajuda", "time": "2026-11-01T10:00:05.000Z"}]


class Octadesk:
    def __init__(self) -> None:
        self.gone: set[str] = set()  # chats whose events and messages now answer 404
        self.chats = [
            {
                "id": chat_id,
                "number": n,
                "status": "closed",
                "channel": "whatsapp",
                "createdAt": "2026-11-01T10:00:00.000Z",
                "updatedAt": f"2026-11-01T1{n}:00:00.000Z",
            }
            for n, chat_id in enumerate(["chat-a", "chat-b"], start=1)
        ]

    async def listing(self, request: Request) -> Response:
        return JSONResponse(self.chats, headers={"X-Total-Pages": "1"})

    async def events(self, request: Request) -> Response:
        if request.path_params["chat_id"] in self.gone:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(EVENTS)

    async def messages(self, request: Request) -> Response:
        if request.path_params["chat_id"] in self.gone:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(MESSAGES, headers={"X-Total-Pages": "1"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/chat", self.listing),
                Route("/chat/{chat_id}/events", self.events),
                Route("/chat/{chat_id}/messages", self.messages),
            ]
        )


def stored(path: str) -> dict[str, tuple]:
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute("select id, events, messages from raw.octadesk_chats").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_a_404_while_enriching_keeps_the_messages_and_events_already_captured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Octadesk()
    with serve_app(server.app()) as url, DagsterInstance.ephemeral() as instance:
        env = {
            "SUPPORT_DATA_DIR": str(tmp_path / "data"),
            "SUPPORT_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "OCTADESK_BASE_URL": url,
            "OCTADESK_API_KEY": "test-octadesk-key",
            "SUPPORT_PSEUDONYM_KEY": "test-pseudonym-key",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        resources = build_resources(env)

        def run() -> None:
            result = materialize([octadesk_raw_chats], resources=resources, instance=instance)
            assert result.success

        run()
        first = stored(env["SUPPORT_DUCKDB_PATH"])
        assert {k: tuple(map(json.loads, v)) for k, v in first.items()} == {
            "chat-a": (EVENTS, MESSAGES),
            "chat-b": (EVENTS, MESSAGES),
        }

        server.gone.add("chat-a")  # purged upstream, or a transient 404
        server.chats[0]["updatedAt"] = "2026-11-02T10:00:00.000Z"
        run()
    second = stored(env["SUPPORT_DUCKDB_PATH"])
    assert second["chat-a"] == first["chat-a"]  # not overwritten with []
    assert second["chat-b"] == first["chat-b"]
    with duckdb.connect(env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        marks = dict(con.execute("select id, enrichment from raw.octadesk_chats").fetchall())
    assert marks == {"chat-a": "not_found", "chat-b": "ok"}
