#!/usr/bin/env python3
"""REST benchmark matrix: generated routes vs hand-written axum + sqlx vs Feathers 5.

Method: docs/benchmarks.md, "How to run it" (paths from the project root).
Per round, each implementation in turn (the order rotates from round to round) gets a fresh
server on a fresh database seeded with 10k rows, pinned to CPU 0 with `taskset`; per route wrk
runs pinned to CPU 1: a 2 s warm-up (discarded), then `wrk -t1 -c64 -d10s --latency`. Server CPU
(utime+stime of the whole process, every thread) is read from /proc/<pid>/stat right before and
after the measured run; wrk's own CPU from getrusage(RUSAGE_CHILDREN); on PostgreSQL also the CPU
of every PostgreSQL process. One JSON line per measured run goes to --out; at the end a markdown
table of medians with [min-max] is printed.

  python3 examples/bench/run.py                      # SQLite: generated, hand, feathers; 3 rounds
  python3 examples/bench/run.py --backend postgres   # PostgreSQL: generated, hand
  python3 examples/bench/run.py --backend both
  python3 examples/bench/run.py --summarize examples/bench/results/rest-*.jsonl

Everything binds 127.0.0.1, wrk is bounded by -d and a subprocess timeout, servers are stopped by
PID (SIGTERM, then SIGKILL after 10 s). PostgreSQL must be running locally; with --pin-postgres
(default on) its processes are pinned to CPU 0 for the run and their affinity restored after.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FEATHERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench", "feathers"))
RESULTS = os.path.join(HERE, "results")
CLK_TCK = os.sysconf("SC_CLK_TCK")

ROUTES = ["get_id", "list", "post", "patch"]
# route: (our wrk script, our URL path, Feathers' wrk script, Feathers' URL path)
ROUTE_FILES = {
    "get_id": ("wrk/get_id.lua", "/api/todos/1", "wrk/get_id.lua", "/todos/1"),
    "list": ("wrk/list.lua", "/api/todos?limit=20", "wrk/list.lua", "/todos?$limit=20"),
    "post": ("wrk/post.lua", "/api/todos", "wrk/post.lua", "/todos"),
    "patch": ("wrk/patch.lua", "/api/todos/1", "wrk/patch.lua", "/todos/1"),
}
ROUTE_NAMES = {
    "get_id": "`GET /api/todos/{id}` (random of 10k)",
    "list": "`GET /api/todos?limit=20`",
    "post": "`POST /api/todos` (62 B JSON)",
    "patch": "`PATCH /api/todos/{id}` (random)",
}
IMPL_NAMES = {"generated": "(a) generated", "generated-feed": "(a′) generated, Bayeux feed on",
              "hand": "(b) hand-written", "feathers": "(c) Feathers 5"}


def server_mode(impl):
    """The live-bench arguments of one of our implementations."""
    return ["--mode", "generated", "--feed"] if impl == "generated-feed" else ["--mode", impl]


# ---------------------------------------------------------------- measuring

def proc_cpu(pid):
    """utime+stime of a process (all its threads), in seconds."""
    user, system = proc_cpu_split(pid)
    return user + system


def proc_cpu_split(pid):
    """(utime, stime) of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def children_of(ppid):
    """Pids whose parent is ppid."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                s = f.read()
        except OSError:
            continue
        if int(s[s.rindex(")") + 2:].split()[1]) == ppid:
            pids.append(int(entry))
    return pids


def tree_cpu(root_pid):
    """CPU seconds of a process and its direct children, by pid (PostgreSQL: postmaster + backends)."""
    out = {}
    for pid in [root_pid] + children_of(root_pid):
        try:
            out[pid] = proc_cpu(pid)
        except OSError:
            pass
    return out


def busy_builds():
    """Compilers running now (they would compete with the pinned server on CPU 0)."""
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in ("rustc", "cargo", "cc1", "cc1plus", "ld", "rust-lld"):
                        n += 1
            except OSError:
                pass
    return n


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    n, u = float(m.group(1)), m.group(2)
    return {"us": n / 1000, "ms": n, "s": n * 1000, "m": n * 60000}[u]


def parse_wrk(out):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    if not m:
        raise RuntimeError("unexpected wrk output:\n" + out)
    r["requests"] = int(m.group(1))
    r["req_per_s"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    for p in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)$", out, re.M)
        if m:
            r[f"p{p}_ms"] = round(to_ms(m.group(1)), 3)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def run_wrk(args, cwd, script, url, seconds, latency):
    cmd = ["taskset", "-c", str(args.client_cpu), "wrk", "-t1", f"-c{args.conns}", f"-d{seconds}s", "-s", script]
    if latency:
        cmd.append("--latency")
    cmd.append(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=seconds + 30)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}):\n{p.stdout}")
    return p.stdout, wall, cpu


# ---------------------------------------------------------------- servers

def build(args):
    """cargo build --release -p live-bench; returns the binary's path."""
    cmd = ["cargo", "build", "--release", "-p", "live-bench", "--message-format=json-render-diagnostics"]
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError("cargo build failed")
    exe = None
    for line in p.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] == "live-bench":
            exe = msg["executable"]
    if not exe:
        raise RuntimeError("cargo did not report the live-bench binary")
    return exe


def wait_ready(url, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url}")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_server(args, impl, backend, exe, log_path):
    """Starts one server pinned to the server CPU on a fresh seeded database; returns (proc, base URL, cwd)."""
    log = open(log_path, "w")
    base = f"http://127.0.0.1:{args.port}"
    if impl == "feathers":
        db = os.path.join(RESULTS, "feathers.sqlite")
        cmd = ["taskset", "-c", str(args.server_cpu), "node", "--expose-gc", "server.js", "--port", str(args.port),
               "--db", db, "--fresh", "--seed", str(args.seed)]
        proc = subprocess.Popen(cmd, cwd=args.feathers, env=dict(os.environ, NODE_ENV="production"), stdout=log,
                                stderr=subprocess.STDOUT)
        ready = base + "/todos/1"
    else:
        if backend == "sqlite":
            database = "sqlite://" + os.path.join(RESULTS, f"bench-{impl}.db")
        else:
            database = args.pg_url
        cmd = ["taskset", "-c", str(args.server_cpu), exe, *server_mode(impl), "--database", database,
               "--port", str(args.port), "--fresh", "--seed", str(args.seed)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        if args.max_connections:
            cmd += ["--max-connections", str(args.max_connections)]
        cmd += args.server_arg
        proc = subprocess.Popen(cmd, cwd=HERE, stdout=log, stderr=subprocess.STDOUT)
        ready = base + "/api/todos/1"
    try:
        wait_ready(ready, proc)
    except Exception:
        stop(proc)
        log.close()
        raise
    return proc, base, log


# ---------------------------------------------------------------- PostgreSQL

def psql(args, sql, db="postgres"):
    p = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql], capture_output=True,
                       text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed: {p.stderr}")
    return p.stdout.strip()


def pg_prepare(args):
    """Creates the benchmark database when missing; returns the postmaster pid and the server version."""
    name = args.pg_url.rsplit("/", 1)[1].split("?")[0]
    if psql(args, f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
        psql(args, f'CREATE DATABASE "{name}"')
    data = psql(args, "SHOW data_directory")
    version = psql(args, "SHOW server_version")
    with open(os.path.join(data, "postmaster.pid")) as f:
        return int(f.readline()), version


def affinity(pid):
    out = subprocess.run(["taskset", "-p", "-c", str(pid)], capture_output=True, text=True).stdout
    return out.rsplit(":", 1)[1].strip() if ":" in out else None


def pin_tree(root_pid, cpus):
    """Pins the postmaster and every child (all threads) to cpus; new backends inherit it from the postmaster."""
    for pid in [root_pid] + children_of(root_pid):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)


# ---------------------------------------------------------------- matrix

def machine_line():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} vCPU {cpu}, {mem:.0f} GiB, Linux {platform.release()}"


def git_rev():
    p = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return p.stdout.strip()


def run_backend(args, backend, exe, out_path, meta):
    impls = [i for i in args.impls.split(",") if backend == "sqlite" or i != "feathers"]
    pg_root = None
    pinned_from = None
    if backend == "postgres":
        pg_root, meta["postgres"] = pg_prepare(args)
        if args.pin_postgres:
            pinned_from = affinity(pg_root)
            pin_tree(pg_root, str(args.server_cpu))
    try:
        for rnd in range(1, args.rounds + 1):
            shift = (rnd - 1) % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                run_server(args, backend, impl, rnd, exe, out_path, meta, pg_root)
    finally:
        if pg_root and pinned_from:
            pin_tree(pg_root, pinned_from)


def run_server(args, backend, impl, rnd, exe, out_path, meta, pg_root):
    """One round of one implementation: a fresh seeded server, then every route in turn.

    A measured run with any non-2xx answer is recorded with "failed": true and
    left out of the tables; the server is then restarted on a fresh database and the route run
    again (at most --retries times), so one broken run does not spoil the routes after it."""
    log_path = os.path.join(RESULTS, f"server-{backend}-{impl}-r{rnd}.log")
    proc, base, log = start_server(args, impl, backend, exe, log_path)
    try:
        for route in args.routes.split(","):
            for attempt in range(args.retries + 1):
                res = measure_route(args, backend, impl, rnd, route, proc, base, meta, pg_root)
                res["attempt"] = attempt + 1
                res["failed"] = res["non_2xx"] > 0
                line = json.dumps(res)
                print(line, flush=True)
                with open(out_path, "a") as f:
                    f.write(line + "\n")
                if not res["failed"]:
                    break
                stop(proc)
                log.close()
                log_path = os.path.join(RESULTS, f"server-{backend}-{impl}-r{rnd}-{route}-retry{attempt + 1}.log")
                proc, base, log = start_server(args, impl, backend, exe, log_path)
    finally:
        stop(proc)
        log.close()


def measure_route(args, backend, impl, rnd, route, proc, base, meta, pg_root):
    """Warm-up, then the measured wrk run with the server's CPU read around it."""
    if pg_root and args.pin_postgres:
        pin_tree(pg_root, str(args.server_cpu))  # backends the pool opened since
    ours_script, ours_path, f_script, f_path = ROUTE_FILES[route]
    if impl == "feathers":
        cwd, script, url = args.feathers, f_script, base + f_path
    else:
        cwd, script, url = HERE, ours_script, base + ours_path
    run_wrk(args, cwd, script, url, args.warmup, False)  # warm-up, discarded
    builds0 = busy_builds()
    pg0 = tree_cpu(pg_root) if pg_root else {}
    (u0, s0), t0 = proc_cpu_split(proc.pid), time.monotonic()
    out, wall, wrk_cpu = run_wrk(args, cwd, script, url, args.duration, True)
    (u1, s1), t1 = proc_cpu_split(proc.pid), time.monotonic()
    c0, c1 = u0 + s0, u1 + s1
    pg1 = tree_cpu(pg_root) if pg_root else {}
    builds1 = busy_builds()
    r = parse_wrk(out)
    res = {
        "impl": impl, "backend": backend, "route": route, "round": rnd, "conns": args.conns,
        "duration_s": args.duration, **r,
        "server_cpu_s": round(c1 - c0, 3),
        "server_cpu_util": round((c1 - c0) / (t1 - t0), 3),
        "server_cpu_us_per_req": round((c1 - c0) * 1e6 / max(r["requests"], 1), 2),
        "server_user_us_per_req": round((u1 - u0) * 1e6 / max(r["requests"], 1), 2),
        "server_sys_us_per_req": round((s1 - s0) * 1e6 / max(r["requests"], 1), 2),
        "server_rss_kb": proc_rss_kb(proc.pid),
        "client_cpu_s": round(wrk_cpu, 2),
        "client_cpu_util": round(wrk_cpu / wall, 3),
        "builds_running": max(builds0, builds1),
        "max_connections": args.max_connections or "default",
        "server_args": args.server_arg,
        **meta,
    }
    if pg_root:
        pg_cpu = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
        res["pg_cpu_s"] = round(pg_cpu, 3)
        res["pg_cpu_us_per_req"] = round(pg_cpu * 1e6 / max(r["requests"], 1), 2)
    return res


# ---------------------------------------------------------------- summary

def fmt(vals, nd=1, k=False):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "—"

    def f(v):
        return f"{v / 1000:.{nd}f}k" if k else f"{v:.{nd}f}"
    med = statistics.median(vals)
    return f(med) if len(vals) == 1 else f"{f(med)} [{f(min(vals))}–{f(max(vals))}]"


def ratio_cell(num, den, nd=2):
    """Ratio of medians, with the range of the per-round ratios."""
    if not num or not den:
        return "—"
    med = statistics.median(num) / statistics.median(den)
    pairs = [a / b for a, b in zip(num, den) if b]
    if len(pairs) > 1:
        return f"{med:.{nd}f} [{min(pairs):.{nd}f}–{max(pairs):.{nd}f}]"
    return f"{med:.{nd}f}"


def summarize(paths):
    runs = []
    for p in paths:
        with open(p) as fh:
            runs += [json.loads(line) for line in fh if line.strip()]
    by = {}
    failed = {}
    for r in runs:
        key = (r["backend"], r["route"], r["impl"])
        if r.get("failed"):
            failed[key] = failed.get(key, 0) + 1
        else:
            by.setdefault(key, []).append(r)
    for r in by.values():
        r.sort(key=lambda x: x["round"])
    backends = [b for b in ("sqlite", "postgres") if any(k[0] == b for k in by)]
    for backend in backends:
        pg = backend == "postgres"
        print(f"### {'SQLite (WAL, synchronous=NORMAL)' if not pg else 'PostgreSQL'}\n")
        head = "| route | implementation | req/s | p50 ms | p99 ms | server CPU µs/req |"
        sep = "| --- | --- | --- | --- | --- | --- |"
        if pg:
            head += " PostgreSQL CPU µs/req |"
            sep += " --- |"
        head += " server CPU | wrk CPU | runs |"
        sep += " --- | --- | --- |"
        print(head)
        print(sep)
        for route in ROUTES:
            for impl in IMPL_NAMES:
                rs = by.get((backend, route, impl))
                if not rs:
                    continue
                bad = failed.get((backend, route, impl), 0)
                note = f" ({bad} failed run{'s' if bad > 1 else ''} left out)" if bad else ""
                busy = "†" if any(r.get("builds_running") for r in rs) else ""
                row = (f"| {ROUTE_NAMES[route]} | {IMPL_NAMES[impl]}{note}{busy} "
                       f"| {fmt([r['req_per_s'] for r in rs], 2, k=True)} "
                       f"| {fmt([r.get('p50_ms') for r in rs], 2)} | {fmt([r.get('p99_ms') for r in rs], 1)} "
                       f"| {fmt([r['server_cpu_us_per_req'] for r in rs], 1)} |")
                if pg:
                    row += f" {fmt([r.get('pg_cpu_us_per_req') for r in rs], 1)} |"
                row += (f" {min(r['server_cpu_util'] for r in rs):.2f}–{max(r['server_cpu_util'] for r in rs):.2f} "
                        f"| {min(r['client_cpu_util'] for r in rs):.2f}–{max(r['client_cpu_util'] for r in rs):.2f} "
                        f"| {len(rs)} |")
                print(row)
        print()
        print("Ratios (ratio of medians [range of per-round ratios]):\n")
        head = "| route | server CPU/req (a)÷(b), target ≤ 1.15 | req/s (a)÷(b) |"
        sep = "| --- | --- | --- |"
        if not pg:
            head += " req/s per server core (a)÷(c), target ≥ 3 | req/s (a)÷(c) |"
            sep += " --- | --- |"
        print(head)
        print(sep)
        for route in ROUTES:
            g = by.get((backend, route, "generated"), [])
            h = by.get((backend, route, "hand"), [])
            fe = by.get((backend, route, "feathers"), [])
            row = (f"| {ROUTE_NAMES[route]} "
                   f"| {ratio_cell([r['server_cpu_us_per_req'] for r in g], [r['server_cpu_us_per_req'] for r in h])} "
                   f"| {ratio_cell([r['req_per_s'] for r in g], [r['req_per_s'] for r in h])} |")
            if not pg:
                # req/s per core = 1e6 / CPU µs per request, so (a)÷(c) per core = CPU(c) ÷ CPU(a).
                row += (f" {ratio_cell([r['server_cpu_us_per_req'] for r in fe], [r['server_cpu_us_per_req'] for r in g], 1)} "
                        f"| {ratio_cell([r['req_per_s'] for r in g], [r['req_per_s'] for r in fe], 1)} |")
            print(row)
        print()
    if any(r.get("builds_running") for r in runs):
        print("† a compiler was running during at least one of these runs.\n")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--impls", default="generated,hand,feathers",
                    help="comma list of generated, hand, feathers (SQLite only) and generated-feed (generated "
                         "with the Bayeux feed publishing every commit, as the example runs)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--routes", default=",".join(ROUTES))
    ap.add_argument("--seed", type=int, default=10000)
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="tokio workers (0: the runtime's default)")
    ap.add_argument("--max-connections", type=int, default=0,
                    help="pool size for both of our modes (0: the store's default)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for our servers (repeatable), e.g. --server-arg=--detach")
    ap.add_argument("--retries", type=int, default=2,
                    help="re-runs of a route on a fresh server after a run with errors")
    ap.add_argument("--pg-url", default=os.environ.get("LIVE_BENCH_POSTGRES",
                                                       "postgres://postgres@127.0.0.1:5432/live_bench"))
    ap.add_argument("--no-pin-postgres", dest="pin_postgres", action="store_false")
    ap.add_argument("--feathers", default=FEATHERS, help="the Feathers bench folder (npm ci done)")
    ap.add_argument("--no-build", action="store_true", help="use --exe instead of building")
    ap.add_argument("--exe", default=None)
    ap.add_argument("--out", default=None, help="JSON lines file (default results/rest-<time>.jsonl)")
    ap.add_argument("--summarize", nargs="*", metavar="JSONL", help="only print the tables of these files")
    args = ap.parse_args()

    if args.summarize is not None:
        summarize(args.summarize)
        return 0

    os.makedirs(RESULTS, exist_ok=True)
    out_path = args.out or os.path.join(RESULTS, f"rest-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}.jsonl")
    exe = os.path.abspath(args.exe) if args.no_build else build(args)
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    meta = {
        "machine": machine_line(), "git": git_rev(), "wrk": wrk_version.strip(),
        "at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if "feathers" in args.impls:
        meta["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        run_backend(args, backend, exe, out_path, dict(meta))
    print(f"\nresults: {os.path.relpath(out_path)}\n")
    summarize([out_path])
    return 0


if __name__ == "__main__":
    sys.exit(main())
