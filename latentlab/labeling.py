"""Labeling tools behind one interface: a batch of inputs in, labels out, failures per item.

Every source of labels is a :class:`Labeler`: the dataset oracle that reveals a benchmark's
known labels, an external tool such as the finite-element wall-stress solver, or a person in
the annotation widget. The loop only ever calls :meth:`Labeler.label`, so a strategy that works
with one works with all.

A labeler that can annotate arbitrary inputs (``can_label_synthetic = True``) also implements
:meth:`Labeler.prepare`, which turns decoded generator outputs into valid inputs or rejects them;
sampling by interpolation (SI) needs such a labeler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .exceptions import ConfigError
from .registry import Registry
from .storage import LabelCache, content_key

__all__ = ["LabelResult", "Labeler", "OracleLabeler", "ToolLabeler", "LABELERS", "register_labeler", "make_labeler"]


@dataclass
class LabelResult:
    """Labels of a batch.

    Attributes
    ----------
    y : ndarray, shape (n_ok, ...)      labels of the items that succeeded, in batch order
    ok : ndarray of bool, shape (n,)    which batch items got a label
    errors : dict {batch position: reason}
        One entry per failed item; a failure never drops the rest of the batch.
    """

    y: np.ndarray
    ok: np.ndarray
    errors: dict = field(default_factory=dict)

    @property
    def n_failed(self) -> int:
        return int((~self.ok).sum())


class Labeler:
    """Base class of labeling tools."""

    name = "labeler"
    can_label_synthetic = False  # True when label() accepts inputs that are not pool items
    known_labels = None  # labels of every pool item when known in advance (the oracle), else None

    def label(self, x: np.ndarray, *, indices: np.ndarray | None = None, progress: bool = False) -> LabelResult:
        """Label a batch.

        Parameters
        ----------
        x : ndarray, shape (n, ...)
            The inputs (images, masks).
        indices : ndarray of int, shape (n,), optional
            Pool positions of the inputs, when they are pool items (the oracle needs them).
        progress : bool
            Show a progress bar for slow tools.
        """
        raise NotImplementedError

    def prepare(self, x: np.ndarray):
        """Turn generator outputs into valid inputs: returns ``(x_valid, accepted)`` with
        ``x_valid`` holding only accepted items and ``accepted`` a bool mask over ``x``."""
        raise ConfigError(
            f"labeler {self.name!r} labels pool items only; sampling by interpolation (si) "
            "needs a labeling tool that annotates synthesized inputs (e.g. the FEM solver)"
        )


class OracleLabeler(Labeler):
    """Reveals the known labels of pool items (the simulated annotator of benchmark data sets)."""

    name = "oracle"

    def __init__(self, y_pool: np.ndarray):
        self.y_pool = y_pool

    @property
    def known_labels(self) -> np.ndarray:
        return self.y_pool

    def label(self, x, *, indices=None, progress=False) -> LabelResult:
        if indices is None:
            raise ConfigError(
                "the dataset oracle labels pool items only (it needs their indices); synthesized "
                "inputs need a labeling tool such as the FEM solver"
            )
        idx = np.asarray(indices, np.int64)
        return LabelResult(y=self.y_pool[idx], ok=np.ones(len(idx), bool))


# ---------------------------------------------------------------------------------------------
# tools: a picklable function x -> y, run over processes or a Dask cluster (executor.py), cached per label
# ---------------------------------------------------------------------------------------------
def _label_one(fn, x):
    """Run ``fn`` on one input in a worker; returns ``(ok, y or None, reason or None)``.

    Any exception of the tool becomes a per-item failure with its type and message (a long batch
    never dies because one input is bad); only the caller decides what a failure means.
    """
    from .exceptions import LabelingError

    try:
        y = np.asarray(fn(x))
    except LabelingError as e:
        return False, None, str(e)
    except Exception as e:  # noqa: BLE001 - a tool bug on one item must not drop the batch
        return False, None, f"{type(e).__name__}: {e}"
    if not np.all(np.isfinite(y)):
        return False, None, "the tool returned non-finite values"
    return True, y, None


class ToolLabeler(Labeler):
    """A labeling tool given as a picklable function ``fn(x_item) -> y_item``.

    Labels are cached on disk by the content hash of the input (:class:`LabelCache`), written
    as each label arrives: a crash loses nothing already labelled, and a rerun (or a duplicate
    input in one batch) never runs the tool twice on the same input.

    Parameters
    ----------
    fn : callable
        ``fn(x_item) -> ndarray``; module-level function or ``functools.partial`` of one (it is
        pickled to worker processes). Raise :class:`~latentlab.exceptions.LabelingError` with
        the reason for an input it cannot label.
    cache_dir : path, optional
        Folder of this tool's :class:`LabelCache`; ``None`` = no cache. Use one folder per
        tool *and settings* (different settings give different labels).
    workers : int, default 1
        Processes (``concurrent.futures.ProcessPoolExecutor``); 1 = in this process.
    client : dask.distributed.Client or str, optional
        A Dask client, or a scheduler address (``"tcp://host:8786"``) to connect to; takes
        precedence over ``workers``.
    out_shape : tuple or "input", optional
        Shape of one label: cached labels of another shape are refused (labelled again), and an
        all-failed batch gets it. ``"input"`` = the shape of one input; None = not checked.
    """

    name = "tool"
    can_label_synthetic = True

    def __init__(self, fn, *, cache_dir=None, workers: int = 1, client=None, out_shape=None):
        from .exceptions import ConfigError

        if not callable(fn):
            raise ConfigError(f"fn must be a callable x -> y, got {fn!r}")
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        self.fn = fn
        self.cache = LabelCache(cache_dir) if cache_dir is not None else None
        self.workers = int(workers)
        self.client = client
        self.out_shape = out_shape
        self.n_calls = 0  # inputs the tool actually ran on (cache hits excluded)

    def label(self, x, *, indices=None, progress=False) -> LabelResult:
        """Label a batch ``x`` of shape (n, ...); cached labels are reused, the rest run in parallel.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs, shape (n, ...).
        indices : numpy.ndarray, optional
            Their pool indices (unused: a tool labels by content).
        progress : bool, default False
            Show a progress bar over the tool's calls.

        Returns
        -------
        LabelResult
            The labels; ``errors`` maps batch positions to the reason.
        """
        from .executor import as_finished

        x = np.asarray(x)
        n = len(x)
        keys = [content_key(xi) for xi in x]
        ys: list = [None] * n
        errors: dict = {}
        pending: dict = {}  # key -> batch positions waiting for it
        expected = x.shape[1:] if isinstance(self.out_shape, str) else self.out_shape
        for i, k in enumerate(keys):  # a cached label is checked on every read: checksum, finite, shape
            y = self.cache.load(k, shape=expected) if self.cache is not None else None
            if y is not None:
                ys[i] = y
            else:
                pending.setdefault(k, []).append(i)
        items = [(pos[0], x[pos[0]]) for pos in pending.values()]
        if items:  # one executor for every fan-out: this process, local processes (forked) or Dask
            procs = min(self.workers, len(items)) if self.workers > 1 and len(items) > 1 else 0
            jobs = [(self.fn, xi) for _, xi in items]
            bar = dict(progress=progress, desc=f"{self.name} labels", leave=False)
            for k, (ok, y, reason) in as_finished(
                _label_one, jobs, processes=procs, client=self.client, spawn=False, **bar
            ):
                i = items[k][0]
                self.n_calls += 1
                for j in pending[keys[i]]:
                    if ok:
                        ys[j] = y
                    else:
                        errors[j] = reason
                if ok and self.cache is not None:
                    self.cache.save(keys[i], y)  # as it arrives: a crash loses nothing solved
        ok = np.array([v is not None for v in ys], bool)
        shape = expected if expected is not None else x.shape[1:]
        y = np.stack([ys[i] for i in np.flatnonzero(ok)]) if ok.any() else np.zeros((0, *shape), np.float32)
        return LabelResult(y=y, ok=ok, errors=dict(sorted(errors.items())))


# ---------------------------------------------------------------------------------------------
# registry: datasets name their labeler (Dataset.labeler); the vessel wing registers "fem"
# ---------------------------------------------------------------------------------------------
LABELERS = Registry("labeler")  # name -> builder(dataset, **kwargs) -> Labeler


def register_labeler(name: str, *, replace: bool = False):
    """Decorator: register ``builder(dataset, **kwargs) -> Labeler`` under ``name`` (a data set names
    it in ``Dataset.labeler``); a taken name is refused unless ``replace=True``."""
    return LABELERS.register(name, replace=replace)


@register_labeler("oracle")
def _oracle(dataset, **kwargs):
    if dataset.y_train is None:
        raise ConfigError(
            f"{dataset.name} has no known labels, so the oracle cannot label it; "
            "use its labeling tool (Dataset.labeler)"
        )
    return OracleLabeler(dataset.y_train)


def make_labeler(name: str, dataset=None, **kwargs) -> Labeler:
    """The labeler registered as ``name`` for ``dataset``; an unknown name lists the valid ones.

    Parameters
    ----------
    name : str
        A registered labeler (``"oracle"``, ``"fem"``, ...).
    dataset : Dataset, optional
        The data set it labels for (the oracle reveals its ``y_train``).
    **kwargs
        Passed to the labeler's builder.

    Returns
    -------
    Labeler
        The labeler.
    """
    return LABELERS.resolve(name)(dataset, **kwargs)
