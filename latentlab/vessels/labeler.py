"""The finite-element wall-stress solver as a labeling tool, registered as labeler ``"fem"``.

:class:`FEMLabeler` is a :class:`~latentlab.labeling.ToolLabeler` around :func:`fem_label`
(stress map / 200 kPa, clipped to [0, 1]); its :meth:`~FEMLabeler.prepare` turns decoded
generator outputs into valid wall masks (:func:`latentlab.vessels.masks.postprocess_masks`), which
is what sampling by interpolation needs.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..exceptions import ConfigError
from ..labeling import ToolLabeler, register_labeler
from ..storage import cache_dir as _cache_root
from ..storage import json_key
from .masks import POSTPROCESS_MARGIN, postprocess_masks
from .shipped import ShippedLabelCache, shipped_labels_enabled

if TYPE_CHECKING:
    import torch

    from .fem import FEMSettings

__all__ = ["STRESS_SCALE_KPA", "DEFAULT_LABEL_WORKERS", "label_workers", "fem_label", "FEMLabeler"]

STRESS_SCALE_KPA = 200.0
# kPa: targets are stress / 200 kPa, clipped to [0, 1] (the S6 net ends in a sigmoid). On 20
# generated masks the per-mask peak was 53-167 kPa and the 99.9th percentile of wall pixels
# 126 kPa, so clipping touches almost nothing; the plaque-stress range of Teng et al. 2014.

DEFAULT_LABEL_WORKERS = 1  # FEM processes when $LATENTLAB_LABEL_WORKERS is unset (a shared 2-core box)


def label_workers() -> int:
    """FEM labeling processes: ``$LATENTLAB_LABEL_WORKERS``, else :data:`DEFAULT_LABEL_WORKERS`."""
    return int(os.environ.get("LATENTLAB_LABEL_WORKERS", DEFAULT_LABEL_WORKERS))


def fem_label(x, *, scale_kpa: float, solver=None, **solver_kwargs) -> np.ndarray:
    """FEM label of one data-set item: stress map / ``scale_kpa``, clipped to [0, 1], float32.

    Parameters
    ----------
    x : ndarray, shape (1, H, W) or (H, W)
        Wall mask with values 0/1 (as the ``vessels`` data set stores it: float32).
    scale_kpa : float
        Normalising stress (see :data:`STRESS_SCALE_KPA`).
    solver : callable, optional
        ``solver(mask, **solver_kwargs) -> stress (H, W) kPa``; default :func:`latentlab.vessels.fem.stress_map`
        (``solver_kwargs``: its ``settings`` or setting names).

    Returns
    -------
    ndarray, same shape as ``x``, float32 in [0, 1]
    """
    if solver is None:
        from .fem import stress_map as solver
    a = np.asarray(x)
    mask = a[0] if a.ndim == 3 and a.shape[0] == 1 else a
    s = np.asarray(solver(mask, **solver_kwargs), dtype=np.float64) / scale_kpa
    return np.clip(s, 0.0, 1.0).astype(np.float32).reshape(a.shape)


class FEMLabeler(ToolLabeler):
    """The finite-element wall-stress solver as a labeling tool (normalised stress maps).

    ``label`` returns ``clip(stress_map(mask) / scale_kpa, 0, 1)`` per mask (float32, shape
    of the input); :meth:`prepare` turns decoded generator outputs into valid masks
    (:func:`latentlab.vessels.masks.postprocess_masks`: threshold, keep the wall ring, fill holes,
    reject what is not one ring). The cache folder is keyed by the solver settings
    (:class:`~latentlab.vessels.fem.FEMSettings`), so changing a setting never returns labels of another.

    Parameters
    ----------
    scale_kpa : float, optional
        Default :data:`STRESS_SCALE_KPA`.
    threshold : float, default 0.5
        Wall threshold of :meth:`prepare`.
    cache_dir : path or "default" or None
        ``"default"``: ``<LATENTLAB_CACHE>/labels/fem-<settings hash>``; None: no cache.
    workers : int, default 1
        Solver processes (see :class:`~latentlab.labeling.ToolLabeler`).
    client : dask.distributed.Client, optional
        Solve on a Dask cluster instead (see :class:`~latentlab.labeling.ToolLabeler`).
    solver : callable, optional
        Replaces :func:`latentlab.vessels.fem.stress_map` (tests use a fast fake); it is part of the key.
    settings : FEMSettings, optional
        The built-in solver's settings (:class:`latentlab.vessels.fem.FEMSettings`); the folder
        is keyed by those that differ from the defaults (:meth:`~latentlab.vessels.fem.FEMSettings.key`).
    shipped : bool, optional
        On a cache miss, take the labels latentlab ships for exactly these settings (the default
        ``vessels`` test set, :mod:`latentlab.vessels.shipped`; SHA-256 checked) instead of
        solving. Default: yes, unless ``$LATENTLAB_SHIPPED_LABELS`` is ``0``/``off``. Only for the
        built-in solver and with a cache.
    **solver_kwargs
        Settings by name (``pressure_kpa``, ``refine``, ``smooth_passes``, ...), applied over
        ``settings``; with ``solver``, passed to it as they are.
    """

    name = "fem"
    can_label_synthetic = True

    def __init__(
        self,
        *,
        scale_kpa: float | None = None,
        threshold: float = 0.5,
        cache_dir: str | os.PathLike | None = "default",
        workers: int = 1,
        client: Any = None,
        solver: Callable[..., np.ndarray] | None = None,
        settings: FEMSettings | None = None,
        shipped: bool | None = None,
        **solver_kwargs: Any,
    ) -> None:
        if scale_kpa is None:
            scale_kpa = STRESS_SCALE_KPA
        if not (np.isfinite(scale_kpa) and scale_kpa > 0):
            raise ConfigError(f"scale_kpa must be a positive number of kPa, got {scale_kpa!r}")
        self.scale_kpa = float(scale_kpa)
        self.threshold = float(threshold)
        self.solver_kwargs = dict(solver_kwargs)
        if solver is None:
            from .fem import FEMSettings

            if settings is not None and not isinstance(settings, FEMSettings):
                raise ConfigError(f"settings must be a FEMSettings, got {type(settings).__name__}")
            self.settings = (settings or FEMSettings()).replace(**solver_kwargs)
            fn = functools.partial(fem_label, scale_kpa=self.scale_kpa, settings=self.settings)
            key_items = self.settings.key()
        else:
            if settings is not None:
                raise ConfigError("settings are the built-in solver's; pass a solver's own options as keywords")
            self.settings = None
            fn = functools.partial(fem_label, scale_kpa=self.scale_kpa, solver=solver, **solver_kwargs)
            key_items = self.solver_kwargs
        # the key names the default solver by its historical module path, "latentlab.fem": changing
        # that literal would re-solve every cached label
        key = {
            "scale_kpa": self.scale_kpa,
            "solver": getattr(solver, "__qualname__", "stress_map"),
            "module": getattr(solver, "__module__", "latentlab.fem"),
            **key_items,
        }
        if solver is None:  # the built-in solver's labels change with its version: never reuse stale ones
            from .fem import SOLVER_VERSION

            key["solver_version"] = SOLVER_VERSION
        self.label_folder = f"fem-{json_key(key, 12, default=repr)}"  # what these labels are: the cache folder's name
        if cache_dir == "default":
            cache_dir = _cache_root() / "labels" / self.label_folder
        super().__init__(fn, cache_dir=cache_dir, workers=workers, client=client, out_shape="input")
        if shipped is None:
            shipped = shipped_labels_enabled()
        if shipped and solver is None and self.cache is not None:  # the labels latentlab ships for these settings
            self.cache = ShippedLabelCache(self.cache.folder, self.label_folder, self.cache.shape)

    @property
    def n_shipped(self) -> int:
        """Labels served from the labels shipped with latentlab (:mod:`latentlab.vessels.shipped`)."""
        return getattr(self.cache, "n_shipped", 0)

    def prepare(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decoded images (n, 1, H, W) in [0, 1] -> ``(masks, accepted)``, the valid masks.

        Parameters
        ----------
        x : numpy.ndarray
            Decoded images, shape (n, 1, H, W), in [0, 1].

        Returns
        -------
        masks : numpy.ndarray
            The valid masks of the accepted items, shape (m, 1, H, W), float32.
        accepted : numpy.ndarray
            A bool per item of ``x``, shape (n,).
        """
        masks, acc = postprocess_masks(x, self.threshold)
        return masks[acc][:, None].astype(np.float32), acc

    def soft_prepare(self, x: torch.Tensor, temperature: float) -> torch.Tensor:
        """A smooth surrogate of :meth:`prepare`, for gradients: ``sigmoid((x - threshold) / temperature)``.

        It is 0 on the border band that :meth:`prepare` clears.

        Parameters
        ----------
        x : torch.Tensor, shape (n, 1, H, W)
            Decoded images in [0, 1] (differentiable).
        temperature : float
            Width of the soft threshold in image intensity units (> 0); as it goes to 0 the result
            goes to the thresholded mask of :meth:`prepare`.

        Returns
        -------
        torch.Tensor
            The soft mask, shape of ``x``, values in (0, 1).

        Notes
        -----
        What is not modelled: keeping the largest wall component and filling holes. Both are
        piecewise constant in ``x`` (no gradient to give) and change few pixels of a decoded ring.
        """
        import torch

        m = POSTPROCESS_MARGIN
        keep = torch.zeros(x.shape[-2:], dtype=x.dtype, device=x.device)
        keep[m : keep.shape[0] - m, m : keep.shape[1] - m] = 1.0
        return torch.sigmoid((x - self.threshold) / temperature) * keep


@register_labeler("fem")
def _fem(dataset=None, **kwargs):
    """FEM labeler; workers from :func:`label_workers`, Dask from ``$LATENTLAB_DASK_SCHEDULER``
    (a scheduler address) unless given."""
    kw = {"workers": label_workers()}
    if os.environ.get("LATENTLAB_DASK_SCHEDULER"):
        kw["client"] = os.environ["LATENTLAB_DASK_SCHEDULER"]
    kw.update(kwargs)
    return FEMLabeler(**kw)
