#!/usr/bin/env python3
"""Instructions per request, generated routes vs hand-written, by the callgrind difference method.

For each route and implementation the server runs twice under `valgrind --tool=callgrind`, once
serving R1 requests and once R2 (default 500 and 1500), all on one keep-alive connection, from
the same freshly seeded database; the counts are dumped (callgrind_control) right after the last
request, before shutdown, and (Ir(R2) - Ir(R1)) / (R2 - R1) cancels start-up and leaves the
user-space instructions of one request, SQLite included (it runs in the server process). Kernel work is not counted: pair it with the CPU-per-request figure of run.py.
The request sequence is fixed (random ids from a seeded generator), so both runs of a pair start
with the same R1 requests. The writes repeat to within about 1 %; the reads move by up to ±6 %
from pair to pair (under valgrind the tokio worker and SQLite's thread interleave differently in
each run), so compare medians of several pairs (--repeat).

  python3 examples/bench/callgrind.py                       # SQLite, every route
  python3 examples/bench/callgrind.py --backend postgres    # our process only; PostgreSQL's work is elsewhere
  python3 examples/bench/callgrind.py --routes post --keep  # keep callgrind.out files for callgrind_annotate
  python3 examples/bench/callgrind.py --baseline-rev 3ed6d83 --repeat 10  # that commit (base) against the tree (new)

With --baseline-rev the same measurement runs on two builds of live-bench: the one of that
revision (built outside the repository and cached by commit id, see baseline.py) and the one of
the working tree, alternating which goes first from one repetition to the next; the summary gives
per route base, new and new / base. --impls then defaults to `generated`.

One JSON line per (route, implementation) goes to --out, then a markdown table is printed. Every
server binds 127.0.0.1, is stopped by PID (SIGTERM; it exits on it so callgrind writes its file),
and every step has a timeout.
"""
import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

import baseline
import run as bench

ROUTES = bench.ROUTES
POST_BODY = b'{"title":"write the bench report","completed":false,"order":3}'
PATCH_BODY = b'{"completed":true,"order":7}'
ROWS = 10000


def requests_for(route, n, seed=7):
    """The same requests the wrk scripts send, as a fixed sequence."""
    rng = random.Random(seed)
    for _ in range(n):
        if route == "get_id":
            yield "GET", f"/api/todos/{rng.randint(1, ROWS)}", None
        elif route == "list":
            yield "GET", "/api/todos?limit=20", None
        elif route == "post":
            yield "POST", "/api/todos", POST_BODY
        elif route == "patch":
            yield "PATCH", f"/api/todos/{rng.randint(1, ROWS)}", PATCH_BODY


def drive(port, route, n, timeout):
    """Sends n requests on one keep-alive connection, one at a time; fails on any non-2xx."""
    deadline = time.monotonic() + timeout
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for method, path, body in requests_for(route, n):
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{method} {path} answered {resp.status}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{n} requests took longer than {timeout}s")
    conn.close()


def wait_port(port, proc, timeout):
    """Waits until the port accepts a connection (no HTTP request, so nothing extra is counted
    beyond one accepted-and-closed connection, the same in both runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server under valgrind did not come up")


def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def one_run(args, exe, impl, route, n, workdir, tag=""):
    """Seeds a fresh database without valgrind, then serves n requests under callgrind; returns Ir.

    tag names the build and repetition in the file names, so that no run can find the dump of an
    earlier one."""
    if args.backend == "sqlite":
        database = "sqlite://" + os.path.join(workdir, f"cg-{tag}{impl}.db")
    else:
        database = args.pg_url
    seed = [exe, *bench.server_mode(impl), "--database", database, "--fresh", "--seed", str(ROWS), "--seed-only"]
    subprocess.run(seed, check=True, capture_output=True, timeout=120)
    name = f"callgrind.{tag}{impl}.{route}.{n}"
    out_file = os.path.join(workdir, f"{name}.out")
    cmd = ["taskset", "-c", str(args.server_cpu), "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
           *args.valgrind_arg, exe, *bench.server_mode(impl), "--database", database, "--port", str(args.port), "--workers", "1",
           *args.server_arg]
    log = open(os.path.join(workdir, f"{name}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(args.port, proc, 120)
        drive(args.port, route, n, timeout=600)
        # Dump the counts now, before shutdown: whether the pool's connections get closed (and
        # SQLite checkpoints its WAL) before the process exits varies from run to run, and would
        # otherwise land in the difference. The dump covers start-up, seeding-free set-up and the
        # n requests; callgrind_control addresses this run by its pid.
        subprocess.run(["callgrind_control", f"--dump=after-{n}-requests", str(proc.pid)], check=True,
                       capture_output=True, timeout=120)
        dump = wait_dump(out_file, 60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    return total_ir(dump)


def wait_dump(out_file, timeout):
    """The file of the first requested dump (callgrind names it <out file>.1), once complete."""
    path = out_file + ".1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            try:
                total_ir(path)
                return path
            except RuntimeError:
                pass  # still being written
        time.sleep(0.2)
    raise RuntimeError(f"callgrind did not write {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--impls", default=None,
                    help="comma list of generated, hand, generated-feed (default generated,hand; "
                         "with --baseline-rev: generated)")
    ap.add_argument("--routes", default=",".join(ROUTES))
    ap.add_argument("--r1", type=int, default=500)
    ap.add_argument("--r2", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=1, help="measure every pair this many times")
    ap.add_argument("--port", type=int, default=8093)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--pg-url", default=os.environ.get("LIVE_BENCH_POSTGRES",
                                                       "postgres://postgres@127.0.0.1:5432/live_bench"))
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for the measured server (repeatable), e.g. --server-arg=--detach")
    ap.add_argument("--valgrind-arg", action="append", default=[],
                    help="extra valgrind option (repeatable), e.g. --valgrind-arg=--fair-sched=yes")
    ap.add_argument("--keep", action="store_true", help="keep the callgrind.out files (results/callgrind/)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--exe", default=None)
    ap.add_argument("--baseline-rev", default=None, metavar="REV",
                    help="also measure live-bench built from this git revision (base) against the working "
                         "tree's (new), alternating")
    ap.add_argument("--scratch", default=None,
                    help="keep the baseline builds here (default $XDG_CACHE_HOME/live-bench)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    impls = (args.impls or ("generated" if args.baseline_rev else "generated,hand")).split(",")

    os.makedirs(bench.RESULTS, exist_ok=True)
    stamp = f"{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}"
    out_path = args.out or os.path.join(bench.RESULTS, f"callgrind-{stamp}.jsonl")
    workdir = os.path.join(bench.RESULTS, "callgrind", stamp)
    os.makedirs(workdir, exist_ok=True)
    exe = os.path.abspath(args.exe) if args.no_build else bench.build(args)
    if args.baseline_rev:
        base_rev, base_bins = baseline.binaries(args.baseline_rev, {"live-bench": "live-bench"}, args.scratch)
        # Both binaries run from copies side by side, under names of the same length, so that nothing
        # but the build differs between them (the path is in the process's argv and auxiliary vector,
        # which shift its initial stack). The copy also keeps a rebuild during the session from
        # replacing the working tree's binary.
        builds = []
        for label, src, rev in (("base", base_bins["live-bench"], base_rev), ("new", exe, baseline.worktree_rev())):
            dst = os.path.join(workdir, f"live-bench-{label}")
            shutil.copy2(src, dst)
            builds.append((label, dst, rev))  # the order flips from one repetition to the next
    else:
        builds = [(None, exe, bench.git_rev())]
    if args.backend == "postgres":
        bench.pg_prepare(args)
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    for rep in range(1, args.repeat + 1):
        for route in args.routes.split(","):
            for label, build_exe, rev in (builds if rep % 2 == 1 else builds[::-1]):
                for impl in impls:
                    tag = f"{label}.r{rep}." if label else f"r{rep}."
                    irs = {n: one_run(args, build_exe, impl, route, n, workdir, tag) for n in (args.r1, args.r2)}
                    per_req = (irs[args.r2] - irs[args.r1]) / (args.r2 - args.r1)
                    res = {"impl": impl, "backend": args.backend, "route": route, "r1": args.r1, "r2": args.r2,
                           "server_args": args.server_arg, "valgrind_args": args.valgrind_arg, "repeat": rep,
                           "ir_r1": irs[args.r1], "ir_r2": irs[args.r2], "instructions_per_request": round(per_req),
                           "git": rev, "valgrind": valgrind, "machine": bench.machine_line(),
                           "at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
                    if label:
                        res["build"] = label
                    print(json.dumps(res), flush=True)
                    with open(out_path, "a") as f:
                        f.write(json.dumps(res) + "\n")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nresults: {os.path.relpath(out_path)}\n")
    summarize([out_path])
    return 0


def summarize(paths):
    runs = []
    for p in paths:
        with open(p) as fh:
            runs += [json.loads(line) for line in fh if line.strip()]
    summarize_impls([r for r in runs if "build" not in r])
    summarize_builds([r for r in runs if "build" in r])


def summarize_impls(runs):
    """Generated against hand-written (and the feed on against off), one build."""
    by = {}
    for r in runs:
        by.setdefault((r["backend"], r["route"], r["impl"]), []).append(r["instructions_per_request"])
    for backend in ("sqlite", "postgres"):
        if not any(k[0] == backend for k in by):
            continue
        print(f"Instructions per request ({backend}, callgrind difference method):\n")
        print("| route | (a) generated | (b) hand-written | (a)÷(b) of medians [per-pair range], target ≤ 1.10 |")
        print("| --- | --- | --- | --- |")
        for route in ROUTES:
            g, h = by.get((backend, route, "generated")), by.get((backend, route, "hand"))
            if not g and not h:
                continue
            ratio = bench.ratio_cell(g or [], h or [], 3)
            print(f"| {bench.ROUTE_NAMES[route]} | {cell(g)} | {cell(h)} | {ratio} |")
        fed = [(route, by[(backend, route, "generated-feed")]) for route in ROUTES
               if (backend, route, "generated-feed") in by]
        if fed:
            print("\nWith the Bayeux feed on (generated-feed):\n")
            print("| route | (a′) generated, feed on | ÷ (a) generated |")
            print("| --- | --- | --- |")
            for route, values in fed:
                print(f"| {bench.ROUTE_NAMES[route]} | {cell(values)} "
                      f"| {bench.ratio_cell(values, by.get((backend, route, 'generated'), []), 3)} |")
        print()


def summarize_builds(runs):
    """The baseline build against the working tree's, per implementation and route; the per-pair
    range pairs base and new of the same repetition."""
    by = {}
    revs = {}
    for r in sorted(runs, key=lambda r: r.get("repeat", 0)):
        by.setdefault((r["backend"], r["impl"], r["route"], r["build"]), []).append(r["instructions_per_request"])
        revs.setdefault(r["build"], set()).add(r["git"])
    for backend in ("sqlite", "postgres"):
        for impl in ("generated", "generated-feed", "hand"):
            if not any(k[:2] == (backend, impl) for k in by):
                continue
            print(f"Instructions per request, {bench.IMPL_NAMES[impl]}, {backend}: base "
                  f"({', '.join(sorted(revs.get('base', [])))}) against new ({', '.join(sorted(revs.get('new', [])))}), "
                  "callgrind difference method:\n")
            print("| route | base | new | new − base | new ÷ base of medians [per-pair range], target ≤ 1.03 |")
            print("| --- | --- | --- | --- | --- |")
            for route in ROUTES:
                b, n = by.get((backend, impl, route, "base"), []), by.get((backend, impl, route, "new"), [])
                if not b and not n:
                    continue
                delta = f"{statistics.median(n) - statistics.median(b):+,.0f}" if b and n else "—"
                print(f"| {bench.ROUTE_NAMES[route]} | {cell(b)} | {cell(n)} | {delta} "
                      f"| {bench.ratio_cell(n, b, 3)} |")
            print()


def cell(values):
    """Median [min-max] of instruction counts."""
    if not values:
        return "—"
    med = f"{statistics.median(values):,.0f}"
    return med if len(values) == 1 else f"{med} [{min(values):,}–{max(values):,}]"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--summarize":
        summarize(sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
