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

import dataclasses
import json
import shutil

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import load_dataset
from .exceptions import ConfigError, ResumeError
from .generative import GeneratorConfig, get_generator
from .latent import LatentSpace
from .loop import ActiveLoop, LoopConfig
from .storage import atomic_write
from .strategies import STRATEGIES, get_strategy
from .training import TrainConfig

__all__ = ["ExperimentConfig", "prepare", "run_experiment", "RESULT_COLUMNS"]

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

    def validate(self) -> "ExperimentConfig":
        if not self.strategies:
            raise ConfigError(f"give at least one strategy; valid: {', '.join(sorted(STRATEGIES))}")
        for s in self.strategies:
            get_strategy(s)
        if not self.seeds:
            raise ConfigError("give at least one seed, e.g. --seeds 0,1,2")
        if len(set(self.strategies)) != len(self.strategies) or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("strategies and seeds must not repeat")
        self.loop.validate()
        return self

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "strategies": list(self.strategies), "seeds": list(self.seeds),
                "loop": self.loop.to_dict(), "generator": dataclasses.asdict(self.generator),
                "gen_seed": self.gen_seed, "n_pool": self.n_pool, "n_test": self.n_test}

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        return cls(dataset=d["dataset"], strategies=tuple(d["strategies"]), seeds=tuple(d["seeds"]),
                   loop=LoopConfig.from_dict(d["loop"]), generator=GeneratorConfig(**d["generator"]),
                   gen_seed=d["gen_seed"], n_pool=d["n_pool"], n_test=d["n_test"])


def _check_out(out: Path, config: ExperimentConfig, resume: bool, overwrite: bool) -> None:
    cfg_file = out / "config.json"
    if not cfg_file.exists():
        if resume and out.exists() and any(out.iterdir()):
            raise ResumeError(f"--resume: {out} has files but no config.json, so it is not a latentlab run folder")
        return
    old = json.loads(cfg_file.read_text())
    new = config.to_dict()
    if overwrite:
        shutil.rmtree(out)
        return
    if not resume:
        raise ResumeError(f"output folder {out} already holds a run; pass --resume to continue it, "
                          "--overwrite to replace it, or choose another --out")
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        raise ResumeError(f"output folder {out} holds a different run (settings differ in: {', '.join(diff)}); "
                          "resume with the same settings, or choose another --out")


def prepare(config: ExperimentConfig, data_root=None, progress: bool = True, device=None, dataset_kwargs=None):
    """Load the data set and the (cached) generator; returns ``(dataset, latent_space)``.

    ``latent_space`` is a :class:`~latentlab.latent.LatentSpace` (generator, pool embeddings, index),
    or None when no strategy of ``config`` needs a generator.

    ``device`` (e.g. ``torch.device("cuda")``, see :func:`latentlab.profiles.resolve_device`): where the
    generator is trained and kept; CPU by default. It is not part of the run's identity (config.json).
    ``dataset_kwargs`` go to the data set's loader (e.g. ``n``, ``seed`` of the generated vessels)."""
    ds = load_dataset(config.dataset, root=data_root, **(dataset_kwargs or {}))
    if config.n_pool or config.n_test:
        ds = ds.subset(config.n_pool, config.n_test, seed=0)
    needs_gen = any(get_strategy(s).needs_generator for s in config.strategies)
    if not needs_gen:
        return ds, None
    gen = get_generator(ds, config.generator, seed=config.gen_seed, progress=progress, device=device)
    return ds, LatentSpace.from_generator(gen, ds.x_train)


def _labeler_for(ds, config: ExperimentConfig):
    """The labeler the dataset names (``ds.meta["labeler"]``, default the oracle); also checks that the
    target model suits the dataset (``ds.meta["targets"]``) before anything is trained (issue 3)."""
    from .labeling import make_labeler

    ok = ds.meta.get("targets")
    if ok and config.loop.target not in ok:
        raise ConfigError(f"target model {config.loop.target!r} does not fit data set {ds.name!r} "
                          f"({ds.task}); use --target {' or '.join(ok)}")
    return make_labeler(ds.meta.get("labeler", "oracle"), ds)


def run_experiment(config: ExperimentConfig, out, *, data_root=None, resume: bool = False, overwrite: bool = False,
                   progress: bool = True, prepared=None, device=None) -> list[dict]:
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
    """
    from tqdm.auto import tqdm

    from .report import write_outputs

    config.validate()
    out = Path(out)
    _check_out(out, config, resume, overwrite)
    ds, latent = prepared or prepare(config, data_root, progress, device)
    labeler = _labeler_for(ds, config)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "config.json", json.dumps(config.to_dict(), indent=1))
    runs = {}
    jobs = [(s, seed) for seed in config.seeds for s in config.strategies]
    for s, seed in tqdm(jobs, desc=f"{config.dataset} runs", disable=not progress):
        strat = get_strategy(s)
        loop = ActiveLoop(ds, strat, config.loop, seed, latent=latent if strat.needs_generator else None,
                          labeler=labeler,
                          checkpoint_dir=out / "runs" / f"{s}-seed{seed}", progress=progress, device=device)
        loop.run()
        runs[(s, seed)] = loop.records
    return write_outputs(out, config.dataset, runs)
