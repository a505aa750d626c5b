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

__all__ = ["LabelResult", "Labeler", "OracleLabeler", "LabelCache", "content_key", "ToolLabeler", "FEMLabeler",
           "LABELERS", "register_labeler", "make_labeler", "fem_label"]


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
        raise ConfigError(f"labeler {self.name!r} labels pool items only; sampling by interpolation (si) "
                          "needs a labeling tool that annotates synthesized inputs (e.g. the FEM solver)")


class OracleLabeler(Labeler):
    """Reveals the known labels of pool items (the simulated annotator of benchmark data sets)."""

    name = "oracle"

    def __init__(self, y_pool: np.ndarray):
        self.y_pool = y_pool

    def label(self, x, *, indices=None, progress=False) -> LabelResult:
        if indices is None:
            raise ConfigError("the dataset oracle labels pool items only (it needs their indices); synthesized "
                              "inputs need a labeling tool such as the FEM solver")
        idx = np.asarray(indices, np.int64)
        return LabelResult(y=self.y_pool[idx], ok=np.ones(len(idx), bool))


# ---------------------------------------------------------------------------------------------
# tools: a picklable function x -> y, run over processes or a Dask cluster, cached per label
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
    out_shape : tuple, optional
        Shape of one label (for an all-failed batch); default = the shape of one input.
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

    # -- the three executors share one contract: yield (position, (ok, y, reason)) as items finish
    def _sequential(self, items):
        for i, xi in items:
            yield i, _label_one(self.fn, xi)

    def _processes(self, items):
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(self.workers, len(items))) as ex:
            futs = {ex.submit(_label_one, self.fn, xi): i for i, xi in items}
            for f in as_completed(futs):
                yield futs[f], f.result()

    def _dask(self, items):
        from distributed import Client, as_completed

        client = Client(self.client) if isinstance(self.client, str) else self.client
        try:
            futs = client.map(_label_one, [self.fn] * len(items), [xi for _, xi in items], pure=False)
            pos = {f.key: i for f, (i, _) in zip(futs, items)}
            for f in as_completed(futs):
                yield pos[f.key], f.result()
        finally:
            if isinstance(self.client, str):
                client.close()

    def label(self, x, *, indices=None, progress=False) -> LabelResult:
        """Label a batch ``x`` of shape (n, ...); cached labels are reused, the rest run in parallel.

        Returns a :class:`LabelResult`; ``errors`` maps batch positions to the reason.
        """
        from tqdm.auto import tqdm

        x = np.asarray(x)
        n = len(x)
        keys = [content_key(xi) for xi in x]
        ys: list = [None] * n
        errors: dict = {}
        pending: dict = {}  # key -> batch positions waiting for it
        for i, k in enumerate(keys):
            y = self.cache.load(k) if self.cache is not None else None
            if y is not None:
                ys[i] = y
            else:
                pending.setdefault(k, []).append(i)
        items = [(pos[0], x[pos[0]]) for pos in pending.values()]
        if items:
            run = (self._dask if self.client is not None
                   else self._processes if self.workers > 1 and len(items) > 1 else self._sequential)
            with tqdm(total=len(items), desc=f"{self.name} labels", disable=not progress, leave=False) as bar:
                for i, (ok, y, reason) in run(items):
                    self.n_calls += 1
                    for j in pending[keys[i]]:
                        if ok:
                            ys[j] = y
                        else:
                            errors[j] = reason
                    if ok and self.cache is not None:
                        self.cache.save(keys[i], y)  # as it arrives: a crash loses nothing solved
                    bar.update(1)
        ok = np.array([v is not None for v in ys], bool)
        shape = self.out_shape if self.out_shape is not None else x.shape[1:]
        y = np.stack([ys[i] for i in np.flatnonzero(ok)]) if ok.any() else np.zeros((0, *shape), np.float32)
        return LabelResult(y=y, ok=ok, errors=dict(sorted(errors.items())))


def fem_label(x, *, scale_kpa: float, solver=None, **solver_kwargs) -> np.ndarray:
    """FEM label of one data-set item: stress map / ``scale_kpa``, clipped to [0, 1], float32.

    Parameters
    ----------
    x : ndarray, shape (1, H, W) or (H, W)
        Wall mask with values 0/1 (as the ``vessels`` data set stores it: float32).
    scale_kpa : float
        Normalising stress (see :data:`latentlab.vessels.STRESS_SCALE_KPA`).
    solver : callable, optional
        ``solver(mask, **solver_kwargs) -> stress (H, W) kPa``; default :func:`latentlab.fem.stress_map`.

    Returns
    -------
    ndarray, same shape as ``x``, float32 in [0, 1]
    """
    if solver is None:
        from .vessels.fem import stress_map as solver
    a = np.asarray(x)
    mask = a[0] if a.ndim == 3 and a.shape[0] == 1 else a
    s = np.asarray(solver(mask, **solver_kwargs), dtype=np.float64) / scale_kpa
    return np.clip(s, 0.0, 1.0).astype(np.float32).reshape(a.shape)


class FEMLabeler(ToolLabeler):
    """The finite-element wall-stress solver as a labeling tool (normalised stress maps).

    ``label`` returns ``clip(stress_map(mask) / scale_kpa, 0, 1)`` per mask (float32, shape
    of the input); :meth:`prepare` turns decoded generator outputs into valid masks
    (:func:`latentlab.vessels.postprocess_masks`: threshold, keep the wall ring, fill holes,
    reject what is not one ring). The cache folder is keyed by the solver settings, so
    changing a setting never returns labels of another.

    Parameters
    ----------
    scale_kpa : float, optional
        Default :data:`latentlab.vessels.STRESS_SCALE_KPA`.
    threshold : float, default 0.5
        Wall threshold of :meth:`prepare`.
    cache_dir : path or "default" or None
        ``"default"``: ``<LATENTLAB_CACHE>/labels/fem-<settings hash>``; None: no cache.
    workers, client : see :class:`ToolLabeler`.
    solver : callable, optional
        Replaces :func:`latentlab.fem.stress_map` (tests use a fast fake); it is part of the key.
    **solver_kwargs
        Passed to the solver (``pressure_kpa``, ``refine``, ``smooth_passes``, ...).
    """

    name = "fem"
    can_label_synthetic = True

    def __init__(self, *, scale_kpa: float | None = None, threshold: float = 0.5, cache_dir="default",
                 workers: int = 1, client=None, solver=None, **solver_kwargs):
        import functools
        import hashlib
        import json

        from .exceptions import ConfigError

        if scale_kpa is None:
            from .vessels import STRESS_SCALE_KPA as scale_kpa
        if not (np.isfinite(scale_kpa) and scale_kpa > 0):
            raise ConfigError(f"scale_kpa must be a positive number of kPa, got {scale_kpa!r}")
        self.scale_kpa = float(scale_kpa)
        self.threshold = float(threshold)
        self.solver_kwargs = dict(solver_kwargs)
        fn = functools.partial(fem_label, scale_kpa=self.scale_kpa, solver=solver, **solver_kwargs)
        if cache_dir == "default":
            from .storage import cache_dir as _root

            settings = {"scale_kpa": self.scale_kpa, "solver": getattr(solver, "__qualname__", "stress_map"),
                        "module": getattr(solver, "__module__", "latentlab.fem"), **self.solver_kwargs}
            key = hashlib.sha1(json.dumps(settings, sort_keys=True, default=repr).encode()).hexdigest()[:12]
            cache_dir = _root() / "labels" / f"fem-{key}"
        super().__init__(fn, cache_dir=cache_dir, workers=workers, client=client)

    def prepare(self, x):
        """Decoded images (n, 1, H, W) in [0, 1] -> ``(masks, accepted)``: valid masks (m, 1, H, W)
        float32 of the accepted items and a bool mask (n,) over ``x``."""
        from .vessels import postprocess_masks

        masks, acc = postprocess_masks(x, self.threshold)
        return masks[acc][:, None].astype(np.float32), acc


# ---------------------------------------------------------------------------------------------
# registry: datasets name their labeler (dataset.meta["labeler"])
# ---------------------------------------------------------------------------------------------
LABELERS = Registry("labeler")  # name -> builder(dataset, **kwargs) -> Labeler


def register_labeler(name: str):
    """Decorator: register ``builder(dataset, **kwargs) -> Labeler`` under ``name``."""
    return LABELERS.register(name)


@register_labeler("oracle")
def _oracle(dataset, **kwargs):
    if dataset.y_train is None:
        raise ConfigError(f"{dataset.name} has no known labels, so the oracle cannot label it; "
                          "use its labeling tool (dataset.meta['labeler'])")
    return OracleLabeler(dataset.y_train)


@register_labeler("fem")
def _fem(dataset=None, **kwargs):
    """FEM labeler; workers from ``$LATENTLAB_LABEL_WORKERS`` (default 1), Dask from
    ``$LATENTLAB_DASK_SCHEDULER`` (a scheduler address) unless given."""
    import os

    kw = dict(dataset.meta.get("labeler_kwargs", {})) if dataset is not None else {}
    kw.setdefault("workers", int(os.environ.get("LATENTLAB_LABEL_WORKERS", "1")))
    if os.environ.get("LATENTLAB_DASK_SCHEDULER"):
        kw.setdefault("client", os.environ["LATENTLAB_DASK_SCHEDULER"])
    kw.update(kwargs)
    return FEMLabeler(**kw)


def make_labeler(name: str, dataset=None, **kwargs) -> Labeler:
    """The labeler registered as ``name`` for ``dataset`` (``"oracle"``, ``"fem"``, ...);
    an unknown name lists the valid ones."""
    return LABELERS.resolve(name)(dataset, **kwargs)
