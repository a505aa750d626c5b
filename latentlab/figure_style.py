"""How every figure of latentlab looks: projector font sizes, one colour per strategy, the class map.

The lesson (:mod:`latentlab.lesson`), the paper notebooks' figures (:mod:`latentlab.notebook_helpers`,
:mod:`latentlab.quality`) and the learning curves of every run (:func:`latentlab.report.plot_learning_curves`)
draw with these, so a strategy has the same colour in each figure a class sees and no text is too
small for the back row. Pure matplotlib on axes it is handed; nothing here makes a figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

__all__ = ["FONT", "COLOURS", "run_colours", "axes_text", "class_map", "legend_outside"]

#: font sizes (points) of every figure, chosen for a projector: a figure ~1000 px wide shown at
#: 1280x720 keeps its tick labels near 16 px (matplotlib's default, 10 pt, reads as ~11 px there)
FONT = {"title": 16, "label": 15, "tick": 13, "legend": 13}
#: one colour per strategy (or the lesson's named run) in every figure: random is blue everywhere;
#: tab10's blue, orange, green and purple for the ones a class sees most (they stay apart on a
#: washed-out projector); a stepping strategy's random-direction control in brown, SI in red
COLOURS = {
    "random": "C0",
    "snn": "C1",
    "snn short": "C1",
    "snn long": "C2",
    "entropy": "C4",
    "snn-random-dir": "C5",
    "si": "C3",
}
#: the colours other names get, in this order, skipping those the figure's known names hold
#: (grey, C7, is kept for legend keys that are no strategy: "picks", "pool")
_SPARE = ("C2", "C6", "C8", "C9", "C3", "C5", "C1", "C4")


def run_colours(names: Iterable[str]) -> dict[str, str]:
    """The colour of each of ``names`` (strategies or runs shown together in one figure).

    A name of :data:`COLOURS` gets its colour in every figure; the others get the spare colours in
    the order they come, none a known name of this figure holds (so two lines never share one).
    """
    names = list(dict.fromkeys(str(n) for n in names))
    out = {n: COLOURS[n] for n in names if n in COLOURS}
    spare = [c for c in _SPARE if c not in out.values()]
    for i, n in enumerate(n for n in names if n not in out):
        out[n] = spare[i % len(spare)]
    return {n: out[n] for n in names}


def axes_text(ax: Axes, xlabel: str = "", ylabel: str = "", title: str = "") -> None:
    """Labels and title at the projector sizes (:data:`FONT`), tick labels too."""
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=FONT["label"])
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=FONT["label"])
    if title:
        ax.set_title(title, fontsize=FONT["title"])
    ax.tick_params(labelsize=FONT["tick"])


def renderer(fig: Figure) -> RendererBase:
    """A renderer for measuring ``fig``'s texts (a plain :class:`~matplotlib.figure.Figure` has none)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return FigureCanvasAgg(fig).get_renderer()


def fit_title(ax: Axes) -> None:
    """Wrap ``ax``'s title where a line would run past the figure's edge, then lay the figure out again
    (``tight_layout`` shrinks the axes for a side legend, and a centred title wider than the figure is
    cut off at both edges of the saved PNG)."""
    import textwrap

    fig, title = ax.figure, ax.title
    r = renderer(fig)
    for _ in range(3):
        box, edge = title.get_window_extent(r), fig.bbox
        if box.x0 >= edge.x0 and box.x1 <= edge.x1 or not title.get_text():
            return
        lines = title.get_text().split("\n")
        widest = max(lines, key=len)
        mid = (box.x0 + box.x1) / 2  # the title is centred over the axes, not the figure
        room = 2 * min(mid - edge.x0, edge.x1 - mid) - 8
        keep = max(10, int(len(widest) * room / box.width))
        title.set_text("\n".join(w for line in lines for w in textwrap.wrap(line, keep) or [""]))
        fig.tight_layout()


def legend_outside(ax: Axes, **kwargs) -> Legend:
    """``ax``'s legend right of the axes, where it covers no data (``tight_layout`` makes room)."""
    kw = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, "fontsize": FONT["legend"]}
    return ax.legend(**{**kw, **kwargs})


def class_map(
    ax: Axes, embeddings, labels, labelled=None, *, dot: float, ring: float, colorbar: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the pool's 2-D codes coloured by class (tab10, class k in ``Ck``) on ``ax``; ``labelled``
    items ringed. Returns ``(codes, labels)``.

    The colour bar is labelled ``class (true label)`` at :data:`FONT` sizes.
    """
    e, y = np.asarray(embeddings)[:, :2], np.asarray(labels)
    sc = ax.scatter(e[:, 0], e[:, 1], c=y, cmap="tab10", vmin=-0.5, vmax=9.5, s=dot, alpha=0.7, lw=0)
    if colorbar:
        cb = ax.figure.colorbar(sc, ax=ax, ticks=range(10))
        cb.set_label("class (true label)", fontsize=FONT["label"])
        cb.ax.tick_params(labelsize=FONT["tick"])
    if labelled is not None and len(labelled):
        lab = e[np.asarray(labelled)]
        ax.scatter(
            lab[:, 0], lab[:, 1], s=6 * dot + 10, facecolors="none", edgecolors="black", lw=ring,
            label=f"labelled images ({len(lab)})",
        )  # fmt: skip
    return e, y
