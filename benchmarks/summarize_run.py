"""Summarise a `latentlab run` output folder for BENCHMARKS.md.

Prints: the mean ± std table per round and strategy, the paired gain of each strategy over
``random`` (same seed, same initial set; mean ± std over seeds and the number of seeds where it is
ahead), labels needed to reach a threshold, and the median time split of a round.

Usage: python benchmarks/summarize_run.py OUT_DIR [--threshold 95] [--baseline random]
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from latentlab.report import labels_to_reach, read_results, summary_table


def paired_gains(rows: list[dict], baseline: str = "random") -> dict[str, dict]:
    """Per strategy: ``cells`` {round: "mean ± std (ahead/seeds)"} of strategy - baseline at the same
    seed, and ``mean``, the mean gain over every (seed, round >= 2)."""
    v: dict = defaultdict(dict)
    for r in rows:
        v[r["strategy"]][(r["seed"], r["round"])] = r["value"]
    base = v[baseline]
    rounds = sorted({r["round"] for r in rows})
    out = {}
    for s in sorted(v):
        if s == baseline:
            continue
        cells, allg = {}, []
        for t in rounds:
            g = np.array([v[s][k] - base[k] for k in v[s] if k[1] == t and k in base])
            if t >= 2:
                allg.extend(g)
            cells[t] = f"{g.mean():+.2f} ± {g.std(ddof=1) if g.size > 1 else 0:.2f} ({int((g > 0).sum())}/{g.size})"
        out[s] = {"cells": cells, "mean": float(np.mean(allg))}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--threshold", type=float, default=95.0)
    ap.add_argument("--baseline", default="random")
    a = ap.parse_args()
    out = Path(a.out)
    rows = read_results(out / "results.csv")
    print(summary_table(rows))
    rounds = sorted({r["round"] for r in rows})
    print(f"Paired gain over {a.baseline} (points; mean ± std over seeds; seeds ahead / seeds):\n")
    print("| strategy | " + " | ".join(f"t={t}" for t in rounds) + " | mean t>=2 |")
    print("|---|" + "---|" * (len(rounds) + 1))
    for s, g in paired_gains(rows, a.baseline).items():
        print(f"| {s} | " + " | ".join(g["cells"][t] for t in rounds) + f" | {g['mean']:+.2f} |")
    reach = labels_to_reach(rows, a.threshold)
    print(
        f"\nLabels at the first round whose mean accuracy reaches {a.threshold:g}%: "
        + ", ".join(f"{s} {n if n is not None else 'not reached'}" for s, n in sorted(reach.items()))
    )
    rc = out / "rounds.csv"
    if rc.exists():
        with open(rc) as f:
            rr = list(csv.DictReader(f))
        print("\nMedian time of one round (s):\n")
        print("| strategy | train | evaluate | sample | optimiser steps |")
        print("|---|---|---|---|---|")
        by = defaultdict(list)
        for r in rr:
            by[r["strategy"]].append(r)
        for s, rs in sorted(by.items()):
            med = lambda k: np.median([float(r[k]) for r in rs if float(r["n_proposed"]) > 0 or k != "sample_s"])
            print(
                f"| {s} | {med('train_s'):.2f} | {med('eval_s'):.2f} | {med('sample_s'):.3f} | "
                f"{np.median([int(r['n_steps']) for r in rs]):.0f} |"
            )


if __name__ == "__main__":
    main()
