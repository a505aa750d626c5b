"""How much an annulus mask tells about the annulus: the information limit of the Lame check.

The accuracy check of :mod:`latentlab.vessels.fem` compares the stress map of a pixel mask of an
annulus with the Lame solution of the annulus that was rasterised. But many exact annuli
(centre, inner radius a, outer radius b, all continuous) rasterise to the *same* mask: the mask
only says on which side of each circle every pixel centre lies. Their Lame fields differ, and a
labeler that only sees the pixels cannot know which one was meant. This module

* samples that set of *consistent annuli* (:func:`consistent_annuli`): for a fixed centre the
  constraints "lumen centres have r < a <= wall centres' r < b <= outer centres' r" make the
  feasible radii an exact box, so centres are scanned and sampled by rejection and the radii
  drawn inside their box; every sample rasterises to the mask exactly;
* measures how far apart their Lame hoop-stress fields are on the metric's pixels
  (:func:`consistent_spread`): the spread from the nominal annulus, and the *limit*
  ``max_ij |L_i - L_j| / (|L_i| + |L_j|)``: whatever a labeler outputs, its relative error
  against one of those two equally possible truths is at least that (triangle inequality), so
  no reconstruction from the pixels can guarantee less on that mask. ``best`` is the error of
  a given stress map against the closest consistent annulus, the fair version of the check;
* builds a body-fitted mesh of the exact annulus (:func:`annulus_wall_mesh`) to show what the
  finite elements alone give on the same pixels, without any border reconstruction.

The sampled set is an inner approximation of the true set, so the reported spread and limit are
lower bounds of the true ones and ``best`` is an upper bound of the true minimum.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skfem import MeshTri

from ..exceptions import ConfigError
from .fem import PIXEL_MM, WallMesh

__all__ = [
    "annulus_mask",
    "lame_hoop",
    "metric_pixels",
    "consistent_annuli",
    "consistent_spread",
    "annulus_wall_mesh",
    "exact_annulus_stress",
]

_FOUR = ndimage.generate_binary_structure(2, 1)


def annulus_mask(centre, a: float, b: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre rasterisation of the annulus a <= r < b and the radius of every pixel centre.

    Parameters
    ----------
    centre : (float, float) or None
        (x, y) = (column, row) in px, pixel (i, j) has its centre at (j + 0.5, i + 0.5); None:
        the image centre.
    a, b : float
        Inner and outer radius, px.
    size : int
        Image side, px.

    Returns
    -------
    mask : ndarray, shape (size, size), uint8
    r : ndarray, shape (size, size), float64
    """
    cx, cy = (size / 2, size / 2) if centre is None else centre
    y, x = np.mgrid[0:size, 0:size] + 0.5
    r = np.hypot(x - cx, y - cy)
    return ((r >= a) & (r < b)).astype(np.uint8), r


def lame_hoop(a, b, r, p: float):
    """Hoop stress of a thick cylinder under inner pressure ``p`` (material independent)."""
    return p * a**2 / (b**2 - a**2) * (1 + b**2 / r**2)


def metric_pixels(mask: np.ndarray, r: np.ndarray, a: float, b: float, margin: float = 1.5) -> np.ndarray:
    """The pixels the Lame check uses: wall pixels with a + margin <= r <= b - margin."""
    return (np.asarray(mask) == 1) & (r >= a + margin) & (r <= b - margin)


def _classes(mask: np.ndarray):
    """Pixel-centre coordinates (x, y) of the border pixels of lumen, wall and outer region."""
    wall = np.asarray(mask) == 1
    lab, _ = ndimage.label(~wall)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    lumen = (lab > 0) & ~np.isin(lab, edge)
    outer = ~wall & ~lumen
    if not lumen.any() or not outer.any() or not wall.any():
        raise ConfigError("the mask needs a wall, an enclosed lumen and an outside; pass an annulus mask")

    def centres(sel):
        i, j = np.nonzero(sel)
        return np.vstack([j + 0.5, i + 0.5])

    # the extreme radii of a region are attained on its border pixels: a pixel has a
    # 4-neighbour closer to (and one farther from) any centre not inside it
    nonwall = ndimage.binary_dilation(~wall, _FOUR)
    return (
        centres(lumen & ndimage.binary_dilation(wall, _FOUR)),
        centres(wall & nonwall),
        centres(outer & ndimage.binary_dilation(wall, _FOUR)),
    )


def _boxes(cls, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """(K, 4) = a_lo, a_hi, b_lo, b_hi: consistent radii for the centres (cx, cy), a in
    (a_lo, a_hi], b in (b_lo, b_hi]; empty where lo >= hi."""
    lum, wal, out = cls

    def radii(c):
        return np.hypot(c[0][None, :] - cx[:, None], c[1][None, :] - cy[:, None])

    rw = radii(wal)
    return np.stack([radii(lum).max(1), rw.min(1), rw.max(1), radii(out).min(1)], axis=1)


def consistent_annuli(
    mask,
    centre,
    a: float,
    b: float,
    *,
    n: int = 2000,
    seed: int = 0,
    window: float = 1.0,
    step: float = 0.02,
) -> np.ndarray:
    """Exact annuli that rasterise (:func:`annulus_mask`) to the same mask as the given one.

    Parameters
    ----------
    mask : array_like, shape (H, W)
        The annulus mask (1 = wall).
    centre : (float, float) or None
        Nominal centre (x, y), px; it locates the search (None: the image centre).
    a, b : float
        Nominal radii, px (only checked: the nominal annulus must rasterise to ``mask``).
    n : int, default 2000
        Annuli to draw.
    seed : int, default 0
    window : float, default 1.0
        Half-width (px) of the square of centres scanned around the nominal one.
    step : float, default 0.02
        Scan step (px); centres are then drawn uniformly in the bounding box of the feasible
        scan cells (grown by one step) and kept if feasible.

    Returns
    -------
    ndarray, shape (n, 4)
        (cx, cy, a, b) per annulus; row 0 is the nominal annulus. Radii are uniform in their
        (exact) feasible box for the drawn centre.

    Raises
    ------
    ConfigError
        The nominal annulus does not rasterise to ``mask``, bad ``n``/``window``/``step``, or the
        feasible centres touch the scanned window (increase ``window``).
    """
    m = np.asarray(mask)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ConfigError(f"mask must be square (H, H), got shape {m.shape}")
    if n < 1 or not window > 0 or not 0 < step < window:
        raise ConfigError("need n >= 1, window > 0 and 0 < step < window")
    size = m.shape[0]
    c0 = (size / 2, size / 2) if centre is None else (float(centre[0]), float(centre[1]))
    if not np.array_equal(annulus_mask(c0, a, b, size)[0], (m == 1).astype(np.uint8)):
        raise ConfigError(
            "the nominal annulus (centre, a, b) does not rasterise to the mask; pass the one that made it"
        )
    cls = _classes(m)
    g = np.arange(-window, window + step / 2, step)
    gx, gy = np.meshgrid(c0[0] + g, c0[1] + g)
    box = _boxes(cls, gx.ravel(), gy.ravel())
    ok = ((box[:, 0] < box[:, 1]) & (box[:, 2] < box[:, 3])).reshape(gx.shape)
    ok[len(g) // 2, len(g) // 2] = True  # the nominal centre (it is feasible)
    if ok[0].any() or ok[-1].any() or ok[:, 0].any() or ok[:, -1].any():
        raise ConfigError(f"feasible centres reach the scanned window of +-{window} px; increase window")
    lo = np.array([gx[ok].min(), gy[ok].min()]) - step
    hi = np.array([gx[ok].max(), gy[ok].max()]) + step
    rng = np.random.default_rng(seed)
    out = [np.array([c0[0], c0[1], a, b], dtype=float)]
    have = 1
    while have < n:
        c = rng.uniform(lo, hi, size=(max(256, 2 * (n - have)), 2))
        bx = _boxes(cls, c[:, 0], c[:, 1])
        keep = (bx[:, 0] < bx[:, 1]) & (bx[:, 2] < bx[:, 3])
        c, bx = c[keep][: n - have], bx[keep][: n - have]
        u = rng.uniform(1e-6, 1 - 1e-6, size=(len(c), 2))
        ra = bx[:, 0] + u[:, 0] * (bx[:, 1] - bx[:, 0])  # a in (a_lo, a_hi]
        rb = bx[:, 2] + u[:, 1] * (bx[:, 3] - bx[:, 2])  # b in (b_lo, b_hi]
        out.append(np.column_stack([c, ra, rb]))
        have += len(c)
    return np.vstack([out[0][None]] + out[1:])


def consistent_spread(
    mask,
    centre,
    a: float,
    b: float,
    *,
    stress: np.ndarray | None = None,
    pressure: float = 0.05,
    n: int = 2000,
    seed: int = 0,
    margin: float = 1.5,
    n_pairs: int = 1500,
) -> dict:
    """Spread of the Lame hoop stress over the annuli consistent with a mask.

    Parameters
    ----------
    mask, centre, a, b, n, seed
        See :func:`consistent_annuli`.
    stress : ndarray, shape (H, W), optional
        A stress map of the mask (kPa, at ``pressure``) to score against the consistent set.
    pressure : float, default 0.05
        Lumen pressure of the Lame fields, kPa.
    margin : float, default 1.5
        The metric's pixels are the wall pixels with a + margin <= r <= b - margin for the
        *nominal* annulus (:func:`metric_pixels`), the same for every consistent annulus.
    n_pairs : int, default 1500
        Annuli used for the pairwise limit (its cost is quadratic).

    Returns
    -------
    dict
        ``annuli`` (n, 4); ``spread``: max over the set of |L_c - L_nom| / |L_nom| (relative L2
        on the metric's pixels); ``limit``: max over pairs of |L_i - L_j| / (|L_i| + |L_j|), a
        lower bound of the worst-case error of any map made from the mask alone;
        ``ranges``: (min, max) of cx, cy, a, b over the set. With ``stress``: ``nominal``
        (error against the nominal annulus), ``best`` (against the closest consistent annulus)
        and ``best_annulus``, ``worst`` (against the farthest one).
    """
    m = np.asarray(mask)
    ann = consistent_annuli(m, centre, a, b, n=n, seed=seed)
    size = m.shape[0]
    _, r0 = annulus_mask(tuple(ann[0, :2]), a, b, size)
    sel = metric_pixels(m, r0, a, b, margin)
    if not sel.any():
        raise ConfigError(
            "no wall pixel is more than `margin` px inside the wall; use a thicker wall or a smaller margin"
        )
    i, j = np.nonzero(sel)
    x, y = j + 0.5, i + 0.5
    rr = np.hypot(x[None, :] - ann[:, :1], y[None, :] - ann[:, 1:2])
    L = lame_hoop(ann[:, 2:3], ann[:, 3:4], rr, pressure)  # (n, m)
    norms = np.linalg.norm(L, axis=1)
    out = {
        "annuli": ann,
        "spread": float(np.max(np.linalg.norm(L - L[0], axis=1) / norms[0])),
        "ranges": [(float(v.min()), float(v.max())) for v in ann.T],
        "n_pixels": int(sel.sum()),
    }
    k = min(n_pairs, len(L))
    Lk, nk = L[:k], norms[:k]
    d2 = np.maximum(nk[:, None] ** 2 + nk[None, :] ** 2 - 2.0 * Lk @ Lk.T, 0.0)
    out["limit"] = float(np.max(np.sqrt(d2) / (nk[:, None] + nk[None, :])))
    if stress is not None:
        s = np.asarray(stress)[sel]
        err = np.linalg.norm(s[None, :] - L, axis=1) / norms
        best = int(np.argmin(err))
        out.update(nominal=float(err[0]), best=float(err[best]), best_annulus=ann[best].copy(), worst=float(err.max()))
    return out


def annulus_wall_mesh(centre, a: float, b: float, size: int, *, h: float = 0.5, pixel_mm: float = PIXEL_MM) -> WallMesh:
    """A body-fitted triangle mesh of the exact annulus, every vertex of its borders on the circles.

    A structured polar mesh (rings of spacing ~``h`` px, ~2 pi r / h segments, each quad split
    in two); each triangle belongs to the pixel of its centroid, so the solver's per-pixel
    average (:func:`latentlab.vessels.fem.stress_map`'s output) is over the triangles of that
    pixel. With :func:`latentlab.vessels.fem.discretise` and ``solve_wall`` it gives the finite
    element error alone on the Lame check, with no border reconstruction in it.

    Parameters
    ----------
    centre : (float, float) or None
        (x, y), px; None: the image centre.
    a, b : float
        Radii, px (0 < a < b).
    size : int
        Image side, px (the annulus must lie inside).
    h : float, default 0.5
        Target element size, px.
    pixel_mm : float

    Returns
    -------
    WallMesh
    """
    cx, cy = (size / 2, size / 2) if centre is None else centre
    if not (0 < a < b and h > 0) or cx - b < 0 or cy - b < 0 or cx + b > size or cy + b > size:
        raise ConfigError("need 0 < a < b, h > 0 and the annulus inside the image")
    nr = max(1, int(np.ceil((b - a) / h)))
    nt = max(12, int(np.ceil(2 * np.pi * b / h)))
    rad = np.linspace(a, b, nr + 1)
    th = 2 * np.pi * np.arange(nt) / nt
    R, T = np.meshgrid(rad, th, indexing="ij")  # (nr + 1, nt)
    p = np.vstack([cx + (R * np.cos(T)).ravel(), cy + (R * np.sin(T)).ravel()])
    idx = np.arange((nr + 1) * nt).reshape(nr + 1, nt)
    v00, v01 = idx[:-1], np.roll(idx[:-1], -1, axis=1)
    v10, v11 = idx[1:], np.roll(idx[1:], -1, axis=1)
    t = np.hstack(
        [np.vstack([v00.ravel(), v01.ravel(), v11.ravel()]), np.vstack([v00.ravel(), v11.ravel(), v10.ravel()])]
    )
    mesh = MeshTri(p, t)
    bf = mesh.boundary_facets()
    mid_r = np.hypot(*(p[:, mesh.facets[:, bf]].mean(axis=1) - np.array([[cx], [cy]])))
    lumen, outer = bf[mid_r < 0.5 * (a + b)], bf[mid_r >= 0.5 * (a + b)]
    cen = p[:, t].mean(axis=1)
    pix = np.floor(cen[1]).astype(int) * size + np.floor(cen[0]).astype(int)
    mesh = MeshTri(p * pixel_mm, t).with_boundaries({"lumen": lumen, "outer": outer})
    return WallMesh(mesh=mesh, pixel=pix, shape=(size, size), pixel_mm=float(pixel_mm))


def exact_annulus_stress(
    centre, a: float, b: float, size: int, pressure: float = 0.05, *, h: float = 0.5
) -> np.ndarray:
    """The solver's maximum principal stress map (kPa) on the body-fitted mesh of the exact annulus.

    Same model, elements, load and per-pixel averaging as :func:`latentlab.vessels.fem.stress_map`,
    on :func:`annulus_wall_mesh` instead of a mesh of the pixels; pixels without a triangle are 0.
    """
    from .fem import discretise, load_schedule, max_principal, residual_and_tangent, solve_wall
    from .fem.solver import _pixel_stress

    disc = discretise(annulus_wall_mesh(centre, a, b, size, h=h))
    loads = load_schedule(pressure)
    x, _ = solve_wall(disc, loads, skip_steps=True)
    _, _, F, p = residual_and_tangent(disc, x, loads[-1], need_tangent=False)
    return max_principal(_pixel_stress(disc, F, p))
