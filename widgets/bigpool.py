"""A pool of a million codes on a Bokeh figure: one image, redrawn for the visible box on pan and zoom.

:class:`RasterLayer` puts an ``image_rgba`` glyph (named ``bigpool``) on a figure and, on every
``RangesUpdate`` event (the end of a pan or zoom), recomputes it with
:func:`latentlab.raster.raster_image` for the new ranges: the browser only ever holds
``width x height`` pixels, whatever the pool size. ``benchmarks/bigpool_render.py`` measured it
against Bokeh's WebGL scatter of the same million points (BENCHMARKS.md).

The explorer (:class:`~latentlab.widgets.LatentExplorer`) draws a pool larger than its
``max_points`` parameter (default 5,000) this way: :func:`pool_layer` puts the layer into the map's
own ``pool_raster`` glyph instead of the pool's scatter (picks, trajectories and labelled items stay
glyphs above it), coloured by class (tab10, as the scatter) or, for regression labels, by ten
Viridis levels of the label's peak. After changing ``layer.points`` / ``layer.labels`` call
``layer.redraw()``, or :meth:`RasterLayer.set_points`.

The layer keeps the points as a :class:`latentlab.raster.PointRaster` (coordinates, colours and the
binning's scratch buffers: about 50 bytes a point, 50 MB for 10^6, per layer, i.e. per browser
session of the explorer), so a pan or zoom redraws without the per-class counts or fresh memory.
"""

from __future__ import annotations

import numpy as np
from bokeh.events import RangesUpdate
from bokeh.models import ColumnDataSource, DataRange1d

from latentlab.raster import PALETTE, PointRaster

__all__ = ["RasterLayer", "BIG_POOL", "pool_layer", "raster_labels"]

BIG_POOL = 100_000  # above this many points a raster draws faster than glyphs (see the benchmark)


class RasterLayer:
    """The pool as a raster image on ``fig``, kept in step with its ranges.

    Parameters
    ----------
    fig : bokeh.plotting.figure
    points : ndarray (n, 2)        display coordinates
    labels : ndarray (n,), optional class of each point (colour); None = one colour
    width, height : int            raster size in pixels (about the figure's)
    colors : ndarray (C, 3)        class colours, 0-255
    lod_timeout : int, optional    sets ``fig.lod_timeout`` (ms): Bokeh sends a wheel zoom's
                                   ``RangesUpdate`` only this long after the last wheel event
                                   (Bokeh's default 500 ms was most of the measured zoom redraw)
    source : ColumnDataSource, optional  the ``image_rgba`` source of a glyph already on ``fig``
                                   (the explorer's ``pool_raster``); default: a new glyph ``bigpool``
    """

    def __init__(
        self,
        fig,
        points,
        labels=None,
        width: int = 600,
        height: int = 600,
        colors=PALETTE,
        lod_timeout: int | None = 100,
        source: ColumnDataSource | None = None,
    ):
        self.fig, self.width, self.height = fig, int(width), int(height)
        if lod_timeout is not None:
            fig.lod_timeout = int(lod_timeout)
        self.active = True
        self.source = source
        self.set_points(points, labels, colors)
        if source is None:
            fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.source, name="bigpool")
        fig.on_event(RangesUpdate, self._on_ranges)

    def set_points(self, points, labels=None, colors=PALETTE) -> None:
        """Draw these points (a new data set): the box and the figure's ranges fit them again."""
        self.points = np.asarray(points)
        self.labels = None if labels is None else np.asarray(labels)
        self.colors, self.active = colors, True
        lo, hi = self.points.min(0), self.points.max(0)
        pad = 0.02 * (hi - lo + 1e-12)
        self.box = ((float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1])))
        self._keep()
        if self.source is None:
            self.source = ColumnDataSource(self._image(*self.box), name="bigpool-source")
        else:
            self.source.data = self._image(*self.box)
        self.fig.x_range.start, self.fig.x_range.end = self.box[0]
        self.fig.y_range.start, self.fig.y_range.end = self.box[1]

    def detach(self) -> None:
        """Stop redrawing (a small pool is drawn as glyphs): the image goes, the ranges fit the data again."""
        self.active, self._raster = False, None
        self.source.data = {k: [] for k in ("image", "x", "y", "dw", "dh")}
        # fresh auto ranges (a DataRange1d's start/end, once set, cannot be unset)
        self.fig.x_range, self.fig.y_range = DataRange1d(), DataRange1d()

    def _keep(self) -> None:
        """Hold ``points``, ``labels`` and ``colors`` as the :class:`PointRaster` that redraws them."""
        self.points = np.asarray(self.points)
        self.labels = None if self.labels is None else np.asarray(self.labels)
        self.n_classes = None if self.labels is None else int(self.labels.max()) + 1
        self._raster = PointRaster(self.points, self.labels, self.colors, self.n_classes)

    def _image(self, xr, yr) -> dict:
        return self._raster.image(xr, yr, self.width, self.height)

    def _on_ranges(self, event) -> None:
        if (
            not self.active
            or None in (event.x0, event.x1, event.y0, event.y1)
            or event.x1 <= event.x0
            or event.y1 <= event.y0
        ):
            return
        self.box = ((event.x0, event.x1), (event.y0, event.y1))
        self.source.data = self._image(*self.box)

    def redraw(self) -> None:
        """Recompute the image for the current box (after changing ``points``, ``labels`` or ``colors``)."""
        self._keep()
        self.source.data = self._image(*self.box)


def raster_labels(data) -> tuple[np.ndarray | None, np.ndarray]:
    """Colour index of each pool item and the colours (C x 3, 0-255), as the explorer's scatter colours
    them: the class (tab10, repeating past 10 classes), ten Viridis levels of a regression label's peak,
    or one grey for a pool without labels."""
    y = data.y_train
    if data.task == "classification" and y is not None:
        return np.asarray(y, np.int64) % 10, PALETTE
    if y is not None:
        from bokeh.palettes import Viridis10

        from .draw import label_levels

        level, lo, hi = label_levels(y)
        idx = np.clip(((level - lo) / max(hi - lo, 1e-12) * 10).astype(np.int64), 0, 9)
        return idx, np.array([[int(c[k : k + 2], 16) for k in (1, 3, 5)] for c in Viridis10], np.float32)
    return None, np.array([[136, 136, 136]], np.float32)


def pool_layer(fig, source: ColumnDataSource, state, layer: RasterLayer | None = None) -> RasterLayer:
    """The explorer's pool as a :class:`RasterLayer` in ``source`` (its ``pool_raster`` glyph), sized
    to the figure; ``layer``: the one drawn before, given the new pool."""
    labels, colors = raster_labels(state.data)
    points = state.embeddings
    if layer is None:
        return RasterLayer(fig, points, labels, fig.width, fig.height, colors, source=source)
    layer.width, layer.height = fig.width, fig.height
    layer.set_points(points, labels, colors)
    return layer
