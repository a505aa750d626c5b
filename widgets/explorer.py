"""The live latent explorer: a thin Panel/Bokeh layer over :class:`latentlab.explorer_state.ExplorerState`.

Figures are built once; every state change only assigns ``ColumnDataSource.data`` (never a new
figure), so a Step redraws in a few milliseconds; a pool above ``max_points`` (MNIST's 60k) is one raster
image, so the map draws on a plain canvas (faster to paint than WebGL for the points left).
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
import time
import traceback

import numpy as np
import panel as pn
import param
from bokeh.core.properties import value
from bokeh.events import Tap
from bokeh.models import ColumnDataSource, HoverTool, LabelSet, LegendItem
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from panel.io import hold
from panel.io.notebook import block_comm
from panel.io.notebook import push as _push_doc
from tornado.ioloop import IOLoop

from latentlab.datasets import DATASETS
from latentlab.explorer_state import ExplorerState, strategy_names
from latentlab.strategies import STEP_LABELS

from .bigpool import pool_layer
from .comm_watchdog import CommWatchdog
from .draw import label_levels, pool_colours, pool_raster, to_rgba
from .map_figure import EM, NORMAL, PRESENTATION, SOURCES, MapFigure, apply_sizes, key_html

__all__ = ["LatentExplorer", "to_rgba", "pool_raster", "in_background", "PLAY_PERIOD"]

# set in the worker thread of a background action: views skip redraws there (Bokeh models may only
# change on the event loop) and redraw once the action is over
_BACKGROUND = threading.local()


def _comm_open(comm) -> bool:
    """Whether a notebook comm (pyviz_comms) is open: its public ``comm`` property raises until then."""
    try:
        comm.comm
    except ValueError:
        return False
    return True


def _same(a, b) -> bool:
    """Whether two data-source columns hold the same values (lists of arrays: element by element)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and (len(a) != len(b) or len(a) == 0):
        return len(a) == len(b)
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], np.ndarray):  # multi_line's xs, images
        return isinstance(b, (list, tuple)) and all(_same(x, y) for x, y in zip(a, b))
    try:
        x, y = np.asarray(a), np.asarray(b)
    except ValueError:  # ragged
        return False
    if x.shape != y.shape:
        return False
    try:
        return bool(np.array_equal(x, y, equal_nan=True))
    except TypeError:  # strings, tuples: no NaN to equate
        return bool(np.array_equal(x, y))


def _set_data(src: ColumnDataSource, data: dict) -> bool:
    """Assign ``data`` to ``src`` only when it differs (a notebook push then leaves the source out:
    Bokeh sends a source on every assignment of ``data`` whose columns hold lists of arrays, and
    the browser re-reads it); True when it assigned."""
    old = src.data
    if set(old) == set(data) and all(_same(old[k], data[k]) for k in data):
        return False
    src.data = data
    return True


def in_background() -> bool:
    """True inside a background action's worker thread (see :meth:`LatentExplorer.run_in_background`)."""
    return getattr(_BACKGROUND, "active", False)


log = logging.getLogger(__name__)
# (opacity too: an idle spinner still showed a faint ring with visibility alone, in presentation mode)
_SHOWN, _HIDDEN = {"visibility": "visible", "opacity": "1"}, {"visibility": "hidden", "opacity": "0"}
_TEXT = {"font-size": "13px"}
_WIDGET_CSS = [
    ":host { font-size: var(--latentlab-text, 13px); } label, input, select, button, .bk-btn, .bk-input "
    "{ font-size: var(--latentlab-text, 13px) !important; } label { white-space: var(--latentlab-label-wrap, pre); }"
]
PLAY_PERIOD = 700  # ms between Play's Steps
PROBS_HEIGHT = (170, 250)  # F's probabilities chart, px: notebook, presentation (more for upright class names)
PLAY_YIELD = 0.05  # s: before each Step Play lets the event loop read what waits (a Pause click)
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


def _echoed_data(doc, event) -> bool:
    """Whether a page event is the page sending back a data source's ``data`` (see :class:`_Root`)."""
    if not isinstance(event, dict) or event.get("kind") != "ModelChanged" or event.get("attr") != "data":
        return False
    model_id = (event.get("model") or {}).get("id")
    return isinstance(doc.get_model_by_id(model_id) if model_id else None, ColumnDataSource)


class _Root(pn.Column):
    """The explorer's root; in a notebook it drops the page's echo of the data the kernel pushed.

    Panel's notebook comm manager applies a push in the page without marking it as the kernel's, so
    the page's document reports each pushed ``data`` as a change of its own and sends it back. Panel
    then finds every echoed source by walking the whole tree (``patch_cds_msg``: ``root.select_one``
    per source) and sets the same data again. Traced in JupyterLab (benchmarks/explorer_latency.py
    --trace): the first push after Run All came back with 27 sources, whose walks held the kernel
    about a second, and the page sends nothing more (the Step's click included) until the kernel has
    answered; each Step came back with its 6 sources (BENCHMARKS.md, "Where the first Step's second
    went"). Every data source of the explorer is written by the kernel only (no edit tool or JS
    callback writes one: tests/test_explorer_push.py), so an echoed ``data`` is dropped before Panel
    reads the message; every other event of the page goes through as before.
    (Private on purpose: ``_on_msg`` is Panel's notebook handler, Panel 1.9 has no hook before it.)
    """

    def _on_msg(self, ref: str, manager, msg) -> None:
        view = getattr(pn.state, "_views", {}).get(ref)
        content = msg.get("content") if isinstance(msg, dict) else None
        if view is not None and isinstance(content, dict) and isinstance(content.get("events"), list):
            content["events"] = [e for e in content["events"] if not _echoed_data(view[2], e)]
        super()._on_msg(ref, manager, msg)


class LatentExplorer(pn.viewable.Viewer):
    """Latent map, decoded-sample strip, learning curve, controls and readout for one state.

    Parameters
    ----------
    state : ExplorerState
        The state this view draws; one per browser session. One not loaded yet is loaded on a worker
        thread, the latent space drawn while its generator trains (``widgets/training_view.py``).
    """

    state = param.ClassSelector(class_=ExplorerState)
    max_points = param.Integer(
        default=5000,
        doc="pools larger than this are drawn as one raster image, binned again for the visible box on every "
        "pan/zoom (widgets/bigpool.py, measured at 1,000,000 items); smaller ones as a scatter",
    )
    presentation = param.Boolean(
        default=False,
        doc="presentation mode: fits 1280x720 with JupyterLab's side bar open, text >= 20 px, thicker arrows",
    )

    def __init__(self, state: ExplorerState | None = None, **params):
        state = state or ExplorerState().load()
        super().__init__(state=state, **params)
        self._drawn = {"data": -1, "grid": -1}
        self._play_cb = None
        self._play_starts: list[float] = []  # time.perf_counter() at each Step Play started
        self._play_times: list[float] = []  # how long each of them took (Step and redraw)
        self._paused_at: float | None = None
        self._reverting = False  # the data-set widgets are being set back to what is loaded
        self._redrawing = False  # a notebook redraw runs (its inner redraws do not push)
        self._acting = False  # an action runs: the state's version watcher leaves the redraw to it
        self._push_pending: set[int] = set()  # notebook comms whose push waits for the page to open them
        self._build()
        self._layout = _Root(css_classes=["latentlab-explorer"])
        self._watchdog = CommWatchdog()  # a click never waits on a lost ack of Panel's comm (comm_watchdog.py)
        self._apply_mode()
        self._redraw()
        state.param.watch(self._on_state_change, ["version", "grid_version", "data_version"])
        if not state.loaded and not state.error:  # loaded off the event loop; the map forms meanwhile
            from .training_view import attach_training

            attach_training(self)

    # ------------------------------------------------------------------ build once
    def _build(self):
        self.src = {k: ColumnDataSource(data=d) for k, d in SOURCES.items()}
        self.src["strip"] = ColumnDataSource(data={"image": [], "x": [], "y": [], "dw": [], "dh": [], "title": []})
        self.src["probs"] = ColumnDataSource(data={"x": [], "top": [], "color": [], "label": []})
        m = self.map_parts = MapFigure(self.src)
        self.map = self.map_figure = m.figure  # its axis labels name the 2-D view once a data set is loaded
        self.heat_mapper, self.round_mapper, self.pool_mapper = m.heat_mapper, m.round_mapper, m.pool_mapper
        self.heat_bar, self.round_bar, self.pool_bar, self.class_legend = (
            m.heat_bar,
            m.round_bar,
            m.pool_bar,
            m.class_legend,
        )
        self.heat_hover, self._class_glyphs = m.heat_hover, m.class_glyphs
        self.map.on_event(Tap, self._on_tap)
        self._side_figures()
        self._controls()

    def _side_figures(self):
        """The decoded strip of the selection, F's class probabilities there, and the learning curve."""
        g = figure(
            height=150, width=360, toolbar_location=None, title="selected: click the map or a sampling point",
            x_range=(-0.05, 3.35), y_range=(-0.35, 1.05), match_aspect=True,
        )  # fmt: skip
        g.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.src["strip"], name="strip")
        self.strip_labels = LabelSet(x="x", y="y", text="title", source=self.src["strip"], y_offset=-18)
        g.add_layout(self.strip_labels)
        g.axis.visible = g.grid.visible = False
        self.strip = g
        pr = figure(
            height=170, width=360, toolbar_location=None, title="what F says: class probabilities",
            x_range=[], y_range=(0, 1.02), y_axis_label="probability",
        )  # fmt: skip
        pr.vbar(x="x", top="top", width=0.9, color="color", source=self.src["probs"], name="probs")
        pr.xaxis.major_label_orientation = 0.9
        pr.add_tools(HoverTool(tooltips=[("", "@x"), ("p", "@top{0.000}")]))
        self.probs = pr
        c = figure(
            height=200, width=360, title="learning curve", x_axis_label="labelled items",
            y_axis_label="test metric", toolbar_location=None,
        )  # fmt: skip
        self.curve_src = {}
        for name, colour in (("strategy", "crimson"), ("random", "#1f77b4")):
            src = ColumnDataSource(data={"x": [], "y": []})
            c.line("x", "y", source=src, color=colour, line_width=2, legend_label=name, name=f"curve_{name}")
            c.scatter("x", "y", source=src, color=colour, size=5)
            self.curve_src[name] = src
        c.legend.location = "top_left"
        self.curve = c
        self.curve_note = pn.widgets.StaticText(value="", width=360, height=44, styles=dict(_TEXT))

    def _controls(self):
        """Settings, buttons, replay, readout and alert; values go through state.configure, so bad
        input becomes a message."""
        s, w = self.state, pn.widgets
        self.w_dataset = w.Select(label="data set", options=sorted(DATASETS), value=s.dataset, width=170)
        self.w_data_root = w.TextInput(label="data root (mnist, cifar10)", value=s.data_root or "", width=170)
        self.w_strategy = w.Select(label="strategy", options=strategy_names(), value=s.strategy, width=170)
        self.w_alpha = w.FloatInput(label="alpha (step length)", value=s.alpha, step=0.05, width=170)
        self.w_per_round = w.IntInput(label="J (points per round)", value=s.per_round, step=1, width=170)
        self.w_heat = w.Select(label="background", options=["entropy", "loss", "strategy"], value=s.heat, width=170)
        self.w_step_label = w.Select(label="Step's label", options=list(STEP_LABELS), value=s.step_label, width=170)
        self.explain = w.StaticText(value="", width=360, height=66, styles=dict(_TEXT))
        self.b_step = w.Button(label="Step", color="primary", width=65)
        self.b_round = w.Button(label="Run round", color="success", width=95)
        self.b_reset = w.Button(label="Reset", color="warning", width=65)
        self.b_play = w.Toggle(label="Play", color="default", width=65)
        self.b_present = w.Toggle(label="Presentation", value=self.presentation, width=120)
        self.w_replay = w.IntSlider(label="replay round (0 = live)", start=0, end=1, value=0, width=300, disabled=True)
        # seen and turning only while busy: the value stops the animation, the visibility keeps its box
        self.spinner = pn.indicators.LoadingSpinner(
            value=False, size=22, width=22, height=22, color="primary", bgcolor="light", styles=_HIDDEN
        )
        self.busy_text = w.StaticText(value="", width=260, height=22, styles=dict(_TEXT))
        self.readout = w.StaticText(
            value="", width=360, height=96, styles={**_TEXT, "overflow": "hidden"}, css_classes=["latentlab-readout"]
        )
        self.alert = w.StaticText(value="", width=920, height=40, styles=_ALERT_OFF, css_classes=["latentlab-alert"])
        self.selected_text = w.StaticText(value="", width=360, height=44, styles=dict(_TEXT))
        self.key_text = w.StaticText(value="", width=400, height=360, styles=dict(_TEXT))
        self.w_dataset.param.watch(self._on_dataset, "value")
        self.w_data_root.param.watch(self._on_dataset, "value")
        for widget, name in (
            (self.w_strategy, "strategy"), (self.w_alpha, "alpha"), (self.w_per_round, "per_round"),
            (self.w_heat, "heat"), (self.w_step_label, "step_label"),
        ):  # fmt: skip
            widget.param.watch(lambda e, n=name: self._act(lambda: s.configure(**{n: e.new})), "value")
        self.b_step.on_click(lambda e: self._act(s.step))
        self.b_round.on_click(self._on_round)
        self.b_reset.on_click(lambda e: self._act(s.reset))
        self.b_play.param.watch(self._on_play, "value")
        self.b_present.param.watch(lambda e: setattr(self, "presentation", e.new), "value")
        # the slider's every value (not only the throttled one) is an action: it clears the last
        # alert and redraws once, pushed as one message whatever the kernel does next
        self.w_replay.param.watch(lambda e: self._act(lambda: None), "value")
        self._busy_js()

    def _busy_js(self):
        """Run round's busy state shows in the browser at the click, without waiting for the server's answer
        (a round trip is ~0.3 s on a loaded machine); the server then confirms it and clears it."""
        controls = {f"c{i}": c for i, c in enumerate(self._busy_controls())}
        busy_js = (
            "for (const w of [" + ", ".join(controls) + "]) w.disabled = true;\n"
            "spinner.styles = {{visibility: 'visible', opacity: '1'}};\nspinner.value = true;\nbusy_text.text = {msg};"
        )
        args = {**controls, "spinner": self.spinner, "busy_text": self.busy_text}
        self.b_round.js_on_click(args=args, code=busy_js.format(msg="'Run round: training F…'"))
        # not on the data-set dropdown: the server sets it back after a failed load, and a JS callback
        # on its value would disable the page's controls again with nothing running

    def _busy_controls(self):
        return (
            self.b_step, self.b_round, self.b_reset, self.b_play, self.w_dataset, self.w_data_root,
            self.w_strategy, self.w_alpha, self.w_per_round, self.w_heat, self.w_step_label, self.w_replay,
        )  # fmt: skip

    # ------------------------------------------------------------------ events
    def _act(self, fn):
        """Run an action; anything unexpected becomes a message in the page, never a dead page.

        A new action clears the last one's alert first (a message stays only while its cause does).
        The view redraws once, after the action: the state's version watcher, which the action
        triggers (often more than once: a setting, then the action's own bump), leaves it to this."""
        if self.state.busy and not in_background():
            return  # a background action owns the state; its controls are disabled anyway
        outer = not in_background() and not self._acting
        if outer:
            self._acting = True
        self.state.error = ""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the UI boundary: report, log, keep the page alive
            log.error("explorer action failed:\n%s", traceback.format_exc())
            self.state.error = f"internal error ({type(e).__name__}: {e}); see the server log"
        finally:
            if outer:
                self._acting = False
        if outer:
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
        self.spinner.value = bool(text)
        self.busy_text.value = html.escape(text)
        for w in self._busy_controls():
            w.disabled = bool(text) or (w is self.w_replay and self.state.round < 1)

    async def _on_round(self, event):
        await self.run_in_background(self.state.run_round, "Run round: training F…")

    async def _on_dataset(self, event):
        """Load the chosen data set; when it cannot load, the dropdown goes back to the loaded one and
        the alert names the fix (the old run is kept)."""
        s = self.state
        if self._reverting:
            return
        name, root = self.w_dataset.value, self.w_data_root.value.strip() or None
        if name == s.dataset and root == (s.data_root or None) and s.loaded:
            return  # what is loaded already (e.g. the widgets set back after a failed load)
        await self.run_in_background(
            lambda: s.configure(dataset=name, data_root=root), f"loading {name} (the first time encodes its pool)…"
        )
        if s.dataset != self.w_dataset.value or (s.data_root or "") != self.w_data_root.value.strip():
            self._reverting = True  # the widgets (and the page) show what is loaded; no second load
            try:
                self.w_dataset.value, self.w_data_root.value = s.dataset, s.data_root or ""
            finally:
                self._reverting = False
        self._redraw()

    def _on_state_change(self, *events):
        # a change from a notebook cell (state.step() ...) redraws now; one inside an action (or on
        # a background worker) is redrawn once when the action ends
        if not in_background() and not self._acting:
            self._redraw()

    def _on_tap(self, event):
        self._act(lambda: self.state.select(event.x, event.y))

    def _on_play(self, event):
        """Play steps on a timer of PLAY_PERIOD ms; Steps slower than the timer make the rate their own
        and the readout says so (the rate achieved, the timer's, a Step's time). Pause stops at once:
        before each Step, Play hands the event loop a turn, so a Pause click already sent is read
        first and no Step starts after it (a Step running at the click finishes and is drawn)."""
        if event.new:
            self.b_play.label = "Pause"
            self._play_starts, self._play_times, self._paused_at = [], [], None
            self._play_cb = pn.state.add_periodic_callback(self._tick, period=PLAY_PERIOD)
        else:
            self.b_play.label = "Play"
            self._paused_at = time.perf_counter()
            if self._play_cb is not None:
                self._play_cb.stop()
                self._play_cb = None

    async def _tick(self):
        # in a notebook Panel's timer starts the next tick at once, without returning to the event
        # loop, when a tick took longer than the period: then a Pause click waited behind every Step
        await asyncio.sleep(PLAY_YIELD)
        if self.state.busy or not self.b_play.value:
            return
        t0 = time.perf_counter()
        self._play_starts.append(t0)
        self._act(self.state.step)
        self._play_times.append(time.perf_counter() - t0)
        if self.state.error:
            self.b_play.value = False

    @property
    def play_record(self) -> dict:
        """Play's last run: when each Step started and when Pause came (``time.perf_counter`` s),
        the rate achieved (steps/s over the last five Steps, None before two) and whether the Step
        time limits it below the timer's rate."""
        starts = list(self._play_starts)
        rate = self._achieved_rate()
        return {
            "starts": starts,
            "paused_at": self._paused_at,
            "rate": None if rate is None else round(rate, 3),
            "limited": rate is not None and rate < 0.95 * 1000 / PLAY_PERIOD,
        }

    def _achieved_rate(self) -> float | None:
        t = self._play_starts[-6:]
        return (len(t) - 1) / max(t[-1] - t[0], 1e-9) if len(t) > 1 else None

    def play_rate(self) -> str:
        """What Play achieves against its timer, and what limits it."""
        timer = 1000 / PLAY_PERIOD
        rate = self._achieved_rate()
        if rate is None:
            return f"Play: timer {timer:.2f} steps/s"
        text = f"Play: {rate:.2f} steps/s (timer {timer:.2f}/s"
        if rate < 0.95 * timer:
            busy = float(np.mean(self._play_times[-5:]))  # a Step and its redraw, in the kernel
            why = "the Step time" if busy + PLAY_YIELD >= 0.8 / rate else "a busy kernel or machine"
            text += f"; limited by {why}: a Step and its redraw take {busy:.2f} s"
        return text + ")"

    @param.depends("presentation", watch=True)
    def _on_presentation(self):
        self._apply_mode()

    # ------------------------------------------------------------------ draw (data only)
    def _redraw(self):
        views = self._notebook_views()
        if not views:  # served (or not shown yet): hold the session's document, one message per redraw
            with hold():
                self._redraw_now()
            pn.io.push_notebook(self._layout)  # nothing to do when served; a notebook if the lookup failed
            return
        if self._redrawing:  # a redraw inside a redraw (the replay slider set back): the outer one sends
            self._redraw_now()
            return
        self._redrawing = True
        try:
            # a notebook's document is held for good: its events wait, combined (the last value of
            # each property), for a push; block_comm stops the push each widget change would make
            with block_comm():
                self._redraw_now()
        finally:
            self._redrawing = False
        for doc, comm in views:
            self._push_when_open(doc, comm)

    def _push_when_open(self, doc, comm, retry: bool = False) -> None:
        """Send what waits in this view's document as one message, once the page's comm is open.

        Until the comm opens nothing is sent: Panel would defer each message on its own 0.1 s retry,
        and after the comm opened the retries went out in another order than they were made. During
        Run All the kernel reads the page's comm_open only after the last cell, so the alert that
        the bad-input cell showed came back after its next cell's clearing message (seen in 2 of 4
        runs, the kernel's send log showed the two swapped). Held back, the document keeps each
        property's last value, and one push after the comm opened sends the final state.

        The push is Panel's own (what ``pn.io.push_notebook`` calls) with ``binary=False``: binary,
        every array column goes as two comm messages of its own (its header, its bytes), 77 for one
        Step's six changed sources, each one an iopub message the page handles on its own; inline
        (base64 in the JSON) the Step is three. Panel has no public switch for it.
        """
        if _comm_open(comm):
            self._push_pending.discard(id(comm))
            _push_doc(doc, comm, binary=False)
        elif retry or id(comm) not in self._push_pending:  # one chain of retries; later redraws wait in it
            self._push_pending.add(id(comm))
            IOLoop.current().call_later(0.1, self._push_when_open, doc, comm, True)

    def _notebook_views(self) -> list:
        """(document, comm) of each notebook display of this view; empty when served or not shown.

        ``hold()`` alone holds ``state.curdoc``, which during a notebook cell is not necessarily this
        view's document: the redraw's events then sat in the document and were sent, out of order,
        with the next click's answer (an alert already cleared came back, a replay lagged one move).
        """
        # Private on purpose: Panel 1.9 has no public lookup of an object's notebook document and
        # comm. Its public pn.io.push_notebook(obj) finds them in the same registry (pn.state._views,
        # via push_on_root) but pushes at once, and when the comm is not open yet it defers each
        # message on a retry of its own (the reordering above); the redraw needs the comm to wait
        # for it. Without the registry (another Panel) _redraw falls back to push_notebook.
        registry = getattr(pn.state, "_views", {})
        out = []
        for ref in getattr(self._layout, "_models", {}):
            view = registry.get(ref)
            if view is not None and view[3] is not None:
                out.append((view[2], view[3]))
        return out

    def _redraw_now(self):
        s = self.state
        if s.data is None:
            self._draw_readout()
            return
        if self._drawn["data"] != s.data_version:
            e = s.embeddings
            if len(e) > self.max_points:  # one image, binned again for the visible box on every pan/zoom
                _set_data(self.src["pool"], {"x": [], "y": [], "color": [], "label": []})
                self._pool_layer = pool_layer(self.map, self.src["raster"], s, getattr(self, "_pool_layer", None))
            else:
                if getattr(self, "_pool_layer", None) is not None:
                    self._pool_layer.detach()
                _set_data(self.src["raster"], {"image": [], "x": [], "y": [], "dw": [], "dh": []})
                colour, label = pool_colours(s)
                _set_data(self.src["pool"], {"x": e[:, 0], "y": e[:, 1], "color": colour, "label": label})
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
                _set_data(self.src["heat"], {"image": [], "x": [], "y": [], "dw": [], "dh": []})
            else:
                v = g["values"]
                self.heat_mapper.update(low=float(v.min()), high=float(max(v.max(), v.min() + 1e-9)))
                _set_data(
                    self.src["heat"], {"image": [v], "x": [g["x"]], "y": [g["y"]], "dw": [g["dw"]], "dh": [g["dh"]]}
                )
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
        self.map_parts.classify = classify
        self.class_legend.items = (
            [LegendItem(label=str(c), renderers=[self._class_glyphs[i % 10]]) for i, c in enumerate(ds.classes)]
            if classify
            else []
        )
        self.map_parts.fit_class_key()  # shown, or (presentation, long names) in the Key tab only
        self._fit_probs_axis()
        if not classify and ds.y_train is not None:
            _, lo, hi = label_levels(ds.y_train)
            self.pool_mapper.update(low=lo, high=hi)
        self.pool_bar.visible = not classify and ds.y_train is not None
        names = list(ds.classes) if classify else []
        self.key_text.value = key_html(names, [Category10_10[i % 10] for i in range(len(names))])

    def _draw_labelled(self, idx, rounds):
        e = self.state.embeddings
        _set_data(self.src["labelled"], {"x": e[idx, 0], "y": e[idx, 1], "round": rounds})
        self.round_mapper.update(low=1, high=max(2, int(rounds.max()) if len(rounds) else 2))

    def _draw_step(self, p, pp, d, gnorm, loss, nb_xy, loss_after, paths):
        s = self.state
        if len(p) and len(gnorm) == len(p) and len(d):
            scale = 1.5 * s.alpha / max(float(np.max(gnorm)), 1e-12)  # arrow length ∝ |grad|, longest 1.5 alpha
            tip = p + d * (gnorm * scale)[:, None]
            _set_data(self.src["grad"], {"x0": p[:, 0], "y0": p[:, 1], "x1": tip[:, 0], "y1": tip[:, 1]})
        else:
            _set_data(self.src["grad"], {"x0": [], "y0": [], "x1": [], "y1": []})
        _set_data(
            self.src["points"],
            {
                "x": p[:, 0] if len(p) else [],
                "y": p[:, 1] if len(p) else [],
                "grad_norm": gnorm if len(gnorm) == len(p) else np.zeros(len(p)),
                "loss": loss if len(loss) == len(p) else np.zeros(len(p)),
            },
        )
        _set_data(self.src["pp"], {"x": pp[:, 0], "y": pp[:, 1]})
        _set_data(
            self.src["nb"],
            {
                "x": nb_xy[:, 0],
                "y": nb_xy[:, 1],
                "loss_after": loss_after if len(loss_after) == len(nb_xy) else np.zeros(len(nb_xy)),
            },
        )
        n = min(len(pp), len(nb_xy))
        _set_data(self.src["jumps"], {"x0": pp[:n, 0], "y0": pp[:n, 1], "x1": nb_xy[:n, 0], "y1": nb_xy[:n, 1]})
        if paths.size and paths.shape[0] > 1:
            _set_data(
                self.src["paths"],
                {
                    "xs": [paths[:, j, 0] for j in range(paths.shape[1])],
                    "ys": [paths[:, j, 1] for j in range(paths.shape[1])],
                },
            )
        else:
            _set_data(self.src["paths"], {"xs": [], "ys": []})

    def _draw_live(self):
        s = self.state
        self._draw_labelled(*s.labelled())
        pk = s.picks
        e = s.embeddings
        _set_data(self.src["picks"], {"x": e[pk, 0], "y": e[pk, 1]} if len(pk) else {"x": [], "y": []})
        t = s.trajectories()
        self._draw_step(
            t["p"], t["p_prime"], t["d"], t["grad_norm"], t["loss"], t["neighbour_xy"], t["loss_after"], t["paths"]
        )

    def _draw_history(self, r):
        s = self.state
        _set_data(self.src["picks"], {"x": [], "y": []})
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
            _set_data(self.src["sel"], {"x": [], "y": []})
            _set_data(self.src["strip"], {"image": [], "x": [], "y": [], "dw": [], "dh": [], "title": []})
            _set_data(self.src["probs"], {"x": [], "top": [], "color": [], "label": []})
            self.selected_text.value = ""
            return
        _set_data(self.src["sel"], {"x": [sel["z"][0]], "y": [sel["z"][1]]})
        imgs = sel["images"]
        _set_data(
            self.src["strip"],
            {
                "image": [to_rgba(a) for _, a in imgs],
                "x": [1.1 * i for i in range(len(imgs))],
                "y": [0.0] * len(imgs),
                "dw": [1.0] * len(imgs),
                "dh": [1.0] * len(imgs),
                "title": [t for t, _ in imgs],
            },
        )
        self.selected_text.value = html.escape(sel["text"])
        self._draw_probabilities(sel.get("probs") or {})

    def _draw_probabilities(self, probs: dict):
        """F's class probabilities at each shown image as grouped bars (class, where): a class sees a
        sample become hard; regression: F's predicted peak at each (its map is in the strip)."""
        ds = self.state.data
        colours = ("#444444", "crimson", "goldenrod")
        xs, tops, cols = [], [], []
        for k, (where, p) in enumerate(probs.items()):
            p = np.asarray(p)
            if p.ndim == 1:
                xs += [(str(c), where) for c in ds.classes]
                tops += list(p)
            else:  # a regression output: its peak
                xs.append(("peak output", where))
                tops.append(float(p.max()))
            cols += [colours[k % 3]] * (len(xs) - len(cols))
        # the figure's own FactorRange, its factors changed in place and only when they differ: a new
        # range model each redraw was sent whole with every Step and made the browser rebuild the figure
        rng = self.probs.x_range
        if [tuple(f) if isinstance(f, (list, tuple)) else f for f in rng.factors] != xs:
            rng.factors = xs
        self.probs.y_range.end = 1.02 if all(t <= 1 for t in tops) else 1.05 * max(tops)
        _set_data(self.src["probs"], {"x": xs, "top": tops, "color": cols, "label": [w for _, w in xs]})

    def _draw_curves(self):
        c = self.state.curves()
        main = self.state.strategy if self.state.loaded else ""
        mx, my = c.get(main, ([], []))
        _set_data(self.curve_src["strategy"], {"x": mx, "y": my})
        bx, by = c.get("random", ([], [])) if main != "random" else ([], [])
        _set_data(self.curve_src["random"], {"x": bx, "y": by})
        items = self.curve.legend[0].items
        items[0].label = value(main or "strategy")
        items[1].label = value("random (baseline)")
        items[1].visible = len(bx) > 0
        metric = self.state.readout()["metric_name"]
        self.curve.yaxis.axis_label = f"test {metric}" if metric else "test metric"
        self.curve.title.text = f"learning curve: ONE seed ({self.state.seed})"
        self.curve_note.value = (
            "One seed, no spread: a gap between two curves can be chance. Compare strategies over "
            "seeds with latentlab run --seeds 0 1 2 (README's tables)."
            if len(mx)
            else ""
        )

    def _draw_readout(self):
        s = self.state
        r = s.readout()
        metric = "–" if r["metric"] is None else f"{r['metric']:.1f}"
        shown = self.w_replay.value
        where = f"<b>showing round {shown} of {r['round']}</b> (replay)" if shown else "<b>showing</b> live"
        play = f" · {html.escape(self.play_rate())}" if self.b_play.value else ""
        self.readout.value = (
            f"{where} · <b>round</b> {r['round']} · <b>labelled</b> {r['n_labelled']} · "
            f"<b>test {html.escape(r['metric_name'] or 'metric')}</b> {metric}<br>"
            f"<b>steps</b> {r['steps']} · <b>points</b> {len(self.src['points'].data['x'])} · "
            f"<b>path vertices</b> {sum(len(x) for x in self.src['paths'].data['xs'])}{play}<br>"
            f"{html.escape(s.status) if not s.error else ''}"
        )
        self.show_alert(s.error)

    def _alert_styles(self, on: bool) -> dict:
        """The alert's inline styles: its colours, the mode's text size and, in presentation, floating
        over the top of the map (clicks pass through). Every key in both modes: the browser keeps a
        style key that an update leaves out."""
        big = self.presentation
        place = (
            {"position": "absolute", "top": "0", "left": "0", "z-index": "20", "pointer-events": "none"}
            if big
            else {"position": "static", "top": "auto", "left": "auto", "z-index": "auto", "pointer-events": "auto"}
        )
        return {**(_ALERT_ON if on else _ALERT_OFF), "font-size": (PRESENTATION if big else NORMAL).text, **place}

    def show_alert(self, message: str) -> None:
        """Show ``message`` in the alert line above the map ('' clears it); the line keeps its place."""
        self.alert.value = html.escape(message)
        self.alert.styles = self._alert_styles(bool(message))

    @property
    def alert_text(self) -> str:
        """The message the alert line shows ('' when none)."""
        return html.unescape(self.alert.value)

    # ------------------------------------------------------------------ layout
    def _apply_mode(self):
        """Sizes and layout of the current mode (notebook or presentation), in place.

        Presentation: every text 20 px and wrapped to its box (DOM text at auto height, canvas titles
        by :func:`~.map_figure.wrap`), so nothing is cut; tests/test_presentation_lab.py measures it.

        In a notebook the switch goes to the page as one message, as a redraw does: unblocked, each of
        its property changes (sizes, styles, then the new layout) was a push of its own."""
        views = self._notebook_views()
        if not views:
            self._apply_mode_now()
            return
        with block_comm():
            self._apply_mode_now()
        for doc, comm in views:
            self._push_when_open(doc, comm)

    def _apply_mode_now(self):
        big = self.presentation
        self.b_present.value = big  # the button follows the parameter (set from a cell, or clicked)
        sz = PRESENTATION if big else NORMAL
        side_w = sz.side_width
        for fig, (h_big, h) in zip((self.strip, self.probs, self.curve), ((185, 150), PROBS_HEIGHT[::-1], (290, 200))):
            fig.width, fig.height = side_w - 10, h_big if big else h
        apply_sizes(self.map_parts, (self.strip, self.probs, self.curve), sz, big)
        self._present_side_figures(big, sz)
        text = {"font-size": sz.text}
        for wdg in (*self._busy_controls(), self.b_present):
            # the size is a CSS variable on the widget's host (``styles``); the stylesheet that reads it is
            # set once, before the first render: a later change of ``stylesheets`` makes Panel re-send
            # its own stylesheets too, as CDN URLs in a notebook under pn.extension(inline=True) (the
            # doc has no local ``dist_url`` then), and an offline page fetched them (test_jupyterlab)
            if wdg.stylesheets != _WIDGET_CSS:
                wdg.stylesheets = _WIDGET_CSS
            wdg.styles = {"--latentlab-text": sz.text, "--latentlab-label-wrap": "normal" if big else "pre"}
            button = isinstance(wdg, (pn.widgets.Button, pn.widgets.Toggle))
            small = 65 if button else 170
            wdg.width = (155 if button else 170) if big else (95 if wdg is self.b_round else small)
        self.b_present.width = 155 if big else 120
        self.w_replay.width = side_w - 20 if big else 300
        for t in (self.explain, self.busy_text, self.selected_text, self.curve_note, self.key_text):
            t.styles = text
        self.readout.styles = {**text, "overflow": "hidden"}
        # fixed heights in a notebook (text that wraps never moves the layout); presentation: the text's
        # own height (each sits last in its tab, or above what may move)
        for t, h in ((self.explain, 66), (self.readout, 96), (self.selected_text, 44), (self.curve_note, 44)):
            t.width, t.height = side_w - 10, None if big else h
        self.key_text.width, self.key_text.height = (side_w - 10, None) if big else (400, 360)
        self.busy_text.width = side_w - 10 if big else 260
        # presentation: the alert floats over the top of the map (its own height, clicks pass through),
        # so the map gets the 40 px of its line; in a notebook it keeps a fixed line above the map
        self.alert.width, self.alert.height = (sz.map_width, None) if big else (920, 40)
        # (inline styles, not a stylesheet: a runtime change of ``stylesheets`` fetches Panel's CSS from its CDN)
        self.alert.styles = self._alert_styles(bool(self.state.error))
        # presentation: the map takes the width the tabs leave (never less than its 1280x720 width, which
        # its texts are wrapped for); its height stays fixed. The root stretches to its cell in both
        # modes: in a notebook up to its fixed width (a narrow cell wraps the side column below the map)
        self.map.sizing_mode = "stretch_width" if big else "fixed"
        self.map.min_width = sz.map_width if big else None
        self.show(self._present_layout() if big else self._notebook_layout())
        self._layout.param.update(
            width=None, sizing_mode="stretch_width", max_width=4000 if big else sz.map_width + side_w + 30,
            min_width=sz.map_width + side_w + 20 if big else None,
        )  # fmt: skip

    def show(self, view) -> None:
        """Put ``view`` (the explorer's layout, or the forming map while the generator trains) in the
        root, with the page's comm watchdog after it."""
        self._layout.objects = [view, self._watchdog]

    def _present_side_figures(self, big: bool, sz) -> None:
        """The selection's strip and F's probabilities at 20 px: the strip's captions break before
        an item number and hang below the images; the bars' 'where' labels (30 of them) give way to
        a key of their colours above the chart."""
        from bokeh.models import CustomJSTransform, Legend
        from bokeh.transform import transform

        self.strip.title.text = "selected (click the map)" if big else "selected: click the map or a sampling point"
        self.probs.title.text = "F's class probabilities" if big else "what F says: class probabilities"
        lab = self.strip_labels
        lab.text_font_size = sz.text
        lab.text = (
            transform("title", CustomJSTransform(v_func="return xs.map(s => String(s).replace(' #', '\\n#'))"))
            if big
            else "title"
        )
        lab.text_baseline, lab.y_offset = ("top", -4) if big else ("bottom", -18)
        self.strip.y_range.start = -0.75 if big else -0.35
        if not hasattr(self, "_probs_key"):
            bars = self.probs.select_one({"name": "probs"})
            self._probs_key = Legend(
                items=[LegendItem(label={"field": "label"}, renderers=[bars])], orientation="horizontal", ncols=2,
                spacing=2, padding=2, margin=2, glyph_width=20, glyph_height=20,
            )  # fmt: skip
            self.probs.add_layout(self._probs_key, "above")
        self._probs_key.visible = big
        self._probs_key.label_text_font_size = sz.text
        self.probs.xaxis[0].major_label_text_color = None if big else "#444444"
        self._fit_probs_axis()

    def _fit_probs_axis(self) -> None:
        """F's probabilities name each class under its bars: the names stand upright when the longest
        is wider than a class's share of the axis (CIFAR-10's 'automobile'), and the chart grows by
        what they take (digits keep their one-line axis)."""
        ds = self.state.data if self.state.loaded else None
        names = [str(c) for c in getattr(ds, "classes", ())]
        big = self.presentation
        px = float((PRESENTATION if big else NORMAL).text[:-2])
        longest = EM * px * max((len(n) for n in names), default=1)
        share = (self.probs.width - 60) / max(len(names), 1)  # 60 px: the y axis and its label
        upright = longest > 0.9 * share
        self.probs.xaxis[0].group_label_orientation = "vertical" if upright else "horizontal"
        # the names' height beyond one line of text; presentation takes 40 px of it from the bars (the
        # Point tab must fit 720 px: strip, readout and chart)
        extra = int(min(longest, 120) - px - (40 if big else 0)) if upright else 0
        self.probs.height = PROBS_HEIGHT[big] + max(0, extra)

    def _notebook_layout(self):
        # fixed sizes (text that wraps or an alert that appears never moves the layout); the side
        # column wraps below the map in a narrow notebook column instead of being cut off
        controls = pn.Column(
            pn.Row(self.w_dataset, self.w_data_root), pn.Row(self.w_strategy, self.w_alpha),
            pn.Row(self.w_per_round, self.w_heat), pn.Row(self.w_step_label, self.b_present), self.explain,
        )  # fmt: skip
        buttons = pn.Row(self.b_step, self.b_round, self.b_reset, self.b_play, self.spinner)
        side = pn.Column(
            controls, buttons, self.busy_text, self.w_replay, self.readout, self.strip, self.selected_text,
            self.probs, self.curve, self.curve_note, width=NORMAL.side_width,
        )  # fmt: skip
        return pn.Column(self.alert, pn.FlexBox(pn.pane.Bokeh(self.map), side, flex_wrap="wrap"))

    def _present_layout(self):
        """1280x720 with the side bar open: the map beside tabs (controls, point, curve, key)."""
        w = PRESENTATION.side_width
        controls = pn.Column(
            pn.Row(self.b_step, self.b_round, self.spinner), pn.Row(self.b_play, self.b_present),
            self.explain, self.readout,
        )  # fmt: skip
        settings = pn.Column(
            pn.Row(self.w_strategy, self.w_alpha), pn.Row(self.w_dataset, self.w_per_round),
            pn.Row(self.w_heat, self.w_step_label), pn.Row(self.w_data_root, self.b_reset), self.w_replay,
            self.busy_text,
        )  # fmt: skip
        tabs = pn.Tabs(
            ("Step", controls), ("Settings", settings),
            ("Point", pn.Column(self.strip, self.selected_text, self.probs)),
            ("Curve", pn.Column(self.curve, self.curve_note)), ("Key", self.key_text), width=w,
            stylesheets=[f".bk-tab {{ font-size: {PRESENTATION.text}; }}"],
        )  # fmt: skip
        row = pn.Row(pn.pane.Bokeh(self.map, sizing_mode="stretch_width"), tabs, sizing_mode="stretch_width")
        return pn.Column(self.alert, row, sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout
