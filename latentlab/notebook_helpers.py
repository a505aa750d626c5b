"""What the paper notebooks call, so that the notebooks stay thin (parameters, a few calls, plots).

Everything here is headless (matplotlib figures, pandas tables); nothing imports Panel or Bokeh.
Plot helpers return a :class:`matplotlib.figure.Figure` (shown inline when it is a cell's value) and
save it when given a path; they never change the matplotlib backend.
Notebook parameters arrive from papermill as plain values: a swept ``seeds: 3`` or
``strategies: snn`` is a scalar where the notebook's default is a list, so helpers accept both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .exceptions import ConfigError

__all__ = [
    "as_tuple",
    "notebook_settings",
    "SMOKE",
    "experiment_config",
    "table1",
    "save_table1",
    "plot_curves",
    "profile_config",
    "profile_device",
    "vessels_setup",
    "plot_vessel_examples",
    "trained_target",
    "start_items",
    "manifold_radius",
    "trajectory_table",
    "plot_trajectory_map",
    "plot_snapshot_strips",
    "out_path",
    "explorer_settings",
    "save_explorer_tables",
    "explorer_rounds",
    "explorer_steps",
]

# smoke mode: the embedded digits and a few steps, so a notebook runs in seconds in the tests
SMOKE = dict(
    dataset="digits",
    n_pool=300,
    n_test=100,
    rounds=2,
    initial=20,
    per_round=10,
    epochs=1.0,
    min_steps=10,
    gen_epochs=1.0,
    gen_min_steps=30,
    max_seeds=2,
)


def as_tuple(v, kind=str) -> tuple:
    """``[0, 1]``, ``(0, 1)``, ``"0,1"``, ``0`` -> a tuple of ``kind``."""
    if isinstance(v, str):
        v = [s for s in (p.strip() for p in v.split(",")) if s]
    elif not isinstance(v, (list, tuple)):
        v = [v]
    try:
        return tuple(kind(x) for x in v)
    except (TypeError, ValueError):
        raise ConfigError(f"expected a list of {kind.__name__} values, got {v!r}") from None


def out_path(out_dir, name: str) -> Path:
    """``out_dir/name`` with ``out_dir`` created."""
    p = Path(out_dir)
    p.mkdir(parents=True, exist_ok=True)
    return p / name


def notebook_settings(params: dict, *, zero_is_none=()) -> dict:
    """Notebook parameters -> settings of :func:`latentlab.config.config_from_settings`.

    Names are the settings' (:data:`latentlab.config.RUN_SETTINGS`; ``strategies`` is the notebooks'
    name for ``strategy``); an old name (``n_rounds``) is refused with its new one, an unknown name
    lists the valid ones. Values take the setting's declared type (papermill may inject ``10`` for
    ``10.0``); ``strategies``/``seeds`` may be scalars or lists; the names in ``zero_is_none`` read
    ``0`` as "not given" (the notebooks' way of writing "all" or "the profile's").
    """
    from .config import RUN_SETTINGS, check_names

    given = {k: v for k, v in params.items() if v is not None}
    if "strategies" in given:
        given["strategy"] = given.pop("strategies")
    check_names(given)
    for name in zero_is_none:
        if given.get(name) == 0:
            del given[name]
    if "strategy" in given:
        given["strategy"] = as_tuple(given["strategy"])
    if "seeds" in given:
        given["seeds"] = as_tuple(given["seeds"], int)
    for setting in RUN_SETTINGS:
        if setting.type in (int, float) and setting.name in given:
            given[setting.name] = setting.type(given[setting.name])
    return given


def _smoke(given: dict, sizes: dict) -> dict:
    """``given`` with the smoke ``sizes`` swapped in and at most ``sizes["max_seeds"]`` seeds."""
    from .config import ExperimentConfig

    out = {**given, **{k: v for k, v in sizes.items() if k != "max_seeds"}}
    out["seeds"] = tuple(given.get("seeds", ExperimentConfig.seeds))[: sizes["max_seeds"]]
    return out


def experiment_config(*, smoke: bool = False, **params):
    """The :class:`~latentlab.ExperimentConfig` that ``latentlab run`` builds from the same settings.

    ``params`` are settings by name (``dataset``, ``strategies``, ``seeds``, ``rounds``, ``initial``,
    ``per_round``, ``alpha``, ... see :func:`notebook_settings`); a setting not given keeps the
    config's default, so a notebook run and ``latentlab run`` with the same values give the same
    numbers. ``n_pool``/``n_test`` of 0 mean "all". ``smoke`` swaps in :data:`SMOKE` sizes (digits,
    2 rounds, at most 2 seeds) and keeps the strategies and alpha.
    """
    from .config import config_from_settings

    given = notebook_settings(params, zero_is_none=("n_pool", "n_test"))
    return config_from_settings(_smoke(given, SMOKE) if smoke else given).validate()


def table1(rows):
    """Table 1 row(s): mean and std over seeds per strategy and round.

    Returns ``(pretty, numbers)``: ``pretty`` is a DataFrame, one row per strategy, columns
    ``t=1..``, cells ``"mean ± std"``; ``numbers`` is tidy (strategy, round, n_labelled, mean, std,
    n_seeds), std the sample std (ddof=1; 0 for one seed).
    """
    import pandas as pd

    df = pd.DataFrame(rows)
    g = df.groupby(["strategy", "round"])
    num = g.agg(
        n_labelled=("n_labelled", "mean"),
        mean=("value", "mean"),
        std=("value", lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0),
        n_seeds=("seed", "nunique"),
    ).reset_index()
    num["n_labelled"] = num["n_labelled"].round().astype(int)
    pretty = num.assign(cell=[f"{m:.2f} ± {s:.2f}" for m, s in zip(num["mean"], num["std"])]).pivot(
        index="strategy", columns="round", values="cell"
    )
    pretty.columns = [f"t={t}" for t in pretty.columns]
    return pretty, num


def save_table1(rows, out_dir, name: str = "table1"):
    """Write ``<name>.csv`` (tidy numbers) and ``<name>.md`` (pretty) into ``out_dir``; return the pretty table."""
    pretty, num = table1(rows)
    num.to_csv(out_path(out_dir, f"{name}.csv"), index=False)
    out_path(out_dir, f"{name}.md").write_text(pretty.to_markdown() if _has_tabulate() else pretty.to_string())
    return pretty


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def plot_curves(rows, out_dir, name: str, title: str):
    """Learning curves (mean line, ±1 std band per strategy) saved as ``out_dir/<name>.png``."""
    from .report import plot_learning_curves

    return plot_learning_curves(rows, out_path(out_dir, f"{name}.png"), title=title)


# --------------------------------------------------------------------------- Fig. 4
def trained_target(config, prepared, seed: int = 0, progress: bool = False):
    """Train the target model on a random initial set (round 1 of a ``random`` run) and return the loop.

    ``loop.model`` and ``loop.task`` are what :func:`latentlab.trajectory` needs; the labelled
    items are ``loop.pool.labelled_indices()``.
    """
    from .loop import ActiveLoop
    from .strategies import get_strategy
    import dataclasses

    ds = prepared[0]
    loop = ActiveLoop(ds, get_strategy("random"), dataclasses.replace(config.loop, rounds=1), seed, progress=progress)
    loop.run()
    return loop


def start_items(n_pool: int, n: int, seed: int, exclude=()) -> np.ndarray:
    """``n`` distinct pool items (not in ``exclude``) drawn with ``seed``."""
    rng = np.random.default_rng([seed, 4])
    free = np.setdiff1d(np.arange(n_pool), np.asarray(exclude, np.int64))
    if n > free.size:
        raise ConfigError(f"asked for {n} trajectories but only {free.size} pool items are free; lower n_trajectories")
    return np.sort(rng.choice(free, size=n, replace=False))


def manifold_radius(index, factor: float = 5.0, q: float = 99.0) -> float:
    """Off-manifold distance: ``factor`` x the ``q``-th percentile of pool items' nearest-neighbour distances."""
    d, _ = index.nearest(index.embeddings, k=2)
    return float(factor * np.percentile(d[:, 1], q))


def trajectory_table(traj, off) -> "object":
    """Tidy DataFrame: one row per (trajectory, step) with p, p', item, neighbour, distance, loss, off_manifold."""
    import pandas as pd

    S, J, n = traj.p.shape
    rows = []
    for j in range(J):
        for s in range(S):
            r = {
                "trajectory": j,
                "step": s,
                "item": int(traj.item[s, j]),
                "neighbour": int(traj.neighbour[s, j]),
                "neighbour_dist": float(traj.neighbour_dist[s, j]),
                "loss": float(traj.loss[s, j]),
                "grad_norm": float(traj.grad_norm[s, j]),
                "off_manifold": bool(off[j]),
            }
            r.update({f"p{k}": float(traj.p[s, j, k]) for k in range(n)})
            r.update({f"p_prime{k}": float(traj.p_prime[s, j, k]) for k in range(n)})
            rows.append(r)
    return pd.DataFrame(rows)


def plot_trajectory_map(embeddings, labels, traj, off, path=None, title: str = "SNN trajectories in the latent space"):
    """Fig. 4 map: pool embeddings coloured by class, each trajectory's path; off-manifold ones dashed and marked.

    The first two latent dimensions are shown (the map *is* the latent space when latent_dim = 2).
    Drawn as the lesson's maps are (:mod:`latentlab.figure_style`): the class colours and colour bar
    of :func:`latentlab.lesson.plot_map`, a star and its number at each start, and a legend below
    the map, where it hides none of the points.
    """
    from matplotlib.lines import Line2D

    from .figure_style import FONT, axes_text, class_map
    from .report import new_figure

    off = np.asarray(off, bool)
    e = np.asarray(embeddings)
    fig, ax = new_figure(figsize=(9, 8), dpi=100)
    # dots big enough to see on a small pool, small enough that 60,000 stay a map
    class_map(ax, e, labels, dot=float(np.clip(20_000 / max(len(e), 1), 1.5, 12.0)), ring=1.0)
    path_ = traj.path
    for j in range(path_.shape[1]):
        ls, col = ("--", "red") if off[j] else ("-", "black")
        xy = path_[:, j, :2]
        ax.plot(xy[:, 0], xy[:, 1], ls, color=col, lw=2, marker="o", ms=4, zorder=4)
        ax.scatter(*xy[0], s=220, marker="*", color=col, edgecolors="white", lw=0.8, zorder=6)
        if off[j]:
            ax.plot(*xy[-1], "X", color="red", ms=12, mec="white", mew=1, zorder=6)
    _number_starts(ax, path_[0, :, :2])
    keys = [
        Line2D([], [], ls="none", marker="*", ms=14, color="black", label="start (trajectory number)"),
        Line2D([], [], color="black", lw=2, marker="o", ms=4, label="SNN steps p, near the data"),
        Line2D([], [], color="red", lw=2, ls="--", marker="o", ms=4, label="left the manifold"),
        Line2D([], [], ls="none", marker="X", ms=12, color="red", label="where it ended"),
    ]
    ax.legend(handles=keys, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=FONT["legend"],
              frameon=False)  # fmt: skip
    left = f"{int(off.sum())} of {len(off)} left the manifold"
    axes_text(ax, "z1 (latent units)", "z2 (latent units)", f"{title}\n{left}")
    fig.tight_layout()
    if path:
        fig.savefig(path)
    return fig


def _number_starts(ax, starts: np.ndarray) -> None:
    """Each start's trajectory number beside it; starts closer than ~3% of the map share one label
    (``0, 5, 6``), which would otherwise print over each other."""
    from .figure_style import FONT

    ax.autoscale_view()
    span = np.array([np.ptp(ax.get_xlim()), np.ptp(ax.get_ylim())])
    near = np.all(np.abs(starts[:, None] - starts[None]) < 0.03 * np.maximum(span, 1e-12), axis=2)
    box = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8)
    done: set = set()
    for j in range(len(starts)):
        if j in done:
            continue
        group = [k for k in np.flatnonzero(near[j]) if k not in done]
        done.update(group)
        ax.annotate(
            ", ".join(map(str, group)), starts[j], fontsize=FONT["legend"], weight="bold", xytext=(6, 4),
            textcoords="offset points", bbox=box, zorder=7,
        )  # fmt: skip


def plot_snapshot_strips(generator, traj, off, path=None, max_steps: int = 12):
    """Decoded G(p) at each step, one row per trajectory (Fig. 4 strips); off-manifold rows labelled in red.

    Each image is up to an inch (100 px) across, the figure at most 11 in wide, and the labels are at
    the projector sizes of :mod:`latentlab.figure_style`: a class reads the digits and which rows left
    the data.
    """
    from .figure_style import FONT
    from .generative import decode
    from .report import new_figure

    pts = traj.path[: max_steps + 1]
    S, J, n = pts.shape
    imgs = decode(generator, pts.reshape(S * J, n)).reshape(S, J, *decode(generator, pts[0, :1]).shape[1:])
    off = np.asarray(off, bool)
    tile = min(1.1, 9.7 / S)  # inches per image: up to 11 in wide, what a notebook shows unscaled
    fig, axes = new_figure(J, S, figsize=(tile * S + 1.3, tile * J + 1.0), dpi=100, squeeze=False)
    for j in range(J):
        for s in range(S):
            a = axes[j, s]
            im = imgs[s, j]
            a.imshow(im[0] if im.shape[0] == 1 else np.moveaxis(im, 0, -1), cmap="gray", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            if j == 0:
                a.set_title(f"step {s}" if s == 0 else f"{s}", fontsize=FONT["tick"])
        axes[j, 0].set_ylabel(
            f"#{j}" + (" off" if off[j] else ""), fontsize=FONT["tick"], color="red" if off[j] else "black",
            rotation=0, ha="right", va="center",
        )  # fmt: skip
    title = "Decoded G(p) at each step\n(rows: trajectories; red 'off': left the manifold)"
    fig.suptitle(title, fontsize=FONT["label"])
    fig.tight_layout()
    if path:
        fig.savefig(path)
    return fig


# --------------------------------------------------------------------------- Table 1 CIFAR-10 row
def _smoke_cifar(root=None):
    """A CIFAR-10 stand-in for smoke runs: the embedded digits as 3 x 32 x 32 images (no files, seconds)."""
    from .datasets import load_dataset

    d = load_dataset("digits")
    up = lambda x: np.repeat(np.repeat(np.repeat(x, 4, axis=2), 4, axis=3), 3, axis=1)  # noqa: E731
    import dataclasses

    return dataclasses.replace(d, name="cifar10-smoke", x_train=up(d.x_train), x_test=up(d.x_test))


def _register_smoke_cifar():
    from .datasets import DATASETS, register_dataset

    if "cifar10-smoke" not in DATASETS:
        register_dataset("cifar10-smoke")(_smoke_cifar)


def profile_config(profile: str = "cpu", *, strategies=("random", "snn", "entropy"), smoke: bool = False, **params):
    """CIFAR-10 :class:`~latentlab.ExperimentConfig` of a profile (:mod:`latentlab.profiles`, ``cpu`` or ``paper``).

    The profile sets everything but the settings given in ``params`` (by name, see
    :func:`notebook_settings`; ``rounds``, ``min_steps``, ``latent_dim`` and ``n_val`` of 0 mean "the
    profile's"), as ``latentlab run --dataset cifar10 --profile P --strategy ... --alpha ...`` does.
    ``smoke`` keeps the profile's models (alpha-GAN, VGG16-BN) at toy sizes on a 3 x 32 x 32
    stand-in built from the embedded digits, so the notebook runs in seconds without CIFAR files.
    """
    from .config import config_from_settings

    given = notebook_settings(
        {"dataset": "cifar10", "strategies": strategies, **params},
        zero_is_none=("rounds", "min_steps", "latent_dim", "n_val"),
    )
    cfg = config_from_settings(given, profile=profile)
    if smoke:
        _register_smoke_cifar()
        cfg = cfg.override(
            {
                "dataset": "cifar10-smoke",
                "n_pool": SMOKE["n_pool"],
                "n_test": SMOKE["n_test"],
                "seeds": cfg.seeds[: SMOKE["max_seeds"]],
                "n_val": min(cfg.n_val, 20),
                "generator.hidden": 8,
                "generator.epochs": 1.0,
                "generator.min_steps": 5,
                "loop.rounds": SMOKE["rounds"],
                "loop.initial": SMOKE["initial"],
                "loop.per_round": SMOKE["per_round"],
                "loop.candidates": None,
                "loop.train.epochs": 1.0,
                "loop.train.min_steps": 5,
            }
        )
    return cfg.validate()


def profile_device(profile: str = "cpu"):
    """The torch device a profile runs on (``paper``: cuda when available)."""
    from .profiles import get_profile, resolve_device

    return resolve_device(get_profile(profile).device)


# --------------------------------------------------------------------------- Table 1 IVUS row
VESSEL_SMOKE = dict(
    n=30,
    n_test=3,
    rounds=2,
    initial=4,
    per_round=2,
    epochs=1.0,
    min_steps=5,
    gen_epochs=1.0,
    gen_min_steps=200,
    max_seeds=1,
)


def vessels_setup(
    *,
    strategies=("random", "si"),
    n_slices: int = 1200,
    n_test: int = 210,
    data_seed: int = 0,
    smoke: bool = False,
    progress: bool = False,
    **params,
):
    """Config and prepared ``(dataset, latent_space)`` for the vessel (IVUS stand-in) experiment.

    The vessel data set is generated (``n_slices`` masks, the last ``n_test`` held out, FEM labels
    of the test set solved once and cached); the target is the Table S6 encoder-decoder (``s6``).
    ``params`` are settings by name (``seeds``, ``rounds``, ``initial``, ``alpha``, ... see
    :func:`notebook_settings`). ``smoke`` shrinks it to a few masks and steps.
    """
    from .config import config_from_settings
    from .experiment import prepare

    given = notebook_settings({"dataset": "vessels", "strategies": strategies, **params})
    if smoke:
        given = _smoke(given, {k: v for k, v in VESSEL_SMOKE.items() if k not in ("n", "n_test")})
        n_slices, n_test = VESSEL_SMOKE["n"], VESSEL_SMOKE["n_test"]
    cfg = config_from_settings(given).validate()
    return cfg, prepare(
        cfg,
        progress=progress,
        dataset_kwargs=dict(n=int(n_slices), n_test=int(n_test), seed=int(data_seed), progress=progress),
    )


def plot_vessel_examples(ds, n: int = 4, path=None):
    """Example test masks and their FEM stress maps (kPa, maximum principal Cauchy stress).

    All stress maps share one colour scale and its one colour bar (the same colour is the same kPa
    in every panel); text at the projector sizes of :mod:`latentlab.figure_style`.
    """
    from .figure_style import FONT
    from .report import new_figure

    n = min(n, len(ds.x_test))
    from .vessels import STRESS_SCALE_KPA as scale

    fig, axes = new_figure(2, n, figsize=(2.4 * n + 1.4, 5.6), dpi=100, squeeze=False, layout="constrained")
    stress = np.asarray(ds.y_test[:n, 0]) * scale
    top = float(np.max(stress)) if stress.size else 1.0
    for i in range(n):
        axes[0, i].imshow(ds.x_test[i, 0], cmap="gray")
        axes[0, i].set_title(f"mask {i}", fontsize=FONT["tick"])
        im = axes[1, i].imshow(stress[i], cmap="inferno", vmin=0.0, vmax=top)
        for a in axes[:, i]:
            a.set_xticks([])
            a.set_yticks([])
    cb = fig.colorbar(im, ax=list(axes[1]), fraction=0.05, pad=0.02)  # the stress row's one scale
    cb.set_label("stress (kPa)", fontsize=FONT["tick"])
    cb.ax.tick_params(labelsize=FONT["tick"])
    axes[0, 0].set_ylabel("wall mask", fontsize=FONT["tick"])
    axes[1, 0].set_ylabel("max principal\nstress (FEM)", fontsize=FONT["tick"])
    fig.suptitle("Test masks and the stress the FEM solver computed", fontsize=FONT["label"])
    if path:
        fig.savefig(path)
    return fig


# --------------------------------------------------------------------------- 00_explore
def explorer_settings(
    *,
    dataset: str | None = None,
    data_root: str = "",
    strategy: str | None = None,
    alpha: float | None = None,
    per_round: int | None = None,
    smoke: bool = False,
    progress: bool = True,
) -> dict:
    """:class:`~latentlab.ExplorerState` settings of the tour (a setting left None keeps the state's
    default); ``smoke`` shrinks them to seconds (digits, 300 pool items, a VAE of a few dozen steps,
    short target training, a coarse heat map, at most 5 points per round).
    ``progress``: a bar while the generator trains (only when it is not cached yet)."""
    from .generative import GeneratorConfig
    from .training import TrainConfig

    given = dict(dataset=dataset, strategy=strategy, alpha=alpha, per_round=per_round)
    out = {k: v for k, v in given.items() if v is not None}
    out.update(data_root=data_root or None, progress=bool(progress))
    if "alpha" in out:
        out["alpha"] = float(out["alpha"])
    if "per_round" in out:
        out["per_round"] = int(out["per_round"])
    if smoke:
        out.update(
            dataset="digits",
            data_root=None,
            n_pool=SMOKE["n_pool"],
            n_test=SMOKE["n_test"],
            initial=SMOKE["initial"],
            per_round=min(out.get("per_round", 5), 5),
            compare=False,
            grid_size=12,
            generator_config=GeneratorConfig(epochs=SMOKE["gen_epochs"], min_steps=SMOKE["gen_min_steps"]),
            train_config=TrainConfig(epochs=1, batch_size=32, min_steps=20),
        )
    return out


def explorer_rounds(state, n: int, progress: bool = True) -> str:
    """Run ``n`` rounds of the explorer's state (a tqdm bar: a widget in Jupyter); the last status or error."""
    from tqdm.auto import tqdm

    for _ in tqdm(range(int(n)), desc="rounds", disable=not progress or int(n) < 1):
        if not state.run_round():
            break
    return state.error or state.status


def explorer_steps(state, n: int) -> str:
    """Press Step ``n`` times; say how far the trajectories got.

    After an SNN round the trajectories already hold that round's own step (p to p' to its
    neighbour), so ``n`` presses make ``n + 1`` steps in all; the message says so.
    """
    before = state.readout()["steps"]
    for _ in range(int(n)):
        if not state.step():
            return state.error
    t = state.trajectories()
    own = f" (the round's own SNN step, then {int(n)} presses)" if before else ""
    return (
        f"{int(n)} Step presses: {t['steps']} steps in all{own}; mean loss at p {t['loss'].mean():.3f} "
        f"-> at the neighbours {t['loss_after'].mean():.3f}"
    )


def save_explorer_tables(state, out_dir) -> "object":
    """Write ``labelled.csv`` (pool item, round that labelled it) and ``curve.csv`` (strategy,
    labelled, test metric) of an explorer state into ``out_dir``; return the curve table."""
    import pandas as pd

    idx, rounds = state.labelled()
    pd.DataFrame({"item": idx, "round": rounds}).to_csv(out_path(out_dir, "labelled.csv"), index=False)
    metric = state.readout()["metric_name"] or "metric"
    curve = pd.DataFrame(
        [
            {"strategy": s, "labelled": n, f"test_{metric}": v}
            for s, (ns, vs) in state.curves().items()
            for n, v in zip(ns, vs)
        ]
    )
    curve.to_csv(out_path(out_dir, "curve.csv"), index=False)
    return curve
