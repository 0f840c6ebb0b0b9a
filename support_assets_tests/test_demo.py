"""``support-assets demo`` (what ``make demo`` runs): sandbox, a first full materialization, the
UI, and Ctrl-C stopping everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support_assets_tests.e2e_helpers import (
    deployment_env,
    free_port,
    make_warehouse,
    stop_process_group,
    table_count,
    tail,
    venv_executable,
)


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line mentions ``marker`` (a path unique to this test)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_demo_materializes_everything_opens_the_ui_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "demo")
    sandbox_port, ui_port = free_port(), free_port()
    env = deployment_env(warehouse, f"http://127.0.0.1:{sandbox_port}")
    env.pop("OCTADESK_BASE_URL")  # the demo finds its own sandbox through SUPPORT_SANDBOX_URL
    env.pop("OCTADESK_API_KEY")
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [
                venv_executable("support-assets"),
                "demo",
                "--port",
                str(sandbox_port),
                "--ui-port",
                str(ui_port),
                "--octadesk-tickets",
                "120",
                "--octadesk-chats",
                "40",
                "--dagster-home",
                str(warehouse.dagster_home),
            ],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 150
        while True:
            assert demo.poll() is None, f"demo exited early:\n{tail(log)}"
            try:
                if httpx.get(f"http://127.0.0.1:{ui_port}/server_info", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the UI never answered:\n{tail(log)}"
            time.sleep(1)
        # The UI opens on real tables: the first materialization ran before it.
        assert "the first materialization failed" not in log.read_text()
        assert (table_count(warehouse.duckdb_path, "staging.octadesk_tickets") or 0) == 120
        assert (table_count(warehouse.duckdb_path, "staging.octadesk_chats") or 0) == 40
        assert processes_mentioning(str(warehouse.dagster_home))

        demo.send_signal(signal.SIGINT)  # what Ctrl-C delivers to the foreground process
        demo.wait(timeout=90)
        # dagster dev gets SIGTERM, then SIGKILL after 30 s; a loaded 2-core CI needs the margin.
        deadline = time.monotonic() + 60
        while left := processes_mentioning(str(warehouse.dagster_home)):
            assert time.monotonic() < deadline, (
                f"processes the demo started are still running: {left}\n{tail(log)}"
            )
            time.sleep(0.5)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{sandbox_port}/_admin/health", timeout=2)
    finally:
        stop_process_group(demo)
