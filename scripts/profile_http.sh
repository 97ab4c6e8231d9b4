#!/usr/bin/env bash
# Instructions per HTTP request, counted by valgrind's callgrind: the
# deterministic companion of scripts/bench_http.sh, whose req/s ratios move
# by 10-20 % on a shared machine. Instruction counts do not move with load,
# so they show where a request's work goes and what a floor costs.
#
# It runs, each under callgrind, one server at a time:
#   ours:  examples/server.rs (release) on an HS256 JWKS, cache off:
#          GET /healthz and GET /whoami with a current-key token; then
#          with the token cache on, GET /whoami (every request a hit);
#   floor: benches/peers' floor-server on the same key: GET /healthz,
#          GET /answer (the /whoami body, no token read) and GET /hmac
#          (that body after an HMAC check of the token and nothing else).
# For each route it zeroes the counters, drives N requests over one wrk
# connection, dumps, and prints instructions per request; for ours/whoami
# it also prints the inclusive cost of the verification's parts.
#
# Caveats, printed again at the end: callgrind counts instructions, not
# time; it emulates no SHA extensions, so SHA-256 runs its AVX code here
# (natively SHA-NI makes the HMAC several times cheaper than these counts
# suggest); kernel work (the socket, the scheduler) is not counted at all.
#
# Usage: scripts/profile_http.sh [seconds_per_route]     # default 5
# Needs: cargo, valgrind (callgrind_control, callgrind_annotate), wrk.
# BENCH_PORT (39300; uses this port and the next) picks the ports.
set -euo pipefail

SECONDS_PER_ROUTE="${1:-5}"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
whole_number profile_http "seconds" "$SECONDS_PER_ROUTE"
require_tools profile_http "Debian/Ubuntu: sudo apt-get install valgrind wrk" \
  valgrind callgrind_control callgrind_annotate wrk cargo

PORT="${BENCH_PORT:-39300}"
ADMIN_PORT=$((PORT + 1))
WORK="$(mktemp -d "${TMPDIR:-/tmp}/profile_http.XXXXXX")"
VG_PID=""

cleanup() {
  if [[ -n "$VG_PID" ]]; then kill "$VG_PID" 2>/dev/null || true; wait "$VG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building (release): the example server, the floor server and mint" >&2
build_binaries

"$MINT" gen-hs256 --kid hs-current --kid hs-previous --out "$WORK/hs256.jwks.json"
TOKEN="$("$MINT" token --keys "$WORK/hs256.jwks.json" --kid hs-current --alg HS256 --ttl 7200)"

start() { # name command...
  local name="$1"
  shift
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.%p" "$@" >"$WORK/$name.log" 2>&1 &
  VG_PID=$!
  local tries=0
  until wrk -t1 -c1 -d1s "http://127.0.0.1:$PORT/healthz" 2>/dev/null | grep -q 'Requests/sec'; do
    kill -0 "$VG_PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; echo "profile_http: $name exited" >&2; exit 1; }
    tries=$((tries + 1))
    ((tries < 60)) || { echo "profile_http: $name did not start within a minute" >&2; exit 1; }
    sleep 1
  done
}

stop() {
  kill "$VG_PID" 2>/dev/null || true
  wait "$VG_PID" 2>/dev/null || true
  VG_PID=""
}

declare -A PER_REQUEST REQUESTS
LAST_DUMP=""

# Zero, load one route over one connection, dump; records instructions/request.
measure() { # label path
  local label="$1" path="$2" out requests total
  # Warm the route first (first-use allocations, lazy statics).
  wrk -t1 -c1 -d1s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path" >/dev/null
  callgrind_control -z "$VG_PID" >/dev/null
  out="$(wrk -t1 -c1 -d"${SECONDS_PER_ROUTE}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path")"
  callgrind_control -d "$label" "$VG_PID" >/dev/null
  if grep -q 'Non-2xx' <<<"$out"; then
    echo "profile_http: $label: the server refused requests: $(grep 'Non-2xx' <<<"$out")" >&2
    exit 1
  fi
  requests="$(awk '/requests in/ {print $1}' <<<"$out")"
  LAST_DUMP="$(ls -t "$WORK"/*."$VG_PID".* | head -n1)"
  total="$(awk '/^summary:/ {print $2}' "$LAST_DUMP")"
  PER_REQUEST[$label]=$((total / requests))
  REQUESTS[$label]="$requests"
  printf '   %-14s %8d requests  %8d instructions/request\n' "$label" "$requests" "${PER_REQUEST[$label]}"
}

# Inclusive instructions per request of the functions matching a pattern.
inclusive() { # dump requests pattern
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    grep -E "$3" | head -n1 | awk -v n="$2" '{ gsub(",", "", $1); printf "%d", $1 / n; found = 1 }
      END { if (!found) printf "0" }'
}

echo "== ours (examples/server.rs, cache off), HS256" >&2
start ours "$OUR_SERVER" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --admin-token "profile-http-admin-token-not-a-secret" --keys "$WORK/hs256.jwks.json"
measure "ours healthz" /healthz
measure "ours whoami" /whoami
WHOAMI_DUMP="$LAST_DUMP"
WHOAMI_REQUESTS="${REQUESTS["ours whoami"]}"
stop

echo "== ours, token cache on, HS256" >&2
start ours-cached "$OUR_SERVER" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --admin-token "profile-http-admin-token-not-a-secret" --keys "$WORK/hs256.jwks.json" --token-cache 10000
measure "ours cached" /whoami
stop

echo "== floor (benches/peers floor-server), HS256" >&2
start floor "$FLOOR_SERVER" --listen "127.0.0.1:$PORT" --keys "$WORK/hs256.jwks.json" --kid hs-current
measure "floor healthz" /healthz
measure "floor answer" /answer
measure "floor hmac" /hmac
stop

part() { # label pattern
  printf '   %-50s %8s\n' "$1" "$(inclusive "$WHOAMI_DUMP" "$WHOAMI_REQUESTS" "$2")"
}

echo
echo "== instructions per request (callgrind; one connection; ${SECONDS_PER_ROUTE} s per route)"
for label in "ours healthz" "ours whoami" "ours cached" "floor healthz" "floor answer" "floor hmac"; do
  printf '   %-14s %8d   x%.2f of its server'"'"'s /healthz\n' "$label" "${PER_REQUEST[$label]}" \
    "$(awk -v a="${PER_REQUEST[$label]}" -v b="${PER_REQUEST[${label%% *} healthz]}" 'BEGIN { print a / b }')"
done
echo
echo "== where ours/whoami's instructions go (inclusive, per request)"
part "JwtService::call (the whole layer)" 'JwtService<S,C> as tower_service::Service'
part "  verify (token to claims)" '\?\?\?:jwt_rollover::verify::verify '
part "    signature check (HMAC-SHA256)" 'jwt_rollover::crypto::PreparedKey::verify'
part "    claims, one pass (typed claims + registered claims)" 'one_pass::claims_and_registered'
part "    claims, two passes (Box<RawValue>): registered claims" 'jwt_rollover::verify::check_claims'
part "    claims, two passes (Box<RawValue>): the raw copy" 'serde_json::de::from_trait'
part "    registered claims checks (exp, nbf, ...)" 'jwt_rollover::verify::check_registered'
part "    header read (base64url + JSON; 0 once remembered)" 'jwt_rollover::verify::read_header'
part "    splitting at the dots" 'jwt_rollover::verify::split'
part "    base64url decoding" 'jwt_rollover::verify::decode_b64'
part "  token source (header lookup)" 'TokenSource::extract'
part "  request extension insert" 'http::extensions::Extensions::insert'
part "the /whoami handler (extract, serialize)" 'as axum::handler::Handler<\(M,T1\),S>>::call::\{\{closure\}\} '
echo
echo "Caveats: instructions are not time. Under valgrind SHA-256 runs its AVX code"
echo "(no SHA-NI emulation), so the HMAC here costs several times what it does"
echo "natively; kernel work (sockets, scheduling), about two thirds of a native"
echo "/healthz, is not counted. Use these counts for where the work goes, and"
echo "scripts/bench_http.sh for what it costs in requests/second."
