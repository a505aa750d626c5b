"""Paired gain of runs in other output folders over one baseline row (same seeds => same initial sets).

Usage: python benchmarks/compare_to_baseline.py BASE_DIR BASE_STRATEGY RUN_DIR[:label] ...
Prints one markdown row per run: mean ± std over the shared seeds of (run - baseline), per round.
"""

import sys

import numpy as np

from latentlab.report import read_results


def main():
    base_dir, base_s, *runs = sys.argv[1:]
    base = {
        (r["seed"], r["round"]): r["value"] for r in read_results(f"{base_dir}/results.csv") if r["strategy"] == base_s
    }
    rows_out = []
    for spec in runs:
        d, _, label = spec.partition(":")
        rows = read_results(f"{d}/results.csv")
        for s in sorted({r["strategy"] for r in rows}):
            v = {(r["seed"], r["round"]): r["value"] for r in rows if r["strategy"] == s}
            rounds = sorted({k[1] for k in v})
            seeds = sorted({k[0] for k in v})
            cells = []
            for t in rounds:
                g = np.array([v[(sd, t)] - base[(sd, t)] for sd in seeds if (sd, t) in base])
                cells.append(f"{g.mean():+.2f} ± {g.std(ddof=1):.2f}")
            rows_out.append((label or f"{d}:{s}", seeds, rounds, cells))
    t = rows_out[0][2]
    print(f"| run (seeds {','.join(map(str, rows_out[0][1]))}) | " + " | ".join(f"t={x}" for x in t) + " |")
    print("|---|" + "---|" * len(t))
    for label, _, _, cells in rows_out:
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
