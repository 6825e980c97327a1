#!/usr/bin/env python3
"""Scale-out benchmark: REST writes delivered to WebSocket subscribers spread over 3 example-todo nodes on one
PostgreSQL database with one bus, against the same load on one node.

    python3 examples/bench/cluster/bench.py                     # every row, 3 rounds
    python3 examples/bench/cluster/bench.py --rows one-n1000-w1,three-redis-n3000-w1 --rounds 1
    python3 examples/bench/cluster/bench.py --summarize examples/bench/results/cluster-*.jsonl

What it does (README.md next to this file; results in docs/benchmarks.md):

1. copies `load.js` and `package.json` of the shared faye bench (`../shared/bench/faye/`, relative to the
   repository root) to a scratch directory outside the repository and runs `npm install` there;
2. builds `example-todo` in release and copies the binary to the scratch directory;
3. for every round and row: creates a fresh database on the shared PostgreSQL, starts a private Redis or
   NATS when the row's bus needs one, starts the row's nodes (all pinned to CPU 0), runs `load.js` once
   (pinned to CPU 1) with `spread.cjs` preloaded, which spreads its subscribers and its REST writes over the
   nodes round-robin and sums the nodes' CPU and RSS where load.js samples the server, then stops
   everything by PID and drops the database;
4. appends one JSON line per run to `examples/bench/results/cluster-<UTC time>.jsonl` (git-ignored), with
   the load average and the CPU other processes used during the run, and prints the markdown tables.
"""

import argparse
import datetime
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_DEFAULT = os.path.join(REPO, "..", "shared", "bench", "faye")
RESULTS = os.path.join(REPO, "examples", "bench", "results")
SERVER_CPU, CLIENT_CPU = "0", "1"
ADMIN_URL = os.environ.get("LIVE_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")
NOISE_COMM = re.compile(r"^(cargo|rustc|wrk|valgrind|callgrind|memcheck|cc1|ld|cc$|c\+\+)")

# row id -> (nodes, bus, load.js arguments, max seconds). Every row: REST trigger (POST /api/todos with
# {"title": "bench SEQ T PAD"}), raw WebSocket subscribers on /api/todos.
def _row(nodes, bus, clients, window, messages, max_s=60):
    return (nodes, bus, ["--clients", str(clients), "--mode", "window", "--window", str(window),
                         "--messages", str(messages)], max_s)


ROWS = {
    "one-n1000-w1": _row(1, "inprocess", 1000, 1, 100),
    "one-n3000-w1": _row(1, "inprocess", 3000, 1, 100),
    "three-postgres-n3000-w1": _row(3, "postgres", 3000, 1, 100),
    "three-redis-n3000-w1": _row(3, "redis", 3000, 1, 100),
    "three-nats-n3000-w1": _row(3, "nats", 3000, 1, 100),
    "one-n1000-w8": _row(1, "inprocess", 1000, 8, 400),
    "one-n3000-w8": _row(1, "inprocess", 3000, 8, 400),
    "three-postgres-n3000-w8": _row(3, "postgres", 3000, 8, 400),
    "three-redis-n3000-w8": _row(3, "redis", 3000, 8, 400),
    "three-nats-n3000-w8": _row(3, "nats", 3000, 8, 400),
}
DEFAULT_ROWS = list(ROWS)

# The helpers this runner shares with the fan-out runner, loaded from its file (both scripts are run by path).
_spec = importlib.util.spec_from_file_location("fanout_bench", os.path.join(HERE, "..", "fanout", "bench.py"))
_fanout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fanout)
log, raise_nofile, machine_line = _fanout.log, _fanout.raise_nofile, _fanout.machine_line
busy_cores, children_cpu, wait_http, g, fmt = (
    _fanout.busy_cores, _fanout.children_cpu, _fanout.wait_http, _fanout.g, _fanout.fmt)



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True, timeout=60,
                   capture_output=True)


def with_database(url, name):
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path=f"/{name}"))


def setup_scratch(shared, scratch):
    if scratch is None:
        scratch = tempfile.mkdtemp(prefix="live-cluster-bench-")
    os.makedirs(scratch, exist_ok=True)
    for name in ("load.js", "package.json"):
        shutil.copy2(os.path.join(shared, name), os.path.join(scratch, name))
    if not os.path.isdir(os.path.join(scratch, "node_modules", "ws")):
        log(f"npm install in {scratch}")
        subprocess.run(["timeout", "600", "npm", "install", "--no-audit", "--no-fund"], cwd=scratch, check=True)
    return scratch


def build_ours(scratch, skip):
    if not skip:
        log("cargo build --release -p example-todo")
        subprocess.run(["timeout", "1800", "cargo", "build", "--release", "-p", "example-todo"], cwd=REPO, check=True)
    dst = os.path.join(scratch, "example-todo")
    rev_file = os.path.join(scratch, "example-todo.rev")
    if skip and os.path.exists(dst) and os.path.exists(rev_file):
        with open(rev_file) as f:
            return dst, f.read().strip()
    shutil.copy2(os.path.join(REPO, "target", "release", "example-todo"), dst)
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                         text=True).stdout.strip()
    with open(rev_file, "w") as f:
        f.write(rev + "\n")
    return dst, rev


def noise():
    """Compilers and benchmarks running now (by process name; `python ... run.py` for the REST bench)."""
    r = subprocess.run(["ps", "-eo", "pid=,comm=,args="], capture_output=True, text=True)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or parts[0] == str(os.getpid()):
            continue
        _, comm, args = parts
        if NOISE_COMM.match(comm) or (comm.startswith("python") and ("run.py" in args or "bench.py" in args)):
            out.append(args[:120])
    return out


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


def wait_quiet(max_wait):
    """Waits (at most max_wait s) until no compiler or benchmark runs and fewer than 0.15 cores are busy."""
    deadline = time.time() + max_wait
    while True:
        n = noise()
        b0 = busy_cores()
        time.sleep(1)  # measuring the machine's load over one second, not synchronising
        load = busy_cores() - b0
        if (not n and load < 0.15) or time.time() >= deadline:
            return n + ([f"busy {load:.2f} cores before the run"] if load >= 0.15 else [])


def wait_line(path, pattern, proc, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        with open(path) as f:
            if re.search(pattern, f.read()):
                return True
        time.sleep(0.05)  # polling a log file for a ready line, bounded by the deadline
    return False


def stop(p, sig=signal.SIGTERM):
    if p is not None and p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def start_broker(kind, scratch, tag):
    port = free_port()
    logf = os.path.join(scratch, f"{tag}.{kind}.log")
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        ready, url = r"Ready to accept connections", f"redis://127.0.0.1:{port}"
    else:
        cmd = ["nats-server", "-a", "127.0.0.1", "-p", str(port)]
        ready, url = r"Server is ready", f"nats://127.0.0.1:{port}"
    p = subprocess.Popen(cmd, cwd=scratch, stdout=open(logf, "w"), stderr=subprocess.STDOUT)
    if not wait_line(logf, ready, p):
        stop(p, signal.SIGKILL)
        raise RuntimeError(f"{kind} did not start (see {logf})")
    return p, url


def start_node(ours_bin, scratch, tag, i, database, bus):
    port = free_port()
    logf = open(os.path.join(scratch, f"{tag}.node{i}.log"), "w")
    cmd = ["taskset", "-c", SERVER_CPU, ours_bin, "--bind", f"127.0.0.1:{port}", "--database", database,
           "--bus", bus]
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    p = subprocess.Popen(cmd, cwd=scratch, stdout=logf, stderr=subprocess.STDOUT, preexec_fn=raise_nofile, env=env)
    if not wait_http(f"http://127.0.0.1:{port}/api/todos"):
        stop(p)
        raise RuntimeError(f"node {i} did not come up (see {tag}.node{i}.log)")
    return p, port


def run_one(row, rnd, scratch, ours_bin, quiet_wait):
    nodes_n, bus_kind, args, max_s = ROWS[row]
    tag = f"{row}-r{rnd}"
    still = wait_quiet(quiet_wait)
    load_before = os.getloadavg()
    dbname = f"live_cluster_bench_{secrets.token_hex(4)}"
    psql(ADMIN_URL, f"CREATE DATABASE {dbname}")
    database = with_database(ADMIN_URL, dbname)
    broker, nodes = None, []
    result = {"label": tag, "row": row, "round": rnd, "nodes": nodes_n, "bus": bus_kind, "noise_before": still,
              "loadavg_before": [round(x, 2) for x in load_before]}
    try:
        bus = bus_kind
        if bus_kind in ("redis", "nats"):
            broker, bus = start_broker(bus_kind, scratch, tag)
        # Started one after the other: the first creates the tables.
        for i in range(nodes_n):
            nodes.append(start_node(ours_bin, scratch, tag, i, database, bus))
        ports = [port for _, port in nodes]
        pids = [str(p.pid) for p, _ in nodes]
        base = f"http://127.0.0.1:{ports[0]}"
        cmd = ["timeout", str(max_s + 30), "taskset", "-c", CLIENT_CPU, "node", "-r", os.path.join(HERE, "spread.cjs"),
               "load.js", "--url", f"{base}/live", "--server-pid", pids[0], "--max-seconds", str(max_s),
               "--label", tag, "--trigger", "http", "--stamp", "title", "--channel", "/api/todos",
               "--post-url", f"{base}/api/todos"] + args
        env = dict(os.environ, LIVE_BENCH_PORTS=",".join(map(str, ports)), LIVE_BENCH_PIDS=",".join(pids))
        busy0, wall0, children0 = busy_cores(), time.time(), children_cpu()
        ours0 = sum(proc_cpu(p.pid) for p, _ in nodes) + (proc_cpu(broker.pid) if broker else 0)
        r = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True, preexec_fn=raise_nofile, env=env)
        wall = time.time() - wall0
        ours1 = sum(proc_cpu(p.pid) for p, _ in nodes) + (proc_cpu(broker.pid) if broker else 0)
        alive = all(p.poll() is None for p, _ in nodes)
        client = children_cpu() - children0
        line = next((l for l in reversed(r.stdout.splitlines()) if l.startswith("{")), None)
        if line is None:
            result.update({"end_reason": f"no result (exit {r.returncode})", "stderr": r.stderr[-2000:]})
        else:
            result.update(json.loads(line))
            result["spread"] = next((l for l in r.stderr.splitlines() if l.startswith("spread:")), None)
        # Busy cores of the whole machine during the run, and what is left after our nodes, our broker and
        # the load client: PostgreSQL (shared; it also does our writes) and everything else on the machine.
        busy = busy_cores() - busy0
        result.update({"server_alive_after": alive, "load_exit": r.returncode, "run_wall_s": round(wall, 1),
                       "cluster_cpu_s_whole_run": round(ours1 - ours0, 2),
                       "load_client_cpu_s_whole_run": round(client, 2),
                       "machine_busy_cores_during_run": round(busy / wall, 2) if wall > 0 else None,
                       "other_busy_cores_during_run":
                           round((busy - (ours1 - ours0) - client) / wall, 2) if wall > 0 else None,
                       "loadavg_after": [round(x, 2) for x in os.getloadavg()], "noise_after": noise(),
                       "load_cmd": " ".join(cmd[4:])})
    except Exception as e:  # a run that could not start is recorded, not fatal
        result["end_reason"] = f"error: {e}"
    finally:
        for p, _ in nodes:
            stop(p)
        stop(broker)
        try:
            psql(ADMIN_URL, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        except subprocess.SubprocessError as e:
            log(f"could not drop {dbname}: {e}")
    result["noise"] = result.get("noise_before", []) + result.get("noise_after", [])
    return result


# ---------------------------------------------------------------- summary

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def cell(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = statistics.median(vals)
    return fmt(m) if len(vals) == 1 else f"{fmt(m)} [{fmt(min(vals))}-{fmt(max(vals))}]"


def quiet(run, max_other):
    """A run with no compiler or benchmark seen around it and little CPU used by anything but us."""
    other = run.get("other_busy_cores_during_run")
    return not run.get("noise") and other is not None and other <= max_other


def summarize(paths, max_other=None):
    runs = []
    for p in paths:
        with open(p) as f:
            runs += [json.loads(l) for l in f if l.startswith("{")]
    if max_other is not None:
        runs = [r for r in runs if quiet(r, max_other)]
    rows = []
    for r in runs:
        if r.get("row") and r["row"] not in rows:
            rows.append(r["row"])
    out = ["| row | nodes × subscribers | bus | runs | deliveries/s | × one-n1000 | × one-n3000 | delivery p50 / p99 ms "
           "| fan-out p99 ms | cluster µs/delivery | client CPU | other busy cores | lost / dup |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {}
    for w in ("w1", "w8"):
        for ref in ("one-n1000", "one-n3000"):
            base[(w, ref)] = med([r.get("deliveries_per_s") for r in runs if r.get("row") == f"{ref}-{w}"])
    for row in rows:
        rs = [r for r in runs if r.get("row") == row]
        w = row.rsplit("-", 1)[1]
        dps = med([r.get("deliveries_per_s") for r in rs])
        n = rs[0].get("nodes") or ROWS.get(row, (1,))[0]
        clients = rs[0].get("clients")
        ratios = [f"{dps / base[(w, ref)]:.2f}x" if dps and base.get((w, ref)) else "-"
                  for ref in ("one-n1000", "one-n3000")]
        lost = sum(r.get("lost") or 0 for r in rs)
        dup = sum(r.get("dup_or_out_of_range") or 0 for r in rs)
        bad = sum(1 for r in rs if r.get("end_reason") != "all-delivered")
        p50 = cell([g(r, "delivery_latency.p50_ms") for r in rs])
        p99 = cell([g(r, "delivery_latency.p99_ms") for r in rs])
        out.append("| " + " | ".join([
            row, f"{n} × {clients // n if clients else '?'}", rs[0].get("bus", "?"), str(len(rs)),
            cell([r.get("deliveries_per_s") for r in rs]), ratios[0], ratios[1], f"{p50} / {p99}",
            cell([g(r, "fanout_completion.p99_ms") for r in rs]),
            cell([r.get("server_cpu_us_per_delivery") for r in rs]),
            cell([r.get("client_cpu_util") for r in rs]),
            cell([r.get("other_busy_cores_during_run") for r in rs]),
            f"{lost} / {dup}" + (f" ({bad} incomplete)" if bad else "")]) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(DEFAULT_ROWS), help="comma-separated row ids: " + ", ".join(ROWS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--first-round", type=int, default=1)
    ap.add_argument("--shared", default=SHARED_DEFAULT, help="the shared faye bench (default ../shared/bench/faye)")
    ap.add_argument("--scratch", default=None, help="reuse this scratch dir (default: a new mktemp -d)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/example-todo as it is")
    ap.add_argument("--quiet-wait", type=float, default=30, help="max seconds to wait for a quiet machine")
    ap.add_argument("--out", default=None)
    ap.add_argument("--summarize", nargs="*", help="only print the tables of these result files")
    ap.add_argument("--quiet-only", type=float, default=None, metavar="CORES",
                    help="with --summarize: only runs with no noise recorded and at most CORES other busy cores")
    a = ap.parse_args()

    if a.summarize:
        print(summarize(a.summarize, a.quiet_only))
        return
    raise_nofile()
    rows = [r for r in a.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            sys.exit(f"unknown row {r}; known: {', '.join(ROWS)}")
    scratch = setup_scratch(os.path.abspath(a.shared), a.scratch)
    ours_bin, rev = build_ours(scratch, a.no_build)
    os.makedirs(RESULTS, exist_ok=True)
    out = a.out or os.path.join(RESULTS, "cluster-" + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ") + ".jsonl")
    machine = machine_line()
    log(f"scratch {scratch}\nresults {out}\nmachine {machine}\nrev {rev}")
    with open(out, "a") as f:
        for rnd in range(a.first_round, a.first_round + a.rounds):
            order = rows if rnd % 2 == 1 else list(reversed(rows))
            for row in order:
                d = run_one(row, rnd, scratch, ours_bin, a.quiet_wait)
                d.update({"machine": machine, "rev": rev,
                          "at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")})
                f.write(json.dumps(d) + "\n")
                f.flush()
                log(f"{d['label']}: {d.get('end_reason')} dps={d.get('deliveries_per_s')} "
                    f"p99={g(d, 'delivery_latency.p99_ms')} fanout-p99={g(d, 'fanout_completion.p99_ms')} "
                    f"us/del={d.get('server_cpu_us_per_delivery')} cli={d.get('client_cpu_util')} "
                    f"busy={d.get('machine_busy_cores_during_run')} load={d.get('loadavg_before')} "
                    f"lost={d.get('lost')} dup={d.get('dup_or_out_of_range')} {d.get('spread')}")
    print(summarize([out]))


if __name__ == "__main__":
    main()
