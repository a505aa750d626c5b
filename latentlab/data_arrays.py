"""Arrays in and out of a :class:`~latentlab.datasets.Dataset`: seeded index draws and the conversions.

* The seeded draws every split and first round uses: :func:`stratified_indices` (a class-stratified
  sample, or a sorted random choice without labels), :func:`balanced_indices` (equal counts per
  class, the BatchBALD protocol's first round) and :func:`class_histogram`.
* What :meth:`Dataset.from_arrays <latentlab.datasets.Dataset.from_arrays>` and
  :meth:`~latentlab.datasets.Dataset.from_torch` do with your arrays: convert what is unambiguous
  (uint8, bool, float16/64, channels-last, grey, tensors, string labels; each said on the
  ``latentlab.data_arrays`` logger) and refuse the rest with the fix named (floats outside [0, 1], other
  integers, flat images, NaN/inf, labels outside 0 .. K-1); the seeded hold-out split; reading a
  torch ``Dataset`` or ``DataLoader``.

:mod:`latentlab.datasets` re-exports the public names; this room keeps ``datasets.py`` to the data
set itself and its registry.
"""

from __future__ import annotations

import numpy as np

from .exceptions import DatasetError

__all__ = ["stratified_indices", "balanced_indices", "class_histogram"]


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
