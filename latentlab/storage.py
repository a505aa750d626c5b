"""The one storage room: where latentlab keeps things on disk and how it writes them.

* :func:`cache_dir` - the cache root (``$LATENTLAB_CACHE`` or ``~/.cache/latentlab``) of decoded
  data sets, trained generators and labels;
* :func:`atomic_path` / :func:`atomic_write` - write to a temporary name, then rename: a crash at
  any moment leaves either the old file or the new one, never half of one;
* :func:`save_state` / :func:`load_state` - a model's ``state_dict`` (generators, target-model
  checkpoints), loaded with ``weights_only=True``;
* :func:`content_key`, :func:`json_key` - content hashes that key the caches;
* :func:`sha256_bytes`, :func:`sha256_file`, :func:`verify_file` - integrity checksums of the files
  latentlab later trusts (generator cache, checkpoints, label cache, ``state.json``, ``config.json``);
* :class:`LabelCache` - labels on disk keyed by the content hash of their input;
* :class:`RunLock` - one process per output folder (a lock file holding the PID).

Every write goes through :func:`atomic_path`, which calls :data:`RENAME_HOOK` (tests use it to
simulate a kill at each rename) and turns a full disk into a :class:`~latentlab.exceptions.StorageError`.

Cache keys are part of the on-disk format: changing how one is computed silently retrains a
generator or re-solves labels (``tests/test_storage.py`` pins them).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import secrets
import re
import warnings
from pathlib import Path

import numpy as np

from .exceptions import ResumeError, StorageError

__all__ = [
    "cache_dir",
    "atomic_path",
    "atomic_write",
    "save_state",
    "load_state",
    "content_key",
    "json_key",
    "sha256_bytes",
    "sha256_file",
    "verify_file",
    "LabelCache",
    "RunLock",
    "RENAME_HOOK",
]

# Called as ``RENAME_HOOK(tmp, path)`` just before every atomic rename (None = nothing). A hook that
# raises leaves the temporary file behind, exactly as a kill at that moment would: the fault-injection
# tests kill a run at each rename this way, then check that ``--resume`` gives the same results.
RENAME_HOOK = None
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def cache_dir() -> Path:
    """``$LATENTLAB_CACHE``, else the platform's user cache folder (platformdirs): the one cache root of
    data, generators and labels. Linux: ``$XDG_CACHE_HOME/latentlab`` (``~/.cache/latentlab``);
    macOS: ``~/Library/Caches/latentlab``; Windows: ``%LOCALAPPDATA%\\latentlab\\Cache``."""
    if "LATENTLAB_CACHE" in os.environ:
        return Path(os.environ["LATENTLAB_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("latentlab", appauthor=False))


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temporary path next to ``path``; on success rename it onto ``path`` (atomic).

    ``suffix`` ends the temporary file's name (``<name>.<pid>-<random><suffix>``); writers that
    append their own extension need it to end in that extension (``np.savez`` adds ``.npz``
    otherwise). The name is unique per process and call, so two processes filling the same cache
    entry at once (parallel workers on a fresh machine) never write into each other's file: the
    last rename wins with a complete file. On an exception the temporary file is removed and
    ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            raise StorageError(
                f"no space left on the device writing {path}; free some space, then rerun (with --resume for a run)"
            ) from None
        raise
    if RENAME_HOOK is not None:
        RENAME_HOOK(tmp, path)
    os.replace(tmp, path)


def atomic_write(path, data: str | bytes) -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)


def sha256_bytes(data: bytes) -> str:
    """SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    """SHA-256 hex digest of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path, sha256: str | None, fix: str) -> None:
    """Raise :class:`ResumeError` naming ``path`` and ``fix`` when the file is missing or its SHA-256 is
    not ``sha256`` (``None`` = no checksum recorded: only existence is checked)."""
    path = Path(path)
    if not path.is_file():
        raise ResumeError(f"{path} is missing; {fix}")
    if sha256 is not None and sha256_file(path) != sha256:
        raise ResumeError(f"{path} is corrupt (its SHA-256 does not match the one recorded when it was written); {fix}")


def save_state(module, path, meta: dict | None = None) -> str:
    """Atomically save a ``state_dict``; returns the file's SHA-256.

    With ``meta``, a JSON sidecar (``path`` with suffix ``.json``) holds ``meta`` plus ``sha256``, the
    checksum :func:`load_state` checks. The state is serialised in memory first, so a full disk is
    an ``OSError`` of the write (a clear :class:`StorageError`), not an error deep inside torch.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    data = buf.getvalue()
    atomic_write(path, data)
    digest = sha256_bytes(data)
    if meta is not None:
        atomic_write(path.with_suffix(".json"), json.dumps({**meta, "sha256": digest}, indent=1, sort_keys=True))
    return digest


def load_state(module, path, sha256: str | None = None, fix: str | None = None):
    """Load a ``state_dict`` saved by :func:`save_state`, safely (``weights_only=True``).

    ``sha256``: the checksum recorded at save time; a mismatch, a missing, truncated or foreign file
    (a pickle that is not plain tensors is refused) raise :class:`ResumeError` naming the file and ``fix``.
    """
    import pickle

    import torch

    path = Path(path)
    fix = fix or "delete it to retrain, or match the configuration it was saved with"
    verify_file(path, sha256, fix)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        ValueError,
        KeyError,
        OSError,
        AttributeError,
        ImportError,
        IndexError,
        TypeError,
    ) as e:
        raise ResumeError(
            f"{path} is not a readable latentlab checkpoint ({e.__class__.__name__}: "
            f"{str(e).splitlines()[0][:160] if str(e) else ''}); {fix}"
        ) from None
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise ResumeError(
            f"checkpoint {path} does not fit this model ({e.__class__.__name__}: "
            f"{str(e).splitlines()[0][:160] if str(e) else ''}); {fix}"
        ) from None
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


_KEY = re.compile(r"^[0-9a-f]{32}$")


class LabelCache:
    """On-disk store of labels keyed by the content hash of their input, written as each label arrives.

    One ``<key>.npy`` file per label, written to a temporary name and renamed (atomic), so a crash
    loses nothing already labelled and a rerun never labels the same input twice. ``.npy`` is read
    with ``allow_pickle=False``: nothing executable is ever loaded from the cache.

    Integrity: each label has a ``<key>.npy.sha256`` sidecar, written before the label itself. On
    every read the checksum, the finiteness and (with ``shape``) the shape are checked; an entry that
    fails (garbled, truncated, NaN) is reported once as a warning naming the file and treated as
    missing, so the tool labels that input again and the entry is rewritten. Entries written before
    checksums existed (no sidecar) are still checked for finiteness and shape. Keys must be content
    hashes (32 hex digits): a key such as ``../x`` is refused, so the cache never reads outside its folder.

    Parameters
    ----------
    folder : path
        Cache folder (created on first write). Different tools or settings need different folders
        (e.g. ``<cache>/labels/fem-<settings hash>``).
    """

    def __init__(self, folder, shape: tuple | None = None):
        self.folder = Path(folder)
        self.shape = None if shape is None else tuple(shape)

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.match(key):
            from .exceptions import ConfigError

            raise ConfigError(f"label cache key {key!r} is not a content hash (32 hex digits, see content_key)")
        return self.folder / f"{key}.npy"

    def get(self, x: np.ndarray):
        """The cached label of input ``x``, or ``None``."""
        return self.load(content_key(x))

    def put(self, x: np.ndarray, y: np.ndarray) -> None:
        self.save(content_key(x), y)

    def load(self, key: str, shape: tuple | None = None):
        """The cached label under content key ``key``, or ``None`` (also for a corrupt entry, with a warning).

        ``shape``: the label's expected shape (default: the cache's ``shape``; None = any)."""
        shape = self.shape if shape is None else tuple(shape)
        p = self.path(key)
        if not p.exists():
            return None
        side = p.with_name(p.name + ".sha256")
        try:
            data = p.read_bytes()
            if side.exists() and side.read_text().strip() != sha256_bytes(data):
                raise ValueError("its SHA-256 does not match the one recorded when it was written")
            y = np.load(io.BytesIO(data), allow_pickle=False)
            if shape is not None and tuple(y.shape) != shape:
                raise ValueError(f"shape {tuple(y.shape)}, expected {shape}")
            if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
                raise ValueError("it holds NaN or infinite values")
            if y.dtype.kind not in "biufc":
                raise ValueError(f"dtype {y.dtype} is not numeric")
        except (OSError, ValueError, EOFError) as e:
            warnings.warn(f"label cache entry {p} is corrupt ({e}); labelling that input again", stacklevel=2)
            return None
        return y

    def save(self, key: str, y: np.ndarray) -> None:
        """Write one label atomically (a per-process temporary name, then rename), its checksum first."""
        p = self.path(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, np.asarray(y), allow_pickle=False)
        data = buf.getvalue()
        pid = os.getpid()
        with atomic_path(p.with_name(p.name + ".sha256"), suffix=f".{pid}.tmp") as tmp:
            tmp.write_text(sha256_bytes(data) + "\n")
        with atomic_path(p, suffix=f".{pid}.tmp") as tmp:
            tmp.write_bytes(data)

    def __contains__(self, x) -> bool:
        return self.path(content_key(x)).exists()

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.npy"))) if self.folder.exists() else 0


class RunLock:
    """One process per folder: ``folder/.latentlab.lock`` holds the owner's PID while it runs.

    Acquiring takes an exclusive ``flock`` on the file (released by the kernel when the process dies,
    however it dies), so a lock file left by a crashed run is stale and simply taken over; where
    ``fcntl`` is missing the PID is checked instead. A second run on the same folder raises
    :class:`ResumeError` at once, naming the PID that holds it. Use as a context manager.
    """

    NAME = ".latentlab.lock"

    def __init__(self, folder):
        self.path = Path(folder) / self.NAME
        self._fd = None

    def acquire(self) -> "RunLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                held = not _try_lock(fd, self.path)
                if not held and os.path.exists(self.path) and os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break  # locked, and still the file at this path (not one a releasing run just unlinked)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
            if held:
                pid = _read_pid(self.path)
                raise ResumeError(
                    f"another latentlab run (pid {pid or '?'}) is writing to {self.path.parent}; "
                    "wait for it to finish, or choose another --out"
                )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_pid(path) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pid_free(path) -> bool:
    """Without flock: the lock is free when no PID is recorded or its process is gone (stale)."""
    pid = _read_pid(path)
    if pid is None or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # stale: its owner is gone
    except OSError:
        return False
    return False


def _try_lock(fd: int, path) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return _pid_free(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False  # held by a live process
        return _pid_free(path)  # a file system without flock (ENOLCK, EOPNOTSUPP): fall back to the PID
