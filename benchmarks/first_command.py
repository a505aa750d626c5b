"""The README's first command, measured: its raw output, twice on this machine, once on another kernel path.

    python benchmarks/first_command.py            # runs a, b (this machine) and default (ATEN_CPU_CAPABILITY=default)
    python benchmarks/first_command.py --runs a   # only some of them
    python benchmarks/first_command.py --compare  # only rewrite determinism.json from the runs already there
    python benchmarks/first_command.py --resummarize  # summary.md again from each run's rounds.csv

Each run is the exact command of README.md (:data:`ARGV`), in a fresh output folder with a fresh
cache (so the ``--alpha auto`` grid runs each time, as on a new machine; the digits VAE ships with
latentlab, so every run uses the same map), under ``flock /tmp/latentlab-bench.lock`` with the
load recorded before and after. Raw files land in ``benchmarks/results/first_command/<run>/``
(results.csv, summary.md, config.json, machine.json, rounds.csv, run.json) and the comparison in
``benchmarks/results/first_command/determinism.json``; ``benchmarks/tables.py`` writes the README's
table, verdict and determinism claim from them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "first_command"
LOCK = "/tmp/latentlab-bench.lock"

#: the README's first command after ``latentlab run`` (README.md shows it; tests/test_docs_tables.py checks)
ARGV = (
    "--dataset digits --strategy random,snn,snn-random-dir,entropy --alpha auto --alpha-unit nn "
    "--seeds 0,1,2 --initial 20 --per-round 20 --min-steps 100 --workers 2 --out runs/digits"
).split()
RUNS = {"a": {}, "b": {}, "default": {"ATEN_CPU_CAPABILITY": "default"}}
KEEP = ("results.csv", "summary.md", "config.json", "machine.json", "rounds.csv")
TEST_ITEMS = 297  # the digits test set: one item is 100/297 points


def command_text() -> str:
    return "latentlab run " + " ".join(ARGV)


def run_once(name: str) -> dict:
    env = {**os.environ, **RUNS[name], "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        env["LATENTLAB_CACHE"] = str(Path(tmp) / "cache")
        argv = [a if a != "runs/digits" else str(Path(tmp) / "digits") for a in ARGV]
        cmd = ["flock", LOCK, sys.executable, "-m", "latentlab", "run", *argv, "--quiet"]
        before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        t0 = time.time()
        p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        wall = time.time() - t0
        after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        if p.returncode:
            sys.exit(f"run {name} failed ({p.returncode}):\n{p.stderr[-3000:]}")
        dest = OUT / name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for f in KEEP:
            shutil.copy(Path(tmp) / "digits" / f, dest / f)
    info = {
        "command": command_text(),
        "env": RUNS[name],
        "wall_s": round(wall, 1),
        "wall_includes": "waiting for the bench lock, the --alpha auto grid, the 12 runs",
        "loadavg_before": before,
        "loadavg_after": after,
        "utc_end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (dest / "run.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{name}: {wall:.0f} s, load {before} -> {after}")
    return info


def _values(name: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from latentlab.report import read_results

    return {
        (r["strategy"], r["seed"], r["round"], r["metric"]): r["value"]
        for r in read_results(OUT / name / "results.csv")
    }


def _snn_gap(name: str) -> float:
    """SNN - random averaged over seeds and t=2..10 (the README's headline number) in one run."""
    v = _values(name)
    d = [v[k] - v[("random", *k[1:])] for k in v if k[0] == "snn" and k[2] >= 2 and not k[3].startswith("val_")]
    return sum(d) / len(d)


def compare() -> dict:
    names = [n for n in RUNS if (OUT / n / "results.csv").is_file()]
    sha = {n: hashlib.sha256((OUT / n / "results.csv").read_bytes()).hexdigest() for n in names}
    doc: dict = {"sha256": sha, "pairs": {}}
    for a, b in (("a", "b"), ("a", "default")):
        if a not in sha or b not in sha:
            continue
        va, vb = _values(a), _values(b)
        diffs = {k: abs(va[k] - vb[k]) for k in va if k in vb and not k[3].startswith("val_")}
        moved = {k: d for k, d in diffs.items() if d > 0}
        means = {}
        for k, d in diffs.items():
            means.setdefault((k[0], k[2]), []).append(va[k] - vb[k])
        mean_shift = {k: abs(sum(v) / len(v)) for k, v in means.items()}
        cfg = [json.loads((OUT / n / "config.json").read_text())["loop"] for n in (a, b)]
        doc["pairs"][f"{a}-{b}"] = {
            "byte_identical": sha[a] == sha[b],
            "cells": len(diffs),
            "cells_differing": len(moved),
            "max_abs_points": max(diffs.values(), default=0.0),
            "max_test_items": round(max(diffs.values(), default=0.0) * TEST_ITEMS / 100),
            "first_round_differing": min((k[2] for k in moved), default=None),
            "mean_abs_points": sum(diffs.values()) / max(len(diffs), 1),
            "max_shift_of_a_seed_mean_points": max(mean_shift.values(), default=0.0),
            "snn_minus_random_t2_10": [_snn_gap(n) for n in (a, b)],
            "same_step": cfg[0].get("step") == cfg[1].get("step"),
            "steps": [c.get("step") for c in cfg],
        }
    (OUT / "determinism.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["pairs"], indent=1))
    return doc


def resummarize(name: str) -> None:
    """Rewrite ``<name>/summary.md`` with this code from the run's own ``rounds.csv`` (every round
    record) and ``config.json``; refuses unless the rebuilt ``results.csv`` equals the run's byte for byte."""
    import csv
    import dataclasses

    sys.path.insert(0, str(ROOT))
    from latentlab.datasets import load_dataset
    from latentlab.loop import RoundRecord
    from latentlab.report import write_outputs
    from latentlab.strategies import get_strategy

    fields = {f.name: f for f in dataclasses.fields(RoundRecord)}
    runs: dict = {}
    with open(OUT / name / "rounds.csv", newline="") as f:
        for r in csv.DictReader(f):
            kw = {}
            for k, f_ in fields.items():
                v = r[k]
                if v == "":
                    kw[k] = None
                elif k == "metric_name":
                    kw[k] = v
                elif "int" in str(f_.type) and "float" not in str(f_.type):
                    kw[k] = int(v)
                else:
                    kw[k] = float(v)
            runs.setdefault((r["strategy"], int(r["seed"])), []).append(RoundRecord(**kw))
    strategies = {s for s, _ in runs}
    shared = {s for s in strategies if get_strategy(s).shares_initial_set}
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(OUT / name / "config.json", Path(tmp) / "config.json")
        write_outputs(tmp, "digits", runs, data=load_dataset("digits"), shared_initial=shared)
        if (Path(tmp) / "results.csv").read_bytes() != (OUT / name / "results.csv").read_bytes():
            sys.exit(f"{name}: rounds.csv does not rebuild results.csv; summary.md left as the run wrote it")
        shutil.copy(Path(tmp) / "summary.md", OUT / name / "summary.md")
    print(f"{name}: summary.md rewritten from rounds.csv (results.csv rebuilt byte for byte)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="a,b,default", help="comma-separated: a, b, default")
    p.add_argument("--compare", action="store_true", help="only compare the runs already written")
    p.add_argument(
        "--resummarize", action="store_true", help="rewrite each run's summary.md from its rounds.csv with this code"
    )
    a = p.parse_args()
    if a.resummarize:
        for name in RUNS:
            if (OUT / name / "rounds.csv").is_file():
                resummarize(name)
    elif not a.compare:
        for name in a.runs.split(","):
            run_once(name.strip())
    compare()


if __name__ == "__main__":
    main()
