"""Thread policy benchmark: torch threads x OpenMP wait policy, idle and beside two busy processes.

    OMP_NUM_THREADS= python benchmarks/threads.py [--steps 60] [--digits]

For each (threads, OMP_WAIT_POLICY) a fresh process times one optimiser step of LeNet on an
MNIST-shaped batch of 64 (median of ``--steps`` after warm-up); with ``--digits`` it also times a
small digits run (``latentlab run``, 3 rounds, cached generator). Each is measured idle and with
two competing busy processes (pure-Python loops, one core each), and the load average is printed
beside every row. The busy processes are this script's own children and are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

STEP = r"""
import json, statistics, sys, time, torch
from latentlab.models import build_target
torch.manual_seed(0)
m = build_target("lenet", (1, 28, 28), 10)
opt = torch.optim.Adam(m.parameters(), 1e-3)
x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
ts = []
for i in range(int(sys.argv[1]) + 10):
    t0 = time.perf_counter()
    opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()
    ts.append(time.perf_counter() - t0)
print(json.dumps({"ms": 1000 * statistics.median(ts[10:]), "threads": torch.get_num_threads()}))
"""

DIGITS = [
    "--dataset",
    "digits",
    "--strategy",
    "random,snn",
    "--seeds",
    "0",
    "--rounds",
    "3",
    "--initial",
    "20",
    "--per-round",
    "20",
    "--min-steps",
    "100",
    "--gen-min-steps",
    "1000",
    "--quiet",
    "--overwrite",
]


def env_for(threads, wait):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["OMP_NUM_THREADS"] = env["LATENTLAB_THREADS"] = str(threads)
    if wait:
        env["OMP_WAIT_POLICY"] = wait
    else:  # OpenMP's own default (spin, then sleep): latentlab must not set its policy
        env["LATENTLAB_THREAD_POLICY"] = "off"
    return env


def run_step(threads, wait, steps):
    out = subprocess.run(
        [sys.executable, "-c", STEP, str(steps)], env=env_for(threads, wait), capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["ms"]


def run_digits(threads, wait, out):
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "latentlab.cli", "run", *DIGITS, "--threads", str(threads), "--out", out],
        env=env_for(threads, wait),
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--digits", action="store_true")
    a = ap.parse_args()
    configs = [(1, None), (1, "PASSIVE"), (2, None), (2, "PASSIVE")]
    tmp = tempfile.mkdtemp()
    if a.digits:  # train and cache the generator once, outside the timings
        run_digits(1, "PASSIVE", os.path.join(tmp, "warm"))
    rows = []
    for load in ("idle", "busy2"):
        busy = []
        if load == "busy2":
            busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
            time.sleep(2)
        try:
            for threads, wait in configs:
                ms = run_step(threads, wait, a.steps)
                dig = run_digits(threads, wait, os.path.join(tmp, "d")) if a.digits else None
                row = {
                    "load": load,
                    "threads": threads,
                    "wait": wait or "default",
                    "lenet_step_ms": round(ms, 1),
                    "digits_s": None if dig is None else round(dig, 1),
                    "loadavg_1m": round(os.getloadavg()[0], 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            for p in busy:
                p.kill()
                p.wait()
    print("| load | threads | OMP_WAIT_POLICY | LeNet step (ms) | digits run (s) | load avg (1 min) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['load']} | {r['threads']} | {r['wait']} | {r['lenet_step_ms']} | {r['digits_s']} | "
            f"{r['loadavg_1m']} |"
        )


if __name__ == "__main__":
    main()
