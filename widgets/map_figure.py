"""The explorer's latent map, built from one table of glyph specs (:data:`GLYPHS`), and its text sizes.

Each row of :data:`GLYPHS` names a glyph, its data source, its style, its hover text and its key
label; the same row draws the glyph and its stand-in in the key, so the two cannot drift apart.
:func:`apply_sizes` switches every text and glyph between the notebook sizes and presentation mode
(text >= 20 px, thicker lines, larger markers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from bokeh.models import (
    AllLabels,
    Arrow,
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
    LinearColorMapper,
    NoOverlap,
    SingleIntervalTicker,
    VeeHead,
)
from bokeh.palettes import Category10_10, Greys256, Viridis256
from bokeh.plotting import figure

__all__ = ["GLYPHS", "SOURCES", "MapFigure", "Sizes", "NORMAL", "PRESENTATION", "apply_sizes", "wrap"]

HEAT_PALETTE = list(reversed(Greys256))[:160]  # light -> mid grey: the heat map stays behind the points
Z = ("z", "($x{0.00}, $y{0.00})")
TITLE = "latent space of the generator: pool items, labelled items and the background"

# data source columns of every glyph
SOURCES = {
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
    "picks": {"x": [], "y": []},
    "sel": {"x": [], "y": []},
}


@dataclass(frozen=True)
class Glyph:
    """One glyph of the map: ``kind`` (a figure method), its ``source``, ``style`` (``size`` and
    ``line_width`` scale in presentation mode), hover ``tips`` and the ``key`` label ('' = none)."""

    name: str
    kind: str
    source: str
    style: dict = field(default_factory=dict)
    tips: tuple = ()
    key: str = ""


_XY, _SEG = ("x", "y"), ("x0", "y0", "x1", "y1")
GLYPHS = (
    Glyph("trajectories", "multi_line", "paths", {"line_color": "black", "line_width": 1.5, "alpha": 0.8},
          (("trajectory (one per sampling point)", ""),), "trajectory"),
    Glyph("jumps", "segment", "jumps", {"line_dash": "dotted", "line_color": "#555555", "line_width": 1.0},
          (("jump p' -> nearest pool item", ""),), "jump to the item"),
    Glyph("gradients", "segment", "grad", {"line_color": "crimson", "line_width": 2.0},
          (("direction d at p", ""),), "step direction d (gradient; length ~ |grad|)"),
    Glyph("points", "scatter", "points", {"size": 9, "color": "black"},
          (("sampling point p: value", "@loss{0.000}"), ("|gradient|", "@grad_norm{0.0000}"), Z), "p: sampling point"),
    Glyph("p_prime", "scatter", "pp", {"size": 9, "marker": "x", "line_color": "crimson", "line_width": 2.0},
          (("p' = p + alpha d", ""), Z), "p' = p + alpha d"),
    Glyph("neighbours", "scatter", "nb",
          {"size": 9, "marker": "diamond", "fill_color": "gold", "line_color": "black", "line_width": 1.0},
          (("nearest pool item: loss", "@loss_after{0.000}"), Z), "nearest pool item"),
    Glyph("picks", "scatter", "picks", {"size": 14, "fill_color": None, "line_color": "goldenrod", "line_width": 3.0},
          (("the strategy's next pick", ""), Z), "next pick (no move)"),
    Glyph("selected", "scatter", "sel",
          {"size": 16, "marker": "circle_cross", "fill_color": None, "line_color": "magenta", "line_width": 2.0},
          (("selected (click the map)", ""), Z), "selected (click)"),
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    """Text and glyph sizes of one mode."""

    text: str  # every text on the map and the side figures
    title: str
    glyph: float  # multiplies marker sizes
    line: float  # multiplies line widths
    map_width: int
    map_height: int
    side_width: int


NORMAL = Sizes("13px", "14px", 1.0, 1.0, 560, 640, 380)
# presentation: fits 1280x720 with JupyterLab's side bar open (measured by tests/test_presentation_lab.py)
PRESENTATION = Sizes("20px", "20px", 1.6, 2.0, 450, 575, 370)
EM = 0.5  # a character's mean advance in em (Liberation Sans, Chromium's Helvetica here), to wrap canvas text
_AXES = 130  # px of the map's width that are not its frame: the y axis and the toolbar
MAX_KEY_ROWS = 2  # presentation: rows of the classes' key under the map before it moves to the Key tab


def wrap(text: str, width: float, font_px: float) -> str:
    """``text`` broken at spaces into lines of at most ``width`` px at ``font_px`` (estimated with
    :data:`EM`): Bokeh draws canvas text (titles, colour-bar titles) on one line unless it holds a newline."""
    per_line = max(8, int(width / (EM * font_px)))
    lines, line = [], ""
    for word in text.replace("\n", " ").split(" "):
        if line and len(line) + 1 + len(word) > per_line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def _stand_in(f, g: Glyph):
    """A glyph with one NaN point for the key: Bokeh draws no swatch for a renderer without data."""
    cols = _SEG if g.kind == "segment" else _XY
    src = ColumnDataSource({c: [np.nan] for c in cols})
    kind = "segment" if g.kind == "multi_line" else g.kind
    return getattr(f, kind)(*(_SEG if kind == "segment" else _XY), source=src, name=f"key_{g.name}", **g.style)


class MapFigure:
    """The map's figure, sources, colour mappers, keys and glyph renderers (``renderers[name]``)."""

    def __init__(self, src: dict):
        f = figure(
            title=TITLE,
            output_backend="canvas",
            match_aspect=True,
            height=NORMAL.map_height,
            width=NORMAL.map_width,
            tools="pan,wheel_zoom,box_zoom,reset,tap",
            active_scroll="wheel_zoom",
            x_axis_label="z1 (latent dimension 1)",
            y_axis_label="z2 (latent dimension 2)",
        )
        self.figure, self.src = f, src
        self.presenting = False
        self.classify = True  # the pool has classes to key (set by the explorer for each data set)
        self._fits: dict = {}  # (model id, property) -> (model, property, width px): titles kept wrapped
        self.heat_mapper = LinearColorMapper(palette=HEAT_PALETTE, low=0, high=1)
        self.round_mapper = LinearColorMapper(palette=Viridis256, low=1, high=2)
        self.pool_mapper = LinearColorMapper(palette=Viridis256, low=0, high=1)
        heat = f.image(
            image="image", x="x", y="y", dw="dw", dh="dh", source=src["heat"], color_mapper=self.heat_mapper,
            name="heatmap", alpha=0.9,
        )  # fmt: skip
        f.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=src["raster"], name="pool_raster")
        self.renderers = {
            "pool": f.scatter("x", "y", source=src["pool"], color="color", size=3, alpha=0.45, name="pool"),
            "labelled": f.scatter(
                "x",
                "y",
                source=src["labelled"],
                size=7,
                fill_color=None,
                line_width=1.5,
                name="labelled",
                line_color={"field": "round", "transform": self.round_mapper},
            ),  # fmt: skip
        }
        for g in GLYPHS:
            cols = {"segment": _SEG, "multi_line": ("xs", "ys")}.get(g.kind, _XY)
            self.renderers[g.name] = getattr(f, g.kind)(*cols, source=src[g.source], name=g.name, **g.style)
        self.arrow_head = VeeHead(size=7, fill_color="crimson", line_color="crimson")
        f.add_layout(
            Arrow(end=self.arrow_head, line_alpha=0, source=src["grad"], x_start="x0", y_start="y0", x_end="x1",
                  y_end="y1")
        )  # fmt: skip
        self.heat_hover = HoverTool(renderers=[heat], tooltips=[("F's entropy here", "@image{0.000}"), Z])
        tips = {"pool": [("pool item, class", "@label"), Z], "labelled": [("labelled in round", "@round"), Z]}
        tips.update({g.name: list(g.tips) for g in GLYPHS})
        for name, t in tips.items():
            f.add_tools(HoverTool(renderers=[self.renderers[name]], tooltips=t))
        f.add_tools(self.heat_hover)  # last: glyphs above the background answer first
        self._keys()

    def _keys(self):
        """Below the map: the pool's classes (or a colour bar of a regression label), the glyphs, the
        rings' rounds and the background."""
        f = self.figure
        nan = {"x": [np.nan], "y": [np.nan]}
        self.class_glyphs = [
            f.scatter(source=ColumnDataSource(nan), color=c, size=7, name=f"key_class_{i}")
            for i, c in enumerate(Category10_10)
        ]
        small = {"spacing": 2, "padding": 4, "margin": 2}
        self.class_legend = Legend(
            items=[], title="pool items by class (hover a dot for its class)", orientation="horizontal", ncols=10,
            **small,
        )  # fmt: skip
        f.add_layout(self.class_legend, "below")
        bar = {"orientation": "horizontal", "height": 8, "padding": 4, "margin": 2}
        self.pool_bar = ColorBar(
            color_mapper=self.pool_mapper, visible=False, title="pool items by the peak of their label", **bar
        )
        f.add_layout(self.pool_bar, "below")
        ring = f.scatter(
            source=ColumnDataSource(nan), size=8, fill_color=None, line_color=Viridis256[128], line_width=1.5,
            name="key_ring",
        )  # fmt: skip
        items = [LegendItem(label=g.key, renderers=[_stand_in(f, g)]) for g in GLYPHS if g.key]
        items.insert(3, LegendItem(label="labelled (ring: round)", renderers=[ring]))
        self.key = Legend(items=items, orientation="horizontal", ncols=3, click_policy="none", **small)
        f.add_layout(self.key, "below")
        self.round_bar = ColorBar(
            color_mapper=self.round_mapper, title="ring colour: the round that labelled the item",
            ticker=SingleIntervalTicker(interval=1), **bar,
        )  # fmt: skip
        f.add_layout(self.round_bar, "below")
        self.heat_bar = ColorBar(color_mapper=self.heat_mapper, title="grey background: F's entropy", **bar)
        f.add_layout(self.heat_bar, "below")
        self.class_legend.on_change("items", lambda attr, old, new: self.fit_class_key())

    def fit_class_key(self) -> None:
        """As many classes per row of the key as fit the map's width at the mode's text size.

        In presentation mode a key that needs more than :data:`MAX_KEY_ROWS` rows (CIFAR-10's long
        names took ten rows and squeezed the map to a strip) is left off the map; the title then
        points to the Key tab, which lists the classes with their colours."""
        leg, n = self.class_legend, len(self.class_legend.items)
        shown = self.classify and n > 0
        title = "latent map"
        if not self.presenting or not n:
            leg.ncols = 10
        else:
            longest = max(len(str(getattr(i.label, "value", i.label))) for i in leg.items)
            px = float(str(leg.label_text_font_size)[:-2])
            item = leg.glyph_width + leg.label_standoff + EM * px * longest + 2 * leg.spacing + 4
            room = self.figure.width - _AXES - EM * px * len(leg.title or "") - 2 * leg.padding
            leg.ncols = max(1, min(n, int(room // item)))
            if -(-n // leg.ncols) > MAX_KEY_ROWS:
                shown = False
                title = "latent map (classes: Key tab)"
        leg.visible = shown
        if self.presenting:
            self.figure.title.text = title

    def fit(self, model, prop: str, width: float) -> None:
        """Keep the text ``model.<prop>`` wrapped to ``width`` px in presentation mode (and on one line
        otherwise), whoever sets it later."""
        key = (model.id, prop)
        if key not in self._fits:
            model.on_change(prop, lambda attr, old, new: self._refit(key))
        self._fits[key] = (model, prop, width)
        self._refit(key)

    def _refit(self, key) -> None:
        model, prop, width = self._fits[key]
        text = getattr(model, prop)
        if isinstance(text, str):
            px = float(str(getattr(model, "title_text_font_size", None) or model.text_font_size)[:-2])
            new = wrap(text, width, px) if self.presenting else text.replace("\n", " ")
            if new != text:
                setattr(model, prop, new)


def _font(model, size: str, *props: str) -> None:
    for p in props:
        setattr(model, p, size)


def apply_sizes(m: MapFigure, figures, sz: Sizes, presenting: bool) -> None:
    """Set every text (titles, axes, ticks, keys, colour bars) of the map and ``figures`` to ``sz``,
    and the map's markers and lines to its scale. In presentation mode the glyph key is hidden (the
    page's key tab lists it) so the map keeps its height; titles wrap to their figure's width (whoever
    sets them later), axes and colour bars draw fewer ticks and never two labels over each other, and
    the classes' key takes as many columns as fit."""
    m.presenting = presenting
    for fig in (m.figure, *figures):
        fig.title.text_font_size = sz.title
        for ax in (*fig.xaxis, *fig.yaxis):
            _font(ax, sz.text, "axis_label_text_font_size", "major_label_text_font_size")
            if hasattr(ax, "group_text_font_size"):  # a categorical axis (F's probabilities: class, where)
                _font(ax, sz.text, "group_text_font_size", "subgroup_text_font_size")
            ax.major_label_policy = NoOverlap() if presenting else AllLabels()
        for leg in fig.legend:
            _font(leg, sz.text, "label_text_font_size", "title_text_font_size")
    for ax in (*m.figure.xaxis, *m.figure.yaxis):
        ax.ticker.desired_num_ticks = 4 if presenting else 6
    for bar in (m.pool_bar, m.round_bar, m.heat_bar):
        _font(bar, sz.text, "title_text_font_size", "major_label_text_font_size")
        bar.height = 16 if presenting else 8
        bar.major_label_policy = NoOverlap() if presenting else AllLabels()
    for bar in (m.pool_bar, m.heat_bar):
        bar.ticker = BasicTicker(desired_num_ticks=4) if presenting else "auto"
    for leg in (m.class_legend, m.key):
        leg.glyph_height = leg.glyph_width = 26 if presenting else 20
    m.key.visible = m.round_bar.visible = not presenting
    m.class_legend.title = "class" if presenting else "pool items by class (hover a dot for its class)"
    m.class_legend.title_location = "left" if presenting else "above"
    # Bokeh turns a title on the left on its side; a class reads it level (the legend is HTML)
    level = ".bk-title { writing-mode: horizontal-tb !important; rotate: 0deg !important; }"
    m.class_legend.stylesheets = [level] if presenting else []
    for g in GLYPHS:
        r = m.renderers[g.name].glyph
        if "size" in g.style:
            r.size = g.style["size"] * sz.glyph
        if "line_width" in g.style:
            r.line_width = g.style["line_width"] * sz.line
    m.renderers["pool"].glyph.size = 3 * sz.glyph  # the pool's dots: seen from the back of a room too
    m.renderers["labelled"].glyph.size = 7 * sz.glyph
    m.renderers["labelled"].glyph.line_width = 1.5 * sz.line
    m.arrow_head.size = 7 * sz.line * 1.5
    m.figure.width, m.figure.height = sz.map_width, sz.map_height
    m.figure.title.text = "latent map" if presenting else TITLE
    m.fit_class_key()  # (in presentation mode it may point the title to the Key tab)
    for bar in (m.pool_bar, m.round_bar, m.heat_bar):
        m.fit(bar, "title", sz.map_width - _AXES)
    for fig in figures:
        m.fit(fig.title, "text", fig.width - 10)


def key_html(classes, colours) -> str:
    """The map's key as HTML (presentation mode's key tab): glyphs, then the pool's classes."""
    rows = [
        ("●", "black", "p: sampling point"),
        ("✕", "crimson", "p' = p + alpha d"),
        ("→", "crimson", "step direction d (gradient; length ~ |grad|)"),
        ("◆", "goldenrod", "nearest pool item"),
        ("○", "goldenrod", "next pick (a strategy that does not move)"),
        ("○", Viridis256[128], "labelled item (colour: round)"),
        ("⊕", "magenta", "selected (click the map)"),
    ]
    out = [f"<span style='color:{c}'>{s}</span> {t}" for s, c, t in rows]
    cls = " ".join(f"<span style='color:{c}'>●</span>{n}" for n, c in zip(classes, colours))
    return "<br>".join(out) + (f"<br>classes: {cls}" if cls else "")
