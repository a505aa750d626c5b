"""What the classroom lesson (``notebooks/06_lesson.ipynb``) calls: headless, so the notebook stays thin.

The lesson shows hard-sample mining to students in four moves, and each has its helpers here:

* **predict, then reveal** one SNN step: :func:`pick_point` chooses the point by a stated rule,
  :func:`plot_move` draws the start only (``reveal=False``) or the step too (``reveal=True``);
* **what F thinks along a trajectory**: :func:`trajectory_probs` (F's class probabilities at
  G(p), at G(p') and at the real neighbour, per step) and :func:`plot_probs` (bar charts);
* **why SNN's picks can be easier than random ones**: :func:`compare_picks` runs the loops
  (through ``run_experiment``, shared with the strategy race) and tables every round's picks:
  class balance of the labelled set, latent distance of the picks to the nearest labelled item,
  F's error on the picks and on the unlabelled pool; :func:`summarise_picks`, :func:`plot_picks`
  and :func:`plot_class_counts` show them;
* **strategies on the same seeds**: :func:`compare_strategies` (``run_experiment``, resumed from
  a folder named by the settings) and :func:`same_seed_table` (final accuracy per seed and strategy).

The map itself is :func:`plot_map`. Exercises check themselves with :func:`check` (and
:func:`check_exercise` against :func:`exercise_key`, whose expected answers are computed from the
run's own numbers and kept off the students' screen): it prints ``right`` or ``not yet: <hint>``
and never raises, so a wrong answer never stops the lesson. :func:`lesson_settings` holds the lesson's
sizes and their smoke versions (a 1-2 minute run on the embedded digits).

Everything here works on classification tasks (class probabilities, errors and class counts need
classes). Figures are plain :class:`matplotlib.figure.Figure` objects (shown inline as a cell's
value); nothing imports Panel or Bokeh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import figure_style
from .exceptions import ConfigError
from .loop_config import LoopConfig

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LESSON",
    "LESSON_SMOKE",
    "lesson_settings",
    "check",
    "exercise_key",
    "check_exercise",
    "plot_map",
    "step_change",
    "pick_point",
    "some_walks",
    "plot_move",
    "trajectory_probs",
    "plot_probs",
    "class_balance",
    "compare_picks",
    "summarise_picks",
    "plot_picks",
    "plot_class_counts",
    "plot_walks",
    "plot_race",
    "same_seed_table",
    "compare_strategies",
    "compare_folder",
]

# The lesson's sizes. digits: its generator ships with latentlab (no training); 20 initial labels and
# 20 per round keep selection meaningful (at most 140 of the 1,500 pool items are labelled), and
# 100 optimiser steps per round are enough for the 8x8 target (as in the README's digits run).
LESSON = dict(
    dataset="digits",
    seeds=(0, 1, 2),
    rounds=6,
    initial=20,
    per_round=20,
    min_steps=100,
    alpha=LoopConfig.alpha,  # SNN's default step: the short step whose picks are easy
    long_alpha=1.5,
    steps=4,
)
# smoke: the same data and generator, fewer seeds, rounds and optimiser steps (a 1-2 minute run)
LESSON_SMOKE = dict(seeds=(0, 1), rounds=3, min_steps=30, steps=2)


def lesson_settings(*, smoke: bool = False, **params) -> dict:
    """The lesson's settings: :data:`LESSON` updated with ``params``; ``smoke`` caps them at :data:`LESSON_SMOKE`.

    ``seeds`` may be a list, a tuple, ``"0,1"`` or one integer (papermill passes scalars as given).
    In smoke mode seeds keep the first ``len(LESSON_SMOKE["seeds"])``, and ``rounds``, ``min_steps``
    and ``steps`` take the smaller of the given and the smoke value.
    """
    from .notebook_helpers import as_tuple

    unknown = sorted(set(params) - set(LESSON))
    if unknown:
        raise ConfigError(f"unknown lesson setting(s) {unknown}; valid: {', '.join(LESSON)}")
    out = {**LESSON, **{k: v for k, v in params.items() if v is not None}}
    out["seeds"] = as_tuple(out["seeds"], int)
    for k in ("rounds", "initial", "per_round", "min_steps", "steps"):
        out[k] = int(out[k])
    for k in ("alpha", "long_alpha"):
        out[k] = float(out[k])
        if not out[k] > 0:
            raise ConfigError(f"{k} must be > 0 (a step length in latent units), got {out[k]}")
    if smoke:
        out["seeds"] = out["seeds"][: len(LESSON_SMOKE["seeds"])]
        for k in ("rounds", "min_steps", "steps"):
            out[k] = min(out[k], LESSON_SMOKE[k])
    if not out["seeds"]:
        raise ConfigError("seeds is empty; give at least one seed, e.g. seeds=[0, 1, 2]")
    return out


# --------------------------------------------------------------------------- how the figures look
# the projector font sizes and the one colour per run live in figure_style, shared with the paper
# notebooks' figures and every run's learning curves; FONT and COLOURS stay importable from here
FONT, COLOURS = figure_style.FONT, figure_style.COLOURS
_axes_text = figure_style.axes_text
_class_map = figure_style.class_map


# --------------------------------------------------------------------------- self-checking exercises
def _same(answer, expected, tol: float | None) -> bool:
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    if isinstance(expected, (set, frozenset)):
        return set(answer) == set(expected)
    if isinstance(expected, bool) or isinstance(answer, bool):
        return isinstance(answer, bool) and isinstance(expected, bool) and answer == expected
    if isinstance(expected, (int, float, np.integer, np.floating)):
        a, e = float(answer), float(expected)
        return math.isclose(a, e, rel_tol=0.0, abs_tol=tol if tol is not None else 1e-9)
    if isinstance(expected, (list, tuple, np.ndarray)):
        a, e = np.asarray(answer), np.asarray(expected)
        return a.shape == e.shape and bool(
            np.allclose(a, e, atol=tol or 0.0) if a.dtype.kind in "fiu" else (a == e).all()
        )
    return answer == expected


def check(answer, expected, *, hint: str, tol: float | None = None, log=print) -> bool:
    """Say whether an exercise's ``answer`` is right; never raises.

    Prints ``right`` when ``answer`` matches ``expected``, else ``not yet: <hint>`` (``answer`` still
    None: ``not yet: replace None with your answer (hint: ...)``). Strings match ignoring case and
    surrounding spaces, numbers within ``tol`` (absolute; default 1e-9), sets as sets, lists and
    arrays element-wise. An answer of the wrong kind (text for a number) is "not yet", not an error.

    Returns
    -------
    bool
        True when right.
    """
    if answer is None:
        log(f"not yet: replace None with your answer (hint: {hint})")
        return False
    try:
        ok = bool(_same(answer, expected, tol))
    except (TypeError, ValueError):
        ok = False
    log("right" if ok else f"not yet: {hint}")
    return ok


def exercise_key(picks, results, *, short: str = "snn short", long: str = "snn long", seed: int = 0) -> dict:
    """The lesson's exercises: expected answer, hint and tolerance of each, computed from this run's numbers.

    Kept here, not in the notebook, so the expected answers are not on the students' screen.

    Parameters
    ----------
    picks : DataFrame     :func:`compare_picks`'s table (runs named ``short`` and ``long`` in it)
    results : list of dict  the tidy rows of :func:`compare_strategies`
    seed : int            the seed exercise 2 asks about

    Returns
    -------
    dict
        ``{name: {"expected", "hint", "tol"}}`` for ``"1"`` ... ``"5"``.
    """
    summary = summarise_picks(picks)
    last = picks[picks["round"] == picks["round"].max()]
    rarest = last[(last["run"] == short) & (last["seed"] == seed)]["rarest"]
    if rarest.empty:
        raise ConfigError(f"the pick table has no run {short!r} for seed {seed}; pass short= and seed= of the table")
    means = same_seed_table(results).loc["mean"]
    by_run = last.groupby("run")["rarest"].mean()
    return {
        "1": {
            "expected": str(summary["median distance to labelled"].idxmin()),
            "hint": "in the summary table, find the smallest number in the 'median distance to labelled' column "
            "and type that row's name, e.g. 'random'",
            "tol": None,
        },
        "2": {
            "expected": int(rarest.iloc[0]),
            "hint": f"in the class-count chart (seed {seed}), the smallest number over the '{short}' bars "
            "(a class with no bar has 0)",
            "tol": None,
        },
        "3": {
            "expected": "b",
            "hint": "with alpha = 0, p' = p: which unlabelled item is nearest to p itself?",
            "tol": None,
        },
        "4": {
            "expected": str(means.idxmax()),
            "hint": "in the same-seed table, the 'mean' row: which column has the largest number?",
            "tol": None,
        },
        "5": {
            "expected": "yes" if by_run.get(long, -1) > by_run.get(short, -1) else "no",
            "hint": f"compare the rarest class count of '{long}' and '{short}' in the summary table",
            "tol": None,
        },
    }


def check_exercise(name: str, answer, key: dict, log=print) -> bool:
    """:func:`check` ``answer`` against exercise ``name`` of ``key`` (from :func:`exercise_key`); never raises."""
    name = str(name)
    if name not in key:
        log(f"not yet: there is no exercise {name!r}; the exercises are {', '.join(key)}")
        return False
    e = key[name]
    return check(answer, e["expected"], hint=e["hint"], tol=e["tol"], log=log)


# --------------------------------------------------------------------------- predict, then reveal
def plot_map(embeddings, labels, labelled=None, path=None):
    """The pool's 2-D latent codes coloured by true class; ``labelled`` items ringed (the labelled set)."""
    from .report import new_figure

    fig, ax = new_figure(figsize=(8, 6.6), dpi=100)
    _class_map(ax, embeddings, labels, labelled, dot=10, ring=1.5)
    if labelled is not None and len(labelled):  # below the map: inside, it hid a corner of the pool
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), fontsize=FONT["legend"], frameon=False)
    _axes_text(ax, "z1 (latent units)", "z2 (latent units)", "Every image is a point on the latent map")
    fig.tight_layout()
    if path:
        fig.savefig(path)
    return fig


def step_change(latent, model, traj, step: int = 0) -> dict:
    """What one step of every trajectory does to F: its answer and confidence at G(p) and at G(p').

    Parameters
    ----------
    latent : LatentSpace           its ``generator`` decodes p and p'
    model : torch.nn.Module        the target model F (a classifier)
    traj : latentlab.trajectory.Trajectory
    step : int                     which step (0: the first, from the labelled start point)

    Returns
    -------
    dict
        Arrays of shape (J,), one entry per trajectory: ``top_p`` (F's class for G(p)), ``conf_p``
        (its probability), ``top_pp`` (F's class for G(p')), ``conf_pp`` (F's probability of its
        first answer ``top_p`` at G(p')), ``changed`` (``top_pp != top_p``) and ``drop``
        (``conf_p - conf_pp``: how much F's belief in its first answer fell).
    """
    from .generative import decode
    from .predictive import class_probs

    if not 0 <= step < traj.p.shape[0]:
        raise ConfigError(f"step must be in 0..{traj.p.shape[0] - 1} (the trajectory's steps), got {step}")
    pr_p, pr_pp = (
        class_probs(model, np.ascontiguousarray(decode(latent.generator, a), np.float32)).numpy()
        for a in (traj.p[step], traj.p_prime[step])
    )
    rows = np.arange(len(pr_p))
    top_p, top_pp = pr_p.argmax(1), pr_pp.argmax(1)
    conf_p, conf_pp = pr_p[rows, top_p], pr_pp[rows, top_p]
    return {
        "top_p": top_p,
        "conf_p": conf_p,
        "top_pp": top_pp,
        "conf_pp": conf_pp,
        "changed": top_pp != top_p,
        "drop": conf_p - conf_pp,
    }


def pick_point(change: dict) -> int:
    """The trajectory the class predicts, by a rule stated in the lesson: among the steps after which
    F names another class, the one where F's belief in its first answer falls most; if no step
    changes F's answer, the one where it falls most.

    Parameters
    ----------
    change : dict  :func:`step_change` of the trajectories (``changed`` and ``drop``)

    Returns
    -------
    int
        The trajectory (column of the trajectory's arrays); ties go to the lowest.
    """
    drop = np.asarray(change["drop"], np.float64)
    changed = np.asarray(change["changed"], bool)
    return int(np.argmax(np.where(changed, drop, -np.inf))) if changed.any() else int(np.argmax(drop))


def _bars(ax, pr, true: int | None, title: str, ylabel: bool = True, xlabel: bool = True) -> None:
    """F's class probabilities ``pr`` as bars on ``ax`` (``true``: the dark bar), F's answer in the title.

    ``ylabel=False`` leaves out the y axis's label and its tick labels (a panel right of one that has them)."""
    colours = ["#1f4e79" if k == true else "#9ecae1" for k in range(len(pr))]
    ax.bar(range(len(pr)), pr, color=colours, zorder=2)
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 0.5, 1])
    ax.set_yticklabels(["0", "50%", "100%"])
    ax.grid(axis="y", alpha=0.4, zorder=0)  # 50% and 100% read across the panels without tick labels
    ax.set_xticks(range(len(pr)))
    top = int(np.argmax(pr))
    _axes_text(ax, "class" if xlabel else "", "F's probability" if ylabel else "")
    if not ylabel:
        ax.tick_params(labelleft=False)
    # one fact a line: a title no wider than its panel (wider, it ran over its neighbours), held
    # clear of the "100%" tick label
    said = f"{title}\nF says {top} ({pr[top]:.0%})" + ("" if true is None else f"\ntrue class {true}")
    ax.set_title(said, fontsize=FONT["tick"] + 1, pad=10)


def _image(ax, img, ylabel: str = "") -> None:
    ax.imshow(img, cmap="gray_r")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(ylabel, fontsize=FONT["label"])


def plot_move(
    embeddings,
    labels,
    traj,
    point: int,
    *,
    step: int = 0,
    reveal: bool = False,
    labelled=None,
    probs: dict | None = None,
    path=None,
):
    """One sampling point on the latent map: the start only, or (``reveal``) its step too.

    The map is the pool's 2-D codes coloured by class (``labelled`` items ringed), zoomed on the
    point. ``reveal=False`` shows p and its class; ``reveal=True`` adds the arrow p -> p' =
    p + alpha d (Eq. 2), p' and the nearest pool item (the next point), with its class. With
    ``probs`` (:func:`trajectory_probs` of this point) the images G(p) and G(p') and F's class
    probabilities for them stand beside the map (G(p') only in the reveal).

    Parameters
    ----------
    embeddings : ndarray, shape (N, 2)  pool codes E(x) (the first two dimensions are drawn)
    labels : ndarray, shape (N,)        pool labels (colours)
    traj : latentlab.trajectory.Trajectory
    point : int                         which trajectory (column of ``traj``)
    step : int                          which step of it
    probs : dict, optional              :func:`trajectory_probs` of ``point``
    """
    from matplotlib.ticker import MaxNLocator

    from .report import new_figure

    if probs is None:
        fig, ax = new_figure(figsize=(7, 7), dpi=100)
    else:
        # 1100 px: the notebook shows it unscaled; constrained layout gives each column the margin
        # its own labels need (tight_layout's one spacing for all squeezed the map)
        fig, _ = new_figure(figsize=(11, 7.4), dpi=100, layout="constrained")
        fig.clear()
        gs = fig.add_gridspec(2, 3, width_ratios=[3.1, 0.8, 1.6])
        ax = fig.add_subplot(gs[:, 0])
    e, y = _class_map(ax, embeddings, labels, labelled, dot=14, ring=0.8)
    p, pp = traj.p[step, point, :2], traj.p_prime[step, point, :2]
    item, nb = int(traj.item[step, point]), int(traj.neighbour[step, point])
    ax.scatter(*p, s=400, marker="*", color="black", zorder=5, label=f"start p (class {y[item]})" if item >= 0 else "p")
    r = max(3.0 * float(np.linalg.norm(pp - p)), 1.0)
    if reveal:
        ax.annotate("", pp, p, arrowprops=dict(arrowstyle="-|>", color="red", lw=3, mutation_scale=25), zorder=6)
        ax.scatter(*pp, s=160, marker="X", color="red", zorder=6, label="p' = p + \u03b1 d")
        nb_label = f"nearest pool image (class {y[nb]})"
        ax.scatter(*e[nb], s=240, marker="D", facecolors="none", edgecolors="red", lw=2.5, zorder=6, label=nb_label)
        r = max(r, 1.3 * float(np.linalg.norm(e[nb] - p)))
        title = f"Revealed: the step,\nand its nearest real image (a {y[nb]})"
    else:
        title = "Where will p move?\nWhat class will its new neighbour be?"
    ax.set_xlim(p[0] - r, p[0] + r)
    ax.set_ylim(p[1] - r, p[1] + r)
    _axes_text(ax, "z1 (latent units)", "z2 (latent units)", title)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    # below the map, so it hides none of the points the class reasons about; beside the bars, below
    # the whole figure (under the map only, the reveal's wider legend pushed the colour bar off the map)
    kw = dict(ncol=2, fontsize=FONT["legend"], frameon=False)
    if probs is None:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), **kw)
    else:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower left", **kw)
    if probs is not None:
        true = int(y[probs["item"][step]]) if probs["item"][step] >= 0 else None
        _image(fig.add_subplot(gs[0, 1]), probs["images"][step, 0], "G(p)")
        _bars(fig.add_subplot(gs[0, 2]), probs["p"][step], true, "G(p)")
        img_ax, bar_ax = fig.add_subplot(gs[1, 1]), fig.add_subplot(gs[1, 2])
        if reveal:
            _image(img_ax, probs["images"][step, 1], "G(p')")
            _bars(bar_ax, probs["p_prime"][step], None, "G(p')")
        else:
            for a in (img_ax, bar_ax):
                a.axis("off")
            bar_ax.text(0.5, 0.5, "G(p'): ?\n(your guess first)", ha="center", va="center", fontsize=FONT["title"] + 2)
    else:
        fig.tight_layout()
    if path:
        fig.savefig(path)
    return fig


def some_walks(traj, point: int, n: int, seed: int):
    """``n`` of the trajectories in ``traj``: ``point`` first, then others in a seeded random order.

    Returns
    -------
    latentlab.trajectory.Trajectory
        The same arrays with only those columns (walk 0 is ``point``).
    """
    import dataclasses

    J = traj.p.shape[1]
    if not 0 <= point < J:
        raise ConfigError(f"point must be in 0..{J - 1} (one of the trajectories), got {point}")
    others = np.random.default_rng([int(seed), 6]).permutation(np.setdiff1d(np.arange(J), [point]))
    cols = np.concatenate([[point], others[: max(int(n), 1) - 1]]).astype(np.int64)
    return dataclasses.replace(traj, **{f.name: getattr(traj, f.name)[:, cols] for f in dataclasses.fields(traj)})


# --------------------------------------------------------------------------- F along a trajectory
def trajectory_probs(latent, model, x_pool, traj, point: int) -> dict:
    """F's class probabilities along one trajectory, at every step.

    Parameters
    ----------
    latent : LatentSpace           its ``generator`` decodes p and p'
    model : torch.nn.Module        the target model F (a classifier)
    x_pool : ndarray, shape (N, C, H, W)
    traj : latentlab.trajectory.Trajectory
    point : int                    which trajectory

    Returns
    -------
    dict
        ``p``, ``p_prime``, ``neighbour``: ndarray, shape (steps, n_classes), F's probabilities for
        G(p), G(p') and the real neighbour image; ``item``, ``neighbour_item`` (steps,) pool items;
        ``images``: ndarray, shape (steps, 3, H, W) (first channel of G(p), G(p'), neighbour).
    """
    from .generative import decode
    from .predictive import class_probs

    if not 0 <= point < traj.p.shape[1]:
        raise ConfigError(f"point must be in 0..{traj.p.shape[1] - 1} (one of the trajectories), got {point}")
    gp = decode(latent.generator, traj.p[:, point])
    gpp = decode(latent.generator, traj.p_prime[:, point])
    nb = traj.neighbour[:, point].astype(np.int64)
    xn = np.asarray(x_pool)[nb]
    probs = [class_probs(model, np.ascontiguousarray(a, np.float32)).numpy() for a in (gp, gpp, xn)]
    return {
        "p": probs[0],
        "p_prime": probs[1],
        "neighbour": probs[2],
        "item": traj.item[:, point].astype(np.int64),
        "neighbour_item": nb,
        "images": np.stack([gp[:, 0], gpp[:, 0], xn[:, 0]], axis=1),
    }


def plot_probs(probs: dict, y_pool=None, *, steps: Sequence[int] | None = None, path=None):
    """Bar charts of F's probabilities at G(p), G(p') and the real neighbour, one row per step.

    Each panel shows the image and the 10 bars; the true class (from ``y_pool``, where the item
    has one) is the dark bar, F's top class is named in the title with its probability.
    """
    from .report import new_figure

    S = probs["p"].shape[0]
    rows = list(range(S)) if steps is None else [s for s in steps if 0 <= s < S]
    y = None if y_pool is None else np.asarray(y_pool)
    names = (("p", "G(p)", "item"), ("p_prime", "G(p')", None), ("neighbour", "real neighbour", "neighbour_item"))
    # 1100 px wide: the notebook shows it unscaled, every text at its projector size; constrained
    # layout gives each column only the margin its own labels need (tight_layout's one spacing
    # for all squeezed the bars between wide gaps)
    fig, _ = new_figure(figsize=(11, 3.3 * len(rows) + 1.3), dpi=100, layout="constrained")
    fig.clear()  # the bars need more room than the 8x8 images; an empty column keeps each pair apart
    gs = fig.add_gridspec(len(rows), 8, width_ratios=[1, 2.1, 0.25, 1, 2.1, 0.25, 1, 2.1])
    axes = np.array([[fig.add_subplot(gs[r, c]) for c in (0, 1, 3, 4, 6, 7)] for r in range(len(rows))])
    for r, s in enumerate(rows):
        for c, (key, title, item_key) in enumerate(names):
            _image(axes[r, 2 * c], probs["images"][s, c], f"step {s}" if c == 0 else "")
            true = None
            if y is not None and item_key is not None and probs[item_key][s] >= 0:
                true = int(y[probs[item_key][s]])
            _bars(axes[r, 2 * c + 1], probs[key][s], true, title, ylabel=c == 0, xlabel=r == len(rows) - 1)
    fig.suptitle(
        "What F thinks along the walk: one row per step,\neach row starts at the previous row's real neighbour"
        "\n(dark bar: the true class; G(p') has no label, so no dark bar)",
        fontsize=FONT["title"],
    )
    if path:
        fig.savefig(path)
    return fig


# --------------------------------------------------------------------------- why SNN's picks can be easy
def class_balance(y, n_classes: int) -> dict:
    """Counts per class of labels ``y``; the rarest class's count and the histogram's entropy.

    Returns
    -------
    dict
        ``counts`` ndarray (n_classes,), ``rarest`` int (count of the rarest class, 0 when one is
        missing), ``entropy_bits`` float (0 when all labels are one class; log2(n_classes) when balanced).
    """
    from .datasets import class_histogram

    counts = class_histogram(y, n_classes)[:n_classes]
    q = counts[counts > 0] / max(counts.sum(), 1)
    return {"counts": counts, "rarest": int(counts.min()), "entropy_bits": float(-(q * np.log2(q)).sum())}


def _pick_rows(loop, y_pool: np.ndarray) -> list[dict]:
    """One row per round of a finished ``loop`` that picked: the loop's own measures of the picks
    (:mod:`latentlab.diagnostics`, taken with the model that picked them) and the class balance
    of the labelled set after the picks, from the loop's pool state."""
    rows = []
    for rec in loop.records:
        t = int(rec.round)
        picks = loop.pool.indices_of_round(t + 1)
        if rec.n_proposed == 0 or len(picks) == 0:
            continue
        after = loop.pool.labelled_indices(upto_round=t + 1)
        bal = class_balance(y_pool[after], loop.dataset.n_classes)
        rows.append(
            {
                "round": t,
                "n_labelled": int(len(after)),
                "metric": float(rec.metric),
                "median_dist": float(rec.pick_latent_dist),
                "err_picks": float(rec.pick_error) / 100.0,  # the loop measures errors in percent
                "err_pool": float(rec.pool_error) / 100.0,
                "rarest": bal["rarest"],
                "entropy_bits": bal["entropy_bits"],
                **{f"class{k}": int(c) for k, c in enumerate(bal["counts"])},
            }
        )
    return rows


def _run_groups(config, runs: list[tuple]) -> list[tuple]:
    """``[(config of a run_experiment, [(name, strategy, alpha), ...]), ...]``: the runs that share
    ``config``'s step and strategies run in ``config`` itself (the folder :func:`compare_strategies`
    reads), every other step in a config of its own with only its strategies."""
    groups: dict = {}
    for name, s, a in runs:
        groups.setdefault(config.loop.alpha if a is None else a, []).append((name, s, a))
    out = []
    for a, group in groups.items():
        strategies = list(dict.fromkeys(s for _, s, _ in group))
        if a == config.loop.alpha and set(strategies) <= set(config.strategies):
            out.append((config, group))
        else:
            out.append((config.override({"strategies": strategies, "loop.alpha": float(a)}), group))
    return out


def compare_picks(prepared, config, runs: Sequence[tuple], out_dir, *, workers: int = 1, progress: bool = False):
    """Measure every round's picks of every ``(name, strategy, alpha)`` of ``runs`` on ``config``'s seeds.

    The runs go through :func:`compare_strategies` (``run_experiment``, resumed): those with
    ``config``'s own step (``alpha`` None or equal to ``config.loop.alpha``) and strategies run in
    ``config``'s folder, so the strategy race (:func:`compare_strategies` of ``config``) reads them
    back instead of running them again; each other step runs in a folder of its own. ``workers``
    processes share the jobs. The measures are the ones the loop takes as it picks
    (:mod:`latentlab.diagnostics`, with the model F that picked); the class counts come from the
    finished runs' pool state. A second call with the same settings reads everything back.

    Returns
    -------
    DataFrame
        One row per (run, seed, round that picked): ``run``, ``strategy``, ``alpha`` (NaN: the
        config's), ``seed``, ``round``, ``n_labelled`` (after the picks), ``metric`` (F's test
        metric that round), ``median_dist`` (median latent distance of a pick to the nearest item
        labelled before it), ``err_picks`` / ``err_pool`` (F's error rate, 0-1, on the picks / on
        the items unlabelled before them; on a pool above 2,000 items a seeded sample of them),
        ``rarest`` and ``entropy_bits`` (class balance of the labelled set after the picks,
        :func:`class_balance`) and ``class0``, ``class1``, ... (its counts per class).
    """
    import pandas as pd

    from .loop import ActiveLoop
    from .strategies import get_strategy

    ds, latent = prepared
    if not ds.stratifiable:
        raise ConfigError(
            f"pick measurements count classes; {ds.name} is not a classification data set (digits, mnist)"
        )
    runs = [(str(n), str(s), None if a is None else float(a)) for n, s, a in runs]
    rows = []
    for cfg, group in _run_groups(config, runs):
        compare_strategies(cfg, prepared, out_dir, workers=workers, progress=progress)
        folder = compare_folder(cfg, out_dir) / "runs"
        for seed in cfg.seeds:
            for name, s, a in group:
                loop = ActiveLoop(
                    ds, get_strategy(s), cfg.loop, seed, latent=latent, checkpoint_dir=folder / f"{s}-seed{seed}",
                    progress=False,
                )  # fmt: skip
                alpha = np.nan if a is None else a
                base = {"run": name, "strategy": s, "alpha": alpha, "seed": int(seed)}
                if loop.pool_labels is None:
                    raise ConfigError(f"{ds.name}: pick measurements need every pool label (the oracle)")
                rows += [{**base, **r} for r in _pick_rows(loop, np.asarray(loop.pool_labels))]
    order = {name: i for i, (name, _, _) in enumerate(runs)}
    table = pd.DataFrame(rows)
    table = table.sort_values(["seed", "run"], key=lambda c: c.map(order) if c.name == "run" else c, kind="stable")
    return table.reset_index(drop=True)


_COLUMNS = {
    "rarest": "rarest class count",
    "entropy_bits": "class entropy (bits)",
    "median_dist": "median distance to labelled",
    "err_picks": "F's error on picks",
    "err_pool": "F's error on pool",
}


def summarise_picks(table):
    """Mean over seeds of each pick measure at the last measured round, one row per run, plus
    ``easier`` (the fraction of (seed, round) cases where F erred less on the picks than on the pool)."""
    last = table[table["round"] == table["round"].max()]
    out = last.groupby("run", sort=False)[list(_COLUMNS)].mean()
    out["easier"] = (table["err_picks"] < table["err_pool"]).groupby(table["run"], sort=False).mean()
    return out.rename(columns={**_COLUMNS, "easier": "picks easier than pool (share of rounds)"}).round(3)


def plot_picks(table, path=None):
    """Four panels (2 x 2) against labelled items, a line per run (mean over seeds, band: min to max
    over seeds): rarest class count, class entropy, median distance of picks to the labelled set,
    and F's error on the picks (solid) and on the unlabelled pool (dashed)."""
    from matplotlib.lines import Line2D

    from .report import new_figure

    n_seeds = int(table["seed"].nunique())
    fig, axes = new_figure(2, 2, figsize=(11, 8.4), dpi=100)  # 1100 px: the notebook shows it unscaled
    panels = (
        ("rarest", "Rarest class in the labelled set", "images of that class"),
        ("entropy_bits", "Class balance (3.32 bits: all 10 equal)", "entropy (bits)"),
        ("median_dist", "How far the picks are from labelled images", "median distance\n(latent units)"),
        ("err_picks", "F's error: on the picks vs on the pool", "error rate (0-1)"),
    )
    colours = figure_style.run_colours(table["run"])
    for ax, (col, title, ylabel) in zip(axes.flat, panels):
        for name, g in table.groupby("run", sort=False):
            colour = colours[str(name)]
            for c, ls in ((col, "-"), ("err_pool", "--")) if col == "err_picks" else ((col, "-"),):
                by = g.groupby("n_labelled")[c]
                n, m = np.asarray(by.mean().index), by.mean().to_numpy()
                ax.plot(n, m, ls, color=colour, marker="o", ms=6, lw=2.5, label=name if ls == "-" else None)
                ax.fill_between(n, by.min().to_numpy(), by.max().to_numpy(), color=colour, alpha=0.15, lw=0)
        _axes_text(ax, "labelled images", ylabel, title)
        ax.grid(alpha=0.3)
    # one legend above the panels (inside them it covered curves): the runs, then what the error
    # panel's line styles mean
    runs = [Line2D([], [], color=colours[str(n)], lw=2.5, marker="o", ms=6, label=str(n)) for n in colours]
    styles = [
        Line2D([], [], color="grey", lw=2.5, ls=ls, label=lab)
        for ls, lab in (("-", "F's error on the picks"), ("--", "F's error on the pool"))
    ]
    fig.legend(
        handles=runs + styles, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(runs) + 2, 5),
        fontsize=FONT["legend"], title=f"band: min to max over {n_seeds} seeds", title_fontsize=FONT["tick"],
        frameon=False,
    )  # fmt: skip
    rows_ = -(-(len(runs) + 2) // 5)  # legend rows
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.45 + 0.32 * rows_) / fig.get_figheight()), w_pad=2.5)
    if path:
        fig.savefig(path)
    return fig


def plot_class_counts(table, seed: int, path=None):
    """Bar chart: labelled items per class that each run holds after its last round (one seed);
    the count stands over every bar (a 0 where a class has none).

    Up to three runs share one axes (grouped bars); more get one row each, so that every bar stays
    wide enough for its count at the projector's font size. A count wider than its bar is written
    upright (three-digit counts of three runs); the axes grow to hold the counts over the tallest bar."""
    from .report import new_figure

    cols = sorted((c for c in table.columns if c.startswith("class") and c[5:].isdigit()), key=lambda c: int(c[5:]))
    rows = table[table["seed"] == seed]
    if rows.empty:
        raise ConfigError(f"seed {seed} is not in the table (seeds: {sorted(set(table['seed']))})")
    names = list(dict.fromkeys(rows["run"]))
    grouped = len(names) <= 3
    nrows = 1 if grouped else len(names)
    fig, axes = new_figure(nrows, 1, figsize=(11, 5.6 if grouped else 1.3 + 1.9 * nrows), dpi=100, squeeze=False,
                           sharex=True, sharey=True)  # fmt: skip  # 1100 px: the notebook shows it unscaled
    axes = list(axes[:, 0])
    w = 0.84 / len(names) if grouped else 0.8
    n = 0
    colours = figure_style.run_colours(names)
    labels = []
    for i, name in enumerate(names):
        ax = axes[0 if grouped else i]
        r = rows[rows["run"] == name]
        last = r[r["round"] == r["round"].max()]
        counts, n = last[cols].to_numpy()[0], int(last["n_labelled"].iloc[0])
        x = np.arange(len(cols)) + ((i - (len(names) - 1) / 2) * w if grouped else 0.0)
        ax.bar(x, counts, w, label=name, color=colours[str(name)])
        labels += [
            ax.text(xi, c, str(int(c)), ha="center", va="bottom", fontsize=FONT["tick"]) for xi, c in zip(x, counts)
        ]
        if not grouped:
            ax.set_ylabel(str(name), fontsize=FONT["label"], color=colours[str(name)])
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
        ax.tick_params(labelsize=FONT["tick"])
    axes[-1].set_xticks(range(len(cols)))
    axes[-1].set_xticklabels([c[5:] for c in cols])
    figure_style.axes_text(axes[-1], "class", "")
    if grouped:
        axes[0].set_ylabel("labelled images", fontsize=FONT["label"])
    else:
        fig.supylabel("labelled images per run", fontsize=FONT["label"])
    title = f"Which classes got labelled (seed {seed}, all {n} labels at the end)"
    if grouped:  # the runs in one row between the title and the bars: inside, a legend could cover bars and counts
        legend = axes[0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names),
                                fontsize=FONT["legend"], frameon=False, borderaxespad=0.2)  # fmt: skip
        pad = legend.get_window_extent().height * 72 / fig.dpi + 4  # points: the title stands over the legend
        axes[0].set_title(title, fontsize=FONT["title"], pad=pad)
    else:  # each row names its run (its y label, in its colour)
        axes[0].set_title(title, fontsize=FONT["title"])
    fig.tight_layout()
    _fit_counts(fig, axes, labels, w)
    if path:
        fig.savefig(path)
    return fig


def _fit_counts(fig, axes, labels, bar_width: float) -> None:
    """Counts over bars: upright where one is wider than its bar, and room above the tallest (every
    axes shares the y scale)."""
    renderer = figure_style.renderer(fig)
    ax = axes[0]
    bar_px = abs(ax.transData.transform((bar_width, 0))[0] - ax.transData.transform((0, 0))[0])
    if any(t.get_window_extent(renderer).width > 0.95 * bar_px for t in labels):
        for t in labels:
            t.set_rotation(90)
    top = max((t.get_position()[1] for t in labels), default=0.0)
    head = max((t.get_window_extent(renderer).height for t in labels), default=0.0)
    lo, hi = ax.get_ylim()
    height_px = ax.get_window_extent(renderer).height
    # the tallest bar's count must end inside the axes: hi' - top >= (head + 6 px) in data units of hi'
    frac = min(0.8, (head + 6) / max(height_px, 1.0))
    ax.set_ylim(lo, max(hi, (top - frac * lo) / (1 - frac) if frac < 1 else hi))


def plot_walks(embeddings: np.ndarray, labels: np.ndarray, walks, off: np.ndarray, path=None) -> Figure:
    """Several SNN walks on the latent map (the paper's Fig. 4, drawn for a class).

    The map is :func:`plot_map`'s (pool codes coloured by class); each walk is a black line from
    its start (a star with its number) through the real images it reached (dots, the nearest pool
    item to each p'), an arrow per SNN step; a walk where some p' had no real image near it
    (``off``) is red and dashed.

    Parameters
    ----------
    embeddings : ndarray, shape (N, 2)   pool codes
    labels : ndarray, shape (N,)         pool labels
    walks : latentlab.trajectory.Trajectory  (:func:`some_walks`; walk 0 is the one the class predicted)
    off : ndarray of bool, shape (J,)    walks that left the data (``Trajectory.off_manifold``)
    """
    from .report import new_figure

    fig, ax = new_figure(figsize=(8.6, 8), dpi=100)
    _class_map(ax, embeddings, labels, None, dot=9, ring=1.0)
    e = np.asarray(embeddings)[:, :2]
    # the start, then the real image each step reached (not p' itself: SNN labels the neighbour)
    path_ = np.concatenate([walks.p[:1, :, :2], e[np.asarray(walks.neighbour, np.int64)]], axis=0)
    off = np.asarray(off, bool)
    for j in range(path_.shape[1]):
        colour, ls = ("red", "--") if off[j] else ("black", "-")
        xy = path_[:, j, :2]
        ax.plot(xy[:, 0], xy[:, 1], ls, color=colour, lw=2, marker="o", ms=5, zorder=4)
        for a, b in zip(xy[:-1], xy[1:]):
            ax.annotate("", b, a, arrowprops=dict(arrowstyle="-|>", color=colour, lw=2, mutation_scale=12), zorder=5)
        ax.scatter(*xy[0], s=260, marker="*", color=colour, edgecolors="white", lw=0.8, zorder=6)
        box = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8)
        ax.annotate(
            str(j), xy[0], fontsize=FONT["legend"] + 1, weight="bold", xytext=(7, 5), textcoords="offset points",
            bbox=box, zorder=7,
        )  # fmt: skip
    ax.scatter([], [], s=200, marker="*", color="black", label="start of a walk (its number)")
    ax.plot([], [], "-o", color="black", lw=2, ms=5, label="one step each (dot: the real image it reached)")
    if off.any():
        ax.plot([], [], "--", color="red", lw=2, label="left the data (a p' with no real image near)")
    # below the map, as plot_map's: inside, it covered a corner of the pool
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=FONT["legend"], frameon=False)
    title = f"{path_.shape[1]} walks of {path_.shape[0] - 1} steps (walk 0: the one you predicted)"
    _axes_text(ax, "z1 (latent units)", "z2 (latent units)", title)
    fig.tight_layout()
    if path:
        fig.savefig(path)
    return fig


# --------------------------------------------------------------------------- strategies on the same seeds
def same_seed_table(rows, round_: int | None = None):
    """Test metric per seed (rows) and strategy (columns) at round ``round_`` (default: the last),
    plus ``mean`` and ``std`` rows (sample std over seeds): the same seed means the same initial set."""
    import pandas as pd

    from .stats import test_metric_rows

    df = pd.DataFrame(test_metric_rows(list(rows)))
    if df.empty:
        raise ConfigError("no test-metric rows to tabulate; run the experiment first")
    t = int(df["round"].max()) if round_ is None else int(round_)
    tab = df[df["round"] == t].pivot_table(index="seed", columns="strategy", values="value")
    tab.index = [f"seed {s}" for s in tab.index]
    summary = pd.DataFrame([tab.mean(), tab.std(ddof=1) if len(tab) > 1 else tab.mean() * 0], index=["mean", "std"])
    return pd.concat([tab, summary]).round(2)


def plot_race(rows: Sequence[dict], names: dict | None = None, path=None) -> Figure:
    """Learning curves of the race: test metric against labelled images, mean over seeds with a
    band of ±1 std (sample std), in the lesson's colours (:data:`COLOURS`); the curves of every run
    (:func:`latentlab.report.plot_learning_curves`) with the lesson's names and title.

    Parameters
    ----------
    rows : list of dict  the tidy rows of :func:`compare_strategies`
    names : dict, optional  strategy -> the name shown (e.g. ``{"snn": "snn short"}``), which also picks its colour
    """
    from .report import plot_learning_curves
    from .stats import test_metric_rows

    rows = test_metric_rows(list(rows))
    if not rows:
        raise ConfigError("no test-metric rows to plot; run the experiment first")
    # the learning curves of every run, in the lesson's names: one figure style, one colour per run
    return plot_learning_curves(rows, path, "The race on the same seeds", names=names, xlabel="labelled images")


def compare_strategies(config, prepared, out_dir, *, workers: int = 1, progress: bool = True) -> list[dict]:
    """:func:`latentlab.experiment.run_experiment` of ``config`` into ``out_dir/compare-<key>``, resumed.

    ``key`` names the settings, so a second call with the same settings reads the finished runs
    back in a second (run the lesson once before class), and other settings get their own folder.
    Returns the tidy rows (``results.csv``).
    """
    from .experiment import run_experiment

    out = compare_folder(config, out_dir)
    return run_experiment(config, out, resume=True, prepared=prepared, progress=progress, workers=workers)


def compare_folder(config, out_dir):
    """Where :func:`compare_strategies` runs ``config``: ``out_dir/compare-<key>``, ``key`` naming the settings."""
    from pathlib import Path

    from .storage import json_key

    return Path(out_dir) / f"compare-{json_key(config.to_dict())}"
