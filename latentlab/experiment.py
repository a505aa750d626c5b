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

The settings are :mod:`latentlab.config`'s, the output folder's rules :mod:`latentlab.run_folder`'s,
the objects a user hands ``run_experiment`` (and their trip to the workers) :mod:`latentlab.given`'s;
all are re-exported here, so ``from latentlab.experiment import ExperimentConfig, check_writable, Given``
keeps working.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np


if TYPE_CHECKING:
    import torch

    from .datasets import Dataset
    from .latent import LatentSpace
    from .strategies import Strategy

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
from .given import Given, _given, _given_target, _Recorded, _ship, needs_decoder
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
    undo_start,
    write_config,
    write_marker,
)
from .strategies import get_strategy

if TYPE_CHECKING:
    from .datasets import Dataset
    from .labeling import Labeler
    from .strategies import Strategy

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
    "needs_decoder",
    "Given",
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
    generator: Any = None,
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
    generator : object, optional
        A trained model (``encode``/``decode``/``latent_dim``) to use instead; nothing is trained.

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
    if generator is not None:
        return ds, LatentSpace.from_generator(generator, ds.x_train)
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
    if lc.target and ds.targets and lc.target not in ds.targets and not _given_target(lc.target):
        raise ConfigError(
            f"target model {lc.target!r} does not fit data set {ds.name!r} "
            f"({ds.task}); use --target {' or '.join(ds.targets)}"
        )


def labeler_for(ds, target: str | None = None):
    """The labeler the dataset names (``ds.labeler``: the oracle, or a tool such as ``"fem"``); with
    ``target``, first check that the target model suits the dataset (``ds.targets``), before anything
    is trained."""
    from .labeling import make_labeler

    if target is not None and ds.targets and target not in ds.targets and not _given_target(target):
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


def _run_job(
    config_dict: dict, strategy: str, seed: int, folder: str, data_root, device, given: bytes | None = None
) -> str:
    """One (strategy, seed) run in a worker process, checkpointed in ``folder`` (one torch thread).

    ``given``: the run's in-memory objects (:class:`Given`, pickled), looked up by name inside the job."""
    import hashlib
    import pickle

    import torch

    torch.set_num_threads(1)
    g = pickle.loads(given) if given is not None else Given()  # noqa: S301 - bytes from our own parent
    with g.scope():
        config = ExperimentConfig.from_dict(config_dict)
        needs_gen = any(get_strategy(s).needs_generator for s in config.strategies)
        key = (
            json.dumps(
                {k: v for k, v in config_dict.items() if k not in ("strategies", "seeds", "loop")}, sort_keys=True
            )
            + f"|{data_root}|{needs_gen}|{config.loop.target}|"
            + (hashlib.sha256(given).hexdigest() if given is not None else "")
        )
        if key not in _CHILD_PREPARED:  # a worker keeps the data and generator for its next job
            _CHILD_PREPARED.clear()
            ds, latent, labeler = _prepare_given(config, g, data_root, False, device)
            _CHILD_PREPARED[key] = (label_validation(ds, labeler, False), latent, labeler)
        ds, latent, labeler = _CHILD_PREPARED[key]
        _run_one(config, strategy, seed, (ds, latent, labeler), Path(folder), progress=False, device=device)
    return folder


def _prepare_given(config, g: Given, data_root, progress: bool, device):
    """``(dataset, latent_space, labeler)`` of a run with objects ``g`` (inside ``g.scope()``)."""
    if g.prepared:
        ds, latent = g.dataset, g.latent
    else:
        ds, latent = prepare(config, data_root, progress, device, generator=g.generator)
    if g.labeler is not None:
        labeler = g.labeler
    elif ds.labeler == "given":
        raise ConfigError(
            f"{ds.name}: pool labels are unknown and no labeler was given; pass labeler=your_function "
            "(x_item -> label) to run_experiment"
        )
    else:
        labeler = labeler_for(ds, config.loop.target)
    return ds, latent, labeler


def _run_one(config, strategy: str, seed: int, data, folder: Path, *, progress: bool, device) -> list:
    """Run (or resume, or read back) one (strategy, seed) checkpointed in ``folder``; its round records.

    ``data``: ``(dataset, latent_space, labeler)``; every strategy gets the latent
    space (the diagnostics measure picks in it)."""
    ds, latent, labeler = data
    strat = get_strategy(strategy)
    folder.mkdir(parents=True, exist_ok=True)
    with RunLock(folder):  # every process writing a run's checkpoints holds its lock (workers included)
        loop = ActiveLoop(
            ds,
            strat,
            config.loop,
            seed,
            latent=latent,  # strategies that need no generator ignore it; the diagnostics measure picks in it
            labeler=labeler,
            checkpoint_dir=folder,
            progress=progress,
            device=device,
        )
        return loop.run()


def run_jobs(
    jobs: list,
    *,
    workers: int,
    data_root=None,
    device=None,
    progress: bool = True,
    given: bytes | None = None,
    client=None,
) -> None:
    """Run ``(config, out, strategy, seed)`` jobs on ``workers`` processes (spawned, one torch thread each),
    or on a Dask cluster (``client``: a ``dask.distributed.Client`` or a scheduler address).

    Each job checkpoints into ``out/runs/<strategy>-seed<seed>`` exactly as :func:`run_experiment` does, so a
    following ``run_experiment(config, out, resume=True)`` only reads the finished runs back. Results equal
    a sequential ``OMP_NUM_THREADS=1`` run. Call :func:`prepare` first once, so the generator is trained
    (and cached) before the workers load it. ``given``: in-memory objects (a pickled :class:`Given`) every
    job receives.
    """
    from concurrent.futures.process import BrokenProcessPool

    from .executor import as_finished

    dev = None if device is None else str(device)
    root = None if data_root is None else str(data_root)
    args = [
        (cfg.to_dict(), s, seed, str(Path(out) / "runs" / f"{s}-seed{seed}"), root, dev, given)
        for cfg, out, s, seed in jobs
    ]
    try:
        for _ in as_finished(_run_job, args, processes=workers, client=client, progress=progress, desc="runs"):
            pass
    except BrokenProcessPool:
        raise ConfigError(
            "a worker process died while starting (its error is above). From a script, put the code that "
            'calls run_experiment under `if __name__ == "__main__":` (worker processes import the script '
            "again); objects it uses must be importable (defined at the top level of a module)"
        ) from None


def _guard_spawned_main() -> None:
    """Refuse a run started while a worker process imports the user's script (no ``__main__`` guard)."""
    import multiprocessing as mp

    if mp.parent_process() is not None and getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__":
        raise ConfigError(
            "run_experiment was called while a worker process imported your script: put the code that "
            'calls it under `if __name__ == "__main__":` (worker processes are spawned and import the script)'
        )


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
    dataset: Dataset | None = None,
    target: Callable[..., Any] | str | None = None,
    strategies: Sequence[str | Strategy | type[Strategy]] | None = None,
    generator: Any = None,
    labeler: Callable[[np.ndarray], Any] | Labeler | None = None,
    client: Any = None,
) -> list[dict]:
    """Run every (strategy, seed) of ``config``; write outputs to ``out``; return the tidy rows.

    Your own objects (``dataset``, ``target``, ``strategies``, ``generator``, ``labeler``) need no
    registered name: they stand in for the settings of ``config`` that name them, in this process and
    in every worker process, and ``config.json`` records them (names, classes, the data's fingerprint).
    See docs/your-data.md.

    Parameters
    ----------
    config : ExperimentConfig
        The settings; the objects below replace the ones they name.
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
        ``(dataset, latent_space)`` from :func:`prepare`, to share across calls; used as they are
        (also by the worker processes).
    device : str or torch.device, optional
        Where generator and target models run (CPU by default; the ``paper`` profile picks cuda).
    workers : int
        Run the (strategy, seed) jobs on this many processes (one torch thread each); results equal
        a sequential run with ``OMP_NUM_THREADS=1``. From a script, call under
        ``if __name__ == "__main__":`` (the workers are spawned and import the script).
    dataset : Dataset, optional
        Your data (:meth:`Dataset.from_arrays`, :meth:`Dataset.from_torch`); ``config``'s ``n_pool``,
        ``n_test`` and ``n_val`` still apply. Never looked up by name.
    target : nn.Module class or callable, optional
        Builds the target model F, called as ``target(image_shape, n_outputs)`` or ``target()``; a
        new model every round, seeded before the call. Or a registered name.
    strategies : list of str or Strategy, optional
        Registered names and/or your :class:`~latentlab.strategies.Strategy` objects (or subclasses),
        each with its own ``name``; replaces ``config.strategies``.
    generator : nn.Module, (encoder, decoder), or class, optional
        The latent space: a trained model with ``encode``/``decode``/``latent_dim``, or a pretrained
        ``(encoder, decoder)`` pair (decoder may be None: SNN and the SI family need it, latent-coreset,
        diverse-entropy and pool-scoring strategies do not), used without training; or a generator
        class, trained on the pool as a registered one is.
    labeler : callable or Labeler, optional
        Where labels come from: a function ``x_item -> label`` (e.g. a simulation), called for each
        chosen item, or a :class:`~latentlab.labeling.Labeler`. Default: the data set's labels.
    client : dask.distributed.Client or str, optional
        Send the (strategy, seed) jobs to this Dask cluster instead (same results); the cache and
        ``out`` must be visible to its workers at the same paths.

    Returns
    -------
    list of dict
        The rows of ``results.csv`` (dataset, strategy, seed, round, n_labelled, metric, value).
    """
    _guard_spawned_main()
    given, config = _given(config, dataset, target, strategies, generator, labeler, prepared)
    with given.scope():
        config = given.configure(config).validate()
        out = check_writable(out)
        from .alpha import needs_resolution, resolve_alpha

        if needs_resolution(config):  # --alpha auto / --alpha-unit nn: measure the map (and run the grid) first
            config, (given.dataset, given.latent) = resolve_alpha(
                config,
                lambda: _prepare_given(config, given, data_root, progress, device)[:2],
                lambda cfg, folder, data: run_experiment(
                    cfg, folder, data_root=data_root, resume=True, progress=progress, prepared=data, device=device
                ),
            )
            given.prepared = True
        blob = _ship(given) if workers > 1 or client is not None else None
        recorded = _Recorded(config, given)
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        try:
            with RunLock(out):
                check_out(out, recorded, resume, overwrite)
                undo = undo_start(out)  # a command refused from here on leaves the folder as it found it
                try:
                    write_marker(out)
                    ds, latent, labeler_ = _prepare_given(config, given, data_root, progress, device)
                    ds = label_validation(ds, labeler_, progress)
                    write_config(out, recorded)
                    return _run_all(
                        config,
                        out,
                        ds,
                        latent,
                        labeler_,
                        data_root=data_root,
                        progress=progress,
                        device=device,
                        workers=workers,
                        given=blob,
                        client=client,
                    )
                except LatentLabError:
                    undo()
                    raise
        except LatentLabError:
            if created and not (out / "config.json").exists():  # a failed start leaves nothing behind
                (out / RUN_MARKER).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise


def _run_all(config, out, ds, latent, labeler, *, data_root, progress, device, workers, given=None, client=None):
    from tqdm.auto import tqdm

    from .report import write_outputs

    runs = {}
    jobs = [(s, seed) for seed in config.seeds for s in config.strategies]
    if client is not None or (workers > 1 and len(jobs) > 1):
        run_jobs(
            [(config, out, s, seed) for s, seed in jobs],
            workers=workers,
            data_root=data_root,
            device=device,
            progress=progress,
            given=given,
            client=client,
        )
    for s, seed in tqdm(jobs, desc=f"{config.dataset} runs", disable=not progress):
        folder = out / "runs" / f"{s}-seed{seed}"
        runs[(s, seed)] = _run_one(config, s, seed, (ds, latent, labeler), folder, progress=progress, device=device)
    shared = {s for s in config.strategies if get_strategy(s).shares_initial_set}
    return write_outputs(out, config.dataset, runs, data=ds, shared_initial=shared)
