"""Data sets behind one registry: ``load_dataset(name, root=...)``.

Every loader returns a :class:`Dataset` with images as ``float32`` arrays of shape
``(n, channels, height, width)`` scaled to ``[0, 1]`` and integer labels. Files are read in place
(never copied); a missing file raises :class:`~latentlab.exceptions.DatasetNotFoundError` naming the
file, the folders that were searched and how to get it (the torchvision pattern).

Registered names: ``digits`` (scikit-learn's 8x8 set, embedded, no file needed), ``mnist``
(gzipped or raw IDX files), ``cifar10`` (official "python version" batches, or the JPEG
image-folder layout as a tree or a ``.tar.gz``). More loaders register with :func:`register_dataset`.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import ConfigError, DatasetError, DatasetNotFoundError
from .registry import Registry
from .storage import atomic_path, atomic_write, cache_dir, sha256_file

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

    Attributes
    ----------
    name : str
    x_train : ndarray, shape (n_pool, C, H, W), float32 in [0, 1]
        The pool: the generator trains on it without labels; labels are revealed by the oracle.
    y_train : ndarray, shape (n_pool,) int64 (classification) or (n_pool, ...) float32 (regression), or None
        ``None`` when pool labels are not known in advance: the labeling tool named in
        :attr:`labeler` provides them as items are chosen (e.g. the FEM solver for ``vessels``).
    x_test, y_test : the held-out test set, same layout.
    x_val, y_val : optional validation set carved out of the pool (:meth:`with_validation`), same
        layout; ``y_val`` is None while pool labels are unknown (the labeling tool labels it).
        The target never trains on it; every setting is chosen on it, never on the test set.
    classes : tuple of str
        Class names (empty for regression tasks).
    task : str
        ``"classification"`` or ``"regression"``.
    meta : dict
        Free-form provenance (how the data were made); nothing in the loop reads it.
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
        return 0 if self.x_val is None else len(self.x_val)

    @property
    def image_shape(self) -> tuple:
        """``(C, H, W)`` of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def fingerprint(self) -> str:
        """Short content hash of the pool images and labels (keys on-disk caches)."""
        h = hashlib.sha1()
        h.update(self.name.encode())
        h.update(str(self.x_train.shape).encode())
        h.update(np.ascontiguousarray(self.x_train).tobytes())
        h.update(b"lazy-labels" if self.y_train is None else np.ascontiguousarray(self.y_train).tobytes())
        return h.hexdigest()[:16]

    @property
    def stratifiable(self) -> bool:
        return self.task == "classification" and self.n_classes > 0

    def subset(self, n_pool: int | None = None, n_test: int | None = None, seed: int = 0) -> "Dataset":
        """A copy restricted to ``n_pool`` pool items and ``n_test`` test items, both seeded random draws.

        Classification sets are stratified by class (counts within 1 of proportional), so a subset
        never depends on the order the files store items in (image folders are stored by class).
        Pool and test draws use independent streams of ``seed``.
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
        """Items per class of ``part`` ("train", "val" or "test"); None for regression or unknown labels."""
        y = getattr(self, f"y_{part}")
        if not self.stratifiable or y is None:
            return None
        return class_histogram(y, self.n_classes)

    def validate(self) -> "Dataset":
        """Check shapes, ranges and finiteness; raise :class:`DatasetError` naming the fix."""
        for part in ("x_train", "x_test"):
            x = getattr(self, part)
            if x.ndim != 4:
                raise DatasetError(
                    f"{self.name}: {part} has shape {x.shape}; expected (n, channels, height, width). "
                    "Reshape images to (n, C, H, W) before building a Dataset."
                )
            if not np.all(np.isfinite(x)):
                bad = int(np.count_nonzero(~np.isfinite(x)))
                raise DatasetError(
                    f"{self.name}: {part} contains {bad} NaN/inf values; clean or drop those images "
                    "(e.g. np.nan_to_num or a mask) before loading."
                )
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


def register_dataset(name: str, **info):
    """Decorator: register ``loader(root: Path | None, **kwargs) -> Dataset`` under ``name``.

    ``info`` is what configs need to know before loading, e.g. ``targets=("s6",)``: the target
    models that fit (the first is the default of ``--target``).
    """
    return DATASETS.register(name, **info)


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


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped when the name ends in ``.gz``) into an array.

    Raises :class:`DatasetError` on a bad magic number or a truncated file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DatasetError(
            f"{path} is truncated or not a gzip file ({e.__class__.__name__}); re-download it."
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number); re-download it.")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">i4", count=ndim, offset=4).astype(int)
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset < need:
        raise DatasetError(f"{path} is truncated ({len(raw) - offset} of {need} data bytes); re-download it.")
    return np.frombuffer(raw, dtype, count=int(np.prod(dims)), offset=offset).reshape(dims)


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
    for key, stem in MNIST_FILES.items():
        path = _find_file(root, subdirs, [stem + ".gz", stem], "mnist", _MNIST_HOW)
        arrays[key] = read_idx(path)
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


def _read_cifar_batch(path: Path):
    try:
        with open(path, "rb") as f:
            d = _SafeCifarUnpickler(f, encoding="bytes").load()
        data = d.get(b"data", d.get("data")) if isinstance(d, dict) else None
        labels = d.get(b"labels", d.get("labels")) if isinstance(d, dict) else None
        if data is None or labels is None:
            raise DatasetError(f"{path}: no 'data'/'labels' entries; not a CIFAR-10 batch; re-download it.")
        x = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(labels, dtype=np.int64)
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
    ) as e:
        raise DatasetError(
            f"{path} is truncated or not a CIFAR-10 batch ({e.__class__.__name__}); re-download it."
        ) from None
    if len(x) != len(y):
        raise DatasetError(f"{path}: {len(x)} images but {len(y)} labels; re-download it.")
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


def _decode_jpeg(buf: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(io.BytesIO(buf))
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DatasetError(
            f"a CIFAR-10 image is corrupt ({e.__class__.__name__}); re-download the image folder."
        ) from None
    with im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _cifar_from_members(members) -> Dataset:
    """``members``: iterable of (relative path 'split/class/file.jpg', bytes-callable)."""
    splits = {"train": ([], []), "test": ([], [])}
    cls_index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    for rel, read in members:
        parts = Path(rel).parts
        if len(parts) < 3 or parts[-3] not in splits or parts[-2] not in cls_index:
            continue
        if not parts[-1].lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        xs, ys = splits[parts[-3]]
        xs.append((rel, read))
        ys.append(cls_index[parts[-2]])
    out = {}
    for split, (xs, ys) in splits.items():
        if not xs:
            raise DatasetNotFoundError(f"cifar10: the image folder has no {split}/<class>/*.jpg files. {_CIFAR_HOW}")
        order = sorted(range(len(xs)), key=lambda i: xs[i][0])  # canonical order: by path
        imgs = np.stack([_decode_jpeg(xs[i][1]()) for i in order])
        out[split] = (imgs.transpose(0, 3, 1, 2).astype(np.float32) / 255.0, np.asarray(ys, np.int64)[order])
    return Dataset("cifar10", *out["train"], *out["test"], classes=CIFAR10_CLASSES)


def _cifar_from_tar(path: Path) -> Dataset:
    try:
        with tarfile.open(path, "r:*") as tf:
            files = {}
            for m in tf.getmembers():
                if m.isfile():
                    files[m.name] = tf.extractfile(m).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DatasetError(
            f"{path} is truncated or not a tar archive ({e.__class__.__name__}); re-download it."
        ) from None
    return _cifar_from_members((name, (lambda b=b: b)) for name, b in files.items())


def _cifar_from_tree(folder: Path) -> Dataset:
    paths = [p for p in folder.rglob("*") if p.is_file()]
    return _cifar_from_members((str(p.relative_to(folder)), p.read_bytes) for p in paths)


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
    side = f.with_name(f.name + ".sha256")
    if f.exists():
        try:  # the decoded arrays are trusted only with a matching checksum; else decoded again
            if not side.exists() or side.read_text().strip() != sha256_file(f):
                raise ValueError("checksum missing or different")
            with np.load(f, allow_pickle=False) as z:
                return Dataset(
                    str(z["name"]),
                    z["x_train"],
                    z["y_train"],
                    z["x_test"],
                    z["y_test"],
                    classes=tuple(str(c) for c in z["classes"]),
                )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            import warnings

            warnings.warn(f"decoded-data cache {f} is corrupt ({e}); decoding {path} again", stacklevel=2)
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
    atomic_write(side, sha256_file(f) + "\n")
    return ds
