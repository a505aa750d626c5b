"""The one storage room: where latentlab keeps things on disk and how it writes them.

* :func:`cache_dir` - the cache root (``$LATENTLAB_CACHE`` or ``~/.cache/latentlab``) of decoded
  data sets, trained generators and labels;
* :func:`atomic_path` / :func:`atomic_write` - write to a temporary name, then rename: a crash at
  any moment leaves either the old file or the new one, never half of one;
* :func:`save_state` / :func:`load_state` - a model's ``state_dict`` (generators, target-model
  checkpoints), loaded with ``weights_only=True``;
* :func:`content_key`, :func:`json_key` - content hashes that key the caches;
* :func:`sha256_bytes`, :func:`sha256_file`, :func:`verify_file`, :func:`checked_json`,
  :func:`load_checked_json`, :func:`write_sidecar`, :func:`read_verified` - integrity checksums of
  the files latentlab later trusts (generator cache, checkpoints, label cache, decoded data,
  ``state.json``, ``config.json``, a sweep's ``done.json``);
* :class:`LabelCache` - labels on disk keyed by the content hash of their input;
* :class:`WriteLock`, :class:`RunLock` - one process writes a file or an output folder at a time
  (a ``filelock`` lock file holding the PID).

Integrity rule: every file latentlab reads back is verified against a SHA-256 recorded when it was
written, and a *missing* checksum is a failure like a wrong one (a file edited by hand, or written
by a version that recorded none). A run file that fails raises one line naming the file and the
fix; a cache entry that fails is reported as a warning and computed again. The checksums detect
corruption and edits, not a forger who recomputes them (that needs a key, which latentlab has not).

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
import re
import secrets
import warnings
from pathlib import Path

import numpy as np

from .exceptions import ResumeError, StorageError

__all__ = [
    "cache_dir",
    "check_folder_writable",
    "check_cache_writable",
    "atomic_path",
    "atomic_write",
    "save_state",
    "load_state",
    "content_key",
    "json_key",
    "sha256_bytes",
    "sha256_file",
    "verify_file",
    "json_checksum",
    "checked_json",
    "load_checked_json",
    "sidecar",
    "write_sidecar",
    "read_verified",
    "load_torch",
    "LabelCache",
    "WriteLock",
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


def check_folder_writable(folder, what: str, fix: str) -> Path:
    """Refuse, with one line naming ``folder`` and ``fix``, a folder this process cannot create or write in.

    Checked by writing: a probe file is created (and removed) in ``folder``, or, when ``folder`` does
    not exist yet, in its nearest existing ancestor (where it would be created). A real write
    catches what permission bits do not say: a read-only mount, an immutable folder, ACLs, root
    squashing on a network disk. ``what`` names the folder in the message (e.g. "--out", "cache folder").
    Returns ``folder`` as a Path."""
    from .exceptions import ConfigError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what} {folder} is a file, not a folder; {fix}")
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{what} {folder}: {probe} is a file, not a folder; {fix}")
    try:
        fd, name = __import__("tempfile").mkstemp(prefix=".latentlab-probe-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        reason = "no space left" if e.errno in _NO_SPACE else (e.strerror or "not writable").lower()
        where = "" if probe == folder else f" (it would be created in {probe})"
        raise ConfigError(f"{what} {folder} cannot be written{where}: {reason}; {fix}") from None
    return folder


def check_cache_writable(folder=None) -> Path:
    """:func:`check_folder_writable` for a cache folder (default: :func:`cache_dir`), before the work whose
    result it keeps (a generator's training, a data set's decoding) starts."""
    folder = Path(folder) if folder is not None else cache_dir()
    return check_folder_writable(
        folder,
        "cache folder",
        "set LATENTLAB_CACHE to a folder you can write (or fix its permissions), then rerun",
    )


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
    """Raise :class:`ResumeError` naming ``path`` and ``fix`` when the file is missing, when no checksum
    was recorded for it (``sha256`` None or empty: a missing checksum is a failure, not a pass), or
    when its SHA-256 is not ``sha256``."""
    path = Path(path)
    if not path.is_file():
        raise ResumeError(f"{path} is missing; {fix}")
    if not sha256 or not isinstance(sha256, str):
        raise ResumeError(f"{path} has no checksum recorded, so it cannot be trusted; {fix}")
    if sha256_file(path) != sha256:
        raise ResumeError(f"{path} is corrupt (its SHA-256 does not match the one recorded when it was written); {fix}")


def json_checksum(obj: dict, key: str = "sha256") -> str:
    """SHA-256 of ``obj`` without ``key``, as canonical (sorted-key) JSON: what a checked JSON file records."""
    return sha256_bytes(json.dumps({k: v for k, v in obj.items() if k != key}, sort_keys=True).encode())


def checked_json(obj: dict, key: str = "sha256", **dump_kwargs) -> str:
    """``obj`` as JSON text with its :func:`json_checksum` under ``key`` (read back with :func:`load_checked_json`)."""
    return json.dumps({**obj, key: json_checksum(obj, key)}, **dump_kwargs)


def load_checked_json(path, fix: str, key: str = "sha256", what: str = "a latentlab file") -> dict:
    """The JSON object in ``path`` without its checksum ``key``, once that checksum is present and right.

    Anything else raises :class:`ResumeError`, one line naming the file and ``fix``: a missing or
    unreadable file, text that is not JSON (or nested too deeply to parse), JSON that is not an
    object (``what`` says what it should be), a missing checksum, a checksum that does not match.
    """
    f = Path(path)
    try:
        d = json.loads(f.read_text())
    except FileNotFoundError:
        raise ResumeError(f"{f} is missing; {fix}") from None
    except (OSError, ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ResumeError(f"{f} is unreadable or corrupt ({e.__class__.__name__}); {fix}") from None
    if not isinstance(d, dict):
        raise ResumeError(f"{f} is not {what} (a JSON {type(d).__name__}, not an object); {fix}")
    digest = d.pop(key, None)
    if digest is None:
        raise ResumeError(
            f"{f} has no checksum ('{key}' is missing: edited by hand, or written by an older latentlab), "
            f"so it cannot be trusted; {fix}"
        )
    if not isinstance(digest, str) or digest != json_checksum(d, key):
        raise ResumeError(f"{f} is corrupt (its checksum does not match its contents); {fix}")
    return d


SIDECAR = ".sha256"


def sidecar(path) -> Path:
    """``<path>.sha256``: where the checksum of a file with no other place for one is kept."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR)


def write_sidecar(path, digest: str | None = None) -> str:
    """Record the SHA-256 of ``path`` (``digest``, or computed) in its :func:`sidecar`; returns it."""
    digest = digest or sha256_file(path)
    atomic_write(sidecar(path), digest + "\n")
    return digest


def read_verified(path, fix: str) -> bytes:
    """The bytes of ``path`` once they match the SHA-256 in its :func:`sidecar`; else :class:`ResumeError`
    naming the file and ``fix`` (file or sidecar missing, unreadable, or a different checksum)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ResumeError(f"{path} is missing; {fix}") from None
    except OSError as e:
        raise ResumeError(f"{path} is unreadable ({e.__class__.__name__}); {fix}") from None
    try:
        recorded = sidecar(path).read_text().strip()
    except (OSError, ValueError):
        recorded = ""
    if not recorded:
        raise ResumeError(
            f"{path} has no checksum recorded ({sidecar(path).name} is missing), so it cannot be trusted; {fix}"
        )
    if recorded != sha256_bytes(data):
        raise ResumeError(f"{path} is corrupt (its SHA-256 does not match the one recorded when it was written); {fix}")
    return data


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


def _recorded_sha256(path: Path) -> str | None:
    """The checksum recorded for a state file: in the JSON sidecar of :func:`save_state`, else in ``<name>.sha256``."""
    for side, read in (
        (path.with_suffix(".json"), lambda t: json.loads(t).get("sha256")),
        (sidecar(path), lambda t: t.strip()),
    ):
        try:
            digest = read(side.read_text())
        except (OSError, ValueError, AttributeError, RecursionError):
            continue
        if isinstance(digest, str) and digest:
            return digest
    return None


def load_torch(path, sha256: str | None = None, fix: str | None = None, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` of a verified file: the bytes must match ``sha256`` (default:
    the checksum recorded beside the file, see :func:`save_state` and :func:`write_sidecar`).

    A missing file, a missing or wrong checksum, a truncated or foreign file (a pickle that is not
    plain tensors is refused) raise :class:`ResumeError` naming the file and ``fix``.
    """
    import pickle

    import torch

    path = Path(path)
    fix = fix or "delete it to retrain, or match the configuration it was saved with"
    verify_file(path, sha256 or _recorded_sha256(path), fix)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
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


def load_state(module, path, sha256: str | None = None, fix: str | None = None):
    """Load a ``state_dict`` saved by :func:`save_state` into ``module``, safely (``weights_only=True``).

    ``sha256``: the checksum recorded at save time (default: the one in the ``.json`` sidecar
    ``save_state(meta=...)`` wrote). No checksum anywhere, a mismatch, a missing, truncated or
    foreign file raise :class:`ResumeError` naming the file and ``fix``; so does a state that does not
    fit ``module``.
    """
    path = Path(path)
    fix = fix or "delete it to retrain, or match the configuration it was saved with"
    state = load_torch(path, sha256, fix)
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
    fails (garbled, truncated, NaN, no sidecar) is reported once as a warning naming the file and
    treated as missing, so the tool labels that input again and the entry is rewritten. Keys must be content
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
        try:
            y = np.load(io.BytesIO(read_verified(p, "labelling that input again")), allow_pickle=False)
            if shape is not None and tuple(y.shape) != shape:
                raise ValueError(f"shape {tuple(y.shape)}, expected {shape}")
            if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
                raise ValueError("it holds NaN or infinite values")
            if y.dtype.kind not in "biufc":
                raise ValueError(f"dtype {y.dtype} is not numeric")
        except ResumeError as e:  # missing or wrong checksum: the message names the file and the fix
            warnings.warn(f"label cache entry {e}", stacklevel=2)
            return None
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
        with atomic_path(sidecar(p), suffix=f".{pid}.tmp") as tmp:
            tmp.write_text(sha256_bytes(data) + "\n")
        with atomic_path(p, suffix=f".{pid}.tmp") as tmp:
            tmp.write_bytes(data)

    def __contains__(self, x) -> bool:
        return self.path(content_key(x)).exists()

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.npy"))) if self.folder.exists() else 0


class WriteLock:
    """One process at a time writes ``target`` (a file or a folder): a ``filelock.FileLock`` on ``lock_file``.

    The lock is the kernel's ``flock`` (released however the holder dies, so a lock file left by a
    killed command is simply taken over); the holder writes its PID into the lock file, and a second
    process asking for the lock raises :class:`ResumeError` at once, naming that PID and ``fix``. On
    a file system without ``flock`` filelock's soft lock (a marker file that records the PID, broken
    when its process is gone) is used instead. The lock file is removed on release.

    Any file a command writes can be locked this way, e.g. ``WriteLock(out / "tune.json")`` (lock
    file ``out/.tune.json.lock``). Use as a context manager. Not re-entrant: a second acquire in
    the same process is refused like any other.
    """

    def __init__(self, target, lock_file=None, fix: str = "wait for it to finish, or choose another --out"):
        self.target = Path(target)
        self.path = Path(lock_file) if lock_file is not None else self.target.with_name(f".{self.target.name}.lock")
        self.fix = fix
        self._lock = None
        self._inode = None

    def _refuse(self, pid) -> ResumeError:
        return ResumeError(f"another latentlab run (pid {pid or '?'}) is writing to {self.target}; {self.fix}")

    def acquire(self) -> "WriteLock":
        import filelock

        def record_pid(fd: int) -> None:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            st = os.fstat(fd)
            self._inode = (st.st_dev, st.st_ino)

        for _ in range(5):  # a refusal is retried only when the holder released (and removed) the file meanwhile
            existed = self.path.exists()
            lock = filelock.FileLock(str(self.path), timeout=0, on_acquired=record_pid)
            try:
                lock.acquire()
            except filelock.Timeout:
                if self.path.exists():
                    raise self._refuse(_read_pid(self.path)) from None
                continue
            except OSError as e:
                if e.errno not in _NO_FLOCK:
                    raise
                if not existed:  # the empty file the failed attempt created is nobody's marker
                    with contextlib.suppress(OSError):
                        self.path.unlink()
                lock = filelock.SoftFileLock(str(self.path), timeout=0)  # no flock here: a marker with the PID
                try:
                    lock.acquire()
                except filelock.Timeout:
                    raise self._refuse(_read_pid(self.path)) from None
            self._lock = lock
            return self
        raise self._refuse(_read_pid(self.path))

    def release(self) -> None:
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        import filelock

        if isinstance(lock, filelock.SoftFileLock):
            lock.release()  # removes its marker itself
            return
        with contextlib.suppress(OSError):  # remove the file first (if it is still ours), then unlock:
            st = os.stat(self.path)  # a waiter that locked the removed file sees it unlinked and retries
            if (st.st_dev, st.st_ino) == self._inode:
                self.path.unlink()
        lock.release()

    @property
    def is_locked(self) -> bool:
        return self._lock is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class RunLock(WriteLock):
    """One process per output folder: ``folder/.latentlab.lock`` holds the owner's PID while it runs.

    A :class:`WriteLock` on the folder: a second run on the same folder raises :class:`ResumeError`
    at once, naming the PID that holds it; a lock left by a crashed run is taken over.
    """

    NAME = ".latentlab.lock"

    def __init__(self, folder):
        super().__init__(folder, lock_file=Path(folder) / self.NAME)


_NO_FLOCK = {errno.ENOSYS, errno.ENOLCK, getattr(errno, "EOPNOTSUPP", errno.ENOSYS)}


def _read_pid(path) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
