#!/usr/bin/env bash
# `make demo`: (re)start the worker and api with a demo service token, run the simulated
# fleet, then show what the admin list endpoint serves. The token lives in .stack/run only.
source "$(dirname "$0")/lib.sh"

PY="$REPO_DIR/.venv/bin/python"
TOKEN_FILE="$RUN_DIR/demo-token"
if [[ ! -s "$TOKEN_FILE" ]]; then
  (umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$TOKEN_FILE")
fi
digest=$(tr -d '\n' <"$TOKEN_FILE" | sha256sum | cut -d' ' -f1)
export STREAM_HEALTH_SERVICE_TOKENS="${STREAM_HEALTH_SERVICE_TOKENS:+$STREAM_HEALTH_SERVICE_TOKENS,}$digest"
bash "$(dirname "$0")/services.sh" start
"$REPO_DIR/.venv/bin/stream-health" simulate
API_URL="http://${STREAM_HEALTH_API_HOST:-127.0.0.1}:${STREAM_HEALTH_API_PORT:-8080}" \
  TOKEN_FILE="$TOKEN_FILE" "$PY" - <<'PY'
import os

import httpx
from rich.console import Console
from rich.table import Table

url = os.environ["API_URL"] + "/api/admin/v1/streams/inactive"
token = open(os.environ["TOKEN_FILE"]).read().strip()
headers = {"Authorization": f"Bearer {token}"}
console = Console(width=max(Console().width, 110))
for condition in (None, "incorrect", "problematic", "disabled"):
    params = {"per_page": 5, "sort": "disconnections_count", "dir": "desc"}
    if condition:
        params["condition"] = condition
    body = httpx.get(url, params=params, headers=headers, timeout=10).json()
    title = f"condition={condition or '(any)'}: {body['meta']['total']} streams, top 5"
    table = Table(title=title)
    for column in ("id", "camera", "main server", "conditions", "count", "last reconnect"):
        table.add_column(column, no_wrap=True)
    for item in body["data"]:
        table.add_row(
            str(item["id"]),
            (item["camera"] or {}).get("name") or "-",
            (item["server"] or {}).get("domain") or "-",
            ", ".join(item["conditions"]),
            str(item["disconnections_count"]),
            item["reconnect_time"] or "-",
        )
    console.print(table)
PY
echo
echo "worker: http://127.0.0.1:8081/metrics   api: http://127.0.0.1:8080/docs   logs: .stack/logs/"
echo "the list endpoint, with the demo token:"
echo "  curl -s -H \"Authorization: Bearer \$(cat .stack/run/demo-token)\" 'http://127.0.0.1:8080/api/admin/v1/streams/inactive?condition=problematic&per_page=5'"
echo "stop everything with: make down"
