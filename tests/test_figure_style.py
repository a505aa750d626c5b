"""The paper notebooks' and the lesson's figures as a class sees them on a projector (issue 19).

Each figure is drawn (Agg) and read back as the notebook shows it: its inline PNG is the figure's
tight bounding box at the figure's dpi, scaled down by the browser when wider than the output
area. At that size: no text under 12 pt (16 px), no legend over a plotted point, line, band, bar
or count, each strategy in the same colour as in the lesson's figures, and a learning curve that
says how many seeds it averages (with a band) or that it has one seed (without). The lesson's
figures also keep every text clear of every other and inside the PNG it saves.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from latentlab import lesson
from latentlab import notebook_helpers as nh
from latentlab import report
from latentlab.figure_style import COLOURS, run_colours
from latentlab.quality import code_map_figure, decoded_grid_figure

#: the output area a notebook has for a figure on a 1280 x 720 projector (px); wider PNGs are scaled down
SHOWN_WIDTH = 1100
#: the smallest text a back row reads: 12 pt at 96 dpi (px)
MIN_TEXT_PX = 16.0


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def _shown_scale(fig) -> float:
    """How much the browser shrinks the inline PNG (bbox_inches='tight' at the figure's dpi)."""
    width_px = fig.get_tightbbox(_renderer(fig)).width * fig.dpi
    return min(1.0, SHOWN_WIDTH / width_px)


def _smallest_text_px(fig) -> tuple[float, str]:
    from matplotlib.text import Text

    scale = _shown_scale(fig)
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert texts
    t = min(texts, key=lambda t: t.get_fontsize())
    return t.get_fontsize() * fig.dpi / 72 * scale, t.get_text()


def _legend_hits(ax, legend=None) -> list[str]:
    """What ``legend`` (default: ``ax``'s) covers of ``ax``'s points, lines, bands, bars and texts
    (counts over bars, walk numbers) (display coords)."""
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.patches import Rectangle
    from matplotlib.path import Path

    legend = legend or ax.get_legend()
    box = legend.get_window_extent(_renderer(ax.figure))
    frame = ax.get_window_extent()  # only what is inside the axes is drawn
    hits = []
    for ln in ax.get_lines():
        xy = ln.get_transform().transform(np.column_stack([ln.get_xdata(), ln.get_ydata()]).astype(float))
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if len(xy) > 1 and ln.get_linestyle() not in ("None", "none", " ", ""):
            if Path(xy).intersects_bbox(box, filled=False):
                hits.append(f"line {ln.get_label()}")
        if ln.get_marker() not in (None, "None", "none", "", " "):
            inside = [frame.contains(*p) and box.contains(*p) for p in xy]
            if any(inside):
                hits.append(f"marker of {ln.get_label()}")
    for c in ax.collections:
        if isinstance(c, PathCollection) and len(c.get_offsets()):
            xy = c.get_offset_transform().transform(np.asarray(c.get_offsets(), float))
            if any(frame.contains(*p) and box.contains(*p) for p in xy):
                hits.append(f"points of {c.get_label()}")
        elif isinstance(c, PolyCollection):
            for p in c.get_paths():
                if c.get_transform().transform_path(p).intersects_bbox(box, filled=True):
                    hits.append(f"band {c.get_label()}")
    renderer = _renderer(ax.figure)
    bar_of = {id(b): c.get_label() for c in ax.containers for b in c}
    for b in ax.patches:  # bars
        if isinstance(b, Rectangle) and b.get_visible() and b.get_height() and b.get_width():
            if b.get_window_extent(renderer).overlaps(box):
                hits.append(f"bar of {bar_of.get(id(b), b.get_label())}")
    for t in ax.texts:  # what the data says over itself: counts over bars, walk numbers
        if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).overlaps(box):
            hits.append(f"text {t.get_text()!r}")
    return hits


def _rows(strategies, seeds, rounds=4, metric="accuracy", dataset="digits", spread=60.0):
    """Result rows whose bands fill the whole axes (wherever a legend sits inside, it covers one)."""
    out = []
    for i, s in enumerate(strategies):
        for seed in seeds:
            for t in range(1, rounds + 1):
                v = 20.0 + 15 * t + 2 * i + (spread if seed % 2 else -spread) * (len(seeds) > 1)
                out.append({"dataset": dataset, "strategy": s, "seed": seed, "round": t, "n_labelled": 20 * t,
                            "metric": metric, "value": v})  # fmt: skip
    return out


def _pick_table(runs):
    import pandas as pd

    rows = []
    for run in runs:
        for seed in (0, 1):
            for t, n in ((1, 40), (2, 60)):
                rows.append(
                    {"run": run, "strategy": run, "seed": seed, "round": t, "n_labelled": n, "metric": 70.0,
                     "median_dist": 0.1 * t, "err_picks": 0.1, "err_pool": 0.2, "rarest": 4, "entropy_bits": 3.0,
                     **{f"class{k}": n // 10 for k in range(10)}}
                )  # fmt: skip
    return pd.DataFrame(rows)


def _line_colours(ax) -> dict:
    from matplotlib.colors import to_hex

    return {ln.get_label(): to_hex(ln.get_color()) for ln in ax.get_lines() if not ln.get_label().startswith("_")}


class _Decoder(torch.nn.Module):
    """A generator stand-in: 2-D codes to 1 x 8 x 8 images."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 64)

    def decode(self, z):
        return torch.sigmoid(self.lin(z)).reshape(-1, 1, 8, 8)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(600, 2))
    y = rng.integers(0, 10, 600)
    S, J = 11, 8  # the notebook's full size: 10 steps, 8 trajectories
    path = np.cumsum(rng.normal(scale=0.3, size=(S + 1, J, 2)), axis=0) + e[:J]
    traj = SimpleNamespace(path=path)
    off = np.arange(J) % 3 == 0
    ds = SimpleNamespace(
        x_test=(rng.random((4, 1, 32, 32)) > 0.5).astype(np.float32),
        y_test=rng.random((4, 1, 32, 32)).astype(np.float32) * np.array([0.1, 0.2, 0.3, 0.4])[:, None, None, None],
    )
    torch.manual_seed(0)
    return SimpleNamespace(e=e, y=y, traj=traj, off=off, ds=ds, gen=_Decoder())


def _figures(w):
    return {
        "learning curves": report.plot_learning_curves(_rows(["random", "snn", "entropy"], (0, 1, 2)), title="t"),
        "learning curves, vessels": report.plot_learning_curves(
            _rows(["random", "si"], (0,), metric="mse", dataset="vessels"), title="Fig. 3 (right): vessels"
        ),
        "trajectory map": nh.plot_trajectory_map(w.e, w.y, w.traj, w.off),
        "snapshot strips": nh.plot_snapshot_strips(w.gen, w.traj, w.off),
        "vessel examples": nh.plot_vessel_examples(w.ds, 4),
        "decoded grid": decoded_grid_figure(w.gen, w.e, n=6),
        "code map": code_map_figure(w.e, w.y, classes=tuple("abcdefghij")),
    }


def test_every_notebook_figure_reads_from_the_back_row(world):
    for name, fig in _figures(world).items():
        px, text = _smallest_text_px(fig)
        assert px >= MIN_TEXT_PX, f"{name}: {text!r} is {px:.1f} px at the size shown"


def test_legends_cover_no_data(world):
    figs = _figures(world)
    for name in ("learning curves", "learning curves, vessels", "trajectory map", "code map"):
        ax = figs[name].axes[0]
        assert ax.get_legend() is not None, f"{name}: no legend says what the marks are"
        assert _legend_hits(ax) == [], name


def test_the_overlap_check_sees_a_legend_over_a_band():
    """The check itself: a legend inside axes that a band fills is caught."""
    fig = report.plot_learning_curves(_rows(["random", "snn"], (0, 1)))
    ax = fig.axes[0]
    assert _legend_hits(ax, ax.legend(loc="center")) != []


def test_a_strategy_has_one_colour_in_the_curves_and_in_the_lesson():
    from matplotlib.colors import to_hex

    names = ["entropy", "random", "snn"]
    curves = _line_colours(report.plot_learning_curves(_rows(names, (0, 1))).axes[0])
    assert curves == {n: to_hex(COLOURS[n]) for n in names}  # random blue, snn orange, entropy purple
    picks = _line_colours(lesson.plot_picks(_pick_table(names)).axes[0])
    counts = lesson.plot_class_counts(_pick_table(names), seed=0).axes[0]
    bars = {c.get_label(): to_hex(c.patches[0].get_facecolor()) for c in counts.containers}
    race = _line_colours(lesson.plot_race(_rows(names, (0, 1))).axes[0])
    assert curves == picks == bars == race
    # a figure with fewer or other strategies keeps each one's colour, and no two share one
    all4 = ["random", "snn", "snn-random-dir", "entropy"]
    four = _line_colours(report.plot_learning_curves(_rows(all4, (0,))).axes[0])
    two = _line_colours(report.plot_learning_curves(_rows(["random", "snn-random-dir"], (0,))).axes[0])
    assert two.items() <= four.items() and len(set(four.values())) == 4
    other = run_colours(["random", "badge", "snn", "margin", "coreset"])
    assert len(set(other.values())) == 5 and other["random"] == COLOURS["random"]


def test_a_learning_curve_says_how_many_seeds_and_shows_their_spread():
    from matplotlib.collections import PolyCollection

    def bands(ax):
        return [c for c in ax.collections if isinstance(c, PolyCollection)]

    ax = report.plot_learning_curves(_rows(["random", "snn"], (0, 1, 2)), title="Fig. 3 (left): mnist").axes[0]
    assert ax.get_title().splitlines() == ["Fig. 3 (left): mnist", "mean over 3 seeds, band: ±1 std"]
    assert len(bands(ax)) == 2
    one = report.plot_learning_curves(_rows(["random", "snn"], (0,))).axes[0]
    assert "one seed" in one.get_title() and bands(one) == []
    # uneven seeds (a run still going) say so
    rows = _rows(["random"], (0, 1, 2)) + _rows(["snn"], (0, 1))
    assert "mean over 2-3 seeds" in report.plot_learning_curves(rows).axes[0].get_title()


def test_axes_name_their_units(world):
    figs = _figures(world)
    ax = figs["learning curves"].axes[0]
    assert ax.get_ylabel() == "test accuracy (%)" and ax.get_xlabel() == "labelled items"
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert all(float(t).is_integer() for t in ticks)  # labels are counted, never 4.25 items
    assert "200 kPa" in figs["learning curves, vessels"].axes[0].get_ylabel()
    for name in ("trajectory map", "decoded grid", "code map"):
        ax = figs[name].axes[0]
        assert "latent units" in ax.get_xlabel() and "latent units" in ax.get_ylabel(), name


def test_vessel_stress_maps_share_one_scale_in_kpa(world):
    fig = nh.plot_vessel_examples(world.ds, 4)
    stress = [ax.images[0] for ax in fig.axes[4:8]]
    assert len({im.get_clim() for im in stress}) == 1  # one colour, one kPa, in every panel
    from latentlab.vessels import STRESS_SCALE_KPA

    assert stress[0].get_clim()[1] == pytest.approx(float(world.ds.y_test.max()) * STRESS_SCALE_KPA, rel=1e-6)
    bars = [ax for ax in fig.axes if "kPa" in ax.get_ylabel()]
    assert len(bars) == 1


def test_trajectory_map_is_drawn_as_the_lessons_maps(world):
    """Class colours of the lesson's map (tab10, class k in Ck), each path through its p's, off ones dashed red."""
    fig = nh.plot_trajectory_map(world.e, world.y, world.traj, world.off)
    ax = fig.axes[0]
    pool = ax.collections[0]
    assert pool.get_cmap().name == "tab10" and pool.get_clim() == (-0.5, 9.5)
    paths = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    assert len(paths) == world.off.size
    for j, ln in enumerate(paths):
        np.testing.assert_allclose(np.column_stack([ln.get_xdata(), ln.get_ydata()]), world.traj.path[:, j])
        assert ln.get_linestyle() == ("--" if world.off[j] else "-")
    assert f"{int(world.off.sum())} of {world.off.size} left the manifold" in ax.get_title()


def test_the_lessons_legends_cover_no_data_either():
    """The same check on the lesson's map and pick panels: the map's legend sat on a corner of the
    pool, the error panel's on its curves; both stand outside the data now."""
    rng = np.random.default_rng(0)
    e, y = rng.normal(size=(2000, 2)), rng.integers(0, 10, 2000)
    ax = lesson.plot_map(e, y, np.arange(30)).axes[0]
    assert _legend_hits(ax) == []
    fig = lesson.plot_picks(_pick_table(["random", "snn short", "snn long"]))
    assert [ax.get_legend() for ax in fig.axes] == [None] * 4
    (legend,) = fig.legends
    box = legend.get_window_extent(_renderer(fig))
    assert not any(ax.get_window_extent().overlaps(box) for ax in fig.axes)
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["random", "snn short", "snn long", "F's error on the picks", "F's error on the pool"]
    assert "2 seeds" in legend.get_title().get_text()


# --------------------------------------------------------------------------- the lesson's figures
def _lesson_inputs():
    """The lesson's figures' inputs at notebook 06's sizes, made up: a 1,500-image pool in 10 class
    clusters with 20 labelled, 8 walks of 4 SNN steps from labelled images, F's probabilities along
    walk 0 (8x8 images), 3 runs x 3 seeds x 6 rounds of picks and the race's rows (3 strategies, 3 seeds)."""
    import pandas as pd

    from latentlab.trajectory import Trajectory

    rng = np.random.default_rng(1)
    centres = 2.2 * np.column_stack([np.cos(np.arange(10) * 0.63), np.sin(np.arange(10) * 0.63)])
    y = rng.integers(0, 10, 1500)
    e = centres[y] + rng.normal(scale=0.55, size=(1500, 2))
    labelled = rng.choice(1500, 20, replace=False)
    S, J, alpha = 4, 8, 0.4
    p, pp = np.zeros((S, J, 2)), np.zeros((S, J, 2))
    item, nb = np.zeros((S, J), np.int64), np.zeros((S, J), np.int64)
    item[0], p[0] = labelled[:J], e[labelled[:J]]
    for s in range(S):
        d = rng.normal(size=(J, 2))
        pp[s] = p[s] + alpha * d / np.linalg.norm(d, axis=1, keepdims=True)
        nb[s] = np.linalg.norm(e[None] - pp[s][:, None], axis=2).argmin(1)
        if s + 1 < S:
            item[s + 1], p[s + 1] = nb[s], e[nb[s]]
    dist = np.linalg.norm(e[nb] - pp, axis=2)
    traj = Trajectory(p=p, p_prime=pp, d=pp - p, grad_norm=np.ones((S, J)), loss=np.ones((S, J)), item=item,
                      neighbour=nb, neighbour_dist=dist)  # fmt: skip
    walks = lesson.some_walks(traj, 0, 8, seed=0)
    off = np.arange(J) % 4 == 3

    def softmax(z):
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    probs = {
        "p": softmax(rng.normal(scale=2.5, size=(S, 10))),
        "p_prime": softmax(rng.normal(scale=2.5, size=(S, 10))),
        "neighbour": softmax(rng.normal(scale=2.5, size=(S, 10))),
        "item": item[:, 0],
        "neighbour_item": nb[:, 0],
        "images": rng.random((S, 3, 8, 8)).astype(np.float32),
    }
    # the pick table as compare_picks writes it, with two-digit class counts at the end (140 labels)
    last = {
        "random": [15, 13, 14, 16, 12, 14, 15, 13, 14, 14],
        "snn short": [31, 2, 18, 0, 25, 9, 14, 22, 11, 8],
        "snn long": [20, 6, 16, 4, 19, 12, 15, 18, 17, 13],
    }
    rows = []
    for i, (run, counts) in enumerate(last.items()):
        for seed in (0, 1, 2):
            for t in range(1, 7):
                n = 20 + 20 * t
                c = np.floor(np.asarray(counts) * n / 140).astype(int)
                c[0] += n - c.sum()
                q = c[c > 0] / n
                rows.append(
                    {"run": run, "strategy": run.split()[0], "alpha": np.nan, "seed": seed, "round": t, "n_labelled": n,
                     "metric": 50.0 + 5 * t, "median_dist": (0.2 + 0.25 * i) / t + 0.02 * seed,
                     "err_picks": 0.3 - 0.07 * i + 0.01 * seed - 0.02 * t, "err_pool": 0.3 - 0.02 * t,
                     "rarest": int(c.min()), "entropy_bits": float(-(q * np.log2(q)).sum()),
                     **{f"class{k}": int(v) for k, v in enumerate(c)}}
                )  # fmt: skip
    race = [
        {"dataset": "digits", "strategy": st, "seed": seed, "round": t, "n_labelled": 20 + 20 * t, "metric": "accuracy",
         "value": 45.0 + (6 - i) * t + 2.0 * (seed - 1) * (i + 1)}
        for i, st in enumerate(("random", "snn", "entropy")) for seed in (0, 1, 2) for t in range(7)
    ]  # fmt: skip
    return SimpleNamespace(e=e, y=y, labelled=labelled, traj=traj, walks=walks, off=off, probs=probs,
                           picks=pd.DataFrame(rows), race=race)  # fmt: skip


@pytest.fixture(scope="module")
def lesson_world():
    return _lesson_inputs()


def _lesson_figures(w):
    """Every figure notebook 06 shows, drawn as it calls them."""
    move = dict(labelled=w.labelled)
    return {
        "plot_map": lesson.plot_map(w.e, w.y, w.labelled),
        "plot_move": lesson.plot_move(w.e, w.y, w.traj, 0, **move),
        "plot_move, reveal": lesson.plot_move(w.e, w.y, w.traj, 0, reveal=True, **move),
        "plot_move, probs": lesson.plot_move(w.e, w.y, w.traj, 0, probs=w.probs, **move),
        "plot_move, probs, reveal": lesson.plot_move(w.e, w.y, w.traj, 0, probs=w.probs, reveal=True, **move),
        "plot_probs": lesson.plot_probs(w.probs, w.y),
        "plot_walks": lesson.plot_walks(w.e, w.y, w.walks, w.off),
        "plot_picks": lesson.plot_picks(w.picks),
        "plot_class_counts": lesson.plot_class_counts(w.picks, seed=0),
        "plot_race": lesson.plot_race(w.race, names={"snn": "snn short"}),
    }


def _figure_legend_hits(fig) -> list[str]:
    """What any legend of ``fig`` (an axes' own or a figure legend) covers of any axes' data."""
    hits = [f"{h} (legend of axes {i})" for i, ax in enumerate(fig.axes) if ax.get_legend() for h in _legend_hits(ax)]
    for legend in fig.legends:
        hits += [f"{h} (figure legend, axes {i})" for i, ax in enumerate(fig.axes) for h in _legend_hits(ax, legend)]
    return hits


def test_every_lesson_figure_reads_from_the_back_row(lesson_world):
    """The lesson is projected too: the same 16 px floor as the paper notebooks' figures."""
    small = {}
    for name, fig in _lesson_figures(lesson_world).items():
        px, text = _smallest_text_px(fig)
        if px < MIN_TEXT_PX:
            small[name] = f"{text!r} is {px:.1f} px at the size shown"
    assert small == {}, small


def test_the_lessons_legends_cover_no_data(lesson_world):
    """Every legend of every lesson figure, bars and the counts over them included."""
    figs = _lesson_figures(lesson_world)
    for name in ("plot_walks", "plot_class_counts", "plot_race"):
        assert any(ax.get_legend() for ax in figs[name].axes) or figs[name].legends, f"{name}: no legend"
    hits = {name: h for name, fig in figs.items() if (h := _figure_legend_hits(fig))}
    assert hits == {}, hits


def _drawn_texts(fig) -> list:
    """The texts ``fig`` draws, with their boxes (display coords): tick labels only where a tick is in view."""
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    renderer = _renderer(fig)
    hidden = set()
    for axis in fig.findobj(Axis):
        lo, hi = sorted(axis.get_view_interval())
        tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            if not lo - tol <= tick.get_loc() <= hi + tol:
                hidden |= {id(tick.label1), id(tick.label2)}
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    return [(t, t.get_window_extent(renderer)) for t in texts]


def test_no_lesson_figure_has_text_over_text_or_past_its_edge(lesson_world):
    """Bar counts, tick labels, titles and legends stand apart, and none is cut at the edge of the PNG
    the lesson saves (``path=``: the whole figure)."""
    import itertools

    bad = {}
    for name, fig in _lesson_figures(lesson_world).items():
        boxes = _drawn_texts(fig)
        over = [
            (a.get_text(), b.get_text()) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)
        ]
        edge = fig.bbox  # the PNG the lesson saves (path=) is the whole figure, no tight box
        cut = [t.get_text() for t, b in boxes if not (edge.x0 - 1 <= b.x0 and b.x1 <= edge.x1 + 1)]
        cut += [t.get_text() for t, b in boxes if not (edge.y0 - 1 <= b.y0 and b.y1 <= edge.y1 + 1)]
        if over or cut:
            bad[name] = {"overlapping": over, "cut": cut}
    assert bad == {}, bad


def _count_table(runs: int, scale: int):
    """Pick rows of ``runs`` runs whose last round holds ``scale`` x (1..10) items per class."""
    import pandas as pd

    names = ["random", "snn", "entropy", "snn-random-dir", "margin", "badge"][:runs]
    rows = []
    for run in names:
        for t in (1, 2):
            counts = np.arange(1, 11) * scale * t // 2
            rows.append({"run": run, "strategy": run, "seed": 0, "round": t, "n_labelled": int(counts.sum()),
                         **{f"class{k}": int(c) for k, c in enumerate(counts)}})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("runs,scale", [(2, 3), (3, 30), (4, 30), (6, 120)])
def test_class_counts_stay_apart_for_many_runs_and_large_counts(runs, scale):
    """Three-digit counts and four or more runs: every count readable, none over another or cut,
    every count still shown (a 0 too), each run in its own colour, at the 16 px floor."""
    import itertools

    table = _count_table(runs, scale)
    fig = lesson.plot_class_counts(table, seed=0)
    boxes = _drawn_texts(fig)
    over = [(a.get_text(), b.get_text()) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]
    assert over == []
    renderer = _renderer(fig)
    counts = [t for ax in fig.axes for t in ax.texts]
    assert len(counts) == 10 * runs
    for ax in fig.axes:  # each count inside its axes, above its bar
        box = ax.get_window_extent(renderer)
        for t in ax.texts:
            b = t.get_window_extent(renderer)
            assert box.y0 <= b.y0 and b.y1 <= box.y1 + 0.5, t.get_text()
    last = table[table["round"] == 2]
    shown = [int(t.get_text()) for t in counts]
    assert shown == [int(v) for _, r in last.iterrows() for v in r[[f"class{k}" for k in range(10)]]]
    px, text = _smallest_text_px(fig)
    assert px >= MIN_TEXT_PX, f"{text!r} is {px:.1f} px"
    assert len({to_hex_first(ax) for ax in fig.axes}) == (1 if runs <= 3 else runs)


def to_hex_first(ax) -> str:
    from matplotlib.colors import to_hex

    return to_hex(ax.patches[0].get_facecolor())


def test_a_long_curve_title_wraps_inside_the_saved_png():
    """A title wider than the room over the axes (the legend sits right of them) wraps; none is cut."""
    long = "MNIST, LeNet, 300 + 300 labels per round (every setting chosen on a validation split, 5 seeds)"
    fig = report.plot_learning_curves(_rows(["random", "snn", "snn-random-dir"], (0, 1)), title=long)
    renderer = _renderer(fig)
    box, edge = fig.axes[0].title.get_window_extent(renderer), fig.bbox
    assert edge.x0 <= box.x0 and box.x1 <= edge.x1
    assert fig.axes[0].title.get_text().count("\n") >= 2  # wrapped, and the seeds line kept
    assert "seeds" in fig.axes[0].title.get_text().split("\n")[-1]
