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

The settings are :mod:`latentlab.config`'s, the output folder's rules :mod:`latentlab.run_folder`'s;
both are re-exported here, so ``from latentlab.experiment import ExperimentConfig, check_writable``
keeps working.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np


if TYPE_CHECKING:
    import torch

    from .datasets import Dataset
    from .latent import LatentSpace

from .config import (
    ALPHAGAN_HIDDEN,
    RUN_SETTINGS,
    SETTINGS,
    ExperimentConfig,
    Setting,
    apply_overrides,
    config_from_settings,
    dataset_info,
    get_path,
)
from .datasets import DATASETS, load_dataset
from .exceptions import ConfigError, LatentLabError
from .generative import get_generator
from .latent import LatentSpace
from .loop import ActiveLoop
from .report import RESULT_COLUMNS
from .run_folder import (
    RUN_MARKER,
    RunLock,
    check_out,
    check_writable,
    read_config,
    remove_run_files,
    write_config,
    write_marker,
)
from .strategies import get_strategy

__all__ = [
    "ExperimentConfig",
    "SETTINGS",
    "RUN_SETTINGS",
    "Setting",
    "config_from_settings",
    "apply_overrides",
    "get_path",
    "dataset_info",
    "ALPHAGAN_HIDDEN",
    "prepare",
    "check_fits_data",
    "labeler_for",
    "label_validation",
    "run_experiment",
    "run_jobs",
    "RESULT_COLUMNS",
    "check_writable",
    "check_out",
    "write_marker",
    "write_config",
    "read_config",
    "remove_run_files",
    "RUN_MARKER",
]


def prepare(
    config: ExperimentConfig,
    data_root: str | os.PathLike | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
    dataset_kwargs: dict[str, Any] | None = None,
    retrain_generator: bool = False,
) -> tuple[Dataset, LatentSpace | None]:
    """Load the data set and the (cached) generator; returns ``(dataset, latent_space)``.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment (data set, subsets, validation split, generator settings).
    data_root : str or os.PathLike, optional
        Folder holding the data set's files (:func:`latentlab.datasets.load_dataset`).
    progress : bool, default True
        Show the generator's training progress.
    device : str or torch.device, optional
        Where the generator is trained and kept (e.g. ``torch.device("cuda")``, see
        :func:`latentlab.profiles.resolve_device`); CPU by default. It is not part of the run's
        identity (config.json).
    dataset_kwargs : dict, optional
        Passed to the data set's loader (e.g. ``n``, ``seed`` of the generated vessels).
    retrain_generator : bool, default False
        Train the generator afresh (``get_generator(retrain=True)``), replacing its cache entry.

    Returns
    -------
    dataset : Dataset
        The data set, subset and split as ``config`` says.
    latent_space : LatentSpace or None
        Generator, pool embeddings and index; None when no strategy of ``config`` needs a generator.
    """
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
    _run_one(config, strategy, seed, (ds, latent, labeler), Path(folder), progress=False, device=device)
    return folder


def _run_one(config, strategy: str, seed: int, data, folder: Path, *, progress: bool, device) -> list:
    """Run (or resume, or read back) one (strategy, seed) checkpointed in ``folder``; its round records.

    ``data``: ``(dataset, latent_space, labeler)``; the latent space goes only to strategies that need it."""
    ds, latent, labeler = data
    strat = get_strategy(strategy)
    loop = ActiveLoop(
        ds,
        strat,
        config.loop,
        seed,
        latent=latent if strat.needs_generator else None,
        labeler=labeler,
        checkpoint_dir=folder,
        progress=progress,
        device=device,
    )
    return loop.run()


def run_jobs(jobs: list, *, workers: int, data_root=None, device=None, progress: bool = True) -> None:
    """Run ``(config, out, strategy, seed)`` jobs on ``workers`` processes (spawned, one torch thread each).

    Each job checkpoints into ``out/runs/<strategy>-seed<seed>`` exactly as :func:`run_experiment` does, so a
    following ``run_experiment(config, out, resume=True)`` only reads the finished runs back. Results equal
    a sequential ``OMP_NUM_THREADS=1`` run. Call :func:`prepare` first once, so the generator is trained
    (and cached) before the workers load it.
    """
    from .executor import as_finished

    dev = None if device is None else str(device)
    root = None if data_root is None else str(data_root)
    args = [
        (cfg.to_dict(), s, seed, str(Path(out) / "runs" / f"{s}-seed{seed}"), root, dev) for cfg, out, s, seed in jobs
    ]
    for _ in as_finished(_run_job, args, processes=workers, progress=progress, desc="runs"):
        pass


def run_experiment(
    config: ExperimentConfig,
    out: str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    prepared: tuple[Dataset, LatentSpace | None] | None = None,
    device: str | torch.device | None = None,
    workers: int = 1,
) -> list[dict]:
    """Run every (strategy, seed) of ``config``; write outputs to ``out``; return the tidy rows.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    out : path
        Output folder. An existing run there is an error unless ``resume`` (same settings:
        finished runs are read back, a killed run continues from its last complete round) or
        ``overwrite``.
    data_root : path, optional
        Folder holding the data set's files (see :func:`latentlab.datasets.load_dataset`).
    resume : bool, default False
        Continue the run in ``out`` (the same settings only).
    overwrite : bool, default False
        Replace the run in ``out``.
    progress : bool, default True
        Show progress bars (tqdm).
    prepared : tuple, optional
        ``(dataset, latent_space)`` from :func:`prepare`, to share across calls.
    device : str or torch.device, optional
        Where generator and target models run (CPU by default; the ``paper`` profile picks cuda).
    workers : int
        Run the (strategy, seed) jobs on this many processes (one torch thread each); results equal
        a sequential run with ``OMP_NUM_THREADS=1``.

    Returns
    -------
    list of dict
        The rows of ``results.csv`` (dataset, strategy, seed, round, n_labelled, metric, value).
    """
    config.validate()
    out = check_writable(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with RunLock(out):
            check_out(out, config, resume, overwrite)
            write_marker(out)
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
        folder = out / "runs" / f"{s}-seed{seed}"
        runs[(s, seed)] = _run_one(config, s, seed, (ds, latent, labeler), folder, progress=progress, device=device)
    shared = {s for s in config.strategies if get_strategy(s).shares_initial_set}
    return write_outputs(out, config.dataset, runs, data=ds, shared_initial=shared)
