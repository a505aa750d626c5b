"""Merge per-seed ``latentlab run`` folders into one results.csv / summary.md / learning_curves.png.

    python benchmarks/merge_runs.py OUT RUN_DIR [RUN_DIR ...]

Also writes ``OUT/extra.md``: labels per round, paired (same seed) SNN - random and entropy - random
differences at every round, and the class histogram of each strategy's final labelled set (mean
over seeds; needs the data set, read from the cache the runs filled).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from latentlab.loop import RoundRecord
from latentlab.report import write_outputs


def load_runs(dirs):
    runs, arrays = {}, {}
    for d in dirs:
        for st in sorted(Path(d).glob("runs/*/state.json")):
            s = json.loads(st.read_text())
            runs[(s["strategy"], s["seed"])] = [RoundRecord(**r) for r in s["records"]]
            with np.load(st.parent / s["arrays"]) as z:
                arrays[(s["strategy"], s["seed"])] = z["labelled_round"]
    return runs, arrays


def main(out, *dirs):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs, arrays = load_runs(dirs)
    write_outputs(out, "cifar10", runs)
    strategies = sorted({s for s, _ in runs})
    seeds = sorted({sd for _, sd in runs})
    lines = ["# CIFAR-10 cpu profile: extra tables\n", f"seeds: {seeds}\n"]
    any_run = next(iter(runs.values()))
    lines.append("| round t | " + " | ".join(str(r.round) for r in any_run) + " |")
    lines.append("|---" * (len(any_run) + 1) + "|")
    lines.append("| labels | " + " | ".join(str(r.n_labelled) for r in any_run) + " |\n")
    acc = {k: np.array([r.metric for r in v]) for k, v in runs.items()}
    lines.append(
        "Paired differences to random (same seed, same initial set), mean ± sample std (ddof=1) over seeds, points:\n"
    )
    lines.append("| strategy | " + " | ".join(f"t={r.round}" for r in any_run) + " |")
    lines.append("|---" * (len(any_run) + 1) + "|")
    for s in strategies:
        if s == "random":
            continue
        diffs = np.array(
            [
                acc[(s, sd)] - acc[("random", sd)]
                for sd in seeds
                if (s, sd) in acc and ("random", sd) in acc and len(acc[(s, sd)]) == len(acc[("random", sd)])
            ]
        )
        if len(diffs):
            cells = [f"{m:+.1f} ± {e:.1f}" for m, e in zip(diffs.mean(0), diffs.std(0, ddof=1))]
            lines.append(f"| {s} − random | " + " | ".join(cells) + " |")
    try:
        from latentlab import ExperimentConfig, load_dataset
        from latentlab.profiles import apply_profile

        cfg = apply_profile(ExperimentConfig(), "cpu")
        ds = load_dataset("cifar10", root=Path(__file__).resolve().parents[2] / "shared" / "data").subset(
            cfg.n_pool, cfg.n_test, 0
        )
        lines.append("\nClass counts of the final labelled set (mean over seeds):\n")
        lines.append("| strategy | " + " | ".join(ds.classes) + " |")
        lines.append("|---" * (len(ds.classes) + 1) + "|")
        for s in strategies:
            h = np.mean(
                [
                    np.bincount(ds.y_train[arrays[(s, sd)] >= 0], minlength=len(ds.classes))
                    for sd in seeds
                    if (s, sd) in arrays
                ],
                axis=0,
            )
            lines.append(f"| {s} | " + " | ".join(f"{v:.0f}" for v in h) + " |")
    except Exception as e:  # the class table is a bonus; the merged results above stand without it
        lines.append(f"\n(class counts skipped: {e.__class__.__name__}: {e})")
    (out / "extra.md").write_text("\n".join(lines) + "\n")
    print((out / "summary.md").read_text())
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
