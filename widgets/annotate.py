"""Annotation widget: a person labels synthesized images G(z') (class buttons, or accept/reject for masks).

Answers go through :meth:`latentlab.explorer_state.ExplorerState.annotate`, which stores them in the
person's :class:`~latentlab.storage.LabelCache` and appends the labelled image to the train set.
"""

from __future__ import annotations

import panel as pn
import param
from panel.io import hold
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from latentlab.explorer_state import ExplorerState

from .comm_watchdog import CommWatchdog
from .explorer import in_background, to_rgba

__all__ = ["AnnotationPanel"]


class AnnotationPanel(pn.viewable.Viewer):
    """Shows the first image waiting for a label and one button per answer."""

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, state: ExplorerState, **params):
        super().__init__(state=state, **params)
        self.src = ColumnDataSource(data={"image": [], "x": [], "y": [], "dw": [], "dh": []})
        f = figure(
            height=170, width=170, toolbar_location=None, x_range=(0, 1), y_range=(0, 1), title="label this G(p')"
        )
        f.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.src, name="annotate_image")
        f.axis.visible = f.grid.visible = False
        self.fig = f
        self.b_queue = pn.widgets.Button(label="Annotate G(p')", color="primary", width=140)
        self.b_queue.on_click(lambda e: state.queue_synthetic())
        self.b_skip = pn.widgets.Button(label="Skip", width=70)
        self.b_skip.on_click(lambda e: state.skip())
        self.answers = pn.Row()
        self.info = pn.widgets.StaticText(value="", width=340)  # a widget: updates send only the text
        self._mode = None
        state.param.watch(self._on_state_change, ["version", "data_version"])
        state.param.watch(self._on_busy, "busy")
        self._redraw()

    def _on_state_change(self, *events):
        if not in_background():  # Bokeh models change on the event loop only; the explorer redraws us after
            self._redraw()

    def _on_busy(self, event):
        for b in [self.b_queue, self.b_skip, *self._answer_buttons()]:
            b.disabled = bool(event.new)

    def _answer_buttons(self):
        return [b for grid in self.answers.objects for b in getattr(grid, "objects", [])]

    def _buttons(self):
        s = self.state
        mode = s.annotator.mode if s.annotator else None
        if mode == self._mode:
            return
        self._mode = mode
        if mode == "class":
            bs = []
            for i, c in enumerate(s.data.classes):
                b = pn.widgets.Button(label=str(c), width=40)
                b.on_click(lambda e, i=i: s.annotate(i))
                bs.append(b)
        elif mode == "accept":
            acc = pn.widgets.Button(label="Accept", color="success", width=80)
            acc.on_click(lambda e: s.annotate(True))
            rej = pn.widgets.Button(label="Reject", color="danger", width=80)
            rej.on_click(lambda e: s.annotate(False))
            bs = [acc, rej]
        else:
            bs = []
        self.answers.objects = [pn.GridBox(*bs, ncols=5)]

    def _redraw(self):
        with hold():  # raw Bokeh changes need Panel's hold outside a locked callback (after a background round)
            self._redraw_now()

    def _redraw_now(self):
        s = self.state
        self._buttons()
        if s.pending:
            self.src.data = {"image": [to_rgba(s.pending[0]["x"])], "x": [0], "y": [0], "dw": [1], "dh": [1]}
            self.info.value = f"{len(s.pending)} waiting; labels are kept in <code>{s.annotator.cache.folder}</code>"
        else:
            self.src.data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
            self.info.value = "Nothing waits for a label. Step, then <i>Annotate G(p')</i>."

    def __panel__(self):
        # the comm watchdog: an answer clicked while Panel waits for a lost acknowledgement still arrives
        return pn.Column(
            "### Annotate", pn.Row(self.b_queue, self.b_skip), self.fig, self.answers, self.info, CommWatchdog()
        )
