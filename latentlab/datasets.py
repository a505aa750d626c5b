"""Data sets behind one registry: ``load_dataset(name, root=...)``.

Every loader returns a :class:`Dataset` with images as ``float32`` arrays of shape
``(n, channels, height, width)`` scaled to ``[0, 1]`` and integer labels. Files are read in place
(never copied); a missing file raises :class:`~latentlab.exceptions.DatasetNotFoundError` naming the
file, the folders that were searched and how to get it (the torchvision pattern).

Registered names: ``digits`` (scikit-learn's 8x8 set, embedded, no file needed), ``mnist``
(gzipped or raw IDX files), ``cifar10`` (official "python version" batches, or the JPEG
image-folder layout as a tree or a ``.tar.gz``). More loaders register with :func:`register_dataset`.

Files from outside are checked before they are decoded, and anything a loader cannot honour is
one :class:`~latentlab.exceptions.DatasetError` line naming the file and the fix: IDX headers must
agree with the file's size (and declare at most :data:`MAX_IDX_BYTES`); CIFAR-10 batches must hold
uint8 rows of 32x32x3 and labels 0..9; a JPEG image folder (tree or tar) must hold only the
documented layout ``[cifar10-jpeg/]{train,test}/<class>/*.jpg`` - no absolute names, no ``..``, no
links or devices - with each image's size read from its header (32x32, before any pixel is
decoded) and bounds on each file (:data:`MAX_IMAGE_FILE_BYTES`), on all files together
(:data:`MAX_ARCHIVE_BYTES`) and on the decoded arrays (:data:`MAX_DECODED_BYTES`).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import math
import os
import pickle
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from .exceptions import ConfigError, DatasetError, DatasetNotFoundError, ResumeError
from .registry import Registry
from .storage import atomic_path, cache_dir, check_cache_writable, sidecar, verify_file, write_sidecar

__all__ = [
    "Dataset",
    "DATASETS",
    "register_dataset",
    "load_dataset",
    "read_idx",
    "default_data_root",
    "stratified_indices",
    "class_histogram",
]


def stratified_indices(y: np.ndarray | None, n: int, rng: np.random.Generator, stratify: bool = True) -> np.ndarray:
    """Sorted indices of a seeded random ``n``-subset of ``range(len(y))``.

    With class labels (``stratify`` and ``y`` an integer vector) the subset is stratified: each
    class gets ``n * count / len(y)`` items rounded by largest remainder (ties broken at random), so
    every class count is within 1 of proportional, whatever order the items are stored in. Without
    labels (``y`` None, regression targets, or ``stratify=False``) it is a plain seeded random draw.

    Written by hand rather than with ``sklearn.model_selection.train_test_split(stratify=...)``,
    which refuses classes with a single member and subsets smaller than the number of classes.
    """
    total = len(y) if y is not None else None
    if total is None:
        raise ValueError("stratified_indices needs y (pass an array of length N, or use rng.choice)")
    if not 0 <= n <= total:
        raise ValueError(f"cannot draw {n} items from {total}")
    y = np.asarray(y)
    if not stratify or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return np.sort(rng.choice(total, n, replace=False))
    classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = n * counts / total
    take = np.floor(exact).astype(np.int64)
    short = n - int(take.sum())
    if short:
        rem = exact - take
        # largest remainder first; random order among equal remainders
        order = np.lexsort((rng.random(len(classes)), -rem))
        take[order[:short]] += 1
    out = [rng.choice(np.flatnonzero(inv == c), take[c], replace=False) for c in range(len(classes)) if take[c]]
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def balanced_indices(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a seeded ``n``-subset with the same number of items per class.

    Each class gets ``n // k`` items (``k`` classes present), and ``n % k`` classes chosen at random
    get one more: the "balanced initial set" of the BatchBALD protocol (20 labels = 2 per MNIST digit).
    A class with too few members gives all it has and the rest is drawn from the other classes.
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError("a balanced subset needs integer class labels")
    if not 0 <= n <= len(y):
        raise ValueError(f"cannot draw {n} items from {len(y)}")
    classes = np.unique(y)
    take = np.full(len(classes), n // len(classes))
    take[rng.permutation(len(classes))[: n % len(classes)]] += 1
    members = [np.flatnonzero(y == c) for c in classes]
    out = [rng.choice(m, min(t, len(m)), replace=False) for m, t in zip(members, take)]
    chosen = np.concatenate(out) if out else np.zeros(0, np.int64)
    short = n - len(chosen)
    if short:
        rest = np.setdiff1d(np.arange(len(y)), chosen)
        chosen = np.concatenate([chosen, rng.choice(rest, short, replace=False)])
    return np.sort(chosen)


def class_histogram(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Items per class (length ``n_classes``)."""
    return np.bincount(np.asarray(y, np.int64), minlength=n_classes)


@dataclass(frozen=True)
class Dataset:
    """A labelled pool and a held-out test set.

    Parameters
    ----------
    name : str
        The data set's name (keys caches and reports).
    x_train : ndarray, shape (n_pool, C, H, W), float32 in [0, 1]
        The pool: the generator trains on it without labels; labels are revealed by the oracle.
    y_train : ndarray, shape (n_pool,) int64 (classification) or (n_pool, ...) float32 (regression), or None
        ``None`` when pool labels are not known in advance: the labeling tool named in
        :attr:`labeler` provides them as items are chosen (e.g. the FEM solver for ``vessels``).
    x_test : ndarray, shape (n_test, C, H, W), float32 in [0, 1]
        The held-out test images.
    y_test : ndarray
        The test labels, laid out as ``y_train``.
    classes : tuple of str
        Class names (empty for regression tasks).
    task : str
        ``"classification"`` or ``"regression"``.
    meta : dict
        Free-form provenance (how the data were made); nothing in the loop reads it.
    x_val : ndarray or None
        Optional validation images carved out of the pool (:meth:`with_validation`), same layout.
        The target never trains on them; every setting is chosen on them, never on the test set.
    y_val : ndarray or None
        Their labels; None while pool labels are unknown (the labeling tool labels them).
    source_test_counts : tuple of int or None
        Class counts of the full test set a subset was drawn from (:meth:`subset`).
    labeler : str
        Registry name of the label source (:func:`latentlab.labeling.make_labeler`): ``"oracle"``
        reveals ``y_train``; a tool such as ``"fem"`` labels chosen items on demand.
    targets : tuple of str
        Target models that fit this data set (empty: any); the first is the default target.
    n_outputs : int or None
        Output channels of a regression target (None: one per class, or 1).
    metric_scale : float
        Factor of the reported regression metric (e.g. the paper's IVUS MSE x 1e3).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple = ()
    task: str = "classification"
    meta: dict = field(default_factory=dict)
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    source_test_counts: tuple | None = None  # class counts of the full test set a subset was drawn from
    labeler: str = "oracle"
    targets: tuple = ()
    n_outputs: int | None = None
    metric_scale: float = 1.0

    @property
    def n_val(self) -> int:
        """Number of validation items (0 without a validation set)."""
        return 0 if self.x_val is None else len(self.x_val)

    @property
    def image_shape(self) -> tuple:
        """``(C, H, W)`` of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression tasks)."""
        return len(self.classes)

    def fingerprint(self) -> str:
        """Short content hash of the pool images and labels (keys on-disk caches).

        Returns
        -------
        str
            16 hexadecimal digits of a SHA-1 of the name, the pool images and the pool labels.
        """
        h = hashlib.sha1()
        h.update(self.name.encode())
        h.update(str(self.x_train.shape).encode())
        h.update(np.ascontiguousarray(self.x_train).tobytes())
        h.update(b"lazy-labels" if self.y_train is None else np.ascontiguousarray(self.y_train).tobytes())
        return h.hexdigest()[:16]

    @property
    def stratifiable(self) -> bool:
        """Whether draws can be stratified by class (a classification task with named classes)."""
        return self.task == "classification" and self.n_classes > 0

    def subset(self, n_pool: int | None = None, n_test: int | None = None, seed: int = 0) -> "Dataset":
        """A copy restricted to ``n_pool`` pool items and ``n_test`` test items, both seeded random draws.

        Classification sets are stratified by class (counts within 1 of proportional), so a subset
        never depends on the order the files store items in (image folders are stored by class).
        Pool and test draws use independent streams of ``seed``.

        Parameters
        ----------
        n_pool : int, optional
            Pool items to keep (None, or at least the pool size: all).
        n_test : int, optional
            Test items to keep (None, or at least the test set's size: all).
        seed : int, default 0
            Seeds both draws.

        Returns
        -------
        Dataset
            The restricted copy (this data set is unchanged).
        """
        xt, yt = self.x_train, self.y_train
        if n_pool is not None and n_pool < len(xt):
            rng = np.random.default_rng([seed, 0])
            idx = (
                stratified_indices(yt, n_pool, rng, self.stratifiable)
                if yt is not None
                else np.sort(rng.choice(len(xt), n_pool, replace=False))
            )
            xt, yt = xt[idx], (None if yt is None else yt[idx])
        xs, ys = self.x_test, self.y_test
        if n_test is not None and n_test < len(xs):
            rng = np.random.default_rng([seed, 1])
            idx = (
                stratified_indices(ys, n_test, rng, self.stratifiable)
                if ys is not None
                else np.sort(rng.choice(len(xs), n_test, replace=False))
            )
            src = self.histogram("test")
            xs, ys = xs[idx], (None if ys is None else ys[idx])
            if src is not None and self.source_test_counts is None:
                return dataclasses.replace(
                    self, x_train=xt, y_train=yt, x_test=xs, y_test=ys, source_test_counts=tuple(int(c) for c in src)
                )
        return dataclasses.replace(self, x_train=xt, y_train=yt, x_test=xs, y_test=ys)

    def with_validation(self, n_val: int, seed: int = 0) -> "Dataset":
        """A copy whose pool gives up ``n_val`` items (stratified, seeded) to a validation set.

        The generator, the strategies and the target never see them as pool items; the oracle (or
        the labeling tool) labels them once, and the loop reports the metric on them each round.

        Parameters
        ----------
        n_val : int
            Validation items (0 or None: this data set, unchanged).
        seed : int, default 0
            Seeds the draw.

        Returns
        -------
        Dataset
            The copy with ``x_val`` / ``y_val`` set and a pool ``n_val`` items smaller.

        Raises
        ------
        DatasetError
            If this data set already has a validation set.
        ConfigError
            If ``n_val`` would take the whole pool.
        """
        if n_val is None or n_val <= 0:
            return self
        if self.x_val is not None:
            raise DatasetError(f"{self.name} already has a validation set of {self.n_val} items")
        n = len(self.x_train)
        if n_val >= n:
            raise ConfigError(f"--val {n_val} would take the whole pool of {n} items; use fewer (e.g. {n // 10})")
        rng = np.random.default_rng([seed, 2])
        if self.y_train is not None:
            val = stratified_indices(self.y_train, n_val, rng, self.stratifiable)
        else:
            val = np.sort(rng.choice(n, n_val, replace=False))
        keep = np.setdiff1d(np.arange(n), val)
        yt = self.y_train
        return dataclasses.replace(
            self,
            x_train=self.x_train[keep],
            y_train=None if yt is None else yt[keep],
            x_val=self.x_train[val],
            y_val=None if yt is None else yt[val],
        )

    def histogram(self, part: str = "test") -> np.ndarray | None:
        """Items per class of one part of the data set.

        Parameters
        ----------
        part : {"test", "train", "val"}, default "test"
            Which part.

        Returns
        -------
        ndarray or None
            Counts per class, int64, shape (n_classes,); None for regression or unknown labels.
        """
        y = getattr(self, f"y_{part}")
        if not self.stratifiable or y is None:
            return None
        return class_histogram(y, self.n_classes)

    @classmethod
    def from_arrays(
        cls,
        x: np.ndarray,
        y: np.ndarray | None,
        x_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        *,
        name: str = "my-data",
        classes: tuple | list | None = None,
        task: str = "classification",
        test_size: float | int = 0.2,
        seed: int = 0,
        labeler: str | None = None,
        n_outputs: int | None = None,
    ) -> "Dataset":
        """A data set from your own arrays, checked and converted to the documented layout.

        Parameters
        ----------
        x, y : array-like
            Pool images and their labels (``y`` None when a labeling tool labels on demand).
        x_test, y_test : array-like, optional
            The held-out test set. Without it, a seeded stratified ``test_size`` share of ``x``
            (a fraction, or a number of items) is held out.
        name : str
            Names the data set in results and cache keys (it is not looked up in any registry).
        classes : sequence of str, optional
            Class names; default ``"0"``, ``"1"``, ... (labels must be 0 .. n_classes - 1).
            String labels are mapped to the sorted class names.
        task : {"classification", "regression"}
        test_size : float or int
            Held-out share of ``x`` when ``x_test`` is not given.
        seed : int
            Seed of that split.
        labeler : str, optional
            As :attr:`Dataset.labeler`. Default: ``"oracle"`` (``y`` revealed as items are chosen);
            with ``y=None``, ``"given"``: the labeling function passed to ``run_experiment(labeler=...)``.
        n_outputs : int, optional
            As :attr:`Dataset.n_outputs`.

        Returns
        -------
        Dataset
            Validated (:meth:`validate`).

        Notes
        -----
        Converted, with a warning on the ``latentlab.datasets`` logger saying what was done:
        uint8 images (0-255, divided by 255), bool images, float16/float64 images (cast to
        float32), channels-last images (n, H, W, C) with C in 1, 3, 4 (transposed), grey images
        (n, H, W) (a channel axis added), torch tensors (to numpy). Refused with the fix named:
        float images outside [0, 1] (the scale is not guessed), other integer images, flat
        images (n, D), NaN/inf values, labels that are not 0 .. n_classes - 1.
        """
        x = _as_images(x, "x")
        if x_test is None:
            if y_test is not None:
                raise DatasetError("y_test given without x_test; pass both, or neither (a share of x is held out)")
            x, x_test, y, y_test = _split(x, y, test_size, seed, task)
        else:
            x_test = _as_images(x_test, "x_test")
        if labeler is None:
            labeler = "oracle" if y is not None else "given"
        y, classes = _as_labels(y, classes, task, "y")
        y_test, classes = _as_labels(y_test, classes, task, "y_test")
        return cls(
            name,
            x,
            y,
            x_test,
            y_test,
            classes=tuple(classes),
            task=task,
            meta={"source": "from_arrays"},
            labeler=labeler,
            n_outputs=n_outputs,
        ).validate()

    @classmethod
    def from_torch(
        cls,
        train,
        test=None,
        *,
        name: str = "my-data",
        classes: tuple | list | None = None,
        **kwargs,
    ) -> "Dataset":
        """A data set from a torch ``Dataset`` (or ``DataLoader``) of ``(image, label)`` pairs.

        Every item is read once into memory (the active-learning pool is indexed, and the generator
        trains on all of it). Images may be tensors (e.g. torchvision's ``ToTensor()``: float32
        (C, H, W) in [0, 1]), numpy arrays or PIL images; they are then checked and converted as by
        :meth:`from_arrays`, which receives ``kwargs`` (``test_size``, ``seed``, ``task``, ...).
        Class names default to the data set's ``classes`` attribute when it has one.

        Parameters
        ----------
        train : torch.utils.data.Dataset or DataLoader
            The pool: ``(image, label)`` items.
        test : torch.utils.data.Dataset or DataLoader, optional
            The held-out test set; without it a share of ``train`` is held out.
        name : str
            Names the data set in results and cache keys.
        classes : sequence of str, optional
            Class names (default: ``train.classes`` when present).
        **kwargs
            Passed to :meth:`from_arrays` (``test_size``, ``seed``, ``task``, ...).

        Returns
        -------
        Dataset
            Validated (:meth:`validate`).
        """
        x, y = _read_torch(train, "train")
        xt, yt = _read_torch(test, "test") if test is not None else (None, None)
        if classes is None:
            classes = getattr(train, "classes", None) or getattr(getattr(train, "dataset", None), "classes", None)
        return cls.from_arrays(x, y, xt, yt, name=name, classes=classes, **kwargs)

    def validate(self) -> "Dataset":
        """Check the documented layout strictly; raise :class:`DatasetError` naming the fix.

        Images (pool, test and validation) must be ``float32`` arrays of shape (n, C, H, W) with
        finite values in [0, 1]; labels must pair up with images. Nothing is converted here:
        :meth:`from_arrays` and :meth:`from_torch` convert what they can (uint8, float64,
        channels-last) and say so.

        Returns
        -------
        Dataset
            This data set, unchanged, so that ``Dataset(...).validate()`` chains.
        """
        for part in ("x_train", "x_test", "x_val"):
            x = getattr(self, part)
            if x is None and part == "x_val":
                continue
            if not isinstance(x, np.ndarray):
                raise DatasetError(
                    f"{self.name}: {part} is a {type(x).__name__}, not a numpy array; "
                    "build the Dataset with Dataset.from_arrays(...) or Dataset.from_torch(...)"
                )
            if x.ndim != 4:
                raise DatasetError(
                    f"{self.name}: {part} has shape {x.shape}; expected (n, channels, height, width). "
                    "Reshape images to (n, C, H, W) before building a Dataset."
                )
            if x.dtype != np.float32:
                raise DatasetError(
                    f"{self.name}: {part} is {x.dtype}, expected float32 in [0, 1]; build the Dataset with "
                    "Dataset.from_arrays(...), which converts uint8 (0-255) and float64, or convert it yourself"
                )
            if not np.all(np.isfinite(x)):
                bad = int(np.count_nonzero(~np.isfinite(x)))
                raise DatasetError(
                    f"{self.name}: {part} contains {bad} NaN/inf values; clean or drop those images "
                    "(e.g. np.nan_to_num or a mask) before loading."
                )
            if x.size and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
                raise DatasetError(f"{self.name}: {part} {_range_fix(x)}")
        if self.y_train is None:
            if self.labeler == "oracle":
                raise DatasetError(
                    f"{self.name}: pool labels are unknown (y_train=None) and the labeler is the "
                    "oracle; set labeler= a labeling tool (e.g. 'fem') or pass the labels"
                )
        elif len(self.x_train) != len(self.y_train):
            raise DatasetError(
                f"{self.name}: {len(self.x_train)} pool images but {len(self.y_train)} labels; "
                "images and labels must pair up."
            )
        if len(self.x_test) != len(self.y_test):
            raise DatasetError(
                f"{self.name}: {len(self.x_test)} test images but {len(self.y_test)} labels; "
                "images and labels must pair up."
            )
        if self.x_val is not None:
            if self.x_val.shape[1:] != self.x_train.shape[1:]:
                raise DatasetError(
                    f"{self.name}: validation images {self.x_val.shape[1:]} differ in shape from "
                    f"pool images {self.x_train.shape[1:]}"
                )
            if self.y_val is not None and len(self.y_val) != len(self.x_val):
                raise DatasetError(f"{self.name}: {len(self.x_val)} validation images but {len(self.y_val)} labels")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DatasetError(
                f"{self.name}: pool images {self.x_train.shape[1:]} and test images "
                f"{self.x_test.shape[1:]} differ in shape; resize one of them."
            )
        return self


def _range_fix(x: np.ndarray) -> str:
    """The message for float images outside [0, 1]: the range found and how to rescale it."""
    lo, hi = float(x.min()), float(x.max())
    how = "x / 255" if lo >= 0 and hi <= 255 else "(x - x.min()) / (x.max() - x.min())"
    return (
        f"values span [{lo:g}, {hi:g}], expected [0, 1]; rescale them (e.g. {how}) - "
        "latentlab does not guess the scale of float images"
    )


def _as_images(x, what: str) -> np.ndarray:
    """``x`` as float32 (n, C, H, W) in [0, 1]: converts what is unambiguous (logged), refuses the rest."""
    import logging

    log = logging.getLogger(__name__)
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 3:
        log.warning("%s: grey images of shape %s: added a channel axis -> (n, 1, H, W)", what, x.shape)
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        log.warning("%s: channels-last images %s: transposed to (n, C, H, W)", what, x.shape)
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    elif x.ndim != 4:
        raise DatasetError(
            f"{what} has shape {x.shape}; images must be (n, C, H, W), (n, H, W, C) or (n, H, W): "
            "reshape flat images first, e.g. x.reshape(-1, 1, 28, 28)"
        )
    if x.dtype == np.uint8:
        log.warning("%s: uint8 images (0-255): divided by 255 -> float32 in [0, 1]", what)
        return x.astype(np.float32) / np.float32(255)
    if x.dtype == np.bool_:
        log.warning("%s: bool images: converted to float32 0/1", what)
        return x.astype(np.float32)
    if np.issubdtype(x.dtype, np.integer):
        raise DatasetError(
            f"{what} holds {x.dtype} integers; give uint8 (0-255) images or float images in [0, 1] "
            "(e.g. x.astype(np.float32) / x.max())"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetError(f"{what} has dtype {x.dtype}; images must be numbers (uint8 0-255 or floats in [0, 1])")
    if x.dtype != np.float32:
        log.warning("%s: %s images: cast to float32", what, x.dtype)
        x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{what} contains NaN/inf values; clean or drop those images (e.g. np.nan_to_num)")
    if x.size and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise DatasetError(f"{what}: {_range_fix(x)}")
    return x


def _as_labels(y, classes, task: str, what: str):
    """``(labels, classes)``: int64 class indices 0 .. K-1 (string labels mapped to sorted class names)."""
    if y is None:
        return None, tuple(classes or ())
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if task != "classification":
        return y.astype(np.float32), tuple(classes or ())
    if y.ndim != 1:
        raise DatasetError(f"{what} has shape {y.shape}; class labels must be one integer per image, shape (n,)")
    if y.dtype.kind in "USO":  # names: map them to indices of the sorted names (or of classes=)
        names = [str(c) for c in classes] if classes else sorted({str(v) for v in y})
        lookup = {c: i for i, c in enumerate(names)}
        missing = sorted({str(v) for v in y} - set(lookup))
        if missing:
            raise DatasetError(f"{what} has labels {missing[:3]} that are not in classes={names}")
        return np.array([lookup[str(v)] for v in y], np.int64), tuple(names)
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise DatasetError(f"{what} holds non-integer class labels; pass task='regression' for real-valued targets")
    y = y.astype(np.int64)
    k = len(classes) if classes else int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= k):
        raise DatasetError(
            f"{what} holds labels {int(y.min())}..{int(y.max())} but there are {k} classes; labels must be "
            "0 .. n_classes - 1 (remap with np.unique(y, return_inverse=True))"
        )
    return y, tuple(classes) if classes else tuple(str(i) for i in range(k))


def _split(x: np.ndarray, y, test_size, seed: int, task: str):
    """A seeded (stratified when labelled) hold-out of ``test_size`` of ``x`` as the test set."""
    n = len(x)
    n_test = int(round(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise DatasetError(f"test_size={test_size!r} holds out {n_test} of {n} items; leave both sides non-empty")
    rng = np.random.default_rng([seed, 3])
    yy = None if y is None else np.asarray(y)
    if yy is not None and task == "classification" and yy.ndim == 1:  # stratified on the label values
        _, codes = np.unique(yy.astype(str) if yy.dtype.kind in "USO" else yy, return_inverse=True)
        test = stratified_indices(codes.astype(np.int64), n_test, rng)
    else:
        test = np.sort(rng.choice(n, n_test, replace=False))
    keep = np.setdiff1d(np.arange(n), test)
    return x[keep], x[test], (None if yy is None else yy[keep]), (None if yy is None else yy[test])


def _read_torch(data, what: str):
    """All ``(image, label)`` items of a torch Dataset (indexable) or DataLoader (batches) as arrays."""
    import torch

    xs, ys = [], []
    if isinstance(data, torch.utils.data.DataLoader):
        for batch in data:
            xb, yb = batch[0], batch[1]
            xs.extend(np.asarray(xb))
            ys.extend(np.asarray(yb))
    else:
        try:
            n = len(data)
        except TypeError:
            raise DatasetError(f"the {what} data has no len(); pass a map-style Dataset or a DataLoader") from None
        for i in range(n):
            item = data[i]
            if not isinstance(item, (tuple, list)) or len(item) < 2:
                raise DatasetError(f"item {i} of the {what} data is not an (image, label) pair")
            img, lab = item[0], item[1]
            xs.append(img.numpy() if hasattr(img, "numpy") else np.asarray(img))
            ys.append(lab.item() if hasattr(lab, "item") and getattr(lab, "ndim", 0) == 0 else lab)
    if not xs:
        raise DatasetError(f"the {what} data is empty")
    return np.stack(xs), np.asarray(ys)


DATASETS: Registry = Registry("dataset")  # name -> loader(root: Path | None, **kwargs) -> Dataset
DATASETS.__doc__ = (
    """The registered data sets: name -> ``loader(root, **kwargs) -> Dataset`` (:func:`register_dataset`)."""
)


def register_dataset(name: str, *, replace: bool = False, **info):
    """Decorator: register ``loader(root: Path | None, **kwargs) -> Dataset`` under ``name``.

    Parameters
    ----------
    name : str
        The name ``load_dataset`` and ``--dataset`` use.
    replace : bool, default False
        Replace a loader already registered under ``name`` (a taken name is refused otherwise).
    **info
        What configs need to know before loading, e.g. ``targets=("s6",)``: the target models
        that fit (the first is the default of ``--target``).

    Returns
    -------
    callable
        The decorator; it returns the loader unchanged.

    Notes
    -----
    In-memory data need no registration: pass ``Dataset.from_arrays(...)`` to
    ``run_experiment(dataset=...)``.
    """
    return DATASETS.register(name, replace=replace, **info)


def default_data_root() -> Path | None:
    """``$LATENTLAB_DATA`` if set, else ``None`` (loaders then need an explicit ``root``)."""
    env = os.environ.get("LATENTLAB_DATA")
    return Path(env) if env else None


def load_dataset(name: str, root: str | os.PathLike | None = None, **kwargs) -> Dataset:
    """Load a registered data set.

    Parameters
    ----------
    name : str
        One of ``DATASETS`` (``digits``, ``mnist``, ``cifar10``, ...).
    root : path, optional
        Folder holding the data set's files directly or in its usual sub-folder
        (``mnist/``, ``MNIST/raw/``, ``cifar-10-batches-py/``, ``cifar10-jpeg.tar.gz``), so one
        ``root`` serves several data sets. Defaults to ``$LATENTLAB_DATA``.
    **kwargs
        Passed to the loader.

    Returns
    -------
    Dataset
        The data set, validated (:meth:`Dataset.validate`).

    Raises
    ------
    ConfigError
        Unknown name (the message lists the valid names).
    DatasetNotFoundError
        Files missing (the message says which file was looked for where, and how to get it).
    DatasetError
        Data present but unusable (NaN values, mismatched shapes).
    """
    loader = DATASETS.resolve(name)
    root = Path(root).expanduser() if root is not None else default_data_root()
    return loader(root, **kwargs).validate()


# --------------------------------------------------------------------------- digits
@register_dataset("digits")
def _load_digits(root=None, n_test: int = 297, split_seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (values 0..16 scaled to [0, 1]); a seeded stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=n_test, random_state=split_seed, stratify=y)
    return Dataset("digits", xtr, ytr, xte, yte, classes=tuple(str(i) for i in range(10)))


# --------------------------------------------------------------------------- MNIST
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


MAX_IDX_BYTES = 1 << 30  # data bytes one IDX file may declare: MNIST's largest holds 47 MB


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (gzipped when the name ends in ``.gz``) into an array.

    The header is read first and checked before any data: a bad magic number, a header declaring
    more than ``max_bytes`` of data, a file shorter than its header declares (truncated) or longer
    (not the declared array) raise :class:`DatasetError` naming the file. A gzipped file is never
    decompressed past the declared size plus one byte, so a gzip bomb costs nothing.
    """
    path = Path(path)
    gz = path.suffix == ".gz"
    opener = gzip.open if gz else open
    redo = "re-download it."
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES or not 1 <= head[3] <= 8:
                raise DatasetError(f"{path} is not an IDX file (bad magic number); {redo}")
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DatasetError(f"{path} is truncated (its header ends after {4 + len(raw_dims)} bytes); {redo}")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            dtype = np.dtype(_IDX_DTYPES[head[2]])
            need = math.prod(dims) * dtype.itemsize
            shape = "x".join(map(str, dims))
            if need > max_bytes:
                raise DatasetError(
                    f"{path}: its header declares a {shape} array ({need:,} bytes), more than the "
                    f"{max_bytes:,} an IDX file may hold here; {redo}"
                )
            if not gz:  # a plain file: its size must be the header's, checked before reading any data
                size = os.fstat(f.fileno()).st_size
                if size != 4 + 4 * ndim + need:
                    what = "truncated" if size < 4 + 4 * ndim + need else "longer than its header declares"
                    raise DatasetError(
                        f"{path} is {what} ({size - 4 - 4 * ndim:,} of {need:,} data bytes for a {shape} array); {redo}"
                    )
            data = f.read(need + 1)
    except DatasetError:
        raise
    except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path} is truncated or not a gzip file ({e.__class__.__name__}); {redo}") from None
    if len(data) < need:
        raise DatasetError(f"{path} is truncated ({len(data):,} of {need:,} data bytes for a {shape} array); {redo}")
    if len(data) > need:
        raise DatasetError(f"{path} holds more data than its header declares (a {shape} array); {redo}")
    return np.frombuffer(data, dtype, count=math.prod(dims)).reshape(dims)


def _find_file(root: Path | None, subdirs, names, dataset: str, how: str) -> Path:
    """First existing ``root/sub/name`` over subdirs x names, else a DatasetNotFoundError."""
    if root is None:
        raise DatasetNotFoundError(
            f"{dataset}: no data folder given. Pass root=... (CLI: --data-root DIR) or set "
            f"$LATENTLAB_DATA to a folder holding {names[0]} "
            f"(directly or in {', '.join(s for s in subdirs if s)}). {how}"
        )
    tried = []
    for sub in subdirs:
        for nm in names:
            p = root / sub / nm if sub else root / nm
            tried.append(p)
            if p.exists():
                return p
    raise DatasetNotFoundError(
        f"{dataset}: file {names[0]!r} not found; looked for: " + ", ".join(str(t) for t in tried) + f". {how}"
    )


_MNIST_HOW = (
    "Get the four IDX files from the official MNIST distribution (or torchvision's MNIST "
    "download, which keeps them under MNIST/raw/) and pass that folder as --data-root."
)


@register_dataset("mnist")
def _load_mnist(root=None) -> Dataset:
    """MNIST from the four IDX files, gzipped or not, in ``root``, ``root/mnist``, ``root/MNIST/raw``."""
    subdirs = ["", "mnist", "MNIST/raw", "mnist/MNIST/raw"]
    arrays = {}
    paths = {}
    for key, stem in MNIST_FILES.items():
        paths[key] = _find_file(root, subdirs, [stem + ".gz", stem], "mnist", _MNIST_HOW)
        arrays[key] = read_idx(paths[key])
    _check_mnist(arrays, paths)
    xtr = (arrays["train_images"].astype(np.float32) / 255.0)[:, None]
    xte = (arrays["test_images"].astype(np.float32) / 255.0)[:, None]
    return Dataset(
        "mnist",
        xtr,
        arrays["train_labels"].astype(np.int64),
        xte,
        arrays["test_labels"].astype(np.int64),
        classes=tuple(str(i) for i in range(10)),
    )


def _check_mnist(arrays: dict, paths: dict) -> None:
    """MNIST's layout: uint8 images of 28x28, uint8 labels 0..9, as many labels as images."""
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        px, py = paths[f"{split}_images"], paths[f"{split}_labels"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetError(
                f"{px} holds a {'x'.join(map(str, x.shape))} {x.dtype.name} array; MNIST images are n x 28 x 28 uint8. "
                "Re-download it."
            )
        if y.dtype != np.uint8 or y.ndim != 1 or (len(y) and int(y.max()) > 9):
            got = f"values up to {int(y.max())}" if y.ndim == 1 and len(y) else f"a {y.ndim}-D {y.dtype.name} array"
            raise DatasetError(f"{py} holds {got}; MNIST labels are one uint8 digit 0..9 per image. Re-download it.")
        if len(x) != len(y):
            raise DatasetError(f"{px} holds {len(x)} images but {py} {len(y)} labels; re-download both.")


# --------------------------------------------------------------------------- CIFAR-10
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR_HOW = (
    "Get CIFAR-10 'python version' (cifar-10-python.tar.gz, unpacked to cifar-10-batches-py/) "
    "from the official distribution, or a JPEG image-folder tree/tar.gz "
    "(cifar10-jpeg/{train,test}/<class>/*.jpg), and pass its parent folder as --data-root."
)


class _SafeCifarUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR's official batches that refuses every class but numpy's array builders.

    The official format is a pickle; a plain ``pickle.load`` would run arbitrary code from a
    tampered file, so only the globals a CIFAR batch needs are allowed.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DatasetError(
            f"refusing to unpickle {module}.{name} from a CIFAR batch: the file is not an "
            "official CIFAR-10 batch. Re-download it."
        )


MAX_BATCH_BYTES = 256 << 20  # one official CIFAR-10 batch file holds 31 MB


def _read_cifar_batch(path: Path):
    redo = "re-download it."
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise DatasetError(
            f"{path} holds {size:,} bytes, more than a CIFAR-10 batch ({MAX_BATCH_BYTES:,} at most); {redo}"
        )
    try:
        with open(path, "rb") as f:
            d = _SafeCifarUnpickler(f, encoding="bytes").load()
        data = d.get(b"data", d.get("data")) if isinstance(d, dict) else None
        labels = d.get(b"labels", d.get("labels")) if isinstance(d, dict) else None
        if data is None or labels is None:
            raise DatasetError(f"{path}: no 'data'/'labels' entries; not a CIFAR-10 batch; {redo}")
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
            what = (
                f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            )
            raise DatasetError(
                f"{path}: 'data' is {what}, not uint8 rows of 3072 values (32x32 RGB); not a CIFAR-10 batch; {redo}"
            )
        y = np.asarray(labels)
        if y.ndim != 1 or (len(y) and (y.dtype.kind not in "iu" or int(y.min()) < 0 or int(y.max()) > 9)):
            raise DatasetError(
                f"{path}: 'labels' are not one class number 0..9 per image; not a CIFAR-10 batch; {redo}"
            )
        x = data.reshape(-1, 3, 32, 32)
        y = y.astype(np.int64)
    except DatasetError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        UnicodeDecodeError,
        MemoryError,
        OverflowError,
        RecursionError,
        ImportError,
        struct.error,
    ) as e:
        raise DatasetError(f"{path} is truncated or not a CIFAR-10 batch ({e.__class__.__name__}); {redo}") from None
    if len(x) != len(y):
        raise DatasetError(f"{path}: {len(x)} images but {len(y)} labels; {redo}")
    return x, y


def _cifar_from_batches(folder: Path) -> Dataset:
    parts = [
        _read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6) if (folder / f"data_batch_{i}").exists()
    ]
    if not parts:
        raise DatasetNotFoundError(f"cifar10: no data_batch_1..5 in {folder}. {_CIFAR_HOW}")
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    xte, yte = _read_cifar_batch(folder / "test_batch")
    return Dataset(
        "cifar10", xtr.astype(np.float32) / 255.0, ytr, xte.astype(np.float32) / 255.0, yte, classes=CIFAR10_CLASSES
    )


CIFAR_IMAGE_SIZE = (32, 32)  # (width, height) of every CIFAR-10 image
MAX_IMAGE_FILE_BYTES = 1 << 20  # one CIFAR-10 JPEG holds 0.7-1.2 KB; a file above 1 MiB is not one
MAX_ARCHIVE_BYTES = 1 << 30  # all image files together (CIFAR-10's 60,000 JPEGs: 54 MB)
MAX_DECODED_BYTES = 4 << 30  # the decoded float32 arrays (CIFAR-10: 0.74 GB); ~350,000 images at most
_SPLITS = ("train", "test")
_IMAGE_EXTS = (".jpg", ".jpeg", ".png")
_LAYOUT_FIX = (
    "an image folder must hold only [cifar10-jpeg/]{train,test}/<class>/*.jpg (regular files; classes "
    + " ".join(CIFAR10_CLASSES)
    + "). Re-download it, or repack it in that layout."
)


def _layout_member(src: Path, name: str, kind: str):
    """Check one member ``name`` of image folder ``src`` (``kind``: "file", "dir" or why it is neither).

    Returns ``(top, (split, class))`` for an image, ``(top, None)`` for a directory of the layout;
    anything else (an absolute name, ``..``, a link or device, a name outside the layout) raises
    :class:`DatasetError` naming the member, before any byte of it is read.
    """
    bad = None
    if not name or "\x00" in name:
        bad = "an empty name"
    elif name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        bad = "an absolute path"
    elif "\\" in name:
        bad = "a name with a backslash"
    elif ".." in PurePosixPath(name).parts:
        bad = "a path out of the folder ('..')"
    elif kind not in ("file", "dir"):
        bad = kind
    if bad is not None:
        raise DatasetError(f"{src}: member {name!r} is {bad}; {_LAYOUT_FIX}")
    parts = list(PurePosixPath(name).parts)
    if not parts and kind == "dir":
        return False, None  # the archive's own root ("./"): no top folder either way
    top = parts.pop(0) if parts and parts[0] not in _SPLITS else None
    if kind == "dir" and (
        not parts or (parts[0] in _SPLITS and (len(parts) == 1 or (len(parts) == 2 and parts[1] in CIFAR10_CLASSES)))
    ):
        return top, None
    if (
        kind == "file"
        and len(parts) == 3
        and parts[0] in _SPLITS
        and parts[1] in CIFAR10_CLASSES
        and parts[2].lower().endswith(_IMAGE_EXTS)
    ):
        return top, (parts[0], parts[1])
    raise DatasetError(f"{src}: member {name!r} is not in the documented layout; {_LAYOUT_FIX}")


class _ImageFolder:
    """Collects the image members of one folder or archive, checking names and sizes as they come."""

    PER_IMAGE = CIFAR_IMAGE_SIZE[0] * CIFAR_IMAGE_SIZE[1] * 3 * 4  # decoded bytes of one image (float32)

    def __init__(self, src: Path):
        self.src, self.tops, self.items, self.total, self.names = src, set(), [], 0, set()

    def check(self, name: str, kind: str, size: int):
        """``(split, class)`` of an image member, None for a directory of the layout; else DatasetError.

        Called for each member before any of its bytes are read."""
        top, where = _layout_member(self.src, name, kind)
        if top is not False:
            self.tops.add(top)
        if len(self.tops) > 1:
            tops = ", ".join(sorted(f"{t}/" if t else "(none)" for t in self.tops))
            raise DatasetError(f"{self.src}: members lie under more than one top folder ({tops}); {_LAYOUT_FIX}")
        if where is None:
            return None
        key = str(PurePosixPath(name))  # "./a/b.jpg" and "a/b.jpg" are one file
        if key in self.names:
            raise DatasetError(f"{self.src}: member {name!r} appears twice; {_LAYOUT_FIX}")
        self.names.add(key)
        if size > MAX_IMAGE_FILE_BYTES:
            raise DatasetError(
                f"{self.src}: member {name!r} holds {size:,} bytes, more than a CIFAR-10 image file "
                f"({MAX_IMAGE_FILE_BYTES:,} at most); {_LAYOUT_FIX}"
            )
        self.total += size
        if self.total > MAX_ARCHIVE_BYTES or len(self.names) * self.PER_IMAGE > MAX_DECODED_BYTES:
            raise DatasetError(
                f"{self.src} holds more images than latentlab decodes at once (over {len(self.names) - 1:,} files, "
                f"{self.total:,} bytes; CIFAR-10 has 60,000 in 54 MB); use a smaller image folder"
            )
        return where


def _decode_image(buf: bytes, where: str) -> np.ndarray:
    """One image file -> (32, 32, 3) uint8; its size is read from the header and checked before decoding."""
    import warnings

    from PIL import Image

    fix = "re-download the image folder, or remove that file"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(buf), formats=("JPEG", "PNG"))  # lazy: reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DatasetError(
                f"{where} declares an image far larger than CIFAR-10's 32x32 (a decompression bomb); {fix}"
            ) from None
        except Exception as e:  # noqa: BLE001 - PIL raises many kinds on a crafted file; each is this one line
            raise DatasetError(f"{where} is not a readable JPEG or PNG image ({e.__class__.__name__}); {fix}") from None
    with im:
        if im.size != CIFAR_IMAGE_SIZE:
            w, h = im.size
            raise DatasetError(f"{where} is a {w}x{h} image; CIFAR-10 images are 32x32; {fix}")
        try:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as e:  # noqa: BLE001 - as above: truncated data, broken chunks, ...
            raise DatasetError(f"{where} is a corrupt image ({e.__class__.__name__}); {fix}") from None


def _cifar_from_members(folder: _ImageFolder) -> Dataset:
    """Decode the checked members of an image folder, in canonical order (by name), into a Dataset."""
    splits = {"train": ([], []), "test": ([], [])}
    cls_index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    for rel, (split, cls), read in folder.items:
        xs, ys = splits[split]
        xs.append((rel, read))
        ys.append(cls_index[cls])
    out = {}
    for split, (xs, ys) in splits.items():
        if not xs:
            raise DatasetNotFoundError(f"cifar10: the image folder has no {split}/<class>/*.jpg files. {_CIFAR_HOW}")
        order = sorted(range(len(xs)), key=lambda i: xs[i][0])  # canonical order: by path
        imgs = np.stack([_decode_image(xs[i][1](), f"{folder.src}: member {xs[i][0]!r}") for i in order])
        out[split] = (imgs.transpose(0, 3, 1, 2).astype(np.float32) / 255.0, np.asarray(ys, np.int64)[order])
    return Dataset("cifar10", *out["train"], *out["test"], classes=CIFAR10_CLASSES)


def _tar_kind(m: tarfile.TarInfo) -> str:
    if m.isfile():
        return "file"
    if m.isdir():
        return "dir"
    if m.issym():
        return f"a symbolic link (to {m.linkname!r})"
    if m.islnk():
        return f"a hard link (to {m.linkname!r})"
    if m.ischr() or m.isblk():
        return "a device file"
    if m.isfifo():
        return "a FIFO"
    return "not a regular file"


def _cifar_from_tar(path: Path) -> Dataset:
    """The JPEG image folder inside ``path`` (a tar, usually gzipped): every member is checked (name, type,
    size) as the archive is read and before its bytes are; nothing is extracted to disk."""
    folder = _ImageFolder(path)
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in tf:
                where = folder.check(m.name, _tar_kind(m), m.size if m.isfile() else 0)
                if where is not None:  # read now (a gzip stream is read once, in order), within the bounds
                    b = tf.extractfile(m).read()
                    folder.items.append((m.name, where, lambda b=b: b))
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DatasetError(
            f"{path} is truncated or not a tar archive ({e.__class__.__name__}); re-download it."
        ) from None
    return _cifar_from_members(folder)


def _cifar_from_tree(folder: Path) -> Dataset:
    """The JPEG image folder at ``folder`` (``train/`` and ``test/`` beside each other); links are refused."""
    images = _ImageFolder(folder)
    for split in _SPLITS:
        if (folder / split).is_symlink():
            images.check(split, "a symbolic link", 0)  # raises
        for dirpath, dirnames, filenames in os.walk(folder / split, followlinks=False):
            here = Path(dirpath)
            for name in sorted(dirnames) + sorted(filenames):
                p = here / name
                st = p.lstat()
                rel = p.relative_to(folder).as_posix()
                kind = (
                    "dir"
                    if stat.S_ISDIR(st.st_mode)
                    else "file"
                    if stat.S_ISREG(st.st_mode)
                    else "a symbolic link"
                    if stat.S_ISLNK(st.st_mode)
                    else "not a regular file"
                )
                where = images.check(rel, kind, st.st_size if kind == "file" else 0)
                if where is not None:
                    images.items.append((rel, where, p.read_bytes))
    return _cifar_from_members(images)


@register_dataset("cifar10")
def _load_cifar10(root=None, cache: bool = True) -> Dataset:
    """CIFAR-10 from official batches (``cifar-10-batches-py/``) or a JPEG image folder (tree or tar.gz).

    Decoding 60,000 JPEGs takes ~30 s, so the decoded arrays are cached as ``.npz`` (no pickle)
    in ``$LATENTLAB_CACHE`` (default ``~/.cache/latentlab``), keyed by the source path, size and mtime.
    """
    if root is None:
        _find_file(None, ["cifar-10-batches-py"], ["data_batch_1"], "cifar10", _CIFAR_HOW)
    candidates = [
        ("batches", root / "cifar-10-batches-py"),
        ("batches", root),
        ("tar", root / "cifar10-jpeg.tar.gz"),
        ("tree", root / "cifar10-jpeg"),
        ("tree", root),
    ]
    for kind, p in candidates:
        if kind == "batches" and (p / "data_batch_1").exists():
            return _cifar_from_batches(p)
        if kind == "tar" and p.is_file():
            return _cached(p, _cifar_from_tar) if cache else _cifar_from_tar(p)
        if kind == "tree" and (p / "train").is_dir() and (p / "test").is_dir():
            return _cifar_from_tree(p)
    raise DatasetNotFoundError(
        "cifar10: looked for " + ", ".join(str(p) for _, p in candidates) + f" and found nothing usable. {_CIFAR_HOW}"
    )


def _cached(path: Path, loader) -> Dataset:
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    f = cache_dir() / "datasets" / f"{path.name}-{key}.npz"
    if f.exists():
        try:  # the decoded arrays are trusted only with a matching checksum; else decoded again
            try:
                recorded = sidecar(f).read_text().strip()
            except (OSError, ValueError):
                recorded = None
            verify_file(f, recorded, f"decoding {path} again")
            with np.load(f, allow_pickle=False) as z:
                return Dataset(
                    str(z["name"]),
                    z["x_train"],
                    z["y_train"],
                    z["x_test"],
                    z["y_test"],
                    classes=tuple(str(c) for c in z["classes"]),
                )
        except ResumeError as e:
            import warnings

            warnings.warn(f"decoded-data cache {e}", stacklevel=2)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            import warnings

            warnings.warn(f"decoded-data cache {f} is corrupt ({e}); decoding {path} again", stacklevel=2)
    check_cache_writable(f.parent)  # before decoding: its result would be lost
    ds = loader(path)
    f.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(f, suffix=".tmp.npz") as tmp:
        np.savez(
            tmp,
            name=ds.name,
            x_train=ds.x_train,
            y_train=ds.y_train,
            x_test=ds.x_test,
            y_test=ds.y_test,
            classes=np.asarray(ds.classes),
        )
    write_sidecar(f)
    return ds
