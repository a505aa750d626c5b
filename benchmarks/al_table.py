"""Labels-to-accuracy and cost per round from ``latentlab run`` output, for BENCHMARKS.md.

    python benchmarks/al_table.py RUN_DIR [RUN_DIR ...] [--thresholds 90,95]

Several folders (e.g. seeds run in separate processes) are read together. Each ``RUN_DIR``
holds a ``results.csv`` + ``rounds.csv`` (a finished run), or only
``runs/*/state.json`` checkpoints (a run cut off by a deadline: every round a checkpoint
recorded counts; ``results.csv`` etc. are then written from them). Prints markdown:

* per strategy, the labels at the first round whose test accuracy reaches each threshold, per seed,
  and the median over seeds (a seed that never reaches it counts as "> last labels": the median is
  then reported as not reached when half or more never do);
* the cost of a round per strategy: median seconds of target training, of the strategy's
  proposal (scoring + selection) and their ratio, over all rounds and seeds.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def from_states(run_dir: Path) -> None:
    """Write results.csv / rounds.csv / summary.md from the checkpoints under ``run_dir/runs``."""
    from latentlab.loop import RoundRecord
    from latentlab.report import write_outputs

    runs, dataset = {}, "data"
    for st in sorted(run_dir.glob("runs/*/state.json")):
        s = json.loads(st.read_text())
        runs[(s["strategy"], s["seed"])] = [RoundRecord(**r) for r in s["records"]]
        dataset = s["dataset"]
    if not runs:
        raise SystemExit(f"no results.csv and no runs/*/state.json under {run_dir}")
    write_outputs(run_dir, dataset, runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--thresholds", default="90,95")
    a = ap.parse_args()
    dirs = [Path(d) for d in a.run_dirs]
    acc = defaultdict(dict)  # (strategy, seed) -> {n_labelled: accuracy}
    for d in dirs:
        if not (d / "results.csv").exists():
            from_states(d)
        with open(d / "results.csv") as f:
            for r in csv.DictReader(f):
                if r["metric"] == "accuracy":
                    acc[(r["strategy"], int(r["seed"]))][int(r["n_labelled"])] = float(r["value"])
    strategies = sorted({s for s, _ in acc})
    seeds = sorted({sd for _, sd in acc})
    print(f"seeds: {seeds}; rounds recorded per run: {sorted({len(v) for v in acc.values()})}\n")
    for thr in (float(t) for t in a.thresholds.split(",")):
        print(f"Labels to reach {thr:g}% test accuracy (per seed; median over seeds):\n")
        print("| strategy | " + " | ".join(f"seed {s}" for s in seeds) + " | median |")
        print("|---" * (len(seeds) + 2) + "|")
        for s in strategies:
            cells, vals = [], []
            for sd in seeds:
                curve = acc.get((s, sd))
                if not curve:
                    cells.append("-")
                    continue
                hit = next((n for n in sorted(curve) if curve[n] >= thr), None)
                cells.append(str(hit) if hit is not None else f"> {max(curve)}")
                vals.append(hit if hit is not None else np.inf)
            med = np.median(vals) if vals else np.nan
            med_s = "not reached" if not np.isfinite(med) else f"{med:g}"
            print(f"| {s} | " + " | ".join(cells) + f" | {med_s} |")
        print()
    cost = defaultdict(lambda: defaultdict(list))
    for d in dirs:
        if not (d / "rounds.csv").exists():
            continue
        with open(d / "rounds.csv") as f:
            for r in csv.DictReader(f):
                for k in ("train_s", "sample_s", "eval_s"):
                    if r.get(k) not in (None, ""):
                        cost[r["strategy"]][k].append(float(r[k]))
                cost[r["strategy"]]["ratio"].append(
                    float(r["sample_s"]) / max(float(r["train_s"]), 1e-9) if float(r["sample_s"]) > 0 else np.nan
                )
    if cost:
        print("Cost of a round (median over rounds and seeds; proposal = scoring + selection):\n")
        print("| strategy | train s | proposal s | proposal / train (median) | proposal / train (max) |")
        print("|---|---|---|---|---|")
        for s in sorted(cost):
            c = cost[s]
            rat = np.array(c["ratio"], float)
            rat = rat[np.isfinite(rat)]
            mx = f"{rat.max():.2f}" if rat.size else "-"
            md = f"{np.median(rat):.2f}" if rat.size else "-"
            print(f"| {s} | {np.median(c['train_s']):.2f} | {np.median(c['sample_s']):.2f} | {md} | {mx} |")


if __name__ == "__main__":
    main()
