"""The one storage room: where latentlab keeps things on disk and how it writes them.

* :func:`cache_dir` - the cache root (``$LATENTLAB_CACHE`` or ``~/.cache/latentlab``) of decoded
  data sets, trained generators and labels;
* :func:`atomic_path` / :func:`atomic_write` - write to a temporary name, then rename: a crash at
  any moment leaves either the old file or the new one, never half of one;
* :func:`save_state` / :func:`load_state` - a model's ``state_dict`` (generators, target-model
  checkpoints), loaded with ``weights_only=True``;
* :func:`content_key`, :func:`json_key` - content hashes that key the caches;
* :class:`LabelCache` - labels on disk keyed by the content hash of their input.

Cache keys are part of the on-disk format: changing how one is computed silently retrains a
generator or re-solves labels (``tests/test_storage.py`` pins them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "atomic_path", "atomic_write", "save_state", "load_state", "content_key", "json_key",
           "LabelCache"]


def cache_dir() -> Path:
    """``$LATENTLAB_CACHE`` or ``~/.cache/latentlab``: the one cache root of data, generators and labels."""
    return Path(os.environ.get("LATENTLAB_CACHE", Path.home() / ".cache" / "latentlab"))


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temporary path next to ``path``; on success rename it onto ``path`` (atomic).

    ``suffix`` names the temporary file (``path.name + suffix``); writers that append their own
    extension need it to end in that extension (``np.savez`` adds ``.npz`` otherwise). On an
    exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(path.name + suffix)
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.replace(tmp, path)


def atomic_write(path, data: str | bytes) -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)


def save_state(module, path, meta: dict | None = None) -> None:
    """Atomically save a ``state_dict`` (plus an optional JSON sidecar with ``meta``)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(module.state_dict(), tmp)
    if meta is not None:
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True))


def load_state(module, path):
    """Load a ``state_dict`` saved by :func:`save_state`, safely (``weights_only=True``)."""
    import torch

    from .exceptions import ResumeError

    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except (RuntimeError, KeyError, EOFError, ValueError) as e:
        raise ResumeError(f"checkpoint {path} does not fit this model ({e.__class__.__name__}: {str(e)[:200]}); "
                          "delete it to retrain, or match the configuration it was saved with.") from e
    return module


def content_key(x: np.ndarray) -> str:
    """Content hash of one input (dtype, shape and bytes): the key of the label cache."""
    a = np.ascontiguousarray(x)
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:32]


def json_key(obj, n: int = 16, default=None) -> str:
    """First ``n`` hex digits of the SHA-1 of ``obj`` as sorted-key JSON (settings -> cache key)."""
    blob = json.dumps(obj, sort_keys=True, default=default)
    return hashlib.sha1(blob.encode()).hexdigest()[:n]


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
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def get(self, x: np.ndarray):
        """The cached label of input ``x``, or ``None``."""
        return self.load(content_key(x))

    def put(self, x: np.ndarray, y: np.ndarray) -> None:
        self.save(content_key(x), y)

    def load(self, key: str):
        """The cached label under content key ``key``, or ``None``."""
        p = self.path(key)
        if not p.exists():
            return None
        return np.load(p, allow_pickle=False)

    def save(self, key: str, y: np.ndarray) -> None:
        """Write one label atomically (a per-process temporary name, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path(key), suffix=f".{os.getpid()}.tmp") as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(y), allow_pickle=False)

    def __contains__(self, x) -> bool:
        return self.path(content_key(x)).exists()

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.npy"))) if self.folder.exists() else 0
