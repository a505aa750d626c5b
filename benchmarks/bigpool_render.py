"""A million pool codes in the browser: Bokeh's WebGL scatter against a server-side raster (issue 22, item 4).

    .venv/bin/python benchmarks/bigpool_render.py                 # 1,000,000 points
    .venv/bin/python benchmarks/bigpool_render.py --n 20000 --out /tmp/x   # smoke
    .venv/bin/python benchmarks/bigpool_render.py --table

The points: the digits pool's 2-D codes (the default generator, from the cache or the shipped
weights) replicated with seeded Gaussian jitter (2 % of their spread) to ``--n`` items, with their classes.
Both views are a 600 x 600 figure with pan and wheel-zoom, opened in headless Chromium (Playwright, the
system ``/usr/bin/chromium``), and driven by real mouse input:

* **webgl**: ``scatter`` of all points, ``output_backend="webgl"``, colours by class through a
  linear colour map (a standalone HTML page: no server);
* **raster**: :class:`latentlab.widgets.bigpool.RasterLayer` (``latentlab.raster``) on a Panel server
  on 127.0.0.1: each pan/zoom end sends the new ranges, the server bins the points into a 600 x 600
  image and sends it back.

Measured (milliseconds, in the page's clock): the first paint after load, and for 4 wheel zooms and 4
drags the time from the input event to the frame after the new picture (WebGL: three animation frames
after the event, i.e. the repaint; raster: the new image's arrival plus two frames). Raw results:
``benchmarks/results/perf/bigpool_render/<date>-n<n>.json``.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, arguments, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "bigpool_render"
FRAMES = "(n) => new Promise(r => { const f = k => k ? requestAnimationFrame(() => f(k - 1)) : r(); f(n); })"


def parse_args(argv=None):
    ap = arguments(__doc__, OUT, dataset=False)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--views", default="raster,webgl")
    return ap.parse_args(argv)


def make_points(n: int):
    import numpy as np

    from latentlab import GeneratorConfig, encode, get_generator, load_dataset

    ds = load_dataset("digits")
    z = encode(get_generator(ds, GeneratorConfig(), seed=0, progress=False), ds.x_train)
    rng = np.random.default_rng(0)
    rep = np.resize(np.arange(len(z)), n)
    pts = (z[rep] + rng.normal(0, 0.02, (n, 2)) * z.std(0)).astype(np.float32)
    return pts, ds.y_train[rep].astype(np.int64)


def _figure(webgl: bool):
    from bokeh.plotting import figure

    return figure(
        width=600,
        height=600,
        tools="pan,wheel_zoom,reset",
        active_scroll="wheel_zoom",
        active_drag="pan",
        output_backend="webgl" if webgl else "canvas",
        name="fig",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WHEEL_LISTEN = """() => { window.__t0 = 0;
  for (const ev of ['wheel', 'pointerup', 'mouseup'])
    document.addEventListener(ev, () => { window.__t0 = performance.now(); }, {capture: true}); }"""

WAIT_WEBGL = f"""async () => {{ await ({FRAMES})(3); return performance.now() - window.__t0; }}"""

WAIT_RASTER = f"""async (x0) => {{
  const src = Bokeh.documents[0].get_model_by_name('bigpool-source');
  const start = performance.now();
  while (src.data.x[0] === x0 && performance.now() - start < 15000) await ({FRAMES})(1);
  if (src.data.x[0] === x0) return -1;
  await ({FRAMES})(2); return performance.now() - window.__t0; }}"""


def drive(page, raster: bool) -> dict:
    """Wheel zooms and drags on the figure's canvas; milliseconds per interaction."""
    box = page.locator("canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(WHEEL_LISTEN)
    out = {"zoom": [], "pan": []}
    src_x = "() => Bokeh.documents[0].get_model_by_name('bigpool-source').data.x[0]"
    for i in range(8):
        kind = "zoom" if i % 2 == 0 else "pan"
        x0 = page.evaluate(src_x) if raster else None
        page.mouse.move(cx, cy)
        if kind == "zoom":
            page.mouse.wheel(0, -240 if i < 4 else 240)
        else:
            page.mouse.down()
            page.mouse.move(cx + 60, cy + 40, steps=6)
            page.mouse.up()
        ms = page.evaluate(WAIT_RASTER, x0) if raster else page.evaluate(WAIT_WEBGL)
        out[kind].append(ms)
        time.sleep(0.3)
    return out


def run_webgl(pw, pts, labels) -> dict:
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource
    from bokeh.palettes import Category10
    from bokeh.resources import INLINE
    from bokeh.transform import linear_cmap

    fig = _figure(webgl=True)
    src = ColumnDataSource({"x": pts[:, 0], "y": pts[:, 1], "label": labels.astype("float32")})
    fig.scatter("x", "y", source=src, size=2, line_color=None, color=linear_cmap("label", Category10[10], 0, 9))
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "webgl.html"
        html.write_text(file_html(fig, INLINE, "webgl"))
        browser, page = _open_page(pw)
        t0 = time.perf_counter()
        page.goto(html.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=120_000)
        page.wait_for_selector("canvas", timeout=120_000)
        page.evaluate(f"() => ({FRAMES})(3)")
        first = (time.perf_counter() - t0) * 1e3
        res = {"first_paint_ms": first, "html_mb": html.stat().st_size / 1e6, **drive(page, raster=False)}
        browser.close()
    return res


def _open_page(pw):
    """Debian's Chromium with the widget tests' flags (latentlab.widgets.browser), and one 800 x 700 page."""
    from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS

    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return browser, browser.new_page(viewport={"width": 800, "height": 700})


def run_raster(pw, pts, labels) -> dict:
    import panel as pn

    from latentlab.raster import raster_image
    from latentlab.widgets.bigpool import RasterLayer

    box = (float(pts[:, 0].min()), float(pts[:, 0].max())), (float(pts[:, 1].min()), float(pts[:, 1].max()))
    raster_image(pts, labels, *box)  # warm
    t = time.perf_counter()
    raster_image(pts, labels, *box)
    one = (time.perf_counter() - t) * 1e3
    port = _free_port()
    layers = []

    def app():
        fig = _figure(webgl=False)
        layers.append(RasterLayer(fig, pts, labels))
        return pn.pane.Bokeh(fig)

    server = pn.serve(app, port=port, address="127.0.0.1", threaded=True, show=False)
    try:
        browser, page = _open_page(pw)
        t0 = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function(
            "() => window.Bokeh && Bokeh.documents.length > 0"
            " && Bokeh.documents[0].get_model_by_name('bigpool-source')",
            timeout=120_000,
        )
        page.wait_for_selector("canvas", timeout=120_000)
        page.evaluate(f"() => ({FRAMES})(3)")
        first = (time.perf_counter() - t0) * 1e3
        res = {"first_paint_ms": first, "server_raster_ms": one, **drive(page, raster=True)}
        browser.close()
    finally:
        del server  # kill_all_servers stops it
        pn.state.kill_all_servers()
    return res


def table(out: Path = OUT) -> str:
    import numpy as np

    head = [
        "| date | points | view | first paint ms | zoom redraw ms (median, max) | pan redraw ms (median, max) "
        "| one server raster ms | load |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]

    def row(r):
        lines = []
        for view, v in sorted(r["views"].items()):
            z, p = np.array(v["zoom"]), np.array(v["pan"])
            lines.append(
                f"| {r['date']} | {r['n']:,} | {view} | {v['first_paint_ms']:.0f} | {np.median(z):.0f}, {z.max():.0f} "
                f"| {np.median(p):.0f}, {p.max():.0f} | {v.get('server_raster_ms', float('nan')):.0f} "
                f"| {r['load_before'][0]} -> {r['load_after'][0]} |"
            )
        return lines

    def foot(rows):
        return f"\n\nHeadless Chromium (software rendering, --disable-gpu); {rows[0]['machine']['cpu']}.\n"

    return results_table(out, head, row, foot)


def measure(a) -> dict:
    from playwright.sync_api import sync_playwright

    pts, labels = make_points(a.n)
    meta = run_meta(n=a.n)
    views = {}
    with sync_playwright() as pw:
        for v in a.views.split(","):
            views[v] = (run_raster if v == "raster" else run_webgl)(pw, pts, labels)
            print(v, {k: (round(x) if isinstance(x, float) else x) for k, x in views[v].items()}, flush=True)
    return finish_meta({**meta, "views": views})


def main(argv=None):
    a = parse_args(argv)
    measure_or_table(a, table, lambda: [(f"n{a.n}", measure(a))])


if __name__ == "__main__":
    main()
