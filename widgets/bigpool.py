"""A pool of a million codes on a Bokeh figure: one image, redrawn for the visible box on pan and zoom.

:class:`RasterLayer` puts an ``image_rgba`` glyph (named ``bigpool``) on a figure and, on every
``RangesUpdate`` event (the end of a pan or zoom), recomputes it with
:func:`latentlab.raster.raster_image` for the new ranges: the browser only ever holds
``width x height`` pixels, whatever the pool size. ``benchmarks/bigpool_render.py`` measured it
against Bokeh's WebGL scatter of the same million points (BENCHMARKS.md).

To use it in the explorer's map instead of the pool scatter when the pool is large::

    layer = RasterLayer(fig, latent.to_view(latent.embeddings), labels)   # replaces fig.scatter(...)

and call ``layer.redraw()`` after changing ``layer.points`` / ``layer.labels``.
"""

from __future__ import annotations

import numpy as np
from bokeh.events import RangesUpdate
from bokeh.models import ColumnDataSource

from latentlab.raster import PALETTE, raster_image

__all__ = ["RasterLayer", "BIG_POOL"]

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
    ):
        self.fig, self.width, self.height, self.colors = fig, int(width), int(height), colors
        if lod_timeout is not None:
            fig.lod_timeout = int(lod_timeout)
        self.points = np.asarray(points)
        self.labels = None if labels is None else np.asarray(labels)
        lo, hi = self.points.min(0), self.points.max(0)
        pad = 0.02 * (hi - lo + 1e-12)
        self.box = ((float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1])))
        self.n_classes = None if self.labels is None else int(self.labels.max()) + 1
        self.source = ColumnDataSource(self._image(*self.box), name="bigpool-source")
        fig.x_range.start, fig.x_range.end = self.box[0]
        fig.y_range.start, fig.y_range.end = self.box[1]
        fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.source, name="bigpool")
        fig.on_event(RangesUpdate, self._on_ranges)

    def _image(self, xr, yr) -> dict:
        return raster_image(
            self.points, self.labels, xr, yr, self.width, self.height, n_classes=self.n_classes, colors=self.colors
        )

    def _on_ranges(self, event) -> None:
        if None in (event.x0, event.x1, event.y0, event.y1) or event.x1 <= event.x0 or event.y1 <= event.y0:
            return
        self.box = ((event.x0, event.x1), (event.y0, event.y1))
        self.source.data = self._image(*self.box)

    def redraw(self) -> None:
        """Recompute the image for the current box (after changing ``points`` or ``labels``)."""
        self.source.data = self._image(*self.box)
