"""Choosing settings on the validation set: ``latentlab tune``.

A grid of settings (e.g. ``alpha=0.1,0.2,0.5 loss_on=decoded,real``) is run for the first few
rounds over several seeds, each point a normal :func:`~latentlab.experiment.run_experiment` (so it
resumes after a crash and reuses the cached generator). Each point is scored by its **validation**
metric only, the mean over seeds and rounds; the best point is the choice. ``tune.json`` holds
the choice as dotted-path overrides, the whole grid with every score, and the base settings;
``latentlab run --config tune.json`` applies the choice (explicit flags still win).

The test metric of the tuning runs stays in their own ``results.csv`` files and is never read
here: a setting chosen by its test score would make the test score a biased estimate.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import RUN_SETTINGS, apply_overrides, get_path
from .exceptions import ConfigError, LatentLabError

__all__ = ["parse_grid", "tune", "TuneResult", "GRID_ALIASES"]

# grid keys a user may write without the dotted path: the ``latentlab run`` setting names whose value is
# the field's value (config.RUN_SETTINGS without a conversion), and warm_start
GRID_ALIASES = {
    **{s.name: s.path for s in RUN_SETTINGS if s.convert is None},
    "warm_start": "loop.warm_start",
}


def _parse_value(text: str, like):
    if isinstance(like, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(text)
    if text.lower() == "none":
        return None
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float) or like is None:
        try:
            return int(text) if like is None and text.lstrip("-").isdigit() else float(text)
        except ValueError:
            if like is None:
                return text
            raise
    return text


def parse_grid(items, base) -> dict:
    """``["alpha=0.1,0.2", "loss_on=decoded,real"]`` -> ``{"loop.alpha": [0.1, 0.2], "loop.loss_on": [...]}``.

    Values take the type of the current setting in ``base`` (an ExperimentConfig)."""
    grid = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid {item!r}: write KEY=V1,V2 (e.g. alpha=0.1,0.2,0.5)")
        key, vals = item.split("=", 1)
        path = GRID_ALIASES.get(key.strip().replace("-", "_"), key.strip())
        like = get_path(base, path)
        values = []
        for v in vals.split(","):
            if not v.strip():
                continue
            try:
                values.append(_parse_value(v.strip(), like))
            except ValueError:
                raise ConfigError(f"--grid {key}: cannot read {v!r} as {type(like).__name__}") from None
        if not values:
            raise ConfigError(f"--grid {key}: no values given")
        if path in grid:
            raise ConfigError(f"--grid names {key} twice")
        grid[path] = values
    if not grid:
        raise ConfigError("--grid needs at least one KEY=V1,V2")
    return grid


@dataclass
class TuneResult:
    path: Path
    metric: str
    higher_is_better: bool
    choice: dict
    points: list  # [{"setting": {...}, "score": float, "by_seed": {seed: float}, "by_round": {t: float}}]

    def markdown(self) -> str:
        keys = list(self.points[0]["setting"]) if self.points else []
        best = "max" if self.higher_is_better else "min"
        lines = [
            f"Validation {self.metric} ({best} is best), mean over seeds and rounds; the test set was not used.",
            "",
            "| " + " | ".join(keys) + " | score | per seed | |",
            "|" + "---|" * (len(keys) + 3),
        ]
        for p in self.points:
            mark = "**chosen**" if p["setting"] == self.choice else ""
            seeds = ", ".join(f"{v:.2f}" for v in p["by_seed"].values())
            lines.append(
                "| " + " | ".join(str(p["setting"][k]) for k in keys) + f" | {p['score']:.3f} | {seeds} | {mark} |"
            )
        return "\n".join(lines) + "\n"


def tune(
    base,
    grid: dict,
    out,
    *,
    data_root=None,
    overwrite: bool = False,
    progress: bool = True,
    device=None,
    workers: int = 1,
    client=None,
) -> TuneResult:
    """Run every point of ``grid`` (dotted path -> values) on ``base``; choose by validation metric.

    ``base.n_val`` must be > 0. Each point runs in ``out/point-K`` and always continues what an earlier
    (killed) call left there; ``overwrite`` starts the points afresh. ``workers`` runs all (point, seed)
    jobs on that many processes; ``client`` (a ``dask.distributed.Client`` or a scheduler address) sends
    them to a Dask cluster instead. The choice and the grid go to ``out/tune.json`` and ``out/tune.md``.
    The tune holds ``out``'s :class:`~latentlab.storage.RunLock` from start to finish.
    """
    from .run_folder import check_writable
    from .storage import RunLock

    if not base.n_val:
        raise ConfigError("tune chooses on the validation set: give --val N (e.g. --val 1000 on MNIST)")
    base.validate()
    out = check_writable(out)
    keys = list(grid)
    settings = [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    configs = [apply_overrides(base, s).validate() for s in settings]
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        # one tune per folder, from before the first expensive step to tune.json: a second tune (or a
        # run) into it is refused at once with the PID that holds it, never racing for the same files
        with RunLock(out):
            return _tune(base, grid, out, settings, configs, data_root, overwrite, progress, device, workers, client)
    except LatentLabError:
        if created and not any(out.iterdir()):  # a refused start leaves nothing behind
            out.rmdir()
        raise


def _tune(base, grid, out, settings, configs, data_root, overwrite, progress, device, workers, client) -> TuneResult:
    from tqdm.auto import tqdm

    from .experiment import prepare, run_experiment, run_jobs
    from .run_folder import check_out, write_config, write_marker
    from .storage import RunLock
    from .tasks import higher_is_better

    keys = list(grid)
    shares_data = all(
        not k.startswith(("generator.", "gen_seed", "dataset", "n_pool", "n_test", "n_val")) for k in keys
    )
    # every point checked before anything is trained: an earlier point of other settings is refused now
    # (continued otherwise); with overwrite, earlier tuning runs are replaced (only what latentlab wrote)
    for k, cfg in enumerate(configs):
        if (out / f"point-{k}").is_dir():
            with RunLock(out / f"point-{k}"):
                check_out(out / f"point-{k}", cfg, not overwrite, overwrite)
    prepared = prepare(base, data_root, progress, device) if shares_data else None
    if workers > 1 or client is not None:
        for k, cfg in enumerate(configs):  # the workers' checkpoints land in folders that say what they hold
            folder = out / f"point-{k}"
            folder.mkdir(parents=True, exist_ok=True)
            write_marker(folder)
            if not (folder / "config.json").exists():
                write_config(folder, cfg)
        jobs = [
            (cfg, out / f"point-{k}", s, seed)
            for k, cfg in enumerate(configs)
            for seed in cfg.seeds
            for s in cfg.strategies
        ]
        run_jobs(jobs, workers=workers, data_root=data_root, device=device, progress=progress, client=client)
    points = []
    for k, (setting, cfg) in enumerate(tqdm(list(zip(settings, configs)), desc="tune", disable=not progress)):
        folder = out / f"point-{k}"
        # a finished or killed point is read back / continued; its checkpoints refuse other settings
        run_experiment(
            cfg, folder, data_root=data_root, resume=True, progress=progress, prepared=prepared, device=device
        )
        points.append({"setting": setting, "folder": folder.name, **_score(folder)})
    metric = points[0]["metric"]
    hib = higher_is_better(metric)
    for p in points:
        del p["metric"]
    best = (max if hib else min)(points, key=lambda p: p["score"])
    result = TuneResult(out / "tune.json", metric, hib, dict(best["setting"]), points)
    _write(out, result, grid, base)
    return result


def _score(folder: Path) -> dict:
    """A point's validation ``metric`` and its score: the mean over seeds of the mean over rounds."""
    from .report import read_results

    rows = [r for r in read_results(folder / "results.csv") if str(r["metric"]).startswith("val_")]
    if not rows:
        raise ConfigError(f"{folder}: no validation rows; the data set gave no validation labels")
    seeds, rounds = sorted({r["seed"] for r in rows}), sorted({r["round"] for r in rows})
    by_seed = {s: float(np.mean([r["value"] for r in rows if r["seed"] == s])) for s in seeds}
    by_round = {t: float(np.mean([r["value"] for r in rows if r["round"] == t])) for t in rounds}
    return {
        "metric": rows[0]["metric"],
        "score": float(np.mean(list(by_seed.values()))),
        "by_seed": by_seed,
        "by_round": by_round,
    }


def _write(out: Path, result: TuneResult, grid: dict, base) -> None:
    """``tune.json`` (the choice, the grid with every score, the base settings) and ``tune.md``."""
    from .storage import atomic_write

    doc = {
        "metric": result.metric,
        "higher_is_better": result.higher_is_better,
        "criterion": f"mean of {result.metric} over seeds {list(base.seeds)} and rounds 1..{base.loop.rounds}",
        "choice": result.choice,
        "grid": {k: list(v) for k, v in grid.items()},
        "points": [
            {
                **p,
                "by_seed": {str(s): v for s, v in p["by_seed"].items()},
                "by_round": {str(t): v for t, v in p["by_round"].items()},
            }
            for p in result.points
        ],
        "base": base.to_dict(),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "tune.json", json.dumps(doc, indent=1))
    atomic_write(out / "tune.md", result.markdown())
