"""Numbers that explain a strategy, per round: who got labelled and how hard they were for F.

* the class balance of the labelled set F trains on: the rarest class's count and the entropy
  (bits) of the class histogram (``log2(n_classes)`` when balanced);
* the median latent distance of a round's picks to the nearest item labelled before them (a
  strategy that stays inside labelled clusters has small distances);
* F's error on the picks, measured with the model that picked them, against its error on the
  unlabelled pool at that time (a hard-sample miner should pick items F gets wrong more often).

:func:`round_diagnostics` is called by the loop after each proposal is labelled; the fields land in
:class:`~latentlab.loop.RoundRecord` (so in ``rounds.csv``) and :func:`diagnostics_section` writes
them into ``summary.md``. None of this consumes the run's random streams: results stay the same.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "class_balance",
    "median_distance_to_labelled",
    "error_of",
    "round_diagnostics",
    "diagnostics_section",
    "why_line",
    "POOL_SAMPLE",
    "DIAGNOSTIC_FIELDS",
]

POOL_SAMPLE = 2000  # unlabelled items F's pool error is measured on (seeded): cheap on MNIST's 60,000
_DIAG_STREAM = 7  # the loop's streams are 0-3; this one only picks the pool sample

#: RoundRecord field -> what summary.md calls it
DIAGNOSTIC_FIELDS = {
    "rarest_class": "rarest class count in the labelled set",
    "class_entropy": "entropy of the labelled set's class histogram (bits)",
    "pick_latent_dist": "median latent distance of the picks to the nearest labelled item",
    "pick_error": "F's error on its picks (when picked)",
    "pool_error": "F's error on the unlabelled pool (then)",
}


def class_balance(y: np.ndarray, n_classes: int) -> tuple[int, float]:
    """``(rarest class count, entropy in bits of the class histogram)`` of labels ``y``."""
    counts = np.bincount(np.asarray(y, dtype=np.int64).ravel(), minlength=n_classes)[:n_classes]
    p = counts[counts > 0] / max(counts.sum(), 1)
    return int(counts.min()), float(-(p * np.log2(p)).sum()) if p.size else 0.0


def median_distance_to_labelled(z: np.ndarray, picks: np.ndarray, labelled: np.ndarray) -> float | None:
    """Median Euclidean distance from each pick's code ``z[picks]`` to its nearest code in ``z[labelled]``."""
    if len(picks) == 0 or len(labelled) == 0:
        return None
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.asarray(z[labelled], np.float64)).query(np.asarray(z[picks], np.float64), k=1)
    return float(np.median(d))


def error_of(task, model, x: np.ndarray, y: np.ndarray) -> float:
    """F's error on ``(x, y)``: 100 - accuracy (percent) for classification, else the task's metric (an error)."""
    m = float(task.evaluate(model, x, y))
    return 100.0 - m if task.higher_is_better else m


def round_diagnostics(loop, t: int) -> dict:
    """The diagnostics of round ``t``'s proposal, labelled into round ``t + 1`` (pool picks only).

    ``loop``: an :class:`~latentlab.loop.ActiveLoop` whose model is still the one that picked."""
    pool, task = loop.pool, loop.task
    picks = pool.indices_of_round(t + 1)
    out: dict = {}
    if len(picks) == 0 or loop.model is None:
        return out
    before = pool.labelled_indices(upto_round=t)
    z = getattr(loop.latent, "embeddings", None)
    if z is not None:
        out["pick_latent_dist"] = median_distance_to_labelled(z, picks, before)
    x, y = loop.dataset.x_train, loop.pool_labels
    if y is None:
        return out
    out["pick_error"] = error_of(task, loop.model, x[picks], y[picks])
    free = np.union1d(pool.unlabelled_indices(), picks)  # unlabelled when F picked
    known = loop.labeler.known_labels
    if known is None:  # a labeling tool: only labelled items have labels, so no pool error
        return out
    if len(free) > POOL_SAMPLE:
        rng = np.random.default_rng([loop.seed, _DIAG_STREAM, t])
        free = np.sort(rng.choice(free, POOL_SAMPLE, replace=False))
    out["pool_error"] = error_of(task, loop.model, x[free], np.asarray(known)[free])
    return out


def _fmt(v, digits: int = 2) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def diagnostics_section(runs: dict) -> str:
    """summary.md's diagnostics: per strategy and round, the mean over seeds of each field."""
    fields = [f for f in DIAGNOSTIC_FIELDS if any(getattr(r, f, None) is not None for rs in runs.values() for r in rs)]
    if not fields:
        return ""
    by = {}
    for (s, _seed), recs in runs.items():
        for r in recs:
            by.setdefault(s, {}).setdefault(r.round, []).append(r)
    md = (
        "\nDiagnostics, mean over seeds (rounds.csv has each seed). Class balance is of the set F trains on "
        "at round t; the pick columns describe the batch F(t) picked for round t+1.\n\n"
        "| strategy | t | " + " | ".join(DIAGNOSTIC_FIELDS[f] for f in fields) + " |\n"
        "|---|---|" + "---|" * len(fields) + "\n"
    )
    for s in sorted(by):
        for t in sorted(by[s]):
            cells = []
            for f in fields:
                v = [getattr(r, f) for r in by[s][t] if getattr(r, f, None) is not None]
                cells.append(_fmt(float(np.mean(v)), 3 if f == "pick_latent_dist" else 2) if v else "")
            md += f"| {s} | {t} | " + " | ".join(cells) + " |\n"
    return md


def _mean_field(recs: list, field: str, last_only: bool = False) -> float | None:
    if last_only and recs:
        last = max(r.round for r in recs)
        recs = [r for r in recs if r.round == last]
    v = [getattr(r, field) for r in recs if getattr(r, field, None) is not None]
    return float(np.mean(v)) if v else None


def why_line(runs: dict, strategy: str, baseline: str = "random") -> str | None:
    """One line of diagnostics beside the verdict: class balance at the last round and F's error on
    the picks vs the pool (mean over seeds and rounds), for ``strategy`` and ``baseline``."""
    recs = {s: [r for (k, _seed), rs in runs.items() if k == s for r in rs] for s in (strategy, baseline)}
    rare = {s: _mean_field(recs[s], "rarest_class", last_only=True) for s in recs}
    pick = {s: _mean_field(recs[s], "pick_error") for s in recs}
    pool = {s: _mean_field(recs[s], "pool_error") for s in recs}
    if None in rare.values() or None in pick.values() or None in pool.values():
        return None
    return (
        f"Why (diagnostics below): at the last round {strategy}'s labelled set holds {rare[strategy]:.1f} labels "
        f"of its rarest class ({baseline}: {rare[baseline]:.1f}); F errs on {strategy}'s picks "
        f"{pick[strategy]:.1f} % of the time vs {pool[strategy]:.1f} % on the unlabelled pool "
        f"({baseline}: {pick[baseline]:.1f} % vs "
        f"{pool[baseline]:.1f} %), mean over seeds and rounds."
    )
