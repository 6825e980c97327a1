#!/usr/bin/env python3
"""Fan-out benchmark: our Bayeux server (`example-todo`) against faye 1.4.3, same load client, same session.

    python3 examples/bench/fanout/bench.py                      # whole matrix, 3 rounds
    python3 examples/bench/fanout/bench.py --rows ws-n1000-w1,ws-n1000-w8 --rounds 3
    python3 examples/bench/fanout/bench.py --summarize examples/bench/results/fanout-*.jsonl
    python3 examples/bench/fanout/bench.py --baseline-rev 3ed6d83 --rows ws-n1000-w8,ws-n10000-w1 --rounds 5
    python3 examples/bench/fanout/bench.py --scenario partitions|filters|records|records-callgrind|list --rounds 5   # scenarios.py

What it does (see README.md next to this file and docs/benchmarks-live.md):

1. copies `server.js load.js run.sh package.json` from the shared faye bench (`../shared/bench/faye/`,
   relative to the repository root) to a scratch directory outside the repository (`mktemp -d`) and runs
   `npm install` there (faye 1.4.3, ws 8.23.0, pinned by that package.json);
2. builds `example-todo` in release and copies the binary to the scratch directory, so that a rebuild in
   the working tree cannot change the binary in the middle of the session;
3. for every row and round, runs the same `load.js` command against faye's `server.js` and against
   `example-todo`, alternating (the order flips every round), the server pinned to CPU 0
   (`taskset -c 0`), the load client to CPU 1, both on 127.0.0.1, every run bounded by `--max-seconds`
   and `timeout`, the server stopped by its PID afterwards;
4. appends one JSON line per run to `examples/bench/results/fanout-<UTC time>.jsonl` (git-ignored): the
   load.js result plus `server`, `row`, `round`, the noise seen before the run and the machine line;
5. prints the markdown tables (medians [min-max], ratios ours/faye) from that file.

With `--baseline-rev REV` it also builds `example-todo` from that revision (outside the repository,
cached by commit id, see ../baseline.py) and the servers default to `base,new`: the same binary built
from REV and from the working tree, alternating like faye and ours; the tables then lead with server
CPU per delivery, new / base (add faye with `--servers faye,base,new`).

Before each run it waits (bounded, `--quiet-wait` seconds) until no `cargo`, `rustc`, `wrk`, `valgrind`
(or `python ... run.py`) process is running, and records whatever was still running in the result
(`noise`); `--summarize --quiet-only` leaves those runs out of the tables.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import importlib.util

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SHARED_DEFAULT = os.path.join(REPO, "..", "shared", "bench", "faye")
RESULTS = os.path.join(REPO, "examples", "bench", "results")
SERVER_CPU, CLIENT_CPU = "0", "1"
NOISE_COMM = re.compile(r"^(cargo|rustc|wrk|valgrind|callgrind|memcheck|cc1|ld|cc$|c\+\+)")

# Channel for the Bayeux trigger: the same on both servers; `/chat/**` is publishable on ours by default.
CHANNEL = "/chat/bench"

# row id -> (load.js arguments, max seconds). The same arguments go to both servers; only the URL, the
# server PID, the stats URL (faye only: it runs gc()) and, for the REST trigger, the channel and POST
# URL differ.
ROWS = {
    "ws-n100-w1": (["--clients", "100", "--mode", "window", "--window", "1", "--messages", "200"], 60),
    "ws-n1000-w1": (["--clients", "1000", "--mode", "window", "--window", "1", "--messages", "100"], 60),
    "ws-n1000-w8": (["--clients", "1000", "--mode", "window", "--window", "8", "--messages", "500"], 60),
    "ws-n10000-w1": (["--clients", "10000", "--mode", "window", "--window", "1", "--messages", "30",
                      "--warmup", "5", "--idle-seconds", "3"], 120),
    # N=10000, W=1 for about 30 s: a steady stream longer than the ack interval (10 s), so that acknowledging
    # clients close batches as they would in production (not in the default set)
    "ws-n10000-w1-long": (["--clients", "10000", "--mode", "window", "--window", "1", "--messages", "250",
                           "--warmup", "5", "--idle-seconds", "3"], 150),
    # saturation windows for N=100 and N=10000 (not in the default set)
    "ws-n100-w32": (["--clients", "100", "--mode", "window", "--window", "32", "--messages", "3000"], 60),
    "ws-n10000-w4": (["--clients", "10000", "--mode", "window", "--window", "4", "--messages", "60",
                      "--warmup", "5", "--idle-seconds", "3"], 120),
    "lp-n100-w1": (["--transport", "long-polling", "--clients", "100", "--mode", "window", "--window", "1",
                    "--messages", "200"], 60),
    "lp-n1000-w1": (["--transport", "long-polling", "--clients", "1000", "--mode", "window", "--window", "1",
                     "--messages", "100"], 60),
    "lp-n1000-w8": (["--transport", "long-polling", "--clients", "1000", "--mode", "window", "--window", "8",
                     "--messages", "500"], 60),
    "lp-n10000-w1": (["--transport", "long-polling", "--clients", "10000", "--mode", "window", "--window", "1",
                      "--messages", "30", "--warmup", "5", "--idle-seconds", "3"], 120),
    # REST write as the trigger: faye's server.js POST /publish/<channel> against our POST /api/todos.
    # `--stamp title` sends {title: "bench SEQ T PAD"} to both, so the payload is the same.
    "rest-ws-n1000-w1": (["--trigger", "http", "--stamp", "title", "--clients", "1000", "--mode", "window",
                          "--window", "1", "--messages", "100"], 60),
    "rest-lp-n1000-w1": (["--trigger", "http", "--stamp", "title", "--transport", "long-polling",
                          "--clients", "1000", "--mode", "window", "--window", "1", "--messages", "100"], 60),
}
# Builds of a baseline revision, shared with the callgrind runner; loaded by path, as this script is run by path.
_spec = importlib.util.spec_from_file_location("bench_baseline", os.path.join(REPO, "examples", "bench", "baseline.py"))
baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baseline)

# Server kinds: faye's server.js, and example-todo built from the working tree (`ours` against faye,
# `new` against `base`, the build of --baseline-rev).
# `acks` is the working-tree binary again, with load.js's raw clients using CometD's ack extension
# (`--ack 1`), to be compared with `ours` (acks off) in the same rounds.
KINDS = ("faye", "ours", "base", "new", "acks")

DEFAULT_ROWS = ["ws-n1000-w1", "ws-n1000-w8", "ws-n10000-w1", "ws-n100-w1", "lp-n100-w1", "lp-n1000-w1",
                "lp-n1000-w8", "rest-ws-n1000-w1", "rest-lp-n1000-w1"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def machine_line():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), node {node}"


def setup_scratch(shared, scratch):
    if scratch is None:
        scratch = tempfile.mkdtemp(prefix="live-fanout-")
    os.makedirs(scratch, exist_ok=True)
    for name in ("server.js", "load.js", "run.sh", "package.json"):
        shutil.copy2(os.path.join(shared, name), os.path.join(scratch, name))
    if not os.path.isdir(os.path.join(scratch, "node_modules", "faye")):
        log(f"npm install in {scratch}")
        subprocess.run(["timeout", "600", "npm", "install", "--no-audit", "--no-fund"], cwd=scratch, check=True)
    return scratch


def build_ours(scratch, skip):
    if not skip:
        log("cargo build --release -p example-todo")
        subprocess.run(["timeout", "1800", "cargo", "build", "--release", "-p", "example-todo"], cwd=REPO, check=True)
    src = os.path.join(REPO, "target", "release", "example-todo")
    dst = os.path.join(scratch, "example-todo")
    rev_file = os.path.join(scratch, "example-todo.rev")
    if skip and os.path.exists(dst) and os.path.exists(rev_file):
        # keep the binary (and the commit it was built from) already in the scratch dir
        with open(rev_file) as f:
            return dst, f.read().strip()
    shutil.copy2(src, dst)
    rev = baseline.worktree_rev()
    with open(rev_file, "w") as f:
        f.write(rev + "\n")
    return dst, rev


def noise():
    """Compilers and other benchmarks running now: matched on the process name (plus `python ... run.py`),
    not on the whole command line, which may merely mention a path such as ~/.cargo/bin."""
    r = subprocess.run(["ps", "-eo", "pid=,comm=,args="], capture_output=True, text=True)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or parts[0] == str(os.getpid()):
            continue
        _, comm, args = parts
        if NOISE_COMM.match(comm) or (comm.startswith("python") and "run.py" in args):
            out.append(args[:120])
    return out


def busy_cores():
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_quiet(max_wait):
    """Waits (at most max_wait s) until no compiler or other benchmark runs and the machine is idle
    (< 0.15 busy cores over one second while we run nothing); returns what was still running."""
    deadline = time.time() + max_wait
    while True:
        n = noise()
        b0 = busy_cores()
        time.sleep(1)
        load = busy_cores() - b0
        if (not n and load < 0.15) or time.time() >= deadline:
            return n + ([f"busy {load:.2f} cores before the run"] if load >= 0.15 else [])


def wait_http(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


def start_server(kind, scratch, bins, port, tag, ours_env=()):
    logf = open(os.path.join(scratch, f"{tag}.server.log"), "w")
    if kind == "faye":
        cmd = ["taskset", "-c", SERVER_CPU, "node", "--expose-gc", "server.js", "--port", str(port)]
        ready = f"http://127.0.0.1:{port}/__stats"
    else:
        db = os.path.join(scratch, f"{tag}.db")
        cmd = ["taskset", "-c", SERVER_CPU, bins[kind], "--bind", f"127.0.0.1:{port}", "--database", f"sqlite://{db}",
               # load.js's publisher warms its transport with a publish on /bench/warmup before timing;
               # our default policy (/chat/** only) refuses it and the run would stop there.
               "--allow-publish", "/chat/**", "--allow-publish", "/bench/warmup"]
        ready = f"http://127.0.0.1:{port}/api/todos"
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    if kind == "ours":
        env.update(kv.split("=", 1) for kv in ours_env)
    p = subprocess.Popen(cmd, cwd=scratch, stdout=logf, stderr=subprocess.STDOUT, preexec_fn=raise_nofile, env=env)
    if not wait_http(ready):
        stop_server(p)
        raise RuntimeError(f"{kind} server did not come up (see {tag}.server.log)")
    return p


def stop_server(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def run_one(kind, row, rnd, scratch, bins, port, quiet_wait, ours_env=(), variant=""):
    args, max_s = ROWS[row]
    tag = f"{kind}{variant}-{row}-r{rnd}"
    still = wait_quiet(quiet_wait)
    busy0, mine0, wall0 = busy_cores(), children_cpu(), time.time()
    try:
        p = start_server(kind, scratch, bins, port, tag, ours_env)
    except RuntimeError as e:
        return {"label": tag, "end_reason": f"error: {e}", "server": kind + variant, "row": row, "round": rnd,
                "noise": still}
    try:
        base = f"http://127.0.0.1:{port}"
        cmd = ["timeout", str(max_s + 20), "taskset", "-c", CLIENT_CPU, "node", "load.js",
               "--server-pid", str(p.pid), "--max-seconds", str(max_s), "--label", tag]
        trigger_http = "--trigger" in args and args[args.index("--trigger") + 1] == "http"
        if kind == "acks":
            cmd += ["--ack", "1"]
        if kind == "faye":
            cmd += ["--url", f"{base}/faye", "--stats-url", f"{base}/__stats"]
            cmd += ["--channel", CHANNEL]
            if trigger_http:
                cmd += ["--post-url", f"{base}/publish{CHANNEL}"]
        else:
            cmd += ["--url", f"{base}/live"]
            if trigger_http:
                cmd += ["--channel", "/api/todos", "--post-url", f"{base}/api/todos"]
            else:
                cmd += ["--channel", CHANNEL]
        cmd += args
        t0 = time.time()
        r = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True, preexec_fn=raise_nofile)
        wall = time.time() - t0
        alive = p.poll() is None
    finally:
        stop_server(p)
    # CPU used on the machine during the run by anything but our two child processes (server, client)
    wall_all = time.time() - wall0
    foreign = (busy_cores() - busy0) - (children_cpu() - mine0)
    after = noise()
    line = next((l for l in reversed(r.stdout.splitlines()) if l.startswith("{")), None)
    if line is None:
        d = {"label": tag, "end_reason": f"no result (exit {r.returncode})", "stderr": r.stderr[-2000:]}
    else:
        d = json.loads(line)
        if r.stderr.strip():
            d["stderr"] = r.stderr[-2000:]
    if foreign / wall_all >= 0.15:
        after.append(f"foreign {foreign / wall_all:.2f} cores during the run")
    d.update({"server": kind + variant, "row": row, "round": rnd, "noise": still + after,
              "noise_before": still, "noise_after": after, "foreign_cpu_util": round(foreign / wall_all, 2), "server_alive_after": alive,
              "load_exit": r.returncode, "run_wall_s": round(wall, 1), "load_cmd": " ".join(cmd[4:])})
    return d


# ---------------------------------------------------------------- summary

def g(d, path):
    for k in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


METRICS = [
    ("deliveries/s", "deliveries_per_s", True),
    ("srv us/delivery", "server_cpu_us_per_delivery", False),
    ("fan-out p50 ms", "fanout_completion.p50_ms", False),
    ("fan-out p99 ms", "fanout_completion.p99_ms", False),
    ("latency p99 ms", "delivery_latency.p99_ms", False),
    ("srv CPU util", "server_cpu_util", None),
    ("client CPU util", "client_cpu_util", None),
    ("RSS/sub B", "server_rss_per_subscriber_bytes", False),
]


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-", None
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt(m), m
    return f"{fmt(m)} [{fmt(min(vals))}-{fmt(max(vals))}]", m


def summarize(paths, quiet_only=False):
    runs = []
    for p in paths:
        with open(p) as f:
            runs += [json.loads(l) for l in f if l.startswith("{")]
    if quiet_only:
        runs = [r for r in runs if not r.get("noise")]
    rows = []
    for r in runs:
        if r.get("row") and r["row"] not in rows:
            rows.append(r["row"])
    servers = {r.get("server") for r in runs}
    out = []
    if servers & {"base", "new"}:
        revs = {k: sorted({r.get("binary_rev") or "?" for r in runs if r.get("server") == k}) for k in ("base", "new")}
        out += [f"Server CPU per delivery (`server_cpu_us_per_delivery`: server process CPU during the publish phase "
                f"/ deliveries), base ({', '.join(revs['base'])}) against new ({', '.join(revs['new'])}); "
                f"n/b = new / base of the medians [range of the per-round ratios]; foreign = CPU other processes "
                f"used during the run, in cores. Target for the reshaped core: n/b of srv us/delivery ≤ 1.03 on "
                f"ws-n1000-w8 and ws-n10000-w1.\n"]
        out += pair_tables(runs, rows, ("base", "new"), ("base", "new"), "n/b", paired=True,
                           columns=("server_cpu_us_per_delivery", "deliveries_per_s", "fanout_completion.p99_ms"),
                           extra=("foreign_cpu_util", "foreign"))
    off = "ours" if "ours" in servers else "new"
    if {off, "acks"} <= servers:
        if out:
            out.append("")
        out += [f"Acknowledged delivery: the same binary, load.js's raw clients without acks (off) and with CometD's "
                f"ack extension (on, server `acks`); on/off = on / off of the medians [range of the per-round ratios]. Target: "
                f"srv us/delivery on/off ≤ 1.1 on ws-n1000-w8 and ws-n10000-w1; RSS per idle subscriber ≤ 8 KiB.\n"]
        out += pair_tables(runs, rows, (off, "acks"), ("acks off", "acks on"), "on/off", paired=True,
                           columns=("server_cpu_us_per_delivery", "deliveries_per_s", "server_rss_per_subscriber_bytes"))
        servers = servers - {"acks"}
    if "faye" in servers:
        vs = "ours" if "ours" in servers or "new" not in servers else "new"
        if out:
            out.append("")
        out += pair_tables(runs, rows, ("faye", vs), ("faye 1.4.3", vs), vs[0] + "/f")
    return "\n".join(out)


def pair_tables(runs, rows, kinds, names, ratio_name, paired=False,
                columns=("deliveries_per_s", "server_cpu_us_per_delivery", "fanout_completion.p99_ms"),
                extra=("client_cpu_util", "client CPU")):
    """The summary table of two servers (first column set `columns`), then one table per row with every
    metric. `paired` adds the range of the per-round ratios (both servers ran in every round)."""
    a, b = kinds
    short = {"deliveries_per_s": "deliveries/s", "server_cpu_us_per_delivery": "srv us/delivery",
             "fanout_completion.p99_ms": "fan-out p99 ms", "server_rss_per_subscriber_bytes": "RSS B/idle sub"}
    head = f"| row | runs (noisy) {a} / {b} |"
    for path in columns:
        head += f" {short[path]} {a} | {b} | {ratio_name} |"
    head += f" {extra[1]} {a} / {b} | lost / dup {a} | {b} |"
    out = [head, "|" + "---|" * (2 + 3 * len(columns) + 3)]
    for row in rows:
        by = {k: [r for r in runs if r.get("row") == row and r.get("server") == k] for k in kinds}
        noisy = [sum(1 for r in by[k] if r.get("noise")) for k in kinds]
        line = [row, f"{len(by[a])} ({noisy[0]}) / {len(by[b])} ({noisy[1]})"]
        for path in columns:
            ca, ma = cell([g(r, path) for r in by[a]])
            cb, mb = cell([g(r, path) for r in by[b]])
            line += [ca, cb, ratio(ma, mb, by[a], by[b], path, paired)]
        line.append(" / ".join(cell([g(r, extra[0]) for r in by[k]])[0] for k in kinds))
        for k in kinds:
            lost = sum(r.get("lost") or 0 for r in by[k])
            dup = sum(r.get("dup_or_out_of_range") or 0 for r in by[k])
            bad = sum(1 for r in by[k] if r.get("end_reason") != "all-delivered")
            line.append(f"{lost} / {dup}" + (f" ({bad} incomplete)" if bad else ""))
        out.append("| " + " | ".join(line) + " |")
    for row in rows:
        by = {k: [r for r in runs if r.get("row") == row and r.get("server") == k] for k in kinds}
        out.append(f"\n#### {row}: {ROWS.get(row, ([], 0))[0] and ' '.join(ROWS[row][0])}\n")
        out.append(f"| metric | {names[0]} | {names[1]} | {b} / {a} |")
        out.append("|---|---|---|---|")
        for name, path, _ in METRICS:
            ca, ma = cell([g(r, path) for r in by[a]])
            cb, mb = cell([g(r, path) for r in by[b]])
            out.append(f"| {name} | {ca} | {cb} | {ratio(ma, mb, by[a], by[b], path, paired)} |")
        for k in kinds:
            lost = [r.get("lost") for r in by[k]]
            dup = [r.get("dup_or_out_of_range") for r in by[k]]
            pe = [r.get("publish_errors") for r in by[k]]
            ends = sorted({str(r.get("end_reason")) for r in by[k]})
            noisy = sum(1 for r in by[k] if r.get("noise"))
            out.append(f"| {k}: runs / lost / dup / publish errors / end / noisy runs | {len(by[k])} runs | "
                       f"lost {lost} dup {dup} pub-err {pe} | {', '.join(ends)}; noisy {noisy} |")
        if paired:
            for k in kinds:
                noise = [f"r{r.get('round')}: {noise_line(r)}" for r in by[k] if r.get("noise")]
                if noise:
                    out.append(f"| {k}: noise recorded | {'; '.join(noise)} | | |")
    return out


def noise_line(run):
    """What wait_quiet and run_one recorded for a run, in short: the compilers or benchmarks still
    running, the machine's load before the run, and the CPU of other processes during it."""
    procs = [n for n in run["noise"] if not n.startswith(("busy ", "foreign "))]
    loads = [n for n in run["noise"] if n.startswith(("busy ", "foreign "))]
    names = sorted({os.path.basename(p.split()[0]) for p in procs if p.split()})
    parts = [f"{len(procs)} processes ({', '.join(names)})"] if procs else []
    return ", ".join(parts + loads)


def ratio(ma, mb, runs_a, runs_b, path, paired):
    """b / a of the medians; when paired, with the range of the ratios of the runs of the same round."""
    if not ma or mb is None:
        return "-"
    text = f"{mb / ma:.2f}x"
    if paired:
        va = {r.get("round"): g(r, path) for r in runs_a}
        per_round = [g(r, path) / va[r.get("round")] for r in runs_b
                     if g(r, path) is not None and va.get(r.get("round"))]
        if len(per_round) > 1:
            text = f"{mb / ma:.3f} [{min(per_round):.3f}-{max(per_round):.3f}]"
        elif per_round:
            text = f"{mb / ma:.3f}"
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(DEFAULT_ROWS), help="comma-separated row ids: " + ", ".join(ROWS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", default=None,
                    help="comma list of faye, ours, base, new, acks (default faye,ours; with --baseline-rev base,new); "
                         "ours, new and acks are the same working-tree binary, named for what they are compared "
                         "with (acks: load.js's clients acknowledge, against ours without)")
    ap.add_argument("--first-round", type=int, default=1, help="number of the first round (to add rounds to a file)")
    ap.add_argument("--shared", default=SHARED_DEFAULT, help="the shared faye bench (default ../shared/bench/faye)")
    ap.add_argument("--scratch", default=None, help="reuse this scratch dir (default: a new mktemp -d); "
                    "baseline builds are kept there too (default: $XDG_CACHE_HOME/live-bench)")
    ap.add_argument("--baseline-rev", default=None, metavar="REV",
                    help="build example-todo from this git revision too and run it as server `base`")
    ap.add_argument("--no-build", action="store_true", help="use target/release/example-todo as it is")
    ap.add_argument("--port", type=int, default=18300)
    ap.add_argument("--quiet-wait", type=float, default=60, help="max seconds to wait for no compile/bench noise")
    ap.add_argument("--out", default=None)
    ap.add_argument("--ours-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for our server only (diagnostics, e.g. LD_PRELOAD); "
                         "its runs are labelled with --variant")
    ap.add_argument("--variant", default="", help="suffix for the server name of these runs, e.g. -nodelay")
    ap.add_argument("--summarize", nargs="*", help="only print the tables of these result files")
    ap.add_argument("--quiet-only", action="store_true", help="with --summarize: leave out runs with noise")
    ap.add_argument("--scenario", choices=["partitions", "filters", "records", "records-callgrind", "list"], default=None,
                    help="a figure of the partitions work against its baseline, side by side (scenarios.py, "
                         "docs/benchmarks.md \"Partitions, record channels and filters\"); --rows and --servers "
                         "do not apply")
    ap.add_argument("--variants", default=None, help="with --scenario: only these variants (comma list)")
    ap.add_argument("--r1", type=int, default=100, help="with --scenario list: requests of the first callgrind run")
    ap.add_argument("--r2", type=int, default=400, help="with --scenario list: requests of the second callgrind run")
    ap.add_argument("--summarize-scenario", nargs="*", help="only print the scenario tables of these result files")
    a = ap.parse_args()

    if a.summarize:
        print(summarize(a.summarize, a.quiet_only))
        return
    if a.scenario or a.summarize_scenario:
        spec = importlib.util.spec_from_file_location("bench_scenarios", os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "scenarios.py"))
        scenarios = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(scenarios)
        if a.summarize_scenario:
            print(scenarios.summarize(a.summarize_scenario, a.quiet_only))
        else:
            scenarios.run(sys.modules[__name__], a)
        return
    raise_nofile()
    rows = [r for r in a.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            sys.exit(f"unknown row {r}; known: {', '.join(ROWS)}")
    scratch = setup_scratch(os.path.abspath(a.shared), a.scratch)
    servers = (a.servers or ("base,new" if a.baseline_rev else "faye,ours")).split(",")
    for k in servers:
        if k not in KINDS:
            sys.exit(f"unknown server {k}; known: {', '.join(KINDS)}")
    if "base" in servers and not a.baseline_rev:
        sys.exit("server base needs --baseline-rev REV")
    ours_bin, rev = build_ours(scratch, a.no_build)
    bins = {"ours": ours_bin, "new": ours_bin, "acks": ours_bin}
    bin_revs = {"ours": rev, "new": rev, "acks": rev}
    if "base" in servers:
        bin_revs["base"], built = baseline.binaries(a.baseline_rev, {"example-todo": "example-todo"}, a.scratch, log)
        bins["base"] = built["example-todo"]
    os.makedirs(RESULTS, exist_ok=True)
    out = a.out or os.path.join(RESULTS, "fanout-" + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ") + ".jsonl")
    machine = machine_line()
    log(f"scratch {scratch}\nresults {out}\nmachine {machine}\nrev {rev}"
        + (f"\nbase {bin_revs['base']} ({bins['base']})" if "base" in bins else ""))
    with open(out, "a") as f:
        for rnd in range(a.first_round, a.first_round + a.rounds):
            for row in rows:
                order = servers if rnd % 2 == 1 else list(reversed(servers))
                for kind in order:
                    d = run_one(kind, row, rnd, scratch, bins, a.port, a.quiet_wait, a.ours_env if kind == "ours" else (), a.variant if kind == "ours" else "")
                    d.update({"machine": machine, "rev": rev, "binary_rev": bin_revs.get(kind),
                              "at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")})
                    f.write(json.dumps(d) + "\n")
                    f.flush()
                    log(f"{d['label']}: {d.get('end_reason')} foreign={d.get('foreign_cpu_util')} dps={d.get('deliveries_per_s')} "
                        f"us/del={d.get('server_cpu_us_per_delivery')} p99={g(d, 'fanout_completion.p99_ms')} "
                        f"lost={d.get('lost')} dup={d.get('dup_or_out_of_range')} cli={d.get('client_cpu_util')} "
                        f"rss/sub={d.get('server_rss_per_subscriber_bytes')} noise={len(d['noise'])}")
    print(summarize([out]))


if __name__ == "__main__":
    main()
