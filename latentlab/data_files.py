"""The file readers behind the ``mnist`` and ``cifar10`` data sets, and the loaders they register.

Reads, in place (nothing is copied or extracted to disk):

- MNIST: the four IDX files, gzipped or raw, in ``root``, ``root/mnist`` or ``root/MNIST/raw``
  (:func:`read_idx`; the layout is checked by ``_check_mnist``: uint8 28x28 images, labels 0..9).
- CIFAR-10: the official "python version" batches (``cifar-10-batches-py/``), or the JPEG
  image-folder layout ``[cifar10-jpeg/]{train,test}/<class>/*.jpg`` as a tree or a ``.tar.gz``;
  images decoded from a tar are cached as ``.npz`` (no pickle, SHA-256 checked) by ``_cached``.

Refuses, each with one :class:`~latentlab.exceptions.DatasetError` line naming the file and the fix,
before the data are decoded: an IDX header that disagrees with the file's size or declares more
than :data:`MAX_IDX_BYTES`; a gzip stream longer than its header declares (never decompressed past
it); a CIFAR batch over :data:`MAX_BATCH_BYTES`, one whose pickle names any class but numpy's
array builders (``_SafeCifarUnpickler``: a tampered file cannot run code), or one that does not
hold uint8 rows of 32x32x3 and labels 0..9; in an image folder, any member outside the documented
layout (an absolute name, ``..``, a backslash, a link, a device, a FIFO, a second top folder, a
duplicate name), an image file over :data:`MAX_IMAGE_FILE_BYTES`, all files together over
:data:`MAX_ARCHIVE_BYTES` or decoded arrays over :data:`MAX_DECODED_BYTES`, and an image whose
header is not 32x32 (read before any pixel is decoded, so a decompression bomb costs nothing).

The loaders register through :func:`latentlab.datasets.register_dataset`; ``latentlab/__init__.py``
imports this module, so ``mnist`` and ``cifar10`` are in ``DATASETS`` whenever any part of
latentlab is imported (``import latentlab.datasets`` runs the package first).
"""

from __future__ import annotations

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
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from .datasets import Dataset, register_dataset
from .exceptions import DatasetError, DatasetNotFoundError, ResumeError
from .storage import atomic_path, cache_dir, check_cache_writable, sidecar, verify_file, write_sidecar

__all__ = [
    "read_idx",
    "MNIST_FILES",
    "CIFAR10_CLASSES",
    "MAX_IDX_BYTES",
    "MAX_BATCH_BYTES",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_ARCHIVE_BYTES",
    "MAX_DECODED_BYTES",
]


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
