"""Procedural vessel-wall masks: the stand-in for the paper's IVUS segmentation masks.

The paper (Section 4.1, Appendix A.2) uses 1,200 vendor segmentations of coronary plaques,
resampled to 64 x 64 pixels, 210 of them held out for testing. Those data are not public, so
this module draws masks of the same kind: the arterial wall of one IVUS cross-section, i.e. the
region between the lumen border and the outer (external elastic membrane) border.

A *valid* mask (checked by :func:`validate_mask`) is a single ring:

* a 2-D array whose values are exactly 0 (background) or 1 (wall);
* exactly one wall component under **4-connectivity** (pixels that share an edge): this is what
  a finite-element mesh of the pixels needs, since two pixels that touch at a corner only would
  be a hinge;
* exactly one lumen: a background component under **8-connectivity** that does not reach the
  image border (the (4, 8) pair of digital topology, so a lumen that leaks out through a
  diagonal gap in the wall is *not* enclosed);
* no wall pixel on the outermost row or column of the image.

Randomness is explicit: every function that draws takes ``seed`` (an int or a
``np.random.Generator``); the same seed gives the same masks, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..exceptions import ConfigError, LabelingError

__all__ = [
    "VesselParams",
    "generate_vessels",
    "validate_mask",
    "label_holes",
    "lumen_mask",
    "postprocess_mask",
    "postprocess_masks",
]

_FOUR = ndimage.generate_binary_structure(2, 1)  # 4-connectivity (edge neighbours)
_EIGHT = ndimage.generate_binary_structure(2, 2)  # 8-connectivity (edge + corner neighbours)


@dataclass(frozen=True)
class VesselParams:
    """Ranges of the shape parameters of a generated vessel cross-section.

    Lengths are in pixels of the ``size`` x ``size`` image; ranges ``(lo, hi)`` are sampled
    uniformly. The defaults are tuned for 64 x 64 images of an IVUS frame with a ~10 mm field
    of view (0.156 mm/pixel, see :data:`latentlab.vessels.fem.mesh.PIXEL_MM`), so 1 px ~ 0.16 mm. At other
    sizes, lengths scale with ``size / 64``.
    """

    lumen_radius: tuple[float, float] = (5.0, 11.0)
    # px at size 64: mean lumen radius 0.8-1.7 mm, i.e. lumen areas 2-9 mm^2, the range of
    # diseased to healthy coronary segments seen in IVUS studies.
    lumen_ellipticity: tuple[float, float] = (0.0, 0.3)
    # 1 - minor/major axis ratio of the lumen: IVUS lumens are rarely circular; 0.3 is a
    # markedly oval lumen, beyond that the catheter section is usually oblique.
    wall_thickness: tuple[float, float] = (3.0, 6.0)
    # px: minimum (non-plaque) wall thickness, 0.5-1 mm (media + adventitia + thin intima);
    # 3 px is also the least that keeps a ring 4-connected and meshes several elements thick.
    plaque_probability: float = 0.7
    # fraction of slices with an eccentric plaque: most imaged coronary segments are diseased.
    plaque_thickness: tuple[float, float] = (2.0, 9.0)
    # px of extra thickness at the centre of the crescent (0.3-1.4 mm), up to plaque burdens
    # of ~70 % with the thinnest lumens.
    plaque_concentration: tuple[float, float] = (0.7, 4.0)
    # von Mises concentration of the crescent exp(k (cos(theta - theta_p) - 1)): k = 0.7 is a
    # broad, almost concentric thickening, k = 4 a narrow crescent (~60 degree half width).
    lobe_amplitude: float = 0.08
    # relative amplitude of the random Fourier modes 2..4 on each border radius: mild lobes
    # and irregularity as in segmented borders, small enough to keep the borders star-shaped.
    n_lobe_modes: int = 3
    # number of Fourier modes (orders 2, 3, ...) of the border perturbation; order 1 is a
    # shift and is covered by ``centre_offset``.
    centre_offset: float = 3.0
    # px: largest shift of the lumen centre from the image centre (catheter not centred).
    margin: int = 2
    # px of background kept between the outer border and the image edge (>= 2 so that the
    # outer border is never on the edge, also after small shifts by a generative model).

    def validate(self) -> None:
        """Raise :class:`ConfigError` if a range is empty or out of its physical domain."""
        for name in ("lumen_radius", "lumen_ellipticity", "wall_thickness", "plaque_thickness", "plaque_concentration"):
            lo, hi = getattr(self, name)
            if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo <= hi):
                raise ConfigError(f"VesselParams.{name} must be a range (lo, hi) with 0 <= lo <= hi, got {(lo, hi)}")
        if self.lumen_radius[0] < 2.0:
            raise ConfigError(
                "VesselParams.lumen_radius must start at >= 2 px so that the lumen holds at least a few pixels"
            )
        if self.wall_thickness[0] < 2.0:
            raise ConfigError("VesselParams.wall_thickness must start at >= 2 px so that the ring stays 4-connected")
        if not self.lumen_ellipticity[1] < 1.0:
            raise ConfigError("VesselParams.lumen_ellipticity must stay below 1")
        if not 0.0 <= self.plaque_probability <= 1.0:
            raise ConfigError("VesselParams.plaque_probability must be in [0, 1]")
        if not 0.0 <= self.lobe_amplitude < 0.3:
            raise ConfigError("VesselParams.lobe_amplitude must be in [0, 0.3) to keep the borders star-shaped")
        if self.n_lobe_modes < 0 or self.centre_offset < 0 or self.margin < 1:
            raise ConfigError("VesselParams: n_lobe_modes >= 0, centre_offset >= 0 and margin >= 1 are required")


_PARAM_FIELDS = (
    "centre_x",
    "centre_y",
    "rotation",
    "lumen_radius",
    "ellipticity",
    "wall_thickness",
    "plaque_thickness",
    "plaque_angle",
    "plaque_concentration",
    "scale",
    "wall_area",
)


def _fourier(theta: np.ndarray, amp: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Return 1 + sum_k amp[k] cos((k + 2) theta + phase[k]) (lobes of orders 2, 3, ...)."""
    out = np.ones_like(theta)
    for k, (a, ph) in enumerate(zip(amp, phase)):
        out += a * np.cos((k + 2) * theta + ph)
    return out


def _draw_one(rng: np.random.Generator, size: int, P: VesselParams) -> tuple[np.ndarray, dict]:
    """Draw one mask and its parameters (may be invalid; the caller checks)."""
    s = size / 64.0
    u = rng.uniform
    rec = {
        "rotation": u(0.0, 2 * np.pi),
        "lumen_radius": u(*P.lumen_radius) * s,
        "ellipticity": u(*P.lumen_ellipticity),
        "wall_thickness": u(*P.wall_thickness) * s,
        "plaque_angle": u(0.0, 2 * np.pi),
        "plaque_concentration": u(*P.plaque_concentration),
    }
    has_plaque = rng.random() < P.plaque_probability
    rec["plaque_thickness"] = u(*P.plaque_thickness) * s if has_plaque else 0.0
    r_off = P.centre_offset * s * np.sqrt(rng.random())
    a_off = u(0.0, 2 * np.pi)
    amp_in = P.lobe_amplitude * rng.random(P.n_lobe_modes) / np.arange(1, P.n_lobe_modes + 1)
    amp_out = P.lobe_amplitude * rng.random(P.n_lobe_modes) / np.arange(1, P.n_lobe_modes + 1)
    ph_in = u(0.0, 2 * np.pi, P.n_lobe_modes)
    ph_out = u(0.0, 2 * np.pi, P.n_lobe_modes)

    # radii as functions of the polar angle on a fine grid, to size the vessel before drawing
    th = np.linspace(0.0, 2 * np.pi, 720, endpoint=False)

    def radii(theta):
        e = rec["ellipticity"]
        ell = (1.0 - e) / np.sqrt(((1.0 - e) * np.cos(theta)) ** 2 + np.sin(theta) ** 2)
        ell = ell / np.sqrt(1.0 - e)  # keeps the lumen area ~ pi R^2
        r_in = rec["lumen_radius"] * ell * _fourier(theta, amp_in, ph_in)
        crescent = np.exp(rec["plaque_concentration"] * (np.cos(theta - rec["plaque_angle"]) - 1))
        thick = rec["wall_thickness"] * _fourier(theta, amp_out, ph_out)
        r_out = r_in + thick + rec["plaque_thickness"] * crescent
        return r_in, r_out

    _, r_out_fine = radii(th)
    # shrink the whole vessel if its outer border would come closer than `margin` to the edge
    room = size / 2.0 - P.margin - 1.0 - r_off
    scale = min(1.0, room / float(r_out_fine.max()))
    rec["scale"] = scale
    c = (size / 2.0 + r_off * np.cos(a_off), size / 2.0 + r_off * np.sin(a_off))
    rec["centre_x"], rec["centre_y"] = c

    yy, xx = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    dx, dy = xx - c[0], yy - c[1]
    r = np.hypot(dx, dy) / scale
    theta = np.mod(np.arctan2(dy, dx) - rec["rotation"], 2 * np.pi)
    r_in, r_out = radii(theta)
    mask = ((r >= r_in) & (r < r_out)).astype(np.uint8)
    rec["wall_area"] = float(mask.sum())
    return mask, rec


def generate_vessels(
    n: int,
    *,
    seed: int | np.random.Generator,
    size: int = 64,
    params: VesselParams | None = None,
    return_params: bool = False,
):
    """Draw ``n`` binary masks of arterial-wall cross-sections.

    Each mask is a ring between a lumen border and an outer border, both written in polar form
    around a slightly off-centre point: an elliptic lumen of random radius with low-order
    Fourier lobes, a wall of random base thickness, and with probability
    ``params.plaque_probability`` an eccentric plaque (a von Mises crescent of extra thickness
    on one side), all rotated by a random angle. Every returned mask passes
    :func:`validate_mask`; a draw that does not (rare) is redrawn from the same generator, so
    the output stays deterministic.

    Parameters
    ----------
    n : int
        Number of masks (>= 0). The paper's data set has :data:`latentlab.vessels.dataset.N_SLICES` = 1200.
    seed : int or numpy.random.Generator
        Source of randomness (required: there is no global RNG).
    size : int, default 64
        Image side in pixels (>= 16). The paper resamples to 64 x 64.
    params : VesselParams, optional
        Ranges of the shape parameters (defaults documented on :class:`VesselParams`).
    return_params : bool, default False
        Also return the drawn parameters.

    Returns
    -------
    masks : ndarray, shape (n, size, size), uint8
        1 = wall, 0 = lumen or outside.
    params : dict of str to ndarray, shape (n,)
        Only if ``return_params``: ``centre_x``, ``centre_y`` (px, image coordinates with x
        along columns), ``rotation`` (rad), ``lumen_radius`` (px), ``ellipticity`` (-),
        ``wall_thickness`` (px), ``plaque_thickness`` (px, 0 = no plaque), ``plaque_angle``
        (rad), ``plaque_concentration`` (-), ``scale`` (shrink factor applied to fit the image,
        1 = none) and ``wall_area`` (px).

    Examples
    --------
    >>> masks = generate_vessels(3, seed=0)
    >>> masks.shape, masks.dtype
    ((3, 64, 64), dtype('uint8'))
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"n must be an integer >= 0, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ConfigError(f"size must be an integer >= 16 pixels, got {size!r}")
    P = VesselParams() if params is None else params
    P.validate()
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        rng = np.random.default_rng(int(seed))
    else:
        raise ConfigError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")

    masks = np.zeros((n, size, size), dtype=np.uint8)
    recs = []
    for i in range(n):
        for _attempt in range(100):
            mask, rec = _draw_one(rng, int(size), P)
            try:
                validate_mask(mask)
            except LabelingError:
                continue
            break
        else:  # pragma: no cover - only with pathological params
            raise ConfigError(
                "could not draw a valid vessel in 100 attempts; widen VesselParams.wall_thickness or lumen_radius"
            )
        masks[i] = mask
        recs.append(rec)
    if not return_params:
        return masks
    table = {k: np.array([r[k] for r in recs], dtype=float) for k in _PARAM_FIELDS}
    return masks, table


def validate_mask(mask) -> None:
    """Check that ``mask`` is one valid vessel-wall ring; raise :class:`LabelingError` if not.

    Parameters
    ----------
    mask : array_like, shape (H, W)
        Wall = 1, background = 0. bool, integer or float arrays are accepted as long as every
        value is exactly 0 or 1.

    Raises
    ------
    LabelingError
        With the reason: not 2-D or smaller than 5 x 5; unsupported dtype; non-finite values;
        values other than 0/1 ("threshold it first"); empty mask; wall on the image border;
        several 4-connected wall components; no enclosed lumen; more than one enclosed
        background component (the lumen must be the only hole).
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise LabelingError(f"mask must be a 2-D array (H, W), got shape {m.shape}")
    if min(m.shape) < 5:
        raise LabelingError(f"mask must be at least 5 x 5 pixels, got shape {m.shape}")
    if m.dtype == bool:
        wall = m
    elif np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating):
        if np.issubdtype(m.dtype, np.floating) and not np.all(np.isfinite(m)):
            raise LabelingError("mask contains NaN or infinite values")
        if not np.all((m == 0) | (m == 1)):
            bad = np.unique(m[(m != 0) & (m != 1)])[:5]
            raise LabelingError(
                f"mask values must be exactly 0 or 1, found e.g. {bad.tolist()}; "
                "threshold it first (e.g. latentlab.vessels.postprocess_mask)"
            )
        wall = m == 1
    else:
        raise LabelingError(
            f"mask dtype {m.dtype} is not supported; use bool, an integer or a float array with values 0/1"
        )
    if not wall.any():
        raise LabelingError("mask is empty (no wall pixel)")
    if wall[0].any() or wall[-1].any() or wall[:, 0].any() or wall[:, -1].any():
        raise LabelingError("the wall touches the image border; leave background around the vessel (pad the mask)")
    _, n_wall = ndimage.label(wall, structure=_FOUR)
    if n_wall != 1:
        raise LabelingError(f"mask has {n_wall} wall components (4-connected); a vessel wall must be one ring")
    n_holes = _count_holes(wall)
    if n_holes == 0:
        raise LabelingError(
            "mask has no enclosed lumen: the wall is not a closed ring "
            "(8-connected background reaches the lumen from the border)"
        )
    if n_holes > 1:
        raise LabelingError(
            f"mask has more than one lumen ({n_holes} enclosed background components); fill holes inside the wall"
        )


def label_holes(wall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The holes of a wall: 8-connected background components that do not reach the image border.

    Parameters
    ----------
    wall : ndarray of bool, shape (H, W)

    Returns
    -------
    labels : ndarray of int, shape (H, W)
        Background components (8-connected) numbered from 1; 0 on the wall.
    enclosed : ndarray of int
        The labels of the components that do not touch the image border (the holes).
    """
    bg_lab, n_bg = ndimage.label(~wall, structure=_EIGHT)
    border = np.unique(np.concatenate([bg_lab[0], bg_lab[-1], bg_lab[:, 0], bg_lab[:, -1]]))
    enclosed = np.setdiff1d(np.arange(1, n_bg + 1), border)
    return bg_lab, enclosed


def _count_holes(wall: np.ndarray) -> int:
    return len(label_holes(wall)[1])


def lumen_mask(mask) -> np.ndarray:
    """Return the lumen of a valid wall mask as a boolean array of the same shape."""
    validate_mask(mask)
    lab, enclosed = label_holes(np.asarray(mask) == 1)
    return lab == enclosed[0]


POSTPROCESS_MARGIN = 1  # px along the image border that postprocess_mask clears (a wall may not touch the edge)


def postprocess_mask(
    img,
    threshold: float = 0.5,
    *,
    margin: int = POSTPROCESS_MARGIN,
    min_lumen_px: int = 4,
    min_kept_fraction: float = 0.8,
) -> np.ndarray | None:
    """Turn a decoded generator output into a valid mask, or reject it.

    Steps: threshold; clear a band of ``margin`` pixels along the image border; keep the
    largest 4-connected wall component (reject if it holds less than ``min_kept_fraction`` of
    the thresholded pixels: the image is then scattered noise, not a vessel); take the
    largest enclosed background component as the lumen and fill every other hole in the wall;
    check with :func:`validate_mask`.

    Parameters
    ----------
    img : array_like, shape (H, W), float in [0, 1]
        Wall probability or intensity (e.g. a VAE decoder output).
    threshold : float, default 0.5
        Pixels with ``img >= threshold`` are wall.
    margin : int, default 1
        Width in pixels of the border band that is cleared (the wall may not touch the edge).
    min_lumen_px : int, default 4
        Reject when the lumen is smaller than this many pixels.
    min_kept_fraction : float, default 0.8
        Reject when the largest wall component holds a smaller fraction of the wall pixels.

    Returns
    -------
    ndarray, shape (H, W), uint8, or None
        The valid mask, or None when no valid ring can be recovered (no closed ring, empty).

    Raises
    ------
    LabelingError
        If ``img`` is not a finite 2-D array (a malformed input is an error, not a reject).
    """
    a = np.asarray(img, dtype=float)
    if a.ndim != 2:
        raise LabelingError(f"img must be a 2-D array (H, W), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise LabelingError("img contains NaN or infinite values")
    if not 0.0 < threshold < 1.0 + 1e-12:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
    wall = a >= threshold
    if margin > 0:
        wall[:margin] = wall[-margin:] = False
        wall[:, :margin] = wall[:, -margin:] = False
    lab, n = ndimage.label(wall, structure=_FOUR)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())[1:]
    if sizes.max() < min_kept_fraction * sizes.sum():
        return None
    wall = lab == (1 + int(np.argmax(sizes)))
    bg_lab, enclosed = label_holes(wall)
    if len(enclosed) == 0:
        return None
    hole_sizes = np.bincount(bg_lab.ravel())[enclosed]
    lumen = enclosed[int(np.argmax(hole_sizes))]
    if hole_sizes.max() < min_lumen_px:
        return None
    wall = wall | (np.isin(bg_lab, enclosed) & (bg_lab != lumen))
    out = wall.astype(np.uint8)
    try:
        validate_mask(out)
    except LabelingError:
        return None
    return out


def postprocess_masks(imgs, threshold: float = 0.5, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Apply :func:`postprocess_mask` to a batch.

    Parameters
    ----------
    imgs : array_like, shape (n, H, W) or (n, 1, H, W), float in [0, 1]
    threshold : float, default 0.5
    **kwargs
        Passed to :func:`postprocess_mask`.

    Returns
    -------
    masks : ndarray, shape (n, H, W), uint8
        Valid masks; rejected entries are all zero.
    accepted : ndarray, shape (n,), bool
        Which entries were recovered.
    """
    a = np.asarray(imgs, dtype=float)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise LabelingError(f"imgs must have shape (n, H, W) or (n, 1, H, W), got {a.shape}")
    masks = np.zeros(a.shape, dtype=np.uint8)
    accepted = np.zeros(len(a), dtype=bool)
    for i, img in enumerate(a):
        m = postprocess_mask(img, threshold, **kwargs)
        if m is not None:
            masks[i], accepted[i] = m, True
    return masks, accepted
