#!/usr/bin/env python3
"""Ratios from `cargo bench --bench verify`, read from target/criterion.

Absolute times on a shared machine mean little; ratios between benchmarks
measured in the same run do. This prints, from each benchmark's median:

- every `<ALG>/ours/<scenario>` beside `<ALG>/jsonwebtoken/<scenario>`;
- the targets of the verification work, each with its measured value.

On a noisy machine, run the benches several times, copying target/criterion
after each run, and pass every copy: each benchmark's median is then the
lowest over the runs (the run least disturbed by other load). `--min` uses
the fastest sample of each benchmark instead of its median (each sample is
thousands of iterations): steadier under bursts of load from other tenants.

Usage: scripts/bench_ratios.py [CRITERION_DIR...] [--min] [--strict]
(default: target/criterion; --strict exits 1 when a target is missed).
"""

import json
import sys
from pathlib import Path

ALGS = ["HS256", "RS256", "ES256", "EdDSA"]
SCENARIOS = [
    "current_kid",
    "current_kid_unseen_header",
    "previous_kid",
    "previous_no_kid",
    "unknown_kid",
    "alg_mismatch",
    "bad_signature",
    "expired",
    "cache_hit",
]


def load(root: Path, fastest_sample: bool) -> dict:
    """Time per iteration (ns) of every benchmark, by full id: criterion's
    median estimate, or the fastest sample."""
    times = {}
    for estimates in root.glob("**/new/estimates.json"):
        benchmark = estimates.with_name("benchmark.json")
        if not benchmark.exists():
            continue
        full_id = json.loads(benchmark.read_text())["full_id"]
        if fastest_sample:
            sample = json.loads(estimates.with_name("sample.json").read_text())
            times[full_id] = min(t / n for t, n in zip(sample["times"], sample["iters"]))
        else:
            times[full_id] = json.loads(estimates.read_text())["median"]["point_estimate"]
    return times


def load_runs(roots: list, fastest_sample: bool) -> dict:
    """The lowest time of each benchmark over the runs."""
    best = {}
    for root in roots:
        for full_id, time in load(root, fastest_sample).items():
            best[full_id] = min(time, best.get(full_id, time))
    return best


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    strict = "--strict" in sys.argv[1:]
    fastest = "--min" in sys.argv[1:]
    roots = [Path(a) for a in args] or [Path("target/criterion")]
    m = load_runs(roots, fastest)
    if not m:
        print(f"no criterion results under {', '.join(map(str, roots))}; "
              "run `cargo bench --bench verify`")
        return 1
    statistic = "fastest sample" if fastest else "median"
    if len(roots) > 1:
        print(f"each benchmark: lowest {statistic} over {len(roots)} runs")

    def get(full_id: str):
        return m.get(full_id)

    print(f"ours vs jsonwebtoken::decode, same token, key and claims type ({statistic})")
    print(f"{'benchmark':<24} {'ours':>10} {'jsonwebtoken':>13} {'ours/jwt':>9}")
    for alg in ALGS:
        for scenario in SCENARIOS:
            ours = get(f"{alg}/ours/{scenario}")
            theirs = get(f"{alg}/jsonwebtoken/{scenario}")
            if ours is None or theirs is None:
                continue
            print(
                f"{alg + '/' + scenario:<24} {fmt_ns(ours):>10} {fmt_ns(theirs):>13} "
                f"{ours / theirs:>9.3f}"
            )

    missed = []

    def target(name: str, value, op: str, bound: float) -> None:
        if value is None:
            print(f"  {name:<58} (missing)")
            return
        ok = value <= bound if op == "<=" else value >= bound
        if not ok:
            missed.append(name)
        print(f"  {name:<58} {value:>9.3f}  {op} {bound:<6} {'ok' if ok else 'MISSED'}")

    def ratio(a: str, b: str):
        x, y = get(a), get(b)
        return None if x is None or y is None else x / y

    hs256_decode = "HS256/jsonwebtoken/current_kid"
    print()
    print("targets")
    target(
        "HS256 ours/current_kid / jsonwebtoken/current_kid",
        ratio("HS256/ours/current_kid", hs256_decode),
        "<=",
        0.6,
    )
    for alg in ALGS:
        target(
            f"{alg} ours previous_kid / current_kid",
            ratio(f"{alg}/ours/previous_kid", f"{alg}/ours/current_kid"),
            "<=",
            1.05,
        )
    for scenario in ["unknown_kid", "alg_mismatch"]:
        for alg in ALGS:
            target(
                f"{alg} ours {scenario} / HS256 jsonwebtoken current_kid",
                ratio(f"{alg}/ours/{scenario}", hs256_decode),
                "<=",
                0.2,
            )
    for alg in ALGS:
        target(
            f"{alg} ours cache_hit / HS256 jsonwebtoken current_kid",
            ratio(f"{alg}/ours/cache_hit", hs256_decode),
            "<=",
            0.15,
        )
    for alg in ALGS:
        target(
            f"RS256 jsonwebtoken current_kid / {alg} ours cache_hit",
            ratio("RS256/jsonwebtoken/current_kid", f"{alg}/ours/cache_hit"),
            ">=",
            40,
        )

    print()
    print("for information")
    for alg in ALGS:
        r = ratio(f"{alg}/ours/current_kid_unseen_header", f"{alg}/ours/current_kid")
        if r is not None:
            print(f"  {alg} ours current_kid_unseen_header / current_kid{'':<11} {r:>9.3f}")
    for alg in ALGS:
        r = ratio(f"{alg}/ours/previous_no_kid", f"{alg}/ours/current_kid")
        if r is not None:
            print(f"  {alg} ours previous_no_kid / current_kid{'':<21} {r:>9.3f}")
    for a, b in [
        ("metrics/with_label_values", "metrics/resolved"),
        ("arc_swap/load", "arc_swap/arc_clone"),
        ("arc_swap/load_full", "arc_swap/arc_clone"),
    ]:
        x, y = get(a), get(b)
        if x is not None and y is not None:
            print(f"  {a} / {b}: {fmt_ns(x)} / {fmt_ns(y)} = {x / y:.2f}")

    if missed:
        print(f"\n{len(missed)} target(s) missed")
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
