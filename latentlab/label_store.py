"""The label books of one run: which pool items are labelled (and when), their labels, the
labelled synthesized items, and the train set built from them (the idea of baal's
``ActiveLearningDataset``: one owner of the labelled/unlabelled split).

:class:`LabelStore` is the only place that changes them; :class:`~latentlab.loop.ActiveLoop` asks it
to label a :class:`~latentlab.strategies.Proposal` and to hand out the train set, and the explorer's
annotations arrive through :meth:`LabelStore.add_synthetic`.
"""

from __future__ import annotations

import numpy as np

from .labeling import Labeler
from .pool import PoolState

__all__ = ["LabelStore"]


class LabelStore:
    """Pool state, pool labels, synthesized items and the train set of one run.

    Parameters
    ----------
    x_pool : ndarray, shape (N, ...)
        The pool's inputs.
    labeler : Labeler
        Where labels come from. The oracle knows every pool label in advance
        (``labeler.known_labels``); a tool's labels fill in as items are labelled.

    Attributes
    ----------
    pool : PoolState                 the round each pool item was labelled in (-1: unlabelled)
    pool_labels : ndarray or None    labels of pool items (all, for the oracle; labelled ones for a tool)
    synthetic : dict or None         ``{"x", "y", "z", "round"}`` arrays of labelled synthesized items
    """

    def __init__(self, x_pool: np.ndarray, labeler: Labeler):
        self.x_pool = x_pool
        self.labeler = labeler
        self.pool_labels = labeler.known_labels
        self.synthetic: dict | None = None
        self.pool = PoolState.empty(len(x_pool))

    @property
    def n_labelled(self) -> int:
        """Pool items plus synthesized items labelled so far."""
        return self.pool.n_labelled + (len(self.synthetic["round"]) if self.synthetic else 0)

    @property
    def n_synthetic(self) -> int:
        return len(self.synthetic["round"]) if self.synthetic else 0

    def labelled(self, upto_round: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pool items labelled so far (or before round ``upto_round``) and the round that labelled each."""
        idx = self.pool.labelled_indices() if upto_round is None else self.pool.labelled_indices(upto_round=upto_round)
        return idx, self.pool.labelled_round[idx]

    def labels_of(self, items: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """Labels of pool ``items`` where they are known (all, for the oracle; labelled ones for a
        tool), ``fallback`` elsewhere."""
        y = np.array(fallback, copy=True)
        if self.pool_labels is not None:
            m = np.ones(len(items), bool) if self.labeler.known_labels is not None else self.pool.labelled_mask[items]
            y[m] = self.pool_labels[items][m]
        return y

    def train_set(self):
        """``(x, y)`` arrays of everything labelled so far: pool items, then synthesized items."""
        idx = self.pool.labelled_indices()
        x, y = self.x_pool[idx], (self.pool_labels[idx] if idx.size else None)
        if self.synthetic:
            x = np.concatenate([x, self.synthetic["x"]]) if idx.size else self.synthetic["x"]
            y = np.concatenate([y, self.synthetic["y"]]) if idx.size else self.synthetic["y"]
        return x, y

    def add_synthetic(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, round_: int) -> None:
        """Add labelled synthesized inputs (``x``, labels ``y``, latent points ``z``) counting for ``round_``."""
        new = {"x": x, "y": np.asarray(y), "z": np.asarray(z), "round": np.full(len(x), round_, np.int64)}
        self.synthetic = (
            new if self.synthetic is None else {k: np.concatenate([self.synthetic[k], new[k]]) for k in new}
        )

    def label(self, prop, round_: int, progress: bool = False) -> int:
        """Label a proposal and add what got labels to the train set; returns how many items failed.

        A proposal may carry pool items, synthesized inputs, or both (a mix of real and synthesized)."""
        n_failed = 0
        if prop.x_new is not None:
            res = self.labeler.label(prop.x_new, progress=progress)
            self.add_synthetic(prop.x_new[res.ok], res.y, np.asarray(prop.z_new)[res.ok], round_)
            n_failed += res.n_failed
        if prop.x_new is None or len(prop.indices):
            n_failed += self.label_pool(np.asarray(prop.indices, np.int64), round_, progress)
        return n_failed

    def label_pool(self, idx: np.ndarray, round_: int, progress: bool = False) -> int:
        """Label pool items ``idx``; returns how many failed."""
        res = self.labeler.label(self.x_pool[idx], indices=idx, progress=progress)
        ok = idx[res.ok]
        if self.labeler.known_labels is None and ok.size:
            y = np.asarray(res.y)
            if self.pool_labels is None:
                self.pool_labels = np.zeros((self.pool.n_pool, *y.shape[1:]), y.dtype)
            self.pool_labels[ok] = y
        self.pool = self.pool.label(ok, round_)
        return res.n_failed

    # ------------------------------------------------------------------ checkpoint arrays
    def arrays(self) -> dict:
        """The books as named arrays (what a checkpoint stores): the pool state, a tool's labels of
        labelled items, the synthesized items."""
        out = {"labelled_round": self.pool.labelled_round}
        if self.labeler.known_labels is None and self.pool_labels is not None:
            lab = self.pool.labelled_indices()
            out["pool_label_idx"], out["pool_label_val"] = lab, self.pool_labels[lab]
        for k, v in (self.synthetic or {}).items():
            out[f"synthetic/{k}"] = v
        return out

    def restore(self, z) -> None:
        """Restore the books from :meth:`arrays` (an open ``.npz`` or a dict of arrays)."""
        files = list(z.files) if hasattr(z, "files") else list(z)
        self.pool = PoolState(z["labelled_round"])
        if "pool_label_idx" in files:
            val = z["pool_label_val"]
            self.pool_labels = np.zeros((self.pool.n_pool, *val.shape[1:]), val.dtype)
            self.pool_labels[z["pool_label_idx"]] = val
        syn = {k.split("/", 1)[1]: z[k] for k in files if k.startswith("synthetic/")}
        self.synthetic = syn or None
