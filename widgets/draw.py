"""Pure numpy helpers of the explorer's view: images as Bokeh RGBA arrays, the pool's colours, the pool as one raster.

No Panel or Bokeh model is built here (only Bokeh's palettes are read), so each function is tested
on plain arrays.
"""

from __future__ import annotations

import numpy as np
from bokeh.palettes import Category10_10, Viridis256

__all__ = ["to_rgba", "label_levels", "pool_colours", "pool_raster"]


def to_rgba(img: np.ndarray, vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """An image (C, H, W) or (H, W) as a Bokeh RGBA ``uint32`` array (H, W), flipped for y-up axes."""
    a = np.asarray(img, np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    a = np.clip((a - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    rgb = np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a
    u8 = (rgb * 255).astype(np.uint8)
    out = np.empty(u8.shape[:2], np.uint32)
    v = out.view(np.uint8).reshape(*u8.shape[:2], 4)
    v[..., :3], v[..., 3] = u8, 255
    return out[::-1]


def label_levels(y) -> tuple[np.ndarray, float, float]:
    """Peak of each regression label and the 2nd/98th percentiles the colour scale spans."""
    level = np.asarray(y).reshape(len(y), -1).max(1)
    lo, hi = np.percentile(level, [2, 98])
    return level, float(lo), float(max(hi, lo + 1e-12))


def pool_colours(state) -> tuple[list, list]:
    """Colour and legend text per pool item: by class, or by stress level for regression data sets."""
    ds = state.data
    y = ds.y_train
    if ds.task == "classification" and y is not None:
        pal = Category10_10
        return [pal[int(c) % 10] for c in y], [ds.classes[int(c)] for c in y]
    if y is not None:  # regression: colour by the peak of the label (e.g. the max wall stress, kPa)
        level, lo, hi = label_levels(y)
        idx = np.clip(((level - lo) / max(hi - lo, 1e-12) * 255).astype(int), 0, 255)
        return [Viridis256[i] for i in idx], [f"{v:.3g}" for v in level]
    return ["#888888"] * len(ds.x_train), [""] * len(ds.x_train)


def pool_raster(emb: np.ndarray, colours: list, extent, n: int = 320) -> np.ndarray:
    """The pool as one RGBA image (n, n): mean colour of the items in each pixel, opacity by count.

    Large pools (MNIST's 60k) are drawn this way: one image instead of 60k WebGL points keeps the
    browser's redraw after a Step cheap (software GL in a headless or GPU-less browser).
    """
    x0, x1, y0, y1 = extent
    ix = np.clip(((emb[:, 0] - x0) / (x1 - x0) * n).astype(int), 0, n - 1)
    iy = np.clip(((emb[:, 1] - y0) / (y1 - y0) * n).astype(int), 0, n - 1)
    uniq, inv = np.unique(np.asarray(colours), return_inverse=True)
    pal = np.array([[int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)] for c in uniq], np.float64)
    acc = np.zeros((n, n, 3))
    cnt = np.zeros((n, n))
    np.add.at(acc, (iy, ix), pal[inv])
    np.add.at(cnt, (iy, ix), 1.0)
    out = np.zeros((n, n), np.uint32)
    v = out.view(np.uint8).reshape(n, n, 4)
    v[..., :3] = (acc / np.maximum(cnt, 1)[..., None]).astype(np.uint8)
    v[..., 3] = (220 * np.minimum(cnt / 3.0, 1.0)).astype(np.uint8)
    return out  # row 0 = bottom (y0), as Bokeh draws images
