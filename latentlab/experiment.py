"""Experiment runner: strategies x seeds on one data set, with outputs a paper table is made from.

``run_experiment(config, out)`` trains (or loads from cache) the generator once, runs every
(strategy, seed) as an :class:`~latentlab.loop.ActiveLoop` checkpointed under ``out/runs/``, and
writes

* ``results.csv`` — tidy: dataset, strategy, seed, round, n_labelled, metric, value
  (deterministic: same seed, same bytes);
* ``rounds.csv`` — every round record, timings included (not deterministic: wall times);
* ``summary.md`` — a Table-1-style pivot, mean +- std over seeds per round and strategy, and the
  labels needed to reach a metric threshold;
* ``learning_curves.png`` — metric vs labelled items, mean and spread over seeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import DATASETS, load_dataset
from .exceptions import ConfigError, LatentLabError, ResumeError
from .generative import GeneratorConfig, get_generator
from .latent import LatentSpace
from .loop import ActiveLoop, LoopConfig
from .storage import atomic_write
from .strategies import STRATEGIES, get_strategy

__all__ = [
    "ExperimentConfig",
    "SETTINGS",
    "config_from_settings",
    "apply_overrides",
    "get_path",
    "prepare",
    "labeler_for",
    "label_validation",
    "run_experiment",
    "RESULT_COLUMNS",
    "check_writable",
    "write_config",
    "read_config",
    "remove_run_files",
    "RUN_MARKER",
]

from .report import RESULT_COLUMNS  # noqa: E402


@dataclass(frozen=True)
class ExperimentConfig:
    dataset: str = "digits"  # registry name; digits needs no file
    strategies: tuple = ("random", "snn")  # compared on the same initial sets
    seeds: tuple = (0,)  # one run per seed and strategy
    loop: LoopConfig = LoopConfig()
    generator: GeneratorConfig = GeneratorConfig()
    gen_seed: int = 0  # one generator for all run seeds: seed-to-seed spread then measures sampling, not the VAE
    n_pool: int | None = None  # seeded stratified subset of the pool (None = all); for quick runs
    n_test: int | None = None  # seeded stratified subset of the test set (None = all)
    n_val: int = 0  # pool items held out as a labelled validation set (every setting is chosen on it)

    def validate(self) -> "ExperimentConfig":
        """Check every setting (types and ranges), before any data is loaded or anything trained."""
        from .checks import check_int, check_number
        from .models import GENERATORS

        DATASETS.resolve(self.dataset)
        if not self.strategies:
            raise ConfigError(f"give at least one strategy; valid: {', '.join(sorted(STRATEGIES))}")
        for s in self.strategies:
            get_strategy(s)
        if not self.seeds:
            raise ConfigError("give at least one seed, e.g. --seeds 0,1,2")
        if not isinstance(self.n_val, int) or self.n_val < 0:
            raise ConfigError(f"--val must be a whole number >= 0, got {self.n_val!r}")
        if len(set(self.strategies)) != len(self.strategies) or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("strategies and seeds must not repeat")
        for s in self.seeds:
            check_int("seeds", s, 0, "seeds must be whole numbers >= 0, e.g. --seeds 0,1,2")
        check_int("gen_seed", self.gen_seed, 0)
        for name in ("n_pool", "n_test"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        g = self.generator
        _check_generator_options(GENERATORS.resolve(g.kind), g)
        check_int("latent_dim", g.latent_dim, 1)
        check_int("gen_hidden", g.hidden, 1)
        check_number("gen_epochs", g.epochs, 0)
        check_int("gen_min_steps", g.min_steps, 0)
        check_int("gen_batch_size", g.batch_size, 1)
        check_number("gen_lr", g.lr, 0, strict=True)
        if g.epochs <= 0 and g.min_steps <= 0:
            raise ConfigError("generator training needs --gen-epochs > 0 or --gen-min-steps > 0")
        self.loop.validate()
        return self

    def to_dict(self) -> dict:
        d = {
            "dataset": self.dataset,
            "strategies": list(self.strategies),
            "seeds": list(self.seeds),
            "loop": self.loop.to_dict(),
            "generator": self.generator.to_dict(),
            "gen_seed": self.gen_seed,
            "n_pool": self.n_pool,
            "n_test": self.n_test,
        }
        if self.n_val:  # absent when 0, so run folders written before validation sets existed still resume
            d["n_val"] = self.n_val
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        return cls(
            dataset=d["dataset"],
            strategies=tuple(d["strategies"]),
            seeds=tuple(d["seeds"]),
            loop=LoopConfig.from_dict(d["loop"]),
            generator=GeneratorConfig(**d["generator"]),
            gen_seed=d["gen_seed"],
            n_pool=d["n_pool"],
            n_test=d["n_test"],
            n_val=d.get("n_val", 0),
        )

    def override(self, changes: dict) -> "ExperimentConfig":
        """A copy with ``{"dotted.path": value}`` changes applied (``{"loop.train.epochs": 2.0}``).

        The one override mechanism: profiles, CLI flags, ``run --config FILE``, ``tune --grid``,
        notebook parameters and the explorer's settings all arrive here. Lists become tuples (JSON
        has no tuples). An unknown path raises ``ConfigError`` naming it.
        """
        cfg = self
        for path, value in changes.items():
            cfg = _replace_path(cfg, path.split("."), _as_tuple(value), path)
        return cfg

    def get(self, path: str):
        """The value at a dotted path (``cfg.get("loop.per_round")``)."""
        return get_path(self, path)


def _check_generator_options(cls, g) -> None:
    """``generator.options`` must name keyword arguments of the generator class (not latent_dim/hidden)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    valid = [p for p in params if p not in ("self", "image_shape", "latent_dim", "hidden")]
    for name, _ in g.options:
        if name not in valid:
            raise ConfigError(
                f"generator option {name!r} is not a setting of the {g.kind!r} generator; "
                f"valid: {', '.join(valid) or '(none)'} (latent_dim and hidden have their own settings)"
            )


def _as_tuple(v):
    return tuple(_as_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


def apply_overrides(config: ExperimentConfig, overrides: dict) -> ExperimentConfig:
    """``config.override(overrides)``: ``config`` with ``{"dotted.path": value}`` settings replaced."""
    return config.override(overrides)


def get_path(config, path: str):
    """The value at a dotted path of a (nested) config, e.g. ``get_path(cfg, "loop.alpha")``."""
    obj = config
    for part in path.split("."):
        if not dataclasses.is_dataclass(obj) or not hasattr(obj, part):
            raise ConfigError(f"unknown setting {path!r}")
        obj = getattr(obj, part)
    return obj


def _replace_path(obj, parts: list, value, path: str):
    head, *rest = parts
    if not dataclasses.is_dataclass(obj) or head not in {f.name for f in dataclasses.fields(obj)}:
        raise ConfigError(f"setting {path!r}: {type(obj).__name__} has no field {head!r}")
    if rest:
        value = _replace_path(getattr(obj, head), rest, value, path)
    return dataclasses.replace(obj, **{head: value})


# setting name (CLI flag destination, notebook parameter) -> the ExperimentConfig path it sets
SETTINGS = {
    "dataset": "dataset",
    "strategy": "strategies",
    "seeds": "seeds",
    "rounds": "loop.rounds",
    "initial": "loop.initial",
    "per_round": "loop.per_round",
    "alpha": "loop.alpha",
    "epochs": "loop.train.epochs",
    "min_steps": "loop.train.min_steps",
    "batch_size": "loop.train.batch_size",
    "lr": "loop.train.lr",
    "augment": "loop.train.augment",
    "schedule": "loop.train.schedule",
    "optimizer": "loop.train.optimizer",
    "weight_decay": "loop.train.weight_decay",
    "cold_start": "loop.warm_start",
    "loss_on": "loop.loss_on",
    "target": "loop.target",
    "target_width": "loop.target_kwargs",
    "gen_epochs": "generator.epochs",
    "gen_min_steps": "generator.min_steps",
    "latent_dim": "generator.latent_dim",
    "gen_kind": "generator.kind",
    "gen_hidden": "generator.hidden",
    "gen_seed": "gen_seed",
    "budget": "loop.budget",
    "target_metric": "loop.target_metric",
    "candidates": "loop.candidates",
    "balanced_initial": "loop.initial_balanced",
    "mc_samples": "loop.mc_samples",
    "n_pool": "n_pool",
    "n_test": "n_test",
    "n_val": "n_val",
}
# settings whose value is not the field's value
_CONVERT = {
    "strategy": lambda v: tuple(v) if not isinstance(v, str) else (v,),
    "seeds": lambda v: tuple(int(s) for s in v) if not isinstance(v, (int, str)) else (int(v),),
    "cold_start": lambda v: not v,
    "target_width": lambda v: (("width", float(v)),),
}
ALPHAGAN_HIDDEN = 64  # alpha-GAN base channels (Tables S1-S4) when neither a flag nor a profile sets them


def config_from_settings(settings: dict | None = None, *, profile: str | None = None, **kw) -> ExperimentConfig:
    """The one path from settings to an :class:`ExperimentConfig`, used by the CLI, the notebooks and
    the explorer.

    ``settings`` (and ``kw``) map names of :data:`SETTINGS` (``rounds``, ``per_round``, ...) or dotted
    config paths (``"loop.train"``) to values; ``None`` means "not given". Not given, a setting keeps
    the :class:`ExperimentConfig` default, the data set's own default (``--target`` of a data set
    registered with ``targets=``) or the ``profile``'s value; given, it wins over all three.
    """
    given = {k: v for k, v in {**(settings or {}), **kw}.items() if v is not None}
    if "cold_start" in given and not given["cold_start"]:
        del given["cold_start"]  # a store_true flag left off is not a choice
    unknown = sorted(k for k in given if k not in SETTINGS and "." not in k)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(SETTINGS))}")
    changes = {SETTINGS.get(k, k): _CONVERT[k](v) if k in _CONVERT else v for k, v in given.items()}
    cfg = ExperimentConfig().override(changes)
    if "loop.target" not in changes:
        targets = dataset_info(cfg.dataset).get("targets")
        if targets:
            cfg = cfg.override({"loop.target": targets[0]})
    if cfg.generator.kind == "alphagan" and "generator.hidden" not in changes:
        cfg = cfg.override({"generator.hidden": ALPHAGAN_HIDDEN})
    if profile:
        from .profiles import apply_profile

        cfg = apply_profile(cfg, profile, keep=set(changes))
    return cfg


def dataset_info(name: str) -> dict:
    """What a data set declared when it registered (``targets``, ...), without loading it; {} if unknown."""
    return DATASETS.info.get(name, {})


# The run folder's marker: written first into every run folder latentlab creates or fills, so that
# --overwrite never deletes a folder it did not write. Bump RUN_FORMAT when the folder layout changes.
RUN_MARKER = ".latentlab-run"
RUN_FORMAT = 1
# what latentlab writes in a run folder; --overwrite removes these and nothing else
_TOP_FILES = ("config.json", "results.csv", "rounds.csv", "summary.md", "learning_curves.png")
_RUN_GLOBS = ("state.json", "model-r*.pt", "model-r*.json", "arrays-r*.npz")
_SCRATCH_GLOBS = ("*.tmp", "*.tmp.npz", "*.tmp.png")


def _scratch(p: Path) -> bool:
    from .storage import RunLock

    return p.name == RunLock.NAME or any(p.match(g) for g in _SCRATCH_GLOBS)


def check_writable(out) -> Path:
    """Refuse an ``--out`` that is a file or lies in a folder this process cannot write, before any work."""
    import os

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; choose another --out")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"--out {out}: {probe} is a file, not a folder; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: cannot write in {probe} (read-only or not yours); choose another --out")
    return out


def _marker(out: Path) -> dict | None:
    """The run folder's marker, or None when ``out`` is not marked as latentlab's."""
    try:
        m = json.loads((out / RUN_MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("kind") != "latentlab run" or not isinstance(m.get("format"), int):
        return None
    return m


def _write_marker(out: Path) -> None:
    m = _marker(out)
    if m is not None and m["format"] > RUN_FORMAT:
        raise ResumeError(
            f"{out} was written by a newer latentlab (run folder format {m['format']}, this one "
            f"reads {RUN_FORMAT}); upgrade latentlab or choose another --out"
        )
    if m is None:
        atomic_write(out / RUN_MARKER, json.dumps({"kind": "latentlab run", "format": RUN_FORMAT}) + "\n")


def write_config(out: Path, config: ExperimentConfig) -> None:
    """``config.json``: the run's settings plus the SHA-256 of their canonical JSON (checked on resume)."""
    from .storage import sha256_bytes

    d = config.to_dict()
    d["sha256"] = sha256_bytes(json.dumps(d, sort_keys=True).encode())
    atomic_write(out / "config.json", json.dumps(d, indent=1))


def read_config(out) -> dict:
    """The settings in ``out/config.json`` (checksum checked); a corrupt file raises one line naming it."""
    from .storage import sha256_bytes

    f = Path(out) / "config.json"
    fix = "rerun with --overwrite to start that run again, or choose another --out"
    try:
        d = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise ResumeError(f"{f} is unreadable or corrupt ({e.__class__.__name__}); {fix}") from None
    if not isinstance(d, dict):
        raise ResumeError(f"{f} is not a latentlab config (not a JSON object); {fix}")
    digest = d.pop("sha256", None)
    if digest is not None and sha256_bytes(json.dumps(d, sort_keys=True).encode()) != digest:
        raise ResumeError(f"{f} is corrupt (its SHA-256 does not match its settings); {fix}")
    return d


def _legacy_run(out: Path) -> bool:
    """A run folder written before markers existed: its config.json is a latentlab config."""
    try:
        ExperimentConfig.from_dict(read_config(out))
        return True
    except (LatentLabError, KeyError, TypeError, ValueError, AttributeError):
        return False


def remove_run_files(out) -> list[Path]:
    """Delete the files latentlab writes in run folder ``out`` (and folders left empty); return what
    else is there (left untouched)."""
    out = Path(out)
    for name in _TOP_FILES:
        (out / name).unlink(missing_ok=True)
    runs = out / "runs"
    if runs.is_dir():
        for sub in runs.iterdir():
            if sub.is_dir():
                for g in (*_RUN_GLOBS, *_SCRATCH_GLOBS):
                    for f in sub.glob(g):
                        if f.is_file():
                            f.unlink()
                with contextlib.suppress(OSError):
                    sub.rmdir()
        with contextlib.suppress(OSError):
            runs.rmdir()
    for g in _SCRATCH_GLOBS:
        for f in out.glob(g):
            if f.is_file():
                f.unlink()
    left = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in (RUN_MARKER,) and not _scratch(p))
    return left


def _check_out(out: Path, config: ExperimentConfig, resume: bool, overwrite: bool) -> None:
    """Decide what to do with an existing ``out`` (hold its :class:`~latentlab.storage.RunLock` first)."""
    out = Path(out)
    if not out.is_dir():
        return
    cfg_file = out / "config.json"
    ours = _marker(out) is not None or (cfg_file.exists() and _legacy_run(out))
    started = cfg_file.exists() or (out / "runs").is_dir()
    if not started:  # empty, or killed before config.json was in place: a fresh start
        others = [p for p in out.iterdir() if p.name != RUN_MARKER and not _scratch(p)]
        if resume and others and not ours:
            raise ResumeError(f"--resume: {out} has files but no config.json, so it is not a latentlab run folder")
        return
    if overwrite:
        if not ours:
            raise ResumeError(
                f"--overwrite refused: {out} is not a folder latentlab marked as its own "
                f"(no {RUN_MARKER}); nothing was deleted. Remove it yourself, or choose another --out"
            )
        left = remove_run_files(out)
        if left:
            import warnings

            warnings.warn(
                f"--overwrite: kept {len(left)} file(s) in {out} that latentlab did not write (e.g. {left[0]})",
                stacklevel=2,
            )
        return
    if not ours:
        raise ResumeError(f"output folder {out} holds files that are not a latentlab run; choose another --out")
    if not resume:
        raise ResumeError(
            f"output folder {out} already holds a run; pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if not cfg_file.exists():  # checkpoints but no config.json: written by 'tune --workers' or a kill
        return
    old, new = read_config(out), config.to_dict()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        raise ResumeError(
            f"output folder {out} holds a different run (settings differ in: {', '.join(diff)}); "
            "resume with the same settings, or choose another --out"
        )


def prepare(
    config: ExperimentConfig,
    data_root=None,
    progress: bool = True,
    device=None,
    dataset_kwargs=None,
    retrain_generator: bool = False,
):
    """Load the data set and the (cached) generator; returns ``(dataset, latent_space)``.

    ``latent_space`` is a :class:`~latentlab.latent.LatentSpace` (generator, pool embeddings, index),
    or None when no strategy of ``config`` needs a generator.

    ``device`` (e.g. ``torch.device("cuda")``, see :func:`latentlab.profiles.resolve_device`): where the
    generator is trained and kept; CPU by default. It is not part of the run's identity (config.json).
    ``dataset_kwargs`` go to the data set's loader (e.g. ``n``, ``seed`` of the generated vessels).
    ``retrain_generator``: train the generator afresh (``get_generator(retrain=True)``), replacing its cache entry."""
    kwargs = dict(dataset_kwargs or {})
    if config.n_test and _accepts(DATASETS.resolve(config.dataset), "n_test_used"):
        kwargs.setdefault("n_test_used", config.n_test)  # a loader that labels its test set labels only these
    ds = load_dataset(config.dataset, root=data_root, **kwargs)
    if config.n_pool or config.n_test:
        ds = ds.subset(config.n_pool, config.n_test, seed=0)
    # one data split for every strategy and seed of the run (seed 0): seeds vary the sampling only
    ds = ds.with_validation(config.n_val, seed=0)
    check_fits_data(config, ds)
    needs_gen = any(get_strategy(s).needs_generator for s in config.strategies)
    if not needs_gen:
        return ds, None
    gen = get_generator(
        ds, config.generator, seed=config.gen_seed, progress=progress, device=device, retrain=retrain_generator
    )
    return ds, LatentSpace.from_generator(gen, ds.x_train)


def _accepts(fn, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def check_fits_data(config: ExperimentConfig, ds) -> None:
    """Checks that need the data set's sizes, made before any generator or target model is trained."""
    n_pool = len(ds.x_train)
    lc = config.loop
    if lc.initial > n_pool:
        raise ConfigError(f"initial set of {lc.initial} is larger than the pool ({n_pool} items); lower --initial")
    pool_based = [s for s in config.strategies if get_strategy(s).shares_initial_set]
    if pool_based and lc.rounds > 1 and lc.per_round > n_pool - lc.initial:
        raise ConfigError(
            f"per-round batch of {lc.per_round} is larger than the {n_pool - lc.initial} unlabelled "
            "pool items left after the initial set; lower --per-round or --initial"
        )
    if lc.target and ds.targets and lc.target not in ds.targets:
        raise ConfigError(
            f"target model {lc.target!r} does not fit data set {ds.name!r} "
            f"({ds.task}); use --target {' or '.join(ds.targets)}"
        )


def labeler_for(ds, target: str | None = None):
    """The labeler the dataset names (``ds.labeler``: the oracle, or a tool such as ``"fem"``); with
    ``target``, first check that the target model suits the dataset (``ds.targets``), before anything
    is trained."""
    from .labeling import make_labeler

    if target is not None and ds.targets and target not in ds.targets:
        raise ConfigError(
            f"target model {target!r} does not fit data set {ds.name!r} "
            f"({ds.task}); use --target {' or '.join(ds.targets)}"
        )
    return make_labeler(ds.labeler, ds)


def label_validation(ds, labeler, progress: bool = True):
    """Give the validation set its labels from ``labeler`` when they are not known in advance.

    The oracle's labels are known; a labeling tool (e.g. the FEM solver) labels each validation item
    once (it caches by content). Items the tool cannot label are dropped from the validation set.
    """
    if ds.x_val is None or ds.y_val is not None:
        return ds
    res = labeler.label(ds.x_val, progress=progress)
    if not np.any(res.ok):
        raise ConfigError(
            "the labeling tool labelled none of the validation items; see its errors above, or run without --val"
        )
    return dataclasses.replace(ds, x_val=ds.x_val[res.ok], y_val=np.asarray(res.y))


_CHILD_PREPARED: dict = {}


def _run_job(config_dict: dict, strategy: str, seed: int, folder: str, data_root, device) -> str:
    """One (strategy, seed) run in a worker process, checkpointed in ``folder`` (one torch thread)."""
    import torch

    torch.set_num_threads(1)
    config = ExperimentConfig.from_dict(config_dict)
    needs_gen = any(get_strategy(s).needs_generator for s in config.strategies)
    key = (
        json.dumps({k: v for k, v in config_dict.items() if k not in ("strategies", "seeds", "loop")}, sort_keys=True)
        + f"|{data_root}|{needs_gen}|{config.loop.target}"
    )
    if key not in _CHILD_PREPARED:  # a worker keeps the data and generator for its next job
        _CHILD_PREPARED.clear()
        ds, latent = prepare(config, data_root, False, device)
        labeler = labeler_for(ds, config.loop.target)
        _CHILD_PREPARED[key] = (label_validation(ds, labeler, False), latent, labeler)
    ds, latent, labeler = _CHILD_PREPARED[key]
    strat = get_strategy(strategy)
    loop = ActiveLoop(
        ds,
        strat,
        config.loop,
        seed,
        latent=latent if strat.needs_generator else None,
        labeler=labeler,
        checkpoint_dir=Path(folder),
        progress=False,
        device=device,
    )
    loop.run(progress_rounds=False)
    return folder


def run_jobs(jobs: list, *, workers: int, data_root=None, device=None, progress: bool = True) -> None:
    """Run ``(config, out, strategy, seed)`` jobs on ``workers`` processes (spawned, one torch thread each).

    Each job checkpoints into ``out/runs/<strategy>-seed<seed>`` exactly as :func:`run_experiment` does, so a
    following ``run_experiment(config, out, resume=True)`` only reads the finished runs back. Results equal
    a sequential ``OMP_NUM_THREADS=1`` run. Call :func:`prepare` first once, so the generator is trained
    (and cached) before the workers load it.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    dev = None if device is None else str(device)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        futs = [
            ex.submit(
                _run_job,
                cfg.to_dict(),
                s,
                seed,
                str(Path(out) / "runs" / f"{s}-seed{seed}"),
                None if data_root is None else str(data_root),
                dev,
            )
            for cfg, out, s, seed in jobs
        ]
        for f in tqdm(as_completed(futs), total=len(futs), desc="runs", disable=not progress):
            f.result()


def run_experiment(
    config: ExperimentConfig,
    out,
    *,
    data_root=None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    prepared=None,
    device=None,
    workers: int = 1,
) -> list[dict]:
    """Run every (strategy, seed) of ``config``; write outputs to ``out``; return the tidy rows.

    Parameters
    ----------
    config : ExperimentConfig
    out : path
        Output folder. An existing run there is an error unless ``resume`` (same settings:
        finished runs are read back, a killed run continues from its last complete round) or
        ``overwrite``.
    data_root : path, optional
        Folder holding the data set's files (see :func:`latentlab.datasets.load_dataset`).
    prepared : tuple, optional
        ``(dataset, latent_space)`` from :func:`prepare`, to share across calls.
    device : str or torch.device, optional
        Where generator and target models run (CPU by default; the ``paper`` profile picks cuda).
    workers : int
        Run the (strategy, seed) jobs on this many processes (one torch thread each); results equal
        a sequential run with ``OMP_NUM_THREADS=1``.
    """
    from .storage import RunLock

    config.validate()
    out = check_writable(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with RunLock(out):
            _check_out(out, config, resume, overwrite)
            _write_marker(out)
            ds, latent = prepared or prepare(config, data_root, progress, device)
            labeler = labeler_for(ds, config.loop.target)
            ds = label_validation(ds, labeler, progress)
            write_config(out, config)
            return _run_all(
                config, out, ds, latent, labeler, data_root=data_root, progress=progress, device=device, workers=workers
            )
    except LatentLabError:
        if created and not (out / "config.json").exists():  # a failed start leaves nothing behind
            (out / RUN_MARKER).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _run_all(config, out, ds, latent, labeler, *, data_root, progress, device, workers):
    from tqdm.auto import tqdm

    from .report import write_outputs

    runs = {}
    jobs = [(s, seed) for seed in config.seeds for s in config.strategies]
    if workers > 1 and len(jobs) > 1:
        run_jobs(
            [(config, out, s, seed) for s, seed in jobs],
            workers=workers,
            data_root=data_root,
            device=device,
            progress=progress,
        )
    for s, seed in tqdm(jobs, desc=f"{config.dataset} runs", disable=not progress):
        strat = get_strategy(s)
        loop = ActiveLoop(
            ds,
            strat,
            config.loop,
            seed,
            latent=latent if strat.needs_generator else None,
            labeler=labeler,
            checkpoint_dir=out / "runs" / f"{s}-seed{seed}",
            progress=progress,
            device=device,
        )
        loop.run()
        runs[(s, seed)] = loop.records
    shared = {s for s in config.strategies if get_strategy(s).shares_initial_set}
    return write_outputs(out, config.dataset, runs, data=ds, shared_initial=shared)
