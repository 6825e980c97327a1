#!/usr/bin/env bash
# The whole REST benchmark in one invocation (docs/benchmarks.md): release build, then
#   1. instructions per request under callgrind, generated vs hand-written, SQLite then PostgreSQL;
#   2. the wrk matrix, 3 alternating rounds: SQLite (generated, hand-written, Feathers 5),
#      then PostgreSQL (generated, hand-written), servers and PostgreSQL pinned to CPU 0, wrk to CPU 1.
# Results (JSON lines, server logs, summary.md) go to results/run-<UTC time>/. About 30 minutes.
# Needs: wrk, valgrind, node + `npm ci` in ../shared/bench/feathers, a local PostgreSQL with trust
# auth for postgres@127.0.0.1 (override with LIVE_BENCH_POSTGRES=postgres://.../db).
set -euo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-results/run-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
EXE=$(python3 -c 'import run; print(run.build(None))')
timeout 1800 python3 callgrind.py --no-build --exe "$EXE" --repeat 5 --out "$OUT/callgrind.jsonl"
timeout 1800 python3 callgrind.py --no-build --exe "$EXE" --backend postgres --repeat 3 --out "$OUT/callgrind.jsonl"
timeout 3600 python3 run.py --no-build --exe "$EXE" --backend both --out "$OUT/rest.jsonl"
{
  echo "# REST benchmark $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD)"
  echo
  python3 callgrind.py --summarize "$OUT/callgrind.jsonl"
  python3 run.py --summarize "$OUT/rest.jsonl"
} | tee "$OUT/summary.md"
