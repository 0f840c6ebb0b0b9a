#!/usr/bin/env bash
# Idempotent install/start/stop of a private PostgreSQL server (Debian's `postgresql` package) for
# Dagster's instance storage in the tests and on a single server.
#
# usage: postgres.sh install|start|stop|status|env   (only 'install' needs root or sudo)
# env:   PG_BASE      folder of the cluster (default ./.postgres): data/, run/ (socket), postgres.log
#        PG_PORT      TCP port on 127.0.0.1 (default 55432); start refuses a port already taken
#        PG_USER      role the platform connects as, a superuser of this private cluster
#                     (default support_assets)
#        PG_PASSWORD  its password (default support_assets; TCP connections need it: scram-sha-256)
#        PG_DB        database created for Dagster (default dagster)
#
# The server listens on loopback only; the Unix socket lives in $PG_BASE/run. PostgreSQL refuses to
# run as root, so when this script runs as root the cluster belongs to the `postgres` system user
# (runuser -u postgres --) and $PG_BASE is chowned to it.
# 'env' prints the DAGSTER_PG_* settings that deploy/dagster.yaml reads, for `eval "$(...)"`.
set -euo pipefail
PG_BASE=${PG_BASE:-$PWD/.postgres}
PG_PORT=${PG_PORT:-55432}
PG_USER=${PG_USER:-support_assets}
PG_PASSWORD=${PG_PASSWORD:-support_assets}
PG_DB=${PG_DB:-dagster}
DATA=$PG_BASE/data
RUN=$PG_BASE/run
LOG=$PG_BASE/postgres.log

pg_bin() {  # the newest installed server's bin folder
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

install() {
  if bin=$(pg_bin); then echo "postgresql already installed ($("$bin/postgres" --version))"; return 0; fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || { echo "installing postgresql needs root: run 'sudo $0 install'" >&2; return 1; }
    sudo=(sudo -n)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(pg_bin) || { echo "postgresql installed but no server binaries found" >&2; return 1; }
  echo "installed: $("$bin/postgres" --version)"
}

as_owner() {  # run a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

require_bin() {
  BIN=$(pg_bin) || { echo "postgresql is not installed: run '$0 install'" >&2; exit 1; }
}

running() { [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

port_taken() {
  python3 - "$PG_PORT" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1]))); sys.exit(0)
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

init_cluster() {
  mkdir -p "$PG_BASE"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_BASE"
  as_owner mkdir -p "$RUN"
  chmod 700 "$PG_BASE" 2>/dev/null || true
  [ -f "$DATA/PG_VERSION" ] && return 0
  local pwfile
  pwfile=$(as_owner mktemp "$PG_BASE/pw.XXXXXX")
  printf '%s\n' "$PG_PASSWORD" | as_owner tee "$pwfile" >/dev/null
  as_owner "$BIN/initdb" -D "$DATA" -U "$PG_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$PG_BASE/initdb.log" 2>&1 \
    || { as_owner rm -f "$pwfile"; echo "initdb failed:"; cat "$PG_BASE/initdb.log"; return 1; }
  as_owner rm -f "$pwfile"
  # Loopback only; the socket in our own folder (not /var/run/postgresql, which may not exist).
  as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# written by tools/postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN'
max_connections = 100
shared_buffers = 64MB
fsync = on
EOF
}

psql_local() { as_owner "$BIN/psql" -h "$RUN" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

start() {
  require_bin
  if running; then
    echo "already running (pid $(head -1 "$DATA/postmaster.pid"), 127.0.0.1:$(sed -n 4p "$DATA/postmaster.pid"))"
    return 0
  fi
  if port_taken; then echo "port $PG_PORT is already taken on 127.0.0.1 (another server?); set PG_PORT" >&2; return 1; fi
  init_cluster
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p $PG_PORT" start >/dev/null \
    || { echo "postgres did not start:"; tail -40 "$LOG"; return 1; }
  if [ "$(psql_local -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
    psql_local -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
  fi
  echo "PostgreSQL up (pid $(head -1 "$DATA/postmaster.pid"), 127.0.0.1:$PG_PORT, database $PG_DB, user $PG_USER)"
}

stop() {
  require_bin
  running || { echo "not running"; return 0; }
  as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  echo "stopped"
}

status() {
  require_bin
  if running; then echo "running (pid $(head -1 "$DATA/postmaster.pid"), 127.0.0.1:$(sed -n 4p "$DATA/postmaster.pid"))"
  else echo "stopped"; return 1; fi
}

print_env() {
  cat <<EOF
export DAGSTER_PG_HOST=127.0.0.1
export DAGSTER_PG_PORT=$PG_PORT
export DAGSTER_PG_USER=$PG_USER
export DAGSTER_PG_PASSWORD=$PG_PASSWORD
export DAGSTER_PG_DB=$PG_DB
EOF
}

case "${1:-}" in
  install) install ;;
  start)   start ;;
  stop)    stop ;;
  status)  status ;;
  env)     print_env ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
