"""The explorer while its generator trains (widgets/training_view.py) and above the raster threshold
(widgets/bigpool.py in the explorer), built server-side (no browser)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pn = pytest.importorskip("panel")

from latentlab import GeneratorConfig  # noqa: E402
from latentlab.explorer_state import ExplorerState  # noqa: E402
from latentlab.widgets import LatentExplorer  # noqa: E402
from latentlab.widgets.bigpool import RasterLayer  # noqa: E402
from latentlab.widgets.training_view import TrainingView, bar_html, snapshot_colours  # noqa: E402
from latentlab.widgets.comm_watchdog import CommWatchdog  # noqa: E402


def _finish(view: TrainingView, timeout: float = 300) -> list[int]:
    """Look at the job as the periodic callback would, until it has handed over; points drawn per look."""
    drawn, t0 = [], time.time()
    while not view._ended and time.time() - t0 < timeout:
        view.update()
        drawn.append(len(view.src.data["x"]))
        time.sleep(0.05)
    return drawn


def test_an_unloaded_state_shows_the_forming_map_then_the_explorer(explorer_settings):
    cfg = GeneratorConfig(epochs=4, min_steps=0, batch_size=64)  # not in the session's cache: it trains
    state = ExplorerState(**{**explorer_settings, "generator_config": cfg, "n_pool": 320})
    ex = LatentExplorer(state)
    tv = ex.training_view
    assert isinstance(tv, TrainingView) and not state.loaded
    assert len(ex._layout.objects) == 2 and "latentlab-training" in ex._layout.objects[0].css_classes
    assert isinstance(ex._layout.objects[1], CommWatchdog)  # the page's comm watchdog stays in the root
    drawn = _finish(tv)
    assert tv._ended and tv.job.trained and tv.job.error == ""
    assert max(drawn) == 320  # the watched items (all 320 here) were drawn while it trained
    assert tv.bar.value.count("latentlab-bar") == 2 and "ready" in tv.bar.value
    assert state.loaded and state.error == "" and state.latent is tv.job.resources[1]
    assert "latentlab-training" not in ex._layout.objects[0].css_classes  # the explorer is back
    assert [type(o) for o in ex._layout.objects][1:] == [CommWatchdog]
    assert len(ex.src["pool"].data["x"]) == 320
    assert state.run_round() and state.round == 1  # usable


def test_a_failed_first_load_shows_its_message_in_the_explorer(tmp_path):
    state = ExplorerState(dataset="mnist", data_root=str(tmp_path / "nowhere"))
    ex = LatentExplorer(state)
    _finish(ex.training_view, 60)
    assert not state.loaded and state.error and "Traceback" not in state.error
    assert ex.alert_text == state.error


def test_snapshot_colours_and_bar():
    assert list(snapshot_colours(np.array([0, 1, 11]), True)) == ["#1f77b4", "#ff7f0e", "#ff7f0e"]
    assert len(snapshot_colours(np.linspace(0, 1, 5), False)) == 5
    assert "width:50.0%" in bar_html(0.5, "epoch 1 of 2") and "epoch 1 of 2" in bar_html(0.5, "epoch 1 of 2")


def test_explorer_draws_the_raster_above_its_threshold_and_the_scatter_below(explorer_settings):
    from bokeh.events import RangesUpdate

    state = ExplorerState(**explorer_settings).load()
    n = len(state.embeddings)
    small = LatentExplorer(state, max_points=n)  # at the threshold: the scatter
    assert len(small.src["pool"].data["x"]) == n and small.src["raster"].data["image"] == []
    big = LatentExplorer(state, max_points=n - 1)  # above it: the raster layer
    layer = big._pool_layer
    assert isinstance(layer, RasterLayer) and layer.source is big.src["raster"]
    assert len(big.src["pool"].data["x"]) == 0
    (img,) = big.src["raster"].data["image"]
    assert img.dtype == np.uint32 and img.shape == (big.map.height, big.map.width) and (img != 0).sum() > 50
    # picks, trajectories and labelled items stay glyphs above it
    assert big.state.run_round() and big.state.step()
    big._redraw()
    assert len(big.src["points"].data["x"]) == state.per_round and len(big.src["labelled"].data["x"]) > 0
    # a pan/zoom end bins the pool again for the visible box
    x0, x1, y0, y1 = state.extent
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    big.map._trigger_event(RangesUpdate(big.map, x0=x0, x1=xm, y0=y0, y1=ym))
    d = big.src["raster"].data
    assert d["x"] == [x0] and np.isclose(d["dw"][0], xm - x0) and np.isclose(d["dh"][0], ym - y0)
    # the same state drawn again with a small pool: the layer stops and the scatter comes back
    big.max_points = 10**9
    big._drawn["data"] = -1
    big._redraw()
    assert not layer.active and big.src["raster"].data["image"] == [] and len(big.src["pool"].data["x"]) == n
