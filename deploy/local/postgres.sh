#!/usr/bin/env bash
# PostgreSQL from Debian's packages: a private cluster holding the stream_health database.
# Usage: postgres.sh install|start|stop|crash|status|psql [args]  (crash: immediate stop)
source "$(dirname "$0")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-5432}"
PG_DB="${PG_DB:-stream_health}"
PG_USER="${PG_USER:-stream_health}"
PG_PASSWORD="${PG_PASSWORD:-stream_health}"
PIDFILE="$RUN_DIR/postgres.pid"

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$d" && -x "$d/initdb" ]] && echo "$d"
}

install() {
  pg_bindir >/dev/null && return 0
  log "installing Debian's postgresql packages"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >"$LOG_DIR/postgres-install.log" 2>&1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-contrib \
    >>"$LOG_DIR/postgres-install.log" 2>&1 || die "apt-get install postgresql failed (see $LOG_DIR/postgres-install.log)"
}

# The server refuses to run as root, so root runs it as Debian's 'postgres' user, whose
# data directory must be reachable: fall back to /var/tmp when the checkout is not.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

data_dir() {
  local here="$STACK_DIR/postgres"
  if [[ $(id -u) -ne 0 ]] || runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; then
    echo "$here"
  else
    echo "/var/tmp/stream-health-pg-$(echo -n "$STACK_DIR" | sha1sum | cut -c1-12)"
  fi
}

start() {
  install
  local bin data
  bin=$(pg_bindir)
  data=$(data_dir)
  if pid_alive "$PIDFILE"; then
    log "postgres already running (pid $(cat "$PIDFILE"))"
    return 0
  fi
  port_open "$PG_HOST" "$PG_PORT" && die "port $PG_PORT is taken by a process this stack did not start (is Debian's own cluster running? 'pg_ctlcluster 15 main stop')"
  mkdir -p "$data"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$data" && chmod 700 "$data"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    log "initialising a cluster in $data"
    local pwfile
    pwfile=$(mktemp)
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    chmod 644 "$pwfile"
    as_owner "$bin/initdb" -D "$data" -U "$PG_USER" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 \
      >>"$LOG_DIR/postgres.log" 2>&1 || { rm -f "$pwfile"; die "initdb failed (see $LOG_DIR/postgres.log)"; }
    rm -f "$pwfile"
  fi
  touch "$LOG_DIR/postgres.log"
  [[ $(id -u) -eq 0 ]] && chown postgres "$LOG_DIR/postgres.log"
  log "starting postgres on $PG_HOST:$PG_PORT"
  # WAL: the worker writes about 1.1 GB of it per million events. With the stock 8 MB of
  # wal_buffers the backends wrote it out themselves a block at a time (pg_stat_wal's
  # wal_buffers_full: 250k in one list-flush round), and at the stock 1 GB max_wal_size each
  # run forced two checkpoints, after which every page's first change is logged whole. 64 MB
  # and 4 GB: the list flush's insert and update rounds ran 15-20% faster (bench/RESULTS.md).
  as_owner "$bin/pg_ctl" -D "$data" -l "$LOG_DIR/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=$PG_HOST -p $PG_PORT -k $data -c max_connections=200 -c shared_buffers=256MB -c wal_buffers=64MB -c max_wal_size=4GB -c fsync=on -c shared_preload_libraries=pg_stat_statements" \
    >/dev/null || die "postgres did not start (see $LOG_DIR/postgres.log)"
  head -n 1 "$data/postmaster.pid" >"$PIDFILE"
  wait_for 30 "postgres" "$bin/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" || die "postgres is not accepting connections"
  PGPASSWORD="$PG_PASSWORD" "$bin/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAq \
    -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1 \
    || PGPASSWORD="$PG_PASSWORD" "$bin/createdb" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
}

stop() {
  local mode=${1:-fast} bin data
  bin=$(pg_bindir) || return 0
  data=$(data_dir)
  if pid_alive "$PIDFILE" && [[ -f "$data/postmaster.pid" ]]; then
    log "stopping postgres"
    as_owner "$bin/pg_ctl" -D "$data" -m "$mode" -w stop >/dev/null || stop_pidfile "$PIDFILE" postgres
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  crash) stop immediate ;;
  status) pid_alive "$PIDFILE" && echo "postgres: running (pid $(cat "$PIDFILE"))" || echo "postgres: stopped" ;;
  psql) shift; PGPASSWORD="$PG_PASSWORD" "$(pg_bindir)/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" "$@" ;;
  *) die "usage: $0 install|start|stop|crash|status|psql" ;;
esac
