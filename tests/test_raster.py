"""latentlab.raster (a million codes as one image) and its Bokeh layer widgets/bigpool.py."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.exceptions import ConfigError
from latentlab.raster import PALETTE, raster_image, rasterize, shade


def test_counts_land_in_their_pixels_per_class():
    pts = np.array([[0.0, 0.0], [0.99, 0.0], [1.0, 1.0], [0.5, 0.5], [0.5, 0.5], [2.0, 0.5], [-0.1, 0.5]])
    lab = np.array([0, 1, 1, 2, 2, 0, 0])
    c = rasterize(pts, lab, x_range=(0, 1), y_range=(0, 1), width=4, height=2)
    assert c.shape == (3, 2, 4) and c.dtype == np.uint32
    assert c.sum() == 5  # the two points outside the box are left out
    assert c[0, 0, 0] == 1  # bottom-left
    assert c[1, 0, 3] == 1 and c[1, 1, 3] == 1  # right edge and the top-right corner count in the last pixel
    assert c[2, 1, 2] == 2  # (0.5, 0.5): row 1 of 2, column 2 of 4
    assert rasterize(pts, None, x_range=(0, 1), y_range=(0, 1), width=4, height=2).shape == (1, 2, 4)


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="start < end"):
        rasterize(np.zeros((3, 2)), x_range=(1, 1), y_range=(0, 1))
    with pytest.raises(ConfigError, match="shape"):
        rasterize(np.zeros((3, 3)), x_range=(0, 1), y_range=(0, 1))
    with pytest.raises(ConfigError, match="labels"):
        rasterize(np.zeros((3, 2)), np.zeros(2, int), x_range=(0, 1), y_range=(0, 1))


def test_shade_mixes_class_colours_and_scales_opacity_with_count():
    counts = np.zeros((2, 1, 4), np.uint32)
    counts[0, 0, 0] = 1  # one point of class 0
    counts[0, 0, 1] = 100  # many of class 0
    counts[0, 0, 2], counts[1, 0, 2] = 50, 50  # half and half
    rgba = shade(counts).view(np.uint8).reshape(1, 4, 4)
    assert tuple(rgba[0, 0, :3]) == tuple(PALETTE[0].astype(np.uint8))
    assert rgba[0, 3, 3] == 0  # empty pixel: transparent
    assert 0 < rgba[0, 0, 3] < rgba[0, 1, 3] == 255  # opacity grows with the count
    mix = (PALETTE[0] + PALETTE[1]) / 2
    assert np.allclose(rgba[0, 2, :3], mix, atol=1)


def test_raster_image_covers_the_box_and_a_million_points():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(1_000_000, 2)).astype(np.float32)
    lab = rng.integers(0, 10, 1_000_000)
    img = raster_image(pts, lab, (-1.0, 1.0), (-1.0, 0.5), width=300, height=200)
    assert img["image"][0].shape == (200, 300) and img["x"] == [-1.0] and img["dw"] == [2.0] and img["dh"] == [1.5]
    alpha = img["image"][0].view(np.uint8).reshape(200, 300, 4)[..., 3]
    assert (alpha > 0).mean() > 0.99  # the box is inside the cloud: every pixel has points


def test_raster_layer_redraws_for_the_new_ranges():
    pytest.importorskip("bokeh")
    from bokeh.events import RangesUpdate
    from bokeh.plotting import figure

    from latentlab.widgets.bigpool import RasterLayer

    fig = figure(width=200, height=200)
    rng = np.random.default_rng(1)
    layer = RasterLayer(fig, rng.normal(size=(5000, 2)), rng.integers(0, 3, 5000), width=50, height=40)
    first = layer.source.data["image"][0]
    assert first.shape == (40, 50) and fig.select_one({"name": "bigpool"}) is not None
    assert fig.lod_timeout == 100  # a wheel zoom's RangesUpdate comes 100 ms after the last wheel event
    layer._on_ranges(RangesUpdate(fig, x0=-0.5, x1=0.5, y0=-0.25, y1=0.25))
    assert layer.source.data["x"] == [-0.5] and layer.source.data["dh"] == [0.5]
    assert not np.array_equal(layer.source.data["image"][0], first)
    layer._on_ranges(RangesUpdate(fig, x0=1.0, x1=1.0, y0=0.0, y1=1.0))  # an empty box is ignored
    assert layer.source.data["x"] == [-0.5]
