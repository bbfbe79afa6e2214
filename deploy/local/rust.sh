#!/usr/bin/env bash
# The Rust toolchain that builds shared/native (the worker's compiled paths, through maturin
# when `uv sync` installs the project): the machine's own cargo when it is at least RUST_MIN,
# else RUST_VERSION, installed once by rustup (checksum verified) into .stack/rust.
# Usage: rust.sh install          find or install it
#        rust.sh run COMMAND...   run COMMAND with that cargo first on PATH
source "$(dirname "$0")/lib.sh"

RUST_MIN="${RUST_MIN:-1.78.0}"   # Cargo.lock v4 needs cargo 1.78 (pyo3 0.27: rustc 1.74)
RUST_VERSION="${RUST_VERSION:-1.95.0}"
RUST_HOME="$STACK_DIR/rust"
RUSTUP_INIT_URL="https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init"

# new_enough DIR: DIR/cargo and DIR/rustc exist, rustc is at least RUST_MIN, and cargo has
# the fmt and clippy that `make lint` runs.
new_enough() {
  local version
  [[ -x "$1/cargo" && -x "$1/rustc" ]] || return 1
  version=$("$1/rustc" --version 2>/dev/null | awk '{print $2}') || return 1
  [[ "$(printf '%s\n%s\n' "$RUST_MIN" "$version" | sort -V | head -1)" == "$RUST_MIN" ]] || return 1
  PATH="$1:$PATH" "$1/cargo" fmt --version >/dev/null 2>&1 \
    && PATH="$1:$PATH" "$1/cargo" clippy --version >/dev/null 2>&1
}

# locate: put a usable cargo first on PATH (and point rustup at .stack's); false if none.
locate() {
  local dir
  for dir in "$(dirname "$(command -v cargo 2>/dev/null || echo /nonexistent/cargo)")" \
    "$HOME/.cargo/bin"; do
    if new_enough "$dir"; then
      export PATH="$dir:$PATH"
      return 0
    fi
  done
  [[ -d "$RUST_HOME/cargo/bin" ]] || return 1
  export RUSTUP_HOME="$RUST_HOME/rustup" CARGO_HOME="$RUST_HOME/cargo" PATH="$RUST_HOME/cargo/bin:$PATH"
  new_enough "$RUST_HOME/cargo/bin"
}

install() {
  locate && return 0
  [[ "$(uname -m)" == x86_64 ]] || die "no cargo >= $RUST_MIN found: install Rust (https://rustup.rs)"
  command -v curl >/dev/null || die "curl is required to install Rust: apt-get install curl"
  log "installing Rust $RUST_VERSION with rustup into $RUST_HOME (no cargo >= $RUST_MIN found)"
  rm -rf "$RUST_HOME"
  mkdir -p "$RUST_HOME"
  curl -fsSL --retry 3 -o "$RUST_HOME/rustup-init" "$RUSTUP_INIT_URL"
  curl -fsSL --retry 3 -o "$RUST_HOME/rustup-init.sha256" "$RUSTUP_INIT_URL.sha256"
  (cd "$RUST_HOME" && echo "$(awk '{print $1}' rustup-init.sha256)  rustup-init" | sha256sum -c --quiet -) \
    || die "rustup-init does not match its published checksum"
  chmod +x "$RUST_HOME/rustup-init"
  RUSTUP_HOME="$RUST_HOME/rustup" CARGO_HOME="$RUST_HOME/cargo" RUSTUP_INIT_SKIP_PATH_CHECK=yes \
    "$RUST_HOME/rustup-init" -y -q --no-modify-path --profile minimal -c rustfmt -c clippy \
    --default-toolchain "$RUST_VERSION" >"$LOG_DIR/rust-install.log" 2>&1 \
    || die "rustup failed (see $LOG_DIR/rust-install.log)"
  locate || die "the installed Rust is not usable (see $LOG_DIR/rust-install.log)"
}

case "${1:-}" in
  install) install ;;
  run)
    shift
    install
    exec "$@"
    ;;
  *) die "usage: $0 install | run COMMAND..." ;;
esac
