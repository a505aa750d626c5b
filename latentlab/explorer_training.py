"""The explorer's first load off the event loop, with the latent space drawn while its generator trains.

:class:`GeneratorTraining` runs :func:`latentlab.explorer_run.load_resources` (data set, generator,
encoded and indexed pool) on a worker thread inside :func:`latentlab.generative.watching`, so every
epoch of a generator that must be trained (no cache entry and no shipped weights: ``--retrain-generator``,
``LATENTLAB_SHIPPED_WEIGHTS=0``, cifar10, vessels, your own data) leaves a
:class:`~latentlab.generative.LatentSnapshot` here: the codes of ``watch`` seeded pool items, which a
view (``widgets/training_view.py``) draws coloured by class with a bar (epoch i of n, loss). When the
thread ends, the resources sit in ``load_resources``' shared cache, so
:meth:`latentlab.explorer_state.ExplorerState.load` returns at once, with the same generator (same
seed, same weights) as a load that watched nothing.

A failed load (missing files, a bad setting) ends the job with :attr:`GeneratorTraining.error`: the
reason and its fix, never a traceback. Jobs are shared per load key (:meth:`GeneratorTraining.shared`):
a server's warm-up and every browser session watch the same training. No Panel or Bokeh here.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from .exceptions import LatentLabError
from .generative import GeneratorConfig, LatentSnapshot, watching

__all__ = ["GeneratorTraining", "TrainingProgress"]

log = logging.getLogger(__name__)

_JOBS: dict = {}
_JOBS_LOCK = threading.Lock()


@dataclass(frozen=True)
class TrainingProgress:
    """Where a load stands, for a bar and a line of text.

    Attributes
    ----------
    phase : {"data", "training", "encoding", "ready", "error"}
        Loading the data set; training the generator; encoding and indexing the pool; done; failed.
    epoch, n_epochs : float
        Epochs done and in all (0 before training; n_epochs 0 when nothing trains).
    loss : float or None
        Mean training loss of the last epoch.
    fraction : float
        Of the bar, in [0, 1].
    text : str
        One line: what runs now (``epoch 3 of 30 · loss 41.2 · 12 s``).
    """

    phase: str
    epoch: float
    n_epochs: float
    loss: float | None
    fraction: float
    text: str


class GeneratorTraining:
    """The explorer's resources loaded on a worker thread, its latent space watched while it trains.

    Parameters
    ----------
    dataset, data_root, generator_config, n_pool, n_test, gen_seed
        As :func:`latentlab.explorer_run.load_resources` (the key of its shared cache; the rest by name).
    retrain : bool, default False
        Train the generator afresh even when the cache or the shipped weights have it.
    watch : int or None, default 2000
        Pool items drawn in each snapshot (None = all).
    progress : bool, default False
        Also show the training's tqdm bar (a terminal).
    """

    def __init__(
        self,
        dataset: str,
        data_root: str | None = None,
        *,
        generator_config: GeneratorConfig = GeneratorConfig(),
        n_pool: int | None = None,
        n_test: int | None = None,
        gen_seed: int = 0,
        retrain: bool = False,
        watch: int | None = 2000,
        progress: bool = False,
    ):
        self.key = (dataset, data_root, generator_config, gen_seed, n_pool, n_test)
        self.retrain, self.watch, self.progress = bool(retrain), watch, bool(progress)
        self.snapshots: list[LatentSnapshot] = []
        self.labels: np.ndarray | None = None  # class (int) or label peak (float) of every pool item
        self.categorical = False
        self.classes: tuple = ()
        self.error = ""
        self.resources: Any = None
        self.trained = False  # a generator was trained (not taken from the cache or the shipped weights)
        self.phase = "data"
        self.started = self.finished = None
        self.first_snapshot_s: float | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    @classmethod
    def for_state(cls, state, **kwargs: Any) -> "GeneratorTraining":
        """A job for an :class:`~latentlab.explorer_state.ExplorerState`'s data settings (its load key)."""
        kw = dict(generator_config=state.generator_config, n_pool=state.n_pool, n_test=state.n_test)
        return cls(state.dataset, state.data_root, **kw, **kwargs)

    @classmethod
    def shared(cls, state=None, **kwargs: Any) -> "GeneratorTraining":
        """The job of this load key, started: the running or finished one when there is one (a failed
        one is started again), else a new one. ``state``: an ExplorerState (its data settings);
        ``kwargs``: as the constructor (the key's fields by name, or ``retrain``, ``watch``, ``progress``)."""
        job = cls.for_state(state, **kwargs) if state is not None else cls(**kwargs)
        with _JOBS_LOCK:
            old = _JOBS.get(job.key)
            if old is not None and not old.error:
                return old
            _JOBS[job.key] = job
            while len(_JOBS) > 8:
                _JOBS.pop(next(iter(_JOBS)))
        return job.start()

    # ------------------------------------------------------------------ running
    def start(self) -> "GeneratorTraining":
        """Run the load on a daemon thread (once); returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="latentlab-generator", daemon=True)
            self._thread.start()
        return self

    def run(self) -> "GeneratorTraining":
        """Run the load on this thread (what :meth:`start`'s thread runs); never raises."""
        from .explorer_run import load_resources

        self.started = time.perf_counter()
        try:
            with watching(self._on_epoch, watch=self.watch, retrain=self.retrain, on_train=self._on_train):
                self.resources = load_resources(*self.key, progress=self.progress)
            self.phase = "ready"
        except (LatentLabError, ValueError, TypeError, OSError) as e:  # bad input: its message names the fix
            self.error, self.phase = str(e), "error"
        except Exception as e:  # noqa: BLE001 - a worker thread's boundary: report, log, never a dead page
            log.error("loading the explorer failed:\n%s", traceback.format_exc())
            self.error, self.phase = f"internal error ({type(e).__name__}: {e}); see the server log", "error"
        finally:
            self.finished = time.perf_counter()
            self._done.set()
        return self

    def _on_train(self, dataset, config) -> None:
        self.trained, self.phase = True, "training"
        y = dataset.y_train
        self.categorical = dataset.task == "classification" and y is not None
        self.classes = tuple(dataset.classes) if self.categorical else ()
        if self.categorical:
            self.labels = np.asarray(y, np.int64)
        elif y is not None:  # regression: the peak of each label (e.g. the vessels' max wall stress)
            self.labels = np.asarray(y).reshape(len(y), -1).max(1).astype(np.float64)

    def _on_epoch(self, snap: LatentSnapshot) -> None:
        if self.first_snapshot_s is None:
            self.first_snapshot_s = time.perf_counter() - self.started
        self.snapshots.append(snap)
        if snap.n_epochs and snap.epoch >= snap.n_epochs:
            self.phase = "encoding"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the load ends (or ``timeout`` s); whether it ended."""
        return self._done.wait(timeout)

    # ------------------------------------------------------------------ read-outs
    @property
    def done(self) -> bool:
        """Whether the load has ended (well or not: see :attr:`error`)."""
        return self._done.is_set()

    @property
    def latest(self) -> LatentSnapshot | None:
        """The newest snapshot (None before the first)."""
        return self.snapshots[-1] if self.snapshots else None

    def snapshot_labels(self, snap: LatentSnapshot) -> np.ndarray | None:
        """Class (or label peak) of each item of ``snap``, None when the data has no labels."""
        return None if self.labels is None else self.labels[snap.indices]

    def status(self) -> TrainingProgress:
        """What runs now, as a bar and a line (:class:`TrainingProgress`)."""
        snap = self.latest
        took = 0.0 if self.started is None else (self.finished or time.perf_counter()) - self.started
        epoch = snap.epoch if snap else 0.0
        n = snap.n_epochs if snap else 0.0
        loss = snap.loss if snap else None
        name = self.key[0]
        if self.phase == "error":
            return TrainingProgress("error", epoch, n, loss, 0.0, f"{name} could not load: {self.error}")
        if self.phase == "ready":
            return TrainingProgress("ready", epoch, n, loss, 1.0, f"{name} ready ({took:.0f} s)")
        if self.phase == "data":
            return TrainingProgress("data", 0.0, 0.0, None, 0.0, f"loading {name} and its generator… {took:.0f} s")
        frac = min(epoch / n, 1.0) if n else 0.0
        if self.phase == "encoding":
            text = f"generator trained ({n:.4g} epochs); encoding and indexing the pool… {took:.0f} s"
            return TrainingProgress("encoding", epoch, n, loss, 1.0, text)
        lo = "" if loss is None else f" · loss {loss:.4g}"
        text = f"training the generator of {name}: epoch {epoch:.4g} of {n:.4g}{lo} · {took:.0f} s"
        return TrainingProgress("training", epoch, n, loss, frac, text)
