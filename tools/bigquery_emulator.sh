#!/usr/bin/env bash
# Idempotent install/start/stop of a throw-away local BigQuery emulator (local-bigquery 0.3.2 on
# DuckDB 1.5.5) for tests. Everything lives under one folder; nothing is downloaded at run time
# (install needs PyPI only: the DuckDB extensions come as PyPI wheels and are installed offline).
# The venv is installed from requirements/bigquery-emulator.txt only (exact versions and hashes).
# Python 3.13 comes from, in order: $BQ_PYTHON, python3.13 (or a python3 >= 3.13) on the PATH,
# pyenv's versions, `uv python install 3.13` (uv from the project's venv; needs the network).
# usage: bigquery_emulator.sh install|start|stop|status
# env:   BQ_BASE      (default ./.bigquery)      venv, private HOME with the DuckDB extensions,
#                                                fake credentials
#        BQ_STATE     (default $BQ_BASE/state)   pid file, log, data (one folder per server)
#        BQ_PORT      (9050)  REST port            BQ_GRPC_PORT (9060)  gRPC (Storage API) port
#        BQ_PROJECT   (support-assets-test)        BQ_START_TIMEOUT (60 s)
#        BQ_PYTHON    a Python >= 3.13 to use instead of looking for one
# Point google-cloud-bigquery at it with the variables `start` prints (also in $BQ_STATE/env).
set -euo pipefail
BQ_BASE=${BQ_BASE:-$PWD/.bigquery}
BQ_STATE=${BQ_STATE:-$BQ_BASE/state}
PORT=${BQ_PORT:-9050}
GRPC_PORT=${BQ_GRPC_PORT:-9060}
PROJECT=${BQ_PROJECT:-support-assets-test}
START_TIMEOUT=${BQ_START_TIMEOUT:-60}
VENV=$BQ_BASE/venv
BQ_HOME=$BQ_BASE/home                     # private HOME: DuckDB reads ~/.duckdb/extensions
CREDENTIALS=$BQ_BASE/fake-credentials.json
STAMP=$BQ_BASE/installed.stamp
PIDFILE=$BQ_STATE/local-bigquery.pid
LOG=$BQ_STATE/local-bigquery.log
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCK=$ROOT/requirements/bigquery-emulator.txt

is_313() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1; }

find_python() {  # prints "PATH|where it came from"; a pyenv shim may exist but not run
  local c root uv
  if [ -n "${BQ_PYTHON:-}" ] && is_313 "$BQ_PYTHON"; then echo "$BQ_PYTHON|BQ_PYTHON"; return 0; fi
  for c in python3.13 python3; do
    c=$(command -v "$c" 2>/dev/null) && is_313 "$c" && { echo "$c|the PATH"; return 0; }
  done
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  for c in "$root"/versions/3.13*/bin/python3.13; do
    [ -x "$c" ] && is_313 "$c" && { echo "$c|pyenv"; return 0; }
  done
  uv=$ROOT/.venv/bin/uv; [ -x "$uv" ] || uv=$(command -v uv 2>/dev/null) || return 1
  "$uv" python install 3.13 >"$BQ_BASE/uv-python.log" 2>&1 || return 1
  c=$("$uv" python find 3.13 2>/dev/null) && is_313 "$c" && { echo "$c|uv python install"; return 0; }
  return 1
}

wanted() {  # what install should produce: the lock's content
  sha1sum < "$LOCK" | cut -c1-40
}

installed_ok() {  # venv present, pins unchanged, server importable, extensions load offline
  [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(wanted)" ] || return 1
  check_extensions >/dev/null 2>&1
}

check_extensions() {  # ducklake ATTACH and spatial LOAD with autoinstall off: fails if not installed
  local tmp rc=0; tmp=$(mktemp -d)
  HOME=$BQ_HOME "$VENV/bin/python" - "$tmp" <<'EOF' || rc=$?
import sys, duckdb, local_bigquery.cli  # noqa: F401  (the server's own entry point must import)
con = duckdb.connect(config={"autoinstall_known_extensions": False})
con.execute(f"ATTACH 'ducklake:{sys.argv[1]}/probe.ducklake' AS probe (DATA_PATH '{sys.argv[1]}/')")
con.execute("LOAD spatial; LOAD icu")
print("duckdb", duckdb.__version__, "extensions ok")
EOF
  rm -rf "$tmp"; return $rc
}

write_credentials() {  # authorized_user with a fake token valid until 2099: no call to Google
  mkdir -p "$BQ_BASE"
  cat > "$CREDENTIALS" <<'EOF'
{"type": "authorized_user", "client_id": "fake.apps.googleusercontent.com",
 "client_secret": "fake", "refresh_token": "fake", "token": "fake-token",
 "expiry": "2099-01-01T00:00:00Z", "quota_project_id": null}
EOF
}

install() {
  if installed_ok; then
    echo "local-bigquery already installed in $VENV ($("$VENV/bin/python" --version))"
    write_credentials; return 0
  fi
  mkdir -p "$BQ_BASE" "$BQ_HOME"
  local found py; found=$(find_python) || {
    echo "no Python 3.13 for the BigQuery emulator: install python3.13 (Debian 13: apt-get install" \
         "python3; or pyenv install 3.13), or set BQ_PYTHON to one" >&2; exit 1; }
  py=${found%|*}
  echo "BigQuery emulator: Python 3.13 from ${found#*|} ($py)"
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
    rm -rf "$VENV"; "$py" -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
      --require-hashes --no-deps -r "$LOCK" > "$BQ_BASE/install.log" 2>&1; then
    echo "pip install failed:" >&2; grep -v 'is ignored: it is neither' "$BQ_BASE/install.log" | tail -30 >&2
    exit 1
  fi
  # The DuckDB extensions ship inside duckdb_extension_* wheels; INSTALL from the file, never the web.
  HOME=$BQ_HOME "$VENV/bin/python" - <<'EOF'
import glob, os, duckdb, sysconfig
files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"],
                                      "duckdb_extension_*", "extensions", "*", "*.duckdb_extension")))
assert files, "no .duckdb_extension file in the duckdb_extension_* packages"
con = duckdb.connect()
for path in files:
    con.execute(f"FORCE INSTALL '{path}'")
EOF
  check_extensions || { echo "DuckDB extensions do not load offline" >&2; exit 1; }
  wanted > "$STAMP"; write_credentials
  echo "installed local-bigquery $("$VENV/bin/python" -m pip show local-bigquery 2>/dev/null \
       | sed -n 's/^Version: //p') in $VENV ($("$VENV/bin/python" --version))"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

ready() {  # $1 = seconds to wait; the REST API lists the project's datasets while the pid lives
  "$VENV/bin/python" - "$PORT" "$PROJECT" "$1" "$(cat "$PIDFILE" 2>/dev/null || echo 0)" <<'EOF'
import json, os, sys, time, urllib.error, urllib.request
port, project, wait, pid = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
url = f"http://127.0.0.1:{port}/bigquery/v2/projects/{project}/datasets"
deadline, errors = time.monotonic() + wait, 0
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if json.load(r).get("kind") == "bigquery#datasetList":
                sys.exit(0)
    except urllib.error.HTTPError as e:               # it answers, but fails: no point waiting
        errors += 1
        if errors >= 3:
            print(f"GET {url} -> HTTP {e.code}: {e.read()[:300].decode(errors='replace')}",
                  file=sys.stderr)
            sys.exit(4)
    except (OSError, ValueError):
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(3)                                   # the server died
    if time.monotonic() >= deadline:
        sys.exit(1)
    time.sleep(0.1)
EOF
}

port_busy() {  # true when something already listens on 127.0.0.1:$1
  "$VENV/bin/python" -c 'import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

how_to_reach() {
  cat > "$BQ_STATE/env" <<EOF
export BIGQUERY_EMULATOR_HOST=http://127.0.0.1:$PORT
export GOOGLE_CLOUD_PROJECT=$PROJECT
export GOOGLE_APPLICATION_CREDENTIALS=$CREDENTIALS
export NO_GCE_CHECK=true
EOF
  echo "local-bigquery up (pid $(cat "$PIDFILE"), REST http://127.0.0.1:$PORT," \
       "gRPC 127.0.0.1:$GRPC_PORT, project $PROJECT, data $BQ_STATE/data, log $LOG)"
  echo "reach it with (source $BQ_STATE/env):"; sed 's/^/  /' "$BQ_STATE/env"
  echo "  and keep google-cloud-bigquery-storage out of the path, or pass create_bqstorage_client=False"
}

fail_start() {
  echo "local-bigquery did not come up on 127.0.0.1:$PORT: $1. Last lines of $LOG:" >&2
  tail -40 "$LOG" >&2 || true
  stop >/dev/null 2>&1 || true
  exit 1
}

start() {  # (a quick check only: a broken install shows up in the server log)
  [ -x "$VENV/bin/local-bigquery" ] && [ -f "$STAMP" ] \
    || { echo "not installed in $VENV: run '$0 install' first" >&2; exit 1; }
  mkdir -p "$BQ_STATE"
  if running; then
    local was; was=$(cat "$BQ_STATE/ports" 2>/dev/null || true)
    if [ "$was" = "$PORT $GRPC_PORT $PROJECT" ] && ready 5; then
      echo "already running (pid $(cat "$PIDFILE"))"; how_to_reach; return 0
    fi
    [ "$was" = "$PORT $GRPC_PORT $PROJECT" ] || {
      echo "already running (pid $(cat "$PIDFILE")) with ports/project '$was', not" \
           "'$PORT $GRPC_PORT $PROJECT': stop it first or use another BQ_STATE" >&2; exit 1; }
    stop
  fi
  local p; for p in "$PORT" "$GRPC_PORT"; do
    port_busy "$p" && { echo "port $p on 127.0.0.1 is already in use by another process" >&2; exit 1; }
  done
  write_credentials
  echo "$PORT $GRPC_PORT $PROJECT" > "$BQ_STATE/ports"
  HOME=$BQ_HOME nohup "$VENV/bin/local-bigquery" serve --host 127.0.0.1 --port "$PORT" \
    --grpc-port "$GRPC_PORT" --project "$PROJECT" --data-dir "$BQ_STATE/data" \
    > "$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  local rc=0; ready "$START_TIMEOUT" || rc=$?
  case $rc in
    0) how_to_reach ;;
    3) fail_start "the server exited" ;;
    4) fail_start "it answers with errors (broken install? run '$0 install')" ;;
    *) fail_start "no answer after ${START_TIMEOUT}s" ;;
  esac
}

stop() {
  running || { rm -f "$PIDFILE"; echo "not running"; return 0; }
  local pid; pid=$(cat "$PIDFILE"); kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$PIDFILE"; echo "stopped pid $pid"
}

status() {
  if ! running; then echo "stopped"; exit 1; fi
  read -r PORT GRPC_PORT PROJECT < "$BQ_STATE/ports"
  if ready 2; then
    echo "running pid $(cat "$PIDFILE"), REST http://127.0.0.1:$PORT, gRPC 127.0.0.1:$GRPC_PORT, project $PROJECT"
  else
    echo "pid $(cat "$PIDFILE") alive but not answering on http://127.0.0.1:$PORT (log $LOG)"; exit 1
  fi
}

case "${1:-}" in
  install) install ;;
  start)   start ;;
  stop)    stop ;;
  status)  status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
