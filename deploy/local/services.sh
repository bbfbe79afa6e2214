#!/usr/bin/env bash
# The worker and the api as background processes, with the current environment.
# Usage: services.sh start|stop|status
source "$(dirname "$0")/lib.sh"

BIN="$REPO_DIR/.venv/bin/stream-health"
API_URL="http://${STREAM_HEALTH_API_HOST:-127.0.0.1}:${STREAM_HEALTH_API_PORT:-8080}"
WORKER_URL="http://${STREAM_HEALTH_WORKER_HOST:-127.0.0.1}:${STREAM_HEALTH_WORKER_PORT:-8081}"

ready() { curl -fsS -m 3 "$1/readyz" >/dev/null 2>&1; }

start_one() {
  local name=$1 url=$2
  stop_pidfile "$RUN_DIR/$name.pid" "$name"  # a second `up` restarts with the current environment
  log "starting $name (log: $LOG_DIR/$name.log)"
  setsid "$BIN" "$name" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

start() {
  [[ -x "$BIN" ]] || die "$BIN is missing: run 'make install'"
  start_one worker "$WORKER_URL"
  start_one api "$API_URL"
  wait_for 90 "worker ($WORKER_URL)" ready "$WORKER_URL" \
    || die "worker not ready within 90 s; tail of $LOG_DIR/worker.log: $(tail -n 5 "$LOG_DIR/worker.log")"
  wait_for 60 "api ($API_URL)" ready "$API_URL" \
    || die "api not ready within 60 s; tail of $LOG_DIR/api.log: $(tail -n 5 "$LOG_DIR/api.log")"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pidfile "$RUN_DIR/api.pid" api; stop_pidfile "$RUN_DIR/worker.pid" worker ;;
  status)
    for n in worker api; do
      pid_alive "$RUN_DIR/$n.pid" && echo "$n: running (pid $(cat "$RUN_DIR/$n.pid"))" || echo "$n: stopped"
    done ;;
  *) die "usage: $0 start|stop|status" ;;
esac
