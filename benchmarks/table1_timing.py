"""End-to-end time of the MNIST Table-1 regeneration, with its phase breakdown (issue 22, item 3).

    .venv/bin/python benchmarks/table1_timing.py                     # the protocol, 2 workers, own cache
    .venv/bin/python benchmarks/table1_timing.py --cold              # from an empty cache (trains the VAE first)
    .venv/bin/python benchmarks/table1_timing.py --toy               # a 2-minute check of the script itself
    .venv/bin/python benchmarks/table1_timing.py --table             # the tables, from the raw files

The protocol is ``benchmarks/mnist_table1.sh``'s (random, snn, snn-random-dir, entropy; 5 seeds;
10 rounds; 300 initial + 300 per round; LeNet 10 epochs / >= 300 steps; VAE of the default recipe)
with ``--workers 2``. Phases:

1. **prepare**: load MNIST, get the generator (from the cache, the shipped weights, or trained with
   ``--cold``), encode and index the pool: ``latentlab.experiment.prepare`` in its own process, timed;
2. **runs**: ``latentlab run ... --workers 2`` (which finds the generator in the cache), timed; its
   ``rounds.csv`` splits the workers' time into training F, evaluating it and proposing (scoring the
   pool / the latent steps), summed over all (strategy, seed, round); ``other`` is what the two
   workers spent beyond those (labelling, checkpoints, start-up, idle tail).

Raw results: ``benchmarks/results/perf/table1_timing/<date>[-toy]/`` (timing.json with command, load
before/after, threads, machine; the run's rounds.csv and results.csv).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import DATA_ROOT, RESULTS, ROOT, run_meta, write_json  # noqa: E402

OUT = RESULTS / "table1_timing"
PROTOCOL = [
    "--dataset", "mnist", "--strategy", "random,snn,entropy,snn-random-dir", "--rounds", "10", "--initial", "300",
    "--per-round", "300", "--seeds", "0,1,2,3,4", "--alpha", "0.2", "--epochs", "10", "--min-steps", "300",
    "--gen-epochs", "30",
]  # fmt: skip
TOY = ["--n-pool", "3000", "--n-test", "1000", "--rounds", "2", "--initial", "50", "--per-round", "50", "--seeds", "0",
       "--gen-epochs", "1", "--gen-min-steps", "200", "--min-steps", "50"]  # fmt: skip


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(DATA_ROOT))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="start from an empty cache (the generator is trained)")
    ap.add_argument("--toy", action="store_true", help="a small pool, 2 rounds, 1 seed: checks the script")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--table", action="store_true")
    return ap.parse_args(argv)


def _latentlab() -> list[str]:
    return [sys.executable, "-m", "latentlab"]


def _prepare_cmd(args: list[str]) -> list[str]:
    """Time ``prepare`` alone: the same flags through the CLI's config path, no rounds run."""
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from latentlab.cli import build_parser, config_from_args\n"
        "from latentlab.experiment import prepare\n"
        "a = build_parser().parse_args(['run', *sys.argv[1:]])\n"
        "cfg = config_from_args(a)\n"
        "prepare(cfg, a.data_root, progress=False)\n"
        "print('PREPARE_S', time.perf_counter() - t)\n"
    )
    return [sys.executable, "-c", code, *args]


def _sum_rounds(path: Path) -> dict:
    out: dict = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            s = out.setdefault(row["strategy"], {"train_s": 0.0, "eval_s": 0.0, "sample_s": 0.0, "rounds": 0})
            for k in ("train_s", "eval_s", "sample_s"):
                s[k] += float(row[k] or 0)
            s["rounds"] += 1
    return out


def run(a) -> Path:
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M") + ("-toy" if a.toy else "")
    dest = Path(a.out) / stamp
    dest.mkdir(parents=True, exist_ok=True)
    args = [*PROTOCOL, *(TOY if a.toy else []), "--data-root", a.data_root]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="table1-"))
    if a.cold:
        env["LATENTLAB_CACHE"] = str(tmp / "cache")
    meta = run_meta(workers=a.workers, cold=a.cold, toy=a.toy, protocol=args, cache=env.get("LATENTLAB_CACHE"))
    t0 = time.perf_counter()
    p = subprocess.run(_prepare_cmd(args), env=env, capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        sys.exit(f"prepare failed:\n{p.stderr[-3000:]}")
    prepare_s = time.perf_counter() - t0
    load_mid = os.getloadavg()
    out = tmp / "run"
    cmd = [*_latentlab(), "run", *args, "--workers", str(a.workers), "--out", str(out), "--quiet"]
    t1 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        sys.exit(f"run failed:\n{r.stderr[-3000:]}")
    runs_s = time.perf_counter() - t1
    for f in ("rounds.csv", "results.csv", "summary.md"):
        if (out / f).exists():
            shutil.copyfile(out / f, dest / f)
    per = _sum_rounds(out / "rounds.csv")
    tot = {k: sum(v[k] for v in per.values()) for k in ("train_s", "eval_s", "sample_s")}
    res = {
        **meta,
        "run_command": " ".join(["latentlab", *cmd[3:]]),
        "prepare_s": prepare_s,
        "runs_s": runs_s,
        "total_s": prepare_s + runs_s,
        "load_between": [round(v, 2) for v in load_mid],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "per_strategy": per,
        "sum": tot,
        "other_s": a.workers * runs_s - sum(tot.values()),
    }
    write_json(dest / "timing.json", res)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def table(out: Path = OUT) -> str:
    lines = []
    for d in sorted(p for p in Path(out).iterdir() if (p / "timing.json").exists()):
        r = json.loads((d / "timing.json").read_text())
        w = r["workers"]
        lines += [
            f"#### {d.name}: {'cold cache' if r['cold'] else 'warm cache'}, {w} workers, load {r['load_before'][0]} "
            f"-> {r['load_after'][0]}, {r['machine']['cpu']} ({r['machine']['cores']} cores)",
            "",
            f"Total {r['total_s'] / 60:.1f} min = prepare {r['prepare_s']:.0f} s + runs {r['runs_s']:.0f} s.",
            "",
            "| strategy | rounds | train F (s) | evaluate (s) | propose (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for s, v in sorted(r["per_strategy"].items()):
            lines.append(f"| {s} | {v['rounds']} | {v['train_s']:.0f} | {v['eval_s']:.0f} | {v['sample_s']:.0f} |")
        t = r["sum"]
        lines += [
            f"| all (worker-seconds) | | {t['train_s']:.0f} | {t['eval_s']:.0f} | {t['sample_s']:.0f} |",
            "",
            f"Other worker time (labelling, checkpoints, start-up, idle tail): {r['other_s']:.0f} s of "
            f"{w} x {r['runs_s']:.0f} s.",
            "",
        ]
    return "\n".join(lines) or "(no raw results)"


def main(argv=None):
    a = parse_args(argv)
    if not a.table:
        print(f"raw results in {run(a)}")
    print(table(Path(a.out)))


if __name__ == "__main__":
    main()
