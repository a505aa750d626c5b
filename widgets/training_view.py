"""The latent space drawn while its generator trains, then the explorer (issue 22, item 1).

An explorer state (``latentlab.explorer_state``) that is not loaded yet, handed to
:class:`~latentlab.widgets.LatentExplorer`, is loaded by a :class:`latentlab.explorer_training.GeneratorTraining`
job on a worker thread (the event loop never waits for a training). Meanwhile the explorer's place
shows a :class:`TrainingView`: the codes of the watched pool items after every epoch, coloured by class
(``forming`` glyph), a bar with *epoch i of n* and the loss, and the phase in one line. When the job
ends the state loads from the job's shared resources at once and the usable explorer takes the place;
a failed load shows its message (with the fix) in the explorer's alert, never a traceback.

The view polls the job (a periodic callback of ``period`` ms, on the event loop): Bokeh models are
only touched there, never from the training's thread.
"""

from __future__ import annotations

import html
from typing import Callable

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure

from latentlab.explorer_training import GeneratorTraining

__all__ = ["TrainingView", "attach_training", "snapshot_colours", "bar_html"]

PERIOD = 250  # ms between two looks at the job (one redraw per new snapshot)


def snapshot_colours(labels: np.ndarray | None, categorical: bool) -> np.ndarray:
    """One colour per watched item: its class (Category10, as the explorer), its label's peak (Viridis), or grey."""
    if labels is None:
        return np.full(0, "#888888")
    if categorical:
        return np.asarray(Category10_10)[np.asarray(labels) % 10]
    lo, hi = np.percentile(labels, [2, 98])
    idx = np.clip(((labels - lo) / max(hi - lo, 1e-12) * 255).astype(int), 0, 255)
    return np.asarray(Viridis256)[idx]


def bar_html(fraction: float, text: str, width: int = 520) -> str:
    """A progress bar as HTML (a filled box) over one line of text: no extra JavaScript, works offline."""
    pct = 100.0 * min(max(float(fraction), 0.0), 1.0)
    return (
        f"<div class='latentlab-bar' style='width:{width}px;height:14px;background:#e6e6e6;border-radius:3px'>"
        f"<div style='width:{pct:.1f}%;height:14px;background:#1f77b4;border-radius:3px'></div></div>"
        f"<div class='latentlab-bar-text' data-fraction='{fraction:.4f}'>{html.escape(text)}</div>"
    )


class TrainingView(pn.viewable.Viewer):
    """The map forming while ``job`` trains; ``on_done(job)`` is called (on the event loop) once it ends.

    Parameters
    ----------
    job : GeneratorTraining
        The (started) load to watch.
    on_done : callable
        Called once with the job when it has ended (well or with :attr:`GeneratorTraining.error`).
    period : int
        Milliseconds between two looks at the job.
    """

    def __init__(self, job: GeneratorTraining, on_done: Callable[[GeneratorTraining], None], period: int = PERIOD):
        super().__init__()
        self.job, self.on_done = job, on_done
        self.src = ColumnDataSource({"x": [], "y": [], "color": []})
        f = figure(
            width=560, height=560, match_aspect=True, toolbar_location=None, output_backend="canvas",
            title="the latent space forming while the generator trains (pool items by class)",
            x_axis_label="z1 (latent dimension 1)", y_axis_label="z2 (latent dimension 2)",
        )  # fmt: skip
        f.scatter("x", "y", source=self.src, color="color", size=4, alpha=0.7, name="forming")
        self.figure = f
        self.bar = pn.widgets.StaticText(value=bar_html(0.0, "starting…"), width=560, height=44)
        self.key = pn.widgets.StaticText(value="", width=560, height=44, styles={"font-size": "13px"})
        self._shown = -1
        self._ended = False
        self._cb = None
        self._layout = pn.Column(self.bar, pn.pane.Bokeh(f), self.key, css_classes=["latentlab-training"])
        self.update()
        if not self._ended:
            self._cb = pn.state.add_periodic_callback(self.update, period=period)

    def update(self) -> None:
        """Draw the newest snapshot and the bar; hand over to ``on_done`` once the job has ended."""
        job = self.job
        done = job.done  # read first: a snapshot that arrives after it is drawn by the next look
        st = job.status()
        self.bar.value = bar_html(st.fraction, st.text)
        snap = job.latest
        if snap is not None and len(job.snapshots) != self._shown:
            self._shown = len(job.snapshots)
            view = snap.codes if snap.codes.shape[1] == 2 else _pca2(snap.codes)
            col = snapshot_colours(job.snapshot_labels(snap), job.categorical)
            if len(col) != len(view):
                col = np.full(len(view), "#888888")
            self.src.data = {"x": view[:, 0], "y": view[:, 1], "color": col}
            if job.categorical and not self.key.value:
                self.key.value = " ".join(
                    f"<span style='color:{Category10_10[i % 10]}'>●</span>{html.escape(str(c))}"
                    for i, c in enumerate(job.classes)
                )
        if done and not self._ended:
            self._ended = True
            if self._cb is not None:
                self._cb.stop()
                self._cb = None
            self.on_done(job)

    def __panel__(self):
        return self._layout


def _pca2(z: np.ndarray) -> np.ndarray:
    """The codes of a latent space above 2-D in their own PCA-2 plane (only for this preview)."""
    c = z - z.mean(0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    return c @ vt[:2].T


def attach_training(explorer, **job_kwargs) -> TrainingView:
    """Load ``explorer``'s state through a shared :class:`GeneratorTraining` job, showing a
    :class:`TrainingView` in the explorer's place until it ends; then the state loads (at once, from
    the job's resources) and the explorer's own layout comes back, or its alert says why not."""
    state = explorer.state
    job = GeneratorTraining.shared(state, **job_kwargs)

    def done(job: GeneratorTraining) -> None:
        if job.error:
            state.error, state.status = job.error, f"error: {job.error}"
        else:  # from load_resources' cache: what the job has just loaded; views redraw once, loaded
            with param.parameterized.batch_call_watchers(state):
                state.load()
        explorer._apply_mode()  # the explorer's own layout again
        explorer._redraw()

    view = explorer.training_view = TrainingView(job, done)
    if not view._ended:  # (a job that had already ended has handed over in the constructor)
        explorer.show(view)
    return view
