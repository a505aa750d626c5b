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

__all__ = ["LabelResult", "Labeler", "OracleLabeler", "LabelCache", "content_key"]


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


def content_key(x: np.ndarray) -> str:
    """Content hash of one input (dtype, shape and bytes): the key of the label cache."""
    import hashlib

    a = np.ascontiguousarray(x)
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:32]


class LabelCache:
    """On-disk store of labels keyed by the content hash of their input, written as each label arrives.

    One ``<key>.npy`` file per label, written to a temporary name and renamed (atomic), so a crash
    loses nothing already labelled and a rerun never labels the same input twice. ``.npy`` is read
    with ``allow_pickle=False``: nothing executable is ever loaded from the cache.

    Parameters
    ----------
    folder : path
        Cache folder (created on first write). Different tools or settings need different folders
        (e.g. ``<cache>/labels/fem-<settings hash>``).
    """

    def __init__(self, folder):
        from pathlib import Path

        self.folder = Path(folder)

    def path(self, key: str):
        return self.folder / f"{key}.npy"

    def get(self, x: np.ndarray):
        """The cached label of input ``x``, or ``None``."""
        p = self.path(content_key(x))
        if not p.exists():
            return None
        return np.load(p, allow_pickle=False)

    def put(self, x: np.ndarray, y: np.ndarray) -> None:
        import os

        self.folder.mkdir(parents=True, exist_ok=True)
        p = self.path(content_key(x))
        tmp = p.with_name(p.name + f".{os.getpid()}.tmp.npy")
        np.save(tmp, np.asarray(y), allow_pickle=False)
        os.replace(tmp, p)

    def __contains__(self, x) -> bool:
        return self.path(content_key(x)).exists()

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.npy"))) if self.folder.exists() else 0
