#!/usr/bin/env bash
# End-to-end HTTP benchmark of the example server (examples/server.rs),
# against a peer: the same two routes guarded by the jwt-authorizer crate
# (benches/peers, a separate Cargo crate the main build never touches).
#
# What it measures: requests/second (and p50/p99 latency) that wrk gets from
# each server on loopback, for
#   ours: GET /healthz (no auth: the HTTP floor), and GET /whoami with an
#         HS256 current-key, HS256 previous-key, ES256 current-key and ES256
#         previous-key token; with the verified-token cache off, and on when
#         the build has --token-cache;
#   peer: GET /healthz, and GET /whoami with the same HS256 and ES256
#         current-key tokens;
#   floor: benches/peers' floor-server, same HTTP stack, HS256 only:
#         GET /healthz, GET /answer (the /whoami body with no token read)
#         and GET /hmac (that body after an HMAC check and nothing else),
#         and GET /spin/1us, /spin/2us (the body after that much busy CPU).
#         Their ratios to /healthz bound what any JWT layer can reach here
#         and what a microsecond of work per request costs.
# Every run repeats ONE token, so with the cache on it is its best case
# (every request after the first is a hit).
# It prints a table and the ratios that matter: /whoami vs /healthz of the
# same server (the cost of JWT verification), ours/peer for the same token
# and route, and cache on vs off. Quote the ratios: absolute numbers depend
# on the machine and are noisy, and wrk shares the CPUs with the server.
#
# Runs are strictly sequential: one server up at a time, one wrk load at a
# time, each measured run preceded by a short warm-up run. The whole set is
# repeated BENCH_ROUNDS times, interleaved (every case once per round), and
# each ratio is taken within a round, then the median over rounds is
# printed with its range: a machine that is busy for a minute skews one
# round, not one side of a ratio.
#
# Usage:
#   scripts/bench_http.sh [duration_seconds]      # default 10 s per measured run
#   BENCH_ROUNDS=5 scripts/bench_http.sh 5          # more, shorter rounds
#
# Needs: cargo, and wrk (Debian/Ubuntu: sudo apt-get install wrk).
# Knobs (environment): BENCH_ROUNDS (3), BENCH_THREADS (2), BENCH_CONNECTIONS (32),
# BENCH_WARMUP (2 s), BENCH_TOKEN_CACHE (10000 entries, when supported),
# BENCH_PORT (39100; uses this port and the next two), BENCH_KEEP_DIR (copy
# keys, tokens, server logs and raw wrk output there).
#
# Exit status: 0 on success, 2 when wrk or cargo is missing, 1 on any failure,
# including a non-2xx answer during a run (a rejected token).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
DURATION="${1:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
whole_number bench_http "duration_seconds" "$DURATION"
whole_number bench_http "BENCH_ROUNDS" "$ROUNDS"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
WARMUP="${BENCH_WARMUP:-2}"
CACHE_ENTRIES="${BENCH_TOKEN_CACHE:-10000}"
BASE_PORT="${BENCH_PORT:-39100}"
APP_PORT="$BASE_PORT"
ADMIN_PORT=$((BASE_PORT + 1))
PEER_PORT=$((BASE_PORT + 2))
HOST=127.0.0.1

require_tools bench_http "Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk; cargo: https://rustup.rs" \
  wrk cargo

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench_http.XXXXXX")"
SERVER_PID=""
SERVER_NAME=""

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

cleanup() {
  local status=$?
  stop_server
  if [[ -n "${BENCH_KEEP_DIR:-}" ]]; then
    mkdir -p "$BENCH_KEEP_DIR" && cp -r "$WORK"/. "$BENCH_KEEP_DIR"/ &&
      echo "bench_http: keys, tokens, logs and raw wrk output kept in $BENCH_KEEP_DIR" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
  echo "bench_http: FAILED: $*" >&2
  exit 1
}

# ---------------------------------------------------------------- build ---

echo "== building (release): our example server, and the peers"
build_binaries
for bin in "$OUR_SERVER" "$PEER_SERVER" "$FLOOR_SERVER" "$MINT"; do
  [[ -x "$bin" ]] || die "expected binary not found: $bin"
done

HAVE_CACHE=0
if "$OUR_SERVER" --help 2>&1 | grep -q -- 'token-cache'; then
  HAVE_CACHE=1
fi

# ----------------------------------------------------------------- keys ---

# Two keys per algorithm: the first is current, the second previous.
"$MINT" gen-hs256 --kid hs-current --kid hs-previous --out "$WORK/hs256.jwks.json"
"$MINT" gen-es256 --kid es-current --kid es-previous --out "$WORK/es256.jwks.json" \
  --private-out "$WORK/es256.private.jwks.json" --pem-dir "$WORK"
TTL=7200 # longer than any run of this script
TOKEN_HS_CUR="$("$MINT" token --keys "$WORK/hs256.jwks.json" --kid hs-current --alg HS256 --ttl "$TTL")"
TOKEN_HS_PREV="$("$MINT" token --keys "$WORK/hs256.jwks.json" --kid hs-previous --alg HS256 --ttl "$TTL")"
TOKEN_ES_CUR="$("$MINT" token --keys "$WORK/es256.private.jwks.json" --kid es-current --alg ES256 --ttl "$TTL")"
TOKEN_ES_PREV="$("$MINT" token --keys "$WORK/es256.private.jwks.json" --kid es-previous --alg ES256 --ttl "$TTL")"
printf '%s\n' "$TOKEN_HS_CUR" "$TOKEN_HS_PREV" "$TOKEN_ES_CUR" "$TOKEN_ES_PREV" >"$WORK/tokens.txt"

# ------------------------------------------------------------- helpers ---

# One HTTP/1.0 GET over bash's /dev/tcp (no curl needed): prints the
# status code on the first line, then the body.
http_get() ( # port path [token]; a subshell, so a failed connect stays here
  port="$1" path="$2" token="${3:-}"
  exec 3<>"/dev/tcp/$HOST/$port" || exit 1
  auth=""
  [[ -z "$token" ]] || auth="Authorization: Bearer $token"$'\r\n'
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n%s\r\n' "$path" "$HOST" "$auth" >&3
  response="$(timeout 5 cat <&3)" || exit 1
  status="${response%%$'\r\n'*}"
  status="${status#* }"
  printf '%s\n%s\n' "${status%% *}" "${response#*$'\r\n\r\n'}"
) 2>/dev/null

start_server() { # name port command...
  local name="$1" port="$2"
  shift 2
  stop_server
  SERVER_NAME="$name"
  "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  local tries=0
  until [[ "$(http_get "$port" /healthz | head -n1)" == 200 ]]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$WORK/$name.log" >&2
      SERVER_PID=""
      die "$name exited at start (port $port taken? set BENCH_PORT)"
    fi
    tries=$((tries + 1))
    ((tries < 100)) || die "$name did not answer /healthz on port $port within 10 s"
    sleep 0.1
  done
}

# Checks, before loading, that the running server accepts the token (and,
# for ours, that the expected key matched); a rejected token is a bug in the
# set-up, never something to benchmark.
expect_accepted() { # port token expected-body-fragment
  local answer status
  answer="$(http_get "$1" /whoami "$2")" || die "$SERVER_NAME: /whoami did not answer"
  status="$(head -n1 <<<"$answer")"
  [[ "$status" == 200 ]] || die "$SERVER_NAME rejected a token before the run (HTTP $status): $(tail -n +2 <<<"$answer")"
  [[ "$answer" == *"$3"* ]] || die "$SERVER_NAME: /whoami answer lacks '$3': $(tail -n +2 <<<"$answer")"
}

# Requests/second by "label|round"; labels in the order first measured.
declare -A RPS
ORDER=()
ROUND=1

# Runs wrk once, checks its output; sets WRK_OUT to the output file.
wrk_once() { # label seconds url [token]
  local label="$1" seconds="$2" url="$3" token="${4:-}"
  local args=(-t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" --latency)
  if [[ -n "$token" ]]; then args+=(-H "Authorization: Bearer $token"); fi
  WRK_OUT="$WORK/wrk-${label//[^A-Za-z0-9_-]/_}-round$ROUND-${seconds}s.txt"
  wrk "${args[@]}" "$url" >"$WRK_OUT" 2>&1 || { cat "$WRK_OUT" >&2 || true; die "wrk failed for $label"; }
  grep -q '^Requests/sec:' "$WRK_OUT" || { cat "$WRK_OUT" >&2 || true; die "wrk gave no result for $label"; }
  if grep -q 'Non-2xx or 3xx responses' "$WRK_OUT"; then
    cat "$WRK_OUT" >&2
    echo "--- last lines of the $SERVER_NAME log:" >&2
    tail -n 20 "$WORK/$SERVER_NAME.log" >&2
    die "$label: $(grep 'Non-2xx or 3xx responses' "$WRK_OUT" | xargs) (a token was rejected, or the route failed)"
  fi
  if grep -q 'Socket errors' "$WRK_OUT"; then
    echo "   warning: $label: $(grep 'Socket errors' "$WRK_OUT" | xargs)" >&2
  fi
}

# A warm-up run, then the measured run; records req/s for this round.
bench() { # label url [token]
  local label="$1" url="$2" token="${3:-}" p50 p99
  wrk_once "$label" "$WARMUP" "$url" "$token"
  wrk_once "$label" "$DURATION" "$url" "$token"
  RPS["$label|$ROUND"]="$(awk '/^Requests\/sec:/ {print $2}' "$WRK_OUT")"
  p50="$(awk '$1 == "50%" {print $2}' "$WRK_OUT")"
  p99="$(awk '$1 == "99%" {print $2}' "$WRK_OUT")"
  if ((ROUND == 1)); then ORDER+=("$label"); fi
  printf '   %-28s %12s req/s   p50 %-9s p99 %s\n' "$label" "${RPS["$label|$ROUND"]}" "$p50" "$p99"
}

ours() { # name keys cache-entries
  local cache_args=()
  if ((HAVE_CACHE)); then cache_args=(--token-cache "$3"); fi
  start_server "$1" "$APP_PORT" "$OUR_SERVER" --listen "$HOST:$APP_PORT" \
    --admin-listen "$HOST:$ADMIN_PORT" --admin-token "bench-http-admin-token-not-a-secret" \
    --keys "$2" --leeway 60s "${cache_args[@]}"
}

# ---------------------------------------------------------------- runs ---

NPROC="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')"
echo
echo "== jwt-rollover HTTP benchmark"
echo "   machine: nproc=$NPROC, $(uname -sm); $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
echo "   wrk: $THREADS threads, $CONNECTIONS connections, ${WARMUP} s warm-up + ${DURATION} s measured per case"
echo "   runs are sequential: one server at a time, one wrk load at a time, all on loopback"
if [[ -r /proc/loadavg ]]; then
  echo "   load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the numbers)"
fi
if ((HAVE_CACHE)); then
  echo "   cache: --token-cache $CACHE_ENTRIES for the cache-on runs (one token repeated: every request after the first hits)"
  CACHE_SETTINGS=(0 "$CACHE_ENTRIES")
else
  echo "   cache: not available in this build (no --token-cache in the server's --help); cache-off runs only"
  CACHE_SETTINGS=(0)
fi
echo

APP="http://$HOST:$APP_PORT"
PEER="http://$HOST:$PEER_PORT"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  echo "== round $ROUND of $ROUNDS"
  for entries in "${CACHE_SETTINGS[@]}"; do
    if ((entries == 0)); then c=off; else c=on; fi
    echo "-- ours, cache $c, HS256 keys"
    ours "ours-hs-cache-$c" "$WORK/hs256.jwks.json" "$entries"
    expect_accepted "$APP_PORT" "$TOKEN_HS_CUR" '"slot":"current"'
    expect_accepted "$APP_PORT" "$TOKEN_HS_PREV" '"slot":"previous"'
    bench "ours/$c healthz" "$APP/healthz"
    bench "ours/$c whoami hs256-cur" "$APP/whoami" "$TOKEN_HS_CUR"
    bench "ours/$c whoami hs256-prev" "$APP/whoami" "$TOKEN_HS_PREV"
    echo "-- ours, cache $c, ES256 keys"
    ours "ours-es-cache-$c" "$WORK/es256.jwks.json" "$entries"
    expect_accepted "$APP_PORT" "$TOKEN_ES_CUR" '"slot":"current"'
    expect_accepted "$APP_PORT" "$TOKEN_ES_PREV" '"slot":"previous"'
    bench "ours/$c whoami es256-cur" "$APP/whoami" "$TOKEN_ES_CUR"
    bench "ours/$c whoami es256-prev" "$APP/whoami" "$TOKEN_ES_PREV"
    stop_server
  done

  echo "-- peer (jwt-authorizer), HS256 current key"
  start_server peer-hs "$PEER_PORT" "$PEER_SERVER" --listen "$HOST:$PEER_PORT" \
    --keys "$WORK/hs256.jwks.json" --kid hs-current --leeway 60s
  expect_accepted "$PEER_PORT" "$TOKEN_HS_CUR" '"kid":"hs-current"'
  bench "peer healthz" "$PEER/healthz"
  bench "peer whoami hs256-cur" "$PEER/whoami" "$TOKEN_HS_CUR"
  echo "-- peer (jwt-authorizer), ES256 current key"
  start_server peer-es "$PEER_PORT" "$PEER_SERVER" --listen "$HOST:$PEER_PORT" \
    --keys "$WORK/es256.jwks.json" --kid es-current --leeway 60s
  expect_accepted "$PEER_PORT" "$TOKEN_ES_CUR" '"kid":"es-current"'
  bench "peer whoami es256-cur" "$PEER/whoami" "$TOKEN_ES_CUR"

  echo "-- floor (answer only; HMAC check only), HS256 current key"
  start_server floor "$PEER_PORT" "$FLOOR_SERVER" --listen "$HOST:$PEER_PORT" \
    --keys "$WORK/hs256.jwks.json" --kid hs-current
  [[ "$(http_get "$PEER_PORT" /hmac "$TOKEN_HS_CUR" | head -n1)" == 200 ]] ||
    die "floor-server refused the HS256 token on /hmac"
  [[ "$(http_get "$PEER_PORT" /hmac "${TOKEN_HS_CUR}x" | head -n1)" == 401 ]] ||
    die "floor-server accepted a bad HMAC on /hmac"
  bench "floor healthz" "$PEER/healthz"
  bench "floor answer" "$PEER/answer"
  bench "floor hmac" "$PEER/hmac" "$TOKEN_HS_CUR"
  bench "floor spin 1us" "$PEER/spin/1us"
  bench "floor spin 2us" "$PEER/spin/2us"
  stop_server
done

# --------------------------------------------------------------- report ---

# Per-round ratios of two labels: "median (lowest-highest)" over rounds.
ratio() { # label-a label-b
  local r a b values=()
  for ((r = 1; r <= ROUNDS; r++)); do
    a="${RPS["$1|$r"]:-}" b="${RPS["$2|$r"]:-}"
    if [[ -n "$a" && -n "$b" ]]; then values+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", a / b }')"); fi
  done
  if ((${#values[@]} == 0)); then echo "n/a"; return; fi
  printf '%s\n' "${values[@]}" | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    if (NR > 1) printf "%.2f  (%.2f-%.2f)", m, v[1], v[NR]; else printf "%.2f", m }'
}
# Median req/s of a label over rounds, and each round's figure.
rps_stats() { # label
  local r values=()
  for ((r = 1; r <= ROUNDS; r++)); do values+=("${RPS["$1|$r"]:-}"); done
  printf '%12s   %s' "$(printf '%s\n' "${values[@]}" | sort -g | awk '{ v[NR] = $1 } END {
    printf "%.0f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')" "${values[*]}"
}
has() { [[ -n "${RPS["$1|1"]:-}" ]]; }
# The /healthz of the server a label ran on.
own_healthz() { # label
  local server="${1%% *}"
  echo "$server healthz"
}

echo
echo "== results (nproc=$NPROC; $ROUNDS round(s), interleaved; ${DURATION} s per run; $THREADS wrk threads x $CONNECTIONS connections)"
echo "ratios: median over rounds of the ratio within each round, (lowest-highest) when rounds > 1"
printf '%-28s %12s   %-30s %s\n' "case" "median req/s" "each round" "vs own /healthz"
printf '%-28s %12s   %-30s %s\n' "----" "------------" "----------" "---------------"
for label in "${ORDER[@]}"; do
  rel=""
  if [[ "$label" != *healthz ]]; then rel="$(ratio "$label" "$(own_healthz "$label")")"; fi
  printf '%-28s %-45s %s\n' "$label" "$(rps_stats "$label")" "$rel"
done

echo
echo "ours / peer (same route, same token; >1 means ours is faster):"
for c in "${CACHE_SETTINGS[@]}"; do
  if ((c == 0)); then c=off; else c=on; fi
  for case in healthz "whoami hs256-cur" "whoami es256-cur"; do
    if has "ours/$c $case" && has "peer $case"; then
      printf '  %-36s %s\n' "ours/$c vs peer: $case" "$(ratio "ours/$c $case" "peer $case")"
    fi
  done
done

echo
echo "the floor (benches/peers floor-server, same HTTP stack; what no JWT layer can beat):"
printf '  %-36s %s\n' "/answer vs /healthz" "$(ratio "floor answer" "floor healthz")"
printf '  %-36s %s\n' "/hmac vs /healthz" "$(ratio "floor hmac" "floor healthz")"
printf '  %-36s %s\n' "/spin/1us vs /healthz" "$(ratio "floor spin 1us" "floor healthz")"
printf '  %-36s %s\n' "/spin/2us vs /healthz" "$(ratio "floor spin 2us" "floor healthz")"
printf '  %-36s %s\n' "ours/off hs256-cur vs floor /hmac" "$(ratio "ours/off whoami hs256-cur" "floor hmac")"
echo "  /answer: the /whoami body without reading a token; /hmac: the same after an HMAC"
echo "  check of the token and nothing else (no header, no claims, no exp, no metrics);"
echo "  /spin/Nus: the same body after N microseconds of busy CPU: what N us of work per"
echo "  request costs here, with wrk on the same cores."

echo
echo "previous key vs current key (ours, same algorithm):"
for c in "${CACHE_SETTINGS[@]}"; do
  if ((c == 0)); then c=off; else c=on; fi
  for alg in hs256 es256; do
    printf '  %-36s %s\n' "cache $c: $alg prev / cur" \
      "$(ratio "ours/$c whoami $alg-prev" "ours/$c whoami $alg-cur")"
  done
done

echo
if ((HAVE_CACHE)); then
  echo "cache on / cache off (ours; one token repeated, so the cache's best case):"
  for case in "whoami hs256-cur" "whoami hs256-prev" "whoami es256-cur" "whoami es256-prev"; do
    printf '  %-36s %s\n' "$case" "$(ratio "ours/on $case" "ours/off $case")"
  done
  printf '  %-36s %s\n' "healthz (noise check)" "$(ratio "ours/on healthz" "ours/off healthz")"
  echo "  /healthz does not go through the JWT layer, so its on/off ratio is the same code"
  echo "  measured twice: how far it is from 1.00 is how far apart two identical runs are"
  echo "  on this machine right now; read the other ratios with that margin."
else
  echo "cache: not available in this build"
fi

echo
echo "Notes: quote the ratios, not the absolute numbers: these vary between machines and"
echo "runs (a few % run to run, more on a busy or small machine). wrk runs on the same"
echo "$NPROC CPU(s) as the server, so both compete for them. /healthz is the HTTP floor of"
echo "each server; 'vs own /healthz' is the share of that floor left with JWT verification."
