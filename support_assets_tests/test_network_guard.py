"""The socket guard the tests use to prove that code reaches only loopback."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from support_assets_tests.support.loopback import serve_app
from support_assets_tests.support.network_guard import (
    ForeignHostRefused,
    is_loopback,
    network_guard,
)


def test_loopback_names_and_addresses() -> None:
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.8.9.1", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["example.org", "10.0.0.1", "192.0.2.1", "::ffff:1.2.3.4"]))


def test_a_local_server_is_recorded_and_allowed() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    with serve_app(app) as url, network_guard() as guard:
        assert httpx.get(url).text == "ok"
    assert "127.0.0.1" in guard.hosts and guard.foreign_hosts == []


def test_a_foreign_host_is_refused_before_any_packet() -> None:
    with network_guard() as guard, pytest.raises(httpx.ConnectError):
        httpx.get("https://example.org/")
    assert guard.foreign_hosts == ["example.org"]


def test_a_raw_connect_to_a_foreign_address_is_refused() -> None:
    with network_guard() as guard, pytest.raises(ForeignHostRefused):
        with socket.socket() as sock:
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: refused by the guard, never sent
    assert guard.foreign_hosts == ["192.0.2.1"]


def test_a_background_thread_is_seen_too() -> None:
    def lookup() -> None:
        try:
            socket.getaddrinfo("iamcredentials.googleapis.com", 443)
        except OSError:
            pass

    with network_guard() as guard:
        threading.Thread(target=lookup).start()
    assert guard.foreign_hosts == ["iamcredentials.googleapis.com"]
