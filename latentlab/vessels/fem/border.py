"""Border reconstruction: from the pixel staircase of a wall mask to a smooth polygon.

The staircase of a pixel mask has re-entrant corners, where the stress has spurious peaks. Each
border (the lumen's and the outer one) is rebuilt on the vertices of the pixel mesh
(:mod:`.mesh`), in the order of :func:`reconstruct_border`:

* ``smooth_passes`` Laplacian passes (weight 1/2) over the border vertices replace the
  staircase by a smooth polygon (one pass puts 45 degree stairs exactly on the mid-step line);
  a pass that would squash a triangle below 20 % of its area is skipped.
* Laplacian smoothing alone shrinks convex curves, so each border is then offset along its
  normals until it encloses exactly its pixel count (``boundary="area"``, solver version 2).
* ``boundary="lowpass"`` (the default) filters the staircase by a Gaussian of sigma = 3 px along
  its arc length (the exact Fourier series of the polygon, periodic on each closed border),
  restores the areas the same way, and keeps the Laplacian border locally (blended over ~2 px)
  wherever the filtered one would put a pixel centre more than 0.05 px on the wrong side or
  crush a triangle.
* ``boundary="consistent"`` (opt-in) replaces each closed border by the curve of least
  curvature variation that keeps every pixel centre on its side: a circle-like prior, better on
  annuli, worse on generated vessels.

How each option scores against Lame's solution and on generated vessels is measured by
``benchmarks/bench_fem.py`` (BENCHMARKS.md, the FEM section). Coordinates here are in pixels;
``p`` is (2, n_vertices) as in scikit-fem, ``t`` (3, n_triangles).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from ...exceptions import ConfigError

__all__ = ["BOUNDARIES", "check_boundary", "reconstruct_border", "oriented_border", "enclosed"]

BOUNDARIES = ("lowpass", "area", "laplace", "consistent")  # the border reconstructions, default first


def check_boundary(boundary) -> None:
    """Refuse a ``boundary`` that is not one of :data:`BOUNDARIES`, naming them."""
    if boundary not in BOUNDARIES:
        raise ConfigError(f"boundary must be one of {', '.join(map(repr, BOUNDARIES))}, got {boundary!r}")


def _smooth_border(p: np.ndarray, bfacets: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """One Laplacian pass over border vertices that have exactly two border neighbours."""
    nv = p.shape[1]
    a, b = bfacets
    deg = np.bincount(np.concatenate([a, b]), minlength=nv)
    nsum = np.zeros_like(p)
    np.add.at(nsum, (slice(None), a), p[:, b])
    np.add.at(nsum, (slice(None), b), p[:, a])
    move = deg == 2  # pinch vertices (4 border edges) stay
    q = p.copy()
    q[:, move] += weight * (nsum[:, move] / 2.0 - p[:, move])
    return q


def oriented_border(p: np.ndarray, t: np.ndarray, bfacets: np.ndarray, f2t: np.ndarray) -> tuple:
    """Border facets (2, n) as (start, end) vertex ids, oriented with the wall on their left."""
    a, b = bfacets
    c = t[:, f2t].sum(axis=0) - a - b  # the third vertex of each facet's triangle
    left = (p[0, b] - p[0, a]) * (p[1, c] - p[1, a]) - (p[1, b] - p[1, a]) * (p[0, c] - p[0, a])
    return np.where(left > 0, a, b), np.where(left > 0, b, a)


def enclosed(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Shoelace sum (a x b) / 2 over oriented facets: + the area inside an outer border,
    - the area of a hole for a lumen border."""
    return 0.5 * float(np.sum(p[0, a] * p[1, b] - p[0, b] * p[1, a]))


def _restore_area(p: np.ndarray, groups, iters: int = 3) -> np.ndarray:
    """Offset each border along its outward normals until it encloses its pixel area.

    ``groups``: (a, b, target) per border, facets oriented with the wall on the left and the
    target of :func:`enclosed` (outer: + pixels inside it; lumen: - lumen pixels). A uniform
    normal offset d changes the enclosed area by d x perimeter (to first order), so a few
    fixed-point steps converge to round-off.
    """
    q = p.copy()
    nv = p.shape[1]
    verts = [np.unique(np.concatenate([a, b])) for a, b, _ in groups]
    for _ in range(iters):
        for (a, b, target), v in zip(groups, verts):
            e = q[:, b] - q[:, a]
            d = (target - enclosed(q, a, b)) / np.hypot(*e).sum()
            # outward (away from the wall) vertex normals, length-weighted facet normals
            nx = np.bincount(a, e[1], nv) + np.bincount(b, e[1], nv)
            ny = -(np.bincount(a, e[0], nv) + np.bincount(b, e[0], nv))
            n = np.maximum(np.hypot(nx[v], ny[v]), 1e-300)
            q[0, v] += d * nx[v] / n
            q[1, v] += d * ny[v] / n
    return q


def _signed_area(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    a, b, c = p[:, t[0]], p[:, t[1]], p[:, t[2]]
    return 0.5 * ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


_LOWPASS_SIGMA = 3.0  # px of arc length: Gaussian low-pass of the border (boundary="lowpass")
_CENTRE_TOL = 0.05  # px: how far a pixel centre may end up on the wrong side of the border
_HOLD_SIGMA = 2.0  # px of arc length: spread of a local fall-back to the 8-pass border


def _border_chains(a: np.ndarray, b: np.ndarray, nv: int) -> list:
    """Oriented border facets a -> b as vertex sequences: (ids, closed). Vertices where two
    borders touch (pinch: 2 outgoing facets) end open chains; the rest are closed loops."""
    outdeg = np.bincount(a, minlength=nv)
    first = np.full(nv, -1)
    first[a[::-1]] = np.arange(len(a))[::-1]  # a facet leaving each vertex
    used = np.zeros(len(a), bool)
    out = []
    starts = [i for i in range(len(a)) if outdeg[a[i]] != 1] + list(range(len(a)))
    for i in starts:
        if used[i]:
            continue
        ids, j, closed = [a[i]], i, outdeg[a[i]] == 1
        while True:
            used[j] = True
            v = b[j]
            if closed and v == ids[0]:
                break
            ids.append(v)
            if outdeg[v] != 1:
                break
            j = first[v]
        out.append((np.asarray(ids), bool(closed)))
    return out


def _lowpass_along(values: np.ndarray, s: np.ndarray, closed: bool, sigma: float) -> np.ndarray:
    """Gaussian low-pass (sigma in arc length) of samples ``values`` (complex, n) taken at the
    arc-length parameters ``s`` (n + 1 for a closed loop, back to the start; n for an open
    chain, whose end values are kept: odd extension of the deviation from their chord).

    The samples are joined linearly and the Fourier coefficients of that curve are exact (sum
    of its slope jumps), so the result does not depend on where a loop starts (rotating the
    mask rotates the border to round-off).
    """
    if closed:
        knots, f, period = s[:-1], values, s[-1]
        base = 0.0
    else:
        L = s[-1]
        base = values[0] + (values[-1] - values[0]) * s / L
        d = (values - base)[:-1]
        knots = np.concatenate([s[:-1], [L], 2 * L - s[1:-1][::-1]])  # odd, period 2 L
        f = np.concatenate([d, [0.0], -d[1:][::-1]])
        period = 2 * L
    h = np.diff(np.concatenate([knots, [knots[0] + period]]))
    slope = (np.roll(f, -1) - f) / h
    jump = slope - np.roll(slope, 1)  # at each knot
    kmax = int(np.ceil(np.sqrt(80.0) * period / (2 * np.pi * sigma)))  # exp(-40) beyond
    k = np.arange(1, kmax + 1)
    w = 2 * np.pi * k / period
    # elementwise products and sums, not matmul: tiny complex BLAS calls cost more in thread
    # start-up than they compute
    e = np.exp(-1j * np.outer(w, knots))  # (kmax, m)
    c_pos = -(e * jump).sum(axis=1) / (period * w**2)  # coefficients of exp(+i w s)
    c_neg = -(e.conj() * jump).sum(axis=1) / (period * w**2)  # of exp(-i w s)
    c0 = np.sum(0.5 * (f + np.roll(f, -1)) * h) / period
    g = np.exp(-0.5 * (sigma * w) ** 2)
    x = s if not closed else s[:-1]
    ex = np.exp(1j * np.outer(x, w))  # (n, kmax)
    res = c0 + (ex * (g * c_pos)).sum(axis=1) + (ex.conj() * (g * c_neg)).sum(axis=1)
    if closed:
        return res
    res = res + base
    res[[0, -1]] = values[[0, -1]]
    return res


def _centre_depth(q: np.ndarray, a: np.ndarray, b: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Per border facet: how far (px) the wall pixel centre behind it, or the background centre
    in front of it, lies on the wrong side of the moved facet q[a] -> q[b] (<= 0: right side).
    ``p0``: the staircase, whose facets have the wall on their left."""
    e0 = p0[:, b] - p0[:, a]
    mid = 0.5 * (p0[:, a] + p0[:, b])
    left = np.vstack([-e0[1], e0[0]])  # unit: staircase facets have length 1
    e = q[:, b] - q[:, a]
    ln = np.maximum(np.hypot(*e), 1e-300)

    def side(c):  # + left of the moved facet
        return (e[0] * (c[1] - q[1, a]) - e[1] * (c[0] - q[0, a])) / ln

    return np.maximum(-side(mid + 0.5 * left), side(mid - 0.5 * left))


def _lowpass_border(
    p0: np.ndarray, p8: np.ndarray, t: np.ndarray, a: np.ndarray, b: np.ndarray, groups, area0: np.ndarray
) -> np.ndarray:
    """The border of ``boundary="lowpass"`` (see :func:`mesh_from_mask`).

    ``p0``: staircase; ``p8``: the Laplacian border with its areas restored (the fall-back);
    ``a, b``: oriented border facets; ``groups``: :func:`_restore_area` targets.
    """
    nv = p0.shape[1]
    chains = _border_chains(a, b, nv)
    p1 = _smooth_border(p0, np.vstack([a, b]))  # marching-squares polygon: the arc length
    params = []
    for ids, closed in chains:
        z = p1[0, ids] + 1j * p1[1, ids]
        seg = np.abs(np.diff(np.concatenate([z, z[:1]]) if closed else z))
        params.append(np.concatenate([[0.0], np.cumsum(seg)]))
    if any(par[-1] <= 0 for par in params):
        return p8

    def along(f, sigma):  # f: (nv,) complex, filtered along each chain
        g = f.copy()
        for (ids, closed), par in zip(chains, params):
            h = _lowpass_along(f[ids], par, closed, sigma)
            if closed:
                g[ids] = h
            else:
                g[ids[1:-1]] = h[1:-1]
        return g

    z0 = p0[0] + 1j * p0[1]
    zs = along(z0, _LOWPASS_SIGMA)
    strong = _restore_area(np.vstack([zs.real, zs.imag]), groups)
    weight = np.ones(nv)
    hold = np.zeros(nv)
    for _ in range(6):
        q = _restore_area(p8 + weight * (strong - p8), groups)
        bad = _centre_depth(q, a, b, p0) > _CENTRE_TOL
        crushed = _signed_area(q, t) / area0 < 0.2
        if not bad.any() and not crushed.any():
            return q
        hold[a[bad]] = hold[b[bad]] = 1.0
        hold[t[:, crushed].ravel()] = 1.0
        spread = along(hold + 0j, _HOLD_SIGMA).real
        weight = np.minimum(weight, np.clip(1.0 - 2.5 * spread, 0.0, 1.0))
        weight[hold > 0] = 0.0
    return _restore_area(p8 + weight * (strong - p8), groups)


_FIT_WAVELENGTH = 4.0  # px: shortest wavelength of the offset fitted by boundary="consistent"
_FIT_EPS = 1e-6  # weight of staying at the low-pass border against the curvature variation


def _lsi(M: np.ndarray, y: np.ndarray, A: np.ndarray, b: np.ndarray):
    """min |M x - y| subject to A x <= b, M of full column rank; None if infeasible.

    Lawson and Hanson's reduction (Solving Least Squares Problems, ch. 23) of the inequality
    constrained least squares problem to a least-distance problem, solved as one non-negative
    least squares problem by :func:`scipy.optimize.nnls`.
    """
    Q, R = np.linalg.qr(M)
    Rinv = np.linalg.inv(R)
    qy = Q.T @ y
    G = A @ Rinv  # z = R x - Q^T y: min |z| subject to G z <= b - G Q^T y
    h = b - G @ qy
    E = np.vstack([-G.T, -h[None, :]])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    r = E @ u - f
    if abs(r[-1]) < 1e-12:  # the constraints cannot all hold
        return None
    return Rinv @ (-r[:-1] / r[-1] + qy)


def _fit_chain(z: np.ndarray, wall_c: np.ndarray, back_c: np.ndarray):
    """The smoothest closed curve near ``z`` (complex, a closed chain) that keeps the pixel
    centres ``wall_c`` on its wall side (left) and ``back_c`` on the other, or None.

    The curve is z + d nu (nu: left normals), with d a Fourier series in arc length of
    wavelengths >= 4 px; it minimises the variation of its (linearised) curvature
    kappa + d'' + kappa^2 d around its mean, plus 1e-6 x |d|^2, subject to the pixel centres
    lying on their side (projected on the chain, to first order in d).
    """
    n = len(z)
    seg = np.roll(z, -1) - z
    ln = np.abs(seg)
    if np.any(ln <= 0):
        return None
    s = np.concatenate([[0.0], np.cumsum(ln)])
    L = s[-1]
    tv = seg / ln
    tprev = np.roll(tv, 1)
    ds = 0.5 * (ln + np.roll(ln, 1))
    kappa = np.angle(tv / tprev) / ds
    tan = tv + tprev
    nu = 1j * tan / np.maximum(np.abs(tan), 1e-300)
    K = min(max(2, int(L / _FIT_WAVELENGTH)), n // 3)
    w = 2 * np.pi * np.arange(1, K + 1) / L

    def basis(x, second=False):
        c, si = np.cos(np.outer(x, w)), np.sin(np.outer(x, w))
        if second:
            return np.hstack([np.zeros((len(x), 1)), -(w**2) * c, -(w**2) * si])
        return np.hstack([np.ones((len(x), 1)), c, si])

    B = basis(s[:-1])
    C = basis(s[:-1], True) + (kappa**2)[:, None] * B  # d(curvature) / d(coefficients)
    wts = ds / L
    sq = np.sqrt(wts)[:, None]
    M = np.vstack([sq * (C - wts @ C), np.sqrt(_FIT_EPS) * sq * B])
    y = np.concatenate([-sq[:, 0] * (kappa - wts @ kappa), np.zeros(n)])
    rows, rhs = [], []
    for cs, sign in ((wall_c, 1.0), (back_c, -1.0)):
        rel = cs[:, None] - z[None, :]
        t = np.clip((rel * seg.conj()).real / ln**2, 0.0, 1.0)
        j = np.argmin(np.abs(rel - t * seg), axis=1)
        tj = t[np.arange(len(cs)), j]
        depth = ((cs - z[j] - tj * seg[j]) * (1j * tv[j]).conj()).real  # + on the wall side
        rows.append(sign * basis(s[j] + tj * ln[j]))  # wall: d <= depth; background: d >= depth
        rhs.append(sign * depth)
    x = _lsi(M, y, np.vstack(rows), np.concatenate(rhs))
    return None if x is None else z + (B @ x) * nu


def _consistent_border(q: np.ndarray, p0: np.ndarray, t: np.ndarray, a: np.ndarray, b: np.ndarray, area0):
    """The border of ``boundary="consistent"``: each closed border of ``q`` (the low-pass
    border) replaced by :func:`_fit_chain`; chains ending at a pinch, infeasible fits and fits
    that would crush a triangle keep ``q``."""
    nv = p0.shape[1]
    e0 = p0[:, b] - p0[:, a]
    mid = 0.5 * (p0[:, a] + p0[:, b])
    wall_c = (mid[0] - 0.5 * e0[1]) + 1j * (mid[1] + 0.5 * e0[0])  # staircase facets: wall on the left
    back_c = (mid[0] + 0.5 * e0[1]) + 1j * (mid[1] - 0.5 * e0[0])
    chain_of = np.full(nv, -1)
    chains = _border_chains(a, b, nv)
    for k, (ids, _) in enumerate(chains):
        chain_of[ids] = k
    out = q.copy()
    for k, (ids, closed) in enumerate(chains):
        if not closed:
            continue
        mine = chain_of[a] == k
        z = _fit_chain(q[0, ids] + 1j * q[1, ids], np.unique(wall_c[mine]), np.unique(back_c[mine]))
        if z is None:
            continue
        trial = out.copy()
        trial[0, ids], trial[1, ids] = z.real, z.imag
        if np.min(_signed_area(trial, t) / area0) >= 0.2:
            out = trial
    return out


def reconstruct_border(
    p: np.ndarray,
    t: np.ndarray,
    bfacets: np.ndarray,
    f2t: np.ndarray,
    is_lumen: np.ndarray,
    wall_px: int,
    lumen_px: int,
    *,
    smooth_passes: int,
    boundary: str,
) -> np.ndarray:
    """The border vertices of ``boundary``'s reconstruction, the inner vertices unchanged.

    Parameters
    ----------
    p : ndarray, shape (2, n_vertices)
        The staircase mesh's vertices, px.
    t : ndarray, shape (3, n_triangles)
        Its counter-clockwise triangles.
    bfacets : ndarray, shape (2, n_border_facets)
        Vertex ids of the border facets; ``f2t``: the triangle of each.
    is_lumen : ndarray of bool, shape (n_border_facets,)
        Which border facets face the lumen (the others face the outside).
    wall_px, lumen_px : int
        Pixel counts of the wall and the lumen: the areas the borders are given back.
    smooth_passes : int
        Laplacian passes (0: the staircase, whatever ``boundary``).
    boundary : one of :data:`BOUNDARIES`
        See the module docstring; ``"laplace"``: the passes only.

    Returns
    -------
    ndarray, shape (2, n_vertices), px
    """
    area0 = _signed_area(p, t)
    p0 = p
    for _ in range(int(smooth_passes)):
        q = _smooth_border(p, bfacets)
        if np.min(_signed_area(q, t) / area0) < 0.2:  # a pass would squash a triangle: stop
            break
        p = q
    if boundary in ("area", "lowpass", "consistent") and smooth_passes:
        # Laplacian passes shrink convex curves: give each border back the area of its pixels
        a, b = oriented_border(p, t, bfacets, f2t)
        groups = [
            (a[~is_lumen], b[~is_lumen], float(wall_px + lumen_px)),
            (a[is_lumen], b[is_lumen], -float(lumen_px)),
        ]
        q = _restore_area(p, groups)
        if np.min(_signed_area(q, t) / area0) >= 0.1:  # never invert or crush a triangle
            p = q
        if boundary in ("lowpass", "consistent"):
            q = _lowpass_border(p0, p, t, a, b, groups, area0)
            if np.min(_signed_area(q, t) / area0) >= 0.1:
                p = q
        if boundary == "consistent":
            p = _consistent_border(p, p0, t, a, b, area0)
    return p
