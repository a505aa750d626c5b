"""Draw a million pool codes as one image: counts per pixel and class, then one colour per pixel.

What a browser cannot do with a million glyphs (each redraw touches every point) an image does in
constant size: :func:`rasterize` bins the points that fall in the visible box into a
``height x width`` grid per class (one ``np.bincount``: ~20-40 ms for 10^6 points on one core), and
:func:`shade` turns the counts into RGBA pixels, each the count-weighted mix of its classes' colours
with an opacity that grows with the log of its count (datashader's ``count_cat`` + ``shade(how="log")``,
written here in numpy because datashader would add numba, xarray and dask to the core). A view
redraws by calling :func:`raster_image` with the new ranges (``widgets/bigpool.py`` wires it to a
Bokeh figure); ``benchmarks/bigpool_render.py`` measures it against Bokeh's WebGL scatter.
Pure numpy: no Bokeh, no Panel.
"""

from __future__ import annotations

import numpy as np

from .exceptions import ConfigError

__all__ = ["PALETTE", "rasterize", "shade", "raster_image"]

# tab10, as RGB 0-255 (the explorer's class colours)
PALETTE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    np.float32,
)


def rasterize(
    points: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    width: int = 600,
    height: int = 600,
    n_classes: int | None = None,
) -> np.ndarray:
    """Counts of ``points`` (n, 2) per pixel of the box ``x_range x y_range``, per class of ``labels``.

    Returns ``counts`` of shape ``(n_classes, height, width)`` (uint32; row 0 = the bottom of the
    box, as Bokeh's ``image`` glyphs draw it); without ``labels`` one class. A point on the right or
    top edge counts in the last pixel; points outside the box are left out.
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ConfigError(f"points must have shape (n, 2), got {pts.shape}")
    (x0, x1), (y0, y1) = map(float, x_range), map(float, y_range)
    if not (x1 > x0 and y1 > y0 and np.isfinite([x0, x1, y0, y1]).all()):
        raise ConfigError(f"empty or invalid box x {x_range}, y {y_range}; ranges need start < end")
    if width < 1 or height < 1:
        raise ConfigError(f"width and height must be >= 1 pixel, got {width} x {height}")
    if labels is None:
        lab, c = None, 1
    else:
        lab = np.asarray(labels)
        if len(lab) != len(pts):
            raise ConfigError(f"{len(lab)} labels for {len(pts)} points")
        c = int(n_classes if n_classes is not None else (lab.max() + 1 if len(lab) else 1))
    fx = (pts[:, 0] - x0) * (width / (x1 - x0))
    fy = (pts[:, 1] - y0) * (height / (y1 - y0))
    keep = (fx >= 0) & (fx <= width) & (fy >= 0) & (fy <= height)
    ix = np.minimum(fx[keep].astype(np.int64), width - 1)
    iy = np.minimum(fy[keep].astype(np.int64), height - 1)
    flat = iy * width + ix
    if lab is not None:
        flat += lab[keep].astype(np.int64) * (width * height)
    counts = np.bincount(flat, minlength=c * width * height)
    return counts.astype(np.uint32).reshape(c, height, width)


def shade(counts: np.ndarray, colors: np.ndarray = PALETTE, min_alpha: int = 40) -> np.ndarray:
    """RGBA image of ``counts`` (C, H, W): each pixel the count-weighted mean of its classes' ``colors``
    (C x 3, 0-255), opacity from ``min_alpha`` (one point) to 255 (the busiest pixel) on a log scale,
    empty pixels transparent. Returns ``(H, W)`` uint32 (RGBA bytes, Bokeh's ``image_rgba`` layout)."""
    counts = np.asarray(counts)
    c = counts.shape[0]
    cols = np.asarray(colors, np.float32)
    if len(cols) < c:
        cols = np.resize(cols, (c, 3))  # more classes than colours: the palette repeats
    cf = counts.astype(np.float32)
    total = cf.sum(0)
    rgb = np.tensordot(cols[:c].T, cf, axes=1) / np.maximum(total, 1)  # (3, H, W)
    out = np.zeros((*total.shape, 4), np.uint8)
    out[..., :3] = np.clip(rgb.transpose(1, 2, 0), 0, 255).astype(np.uint8)
    filled = total > 0
    if filled.any():
        lt = np.log1p(total)
        top = float(lt.max())
        frac = (lt - np.log1p(1.0)) / (top - np.log1p(1.0)) if top > np.log1p(1.0) else np.ones_like(lt)
        out[..., 3] = np.where(filled, min_alpha + (255 - min_alpha) * np.clip(frac, 0, 1), 0).astype(np.uint8)
    return out.view(np.uint32).reshape(total.shape)


def raster_image(
    points: np.ndarray,
    labels: np.ndarray | None,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    width: int = 600,
    height: int = 600,
    n_classes: int | None = None,
    colors: np.ndarray = PALETTE,
) -> dict:
    """One redraw: ``{"image": [rgba (H, W) uint32], "x": [x0], "y": [y0], "dw": [w], "dh": [h]}``, the
    columns of a Bokeh ``image_rgba`` source covering the box."""
    counts = rasterize(
        points, labels, x_range=x_range, y_range=y_range, width=width, height=height, n_classes=n_classes
    )
    (x0, x1), (y0, y1) = x_range, y_range
    return {
        "image": [shade(counts, colors)],
        "x": [float(x0)],
        "y": [float(y0)],
        "dw": [float(x1 - x0)],
        "dh": [float(y1 - y0)],
    }
