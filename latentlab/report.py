"""Tables and figures from run records: tidy CSV, Table-1-style markdown, learning curves.

matplotlib with the Agg backend only (headless); interactive figures live in ``widgets/``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from .storage import atomic_write

__all__ = ["tidy_rows", "write_csv", "read_results", "summary_table", "labels_to_reach", "plot_learning_curves",
           "write_outputs"]

RESULT_COLUMNS = ("dataset", "strategy", "seed", "round", "n_labelled", "metric", "value")


def tidy_rows(dataset: str, runs: dict) -> list[dict]:
    """``runs``: ``{(strategy, seed): [RoundRecord, ...]}`` -> rows in RESULT_COLUMNS order."""
    rows = []
    for (strategy, seed), recs in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for r in recs:
            rows.append({"dataset": dataset, "strategy": strategy, "seed": int(seed), "round": int(r.round),
                         "n_labelled": int(r.n_labelled), "metric": r.metric_name, "value": float(r.metric)})
    return rows


def write_csv(path, rows: list[dict], columns=RESULT_COLUMNS) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write(Path(path), buf.getvalue())


def read_results(path) -> list[dict]:
    """Read a ``results.csv`` back (numbers as numbers)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["seed"], r["round"], r["n_labelled"], r["value"] = (int(r["seed"]), int(r["round"]),
                                                              int(r["n_labelled"]), float(r["value"]))
    return rows


def _group(rows):
    g = {}
    for r in rows:
        g.setdefault(r["strategy"], {}).setdefault(r["round"], []).append(r)
    return g


def summary_table(rows: list[dict], digits: int = 2) -> str:
    """Markdown pivot: one row per strategy, one column per round, ``mean ± std`` over seeds."""
    if not rows:
        return "(no results)\n"
    g = _group(rows)
    rounds = sorted({r["round"] for r in rows})
    metric = rows[0]["metric"]
    head = "| strategy | " + " | ".join(f"t={t}" for t in rounds) + " |"
    sep = "|---|" + "---|" * len(rounds)
    lines = [head, sep]
    nl = []
    for t in rounds:
        ns = sorted({r["n_labelled"] for rs in g.values() for r in rs.get(t, [])})
        nl.append("/".join(str(n) for n in ns) if ns else "")
    lines.append("| *labels* | " + " | ".join(nl) + " |")
    for s in sorted(g):
        cells = []
        for t in rounds:
            v = np.array([r["value"] for r in g[s].get(t, [])])
            cells.append("" if v.size == 0 else (f"{v.mean():.{digits}f} ± {v.std(ddof=1) if v.size > 1 else 0:.{digits}f}"))
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in rows})
    return (f"{metric} on the test set, mean ± std over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); "
            f"std is the sample std (ddof=1).\n\n" + "\n".join(lines) + "\n")


def labels_to_reach(rows: list[dict], threshold: float, higher_is_better: bool = True) -> dict:
    """Per strategy: labels at the first round whose *mean over seeds* reaches ``threshold`` (None if never)."""
    out = {}
    for s, by_round in _group(rows).items():
        out[s] = None
        for t in sorted(by_round):
            v = np.mean([r["value"] for r in by_round[t]])
            if (v >= threshold) if higher_is_better else (v <= threshold):
                out[s] = int(np.mean([r["n_labelled"] for r in by_round[t]]))
                break
    return out


def plot_learning_curves(rows: list[dict], path=None, title: str | None = None, ax=None):
    """Metric vs number of labels, mean line and ±1 std band per strategy. Returns the figure."""
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False) if path else None
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    else:
        fig = ax.figure
    for s, by_round in sorted(_group(rows).items()):
        ts = sorted(by_round)
        n = np.array([np.mean([r["n_labelled"] for r in by_round[t]]) for t in ts])
        v = [np.array([r["value"] for r in by_round[t]]) for t in ts]
        m = np.array([x.mean() for x in v])
        sd = np.array([x.std(ddof=1) if x.size > 1 else 0.0 for x in v])
        (line,) = ax.plot(n, m, marker="o", ms=3, label=s)
        ax.fill_between(n, m - sd, m + sd, color=line.get_color(), alpha=0.2, lw=0)
    if rows:
        ax.set_ylabel(rows[0]["metric"])
    ax.set_xlabel("labelled items")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    if path:
        fig.savefig(path)
    return fig


def write_outputs(out, dataset: str, runs: dict) -> list[dict]:
    """Write results.csv, rounds.csv, summary.md and learning_curves.png into ``out``; return tidy rows."""
    out = Path(out)
    rows = tidy_rows(dataset, runs)
    write_csv(out / "results.csv", rows)
    rec_rows = []
    for (s, seed), recs in sorted(runs.items()):
        for r in recs:
            rec_rows.append({"strategy": s, "seed": seed, **dataclasses.asdict(r)})
    if rec_rows:
        write_csv(out / "rounds.csv", rec_rows, columns=list(rec_rows[0].keys()))
    md = f"# {dataset}\n\n" + summary_table(rows)
    if rows and rows[0]["metric"] == "accuracy":
        best = max(r["value"] for r in rows)
        thr = 95.0 if best >= 95.0 else float(np.floor(best))
        reach = labels_to_reach(rows, thr)
        md += f"\nLabels at the first round whose mean accuracy reaches {thr:g}%:\n\n"
        md += "\n".join(f"- {s}: {n if n is not None else 'not reached'}" for s, n in sorted(reach.items())) + "\n"
    atomic_write(out / "summary.md", md)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_learning_curves(rows, out / "learning_curves.png", title=dataset)
    plt.close(fig)
    return rows
