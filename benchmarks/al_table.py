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


def read_accuracy(dirs: list[Path]) -> dict:
    """``(strategy, seed) -> {n_labelled: test accuracy}`` over every folder (states are turned into CSVs)."""
    acc: dict = defaultdict(dict)
    for d in dirs:
        if not (d / "results.csv").exists():
            from_states(d)
        with open(d / "results.csv") as f:
            for r in csv.DictReader(f):
                if r["metric"] == "accuracy":
                    acc[(r["strategy"], int(r["seed"]))][int(r["n_labelled"])] = float(r["value"])
    return acc


def labels_to_threshold(dirs: list[Path], thr: float) -> dict[str, tuple[dict[int, str], str, float]]:
    """Per strategy: ({seed: cell}, the median as printed, the median as a number).

    A cell is the labels at the first round whose accuracy reaches ``thr``, or ``> N`` when the run
    (N labels at its last round) never does; the median counts such a seed as infinite."""
    acc = read_accuracy(dirs)
    out = {}
    for s in sorted({s for s, _ in acc}):
        cells, vals = {}, []
        for sd in sorted(sd for st, sd in acc if st == s):
            curve = acc[(s, sd)]
            hit = next((n for n in sorted(curve) if curve[n] >= thr), None)
            cells[sd] = str(hit) if hit is not None else f"> {max(curve)}"
            vals.append(hit if hit is not None else np.inf)
        med = float(np.median(vals))
        out[s] = (cells, "not reached" if not np.isfinite(med) else f"{med:g}", med)
    return out


def round_costs(dirs: list[Path]) -> dict[str, dict[str, float]]:
    """Per strategy, medians over rounds and seeds of ``rounds.csv``: ``train``, ``eval``, ``proposal``
    (every round), ``proposal_rounds`` (rounds that proposed), ``ratio_median`` / ``ratio_max`` of
    proposal / train over the rounds that proposed."""
    from latentlab.report import read_rounds

    cost: dict = defaultdict(lambda: defaultdict(list))
    for d in dirs:
        if not (d / "rounds.csv").exists():
            continue
        for r in read_rounds(d / "rounds.csv"):  # either layout of rounds.csv
            c = cost[r["strategy"]]
            for k in ("train_s", "sample_s", "eval_s"):
                if r.get(k) not in (None, ""):
                    c[k].append(float(r[k]))
            if float(r["n_proposed"]) > 0:
                c["proposed_s"].append(float(r["sample_s"]))
            c["ratio"].append(
                float(r["sample_s"]) / max(float(r["train_s"]), 1e-9) if float(r["sample_s"]) > 0 else np.nan
            )
    out = {}
    for s, c in cost.items():
        rat = np.array(c["ratio"], float)
        rat = rat[np.isfinite(rat)]
        out[s] = {
            "train": float(np.median(c["train_s"])),
            "eval": float(np.median(c["eval_s"])) if c["eval_s"] else np.nan,
            "proposal": float(np.median(c["sample_s"])),
            "proposal_rounds": float(np.median(c["proposed_s"])) if c["proposed_s"] else np.nan,
            "ratio_median": float(np.median(rat)) if rat.size else np.nan,
            "ratio_max": float(rat.max()) if rat.size else np.nan,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--thresholds", default="90,95")
    a = ap.parse_args()
    dirs = [Path(d) for d in a.run_dirs]
    acc = read_accuracy(dirs)
    seeds = sorted({sd for _, sd in acc})
    print(f"seeds: {seeds}; rounds recorded per run: {sorted({len(v) for v in acc.values()})}\n")
    for thr in (float(t) for t in a.thresholds.split(",")):
        print(f"Labels to reach {thr:g}% test accuracy (per seed; median over seeds):\n")
        print("| strategy | " + " | ".join(f"seed {s}" for s in seeds) + " | median |")
        print("|---" * (len(seeds) + 2) + "|")
        for s, (cells, med_s, _) in labels_to_threshold(dirs, thr).items():
            print(f"| {s} | " + " | ".join(cells.get(sd, "-") for sd in seeds) + f" | {med_s} |")
        print()
    cost = round_costs(dirs)
    if cost:
        print("Cost of a round (median over rounds and seeds; proposal = scoring + selection):\n")
        print("| strategy | train s | proposal s | proposal / train (median) | proposal / train (max) |")
        print("|---|---|---|---|---|")
        for s, c in sorted(cost.items()):
            md = "-" if np.isnan(c["ratio_median"]) else f"{c['ratio_median']:.2f}"
            mx = "-" if np.isnan(c["ratio_max"]) else f"{c['ratio_max']:.2f}"
            print(f"| {s} | {c['train']:.2f} | {c['proposal']:.2f} | {md} | {mx} |")


if __name__ == "__main__":
    main()
