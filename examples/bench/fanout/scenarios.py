"""Scenarios of `bench.py --scenario`: partitions, filters, records (fan-out CPU per delivery) and list
(instructions per REST list request). Each scenario runs a figure and its baseline side by side, alternating
in every round. Method and results: docs/benchmarks.md, "Partitions, record channels and filters".

    python3 examples/bench/fanout/bench.py --scenario partitions --rounds 5
    python3 examples/bench/fanout/bench.py --scenario filters --rounds 5
    python3 examples/bench/fanout/bench.py --scenario records --rounds 5     # builds live-bench at 9ba6950 once
    python3 examples/bench/fanout/bench.py --scenario records-callgrind --rounds 5   # the same in instructions
    python3 examples/bench/fanout/bench.py --scenario list --rounds 6        # callgrind
    python3 examples/bench/fanout/bench.py --summarize-scenario examples/bench/results/scenario-*.jsonl

Fan-out scenarios (`scenario.js` next to this file, run from bench.py's scratch directory): one server process
per run (`live-bench-rooms`, or `live-bench --mode generated --feed` for `records`) on a fresh SQLite file,
pinned to CPU 0, the client pinned to CPU 1, both on 127.0.0.1; in each run the client first makes the writes
with no subscriber (`bare`), then connects the subscribers and makes the measured writes (`fanout`). Figures
per run: `raw` = server CPU in the fan-out phase / deliveries; `net` = (that CPU - control CPU per write x
writes) / deliveries, the CPU of delivering, with the writes' own cost (REST, SQL commit, feed with nobody
listening) taken out. The control writes are the same writes delivered to nobody (`/api/memos`, the flat
twin of `/api/notes`, or rooms 101..200 of the nested resource), made in blocks alternating with the
measured ones in the same run (`scenario.js --control-path`); the server's CPU of each block is the sum of
its threads' `/proc/<pid>/task/*/schedstat`. `records` has no control twin (its baseline binary serves only
`/api/todos`): there the writes made before any subscriber connects (`bare`) serve, which matters little
as each write is delivered 1 000 times.
"""

import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# The bench server's seed, the same in every fan-out run: 200 rooms, the parents of the partitions: rooms
# 1..100 have subscribers, 101..200 take the control writes of the nested variants.
ROOMS_SEED = ["--rooms", "200"]
RECORD_BASE_REV = "9ba6950"


def _client(clients=1000, messages=100, bare=2000, window=1, control=None, control_messages=2000, **kw):
    args = ["--clients", str(clients), "--messages", str(messages), "--bare-messages", str(bare),
            "--window", str(window)]
    if control == "memos":
        # the flat twin nobody subscribes to
        args += ["--control-path", "/api/memos", "--control-messages", str(control_messages), "--blocks", "10"]
    elif control == "rooms":
        # rooms 101..200 of the same nested resource, which nobody subscribes to
        args += ["--control-path", "/api/rooms/{p}/messages", "--control-first", "101", "--control-count", "100",
                 "--control-messages", str(control_messages), "--blocks", "10"]
    for key, value in kw.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    return args


# scenario -> (baseline variant, [(variant, server kind, client args, max seconds)], target, what the target is on)
# Server kinds: rooms = live-bench-rooms of the working tree; todo-new / todo-base = live-bench --mode generated
# --feed of the working tree / of RECORD_BASE_REV.
SCENARIOS = {
    # 1 000 subscribers, 100 000 deliveries per run in every variant, window 1.
    "partitions": ("flat", [
        # /api/notes: one flat channel, 1 000 subscribers, 100 writes x 1 000 deliveries
        ("flat", "rooms", _client(channel="/api/notes", post_path="/api/notes", control="memos"), 120),
        # /api/rooms/<r>/messages: 10 subscribers in each of 100 rooms, 10 000 writes to random rooms x 10
        ("partitioned", "rooms", _client(messages=10000, partitions=100, control="rooms", control_messages=10000,
                                         channel="/api/rooms/{p}/messages", post_path="/api/rooms/{p}/messages"), 180),
        # the nested resource with every subscriber in one room: 100 writes x 1 000 deliveries
        ("one-room", "rooms", _client(partitions=1, channel="/api/rooms/{p}/messages", control="rooms",
                                      post_path="/api/rooms/{p}/messages"), 120),
    ], 1.1, "partitioned"),
    # 1 000 subscribers of /api/notes; 10 filters of 100 subscribers each.
    "filters": ("unfiltered", [
        ("unfiltered", "rooms", _client(channel="/api/notes", post_path="/api/notes", control="memos"), 120),
        # 10 distinct filters that every write matches: 100 writes x 1 000 deliveries, as unfiltered
        ("filtered-all", "rooms", _client(channel="/api/notes", post_path="/api/notes", groups=10, control="memos",
                                          where="author=neq.z{g}", match="all"), 120),
        # author=eq.a0 .. a9, each write's author one of them at random: 1 000 writes x 100 deliveries
        ("filtered-one", "rooms", _client(messages=1000, channel="/api/notes", post_path="/api/notes", groups=10,
                                          control="memos", where="author=eq.a{g}", match="one"), 120),
    ], 1.3, "filtered-all"),
    # The flat fan-out of /api/todos (live-bench, feed on): before record channels, after, and after with one
    # subscriber of a record channel no write touches.
    "records": ("base", [
        ("base", "todo-base", _client(channel="/api/todos", post_path="/api/todos", stamp_field="title"), 90),
        ("new", "todo-new", _client(channel="/api/todos", post_path="/api/todos", stamp_field="title"), 90),
        ("new-record", "todo-new", _client(channel="/api/todos", post_path="/api/todos", stamp_field="title",
                                           record="/api/todos/1000000000"), 90),
    ], 1.03, "new"),
}

# list: variant -> (database seed, request path template with {r} a random room 1..100)
LIST = {
    # one room's 100 rows out of 10 000 in 100 rooms, no limit (the page is the room)
    "partition": (["--rooms", "100", "--messages", "10000"], "/api/rooms/{r}/messages"),
    # a flat table of 100 rows, no limit: the same rows, query shape and headers, no partition
    "flat": (["--rooms", "100", "--notes", "100"], "/api/notes"),
    # limit=100 pages: of one room (100 rows: a full page, so a Link: next too), and of a flat table of 10 000
    "partition-limit": (["--rooms", "100", "--messages", "10000"], "/api/rooms/{r}/messages?limit=100"),
    "flat-limit": (["--rooms", "100", "--notes", "10000"], "/api/notes?limit=100"),
}
LIST_PAIRS = [("flat", "partition"), ("flat-limit", "partition-limit")]


def build_rooms(bench, scratch, skip):
    """Release build of live-bench (both binaries) from the working tree, copied into the scratch dir."""
    if not skip:
        bench.log("cargo build --release -p live-bench")
        subprocess.run(["timeout", "3600", "cargo", "build", "--release", "-p", "live-bench"], cwd=bench.REPO,
                       check=True)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(bench.REPO, "target")
    bins = {}
    for name in ("live-bench", "live-bench-rooms"):
        dst = os.path.join(scratch, name)
        if not (skip and os.path.exists(dst)):
            shutil.copy2(os.path.join(target, "release", name), dst)
        bins[name] = dst
    return bins


def server_cmd(kind, bins, db, port):
    if kind == "rooms":
        return [bins["rooms"], "--database", f"sqlite://{db}", "--fresh", "--port", str(port), *ROOMS_SEED]
    return [bins[kind], "--mode", "generated", "--feed", "--database", f"sqlite://{db}", "--fresh",
            "--port", str(port)]


def run_variant(bench, scenario, variant, kind, client_args, max_s, rnd, scratch, bins, port, quiet_wait):
    tag = f"{scenario}-{variant}-r{rnd}"
    still = bench.wait_quiet(quiet_wait)
    busy0, mine0, wall0 = bench.busy_cores(), bench.children_cpu(), time.time()
    db = os.path.join(scratch, f"{tag}.db")
    logf = open(os.path.join(scratch, f"{tag}.server.log"), "w")
    cmd = ["taskset", "-c", bench.SERVER_CPU, *server_cmd(kind, bins, db, port)]
    p = subprocess.Popen(cmd, cwd=scratch, stdout=logf, stderr=subprocess.STDOUT, preexec_fn=bench.raise_nofile,
                         env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn")))
    ready = f"http://127.0.0.1:{port}/api/rooms" if kind == "rooms" else f"http://127.0.0.1:{port}/api/todos"
    if not bench.wait_http(ready):
        bench.stop_server(p)
        return {"label": tag, "end_reason": "error: server did not come up", "scenario": scenario,
                "variant": variant, "round": rnd, "noise": still}
    try:
        base = f"http://127.0.0.1:{port}"
        load = ["timeout", str(max_s + 20), "taskset", "-c", bench.CLIENT_CPU, "node", "scenario.js",
                "--url", f"{base}/live", "--post-base", base, "--server-pid", str(p.pid), "--max-seconds", str(max_s),
                "--label", tag, *client_args]
        t0 = time.time()
        r = subprocess.run(load, cwd=scratch, capture_output=True, text=True, preexec_fn=bench.raise_nofile)
        wall = time.time() - t0
        alive = p.poll() is None
    finally:
        bench.stop_server(p)
        logf.close()
    wall_all = time.time() - wall0
    foreign = (bench.busy_cores() - busy0) - (bench.children_cpu() - mine0)
    after = bench.noise()
    line = next((l for l in reversed(r.stdout.splitlines()) if l.startswith("{")), None)
    d = json.loads(line) if line else {"label": tag, "end_reason": f"no result (exit {r.returncode})"}
    if r.stderr.strip():
        d["stderr"] = r.stderr[-2000:]
    if foreign / wall_all >= 0.15:
        after.append(f"foreign {foreign / wall_all:.2f} cores during the run")
    for name in (db, db + "-wal", db + "-shm"):
        if os.path.exists(name):
            os.remove(name)
    d.update({"scenario": scenario, "variant": variant, "server": kind, "round": rnd, "noise": still + after,
              "foreign_cpu_util": round(foreign / wall_all, 2), "server_alive_after": alive,
              "load_exit": r.returncode, "run_wall_s": round(wall, 1), "load_cmd": " ".join(load[4:])})
    return d


def run_fanout(bench, a, scenario, scratch, out, machine):
    _, variants, _, _ = SCENARIOS[scenario]
    shutil.copy2(os.path.join(HERE, "scenario.js"), os.path.join(scratch, "scenario.js"))
    built = build_rooms(bench, scratch, a.no_build)
    bins = {"rooms": built["live-bench-rooms"], "todo-new": built["live-bench"]}
    revs = {"rooms": bench.baseline.worktree_rev(), "todo-new": bench.baseline.worktree_rev()}
    if any(kind == "todo-base" for _, kind, _, _ in variants):
        revs["todo-base"], base_bins = bench.baseline.binaries(a.baseline_rev or RECORD_BASE_REV,
                                                               {"live-bench": "live-bench"}, a.scratch, bench.log)
        bins["todo-base"] = base_bins["live-bench"]
    only = set(a.variants.split(",")) if a.variants else None
    with open(out, "a") as f:
        for rnd in range(a.first_round, a.first_round + a.rounds):
            order = variants if rnd % 2 == 1 else list(reversed(variants))
            for variant, kind, client_args, max_s in order:
                if only and variant not in only:
                    continue
                d = run_variant(bench, scenario, variant, kind, client_args, max_s, rnd, scratch, bins, a.port,
                                a.quiet_wait)
                d.update({"machine": machine, "binary_rev": revs.get(kind),
                          "at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")})
                f.write(json.dumps(d) + "\n")
                f.flush()
                bench.log(f"{d['label']}: {d.get('end_reason')} net={d.get('net_us_per_delivery')} "
                          f"raw={d.get('raw_us_per_delivery')} bare/write={d.get('bare_us_per_write')} "
                          f"del={d.get('deliveries')}/{d.get('expected_deliveries')} dup={d.get('dup_or_out_of_range')} "
                          f"rec={d.get('record_deliveries')} cli={d.get('client_cpu_util')} "
                          f"srv={d.get('server_cpu_util')} foreign={d.get('foreign_cpu_util')} noise={len(d['noise'])}")


# ---------------------------------------------------------------- list: callgrind

def list_requests(template, n, seed=11):
    rng = random.Random(seed)
    return [template.replace("{r}", str(rng.randint(1, 100))) for _ in range(n)]


def list_count(bench, cg, exe, variant, n, workdir, port, tag):
    """Instructions of one server run under callgrind that answered n list requests (dumped before shutdown)."""
    seed, template = LIST[variant]
    db = os.path.join(workdir, f"{tag}.db")
    subprocess.run([exe, "--database", f"sqlite://{db}", "--fresh", *seed, "--no-feed", "--seed-only"], check=True,
                   capture_output=True, timeout=300)
    out_file = os.path.join(workdir, f"{tag}.callgrind.out")
    cmd = ["taskset", "-c", bench.SERVER_CPU, "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
           exe, "--database", f"sqlite://{db}", "--no-feed", "--port", str(port), "--workers", "1"]
    log = open(os.path.join(workdir, f"{tag}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        cg.wait_port(port, proc, 120)
        import http.client
        deadline = time.monotonic() + 600
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rows = None
        for path in list_requests(template, n):
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {path} answered {resp.status}")
            rows = len(json.loads(body))
            if time.monotonic() > deadline:
                raise RuntimeError("list requests took longer than 600 s")
        conn.close()
        subprocess.run(["callgrind_control", f"--dump=after-{n}", str(proc.pid)], check=True, capture_output=True,
                       timeout=120)
        dump = cg.wait_dump(out_file, 60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    return cg.total_ir(dump), rows


def run_list(bench, a, scratch, out, machine):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import callgrind as cg  # examples/bench/callgrind.py: wait_port, wait_dump, total_ir
    built = build_rooms(bench, scratch, a.no_build)
    exe = built["live-bench-rooms"]
    rev = bench.baseline.worktree_rev()
    workdir = os.path.join(scratch, "list-callgrind")
    os.makedirs(workdir, exist_ok=True)
    r1, r2 = a.r1, a.r2
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    variants = [v for pair in LIST_PAIRS for v in pair]
    if a.variants:
        variants = [v for v in variants if v in a.variants.split(",")]
    with open(out, "a") as f:
        for rnd in range(a.first_round, a.first_round + a.rounds):
            for variant in (variants if rnd % 2 == 1 else list(reversed(variants))):
                t0 = time.time()
                low, rows = list_count(bench, cg, exe, variant, r1, workdir, a.port, f"{variant}-r{rnd}-{r1}")
                high, _ = list_count(bench, cg, exe, variant, r2, workdir, a.port, f"{variant}-r{rnd}-{r2}")
                d = {"scenario": "list", "variant": variant, "round": rnd, "r1": r1, "r2": r2, "ir_r1": low,
                     "ir_r2": high, "rows_per_response": rows, "instructions_per_request": round((high - low) / (r2 - r1)),
                     "request": LIST[variant][1], "seed": LIST[variant][0], "binary_rev": rev, "valgrind": valgrind,
                     "machine": machine, "wall_s": round(time.time() - t0, 1),
                     "at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
                f.write(json.dumps(d) + "\n")
                f.flush()
                bench.log(f"list {variant} r{rnd}: {d['instructions_per_request']:,} instructions per request "
                          f"({rows} rows)")
    shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- records: callgrind

# variant -> (server kind, subscribers, record channel or None, M1, M2 writes). With 1 000 subscribers the
# difference is the user-space work of (M2 - M1) changes each delivered 1 000 times; with none, of (M2 - M1)
# changes nobody listens to (the REST write, its commit, and the feed's publish to no one).
RECORDS_CG = {
    "base": ("todo-base", 1000, None, 20, 60),
    "new": ("todo-new", 1000, None, 20, 60),
    "new-record": ("todo-new", 1000, "/api/todos/1000000000", 20, 60),
    "base-idle": ("todo-base", 0, None, 200, 1000),
    "new-idle": ("todo-new", 0, None, 200, 1000),
    # no subscriber of /api/todos, one of a record no write touches: the record path's own cost per change
    "new-record-idle": ("todo-new", 0, "/api/todos/1000000000", 200, 1000),
}


def records_count(bench, bins, kind, clients, record, writes, scratch, port, tag):
    """Total user-space instructions of one live-bench run under callgrind that made `writes` REST writes,
    each delivered to `clients` subscribers of /api/todos (counts written at exit)."""
    out = os.path.join(scratch, f"{tag}.callgrind.out")
    db = os.path.join(scratch, f"{tag}.db")
    for path in (out, db, db + "-wal", db + "-shm"):
        if os.path.exists(path):
            os.remove(path)
    cmd = ["taskset", "-c", bench.SERVER_CPU, "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           *server_cmd(kind, bins, db, port)]
    server = subprocess.Popen(cmd, cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=bench.raise_nofile)
    try:
        if not bench.wait_http(f"http://127.0.0.1:{port}/api/todos", seconds=120):
            raise RuntimeError(f"{kind} did not come up under valgrind")
        base = f"http://127.0.0.1:{port}"
        load = ["timeout", "420", "taskset", "-c", bench.CLIENT_CPU, "node", "scenario.js", "--url", f"{base}/live",
                "--post-base", base, "--server-pid", str(server.pid), "--clients", str(clients), "--channel",
                "/api/todos", "--post-path", "/api/todos", "--stamp-field", "title", "--messages", str(writes),
                "--bare-messages", "0", "--warmup", "5", "--window", "1", "--idle-seconds", "1",
                "--max-seconds", "400", "--label", tag]
        if record:
            load += ["--record", record]
        run = subprocess.run(load, cwd=scratch, capture_output=True, text=True, preexec_fn=bench.raise_nofile)
        line = next((l for l in reversed(run.stdout.splitlines()) if l.startswith("{")), None)
        result = json.loads(line) if line else {}
        if result.get("end_reason") != "all-delivered":
            raise RuntimeError(f"{tag}: {result.get('end_reason') or run.stderr[-500:]}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(300)
    with open(out) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
                break
        else:
            raise RuntimeError(f"{out}: no totals")
    os.remove(out)
    for path in (db, db + "-wal", db + "-shm"):
        if os.path.exists(path):
            os.remove(path)
    return total, result.get("record_deliveries", 0)


def run_records_callgrind(bench, a, scratch, out, machine):
    shutil.copy2(os.path.join(HERE, "scenario.js"), os.path.join(scratch, "scenario.js"))
    built = build_rooms(bench, scratch, a.no_build)
    bins = {"todo-new": built["live-bench"]}
    revs = {"todo-new": bench.baseline.worktree_rev()}
    revs["todo-base"], base_bins = bench.baseline.binaries(a.baseline_rev or RECORD_BASE_REV,
                                                           {"live-bench": "live-bench"}, a.scratch, bench.log)
    bins["todo-base"] = base_bins["live-bench"]
    variants = list(RECORDS_CG)
    if a.variants:
        variants = [v for v in variants if v in a.variants.split(",")]
    with open(out, "a") as f:
        for rnd in range(a.first_round, a.first_round + a.rounds):
            for variant in (variants if rnd % 2 == 1 else list(reversed(variants))):
                kind, clients, record, m1, m2 = RECORDS_CG[variant]
                t0 = time.time()
                low, _ = records_count(bench, bins, kind, clients, record, m1, scratch, a.port, f"rcg-{variant}-r{rnd}-m1")
                high, rec = records_count(bench, bins, kind, clients, record, m2, scratch, a.port,
                                          f"rcg-{variant}-r{rnd}-m2")
                per_change = (high - low) / (m2 - m1)
                d = {"scenario": "records-callgrind", "variant": variant, "round": rnd, "clients": clients,
                     "record": record, "m1": m1, "m2": m2, "ir_m1": low, "ir_m2": high,
                     "instructions_per_change": round(per_change),
                     "instructions_per_delivery": round(per_change / clients, 1) if clients else None,
                     "record_deliveries": rec, "binary_rev": revs[kind], "machine": machine,
                     "wall_s": round(time.time() - t0, 1),
                     "at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
                f.write(json.dumps(d) + "\n")
                f.flush()
                bench.log(f"records-callgrind {variant} r{rnd}: {d['instructions_per_change']:,} instructions per "
                          f"change ({clients} subscribers)")


def run(bench, a):
    bench.raise_nofile()
    scratch = bench.setup_scratch(os.path.abspath(a.shared), a.scratch)
    os.makedirs(bench.RESULTS, exist_ok=True)
    out = a.out or os.path.join(bench.RESULTS, f"scenario-{a.scenario}-"
                                + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ") + ".jsonl")
    machine = bench.machine_line()
    bench.log(f"scratch {scratch}\nresults {out}\nmachine {machine}")
    if a.scenario == "list":
        run_list(bench, a, scratch, out, machine)
    elif a.scenario == "records-callgrind":
        run_records_callgrind(bench, a, scratch, out, machine)
    else:
        run_fanout(bench, a, a.scenario, scratch, out, machine)
    print(summarize([out]))


# ---------------------------------------------------------------- summary

def _med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, digits=2):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _cell(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return _fmt(m, digits)
    return f"{_fmt(m, digits)} [{_fmt(min(values), digits)}–{_fmt(max(values), digits)}]"


def _ratio(num_runs, den_runs, key):
    """num / den of the medians, with the range of the ratios of the runs of the same round."""
    n, d = _med([r.get(key) for r in num_runs]), _med([r.get(key) for r in den_runs])
    if not n or not d:
        return "-"
    by_round = {r["round"]: r.get(key) for r in den_runs if r.get(key)}
    per = [r.get(key) / by_round[r["round"]] for r in num_runs if r.get(key) is not None and by_round.get(r["round"])]
    text = f"{n / d:.3f}"
    if len(per) > 1:
        text += f" [{min(per):.3f}–{max(per):.3f}]"
    return text


def summarize(paths, quiet_only=False):
    runs = []
    for p in paths:
        with open(p) as f:
            runs += [json.loads(l) for l in f if l.startswith("{")]
    if quiet_only:
        runs = [r for r in runs if not r.get("noise")]
    out = []
    for scenario, (baseline, variants, target, on) in SCENARIOS.items():
        rs = [r for r in runs if r.get("scenario") == scenario]
        if not rs:
            continue
        ok = [r for r in rs if r.get("end_reason") == "all-delivered"]
        base = [r for r in ok if r["variant"] == baseline]
        out.append(f"### {scenario}: net = (fan-out CPU − control CPU per write × writes) ÷ deliveries; target "
                   f"{on} ÷ {baseline} ≤ {target} on net\n")
        out.append("| variant | runs (noisy, failed) | net µs/delivery | ÷ " + baseline + " (net) | raw µs/delivery | ÷ "
                   + baseline + " (raw) | control µs/write | bare µs/write | net by bare µs/delivery | writes × deliveries each | lost / dup / record | client CPU | foreign cores |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for variant, _, _, _ in variants:
            vr = [r for r in rs if r.get("variant") == variant]
            if not vr:
                continue
            good = [r for r in vr if r.get("end_reason") == "all-delivered"]
            noisy = sum(1 for r in vr if r.get("noise"))
            each = sorted({(r.get("messages"), round(r["expected_deliveries"] / r["messages"]))
                           for r in good if r.get("messages")})
            lost = sum(r.get("lost") or 0 for r in vr)
            dup = sum(r.get("dup_or_out_of_range") or 0 for r in vr)
            rec = sum(r.get("record_deliveries") or 0 for r in vr)
            out.append(f"| {variant} | {len(vr)} ({noisy}, {len(vr) - len(good)}) "
                       f"| {_cell([r.get('net_us_per_delivery') for r in good])} "
                       f"| {_ratio(good, base, 'net_us_per_delivery') if variant != baseline else '1'} "
                       f"| {_cell([r.get('raw_us_per_delivery') for r in good])} "
                       f"| {_ratio(good, base, 'raw_us_per_delivery') if variant != baseline else '1'} "
                       f"| {_cell([r.get('control_us_per_write') for r in good], 1)} "
                       f"| {_cell([r.get('bare_us_per_write') for r in good], 1)} "
                       f"| {_cell([r.get('net_bare_us_per_delivery') for r in good])} "
                       f"| {', '.join(f'{m} × {e}' for m, e in each)} | {lost} / {dup} / {rec} "
                       f"| {_cell([r.get('client_cpu_util') for r in good])} "
                       f"| {_cell([r.get('foreign_cpu_util') for r in vr])} |")
        out.append("")
    cr = [r for r in runs if r.get("scenario") == "records-callgrind"]
    if cr:
        out.append("### records-callgrind: user-space instructions per change, (Ir(M2) − Ir(M1)) ÷ (M2 − M1) writes "
                   "to /api/todos (callgrind)\n")
        out.append("| variant | subscribers | instructions per change | per delivery | ÷ base, new-record-idle ÷ new-idle "
                   "(per round) | rounds |")
        out.append("|---|---|---|---|---|---|")
        for variant in RECORDS_CG:
            vr = [r for r in cr if r["variant"] == variant]
            if not vr:
                continue
            ref = [r for r in cr if r["variant"] == ("base-idle" if variant.endswith("-idle") else "base")]
            if variant == "new-record-idle":
                ref = [r for r in cr if r["variant"] == "new-idle"]
            subs = f"{vr[0]['clients']}" + (f" + 1 of {vr[0]['record']}" if vr[0].get("record") else "")
            out.append(f"| {variant} | {subs} | {_cell([r['instructions_per_change'] for r in vr], 0)} "
                       f"| {_cell([r.get('instructions_per_delivery') for r in vr], 1)} "
                       f"| {_ratio(vr, ref, 'instructions_per_change')} | {len(vr)} |")
        out.append("")
    lr = [r for r in runs if r.get("scenario") == "list"]
    if lr:
        out.append("### list: user-space instructions per request (callgrind, (Ir(R2) − Ir(R1)) ÷ (R2 − R1)); "
                   "target partition ÷ flat ≤ 1.1\n")
        out.append("| pair | flat | partition | ÷ flat [per-round range] | rows per response | rounds |")
        out.append("|---|---|---|---|---|---|")
        for flat, part in LIST_PAIRS:
            fr = [r for r in lr if r["variant"] == flat]
            pr = [r for r in lr if r["variant"] == part]
            if not fr or not pr:
                continue
            rows = sorted({r.get("rows_per_response") for r in fr + pr})
            out.append(f"| `{LIST[part][1]}` against `{LIST[flat][1]}` "
                       f"| {_cell([r['instructions_per_request'] for r in fr], 0)} "
                       f"| {_cell([r['instructions_per_request'] for r in pr], 0)} "
                       f"| {_ratio(pr, fr, 'instructions_per_request')} | {rows} | {len(pr)} |")
        out.append("")
    return "\n".join(out)
