#!/usr/bin/env bash
# Fuzz smoke run: every target of the fuzz/ workspace (`cargo fuzz list`),
# one after another, for SECONDS each (default 30), each starting from its
# committed seeds (fuzz/seeds/<target>) and adding what it finds to
# fuzz/corpus/<target> (not committed). Stops at the first crash and exits
# non-zero; libFuzzer's output is printed and the crashing input is in
# fuzz/artifacts/<target>/. For each target it prints the executed-units
# count, so a target that runs far slower than before shows up too.
#
#   scripts/fuzz_smoke.sh [SECONDS]
#
# How CI uses it: as a smoke step after the test suite, with the default
# 30 s per target, so that a target that no longer builds, or that crashes
# on its seeds or near them, fails the run. Long runs (-max_total_time=600
# and more) are done by hand with the same command per target:
#
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> corpus/<target> seeds/<target> -- -max_total_time=600
#
# Why RUSTC_BOOTSTRAP=1: cargo fuzz instruments the build with
# unstable compiler flags (-Zsanitizer=address and the sanitizer-coverage
# passes), which only a nightly compiler accepts. RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them, so CI and developers fuzz with the
# toolchain they build with, without installing a nightly one.
#
# The fuzz workspace has its own target directory (fuzz/target): the first
# build (all targets, with AddressSanitizer) takes several minutes.
set -euo pipefail

SECONDS_EACH="${1:-30}"
if ! [[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz_smoke.sh: SECONDS must be a whole number >= 1, got '$SECONDS_EACH'" >&2
  exit 1
fi

cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cargo fuzz build
mapfile -t targets < <(cargo fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz_smoke.sh: cargo fuzz list found no target" >&2
  exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  printf '\n==> %s: %ss from seeds/%s\n' "$target" "$SECONDS_EACH" "$target"
  if ! cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1; then
    cat "$log"
    echo "fuzz_smoke.sh: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units)' "$log" || true
done

printf '\nfuzz_smoke.sh: %d targets, %ss each, no crash\n' "${#targets[@]}" "$SECONDS_EACH"
