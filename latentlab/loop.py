"""The progressive training loop (Algorithm 1): train F, evaluate, propose, label, checkpoint.

:class:`ActiveLoop` holds the state of one run (one strategy, one seed); :meth:`ActiveLoop.run_round`
runs exactly one round and the driver loop stays short (the baal pattern)::

    loop = ActiveLoop(dataset, get_strategy("snn"), LoopConfig(), seed=0,
                      latent=LatentSpace.from_generator(vae, dataset.x_train))
    while not loop.done:
        rec = loop.run_round()

Randomness of round t derives from ``(seed, t)`` only, never from a running stream, so a run
resumed from its checkpoint after a crash continues exactly as if it had never stopped. The
initial set depends on the seed only: every strategy of one seed starts from the same items.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_checkpoint, run_identity, save_checkpoint
from .datasets import balanced_indices
from .diagnostics import class_balance, round_diagnostics
from .exceptions import ConfigError
from .label_store import LabelStore
from .labeling import Labeler, OracleLabeler
from .latent import LatentSpace
from .loop_config import LoopConfig
from .models import build_target
from .strategies import Proposal, SamplingContext, Strategy
from .tasks import task_for
from .training import TqdmCallback, deterministic_device, fit, seed_everything

__all__ = ["LoopConfig", "RoundRecord", "ActiveLoop"]  # LoopConfig lives in loop_config.py

# fixed stream ids mixed into (seed, round) so each use of randomness has its own stream
_INIT_SET, _PROPOSE, _TRAIN, _WEIGHTS = 0, 1, 2, 3


@dataclass
class RoundRecord:
    """What happened in one round (a row of ``rounds.csv``).

    ``metric`` is measured after training on ``n_labelled`` items; the proposal fields describe the
    batch proposed *after* that evaluation (empty in the last round).

    Parameters
    ----------
    round : int
        The round t = 1, 2, ...
    n_labelled : int
        Items F trained on (pool and synthesized).
    metric : float
        F's test metric after training.
    metric_name : str
        Its name (``"accuracy"``, ``"mse"``).
    train_loss : float
        F's final training loss.
    n_steps : int
        Optimiser steps of F's training.
    train_s, eval_s, sample_s : float
        Seconds spent training F, evaluating it and proposing the next batch.
    n_proposed : int
        Items proposed after the evaluation (0 in the last round).
    n_failed : int
        Proposed items the labeling tool could not label (or post-processing rejected).
    n_synthetic : int
        Synthesized items in the train set (sampling by interpolation).
    mean_grad_norm, mean_loss_at_p, mean_neighbour_dist : float or None
        Means over the proposal of the latent gradient's norm, F's loss at the start points and the
        distance from p' to the labelled item (None where the strategy records none).
    val_metric : float or None
        The same metric on the validation set (None without one).
    rarest_class : int or None
        Labelled items of the rarest class in the train set (classification only).
    class_entropy : float or None
        Entropy of the train set's class histogram.
    pick_latent_dist : float or None
        Median latent distance of the proposed picks to the nearest labelled item.
    pick_error : float or None
        F's error on the picks when they were picked.
    pool_error : float or None
        F's error on the unlabelled pool at the same time.
    """

    round: int
    n_labelled: int
    metric: float
    metric_name: str
    train_loss: float
    n_steps: int
    train_s: float = 0.0
    eval_s: float = 0.0
    sample_s: float = 0.0
    n_proposed: int = 0
    n_failed: int = 0  # proposed items the labeling tool could not label (or post-processing rejected)
    n_synthetic: int = 0  # synthesized items in the train set (sampling by interpolation)
    mean_grad_norm: float | None = None
    mean_loss_at_p: float | None = None
    mean_neighbour_dist: float | None = None
    val_metric: float | None = None  # the same metric on the validation set (None without one)
    # diagnostics (latentlab.diagnostics): class balance of the train set, then of the batch proposed
    rarest_class: int | None = None
    class_entropy: float | None = None
    pick_latent_dist: float | None = None
    pick_error: float | None = None
    pool_error: float | None = None

    def note_proposal(self, prop, n_failed: int) -> None:
        """Record the batch proposed after this round's evaluation.

        Parameters
        ----------
        prop : Proposal
            The batch.
        n_failed : int
            How many of its items got no label.
        """
        self.n_proposed = len(prop.indices) + (0 if prop.x_new is None else len(prop.x_new) + prop.n_rejected)
        self.n_failed += n_failed + prop.n_rejected
        if prop.grad_norm is not None:
            self.mean_grad_norm = float(np.mean(prop.grad_norm))
        if prop.loss is not None:  # uncertainty-ascent steps along F's entropy: no loss at p recorded
            self.mean_loss_at_p = float(np.mean(prop.loss))
        if prop.neighbour_dist is not None:
            self.mean_neighbour_dist = float(np.mean(prop.neighbour_dist))


class ActiveLoop:
    """One progressive run: dataset x strategy x seed (Algorithm 1, one :meth:`run_round` per round).

    Parameters
    ----------
    dataset : Dataset
        The data set (pool, test set, optional validation set).
    strategy : Strategy
        What to label next.
    config : LoopConfig
        The run's settings (rounds, batch size, target, training recipe).
    seed : int, default 0
        Seeds the initial set, F's weights and the strategy.
    latent : LatentSpace, optional
        The frozen generator, pool embeddings and index (latent strategies need it).
    labeler : Labeler, optional
        Where labels come from (default: the data set's oracle, ``dataset.y_train``).
    checkpoint_dir : str or os.PathLike, optional
        The state is written there after every round and resumed from there
        (:mod:`latentlab.checkpoint`).
    progress : bool, default True
        Show tqdm bars.
    device : str or torch.device, optional
        Where the target model trains (CPU by default).

    Notes
    -----
    The label books (pool state, labels, synthesized items, train set) live in ``self.store``, a
    :class:`~latentlab.label_store.LabelStore`; ``pool``, ``pool_labels``, ``synthetic``,
    ``labelled()``, ``labels_of()``, ``train_set()`` and ``add_synthetic()`` read and write through it.
    """

    def __init__(
        self,
        dataset,
        strategy: Strategy,
        config: LoopConfig = LoopConfig(),
        seed: int = 0,
        *,
        latent: LatentSpace | None = None,
        labeler: Labeler | None = None,
        checkpoint_dir=None,
        progress: bool = True,
        device=None,
    ):
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        deterministic_device(self.device)
        self.dataset = dataset
        self.task = task_for(dataset)
        self.strategy = strategy
        self.config = config.validate()
        self.seed = int(seed)
        self.latent = latent
        _check_fits(dataset, self.task, strategy, config, latent)
        self.labeler = labeler = labeler if labeler is not None else _oracle(dataset)
        self.store = LabelStore(dataset.x_train, labeler)
        self.records: list[RoundRecord] = []
        self.proposals: list[dict] = []
        self.model = None
        self.finished = False
        self.progress = progress
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        if self.checkpoint_dir and (self.checkpoint_dir / "state.json").exists():
            self.load_checkpoint()

    # ------------------------------------------------------------------ state
    @property
    def round(self) -> int:
        """Rounds completed so far."""
        return len(self.records)

    @property
    def done(self) -> bool:
        """Whether a stop condition holds (rounds run, budget spent, target metric reached)."""
        return self.finished

    pool = property(
        lambda self: self.store.pool, lambda self, v: setattr(self.store, "pool", v), doc="The run's PoolState."
    )
    pool_labels = property(lambda self: self.store.pool_labels, doc="Labels of pool items (see LabelStore).")
    synthetic = property(lambda self: self.store.synthetic, doc="Labelled synthesized items, or None.")
    n_labelled = property(lambda self: self.store.n_labelled, doc="Pool plus synthesized items labelled.")

    def labelled(self, upto_round: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pool items labelled so far (or before round ``upto_round``) and the round that labelled each.

        Parameters
        ----------
        upto_round : int, optional
            Only items labelled before this round (None: all).

        Returns
        -------
        items : numpy.ndarray
            Pool indices, int64.
        rounds : numpy.ndarray
            The round that labelled each.
        """
        return self.store.labelled(upto_round)

    def labels_of(self, items: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """Labels of pool ``items`` where the loop knows them, ``fallback`` elsewhere (:class:`LabelStore`).

        Parameters
        ----------
        items : numpy.ndarray
            Pool indices.
        fallback : numpy.ndarray
            Labels to use where the loop has none, one per item.

        Returns
        -------
        numpy.ndarray
            One label per item.
        """
        return self.store.labels_of(items, fallback)

    def train_set(self):
        """``(x, y)`` arrays of everything labelled so far: pool items, then synthesized items.

        Returns
        -------
        x : numpy.ndarray
            Inputs, shape (n, C, H, W).
        y : numpy.ndarray
            Their labels.
        """
        return self.store.train_set()

    def add_synthetic(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, round_: int | None = None) -> None:
        """Add labelled synthesized inputs (``x``, labels ``y``, latent points ``z``) to the train set.

        SI's proposals and a person's annotations in the explorer both arrive here.

        Parameters
        ----------
        x : numpy.ndarray
            Synthesized inputs, shape (n, C, H, W).
        y : numpy.ndarray
            Their labels.
        z : numpy.ndarray
            Their latent points, shape (n, dim).
        round_ : int, optional
            The round they count for (default: the next one).
        """
        self.store.add_synthetic(x, y, z, self.round + 1 if round_ is None else round_)

    def _rng(self, *stream) -> np.random.Generator:
        return np.random.default_rng([self.seed, *stream])

    def _new_model(self, t: int):
        seed_everything(int(np.random.SeedSequence([self.seed, _WEIGHTS, t]).generate_state(1)[0]))
        return build_target(
            self.config.target,
            self.dataset.image_shape,
            self.task.n_outputs(self.dataset),
            **dict(self.config.target_kwargs),
        ).to(self.device)

    def context(self) -> SamplingContext:
        """The :class:`SamplingContext` strategies see now.

        Returns
        -------
        SamplingContext
            The pool, its labels, F, the latent space and the run's sampling settings.
        """
        return SamplingContext(
            x_pool=self.dataset.x_train,
            y_pool=self.pool_labels,
            pool=self.pool,
            task=self.task,
            target=self.model,
            latent=self.latent,
            alpha=self.config.step_length,  # alpha, or the step an auto / nn-unit alpha resolved to
            loss_on=self.config.loss_on,
            candidates=self.config.candidates,
            labeler=self.labeler,
            synthetic=self.synthetic,
            mc_samples=self.config.mc_samples,
        )

    def initial_proposal(self):
        """T(1) as the strategy builds it; pool-based strategies of one seed all get the same items.

        With ``initial_balanced`` the shared draw has equal counts per class (needs known labels).

        Returns
        -------
        Proposal
            The initial set.
        """
        rng = self._rng(_INIT_SET)
        if self.config.initial_balanced and self.strategy.shares_initial_set:
            if self.labeler.known_labels is None or not self.task.categorical:
                raise ConfigError(
                    "a class-balanced initial set needs class labels known in advance (the oracle); "
                    "drop --balanced-initial"
                )
            return Proposal(indices=balanced_indices(self.labeler.known_labels, self.config.initial, rng))
        return self.strategy.initial(self.context(), self.config.initial, rng)

    def initial_set(self) -> np.ndarray:
        """Pool items of the initial set (empty for strategies that synthesize it).

        Returns
        -------
        numpy.ndarray
            Pool indices, int64.
        """
        return self.initial_proposal().indices

    def snapshot(self, round_: int) -> dict:
        """The run after round ``round_``, as the explorer's history shows it.

        Parameters
        ----------
        round_ : int
            A round run so far, 1 .. :attr:`round`.

        Returns
        -------
        dict
            ``record`` (its :class:`RoundRecord`), ``labelled`` (the round's proposal included),
            ``labelled_round``, ``proposal`` (the arrays the strategy recorded).
        """
        if not 1 <= round_ <= self.round:
            raise ConfigError(f"round must be in 1..{self.round} (rounds run so far), got {round_}")
        lab, rounds = self.labelled(upto_round=round_ + 1)
        rec, prop = self.records[round_ - 1], self.proposals[round_ - 1]
        return {"record": rec, "labelled": lab, "labelled_round": rounds, "proposal": prop}

    def curve(self) -> tuple[list, list]:
        """Learning curve: labelled items and metric per round.

        Returns
        -------
        n_labelled : list of int
            Items labelled, per round.
        metric : list of float
            The test metric, per round.
        """
        return [r.n_labelled for r in self.records], [r.metric for r in self.records]

    # ------------------------------------------------------------------ one round
    def run_round(self) -> RoundRecord:
        """Run one round: train F on the labelled set, evaluate, propose and label the next batch.

        Returns
        -------
        RoundRecord
            What happened in the round.
        """
        if self.finished:
            raise ConfigError("this run is finished; raise rounds/budget in a new run to continue")
        cfg = self.config
        t = self.round + 1
        n_failed_initial = 0
        if t == 1 and self.n_labelled == 0:
            init = self.initial_proposal()
            n_failed_initial = self.store.label(init, 1, self.progress) + init.n_rejected
            if self.n_labelled == 0:
                raise ConfigError("the labeling tool labelled none of the initial set; see its errors above")

        # train
        t0 = time.perf_counter()
        if self.model is None or not cfg.warm_start:
            self.model = self._new_model(t if not cfg.warm_start else 0)
        x_np, y_np = self.train_set()
        cbs = [TqdmCallback(desc=f"{self.strategy.name} s{self.seed} round {t} train", disable=not self.progress)]
        hist = fit(
            self.model,
            (torch.as_tensor(x_np, dtype=torch.float32), self.task.y_tensor(y_np)),
            lambda m, b: self.task.loss(m(b[0]), b[1]),
            cfg.train,
            seed=[self.seed, _TRAIN, t],
            callbacks=cbs,
        )
        train_s = time.perf_counter() - t0

        # evaluate
        t0 = time.perf_counter()
        ds = self.dataset
        metric = self.task.evaluate(self.model, ds.x_test, ds.y_test)
        has_val = getattr(ds, "x_val", None) is not None and ds.y_val is not None
        val = self.task.evaluate(self.model, ds.x_val, ds.y_val) if has_val else None
        rec = RoundRecord(
            round=t,
            n_labelled=len(x_np),
            metric=metric,
            metric_name=self.task.metric_name,
            train_loss=float(np.mean(hist[-10:])),
            n_steps=len(hist),
            train_s=train_s,
            eval_s=time.perf_counter() - t0,
            n_failed=n_failed_initial,
            n_synthetic=self.store.n_synthetic,
            val_metric=val,
        )
        if self.task.categorical and len(y_np):
            rec.rarest_class, rec.class_entropy = class_balance(y_np, max(ds.n_classes, 1))

        # stop or propose
        stop = (
            t >= cfg.rounds
            or (cfg.target_metric is not None and self.task.reaches(metric, cfg.target_metric))
            or (cfg.budget is not None and rec.n_labelled + cfg.per_round > cfg.budget)
        )
        self.proposals.append({} if stop else self._propose(t, rec))
        self.records.append(rec)
        self.finished = stop
        if self.checkpoint_dir:
            self.save_checkpoint()
        return rec

    def _propose(self, t: int, rec: RoundRecord) -> dict:
        """Ask the strategy for round ``t + 1``'s batch, label it, note it in ``rec``; the proposal's arrays."""
        t0 = time.perf_counter()
        prop = self.strategy.propose(self.context(), self.config.per_round, self._rng(_PROPOSE, t))
        rec.sample_s = time.perf_counter() - t0
        rec.note_proposal(prop, n_failed=self.store.label(prop, t + 1, self.progress))
        for k, v in round_diagnostics(self, t).items():
            setattr(rec, k, v)
        return prop.arrays()

    step = run_round  # the name before "step" came to mean the explorer's unlabelled move; prefer run_round

    def run(self, progress_rounds: bool | None = None) -> list[RoundRecord]:
        """Run rounds until a stop condition holds; returns all records.

        Parameters
        ----------
        progress_rounds : bool, optional
            Show a bar over the rounds (default: as ``progress``).

        Returns
        -------
        list of RoundRecord
            Every round's record, the earlier ones (from a checkpoint) included.
        """
        from tqdm.auto import tqdm

        show = self.progress if progress_rounds is None else progress_rounds
        desc = f"{self.strategy.name} seed {self.seed}"
        with tqdm(total=self.config.rounds, initial=self.round, desc=desc, disable=not show, leave=False) as bar:
            while not self.finished:
                rec = self.run_round()
                bar.update(1)
                bar.set_postfix({rec.metric_name: f"{rec.metric:.2f}", "n": rec.n_labelled}, refresh=False)
        return self.records

    # ------------------------------------------------------------------ checkpoints
    def _identity(self) -> dict:
        return run_identity(self.dataset, self.strategy.name, self.seed, self.config)

    def save_checkpoint(self) -> None:
        """Write the state after the current round atomically into ``checkpoint_dir`` (:mod:`latentlab.checkpoint`)."""
        save_checkpoint(
            self.checkpoint_dir,
            identity=self._identity(),
            model=self.model,
            store=self.store,
            records=self.records,
            proposals=self.proposals,
            finished=self.finished,
        )

    def load_checkpoint(self) -> None:
        """Restore the state saved by :meth:`save_checkpoint` (after checking it is the same run)."""
        got = load_checkpoint(
            self.checkpoint_dir, identity=self._identity(), store=self.store, new_model=lambda: self._new_model(0)
        )
        self.records = [RoundRecord(**r) for r in got.records]
        self.proposals, self.model, self.finished = got.proposals, got.model, got.finished


def _oracle(dataset) -> OracleLabeler:
    if dataset.y_train is None:
        raise ConfigError(f"{dataset.name} has no known labels; pass a labeling tool (labeler=...)")
    return OracleLabeler(dataset.y_train)


def _check_fits(dataset, task, strategy, config: LoopConfig, latent) -> None:
    """Refuse a run its data set, strategy and generator cannot honour, before anything is trained."""
    if config.train.augment != "none" and not task.categorical:
        raise ConfigError(
            f"--augment {config.train.augment} transforms the inputs but not image-valued labels "
            f"({dataset.name} is a {dataset.task} task); use --augment none"
        )
    if strategy.needs_generator and latent is None:
        raise ConfigError(f"strategy {strategy.name!r} needs a trained generator; pass latent=LatentSpace(...)")
    n_pool = len(dataset.x_train)
    if config.initial > n_pool:
        raise ConfigError(f"initial set of {config.initial} is larger than the pool ({n_pool} items); lower --initial")
