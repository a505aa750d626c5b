"""Draw a million pool codes as one image: counts per pixel and class, then one colour per pixel.

What a browser cannot do with a million glyphs (each redraw touches every point) an image does in
constant size: :func:`rasterize` bins the points that fall in the visible box into a
``height x width`` grid per class (one ``np.bincount``), and
:func:`shade` turns the counts into RGBA pixels, each the count-weighted mix of its classes' colours
with an opacity that grows with the log of its count (datashader's ``count_cat`` + ``shade(how="log")``,
written here in numpy because datashader would add numba, xarray and dask to the core).

A view redraws with :class:`PointRaster` (the points and their colours kept once, in the layout the
binning reads) or :func:`raster_image`, which give the same pixels as ``shade(rasterize(...))``
(colour channels within 1 of 255, the opacity exact) without the per-class counts: one ``bincount``
of the counts and three of the colour sums per pixel, over ``height x width`` bins instead of
``classes x height x width`` (the per-class counts' zeroing and scattered writes were most of a
redraw: BENCHMARKS.md#perf-explorer-bigpool).
``widgets/bigpool.py`` wires it to a Bokeh figure; ``benchmarks/bigpool_render.py`` measures it
against Bokeh's WebGL scatter, ``benchmarks/explorer_bigpool.py`` inside the explorer.
Pure numpy: no Bokeh, no Panel.
"""

from __future__ import annotations

import threading

import numpy as np

from .exceptions import ConfigError

__all__ = ["PALETTE", "rasterize", "shade", "raster_image", "PointRaster"]

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


def _points(points) -> np.ndarray:
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ConfigError(f"points must have shape (n, 2), got {pts.shape}")
    return pts


def _box(x_range, y_range, width: int, height: int) -> tuple[tuple[float, float], tuple[float, float]]:
    (x0, x1), (y0, y1) = map(float, x_range), map(float, y_range)
    if not (x1 > x0 and y1 > y0 and np.isfinite([x0, x1, y0, y1]).all()):
        raise ConfigError(f"empty or invalid box x {x_range}, y {y_range}; ranges need start < end")
    if width < 1 or height < 1:
        raise ConfigError(f"width and height must be >= 1 pixel, got {width} x {height}")
    return (x0, x1), (y0, y1)


def _alpha(total: np.ndarray, min_alpha: int) -> np.ndarray:
    """Opacity (uint8) of pixels holding ``total`` points (float32): log scale, 0 where empty."""
    filled = total > 0
    if not filled.any():
        return np.zeros(total.shape, np.uint8)
    lt = np.log1p(total)
    top = float(lt.max())
    frac = (lt - np.log1p(1.0)) / (top - np.log1p(1.0)) if top > np.log1p(1.0) else np.ones_like(lt)
    return np.where(filled, min_alpha + (255 - min_alpha) * np.clip(frac, 0, 1), 0).astype(np.uint8)


def _palette(colors, c: int) -> np.ndarray:
    cols = np.asarray(colors, np.float32)
    return np.resize(cols, (c, 3)) if len(cols) < c else cols[:c]  # more classes than colours: it repeats


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
    pts = _points(points)
    (x0, x1), (y0, y1) = _box(x_range, y_range, width, height)
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
    cols = _palette(colors, counts.shape[0])
    cf = counts.astype(np.float32)
    total = cf.sum(0)
    rgb = np.tensordot(cols.T, cf, axes=1) / np.maximum(total, 1)  # (3, H, W)
    out = np.zeros((*total.shape, 4), np.uint8)
    out[..., :3] = np.clip(rgb.transpose(1, 2, 0), 0, 255).astype(np.uint8)
    out[..., 3] = _alpha(total, min_alpha)
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
    columns of a Bokeh ``image_rgba`` source covering the box (:class:`PointRaster`'s, built for this call)."""
    return PointRaster(points, labels, colors, n_classes).image(x_range, y_range, width, height)


class PointRaster:
    """Points kept for redrawing: their coordinates as two contiguous columns and each point's colour
    (its class's, ``colors[label]``, the palette repeating past its length), so that a redraw bins
    only what it must. :meth:`image` gives the pixels of ``shade(rasterize(...))``: the opacity
    exactly, each colour channel within 1 (the colours are summed per pixel, not per class).

    Parameters
    ----------
    points : ndarray (n, 2)        display coordinates
    labels : ndarray (n,), optional class of each point; None = one colour (``colors[0]``)
    colors : ndarray (C, 3)        class colours, 0-255
    n_classes : int, optional      classes (default ``labels.max() + 1``); only checks the labels
    min_alpha : int                opacity of a pixel with one point (the busiest is 255)
    """

    def __init__(self, points, labels=None, colors=PALETTE, n_classes: int | None = None, min_alpha: int = 40):
        pts = _points(points)
        self.n, self.min_alpha = len(pts), int(min_alpha)
        # float as the binning computes it (float32 codes stay float32, integers become float64)
        self.x = np.ascontiguousarray(pts[:, 0] - 0.0)
        self.y = np.ascontiguousarray(pts[:, 1] - 0.0)
        self._scratch, self._lock = None, threading.Lock()
        if labels is None:
            self.rgb = None  # one colour: no sums needed
            self.color = _palette(colors, 1)[0].astype(np.float64)
        else:
            lab = np.asarray(labels)
            if len(lab) != self.n:
                raise ConfigError(f"{len(lab)} labels for {self.n} points")
            c = int(n_classes if n_classes is not None else (lab.max() + 1 if len(lab) else 1))
            if len(lab) and (lab.min() < 0 or lab.max() >= c):
                raise ConfigError(f"labels must lie in 0..{c - 1} (n_classes={c})")
            cols = _palette(colors, c).astype(np.float64)
            # bincount's weights must be float64: kept so, one contiguous column per channel
            self.rgb = [np.ascontiguousarray(cols[lab, k]) for k in range(3)]

    def image(self, x_range, y_range, width: int = 600, height: int = 600) -> dict:
        """The ``image_rgba`` columns of the box ``x_range x y_range`` at ``width x height`` pixels."""
        (x0, x1), (y0, y1) = _box(x_range, y_range, width, height)
        w, h = int(width), int(height)
        bins = w * h
        with self._lock:  # one set of scratch buffers
            flat, take = self._pixels(x0, x1, y0, y1, w, h)
            total = np.bincount(flat, minlength=bins + 1)[:bins].astype(np.float32)
            sums = None if self.rgb is None else [
                np.bincount(flat, weights=c if take is None else c[take], minlength=bins + 1)[:bins] for c in self.rgb
            ]  # fmt: skip
        out = np.zeros((h, w, 4), np.uint8)
        if sums is None:
            out[(total > 0).reshape(h, w), :3] = self.color.astype(np.uint8)
        else:
            div = np.maximum(total, 1)
            for k, sk in enumerate(sums):
                out[..., k] = np.clip(sk / div, 0, 255).astype(np.uint8).reshape(h, w)
        out[..., 3] = _alpha(total, self.min_alpha).reshape(h, w)
        return {
            "image": [out.view(np.uint32).reshape(h, w)],
            "x": [float(x0)],
            "y": [float(y0)],
            "dw": [float(x1 - x0)],
            "dh": [float(y1 - y0)],
        }

    def _pixels(self, x0: float, x1: float, y0: float, y1: float, w: int, h: int):
        """Each point's pixel (row-major, ``w * h`` for a point outside the box) and, when few points
        fall in the box, only theirs with their indices ``take`` (else ``take`` is None). The
        per-point temporaries live in buffers kept between redraws: fresh ones cost page faults
        (4,800 per redraw at 10^6 points, a third of its time)."""
        fx, fy, keep, out_, ix, flat = self._buffers()
        np.subtract(self.x, x0, out=fx)
        fx *= w / (x1 - x0)
        np.subtract(self.y, y0, out=fy)
        fy *= h / (y1 - y0)
        np.greater_equal(fx, 0, out=keep)
        for arr, cmp, v in ((fx, np.less_equal, w), (fy, np.greater_equal, 0), (fy, np.less_equal, h)):
            cmp(arr, v, out=out_)
            keep &= out_
        inside = int(np.count_nonzero(keep))
        if inside < self.n // 4:  # few in the box: bin only those
            take = np.flatnonzero(keep)
            iy = np.minimum(fy[take], h - 1).astype(np.int64)
            iy *= w
            iy += np.minimum(fx[take], w - 1).astype(np.int64)
            return iy, take
        if inside < self.n:  # the others into the spare bin (and no NaN or huge value cast to int)
            np.logical_not(keep, out=out_)
            fx[out_] = 0
            fy[out_] = 0
        # floor of the clamped value = the clamped floor (a point on the right or top edge: the last pixel)
        np.minimum(fx, w - 1, out=fx)
        np.minimum(fy, h - 1, out=fy)
        np.copyto(flat, fy, casting="unsafe")
        flat *= w
        np.copyto(ix, fx, casting="unsafe")
        flat += ix
        if inside < self.n:
            flat[out_] = w * h
        return flat, None

    def _buffers(self):
        if self._scratch is None:
            n, f = self.n, self.x.dtype
            self._scratch = (
                np.empty(n, f), np.empty(n, f), np.empty(n, bool), np.empty(n, bool),
                np.empty(n, np.int32), np.empty(n, np.int64),
            )  # fmt: skip
        return self._scratch
