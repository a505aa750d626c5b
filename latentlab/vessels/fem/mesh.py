"""The mesh: two triangles per wall pixel, borders classified and reconstructed.

Every wall pixel is split into two triangles sharing the pixel corners. The diagonal alternates
with the pixel parity ("union jack"), so that on even-sized images the mesh of
``np.rot90(mask)`` is the rotated mesh and the result is rotation equivariant to solver
precision; a pixel with a convex border corner is cut through that corner. Border facets are
classified as lumen or outer by the background component next to them (the holes of
:func:`latentlab.vessels.masks.label_holes`), and the staircase border is replaced by a smooth
one (:mod:`.border`). ``refine`` splits every triangle into 4 (``refine`` times); it converges
the FE solution on the (pixel) geometry, whose own error then dominates: the error against Lame
falls with image resolution, not with ``refine``.

Units: coordinates in mm (``pixel_mm`` per pixel), x along columns, y along rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skfem import MeshTri

from ...exceptions import LabelingError
from ..masks import label_holes, validate_mask
from .border import check_boundary, reconstruct_border

__all__ = ["PIXEL_MM", "WallMesh", "mesh_from_mask"]

PIXEL_MM = 10.0 / 64
# mm per pixel: IVUS frames cover a ~10 mm field of view; the paper resamples them to 64 x 64,
# so 0.156 mm/px and a 4-5 mm coronary artery spans ~30 px. Stresses do not depend on it.


@dataclass(frozen=True)
class WallMesh:
    """A triangle mesh of the wall pixels of a mask.

    Attributes
    ----------
    mesh : skfem.MeshTri
        Coordinates in mm, x along columns, y along rows; boundaries ``"lumen"``, ``"outer"``.
    pixel : ndarray, shape (n_elements,), int
        Flat index (row * W + col) of the pixel each triangle belongs to.
    shape : tuple of int
        (H, W) of the mask.
    pixel_mm : float
    """

    mesh: MeshTri
    pixel: np.ndarray
    shape: tuple
    pixel_mm: float


def mesh_from_mask(
    mask, *, pixel_mm: float = PIXEL_MM, refine: int = 0, smooth_passes: int = 8, boundary: str = "lowpass"
) -> WallMesh:
    """Triangulate the wall pixels of a valid mask.

    Parameters
    ----------
    mask : array_like, shape (H, W)
        Valid wall mask (:func:`latentlab.vessels.validate_mask`).
    pixel_mm : float
        Pixel side, mm.
    refine : int, default 0
        Uniform refinements (each splits every triangle into 4).
    smooth_passes : int, default 8
        Laplacian passes over the border vertices (:mod:`.border`); 0 = staircase.
    boundary : {"lowpass", "area", "laplace", "consistent"}, default "lowpass"
        The border reconstruction (:mod:`.border`). ``"area"``: after the passes, offset the
        lumen and the outer border along their normals so that each encloses exactly its pixel
        count (no shrinking of small lumens).
        ``"lowpass"``: the staircase filtered by a Gaussian of 3 px along its arc length
        (periodic on each closed border), areas restored as for ``"area"``; wherever that
        would put a pixel centre more than 0.05 px on the wrong side of the border or crush a
        triangle, the ``"area"`` border is kept locally (blended over ~2 px of arc length).
        ``"laplace"``: the passes only (the earlier mesh, with ``smooth_passes=3``).
        ``"consistent"`` (opt-in, for annulus-like masks): each closed border of ``"lowpass"``
        replaced by the curve of least curvature variation that keeps every pixel centre on its
        side (an offset along the normals, Fourier series in arc length, a constrained least
        squares problem); areas are not restored. On annuli it is a circle prior, closer to
        the closest annulus that makes the mask; on generated vessels it rounds the tips of
        elongated lumens and is further from labels at 4x the resolution than ``"lowpass"``
        (measured: BENCHMARKS.md, the FEM section), hence not the default.
        ``smooth_passes=0`` gives the staircase whatever ``boundary``.

    Returns
    -------
    WallMesh

    Raises
    ------
    LabelingError
        Invalid mask, or a border (lumen / outer) without facets.
    """
    check_boundary(boundary)
    validate_mask(mask)
    wall = np.asarray(mask) == 1
    H, W = wall.shape
    ii, jj = np.nonzero(wall)
    c00 = ii * (W + 1) + jj
    c01, c10, c11 = c00 + 1, c00 + W + 1, c00 + W + 2
    # diagonal: alternate with the pixel parity, except that a pixel with a convex border
    # corner (two adjacent border edges) is cut through that corner, so that smoothing the
    # corner inwards never flattens a triangle whose three vertices are all on the border.
    pad = np.pad(wall, 1)
    up, down = ~pad[ii, jj + 1], ~pad[ii + 2, jj + 1]
    left, right = ~pad[ii + 1, jj], ~pad[ii + 1, jj + 2]
    main_corner = (up & left & ~down & ~right) | (down & right & ~up & ~left)
    anti_corner = (up & right & ~down & ~left) | (down & left & ~up & ~right)
    even = np.where(main_corner, True, np.where(anti_corner, False, (ii + jj) % 2 == 0))
    # (x, y) = (col, row); all triangles counter-clockwise
    t_a = np.where(even, [c00, c01, c11], [c00, c01, c10])
    t_b = np.where(even, [c00, c11, c10], [c01, c11, c10])
    t = np.hstack([t_a, t_b])
    pix = np.concatenate([ii * W + jj, ii * W + jj])
    used, t = np.unique(t, return_inverse=True)
    t = t.reshape(3, -1)
    p = np.vstack([used % (W + 1), used // (W + 1)]).astype(float)
    mesh = MeshTri(p, t)

    # classify border facets by the background pixel next to them
    bf = mesh.boundary_facets()
    mid = p[:, mesh.facets[:, bf]].mean(axis=1)
    vertical = np.isclose(mid[0], np.round(mid[0]))  # facet on a column line
    row = np.where(vertical, np.floor(mid[1]), np.round(mid[1]) - 1).astype(int)
    col = np.where(vertical, np.round(mid[0]) - 1, np.floor(mid[0])).astype(int)
    row2 = np.where(vertical, row, row + 1)
    col2 = np.where(vertical, col + 1, col)
    bg_lab, enclosed = label_holes(wall)
    lab = np.where(wall[row, col], bg_lab[row2, col2], bg_lab[row, col])  # > 0: a background pixel
    is_lumen = np.isin(lab, enclosed)
    lumen, outer = bf[is_lumen], bf[~is_lumen]
    if len(lumen) == 0 or len(outer) == 0:  # validate_mask makes this unreachable
        raise LabelingError(f"mesh has {len(lumen)} lumen and {len(outer)} outer border facets; both must exist")
    p = reconstruct_border(
        p,
        t,
        mesh.facets[:, bf],
        mesh.f2t[0, bf],
        is_lumen,
        int(wall.sum()),
        int(np.isin(bg_lab, enclosed).sum()),
        smooth_passes=smooth_passes,
        boundary=boundary,
    )
    mesh = MeshTri(p * pixel_mm, t).with_boundaries({"lumen": lumen, "outer": outer})
    if refine:
        mesh = mesh.refined(int(refine))
        pix = np.tile(pix, 4 ** int(refine))
    return WallMesh(mesh=mesh, pixel=pix, shape=(H, W), pixel_mm=float(pixel_mm))
