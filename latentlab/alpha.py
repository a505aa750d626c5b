"""SNN's step length measured by the map: ``--alpha-unit nn`` and ``--alpha auto``.

Eq. 2's alpha is in latent units (the prior's std is 1), but generators spread a pool very
differently: on the 8x8 digits VAE the pool's median nearest-neighbour spacing is about 0.035, so the
default 0.2 is six spacings and SNN's step stays inside the start item's class cluster.

* ``alpha_unit="nn"``: alpha counts the pool's median nearest-neighbour spacing in the latent
  (:func:`nn_spacing`); the absolute step is ``alpha * spacing``.
* ``alpha="auto"``: a short grid (:data:`AUTO_GRID` in the unit, a few seeds, a few rounds) of the
  run's stepping strategy on a validation split carved from the pool (never the test set), scored by
  the validation metric as ``latentlab tune`` scores (:func:`validation_score`), cached under
  the cache folder keyed by data set, generator and protocol.

:func:`resolve_alpha` turns either into the absolute step the loop uses (``LoopConfig.step``) and
records the spacing and the grid in the config, so ``config.json`` holds what was run. A plain
absolute alpha (the paper's protocol) is never touched: its config.json and results stay the same.
"""

from __future__ import annotations

import json

import numpy as np

from .exceptions import ConfigError
from .loop_config import ALPHA_UNITS

__all__ = [
    "ALPHA_UNITS",
    "AUTO_GRID",
    "AUTO_SEEDS",
    "AUTO_ROUNDS",
    "nn_spacing",
    "needs_resolution",
    "stepping_strategy",
    "resolve_alpha",
    "validation_score",
    "alpha_section",
]

#: alpha values --alpha auto tries, per unit (nn: spacings; latent: prior stds)
AUTO_GRID = {"nn": (2.0, 6.0, 12.0, 25.0, 50.0, 100.0), "latent": (0.05, 0.1, 0.2, 0.5, 1.0)}
AUTO_SEEDS = (0, 1, 2)  # the grid's seeds: a few, so one lucky seed does not choose
AUTO_ROUNDS = 5  # the grid's rounds (at most the run's): the step matters from t=2
AUTO_VAL = 0.2  # share of the pool carved off as the grid's validation set when the run has none


def nn_spacing(z: np.ndarray) -> float:
    """Median over pool codes ``z`` of the distance to the nearest other code (the map's scale)."""
    from scipy.spatial import cKDTree

    z = np.asarray(z, np.float64)
    if len(z) < 2:
        raise ConfigError("--alpha-unit nn needs at least two pool items to measure their spacing")
    d, _ = cKDTree(z).query(z, k=2)
    return float(np.median(d[:, 1]))


def needs_resolution(config) -> bool:
    """True when ``config``'s alpha is ``auto`` or in nn units and not yet turned into a step."""
    lc = config.loop
    return lc.step is None and (lc.alpha == "auto" or lc.alpha_unit != "latent")


def stepping_strategy(strategies) -> str | None:
    """The strategy whose step the grid chooses: the first that steps in the latent, controls aside."""
    from .strategies import get_strategy

    for s in strategies:
        st = get_strategy(s)
        if st.needs_generator and not s.endswith("-random-dir") and s not in ("latent-coreset", "diverse-entropy"):
            return s
    return None


def resolve_alpha(config, prepare, run):
    """``(config with loop.step set, (dataset, latent_space))`` for an ``auto`` or nn-unit alpha.

    ``prepare()``: the run's ``(dataset, latent_space)``; ``run(config, folder, prepared)``: run one
    grid point to completion (resuming what is there) and return its tidy rows
    (:func:`latentlab.experiment.run_experiment` passes both: this module sits below it)."""
    from .strategies import get_strategy

    lc = config.loop
    if not any(get_strategy(s).needs_generator for s in config.strategies):
        raise ConfigError(
            f"--alpha {lc.alpha} / --alpha-unit {lc.alpha_unit} set the latent step, and none of "
            f"{', '.join(config.strategies)} takes one; drop them"
        )
    ds, latent = prepare()
    spacing = nn_spacing(latent.embeddings)
    scale = spacing if lc.alpha_unit == "nn" else 1.0
    changes = {"loop.nn_spacing": spacing}
    if lc.alpha == "auto":
        grid, chosen = _auto(config, ds, latent, run)
        changes["loop.alpha_grid"] = grid
        value = chosen
    else:
        value = float(lc.alpha)
    changes["loop.step"] = float(value * scale)
    return config.override(changes), (ds, latent)


def _grid_base(config, strategy: str):
    """The grid's config: the stepping strategy alone, a few seeds and rounds, an absolute alpha."""
    return config.override(
        {
            "strategies": (strategy,),
            "seeds": AUTO_SEEDS,
            "loop.rounds": min(config.loop.rounds, AUTO_ROUNDS),
            "loop.alpha": 1.0,  # each point sets its absolute step
            "loop.alpha_unit": "latent",
            "loop.step": None,
            "loop.nn_spacing": None,
            "loop.alpha_grid": (),
            "loop.budget": None,
            "loop.target_metric": None,
        }
    )


def validation_score(rows: list[dict]) -> tuple[float, str]:
    """``(score, metric)`` of a grid point as ``latentlab tune`` scores one: the validation metric's
    mean over rounds, averaged over seeds."""
    val = [r for r in rows if str(r["metric"]).startswith("val_")]
    if not val:
        raise ConfigError("--alpha auto found no validation labels; give --val N or drop --alpha auto")
    per_seed = {}
    for r in val:
        per_seed.setdefault(r["seed"], []).append(r["value"])
    return float(np.mean([np.mean(v) for v in per_seed.values()])), str(val[0]["metric"])


def _auto(config, ds, latent, run) -> tuple[tuple, float]:
    """Run (or read back) the validation grid; ``(((alpha, score), ...), chosen alpha)``."""
    from .latent import LatentSpace
    from .storage import atomic_write, cache_dir, content_key, json_key
    from .tasks import higher_is_better

    strategy = stepping_strategy(config.strategies)
    base = _grid_base(config, strategy)
    unit = config.loop.alpha_unit
    values = AUTO_GRID[unit]
    if ds.x_val is None:  # carve the grid's validation set from the pool (the test set is never used)
        n_val = max(int(len(ds.x_train) * AUTO_VAL), 1)
        ds_val = ds.with_validation(n_val, seed=0)
        latent_val = LatentSpace.from_generator(latent.generator, ds_val.x_train)  # the run's own generator
        base = base.override({"n_val": n_val})
    else:
        ds_val, latent_val = ds, latent
    spacing = nn_spacing(latent.embeddings) if unit == "nn" else 1.0
    key_doc = {
        "version": 1,
        "base": base.to_dict(),
        "unit": unit,
        "grid": list(values),
        "pool": int(len(ds.x_train)),
        "map": content_key(np.asarray(latent.embeddings)),  # the map itself, not only the generator's settings
    }
    folder = cache_dir() / "alpha-auto" / json_key(key_doc)
    done = folder / "choice.json"
    if done.is_file():
        try:
            d = json.loads(done.read_text())
            return tuple((float(a), float(s)) for a, s in d["grid"]), float(d["alpha"])
        except (ValueError, KeyError, TypeError):
            pass  # unreadable: run the grid again (its point folders resume)
    points = []
    for k, a in enumerate(values):
        cfg = base.override({"loop.alpha": float(a * spacing)})
        score, metric = validation_score(run(cfg, folder / f"point-{k}", (ds_val, latent_val)))
        points.append((float(a), score, metric))
    hib = higher_is_better(points[0][2])
    best = (max if hib else min)(points, key=lambda p: p[1])
    grid = tuple((a, s) for a, s, _ in points)
    atomic_write(
        done,
        json.dumps({"alpha": best[0], "unit": unit, "metric": best[2], "grid": [list(p) for p in grid], "key": key_doc})
        + "\n",
    )
    return grid, best[0]


def alpha_section(loop: dict) -> str:
    """summary.md's lines on the step (from config.json's ``loop``), or "" for a plain absolute alpha."""
    if loop.get("step") is None:
        return ""
    unit, spacing, step = loop.get("alpha_unit", "latent"), loop.get("nn_spacing"), loop["step"]
    given = loop["alpha"]
    value = step / spacing if unit == "nn" else step
    md = (
        f"\nStep length: alpha = {value:g} {'nearest-neighbour spacings' if unit == 'nn' else 'latent units'}"
        f"{' (chosen on validation: --alpha auto)' if given == 'auto' else ''} = {step:.4g} in latent units; "
        f"the pool's median nearest-neighbour spacing in the latent is {spacing:.4g}.\n"
    )
    grid = loop.get("alpha_grid") or ()
    if grid:
        md += (
            f"\nValidation grid of --alpha auto (alpha in {unit} units; score: the validation metric's mean over "
            f"seeds {', '.join(map(str, AUTO_SEEDS))} and rounds 1..{AUTO_ROUNDS} or fewer, on a split of the pool; "
            "the test set was not used):\n\n| alpha | score | |\n|---|---|---|\n"
            + "".join(f"| {a:g} | {s:.3f} | {'**chosen**' if np.isclose(a, value) else ''} |\n" for a, s in grid)
        )
        alphas = [a for a, _ in grid]
        if np.isclose(value, max(alphas)) or np.isclose(value, min(alphas)):
            md += "\nThe choice is at the grid's edge: a step beyond it may score higher still.\n"
    return md
