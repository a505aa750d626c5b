"""Tables and figures from run records: tidy CSV, Table-1-style markdown, learning curves.

Figures are plain :class:`matplotlib.figure.Figure` objects (:func:`new_figure`): saved when a path
is given and returned, never registered with pyplot, and the matplotlib backend is never changed,
so a notebook keeps its inline backend (the returned figure displays inline, and lands in papermill
output notebooks) and scripts need no display. Interactive figures live in ``latentlab.widgets``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .storage import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "tidy_rows",
    "write_csv",
    "read_results",
    "round_rows",
    "read_rounds",
    "summary_table",
    "labels_to_reach",
    "plot_learning_curves",
    "write_outputs",
    "protocol_section",
    "new_figure",
]

RESULT_COLUMNS = ("dataset", "strategy", "seed", "round", "n_labelled", "metric", "value")


def tidy_rows(dataset: str, runs: dict) -> list[dict]:
    """``runs``: ``{(strategy, seed): [RoundRecord, ...]}`` -> rows in RESULT_COLUMNS order."""
    rows = []
    for (strategy, seed), recs in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        key = {"dataset": dataset, "strategy": strategy, "seed": int(seed)}
        rows += [{**key, **_round_cells(r, r.metric_name, r.metric)} for r in recs]
        # validation rows only when the run has a validation set
        rows += [
            {**key, **_round_cells(r, "val_" + r.metric_name, r.val_metric)}
            for r in recs
            if getattr(r, "val_metric", None) is not None
        ]
    return rows


def _round_cells(r, metric: str, value) -> dict:
    return {"round": int(r.round), "n_labelled": int(r.n_labelled), "metric": metric, "value": float(value)}


def write_csv(path, rows: list[dict], columns=RESULT_COLUMNS) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write(Path(path), buf.getvalue())


def read_results(path) -> list[dict]:
    """Read a ``results.csv`` back (numbers as numbers).

    A table that cannot be read (garbled bytes, a row short of a column or with extra cells, a
    number that is not one) raises :class:`~latentlab.exceptions.ResumeError`, one line naming the file.
    """
    from .exceptions import ResumeError

    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        for i, r in enumerate(rows, start=2):
            missing = [c for c in RESULT_COLUMNS if r.get(c) in (None, "")]
            if missing or None in r:
                raise ValueError(f"line {i} has {'no ' + ', '.join(missing) if missing else 'extra cells'}")
            r["seed"], r["round"], r["n_labelled"], r["value"] = (
                int(r["seed"]),
                int(r["round"]),
                int(r["n_labelled"]),
                float(r["value"]),
            )
    except (UnicodeDecodeError, csv.Error, ValueError) as e:
        msg = e.__class__.__name__ if isinstance(e, UnicodeDecodeError) else str(e).splitlines()[0][:120]
        raise ResumeError(
            f"{path} is not a readable results table ({msg}); rerun the command that wrote it "
            "('latentlab run --resume' rewrites it from the run's checkpoints)"
        ) from None
    return rows


# rounds.csv names its columns as results.csv does: ``metric`` is the metric's name, ``value`` its
# test value, ``val_value`` its validation value. Files written before issue 21 carry the
# RoundRecord's own field names there (``metric`` the value, ``metric_name`` the name,
# ``val_metric``); read_rounds renames them.
_ROUND_COLUMNS = {"metric_name": "metric", "metric": "value", "val_metric": "val_value"}


def round_rows(runs: dict) -> list[dict]:
    """``runs``: ``{(strategy, seed): [RoundRecord, ...]}`` -> the rows of ``rounds.csv``.

    Parameters
    ----------
    runs : dict
        Round records per (strategy, seed).

    Returns
    -------
    list of dict
        One row per record: ``strategy``, ``seed``, ``round``, ``n_labelled``, ``metric`` (the
        metric's name), ``value`` (its test value), then the record's other fields, with
        ``val_value`` for the validation value.
    """
    rows = []
    for (strategy, seed), recs in sorted(runs.items()):
        for r in recs:
            rec = {_ROUND_COLUMNS.get(k, k): v for k, v in dataclasses.asdict(r).items()}
            head = {k: rec.pop(k) for k in ("round", "n_labelled", "metric", "value")}
            rows.append({"strategy": strategy, "seed": seed, **head, **rec})
    return rows


def read_rounds(path) -> list[dict]:
    """Read a ``rounds.csv`` back, in today's column names whatever wrote it.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    list of dict
        One row per round, cells as the text in the file (as :class:`csv.DictReader` gives them);
        a file of the layout before issue 21 (``metric`` the value, ``metric_name`` the name,
        ``val_metric``) comes back with ``metric`` the name, ``value`` and ``val_value``.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "metric_name" in rows[0]:
        rows = [{_ROUND_COLUMNS.get(k, k): v for k, v in r.items()} for r in rows]
    return rows


def _group(rows):
    g = {}
    for r in rows:
        g.setdefault(r["strategy"], {}).setdefault(r["round"], []).append(r)
    return g


def summary_table(rows: list[dict], digits: int = 2, metric: str | None = None) -> str:
    """Markdown pivot: one row per strategy, one column per round, ``mean ± std`` over seeds.

    ``metric``: which metric's rows (default: the test metric; ``"val_accuracy"`` etc. for validation)."""
    from .stats import test_metric_rows

    rows = test_metric_rows(rows) if metric is None else [r for r in rows if r["metric"] == metric]
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
            cells.append(
                "" if v.size == 0 else (f"{v.mean():.{digits}f} ± {v.std(ddof=1) if v.size > 1 else 0:.{digits}f}")
            )
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in rows})
    where = "the validation set" if str(metric).startswith("val_") else "the test set"
    return (
        f"{metric} on {where}, mean ± std over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); "
        f"std is the sample std (ddof=1).\n\n" + "\n".join(lines) + "\n"
    )


def labels_to_reach(rows: list[dict], threshold: float, higher_is_better: bool = True) -> dict:
    """Per strategy: labels at the first round whose *mean over seeds* reaches ``threshold`` (None if never)."""
    from .stats import test_metric_rows

    out = {}
    for s, by_round in _group(test_metric_rows(rows)).items():
        out[s] = None
        for t in sorted(by_round):
            v = np.mean([r["value"] for r in by_round[t]])
            if (v >= threshold) if higher_is_better else (v <= threshold):
                out[s] = int(np.mean([r["n_labelled"] for r in by_round[t]]))
                break
    return out


def _enable_inline_display() -> None:
    """Inside an IPython kernel on matplotlib's inline backend, load that backend's module.

    pyplot loads it on first use; loading it is what registers the kernel's display formatter for
    :class:`~matplotlib.figure.Figure` (with the user's ``InlineBackend`` settings). A figure built
    without pyplot would otherwise display as ``<Figure size ...>`` text. The backend is only read,
    never set. Elsewhere (scripts, tests, other backends) this does nothing.
    """
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    if get_ipython() is None:
        return
    import matplotlib

    backend = dict.get(matplotlib.rcParams, "backend", "")  # raw value: reading it never resolves a backend
    if str(backend) in ("inline", "module://matplotlib_inline.backend_inline"):
        try:
            import matplotlib_inline.backend_inline  # noqa: F401 - imported for its registration
        except ImportError:  # an old IPython without matplotlib-inline: text repr only
            pass


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """``(figure, axes)`` like ``plt.subplots`` but a plain :class:`~matplotlib.figure.Figure`.

    No pyplot state (nothing to close, safe in loops and threads), the backend untouched; in
    Jupyter the returned figure displays inline when it is a cell's value or passed to ``display``.
    ``squeeze``, ``sharex``, ``sharey`` go to ``subplots``; the rest (``figsize``, ``dpi``) to the figure.
    """
    from matplotlib.figure import Figure

    sub = {k: kwargs.pop(k) for k in ("squeeze", "sharex", "sharey") if k in kwargs}
    _enable_inline_display()
    fig = Figure(**kwargs)
    return fig, fig.subplots(nrows, ncols, **sub)


def _metric_label(metric: str, dataset: str = "") -> str:
    """The y label of a learning curve: which set, the metric and its unit."""
    where, name = ("validation", metric[4:]) if metric.startswith("val_") else ("test", metric)
    if name == "accuracy":
        return f"{where} accuracy (%)"
    if name == "mse" and str(dataset).startswith("vessels"):
        return f"{where} MSE, lower is better\n(×1000, stress in 200 kPa units)"
    return f"{where} {name.upper() if name == 'mse' else name}" + (", lower is better" if name == "mse" else "")


def _seeds_line(sizes) -> str:
    """What a curve's points are: ``sizes`` are the seed counts behind each of them."""
    lo, hi = min(sizes), max(sizes)
    if hi <= 1:
        return "one seed: no band, no spread shown"
    return f"mean over {lo if lo == hi else f'{lo}-{hi}'} seeds, band: ±1 std"


def plot_learning_curves(
    rows: list[dict],
    path=None,
    title: str | None = None,
    ax: Axes | None = None,
    *,
    names: dict | None = None,
    xlabel: str = "labelled items",
) -> Figure:
    """Metric vs number of labels, mean line and ±1 std band (sample std) per strategy. Returns the figure.

    Drawn for a projector (:mod:`latentlab.figure_style`): its font sizes, each strategy in its
    colour of every latentlab figure (random blue, snn orange, entropy purple, ...), the legend right
    of the axes where it covers no curve. The title's last line says how many seeds each point
    averages and what the band is, or ``one seed`` (and no band) when there is one.

    Parameters
    ----------
    rows : list of dict   tidy result rows (``results.csv``); the test metric's are drawn
    path : optional       where to save the figure
    title : str, optional first line of the title (the seeds line follows)
    ax : optional         axes to draw on (default: a new figure)
    names : dict, optional  strategy -> the name shown, which also picks its colour (``{"snn": "snn short"}``)
    xlabel : str          the x axis's label
    """
    from matplotlib.ticker import MaxNLocator

    from .figure_style import FONT, axes_text, fit_title, legend_outside, run_colours
    from .stats import test_metric_rows

    if ax is None:
        fig, ax = new_figure(figsize=(9.5, 6), dpi=100)
    else:
        fig = ax.figure
    rows = test_metric_rows(rows)
    names = dict(names or {})
    groups = sorted(_group(rows).items())
    colours = run_colours(names.get(s, s) for s, _ in groups)
    sizes = []
    for s, by_round in groups:
        ts = sorted(by_round)
        n = np.array([np.mean([r["n_labelled"] for r in by_round[t]]) for t in ts])
        v = [np.array([r["value"] for r in by_round[t]], np.float64) for t in ts]
        sizes += [len({r["seed"] for r in by_round[t]}) for t in ts]
        m = np.array([x.mean() for x in v])
        sd = np.array([x.std(ddof=1) if x.size > 1 else 0.0 for x in v])
        shown = str(names.get(s, s))
        ax.plot(n, m, marker="o", ms=7, lw=3, color=colours[shown], label=shown)
        if any(x.size > 1 for x in v):
            ax.fill_between(n, m - sd, m + sd, color=colours[shown], alpha=0.18, lw=0)
    seeds = _seeds_line(sizes) if sizes else "no results yet"
    ylabel = _metric_label(str(rows[0]["metric"]), rows[0].get("dataset", "")) if rows else ""
    axes_text(ax, xlabel, ylabel, f"{title}\n{seeds}" if title else seeds)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # labels are counted: no 4.25
    ax.grid(alpha=0.3)
    if groups:
        legend_outside(ax, title="strategy", title_fontsize=FONT["legend"])
    fig.tight_layout()
    fit_title(ax)
    if path:
        fig.savefig(path)
    return fig


def protocol_section(rows: list[dict], data=None, shared_initial=None) -> tuple[str, list[tuple[bool, str]]]:
    """Markdown on the data actually used (split sizes, test class histogram) and the protocol checks."""
    from .stats import protocol_checks

    md = ""
    n_classes = 0
    counts = None
    if data is not None:
        md += (
            f"\nData used: {len(data.x_train)} pool items, {data.n_val} validation items (labelled once, never "
            f"trained on, not counted in the labels above), {len(data.x_test)} test items.\n"
        )
        counts = data.histogram("test")
        if counts is not None:
            n_classes = data.n_classes
            md += (
                "\nTest set class histogram: "
                + ", ".join(f"{c} {n}" for c, n in zip(data.classes, counts.tolist()))
                + "\n"
            )
    from .tasks import higher_is_better

    hib = not rows or higher_is_better(str(rows[0]["metric"]))
    constant = None
    if not hib and data is not None and getattr(data, "y_test", None) is not None and len(data.y_test):
        y = np.asarray(data.y_test, dtype=np.float64)
        constant = float(np.mean((y - y.mean(0)) ** 2)) * float(getattr(data, "metric_scale", 1.0))
    checks = protocol_checks(
        rows,
        n_classes=n_classes,
        test_counts=counts,
        source_test_counts=getattr(data, "source_test_counts", None),
        shared_initial=shared_initial,
        higher_is_better=hib,
        constant_error=constant,
    )
    if checks:
        md += (
            "\nProtocol checks:\n\n"
            + "\n".join(f"- {'ok' if ok else '**FAILED**'}: {msg}" for ok, msg in checks)
            + "\n"
        )
    return md, checks


def _config_loop(out: Path) -> dict:
    """The ``loop`` settings of ``out/config.json`` ({} when there is none, e.g. a notebook's own folder)."""
    import json

    try:
        return json.loads((out / "config.json").read_text()).get("loop", {})
    except (OSError, ValueError, AttributeError):
        return {}


def write_outputs(out, dataset: str, runs: dict, *, data=None, shared_initial=None) -> list[dict]:
    """Write results.csv, rounds.csv, summary.md, machine.json and learning_curves.png into ``out``; return tidy rows.

    ``data``: the :class:`~latentlab.datasets.Dataset` the runs used (for the split sizes, the test
    class histogram and the protocol checks in summary.md). ``shared_initial``: the strategies that
    start from the shared random initial set (their t=1 results must agree). A failed check is
    printed loudly as a warning and written into summary.md; it does not delete anything.
    """
    import warnings

    from .stats import differences_table, paired_differences, test_metric_rows

    out = Path(out)
    rows = tidy_rows(dataset, runs)
    write_csv(out / "results.csv", rows)
    rec_rows = round_rows(runs)
    if rec_rows:
        write_csv(out / "rounds.csv", rec_rows, columns=list(rec_rows[0].keys()))
    test_rows = test_metric_rows(rows)
    from .stats import stepping_with_control, verdict

    from .diagnostics import why_line

    line = verdict(rows)  # a stepping strategy run beside its random-direction control: what the numbers show
    if line:
        why = why_line(runs, stepping_with_control(rows))
        line += f"\n\n{why}" if why else ""
    md = f"# {dataset}\n\n" + (f"{line}\n\n" if line else "") + summary_table(rows)
    if test_rows and test_rows[0]["metric"] == "accuracy":
        best = max(r["value"] for r in test_rows)
        thr = 95.0 if best >= 95.0 else float(np.floor(best))
        reach = labels_to_reach(rows, thr)
        md += f"\nLabels at the first round whose mean accuracy reaches {thr:g}%:\n\n"
        md += "\n".join(f"- {s}: {n if n is not None else 'not reached'}" for s, n in sorted(reach.items())) + "\n"
    strategies = sorted({r["strategy"] for r in rows})
    if len(strategies) > 1:
        base = "random" if "random" in strategies else strategies[0]
        md += "\n" + differences_table(paired_differences(rows, base), metric=test_rows[0]["metric"])
    if len(rows) > len(test_rows):
        md += "\n" + summary_table(rows, metric="val_" + test_rows[0]["metric"])
    from .alpha import alpha_section
    from .diagnostics import diagnostics_section

    md += alpha_section(_config_loop(out)) + diagnostics_section(runs)
    proto, checks = protocol_section(rows, data, shared_initial)
    md += proto
    for ok, msg in checks:
        if not ok:
            warnings.warn(f"PROTOCOL CHECK FAILED ({out}): {msg}", stacklevel=2)
    atomic_write(out / "summary.md", md)
    from .machine import write_machine

    write_machine(out)  # which CPU and kernel path made these floats (latentlab compare reads it)
    plot_learning_curves(rows, out / "learning_curves.png", title=dataset)
    return rows
