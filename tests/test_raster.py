"""latentlab.raster (a million codes as one image) and its Bokeh layer widgets/bigpool.py."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.exceptions import ConfigError
from latentlab.raster import PALETTE, PointRaster, raster_image, rasterize, shade


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


@pytest.mark.parametrize(
    "box",
    [
        ((-2.5, 2.5), (-3.0, 3.0)),  # most points inside: all binned, the rest in the spare bin
        ((-5.0, 5.0), (-5.0, 5.0)),  # every point inside
        ((-0.3, 0.2), (0.1, 0.5)),  # few inside: only those binned
        ((10.0, 11.0), (0.0, 1.0)),  # none inside
    ],
)
def test_point_raster_gives_the_pixels_of_shade_of_rasterize(box):
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(20_000, 2)).astype(np.float32)
    pts[:3] = [[np.nan, 0.0], [1e30, 0.0], [0.0, -np.inf]]  # never drawn, wherever the box
    lab = rng.integers(0, 12, len(pts))  # more classes than tab10's colours: they repeat
    want = shade(rasterize(pts, lab, x_range=box[0], y_range=box[1], width=57, height=43, n_classes=12))
    r = PointRaster(pts, lab, n_classes=12)
    for _ in range(2):  # the second redraw reuses the first one's buffers
        got = r.image(*box, width=57, height=43)["image"][0]
        assert got.dtype == np.uint32 and np.array_equal(got, want)
    one = shade(rasterize(pts, None, x_range=box[0], y_range=box[1], width=57, height=43))
    assert np.array_equal(PointRaster(pts).image(*box, 57, 43)["image"][0], one)
    assert np.array_equal(raster_image(pts, lab, *box, 57, 43, n_classes=12)["image"][0], want)


def test_point_raster_counts_edges_in_the_last_pixel_and_refuses_bad_labels():
    pts = np.array([[0, 0], [1, 1], [1, 0], [2, 2]])  # integers: binned as floats
    img = PointRaster(pts).image((0, 1), (0, 1), 2, 2)["image"][0].view(np.uint8).reshape(2, 2, 4)
    assert img[0, 0, 3] > 0 and img[1, 1, 3] > 0 and img[0, 1, 3] > 0 and img[1, 0, 3] == 0
    with pytest.raises(ConfigError, match="labels"):
        PointRaster(pts, [0, 1, 2, 3], n_classes=3)
    with pytest.raises(ConfigError, match="start < end"):
        PointRaster(pts).image((1, 1), (0, 1))


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
    layer.labels = np.zeros(5000, np.int64)  # new labels: one class, redrawn in its colour
    layer.redraw()
    rgba = layer.source.data["image"][0].view(np.uint8).reshape(40, 50, 4)
    assert (rgba[..., 3] > 0).any() and (rgba[rgba[..., 3] > 0, :3] == PALETTE[0].astype(np.uint8)).all()
