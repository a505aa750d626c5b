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


def test_built_once_with_named_canvas_glyphs(view):
    # canvas, not WebGL: pools above max_points are one raster image, and for the few thousand points
    # below it a canvas Step painted in 165 ms against WebGL's 311 ms (BENCHMARKS.md explorer.latency)
    assert view.map.output_backend == "canvas"
    for name in (
        "pool",
        "labelled",
        "heatmap",
        "trajectories",
        "points",
        "gradients",
        "p_prime",
        "neighbours",
        "jumps",
        "selected",
    ):
        renderer(view.map, name)
    assert len(renderer(view.map, "pool").data_source.data["x"]) == 400
    assert "<b>round</b> 0" in view.readout.value


def test_step_without_model_shows_alert_and_round_step_update_sources_in_place(view):
    fig, src = view.map, view.src["points"]
    view.b_step.clicks += 1
    assert "Run round" in view.alert_text
    view.b_round.clicks += 1
    assert view.alert_text == "", view.alert_text
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
    assert "<b>steps</b> 2" in view.readout.value


def test_run_round_runs_in_the_background_with_the_busy_state_shown(explorer_settings):
    """Run round's work runs on a worker thread; meanwhile the spinner turns, buttons are disabled and
    no redraw touches Bokeh models; afterwards the view redraws once, on the loop, and is idle again."""
    import asyncio
    import threading

    from latentlab.widgets.explorer import in_background

    view = LatentExplorer(ExplorerState(**explorer_settings).load())
    seen = {}
    n_points = len(view.src["points"].data["x"])

    def work():
        seen.update(
            thread=threading.current_thread() is not threading.main_thread(),
            background=in_background(),
            busy=view.state.busy,
            spinner=view.spinner.styles["visibility"] == "visible",
            disabled=view.b_round.disabled and view.b_step.disabled and view.w_dataset.disabled,
        )
        view.state.run_round()
        seen["drawn_meanwhile"] = len(view.src["labelled"].data["x"])

    n_before = len(view.src["labelled"].data["x"])
    asyncio.run(view.run_in_background(work, "Run round: training F"))
    assert seen["thread"] and seen["background"] and seen["busy"] == "Run round: training F"
    assert seen["spinner"] and seen["disabled"]
    assert seen["drawn_meanwhile"] == n_before  # nothing redrawn off the loop
    assert len(view.src["labelled"].data["x"]) > n_before and len(view.src["points"].data["x"]) >= n_points
    assert not view.state.busy and view.spinner.styles["visibility"] == "hidden" and not view.b_round.disabled


def test_bad_alpha_in_widget_is_an_alert(view):
    view.w_alpha.value = -1.0
    assert "alpha" in view.alert_text
    assert view.state.alpha == 0.2
    view.w_alpha.value = 0.3
    assert view.alert_text == "" and view.state.alpha == 0.3


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
    # its own round and Step (run alone the test had none: "press Step (or Run round) ... first")
    assert view.state.run_round() and view.state.step()
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


def test_inline_notebook_updates_never_name_a_cdn(explorer_settings, monkeypatch):
    """Offline notebooks: under pn.extension(inline=True) neither the first render nor the updates of
    a Run round / Step / error / presentation switch carry a CDN URL (a Markdown pane re-sends CDN
    stylesheets on update). Panel's re-sent stylesheets of a widget whose ``stylesheets`` change are CDN
    URLs only in a real notebook page: tests/test_jupyterlab.py's offline check catches those."""
    import re

    from bokeh.core.serialization import Serializer
    from bokeh.document import Document
    from bokeh.models import ImportedStyleSheet, UIElement
    from panel.io.notebook import patch_inline_stylesheets
    from panel.io.resources import set_resource_mode
    from pyviz_comms import Comm

    monkeypatch.setattr(pn.config, "inline", True)
    state = ExplorerState(**explorer_settings).load()
    doc = Document()
    with set_resource_mode("inline"):  # what Panel's notebook display does
        view = LatentExplorer(state)
        root = pn.Row(view, AnnotationPanel(state))._render_model(doc, Comm())
    for m in root.select({"type": UIElement}):
        patch_inline_stylesheets(m)
    events = []
    doc.on_change(events.append)
    state.step()  # an error: no model yet
    state.run_round()
    state.step()
    state.queue_synthetic()
    view.presentation = True  # a mode switch re-lays the page out and resizes every text
    view.presentation = False
    sent = " ".join(repr(e.to_serializable(Serializer())) for e in events)
    assert events and not re.search(r"https?://", sent), re.findall(r"https?://[^'\" ]+", sent)[:5]
    assert not any(
        isinstance(s, ImportedStyleSheet) and s.url.startswith("http")
        for m in doc.select({"type": UIElement})
        for s in m.stylesheets
    )


def test_the_map_explains_itself(explorer_settings):
    """Axis labels, a class key, a key for every glyph, colour bars for the rings' rounds and the
    background (titled with what it shows), a hover on every glyph, the strategy's name in the curve."""
    from bokeh.models import ColorBar, HoverTool, Legend

    view = LatentExplorer(ExplorerState(**explorer_settings).load())
    f = view.map
    assert f.xaxis[0].axis_label.startswith("z1") and f.yaxis[0].axis_label.startswith("z2")
    assert [i.label.value for i in view.class_legend.items] == [str(c) for c in range(10)]
    keys = [i.label.value for lg in f.select(type=Legend) if lg is not view.class_legend for i in lg.items]
    for word in ("p: sampling point", "p' = p + alpha d", "nearest pool item", "ring: round", "gradient", "trajectory"):
        assert any(word in k for k in keys), (word, keys)
    hovered = {r.name for h in f.select(type=HoverTool) for r in h.renderers}
    assert {"pool", "labelled", "points", "p_prime", "neighbours", "heatmap", "trajectories", "gradients"} <= hovered
    stand_ins = [r for lg in f.select(type=Legend) for i in lg.items for r in i.renderers]
    assert all(r.data_source.data and len(next(iter(r.data_source.data.values()))) == 1 for r in stand_ins)
    assert all(
        "???" not in str(h.tooltips) and "@label" not in str(h.tooltips) or h.renderers[0].name == "pool"
        for h in f.select(type=HoverTool)
    )
    view.b_round.clicks += 1
    titles = [b.title for b in f.select(type=ColorBar) if b.visible]  # the background exists after a round
    assert any("round" in t for t in titles) and any("entropy" in t for t in titles), titles
    items = view.curve.legend[0].items
    assert items[0].label.value == "snn" and view.curve.yaxis[0].axis_label == "test accuracy"


def _cos(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


@pytest.fixture(scope="module")
def stepping_view(explorer_settings):
    """A view after one SNN round: every strategy below steps the same points with the same F."""
    v = LatentExplorer(ExplorerState(**explorer_settings).load())
    v.b_round.clicks += 1
    assert v.state.error == "", v.state.error
    return v


def _drawn_arrows(view):
    g = view.src["grad"].data
    return np.stack([np.subtract(g["x1"], g["x0"]), np.subtract(g["y1"], g["y0"])], 1) if len(g["x0"]) else None


from latentlab.explorer_state import strategy_names  # noqa: E402

MOVING = {"snn", "snn-hard", "snn-random-dir", "uncertainty-ascent", "si", "si-random-dir", "si-real", "si-mix"}


@pytest.mark.parametrize("name", strategy_names())
def test_step_follows_the_selected_strategys_own_rule(stepping_view, name):
    """For EVERY strategy in the menu: the explorer's Step (through Strategy.step) moves the points
    the way that strategy does, measured on the arrows the map draws: along F's loss gradient (SNN
    family, the start label), F's entropy gradient (uncertainty-ascent), a random direction (the
    controls), or not at all with the strategy's next picks ringed (scoring and drawing strategies)."""
    from latentlab.gradients import latent_gradient
    from latentlab.strategies import get_strategy

    from latentlab.explorer_state import MC_DROPOUT

    view = stepping_view
    if name in MC_DROPOUT:  # they sample dropout masks: the explorer trains lenet-dropout for them
        view = LatentExplorer(ExplorerState(**{**view.state.param.values(), "strategy": name, "name": None}).load())
        view.b_round.clicks += 1
        assert view.state.error == "" and type(view.state.model).__name__ != "LeNet", view.state.error
    s = view.state
    s.loop.strategy = get_strategy(name)  # same F, same points: only the rule differs
    s.run.walk = None  # fresh start points drawn from the labelled items
    view.b_step.clicks += 1
    assert s.error == "", s.error
    assert name in view.explain.value
    arrows = _drawn_arrows(view)
    explain = get_strategy(name).explain_step()
    assert explain.startswith("Step:")
    if name not in MOVING:
        assert arrows is None and "no move" in explain
        picks = s.picks
        assert len(picks) == s.per_round and not s.loop.pool.labelled_mask[picks].any()
        assert len(view.src["picks"].data["x"]) == s.per_round
        return
    last = s.traj.last
    p, y = last["p"], s.traj.origin_y
    lat = s.latent
    loss_d = latent_gradient(lat.generator, s.model, s.task, p, y).d
    ent_d = latent_gradient(lat.generator, s.model, s.task, p, objective="entropy").d
    cos_loss, cos_ent = _cos(arrows, loss_d), _cos(arrows, ent_d)
    if name in ("snn", "snn-hard", "si", "si-real", "si-mix"):
        np.testing.assert_allclose(cos_loss, 1.0, atol=1e-6)
    elif name == "uncertainty-ascent":
        np.testing.assert_allclose(cos_ent, 1.0, atol=1e-6)
        assert np.min(cos_loss) < 0.99  # not SNN's direction
    else:  # random-direction controls: unit steps of length alpha, not along the gradient
        assert np.mean(np.abs(cos_loss)) < 0.9
    np.testing.assert_allclose(np.linalg.norm(last["p_prime"] - p, axis=1), s.alpha, atol=1e-9)


def test_step_label_is_a_visible_choice(stepping_view):
    """The label the Step's loss uses is named: start (default), F's prediction, or the oracle's peek."""
    from latentlab.strategies import get_strategy

    view = stepping_view
    s = view.state
    s.loop.strategy = get_strategy("snn")
    for label, word in (("start", "start point"), ("prediction", "prediction"), ("oracle", "ORACLE")):
        assert s.configure(step_label=label), s.error
        view.b_step.clicks += 1
        assert s.error == "" and word in s.status, s.status
        assert word in view.explain.value
    s.configure(step_label="start")


@pytest.mark.parametrize("name,word", [("entropy", "entropy"), ("margin", "margin"), ("snn", "loss")])
def test_background_shows_the_strategys_utility_named_on_the_colour_bar(explorer_settings, name, word):
    s = ExplorerState(**{**explorer_settings, "strategy": name, "heat": "strategy"}).load()
    view = LatentExplorer(s)
    view.b_round.clicks += 1
    assert s.error == "", s.error
    assert s.grid["values"].shape == (12, 12) and np.isfinite(s.grid["values"]).all()
    assert word in view.heat_bar.title and name in view.heat_bar.title


def _px(size: str) -> float:
    return float(size[:-2]) * (4 / 3 if size.endswith("pt") else 1)


def test_presentation_mode_makes_every_text_at_least_20px_and_glyphs_larger(explorer_settings):
    from bokeh.models import Axis, ColorBar, Legend, Title

    from latentlab.widgets.map_figure import EM, PRESENTATION

    view = LatentExplorer(ExplorerState(**explorer_settings).load())
    size0 = view.map_parts.renderers["points"].glyph.size
    view.b_present.value = True
    assert view.presentation
    texts = []
    for fig in (view.map, view.strip, view.probs, view.curve):
        for m in fig.select(type=Title):
            texts.append(m.text_font_size)
        for m in fig.select(type=Axis):
            texts += [m.axis_label_text_font_size, m.major_label_text_font_size]
            texts += [getattr(m, k) for k in ("group_text_font_size", "subgroup_text_font_size") if hasattr(m, k)]
        for m in fig.select(type=Legend):
            texts += [m.label_text_font_size, m.title_text_font_size]
        for m in fig.select(type=ColorBar):
            texts += [m.title_text_font_size, m.major_label_text_font_size]
    sizes = [_px(t) if isinstance(t, str) else _px(t.value) for t in texts]
    assert min(sizes) >= 20, sizes
    assert view.map_parts.renderers["points"].glyph.size > size0
    # the widgets' text size is a CSS variable on their host; their stylesheet (set once) reads it
    assert all(w.styles["--latentlab-text"] == "20px" for w in view._busy_controls())
    assert all("var(--latentlab-text" in w.stylesheets[0] for w in view._busy_controls())
    side = PRESENTATION.side_width
    assert view.map.width + side + 20 <= 840 and view.map.height <= 590  # 1280x720, side bar open: ~840x600 px left
    # canvas titles wrap to their figure (Bokeh never wraps them), also when the view sets them later
    view.heat_bar.title = "grey background: F's predictive entropy at every decoded point (darker = higher)"
    lines = view.heat_bar.title.split("\n")
    assert len(lines) > 1 and all(len(t) * EM * 20 <= view.map.width - 100 for t in lines), lines
    assert all(len(t) * EM * 20 <= side for f in (view.strip, view.probs, view.curve) for t in f.title.text.split("\n"))
    view.b_present.value = False
    assert view.map_parts.renderers["points"].glyph.size == size0
    assert "\n" not in view.heat_bar.title  # one line again in the notebook


def test_missing_data_set_is_a_message_and_the_dropdown_goes_back(explorer_settings, monkeypatch):
    """Switching to mnist without a data root: the page names the fix, the dropdown shows the data set
    still loaded, and its run (F, labels) is kept."""
    import asyncio

    monkeypatch.delenv("LATENTLAB_DATA", raising=False)
    view = LatentExplorer(ExplorerState(**explorer_settings).load())
    view.b_round.clicks += 1
    n = view.state.loop.n_labelled
    import param

    with param.parameterized.discard_events(view.w_dataset):  # the page's change, then its (async) handler
        view.w_dataset.value = "mnist"
    asyncio.run(view._on_dataset(None))
    assert "data-root" in view.alert_text or "data root" in view.alert_text, view.alert_text
    assert "still showing digits" in view.alert_text
    assert view.w_dataset.value == "digits" and view.state.dataset == "digits"
    assert view.state.loaded and view.state.loop.n_labelled == n and view.state.model is not None


def test_idle_state_alert_and_replay_readout_can_be_trusted(explorer_settings):
    view = LatentExplorer(ExplorerState(**explorer_settings).load())
    assert view.spinner.value is False and view.spinner.styles["visibility"] == "hidden"
    view.w_alpha.value = 0  # rejected: the alert names it, the field's cause is the bad value
    assert "alpha" in view.alert_text
    view.b_round.clicks += 1  # a new action clears the old alert
    view.b_round.clicks += 1
    assert view.alert_text == "", view.alert_text
    for r in (1, 2, 1, 0, 2):  # every move of the slider redraws and says which round is shown
        view.w_replay.value = r
        assert (f"showing round {r} of 2" in view.readout.value) if r else ("showing</b> live" in view.readout.value)
        if r:
            assert len(view.src["labelled"].data["x"]) == len(view.state.history(r)["labelled"])
    assert "ONE seed" in view.curve.title.text and "seeds" in view.curve_note.value


def test_selecting_a_sampling_point_shows_fs_probabilities_at_p_pprime_and_the_neighbour(explorer_settings):
    view = LatentExplorer(ExplorerState(**explorer_settings).load())
    view.b_round.clicks += 1
    s = view.state
    p = s.trajectories()["p"][0]
    assert s.select(*p), s.error
    probs = s.selection["probs"]
    assert list(probs)[:2] == ["G(p)", "G(p')"] and len(probs) == 3
    for v in probs.values():
        np.testing.assert_allclose(v.sum(), 1.0, atol=1e-5)
    d = view.src["probs"].data
    assert len(d["x"]) == 3 * 10 and {w for _, w in d["x"]} == set(probs)


def test_long_class_names_move_the_key_off_the_map_in_presentation(explorer_settings):
    """CIFAR-10's names would take ten key rows under the map at 20 px: the Key tab lists them instead,
    and F's probabilities stand the names upright (notebook mode: the key stays, the names stand up)."""
    ex = LatentExplorer(ExplorerState(**explorer_settings).load())
    ex.presentation = True
    assert ex.class_legend.visible and ex.map.title.text == "latent map"  # digits: one-character names
    assert ex.probs.xaxis[0].group_label_orientation == "horizontal"
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    old = ex.state.data.classes
    object.__setattr__(ex.state.data, "classes", names)  # (the data set may be cached: set back below)
    try:
        ex._draw_keys()
        assert not ex.class_legend.visible and ex.map.title.text == "latent map (classes: Key tab)"
        assert all(n in ex.key_text.value for n in names)
        assert ex.probs.xaxis[0].group_label_orientation == "vertical" and ex.probs.height > 250
        ex.presentation = False  # the notebook's key has room for one row of ten
        assert ex.class_legend.visible and ex.class_legend.ncols == 10
        assert ex.probs.xaxis[0].group_label_orientation == "vertical"
    finally:
        object.__setattr__(ex.state.data, "classes", old)
