"""The ``vessels`` data set: generated wall masks now, FEM stress labels as they are needed.

The stand-in for the paper's IVUS set (Section 4.1): ``generate_vessels(n, seed=seed)``, the
last ``n_test`` masks held out. Pool labels are not computed here: the FEM labeler solves the
masks a strategy chooses; the test labels are solved once and cached by mask content. The default
test set's labels (``n=1200, seed=0``, default solver) ship with latentlab
(:mod:`latentlab.vessels.shipped`), so a first load solves nothing; ``LATENTLAB_SHIPPED_LABELS=0``
solves them.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np

from ..datasets import Dataset, register_dataset
from ..exceptions import ConfigError, DatasetError
from ..labeling import make_labeler
from .labeler import STRESS_SCALE_KPA, label_workers
from .masks import generate_vessels

__all__ = ["N_SLICES", "N_TEST", "STRESS_SCALE_KPA", "METRIC_SCALE", "TARGETS", "load_vessels", "vessel_masks"]

N_SLICES = 1200  # paper, Section 4.1: IVUS slices in the data set
N_TEST = 210  # paper, Section 4.1: held-out test cases
METRIC_SCALE = 1e3
# reported test MSE = mean over pixels of (prediction - stress/200 kPa)^2 x 1e3 (the paper's
# IVUS MSE is reported on a x1e3-like scale). In kPa^2: value x 200^2 / 1e3 = value x 40.


TARGETS = ("s6",)  # Table S6's encoder-decoder: the only registered image-to-image target


def vessel_masks(n: int = N_SLICES, seed: int = 0) -> np.ndarray:
    """The masks of :func:`load_vessels` (pool, then test set), shape (n, 1, 64, 64), float32 0/1."""
    return generate_vessels(n, seed=seed).astype(np.float32)[:, None]


@register_dataset("vessels", targets=TARGETS)
def load_vessels(
    root: str | os.PathLike | None = None,
    n: int = N_SLICES,
    n_test: int = N_TEST,
    seed: int = 0,
    *,
    workers: int | None = None,
    progress: bool = True,
    n_test_used: int | None = None,
) -> Dataset:
    """Generated vessel-wall masks with FEM stress labels (the stand-in for the paper's IVUS set).

    ``generate_vessels(n, seed=seed)``; the last ``n_test`` masks are the test set (the draws
    are i.i.d., so this is a random split). Pool labels are *not* computed here: the FEM
    labeler (``make_labeler("fem", dataset)``) solves the masks a strategy chooses. The test
    labels are solved once (in parallel, ``workers`` processes, default
    :func:`~latentlab.vessels.labeler.label_workers`) and cached by mask content in the label cache, so later
    loads cost only the mask generation and cache reads. For the default set (``n``, ``n_test``,
    ``seed`` as given here) the labels latentlab ships are used instead of solving
    (:mod:`latentlab.vessels.shipped`; ``LATENTLAB_SHIPPED_LABELS=0`` solves them).

    Parameters
    ----------
    root : str or os.PathLike, optional
        Unused (the masks are generated); the loader's place in the data set registry.
    n : int
        Masks generated, pool and test set together.
    n_test : int
        The last ``n_test`` masks are the test set.
    seed : int, default 0
        Seeds the mask generator.
    workers : int, optional
        Solver processes for the test labels (default :func:`~latentlab.vessels.labeler.label_workers`).
    progress : bool, default True
        Show the solver's progress.
    n_test_used : int, optional
        Label only the test masks ``Dataset.subset(n_test=n_test_used)`` would keep (the same
        seeded draw), e.g. for ``--n-test 1``; the returned test set is that subset.

    Returns
    -------
    Dataset
        ``x_train`` (n - n_test, 1, 64, 64) float32 0/1, ``y_train`` None, ``x_test``
        (n_test, 1, 64, 64), ``y_test`` (n_test, 1, 64, 64) float32 = stress / 200 kPa in [0, 1];
        ``task="regression"``, ``labeler="fem"``, ``targets=("s6",)``, ``n_outputs=1``,
        ``metric_scale=1e3``; ``meta`` records the stress scale and the generator seed.
    """
    if not 0 < n_test < n:
        raise ConfigError(f"vessels: need 0 < n_test < n, got n={n}, n_test={n_test}")
    masks = vessel_masks(n, seed)
    ds = Dataset(
        "vessels",
        masks[: n - n_test],
        None,
        masks[n - n_test :],
        None,
        task="regression",
        meta={"stress_scale_kpa": STRESS_SCALE_KPA, "generator_seed": seed},
        labeler="fem",
        targets=TARGETS,
        n_outputs=1,
        metric_scale=METRIC_SCALE,
    )
    if n_test_used is not None and n_test_used < len(ds.x_test):
        ds = ds.subset(None, n_test_used, seed=0)  # y_test is None: the plain seeded draw subset() makes later
    lab = make_labeler("fem", ds, workers=label_workers() if workers is None else workers)
    res = lab.label(ds.x_test, progress=progress)
    if res.n_failed == len(res.ok):
        raise DatasetError(
            "vessels: the FEM tool failed on every test mask, e.g. "
            + "; ".join(f"#{i}: {r}" for i, r in list(res.errors.items())[:3])
        )
    if res.n_failed:  # never silently: the test set shrinks and says why
        warnings.warn(
            f"vessels: dropped {res.n_failed} test masks the FEM tool could not label: "
            + "; ".join(f"#{i}: {r}" for i, r in list(res.errors.items())[:3]),
            stacklevel=2,
        )
    return dataclasses.replace(ds, x_test=ds.x_test[res.ok], y_test=res.y)
