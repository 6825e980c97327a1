#!/usr/bin/env python3
"""User-space instructions per WebSocket delivery of our server, base revision against the working tree,
by the callgrind difference method.

    python3 examples/bench/fanout/callgrind.py --baseline-rev 3ed6d83             # N = 1000, W = 1, 2 repeats
    python3 examples/bench/fanout/callgrind.py --baseline-rev 3ed6d83 --clients 2000 --repeat 3

The server CPU per delivery of `bench.py` includes the kernel's work (most of it: the write into each
socket) and moves by ±15 % from run to run on a shared machine, which is too coarse to see a few percent of
our own code. Here `example-todo` runs under `valgrind --tool=callgrind` (on CPU 0; the same `load.js`
client as `bench.py`, on CPU 1) twice per binary: once publishing M1 messages to N WebSocket subscribers,
once M2 (default 20 and 60, window 1, so every delivery is written in place into an idle socket). The
instruction counts written at exit differ by exactly the work of (M2 - M1) x N deliveries: start-up, the
subscribers' handshakes and the warm-up cancel out. Kernel work is not counted, and valgrind serialises the
server's threads, so this is the cost of our code per delivery, not a time.

Uses bench.py's scratch directory set-up (the shared faye bench's `load.js`, npm-installed), its release
build of the working tree, and `--baseline-rev` binaries. One JSON line per measured pair goes to
`examples/bench/results/fanout-callgrind-<time>.jsonl`, then a table is printed.
"""
import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import baseline  # noqa: E402
import bench  # noqa: E402


def count(kind, binary, scratch, messages, clients, port, tag):
    """Total instructions of one server run that delivered `messages` messages to `clients` subscribers."""
    out = os.path.join(scratch, f"{tag}.callgrind.out")
    db = os.path.join(scratch, f"{tag}.db")
    for path in (out, db):
        if os.path.exists(path):
            os.remove(path)
    cmd = ["taskset", "-c", bench.SERVER_CPU, "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           binary, "--bind", f"127.0.0.1:{port}", "--database", f"sqlite://{db}",
           "--allow-publish", "/chat/**", "--allow-publish", "/bench/warmup"]
    server = subprocess.Popen(cmd, cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=bench.raise_nofile)
    try:
        if not bench.wait_http(f"http://127.0.0.1:{port}/api/todos", seconds=120):
            raise RuntimeError(f"{kind} did not come up under valgrind")
        load = ["timeout", "400", "taskset", "-c", bench.CLIENT_CPU, "node", "load.js",
                "--url", f"http://127.0.0.1:{port}/live", "--channel", bench.CHANNEL, "--clients", str(clients),
                "--mode", "window", "--window", "1", "--messages", str(messages), "--warmup", "5",
                "--idle-seconds", "1", "--drain-seconds", "2", "--max-seconds", "300", "--label", tag]
        run = subprocess.run(load, cwd=scratch, capture_output=True, text=True, preexec_fn=bench.raise_nofile)
        line = next((l for l in reversed(run.stdout.splitlines()) if l.startswith("{")), None)
        result = json.loads(line) if line else {}
        if result.get("end_reason") != "all-delivered":
            raise RuntimeError(f"{tag}: {result.get('end_reason') or run.stderr[-500:]}")
    finally:
        # SIGTERM: example-todo exits, and callgrind writes its counts.
        server.send_signal(signal.SIGTERM)
        server.wait(300)
    with open(out) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError(f"{out}: no totals")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rev", required=True, metavar="REV")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--m1", type=int, default=20)
    ap.add_argument("--m2", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--shared", default=bench.SHARED_DEFAULT, help="the shared faye bench (default ../shared/bench/faye)")
    ap.add_argument("--scratch", default=None, help="reuse this scratch dir (default: a new mktemp -d)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/example-todo as it is")
    ap.add_argument("--port", type=int, default=18411)
    a = ap.parse_args()

    bench.raise_nofile()
    scratch = bench.setup_scratch(os.path.abspath(a.shared), a.scratch)
    new_bin, rev = bench.build_ours(scratch, a.no_build)
    base_rev, built = baseline.binaries(a.baseline_rev, {"example-todo": "example-todo"}, a.scratch, bench.log)
    bins = {"base": built["example-todo"], "new": new_bin}
    os.makedirs(bench.RESULTS, exist_ok=True)
    out = os.path.join(bench.RESULTS, "fanout-callgrind-" + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
                       + ".jsonl")
    per = {"base": [], "new": []}
    deliveries = (a.m2 - a.m1) * a.clients
    with open(out, "a") as f:
        for rep in range(a.repeat):
            for kind in ("base", "new") if rep % 2 == 0 else ("new", "base"):
                t0 = time.time()
                low = count(kind, bins[kind], scratch, a.m1, a.clients, a.port, f"{kind}-m1-r{rep}")
                high = count(kind, bins[kind], scratch, a.m2, a.clients, a.port, f"{kind}-m2-r{rep}")
                value = (high - low) / deliveries
                per[kind].append(value)
                d = {"build": kind, "rev": base_rev if kind == "base" else rev, "clients": a.clients, "m1": a.m1,
                     "m2": a.m2, "ir_m1": low, "ir_m2": high, "instructions_per_delivery": round(value, 1),
                     "repeat": rep, "wall_s": round(time.time() - t0, 1), "machine": bench.machine_line(),
                     "at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
                f.write(json.dumps(d) + "\n")
                f.flush()
                bench.log(f"{kind} r{rep}: {value:.1f} instructions per delivery")
    b, n = statistics.median(per["base"]), statistics.median(per["new"])
    print(f"\nresults: {out}\n")
    print(f"User-space instructions per WebSocket delivery (N = {a.clients}, W = 1, callgrind, "
          f"{a.m2 - a.m1} messages' difference):\n")
    print("| base | new | new ÷ base |\n| --- | --- | --- |")
    print(f"| {b:.1f} [{min(per['base']):.1f}–{max(per['base']):.1f}] | {n:.1f} [{min(per['new']):.1f}–"
          f"{max(per['new']):.1f}] | {n / b:.3f} |")


if __name__ == "__main__":
    main()
