"""FEM labels shipped with latentlab: the default ``vessels`` test set, solved once by latentlab's own solver.

The explorer's first load of ``vessels`` (and ``latentlab run --dataset vessels``) needs the stress
maps of the 210 test masks before it can score anything; solving them takes ~45 s on one core of
the 2-core reference machine (BENCHMARKS.md, "Cold start"). They are the same for every user of
the default data set (``generate_vessels(1200, seed=0)``, the last 210 masks) and the default
solver, so the package carries them, as ``latentlab/weights/`` carries the generators:

* ``latentlab/vessels/labels/<label folder>.npz``: ``keys`` (the masks' content keys,
  :func:`latentlab.storage.content_key`) and ``labels`` (float32, what
  :class:`~latentlab.vessels.labeler.FEMLabeler` returns), written by
  ``benchmarks/ship_vessel_labels.py``; ``<label folder>`` is the name of the labeler's cache folder
  (``fem-<hash of scale, solver, settings and SOLVER_VERSION>``), so a changed setting or a new
  solver version never finds them;
* its ``.json`` sidecar: that folder name, the SHA-256 of the ``.npz``, the data set they belong
  to, and how they were made (seconds, machine, date).

:class:`ShippedLabelCache` is the labeler's :class:`~latentlab.storage.LabelCache` with the
shipped labels behind it: the user's cache first, then the shipped file (read-only), then the
solver. A file whose bytes do not match its SHA-256, or whose labels are not finite or of the
wrong shape, is refused with one warning (the masks are solved). ``LATENTLAB_SHIPPED_LABELS=0``
(or ``FEMLabeler(shipped=False)``) turns them off: every label is solved and cached, as before.
``tests/test_vessels.py`` re-solves some shipped labels and compares them with the solver's.

The values are the solver's own: on the machine that made them, re-solving all 210 gave the same
bytes. On another numpy/SciPy/OpenBLAS kernel path the solver's maps differ by round-off
(``tests/test_fem.py`` pins bits per path; the sidecar records the path), so there the shipped
labels are the reference machine's, the same for every user, where a local solve would not be.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..exceptions import ResumeError
from ..storage import LabelCache, verify_file

__all__ = ["ENV", "shipped_labels_dir", "shipped_labels_enabled", "shipped_labels", "ShippedLabelCache"]

ENV = "LATENTLAB_SHIPPED_LABELS"  # "0"/"off"/"false"/"no": never use the shipped labels


def shipped_labels_dir() -> Path:
    """The folder of FEM labels shipped with the package (``latentlab/vessels/labels``)."""
    return Path(__file__).resolve().parent / "labels"


def shipped_labels_enabled() -> bool:
    """Whether shipped labels are used: unless ``$LATENTLAB_SHIPPED_LABELS`` is ``0``/``off``/``false``/``no``."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def shipped_labels(name: str, folder: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The shipped labels of the label folder ``name`` (``fem-<hash>``), content key -> label; ``{}`` if none.

    Read once per process (and folder); a bundle that fails a check gives ``{}`` with a warning.
    """
    return _read(str(name), str(Path(folder) if folder is not None else shipped_labels_dir()))


@functools.lru_cache(maxsize=8)
def _read(name: str, folder: str) -> dict[str, np.ndarray]:
    npz, side = Path(folder) / f"{name}.npz", Path(folder) / f"{name}.json"
    if not npz.exists() or not side.exists():
        return {}
    try:
        meta = json.loads(side.read_text())
        if meta.get("label_folder") != name:
            raise ValueError(f"its sidecar names the label folder {meta.get('label_folder')!r}")
        verify_file(npz, meta.get("sha256"), "solving those masks instead")
        with np.load(npz, allow_pickle=False) as z:
            keys, labels = z["keys"], z["labels"]
        if labels.dtype != np.float32 or labels.ndim < 2 or len(keys) != len(labels):
            raise ValueError(f"labels {labels.dtype} {labels.shape} for {len(keys)} keys")
        if not np.all(np.isfinite(labels)):
            raise ValueError("it holds NaN or infinite labels")
        if list(labels.shape[1:]) != list(meta.get("label_shape", [])):
            raise ValueError(f"label shape {labels.shape[1:]}, its sidecar says {meta.get('label_shape')}")
    except (OSError, ValueError, KeyError, ResumeError) as e:
        warnings.warn(f"shipped FEM labels {npz.name} not used ({e}); solving those masks instead", stacklevel=3)
        return {}
    labels.setflags(write=False)
    return {str(k): labels[i] for i, k in enumerate(keys)}


class ShippedLabelCache(LabelCache):
    """A :class:`~latentlab.storage.LabelCache` that falls back to shipped labels (read-only) on a miss.

    Parameters
    ----------
    folder : path
        The user's label cache folder (read and written as by :class:`~latentlab.storage.LabelCache`).
    name : str
        The shipped bundle's name: the labeler's label folder name (``fem-<hash>``), see :func:`shipped_labels`.
    shape : tuple, optional
        As :class:`~latentlab.storage.LabelCache`.
    shipped_dir : path, optional
        Where the bundles are (default :func:`shipped_labels_dir`).

    The bundle is read at the first miss (once per process), so pickling this cache (to worker
    processes) carries only its names.
    """

    def __init__(self, folder, name: str, shape: tuple | None = None, shipped_dir: str | os.PathLike | None = None):
        super().__init__(folder, shape)
        self.name, self.shipped_dir = str(name), shipped_dir
        self.n_shipped = 0  # labels served from the shipped file

    def load(self, key: str, shape: tuple | None = None):
        """The cached label under ``key``, else the shipped one, else ``None`` (see :meth:`LabelCache.load`)."""
        y = super().load(key, shape)
        if y is not None:
            return y
        y = shipped_labels(self.name, self.shipped_dir).get(key)
        want = self.shape if shape is None else tuple(shape)
        if y is None or (want is not None and tuple(y.shape) != want):
            return None
        self.n_shipped += 1
        return y.copy()
