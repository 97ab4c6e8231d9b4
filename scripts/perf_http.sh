#!/usr/bin/env bash
# Where a request's native CPU time goes in the example server under wrk
# load: the time-based companion of scripts/profile_http.sh (callgrind
# counts instructions, runs SHA-256 without SHA-NI and sees no kernel).
#
# For each case it starts examples/server.rs (release) on an HS256 JWKS,
# drives one route with wrk (same threads and connections as
# scripts/bench_http.sh), samples the server's threads with `perf record`
# (cpu-clock, DWARF call stacks) in the middle of the run, and prints the
# server's CPU time per request and the inclusive share of the parts that
# matter (the layer, the verification and its pieces, the handler, the
# kernel):
#   healthz:    GET /healthz (the HTTP floor)
#   whoami:     GET /whoami, current-key token, cache off
#   whoami+hit: GET /whoami, same token, cache on (every request a hit)
#
# Read the shares within one case; µs per request move with the machine's
# load like req/s do, the shares much less.
#
# Usage: scripts/perf_http.sh [seconds_sampled]          # default 4
# Needs: cargo, curl, perf (allowed to sample this user's processes:
# kernel.perf_event_paranoid <= 2), wrk, python3.
# Knobs: BENCH_PORT (39400; uses this port and the next), PERF_FREQ (999 Hz),
# BENCH_THREADS (2), BENCH_CONNECTIONS (32).
set -euo pipefail

SECONDS_SAMPLED="${1:-4}"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
whole_number perf_http "seconds" "$SECONDS_SAMPLED"
require_tools perf_http "Debian/Ubuntu: sudo apt-get install linux-perf wrk curl python3" \
  perf wrk curl cargo python3

PORT="${BENCH_PORT:-39400}"
ADMIN_PORT=$((PORT + 1))
FREQ="${PERF_FREQ:-999}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/perf_http.XXXXXX")"
SERVER_PID=""

cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building (release): the example server and mint" >&2
build_binaries --bin mint

"$MINT" gen-hs256 --kid hs-current --kid hs-previous --out "$WORK/hs256.jwks.json"
TOKEN="$("$MINT" token --keys "$WORK/hs256.jwks.json" --kid hs-current --alg HS256 --ttl 7200)"

# Samples one case; writes $WORK/<name>.stacks and $WORK/<name>.requests.
sample() { # name path token_cache_entries
  local name="$1" path="$2" cache="$3" load
  "$OUR_SERVER" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --admin-token "perf-http-admin-token-not-a-secret" --keys "$WORK/hs256.jwks.json" \
    --token-cache "$cache" >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  local tries=0
  until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do
    tries=$((tries + 1))
    ((tries < 100)) || { cat "$WORK/$name.log" >&2; echo "perf_http: the server did not start" >&2; exit 1; }
    sleep 0.1
  done
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path" >/dev/null
  # wrk runs 2 s longer than perf samples: 1 s to ramp up, 1 s to spare.
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$((SECONDS_SAMPLED + 2))s" -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT$path" >"$WORK/$name.wrk" &
  load=$!
  sleep 1
  perf record -q -F "$FREQ" --call-graph dwarf,16384 -p "$SERVER_PID" -o "$WORK/$name.data" \
    -- sleep "$SECONDS_SAMPLED" 2>/dev/null
  wait "$load"
  if grep -q 'Non-2xx' "$WORK/$name.wrk"; then
    echo "perf_http: $name: the server refused requests: $(grep 'Non-2xx' "$WORK/$name.wrk")" >&2
    exit 1
  fi
  awk -v s="$SECONDS_SAMPLED" '/Requests\/sec/ { printf "%d\n", $2 * s }' "$WORK/$name.wrk" >"$WORK/$name.requests"
  perf script -i "$WORK/$name.data" -F ip,sym,dso 2>/dev/null >"$WORK/$name.stacks"
  rm -f "$WORK/$name.data"
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  echo "   sampled $name" >&2
}

echo "== sampling ${SECONDS_SAMPLED} s per case at $FREQ Hz" >&2
sample healthz /healthz 0
sample whoami /whoami 0
sample whoami+hit /whoami 10000

python3 - "$WORK" "$FREQ" <<'PY'
import sys
work, freq = sys.argv[1], float(sys.argv[2])

# (label, substring of a frame's symbol); a sample counts once per part.
PARTS = [
    ("the layer (JwtService::call)", "JwtService<S,C> as tower_service::Service"),
    ("  verification (VerifierCore::verify)", "VerifierCore<C>::verify"),
    ("    signature check (HMAC-SHA256)", "PreparedKey::verify"),
    ("    claims and registered claims", "jwt_rollover::verify::one_pass::claims_and_registered"),
    ("      two-pass path: registered claims", "jwt_rollover::verify::check_claims"),
    ("      two-pass path: the claims into C", "serde_json::de::from_trait"),
    ("    base64url decoding", "jwt_rollover::verify::decode_b64"),
    ("    token cache lookup", "TokenCache<C>::get"),
    ("    clock (SystemTime::now)", "Clock>::now_unix"),
    ("  token source (header lookup)", "TokenSource::extract"),
    ("  request extension insert", "http::extensions::Extensions::insert"),
    ("the /whoami handler", "as axum::handler::Handler<(M,T1),S>>::call::{{closure}}"),
    ("  JSON answer", "Json<T> as axum_core::response::into_response::IntoResponse"),
    ("  dropping the request parts", "drop_in_place<http::request::Parts>"),
]

def stacks(path):
    frames = []
    for line in open(path, errors="replace"):
        line = line.strip()
        if not line:
            if frames:
                yield frames
            frames = []
            continue
        frames.append(line)
    if frames:
        yield frames

print()
print(f"== server CPU per request and where it goes (perf, {freq:.0f} Hz, DWARF stacks)")
rows = {}
for case in ("healthz", "whoami", "whoami+hit"):
    requests = int(open(f"{work}/{case}.requests").read().split()[0])
    total = kernel = 0
    hits = [0] * len(PARTS)
    for frames in stacks(f"{work}/{case}.stacks"):
        total += 1
        if "[kernel.kallsyms]" in frames[0]:
            kernel += 1
        for i, (_, needle) in enumerate(PARTS):
            if any(needle in frame for frame in frames):
                hits[i] += 1
    per_request = total / freq / requests * 1e6
    rows[case] = per_request
    print(f"\n-- {case}: {per_request:.2f} µs of server CPU per request "
          f"({total} samples, {requests} requests); kernel {100 * kernel / total:.0f} %")
    for (label, _), n in zip(PARTS, hits):
        if n:
            print(f"   {label:<42} {100 * n / total:5.1f} %  {per_request * n / total:5.2f} µs")
print()
for case in ("whoami", "whoami+hit"):
    print(f"   {case} over healthz: +{rows[case] - rows['healthz']:.2f} µs of server CPU per request")
print("\nShares are of the server's own samples (user and kernel); wrk's CPU, on the")
print("same cores, is not in them. µs move with the machine's load; compare shares.")
PY
