"""Panel/Bokeh objects built server-side (no browser): views draw the state in place."""

from __future__ import annotations

import numpy as np
import pytest

pn = pytest.importorskip("panel")

from latentlab.explorer_state import ExplorerState  # noqa: E402
from latentlab.widgets import AnnotationPanel, LatentExplorer  # noqa: E402
from latentlab.widgets.explorer import to_rgba  # noqa: E402


def renderer(fig, name):
    (r,) = fig.select(name=name)
    return r


@pytest.fixture(scope="module")
def view(explorer_settings):
    return LatentExplorer(ExplorerState(**explorer_settings).load())


def test_built_once_with_named_webgl_glyphs(view):
    assert view.map.output_backend == "webgl"
    for name in ("pool", "labelled", "heatmap", "trajectories", "points", "gradients", "p_prime", "neighbours",
                 "jumps", "selected"):
        renderer(view.map, name)
    assert len(renderer(view.map, "pool").data_source.data["x"]) == 400
    assert "round** 0" in view.readout.object


def test_step_without_model_shows_alert_and_round_step_update_sources_in_place(view):
    fig, src = view.map, view.src["points"]
    view.b_step.clicks += 1
    assert view.alert.visible and "Run round" in view.alert.object
    view.b_round.clicks += 1
    assert not view.alert.visible, view.alert.object
    assert view.map is fig and view.src["points"] is src  # same figure, same source: updated in place
    assert len(view.src["heat"].data["image"]) == 1
    assert len(view.src["points"].data["x"]) == 5 and len(view.curve_src["strategy"].data["x"]) == 1
    n_path = sum(len(x) for x in view.src["paths"].data["xs"])
    view.b_step.clicks += 1
    assert sum(len(x) for x in view.src["paths"].data["xs"]) == n_path + 5
    g = view.src["grad"].data
    lengths = np.hypot(np.subtract(g["x1"], g["x0"]), np.subtract(g["y1"], g["y0"]))
    gn = view.src["points"].data["grad_norm"]
    np.testing.assert_allclose(lengths / lengths.max(), gn / gn.max(), rtol=1e-9)  # arrow length ∝ |grad|
    assert "steps** 2" in view.readout.object


def test_bad_alpha_in_widget_is_an_alert(view):
    view.w_alpha.value = -1.0
    assert view.alert.visible and "alpha" in view.alert.object
    assert view.state.alpha == 0.2
    view.w_alpha.value = 0.3
    assert not view.alert.visible and view.state.alpha == 0.3


def test_tap_decodes_into_the_strip(view):
    from bokeh.events import Tap

    view._on_tap(Tap(model=view.map, x=0.1, y=0.2))
    assert len(view.src["strip"].data["image"]) == 2 and view.src["sel"].data["x"] == [0.1]
    assert view.src["strip"].data["image"][0].dtype == np.uint32


def test_replay_slider_shows_an_old_round(view):
    view.b_round.clicks += 1
    assert view.w_replay.end == 2 and not view.w_replay.disabled
    view.w_replay.value = 1
    assert len(view.src["labelled"].data["x"]) == 35
    view.w_replay.value = 0
    assert len(view.src["labelled"].data["x"]) == 40


def test_annotation_panel_labels_into_train_set(view):
    a = AnnotationPanel(view.state)
    assert len(a.answers.objects[0].objects) == 10  # one button per digit class
    a.b_queue.clicks += 1
    assert len(a.src.data["image"]) == 1
    n = view.state.loop.n_labelled
    a.answers.objects[0].objects[4].clicks += 1
    assert view.state.loop.n_labelled == n + 1


def test_to_rgba_flips_and_packs():
    img = np.zeros((1, 2, 3))
    img[0, 0, 0] = 1.0  # top-left white
    out = to_rgba(img)
    assert out.shape == (2, 3) and out.dtype == np.uint32
    assert out[1, 0] == 0xFFFFFFFF and out[0, 0] == 0xFF000000


def test_app_builds_and_cli_registers(explorer_settings):
    from latentlab.cli import build_parser
    from latentlab.widgets.app import create_app

    app = create_app(**explorer_settings)
    assert isinstance(app, pn.Column)
    a = build_parser().parse_args(["explore", "--port", "0"])
    assert a.address == "127.0.0.1" and a.dataset == "digits" and callable(a.func)


def test_large_pool_is_one_raster_image(view):
    big = LatentExplorer(view.state, max_points=100)
    assert len(big.src["pool"].data["x"]) == 0
    (img,) = big.src["raster"].data["image"]
    assert img.dtype == np.uint32 and (img != 0).sum() > 50  # pixels where pool items fall
