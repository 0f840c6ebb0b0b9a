"""A real ActiveMQ broker for tests, run by ``tools/activemq.sh`` (Debian's activemq 5.17).

    with running_activemq() as broker:          # the session fixture ``activemq`` in conftest
        broker.env                              # STOMP_HOST / STOMP_PORT for the platform
        broker.restart()                        # tools/activemq.sh stop + start, same data

Each context gets its own broker: free STOMP and OpenWire ports and a private ``AMQ_BASE`` (KahaDB
data, config, log) under ``<repo>/.activemq/`` (git-ignored), deleted on exit. Installing the
package is ``make test-deps``' job (``tools/activemq.sh install``, needs root); when it is
missing, or the broker cannot start, this raises with the script's output and the broker's log.
Nothing is skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools" / "activemq.sh"
DEFAULT_BASE_DIR = REPO_ROOT / ".activemq"
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 60


class ActiveMQError(RuntimeError):
    """The broker could not be started, stopped or kept running (the message has its log)."""


@dataclasses.dataclass
class ActiveMQBroker:
    base: Path
    stomp_port: int
    openwire_port: int
    host: str = "127.0.0.1"

    @property
    def script_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AMQ_BASE": str(self.base),
            "AMQ_STOMP_PORT": str(self.stomp_port),
            "AMQ_OPENWIRE_PORT": str(self.openwire_port),
        }

    @property
    def env(self) -> dict[str, str]:
        """The platform's settings that point it at this broker."""
        return {"STOMP_HOST": self.host, "STOMP_PORT": str(self.stomp_port)}

    def start(self) -> str:
        return _run_script("start", self, START_TIMEOUT_S)

    def stop(self) -> str:
        return _run_script("stop", self, STOP_TIMEOUT_S)

    def restart(self) -> None:
        """``tools/activemq.sh stop`` then ``start``: persistent messages must survive it."""
        self.stop()
        self.start()

    def alive(self) -> bool:
        try:
            _run_script("status", self, 30)
        except ActiveMQError:
            return False
        return True

    def log_tail(self, lines: int = 40) -> str:
        path = self.base / "activemq.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(no log: {error})"


@contextlib.contextmanager
def running_activemq(
    base_dir: str | os.PathLike[str] = DEFAULT_BASE_DIR,
) -> Iterator[ActiveMQBroker]:
    """Starts a private broker on free ports; stops it and deletes its data on exit."""
    if not Path("/usr/share/activemq/bin/activemq.jar").is_file():
        raise ActiveMQError(
            "Debian's activemq is not installed: run `make test-deps` "
            f"(or `sudo {SCRIPT.relative_to(REPO_ROOT)} install`)"
        )
    root = Path(base_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="test-", dir=root))
    broker: ActiveMQBroker | None = None
    try:
        for attempt in range(3):  # a free port can be taken between our probe and the bind
            stomp_port, openwire_port = _free_ports(2)
            broker = ActiveMQBroker(base, stomp_port, openwire_port)
            try:
                broker.start()
                break
            except ActiveMQError as error:
                message = str(error).lower()
                if attempt == 2 or not ("in use" in message or "bind" in message):
                    raise
        assert broker is not None
        yield broker
        if not broker.alive():
            raise ActiveMQError(f"ActiveMQ died during the tests; log:\n{broker.log_tail()}")
    finally:
        if broker is not None:
            with contextlib.suppress(ActiveMQError):
                broker.stop()
        shutil.rmtree(base, ignore_errors=True)


def _run_script(command: str, broker: ActiveMQBroker, timeout: float) -> str:
    if not SCRIPT.is_file():
        raise ActiveMQError(f"{SCRIPT} is missing")
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), command],
            env=broker.script_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        raise ActiveMQError(
            f"`activemq.sh {command}` timed out after {timeout:.0f}s\n"
            f"{error.stdout or ''}{error.stderr or ''}\nlog:\n{broker.log_tail()}"
        ) from error
    if done.returncode != 0:
        raise ActiveMQError(
            f"`activemq.sh {command}` failed (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}\nlog:\n{broker.log_tail()}"
        )
    return done.stdout


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
