"""A socket-level guard for tests: records every host the code under test tries to reach and
refuses any that is not on loopback, before a packet leaves the machine.

It wraps the two doors every Python HTTP stack goes through: name resolution
(`socket.getaddrinfo`, used by requests/urllib3, httpx and google-auth alike) and `connect` on a
socket. It sees background threads too, which a mocked transport would not."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for `localhost` and any address in 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ForeignHostRefused(OSError):
    """The code under test tried to reach a host off this machine."""


@dataclass
class NetworkGuard:
    """What was attempted while the guard was on."""

    hosts: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _record(self, host: Any) -> None:
        name = host.decode() if isinstance(host, bytes) else str(host)
        with self._lock:
            self.hosts.append(name)
        if not is_loopback(name):
            raise ForeignHostRefused(f"network guard: {name} is not on loopback")

    @property
    def foreign_hosts(self) -> list[str]:
        """Every host off loopback that was attempted (and refused), in order."""
        return [host for host in self.hosts if not is_loopback(host)]


@contextmanager
def network_guard(wait_for_threads: float = 5.0) -> Iterator[NetworkGuard]:
    """Record and refuse non-loopback hosts; on exit, wait for threads started meanwhile, so a
    background lookup made after the code under test returned is still seen."""
    guard = NetworkGuard()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    before = set(threading.enumerate())

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None:
            guard._record(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            guard._record(address[0])
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            guard._record(address[0])
        return real_connect_ex(sock, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield guard
        deadline = time.monotonic() + wait_for_threads
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
