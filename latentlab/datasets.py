"""Data sets behind one registry: ``load_dataset(name, root=...)``.

Every loader returns a :class:`Dataset` with images as ``float32`` arrays of shape
``(n, channels, height, width)`` scaled to ``[0, 1]`` and integer labels. Files are read in place
(never copied); a missing file raises :class:`~latentlab.exceptions.DatasetNotFoundError` naming the
file, the folders that were searched and how to get it (the torchvision pattern).

Registered names: ``digits`` (scikit-learn's 8x8 set, embedded, no file needed, here), ``mnist``
(gzipped or raw IDX files) and ``cifar10`` (official "python version" batches, or the JPEG
image-folder layout as a tree or a ``.tar.gz``), both in :mod:`latentlab.data_files`, which reads
files from outside and says what it refuses. More loaders register with :func:`register_dataset`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .data_arrays import (  # noqa: F401 (re-exported: latentlab.datasets.stratified_indices, ...)
    _as_images,
    _as_labels,
    _range_fix,
    _read_torch,
    _split,
    balanced_indices,
    class_histogram,
    stratified_indices,
)
from .exceptions import ConfigError, DatasetError
from .registry import Registry

__all__ = [
    "Dataset",
    "DATASETS",
    "register_dataset",
    "load_dataset",
    "default_data_root",
    "stratified_indices",
    "class_histogram",
]


def _hash_bytes(h, a, block: int = 64 << 20) -> None:
    """Feed ``a``'s bytes in C order to the hash ``h``, as ``h.update(a.tobytes())`` would, a block of
    rows (about ``block`` bytes) at a time: a contiguous array (a memory-mapped pool) is read in place,
    another copied one block at a time, never whole (``tobytes()`` of a 10^6-image pool was a 2.9 GiB copy)."""
    a = np.asarray(a)
    if a.ndim == 0 or a.size == 0:
        h.update(a.tobytes())
        return
    step = max(1, block // max(1, a[0].nbytes))
    for i in range(0, len(a), step):
        h.update(np.ascontiguousarray(a[i : i + step]))


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
        _hash_bytes(h, self.x_train)
        if self.y_train is None:
            h.update(b"lazy-labels")
        else:
            _hash_bytes(h, self.y_train)
        return h.hexdigest()[:16]

    @property
    def stratifiable(self) -> bool:
        """Whether draws can be stratified by class (a classification task with named classes)."""
        return self.task == "classification" and self.n_classes > 0

    def _draw(self, y: np.ndarray | None, size: int, n: int, stream: list[int]) -> np.ndarray:
        """Sorted indices of ``subset``'s seeded ``n``-of-``size`` draw on the random stream ``stream``:
        stratified by class when labels are known, else a plain random choice (the same random calls
        for the pool and the test set)."""
        rng = np.random.default_rng(stream)
        if y is not None:
            return stratified_indices(y, n, rng, self.stratifiable)
        return np.sort(rng.choice(size, n, replace=False))

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
            idx = self._draw(yt, len(xt), n_pool, [seed, 0])
            xt, yt = xt[idx], (None if yt is None else yt[idx])
        xs, ys = self.x_test, self.y_test
        if n_test is not None and n_test < len(xs):
            idx = self._draw(ys, len(xs), n_test, [seed, 1])
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
        Converted, with a warning on the ``latentlab.data_arrays`` logger saying what was done:
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
        train: Any,
        test: Any = None,
        *,
        name: str = "my-data",
        classes: tuple | list | None = None,
        **kwargs: Any,
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


DATASETS: Registry = Registry("dataset")  # name -> loader(root: Path | None, **kwargs) -> Dataset
DATASETS.__doc__ = (
    """The registered data sets: name -> ``loader(root, **kwargs) -> Dataset`` (:func:`register_dataset`)."""
)


def register_dataset(name: str, *, replace: bool = False, **info: Any) -> Callable[[Any], Any]:
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


def load_dataset(name: str, root: str | os.PathLike | None = None, **kwargs: Any) -> Dataset:
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
