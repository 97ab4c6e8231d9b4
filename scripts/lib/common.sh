# Shared by scripts/bench_http.sh, profile_http.sh and perf_http.sh: the
# binaries they drive, and the checks and the build they all start with.
# Source it after `set -euo pipefail`; it defines variables and functions
# and runs nothing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="$ROOT/benches/peers"
PEERS_TARGET="$PEERS/target"
OUR_SERVER="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/server"
PEER_SERVER="$PEERS_TARGET/release/peer-server"
FLOOR_SERVER="$PEERS_TARGET/release/floor-server"
MINT="$PEERS_TARGET/release/mint"

# whole_number SCRIPT WHAT VALUE: exits 1 unless VALUE is a whole number >= 1.
whole_number() {
  if ! [[ "$3" =~ ^[1-9][0-9]*$ ]]; then
    echo "$1: $2 must be a whole number >= 1, got '$3'" >&2
    exit 1
  fi
}

# require_tools SCRIPT INSTALL_HINT TOOL...: exits 2 naming the first
# missing tool.
require_tools() {
  local script="$1" hint="$2" tool
  shift 2
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$script: $tool is not installed ($hint)" >&2
      exit 2
    fi
  done
}

# build_binaries [CARGO_ARGS...]: the example server and the peers crate
# (benches/peers, its own target directory), in release mode; CARGO_ARGS
# narrow the peers' build (--bin mint).
build_binaries() {
  (cd "$ROOT" && cargo build --release --example server) >&2
  cargo build --release --manifest-path "$PEERS/Cargo.toml" --target-dir "$PEERS_TARGET" "$@" >&2
}
