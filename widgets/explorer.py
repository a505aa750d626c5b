"""The live latent explorer: a thin Panel/Bokeh layer over :class:`latentlab.explorer_state.ExplorerState`.

Figures are built once; every state change only assigns ``ColumnDataSource.data`` (never a new
figure), so a Step redraws in a few milliseconds even over MNIST's 60k-point pool (WebGL).
Text that changes (readout, alert, selection) is a ``StaticText`` (HTML), not a Markdown pane: a
pane re-sends its stylesheets with every update, as CDN URLs even under ``pn.extension(inline=True)``,
so an offline notebook would fetch from the internet on every redraw; a widget sends only its text.
Glyph renderers carry ``name=`` (``pool``, ``labelled``, ``heatmap``, ``trajectories``, ``points``,
``gradients``, ``p_prime``, ``jumps``, ``neighbours``, ``selected``, ``strip``,
``pool_raster``, ``curve_<strategy>``) so tests find them.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
import traceback

import numpy as np
import panel as pn
from panel.io import hold
import param
from bokeh.events import Tap
from bokeh.core.properties import value
from bokeh.models import (
    Arrow,
    ColorBar,
    ColumnDataSource,
    HoverTool,
    LabelSet,
    Legend,
    LegendItem,
    LinearColorMapper,
    SingleIntervalTicker,
    VeeHead,
)
from bokeh.palettes import Category10_10, Greys256, Viridis256
from bokeh.plotting import figure

from latentlab.datasets import DATASETS
from latentlab.explorer_state import ExplorerState, strategy_names

__all__ = ["LatentExplorer", "to_rgba", "in_background"]

# set in the worker thread of a background action: views skip redraws there (Bokeh models may only
# change on the event loop) and redraw once the action is over
_BACKGROUND = threading.local()


def in_background() -> bool:
    """True inside a background action's worker thread (see :meth:`LatentExplorer.run_in_background`)."""
    return getattr(_BACKGROUND, "active", False)


log = logging.getLogger(__name__)
_HEAT = list(reversed(Greys256))[:160]  # light -> mid grey: the heat map stays behind the points
_SHOWN, _HIDDEN = {"visibility": "visible"}, {"visibility": "hidden"}
# what the grey background shows, per ExplorerState.heat (darker = higher)
_HEAT_TITLE = {
    "entropy": "grey background: F's predictive entropy at each decoded point (darker = less sure)",
    "loss": "grey background: F's loss at each decoded point, nearest pool item's label (darker = higher)",
}
# the alert keeps its place (no layout jump) and only changes colour when a message appears
# (every key in both: the browser keeps a style key that an update leaves out)
_ALERT_OFF = {
    "padding": "6px 10px",
    "border-radius": "4px",
    "overflow": "auto",
    "background": "transparent",
    "color": "inherit",
    "border": "1px solid transparent",
}
_ALERT_ON = {**_ALERT_OFF, "background": "#f8d7da", "color": "#58151c", "border": "1px solid #f1aeb5"}


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


def _label_levels(y) -> tuple[np.ndarray, float, float]:
    """Peak of each regression label and the 2nd/98th percentiles the colour scale spans."""
    level = np.asarray(y).reshape(len(y), -1).max(1)
    lo, hi = np.percentile(level, [2, 98])
    return level, float(lo), float(max(hi, lo + 1e-12))


def _pool_colours(state: ExplorerState) -> tuple[list, list]:
    """Colour and legend text per pool item: by class, or by stress level for regression data sets."""
    ds = state.data
    y = ds.y_train
    if ds.task == "classification" and y is not None:
        pal = Category10_10
        return [pal[int(c) % 10] for c in y], [ds.classes[int(c)] for c in y]
    if y is not None:  # regression: colour by the peak of the label (e.g. the max wall stress, kPa)
        level, lo, hi = _label_levels(y)
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


class LatentExplorer(pn.viewable.Viewer):
    """Latent map, decoded-sample strip, learning curve, controls and readout for one state.

    Parameters
    ----------
    state : ExplorerState
        The (loaded) state this view draws; one per browser session.
    """

    state = param.ClassSelector(class_=ExplorerState)
    max_points = param.Integer(default=5000, doc="pools larger than this are drawn as one raster image")

    def __init__(self, state: ExplorerState | None = None, **params):
        state = state or ExplorerState().load()
        super().__init__(state=state, **params)
        self._drawn = {"data": -1, "grid": -1}
        self._play_cb = None
        self._build()
        self._redraw()
        state.param.watch(self._on_state_change, ["version", "grid_version", "data_version"])

    # ------------------------------------------------------------------ build once
    def _build(self):
        s = self.state
        self.src = {
            k: ColumnDataSource(data=d)
            for k, d in {
                "pool": {"x": [], "y": [], "color": [], "label": []},
                "raster": {"image": [], "x": [], "y": [], "dw": [], "dh": []},
                "labelled": {"x": [], "y": [], "round": []},
                "heat": {"image": [], "x": [], "y": [], "dw": [], "dh": []},
                "paths": {"xs": [], "ys": []},
                "points": {"x": [], "y": [], "grad_norm": [], "loss": []},
                "grad": {"x0": [], "y0": [], "x1": [], "y1": []},
                "pp": {"x": [], "y": []},
                "jumps": {"x0": [], "y0": [], "x1": [], "y1": []},
                "nb": {"x": [], "y": [], "loss_after": []},
                "sel": {"x": [], "y": []},
                "picks": {"x": [], "y": []},
                "strip": {"image": [], "x": [], "y": [], "dw": [], "dh": [], "title": []},
            }.items()
        }
        f = figure(
            title="latent space of the generator: pool items, labelled items and F's uncertainty",
            output_backend="webgl",
            match_aspect=True,
            height=640,
            width=560,
            tools="pan,wheel_zoom,box_zoom,reset,tap",
            active_scroll="wheel_zoom",
            x_axis_label="z1 (latent dimension 1)",
            y_axis_label="z2 (latent dimension 2)",
        )
        f.title.text_font_size = "10pt"
        self.map_figure = f  # its axis labels name the 2-D view once a data set is loaded
        self.heat_mapper = LinearColorMapper(palette=_HEAT, low=0, high=1)
        heat = f.image(
            image="image",
            x="x",
            y="y",
            dw="dw",
            dh="dh",
            source=self.src["heat"],
            color_mapper=self.heat_mapper,
            name="heatmap",
            alpha=0.9,
        )
        f.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.src["raster"], name="pool_raster")
        pool = f.scatter("x", "y", source=self.src["pool"], color="color", size=3, alpha=0.45, name="pool")
        self.round_mapper = LinearColorMapper(palette=Viridis256, low=1, high=2)
        labelled = f.scatter(
            "x",
            "y",
            source=self.src["labelled"],
            size=7,
            fill_color=None,
            line_width=1.5,
            line_color={"field": "round", "transform": self.round_mapper},
            name="labelled",
        )
        paths = f.multi_line(
            "xs", "ys", source=self.src["paths"], line_color="black", line_width=1.5, alpha=0.8, name="trajectories"
        )
        jumps = f.segment(
            "x0", "y0", "x1", "y1", source=self.src["jumps"], line_dash="dotted", line_color="#555555", name="jumps"
        )
        grads = f.segment(
            "x0", "y0", "x1", "y1", source=self.src["grad"], line_color="crimson", line_width=2, name="gradients"
        )
        f.add_layout(
            Arrow(
                end=VeeHead(size=7, fill_color="crimson", line_color="crimson"),
                line_alpha=0,
                source=self.src["grad"],
                x_start="x0",
                y_start="y0",
                x_end="x1",
                y_end="y1",
            )
        )
        points = f.scatter("x", "y", source=self.src["points"], size=9, color="black", name="points")
        pp = f.scatter(
            "x", "y", source=self.src["pp"], size=9, marker="x", line_color="crimson", line_width=2, name="p_prime"
        )
        nb = f.scatter(
            "x",
            "y",
            source=self.src["nb"],
            size=9,
            marker="diamond",
            fill_color="gold",
            line_color="black",
            name="neighbours",
        )
        picks = f.scatter(
            "x",
            "y",
            source=self.src["picks"],
            size=14,
            fill_color=None,
            line_color="goldenrod",
            line_width=3,
            name="picks",
        )
        sel = f.scatter(
            "x",
            "y",
            source=self.src["sel"],
            size=16,
            marker="circle_cross",
            fill_color=None,
            line_color="magenta",
            line_width=2,
            name="selected",
        )
        # hover: one tool per kind of glyph, each saying what it is (the pool's class, a ring's round, ...)
        z = ("z", "($x{0.00}, $y{0.00})")
        self.heat_hover = HoverTool(renderers=[heat], tooltips=[("F's entropy here", "@image{0.000}"), z])
        for r, tips in (
            (pool, [("pool item, class", "@label"), z]),
            (labelled, [("labelled in round", "@round"), z]),
            (points, [("sampling point p: loss", "@loss{0.000}"), ("|gradient|", "@grad_norm{0.0000}"), z]),
            (pp, [("p' = p + alpha d", ""), z]),
            (nb, [("nearest pool item: loss", "@loss_after{0.000}"), z]),
            (grads, [("gradient direction d at p", "")]),
            (paths, [("trajectory (one per sampling point)", "")]),
            (jumps, [("jump p' -> nearest pool item", "")]),
            (sel, [("selected (click the map)", ""), z]),
            (picks, [("the strategy's next pick", ""), z]),
        ):
            f.add_tools(HoverTool(renderers=[r], tooltips=tips))
        f.add_tools(self.heat_hover)  # last: glyphs above the background answer first
        # keys below the map: the pool's classes (or a colour bar for a regression label), the glyphs,
        # the rings' rounds and the background
        # legend swatches come from stand-in glyphs with one NaN point (never drawn on the map): Bokeh
        # draws no swatch for a renderer with no data, and the real glyphs are empty before a round
        nan = {"x": [np.nan], "y": [np.nan]}
        self._class_glyphs = [
            f.scatter(source=ColumnDataSource(nan), color=c, size=7, name=f"key_class_{i}")
            for i, c in enumerate(Category10_10)
        ]
        self.class_legend = Legend(
            items=[],
            title="pool items by class (hover a dot for its class)",
            orientation="horizontal",
            ncols=10,
            label_text_font_size="8pt",
            title_text_font_size="8pt",
            spacing=2,
            padding=4,
            margin=2,
        )
        f.add_layout(self.class_legend, "below")
        self.pool_mapper = LinearColorMapper(palette=Viridis256, low=0, high=1)
        self.pool_bar = ColorBar(
            color_mapper=self.pool_mapper,
            orientation="horizontal",
            height=8,
            visible=False,
            title="pool items by the peak of their label",
            title_text_font_size="8pt",
            major_label_text_font_size="8pt",
            padding=4,
            margin=2,
        )
        f.add_layout(self.pool_bar, "below")
        seg = {"x0": [np.nan], "y0": [np.nan], "x1": [np.nan], "y1": [np.nan]}
        stand_in = [
            ("p: sampling point", f.scatter(source=ColumnDataSource(nan), size=9, color="black", name="key_p")),
            (
                "p' = p + alpha d",
                f.scatter(
                    source=ColumnDataSource(nan),
                    size=9,
                    marker="x",
                    line_color="crimson",
                    line_width=2,
                    name="key_p_prime",
                ),
            ),
            (
                "nearest pool item",
                f.scatter(
                    source=ColumnDataSource(nan),
                    size=9,
                    marker="diamond",
                    fill_color="gold",
                    line_color="black",
                    name="key_neighbour",
                ),
            ),
            (
                "labelled (ring: round)",
                f.scatter(
                    source=ColumnDataSource(nan),
                    size=8,
                    fill_color=None,
                    line_color=Viridis256[128],
                    line_width=1.5,
                    name="key_ring",
                ),
            ),
            (
                "gradient (length ~ |grad|)",
                f.segment(
                    "x0",
                    "y0",
                    "x1",
                    "y1",
                    source=ColumnDataSource(seg),
                    line_color="crimson",
                    line_width=2,
                    name="key_gradient",
                ),
            ),
            (
                "trajectory",
                f.segment(
                    "x0",
                    "y0",
                    "x1",
                    "y1",
                    source=ColumnDataSource(seg),
                    line_color="black",
                    line_width=1.5,
                    name="key_trajectory",
                ),
            ),
            (
                "jump to the item",
                f.segment(
                    "x0",
                    "y0",
                    "x1",
                    "y1",
                    source=ColumnDataSource(seg),
                    line_dash="dotted",
                    line_color="#555555",
                    name="key_jump",
                ),
            ),
            (
                "selected (click)",
                f.scatter(
                    source=ColumnDataSource(nan),
                    size=12,
                    marker="circle_cross",
                    fill_color=None,
                    line_color="magenta",
                    line_width=2,
                    name="key_selected",
                ),
            ),
        ]
        key = Legend(
            items=[LegendItem(label=label, renderers=[r]) for label, r in stand_in],
            orientation="horizontal",
            ncols=4,
            label_text_font_size="8pt",
            spacing=2,
            padding=4,
            margin=2,
            click_policy="none",
        )
        f.add_layout(key, "below")
        self.round_bar = ColorBar(
            color_mapper=self.round_mapper,
            orientation="horizontal",
            height=8,
            title="ring colour: the round that labelled the item",
            title_text_font_size="8pt",
            major_label_text_font_size="8pt",
            padding=4,
            margin=2,
            ticker=SingleIntervalTicker(interval=1),
        )
        f.add_layout(self.round_bar, "below")
        self.heat_bar = ColorBar(
            color_mapper=self.heat_mapper,
            orientation="horizontal",
            height=8,
            title=_HEAT_TITLE["entropy"],
            title_text_font_size="8pt",
            major_label_text_font_size="8pt",
            padding=4,
            margin=2,
        )
        f.add_layout(self.heat_bar, "below")
        f.on_event(Tap, self._on_tap)
        self.map = f

        g = figure(
            height=150,
            width=360,
            toolbar_location=None,
            title="selected: click the map",
            x_range=(-0.05, 3.35),
            y_range=(-0.3, 1.05),
            match_aspect=True,
        )
        g.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.src["strip"], name="strip")
        g.add_layout(LabelSet(x="x", y="y", text="title", source=self.src["strip"], y_offset=-16, text_font_size="9pt"))
        g.axis.visible = g.grid.visible = False
        self.strip = g

        c = figure(
            height=200,
            width=360,
            title="learning curve",
            x_axis_label="labelled items",
            y_axis_label="test metric",
            toolbar_location=None,
        )
        self.curve_src = {}
        for name, colour in (("strategy", "crimson"), ("random", "#1f77b4")):
            src = ColumnDataSource(data={"x": [], "y": []})
            c.line("x", "y", source=src, color=colour, line_width=2, legend_label=name, name=f"curve_{name}")
            c.scatter("x", "y", source=src, color=colour, size=5)
            self.curve_src[name] = src
        c.legend.location = "top_left"
        c.legend.label_text_font_size = "8pt"
        self.curve = c

        # controls (plain widgets; values go through state.configure so bad input becomes a message)
        w = pn.widgets
        self.w_dataset = w.Select(label="data set", options=sorted(DATASETS), value=s.dataset, width=170)
        self.w_strategy = w.Select(label="strategy", options=strategy_names(), value=s.strategy, width=170)
        self.w_alpha = w.FloatInput(label="alpha (step length)", value=s.alpha, step=0.05, width=170)
        self.w_per_round = w.IntInput(label="J (points per round)", value=s.per_round, step=1, width=170)
        self.w_heat = w.Select(label="background", options=["entropy", "loss", "strategy"], value=s.heat, width=170)
        self.w_step_label = w.Select(
            label="Step's label", options=["start", "prediction", "oracle"], value=s.step_label, width=170
        )
        self.explain = pn.widgets.StaticText(value="", width=360, height=50, styles={"font-size": "13px"})
        self.b_step = w.Button(label="Step", color="primary", width=65)
        self.b_round = w.Button(label="Run round", color="success", width=95)
        self.b_reset = w.Button(label="Reset", color="warning", width=65)
        self.b_play = w.Toggle(label="Play", color="default", width=65)
        self.w_replay = w.IntSlider(label="replay round (0 = live)", start=0, end=1, value=0, width=300, disabled=True)
        # always turning, seen only while busy: a CSS visibility keeps its box (no relayout of the page, which
        # made the busy frame late), and in JupyterLab a change of the spinner's value reached the page
        # ~1 s after the rest of the end-of-round update
        self.spinner = pn.indicators.LoadingSpinner(
            value=True, size=22, width=22, height=22, color="primary", bgcolor="light", styles=_HIDDEN
        )
        self.busy_text = pn.widgets.StaticText(value="", width=260, height=22, styles={"font-size": "13px"})
        self.readout = pn.widgets.StaticText(
            value="", width=360, height=90, styles={"font-size": "13px", "overflow": "hidden"}
        )
        self.alert = pn.widgets.StaticText(value="", width=920, height=40, styles=_ALERT_OFF)
        self.selected_text = pn.widgets.StaticText(value="", width=360, height=40)
        self.w_dataset.param.watch(self._on_dataset, "value")
        self.w_strategy.param.watch(lambda e: self._act(lambda: s.configure(strategy=e.new)), "value")
        self.w_alpha.param.watch(lambda e: self._act(lambda: s.configure(alpha=e.new)), "value")
        self.w_heat.param.watch(lambda e: self._act(lambda: s.configure(heat=e.new)), "value")
        self.w_step_label.param.watch(lambda e: self._act(lambda: s.configure(step_label=e.new)), "value")
        self.w_per_round.param.watch(lambda e: self._act(lambda: s.configure(per_round=e.new)), "value")
        self.b_step.on_click(lambda e: self._act(s.step))
        self.b_round.on_click(self._on_round)
        self.b_reset.on_click(lambda e: self._act(s.reset))
        self.b_play.param.watch(self._on_play, "value")
        self.w_replay.param.watch(lambda e: self._act(self._redraw), "value")
        # the busy state shows in the browser at the click, without waiting for the server's answer
        # (a round trip is ~0.3 s on a loaded machine); the server then confirms it and clears it
        controls = {
            "b_step": self.b_step,
            "b_round": self.b_round,
            "b_reset": self.b_reset,
            "b_play": self.b_play,
            "w_dataset": self.w_dataset,
            "w_strategy": self.w_strategy,
            "w_alpha": self.w_alpha,
            "w_per_round": self.w_per_round,
            "w_replay": self.w_replay,
        }
        busy_js = (
            "for (const w of [" + ", ".join(controls) + "]) w.disabled = true;\n"
            "spinner.styles = {{visibility: 'visible'}};\nbusy_text.text = {msg};"
        )
        args = {**controls, "spinner": self.spinner, "busy_text": self.busy_text}
        self.b_round.js_on_click(args=args, code=busy_js.format(msg="'Run round: training F…'"))
        self.w_dataset.jscallback(args=args, value=busy_js.format(msg="'loading ' + cb_obj.value + '…'"))

    # ------------------------------------------------------------------ events
    def _act(self, fn):
        """Run an action; anything unexpected becomes a message in the page, never a dead page."""
        if self.state.busy and not in_background():
            return  # a background action owns the state; its controls are disabled anyway
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the UI boundary: report, log, keep the page alive
            log.error("explorer action failed:\n%s", traceback.format_exc())
            self.state.error = f"internal error ({type(e).__name__}: {e}); see the server log"
            if not in_background():
                self._redraw()

    async def run_in_background(self, fn, busy: str) -> None:
        """Run the state action ``fn`` on a worker thread, with the busy state shown meanwhile.

        The click's handler returns to the event loop at once, so the page shows the spinner and the
        disabled buttons within one round trip and stays responsive (zoom, hover) while F trains.
        Redraws wait for the end (they touch Bokeh models, which belong to the event loop).
        """
        if self.state.busy:
            return
        self._set_busy(busy)
        loop = asyncio.get_running_loop()

        def job():
            _BACKGROUND.active = True
            try:
                self._act(fn)
            finally:
                _BACKGROUND.active = False

        try:
            await loop.run_in_executor(None, job)
        finally:
            with hold():
                self._set_busy("")
                self.state.param.trigger("version")  # every view of the state redraws, on the loop

    def _set_busy(self, text: str) -> None:
        self.state.busy = text
        self.spinner.styles = _SHOWN if text else _HIDDEN
        self.busy_text.value = html.escape(text)
        for w in (
            self.b_step,
            self.b_round,
            self.b_reset,
            self.b_play,
            self.w_dataset,
            self.w_strategy,
            self.w_alpha,
            self.w_per_round,
            self.w_replay,
        ):
            w.disabled = bool(text) or (w is self.w_replay and self.state.round < 1)

    async def _on_round(self, event):
        s = self.state
        await self.run_in_background(s.run_round, "Run round: training F…")

    async def _on_dataset(self, event):
        await self.run_in_background(
            lambda: self.state.configure(dataset=event.new),
            f"loading {event.new} (the first time trains its generator)…",
        )

    def _on_state_change(self, *events):
        if not in_background():
            self._redraw()

    def _on_tap(self, event):
        self._act(lambda: self.state.select(event.x, event.y))

    def _on_play(self, event):
        if event.new:
            self.b_play.label = "Pause"
            self._play_cb = pn.state.add_periodic_callback(self._tick, period=700)
        else:
            self.b_play.label = "Play"
            if self._play_cb is not None:
                self._play_cb.stop()
                self._play_cb = None

    def _tick(self):
        if self.state.busy:
            return
        self._act(self.state.step)
        if self.state.error:
            self.b_play.value = False

    # ------------------------------------------------------------------ draw (data only)
    def _redraw(self):
        with hold():  # one websocket message per redraw, not one per changed source
            self._redraw_now()

    def _redraw_now(self):
        s = self.state
        if s.data is None:
            self._draw_readout()
            return
        if self._drawn["data"] != s.data_version:
            e = s.embeddings
            colour, label = _pool_colours(s)
            if len(e) > self.max_points:
                x0, x1, y0, y1 = s.extent
                self.src["pool"].data = {"x": [], "y": [], "color": [], "label": []}
                self.src["raster"].data = {
                    "image": [pool_raster(e, colour, s.extent)],
                    "x": [x0],
                    "y": [y0],
                    "dw": [x1 - x0],
                    "dh": [y1 - y0],
                }
            else:
                self.src["raster"].data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
                self.src["pool"].data = {"x": e[:, 0], "y": e[:, 1], "color": colour, "label": label}
            self._draw_keys()
            d = s.latent.dim
            ax = ("z1 (latent dimension 1)", "z2 (latent dimension 2)")
            if d > 2:  # a higher-dimensional latent space is drawn in the PCA-2 plane of the pool's codes
                ax = (f"PC1 of the {d}-D codes", f"PC2 of the {d}-D codes")
            self.map_figure.xaxis.axis_label, self.map_figure.yaxis.axis_label = ax
            self._drawn["data"] = s.data_version
        if self._drawn["grid"] != s.grid_version:
            g = s.grid
            if g is None:
                self.src["heat"].data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
            else:
                v = g["values"]
                self.heat_mapper.update(low=float(v.min()), high=float(max(v.max(), v.min() + 1e-9)))
                self.src["heat"].data = {"image": [v], "x": [g["x"]], "y": [g["y"]], "dw": [g["dw"]], "dh": [g["dh"]]}
            name = g["name"] if g else s.heat
            self.heat_bar.title = f"grey background: {name} (darker = higher)"
            self.heat_hover.tooltips = [(f"{name} here", "@image{0.000}"), ("z", "($x{0.00}, $y{0.00})")]
            self._drawn["grid"] = s.grid_version
        n_rounds = s.round
        self.w_replay.disabled = n_rounds < 1
        self.w_replay.end = max(n_rounds, 1)
        if self.w_replay.value > n_rounds:
            self.w_replay.value = 0
        if self.w_replay.value:
            self._draw_history(self.w_replay.value)
        else:
            self._draw_live()
        self._draw_selection()
        self._draw_curves()
        self._draw_readout()
        self.explain.value = html.escape(s.explain_step())

    def _draw_keys(self):
        """The pool's key: a legend of the classes, or a colour bar of the label's peak (regression)."""
        ds = self.state.data
        classify = ds.task == "classification" and ds.y_train is not None
        self.class_legend.items = (
            [LegendItem(label=str(c), renderers=[self._class_glyphs[i % 10]]) for i, c in enumerate(ds.classes)]
            if classify
            else []
        )
        self.class_legend.visible = classify
        if not classify and ds.y_train is not None:
            _, lo, hi = _label_levels(ds.y_train)
            self.pool_mapper.update(low=lo, high=hi)
        self.pool_bar.visible = not classify and ds.y_train is not None

    def _draw_labelled(self, idx, rounds):
        e = self.state.embeddings
        self.src["labelled"].data = {"x": e[idx, 0], "y": e[idx, 1], "round": rounds}
        self.round_mapper.update(low=1, high=max(2, int(rounds.max()) if len(rounds) else 2))

    def _draw_step(self, p, pp, d, gnorm, loss, nb_xy, loss_after, paths):
        s = self.state
        if len(p) and len(gnorm) == len(p) and len(d):
            scale = 1.5 * s.alpha / max(float(np.max(gnorm)), 1e-12)  # arrow length ∝ |grad|, longest 1.5 alpha
            tip = p + d * (gnorm * scale)[:, None]
            self.src["grad"].data = {"x0": p[:, 0], "y0": p[:, 1], "x1": tip[:, 0], "y1": tip[:, 1]}
        else:
            self.src["grad"].data = {"x0": [], "y0": [], "x1": [], "y1": []}
        self.src["points"].data = {
            "x": p[:, 0] if len(p) else [],
            "y": p[:, 1] if len(p) else [],
            "grad_norm": gnorm if len(gnorm) == len(p) else np.zeros(len(p)),
            "loss": loss if len(loss) == len(p) else np.zeros(len(p)),
        }
        self.src["pp"].data = {"x": pp[:, 0], "y": pp[:, 1]}
        self.src["nb"].data = {
            "x": nb_xy[:, 0],
            "y": nb_xy[:, 1],
            "loss_after": loss_after if len(loss_after) == len(nb_xy) else np.zeros(len(nb_xy)),
        }
        n = min(len(pp), len(nb_xy))
        self.src["jumps"].data = {"x0": pp[:n, 0], "y0": pp[:n, 1], "x1": nb_xy[:n, 0], "y1": nb_xy[:n, 1]}
        if paths.size and paths.shape[0] > 1:
            self.src["paths"].data = {
                "xs": [paths[:, j, 0] for j in range(paths.shape[1])],
                "ys": [paths[:, j, 1] for j in range(paths.shape[1])],
            }
        else:
            self.src["paths"].data = {"xs": [], "ys": []}

    def _draw_live(self):
        s = self.state
        self._draw_labelled(*s.labelled())
        pk = s.picks
        e = s.embeddings
        self.src["picks"].data = {"x": e[pk, 0], "y": e[pk, 1]} if len(pk) else {"x": [], "y": []}
        t = s.trajectories()
        self._draw_step(
            t["p"], t["p_prime"], t["d"], t["grad_norm"], t["loss"], t["neighbour_xy"], t["loss_after"], t["paths"]
        )

    def _draw_history(self, r):
        s = self.state
        self.src["picks"].data = {"x": [], "y": []}
        h = s.history(r)
        self._draw_labelled(h["labelled"], h["labelled_round"])
        pr = h["proposal"]
        e2 = np.zeros((0, 2))
        if "p" in pr and "p_prime" in pr:  # a latent step: p, arrow, p', jump to the neighbour
            nb_xy = s.embeddings[np.asarray(pr["indices"])]
            p = np.asarray(pr["p"])
            paths = np.stack([p, nb_xy])
            nan = np.full(len(p), np.nan)  # uncertainty-ascent records no loss at p (it used no label)
            self._draw_step(
                p,
                np.asarray(pr["p_prime"]),
                np.asarray(pr["d"]),
                np.asarray(pr.get("grad_norm", nan)),
                np.asarray(pr.get("loss", nan)),
                nb_xy,
                np.zeros(0),
                paths,
            )
        elif "p" in pr:  # picks without a move (diverse-entropy): the points only, no arrow
            self._draw_step(np.asarray(pr["p"]), e2, e2, np.zeros(0), np.zeros(0), e2, np.zeros(0), np.zeros((0, 0, 2)))
        else:
            self._draw_step(e2, e2, e2, np.zeros(0), np.zeros(0), e2, np.zeros(0), np.zeros((0, 0, 2)))

    def _draw_selection(self):
        sel = self.state.selection
        if not sel:
            self.src["sel"].data = {"x": [], "y": []}
            self.src["strip"].data = {"image": [], "x": [], "y": [], "dw": [], "dh": [], "title": []}
            self.selected_text.value = ""
            return
        self.src["sel"].data = {"x": [sel["z"][0]], "y": [sel["z"][1]]}
        imgs = sel["images"]
        self.src["strip"].data = {
            "image": [to_rgba(a) for _, a in imgs],
            "x": [1.1 * i for i in range(len(imgs))],
            "y": [0.0] * len(imgs),
            "dw": [1.0] * len(imgs),
            "dh": [1.0] * len(imgs),
            "title": [t for t, _ in imgs],
        }
        self.selected_text.value = html.escape(sel["text"])

    def _draw_curves(self):
        c = self.state.curves()
        main = self.state.strategy if self.state.loaded else ""
        mx, my = c.get(main, ([], []))
        self.curve_src["strategy"].data = {"x": mx, "y": my}
        bx, by = c.get("random", ([], [])) if main != "random" else ([], [])
        self.curve_src["random"].data = {"x": bx, "y": by}
        items = self.curve.legend[0].items
        items[0].label = value(main or "strategy")
        items[1].label = value("random (baseline)")
        items[1].visible = len(bx) > 0
        metric = self.state.readout()["metric_name"]
        self.curve.yaxis.axis_label = f"test {metric}" if metric else "test metric"

    def _draw_readout(self):
        s = self.state
        r = s.readout()
        metric = "–" if r["metric"] is None else f"{r['metric']:.1f}"
        self.readout.value = (
            f"<b>round</b> {r['round']} · <b>labelled</b> {r['n_labelled']} · "
            f"<b>test {html.escape(r['metric_name'] or 'metric')}</b> {metric}<br>"
            f"<b>steps</b> {r['steps']} · <b>points</b> {len(self.src['points'].data['x'])} · "
            f"<b>path vertices</b> {sum(len(x) for x in self.src['paths'].data['xs'])}<br>"
            f"{html.escape(s.status) if not s.error else ''}"
        )
        self.show_alert(s.error)

    def show_alert(self, message: str) -> None:
        """Show ``message`` in the alert line above the map ('' clears it); the line keeps its place."""
        self.alert.value = html.escape(message)
        self.alert.styles = _ALERT_ON if message else _ALERT_OFF

    @property
    def alert_text(self) -> str:
        """The message the alert line shows ('' when none)."""
        return html.unescape(self.alert.value)

    # ------------------------------------------------------------------ layout
    def __panel__(self):
        # fixed sizes everywhere (text that wraps or an alert that appears never moves the layout); the
        # side column wraps below the map in a narrow notebook column instead of being cut off
        controls = pn.Column(
            pn.Row(self.w_dataset, self.w_strategy),
            pn.Row(self.w_alpha, self.w_per_round),
            pn.Row(self.w_heat, self.w_step_label),
            self.explain,
        )
        buttons = pn.Row(self.b_step, self.b_round, self.b_reset, self.b_play, self.spinner)
        side = pn.Column(
            controls,
            buttons,
            self.busy_text,
            self.w_replay,
            self.readout,
            self.strip,
            self.selected_text,
            self.curve,
            width=380,
        )
        return pn.Column(self.alert, pn.FlexBox(pn.pane.Bokeh(self.map), side, flex_wrap="wrap"))
