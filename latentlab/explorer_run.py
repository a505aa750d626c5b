"""One explorer run, headless and without ``param``: the loop, its random baseline, the sampling
points the Step action moves, and the queue of images waiting for a person.

:class:`~latentlab.explorer_state.ExplorerState` owns the settings and turns errors into messages;
this class does the work, each piece through the engine: resources are :func:`load_resources` (a
cache over :func:`latentlab.experiment.prepare`), a round is :meth:`ActiveLoop.run_round`, a step
is the strategy's own :meth:`~latentlab.strategies.Strategy.step`, annotation is
:class:`~latentlab.annotation.AnnotationQueue`.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from .annotation import AnnotationQueue
from .exceptions import ConfigError
from .experiment import config_from_settings, labeler_for, prepare
from .generative import GeneratorConfig
from .loop import ActiveLoop, LoopConfig
from .strategies import STRATEGIES, get_strategy
from .training import TrainConfig
from .trajectory import Move, Walk, nearest_unvisited

__all__ = ["ExplorerRun", "load_resources", "shared_fingerprint", "strategy_names", "check_settings", "EXPLORER_TRAIN"]

_STEP_STREAM = 99  # stream id mixed into (seed, round, restart) for drawing start points
# Target training per round in the explorer: 150 optimiser steps train LeNet on ~50-200 digits to
# ~80-90 % in about a second on 2 cores, so a round feels interactive (the run CLI uses 300).
EXPLORER_TRAIN = TrainConfig(epochs=5, batch_size=64, lr=1e-3, min_steps=150)


_RESOURCES: dict = {}
_RESOURCES_LOCK = threading.Lock()
_FINGERPRINTS: dict = {}  # id(dataset) -> (dataset, its fingerprint)
_FINGERPRINTS_LOCK = threading.Lock()


def load_resources(
    dataset: str,
    data_root: str | None = None,
    generator_config: GeneratorConfig = GeneratorConfig(),
    gen_seed: int = 0,
    n_pool: int | None = None,
    n_test: int | None = None,
    progress: bool = False,
):
    """``(dataset, latent_space)`` of :func:`latentlab.experiment.prepare`, shared by every session.

    An in-memory cache (the last 4 settings) over ``prepare`` (the generator is frozen, the
    embeddings fixed), so a second browser tab or a reset does not load or encode the pool again.
    ``progress`` shows the generator's training bar (it is not part of the key). Thread-safe: the
    explorer loads off the event loop, and two sessions asking at once load once.
    """
    key = (dataset, data_root, generator_config, gen_seed, n_pool, n_test)
    with _RESOURCES_LOCK:
        if key not in _RESOURCES:
            cfg = dataclasses.replace(  # the data set's own target (vessels: s6), as a run would pick it
                config_from_settings(dataset=dataset),
                strategies=("snn",),
                generator=generator_config,
                gen_seed=gen_seed,
                n_pool=n_pool,
                n_test=n_test,
            )
            _RESOURCES[key] = prepare(cfg, data_root, progress=progress)
            while len(_RESOURCES) > 4:
                _RESOURCES.pop(next(iter(_RESOURCES)))
        return _RESOURCES[key]


def shared_fingerprint(data) -> str:
    """``data.fingerprint()``, hashed once for a data set every session shares (what
    :func:`load_resources` returns; its arrays are read-only by contract): a session's load no longer
    hashes the whole pool again (seconds at 10^6 images). The last 4 are kept, with the data set."""
    with _FINGERPRINTS_LOCK:
        hit = _FINGERPRINTS.get(id(data))
        if hit is None or hit[0] is not data:
            hit = _FINGERPRINTS[id(data)] = (data, data.fingerprint())
            while len(_FINGERPRINTS) > 4:
                _FINGERPRINTS.pop(next(iter(_FINGERPRINTS)))
        return hit[1]


def strategy_names() -> list[str]:
    """Registered strategies for the explorer's menu: the paper's SNN and its random baseline, the
    entropy baseline, the latent strategies beyond the paper, SI, then the rest by name."""
    preferred = [
        s
        for s in (
            "snn",
            "random",
            "entropy",
            "snn-hard",
            "uncertainty-ascent",
            "diverse-entropy",
            "latent-coreset",
            "si",
        )
        if s in STRATEGIES
    ]
    return preferred + sorted(s for s in STRATEGIES if s not in preferred)


def check_settings(settings: dict, valid) -> None:
    """Raise ConfigError naming the fix for an unknown setting, alpha <= 0, per_round < 1 or an unknown strategy."""
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid: alpha, per_round, strategy, dataset, ...")
    a = settings.get("alpha", 1.0)
    if not isinstance(a, (int, float)) or isinstance(a, bool) or not np.isfinite(a) or a <= 0:
        raise ConfigError(f"alpha must be a number > 0 (a step length in latent units, e.g. 0.2), got {a}")
    j = settings.get("per_round", 1)
    if not isinstance(j, (int, np.integer)) or isinstance(j, bool) or j < 1:
        raise ConfigError(f"per_round (the number of sampling points, J) must be an integer >= 1, got {j}")
    if settings.get("strategy", "snn") not in STRATEGIES:
        raise ConfigError(f"unknown strategy {settings['strategy']!r}; valid choices: {', '.join(strategy_names())}")


class ExplorerRun:
    """A run of ``strategy`` on ``data`` in ``latent`` (plus ``random`` when ``compare``)."""

    def __init__(
        self, data, latent, strategy: str, config: LoopConfig, seed: int, compare: bool, annotation: AnnotationQueue
    ):
        new = lambda s: ActiveLoop(
            data,
            get_strategy(s),
            config,
            seed=seed,
            latent=latent,  # noqa: E731
            labeler=labeler_for(data),
            progress=False,
        )
        self.data, self.latent, self.seed = data, latent, seed
        self.loop = new(strategy)
        self.baseline = new("random") if compare and strategy != "random" else None
        self.walk: Walk | None = None  # the sampling points and their trajectories
        self.restarts = 0
        self.picks = np.zeros(0, np.int64)  # a non-moving strategy's next picks (its last Step)
        self.last_step = None  # the strategy's last StepResult
        self.n_still = 0  # Steps that moved nothing (a fresh draw for random's next picks)
        self.annotation = annotation
        annotation.pending = []

    # ------------------------------------------------------------------ actions
    def configure(self, alpha: float, per_round: int) -> None:
        """New step length and batch size, from the next step/round; a new batch size draws new start points."""
        for lp in (self.loop, self.baseline):
            if lp is not None:
                lp.config = dataclasses.replace(lp.config, alpha=float(alpha), per_round=per_round).validate()
        if self.walk is not None and len(self.walk.items) != per_round:
            self.walk, self.restarts = None, 0

    def step(self, alpha: float, per_round: int, label: str = "start"):
        """Move the sampling points once by the loop's strategy's own rule (:meth:`Strategy.step`);
        nothing is labelled. Returns the :class:`Move` (None when the strategy does not move points:
        then :attr:`picks` holds its next picks) and F's loss at the neighbours."""
        if self.loop.model is None:
            raise ConfigError(
                "Step needs a target model F to take gradients of: press Run round first "
                "(it trains F on the initial labelled set)"
            )
        if self.walk is None:
            rng = np.random.default_rng([self.seed, _STEP_STREAM, self.loop.round, self.restarts])
            self.restarts += 1
            self.walk = Walk.draw(self.loop, per_round, rng, self.latent.embeddings)
        w, lp = self.walk, self.loop
        ctx = dataclasses.replace(lp.context(), alpha=float(alpha))
        rng = np.random.default_rng([self.seed, _STEP_STREAM, lp.round, self.restarts, w.steps, self.n_still])
        p = self.latent.embeddings[w.items].astype(np.float64)
        res = lp.strategy.step(ctx, p, rng, y=w.origin_y, items=w.items, label=label)
        self.last_step = res
        if not res.moves:  # a scoring or drawing strategy: its next picks, the points stay
            self.picks, self.n_still = res.picks, self.n_still + 1
            return None, self._item_loss(w.items, w.origin_y)
        self.picks = np.zeros(0, np.int64)
        nb, dist = nearest_unvisited(self.latent, res.p_prime, w.visited)
        m = Move(res.p, res.p_prime, res.d, res.grad_norm, res.value, nb, dist)  # the fields in order
        loss_after = self._item_loss(m.neighbour, w.origin_y)
        w.record(m, loss_after, self.latent.embeddings)
        return m, loss_after

    def run_round(self):
        """One round of the strategy (and of the baseline); the trajectories restart from the round's
        own latent step, if it made one (snn, snn-hard, uncertainty-ascent), or at the round's picks
        if it recorded their points without a move (diverse-entropy). Returns the strategy's RoundRecord."""
        if self.loop.done:
            raise ConfigError("this run is finished; press Reset to start again")
        rec = self.loop.run_round()
        if self.baseline is not None and not self.baseline.done:
            self.baseline.run_round()
        prop = self.loop.proposals[-1]
        self.walk, self.restarts, self.picks, self.last_step = None, 0, np.zeros(0, np.int64), None
        if {"p", "p_prime", "start_indices", "indices"} <= set(prop):
            start = np.asarray(prop["start_indices"])
            origin_y = self.loop.pool_labels[start]
            self.walk = Walk.from_proposal(
                prop,
                origin_y,
                self.latent.embeddings,
                self._item_loss(np.asarray(prop["indices"]), origin_y),
                loss_before=None if "loss" in prop else self._item_loss(start, origin_y),
            )
        elif "p" in prop and "indices" in prop:  # picks without a move (diverse-entropy): points at the picks
            picks = np.asarray(prop["indices"])
            self.walk = Walk.start(picks, self.loop.pool_labels[picks], self.latent.embeddings)
        return rec

    def queue_synthetic(self) -> int:
        """Queue G(p') of the last move for a person; returns how many were answered before."""
        last = self.walk.last if self.walk else None
        if last is None:
            raise ConfigError("nothing to annotate yet: press Step (or Run round) to move the points first")
        z = np.asarray(last["p_prime"], np.float64)
        return self.annotation.queue(self.loop, self.latent.decode(z), z)

    def _item_loss(self, items, origin_y) -> np.ndarray:
        y = self.loop.labels_of(items, origin_y)
        return self.loop.task.item_loss(self.loop.model, self.data.x_train[items], y)

    # ------------------------------------------------------------------ read-outs
    def curves(self) -> dict:
        """Learning curves ``{name: (n_labelled list, metric list)}`` of the strategy and the baseline."""
        return {lp.strategy.name: lp.curve() for lp in (self.loop, self.baseline) if lp is not None and lp.records}

    def readout(self) -> dict:
        """``round``, ``n_labelled``, ``metric`` (None before a round), ``metric_name``, ``steps``, ``per_round``
        (sampling points now)."""
        rec = self.loop.records[-1] if self.loop.records else None
        return {
            "round": self.loop.round,
            "n_labelled": self.loop.n_labelled,
            "metric": None if rec is None else rec.metric,
            "metric_name": self.loop.task.metric_name,
            "steps": self.walk.steps if self.walk else 0,
            "per_round": len(self.walk.items) if self.walk else 0,
        }
