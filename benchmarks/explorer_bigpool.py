"""The explorer with a pool of a million items, served: the map's first paint, and its redraw after a pan or a zoom.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/explorer_bigpool.py                 # MNIST x 1,000,000
    .venv/bin/python benchmarks/explorer_bigpool.py --dataset digits --n 20000 --out /tmp/x   # smoke
    .venv/bin/python benchmarks/explorer_bigpool.py --tree /tmp/main --label before   # another checkout's code
    .venv/bin/python benchmarks/explorer_bigpool.py --table

Issue 22, item 4: "a pool of 1,000,000 items ... the explorer draws it ... with pan/zoom staying
interactive (< 500 ms)". ``bigpool_render.py`` measured :class:`latentlab.widgets.bigpool.RasterLayer`
alone on a bare figure; this measures it inside the explorer's page.

**The server** (a child process, so its memory is its own): the pool of ``million_pool.py`` (the data
set's training images replicated to ``--n`` items with seeded pixel jitter, written once and opened
memory-mapped), encoded by the default generator (the cache or the shipped weights), registered as the
data set ``<dataset>-x<n>`` and put in the explorer's shared resources
(:func:`latentlab.explorer_run.load_resources`' cache, as a first session's load leaves it); then
``pn.serve`` on 127.0.0.1 serves one :class:`~latentlab.widgets.LatentExplorer` per session, its
state loaded (``ExplorerState(dataset=...).load()``: the run, no round yet). The map is the
explorer's own (560 x 640, plain canvas); above ``max_points`` the pool is the ``pool_raster``
image, re-binned by the server on every ``RangesUpdate``. The server logs, per redraw, when the
event arrived, the image's time (:meth:`latentlab.raster.PointRaster.image`: binning and shading;
in a tree from before it, :func:`~latentlab.raster.rasterize` + :func:`~latentlab.raster.shade`) and
when its callback returned.

**The browser**: Debian's headless Chromium (Playwright, ``/usr/bin/chromium``) opens the page;
*first paint* is from navigation start to the second animation frame after the ``pool_raster``
image arrived in the page's Bokeh document. Then ``--moves`` interactions on the map's canvas,
alternating a wheel zoom (one wheel event; in for the first half, out for the second) and a drag
(60 x 40 px), 0.3 s apart. Each is timed in the page's clock from the input event (the ``wheel``
event, or the drag's ``pointerup``) to the second animation frame after the ``pool_raster``
source's data changed (the frame Bokeh painted the new image in, plus one; conservative by up to a
frame), and split with the server's log (epoch clocks of the same machine) into: input -> server
(the wheel's ``lod_timeout``, the websocket), the image (bin + shade), server -> page (Bokeh's serialisation,
the transfer, the page applying it), page -> painted. Each new image is checked to cover the
visible box. Memory: the server's peak RSS (``VmHWM``, which counts the mapped pool's file pages)
and peak anonymous RSS (sampled every 50 ms), over setup and over the interactions.
Raw results: ``benchmarks/results/perf/explorer_bigpool/<minute>-<dataset>-n<n>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, ROOT, arguments, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "explorer_bigpool"

# the explorer's glyph named `name` in any Bokeh document of the page (null: not there yet)
FIND_JS = """(name) => { for (const doc of (window.Bokeh && Bokeh.documents) || []) {
  const r = doc.get_model_by_name(name); if (r) return r; } return null; }"""
# the pool_raster source's columns, a Map or an object after Bokeh's version
IMAGE_JS = f"""() => {{ const r = ({FIND_JS})('pool_raster'); if (!r) return null;
  const d = r.data_source.data; const g = k => (d instanceof Map ? d.get(k) : d[k]);
  const im = g('image'); if (!im || im.length === 0) return null;
  return {{x: g('x')[0], y: g('y')[0], dw: g('dw')[0], dh: g('dh')[0], n: im.length}}; }}"""
# the visible box of the figure holding pool_raster
RANGES_JS = f"""() => {{ const r = ({FIND_JS})('pool_raster');
  for (const doc of Bokeh.documents) for (const m of doc.all_models)
    if (m.renderers && m.renderers.includes && m.renderers.includes(r))
      return [m.x_range.start, m.x_range.end, m.y_range.start, m.y_range.end];
  return null; }}"""
# stamps of one interaction in window.__bp.cur: input (wheel / pointerup), data (pool_raster changed), paint
PROBE_JS = f"""() => {{ if (window.__bp) return; const bp = window.__bp = {{cur: null}};
  for (const ev of ['wheel', 'pointerup'])
    document.addEventListener(ev, () => {{ if (bp.cur) bp.cur.input = performance.now(); }}, true);
  const src = ({FIND_JS})('pool_raster').data_source;
  const seen = () => {{ const t = bp.cur; if (!t || t.input === undefined || t.data !== undefined) return;
    t.data = performance.now();
    requestAnimationFrame(() => requestAnimationFrame(() => {{ t.paint = performance.now(); }})); }};
  for (const s of [src.change, src.streaming, src.patching, src.properties.data.change]) s.connect(seen); }}"""
FIRST_PAINT_JS = """async () => { await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now(); }"""


def parse_args(argv=None):
    ap = arguments(__doc__, OUT)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--moves", type=int, default=12, help="interactions: wheel zooms and drags, alternating")
    ap.add_argument("--label", default="", help="what this run measures (a change's name), shown in the table")
    ap.add_argument("--tmp", default=None, help="folder for the pool file (default: a temporary folder)")
    ap.add_argument("--tree", default=str(ROOT), help="the checkout whose latentlab the server imports (a before)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)  # the server's own run: its folder
    return ap.parse_args(argv)


# ---------------------------------------------------------------------------- the server (child)
def serve(a) -> None:
    """Build the pool, register it, serve the explorer; write ``ready.json`` (port, setup times) and log redraws."""
    import dataclasses

    import panel as pn

    import latentlab.raster as raster
    from latentlab import GeneratorConfig, get_generator, set_thread_policy
    from latentlab.datasets import load_dataset, register_dataset
    from latentlab.explorer_run import _RESOURCES
    from latentlab.explorer_state import ExplorerState
    from latentlab.latent import LatentSpace
    from latentlab.widgets import LatentExplorer
    from latentlab.widgets.bigpool import RasterLayer
    from million_pool import build_pool

    set_thread_policy(1)
    folder = Path(a.child)
    t: dict = {}
    base = load_dataset(a.dataset, root=a.data_root)
    gen = get_generator(base, GeneratorConfig(), seed=0, progress=False)
    w = time.perf_counter()
    x_pool, y_pool = build_pool(base, a.n, folder)
    t["write_pool_s"] = time.perf_counter() - w
    name = f"{base.name}-x{a.n}"
    ds = dataclasses.replace(base, name=name, x_train=x_pool, y_train=y_pool)
    w = time.perf_counter()
    latent = LatentSpace.from_generator(gen, ds.x_train)
    t["encode_and_index_s"] = time.perf_counter() - w
    register_dataset(name)(lambda root=None, **kw: ds)
    # what load_resources(name, ...) keeps after a first session's load: every session shares it
    _RESOURCES[(name, None, GeneratorConfig(), 0, None, None)] = (ds, latent)

    log = open(folder / "server.jsonl", "a", buffering=1)
    last: dict = {}

    def clocked(fn, key):
        def run(*args, **kw):
            s = time.perf_counter()
            out = fn(*args, **kw)
            last[key] = 1e3 * (time.perf_counter() - s)
            return out

        return run

    if hasattr(raster, "PointRaster"):  # the image of a redraw, and its part that finds each point's pixel
        raster.PointRaster.image = clocked(raster.PointRaster.image, "raster_ms")
        raster.PointRaster._pixels = clocked(raster.PointRaster._pixels, "pixels_ms")
    else:  # a tree from before it: per-class counts, then shading
        raster.rasterize = clocked(raster.rasterize, "bin_ms")
        raster.shade = clocked(raster.shade, "shade_ms")
    on_ranges = RasterLayer._on_ranges

    def logged(self, event):
        last.clear()
        t_in = 1e3 * time.time()
        on_ranges(self, event)
        log.write(json.dumps({"t_in": t_in, "t_out": 1e3 * time.time(), **last}) + "\n")

    RasterLayer._on_ranges = logged

    def app():
        w = time.perf_counter()
        ex = LatentExplorer(ExplorerState(dataset=name).load())
        log.write(json.dumps({"session_s": time.perf_counter() - w}) + "\n")
        return ex

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = pn.serve({"/": app}, port=port, address="127.0.0.1", show=False, start=False)
    import latentlab.widgets as lw

    where = {"latentlab": str(Path(raster.__file__).parent), "widgets": str(Path(lw.__file__).parent)}
    (folder / "ready.json").write_text(json.dumps({"port": port, "seconds": t, "pid": os.getpid(), "imported": where}))
    server.start()
    server.io_loop.start()


# ---------------------------------------------------------------------------- the browser (parent)
def _status(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) / 2**20  # GiB
    return out


class Sampler:
    """The child's status every 50 ms: peak anonymous RSS since the last :meth:`mark` (GiB)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.last = pid, 0.0, {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.last = _status(self.pid)
            except OSError:
                return
            self.peak = max(self.peak, self.last.get("RssAnon", 0.0))
            time.sleep(0.05)

    def mark(self) -> dict:
        out = {"peak_anon_gib": self.peak, **{k + "_gib": v for k, v in _status(self.pid).items()}}
        self.peak = 0.0
        return out

    def stop(self):
        self._stop.set()
        self._t.join()


def _map_canvas(page):
    """The largest canvas on the page: the map (560 x 640; the side figures are smaller)."""
    boxes = [c.bounding_box() for c in page.locator("canvas").all()]
    return max((b for b in boxes if b), key=lambda b: b["width"] * b["height"])


def _server_log(folder: Path) -> list[dict]:
    return [json.loads(s) for s in (folder / "server.jsonl").read_text().splitlines() if s.strip()]


def drive(page, moves: int, folder: Path) -> list[dict]:
    """Wheel zooms and drags on the map; per interaction its kind, the stamps (ms) and the server's split."""
    box = _map_canvas(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(PROBE_JS)
    origin = page.evaluate("() => performance.timeOrigin")
    out = []
    for i in range(moves):
        kind = "zoom" if i % 2 == 0 else "pan"
        n_log = len(_server_log(folder))
        before = page.evaluate(IMAGE_JS)
        page.evaluate("() => { window.__bp.cur = {}; }")
        page.mouse.move(cx, cy)
        if kind == "zoom":
            page.mouse.wheel(0, -240 if i < moves // 2 else 240)
        else:
            page.mouse.down()
            page.mouse.move(cx + 60, cy + 40, steps=6)
            page.mouse.up()
        page.wait_for_function("() => window.__bp.cur.paint !== undefined", timeout=60_000)
        st = page.evaluate("() => window.__bp.cur")
        img, rng = page.evaluate(IMAGE_JS), page.evaluate(RANGES_JS)
        box_ok = all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(
            (img["x"], img["x"] + img["dw"], img["y"], img["y"] + img["dh"]), rng))  # fmt: skip
        time.sleep(0.3)  # the server's log line is written after its callback returned
        logs = [r for r in _server_log(folder)[n_log:] if "t_in" in r]
        rec = {
            "kind": kind,
            "ms": st["paint"] - st["input"],
            "data_ms": st["data"] - st["input"],
            "paint_ms": st["paint"] - st["data"],
            "image_covers_view": box_ok,
            "image_changed": img != before,
            "server_redraws": len(logs),
        }
        if logs:
            s = logs[-1]
            t_input, t_data = origin + st["input"], origin + st["data"]
            rec |= {
                "to_server_ms": s["t_in"] - t_input,
                # the image: binning and shading (one PointRaster.image, or rasterize + shade before it)
                "raster_ms": s["raster_ms"] if "raster_ms" in s else s.get("bin_ms", 0) + s.get("shade_ms", 0),
                "bin_ms": s.get("bin_ms"),
                "shade_ms": s.get("shade_ms"),
                "pixels_ms": s.get("pixels_ms"),
                "callback_ms": s["t_out"] - s["t_in"],
                "to_page_ms": t_data - s["t_out"],
            }
        out.append(rec)
        print(i, kind, {k: (round(v) if isinstance(v, float) else v) for k, v in rec.items()}, flush=True)
    return out


def measure(a) -> dict:
    from playwright.sync_api import sync_playwright

    from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS

    tree = Path(a.tree).resolve()
    git = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    meta = run_meta(dataset=a.dataset, n=a.n, moves=a.moves, label=a.label, tree=str(tree), commit=git.stdout.strip())
    with tempfile.TemporaryDirectory(prefix="latentlab-explorer-bigpool-", dir=a.tmp) as tmp:
        folder = Path(tmp)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tmp, "--dataset", a.dataset,
               "--data-root", a.data_root, "--n", str(a.n)]  # fmt: skip
        # the server imports latentlab (and its widgets/) from --tree; this script's helpers stay this tree's
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
        log = open(folder / "child.log", "w")
        child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = Sampler(child.pid)
        try:
            w = time.perf_counter()
            while not (folder / "ready.json").exists():
                if child.poll() is not None:
                    raise RuntimeError(f"the server exited ({child.returncode}):\n{(folder / 'child.log').read_text()}")
                time.sleep(0.2)
            ready = json.loads((folder / "ready.json").read_text())
            setup = {"wall_s": time.perf_counter() - w, **ready["seconds"], **sampler.mark()}
            meta["imported"] = ready["imported"]  # where the server's latentlab came from (--tree)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(f"http://127.0.0.1:{ready['port']}/", timeout=300_000)
                page.wait_for_function(f"() => ({IMAGE_JS})() !== null", timeout=300_000)
                first = page.evaluate(FIRST_PAINT_JS)
                page.wait_for_timeout(1000)  # the page settles (side figures, readout)
                first_mem = sampler.mark()
                moves = drive(page, a.moves, folder)
                heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize / 2**20 : null")
                browser.close()
            moves_mem = sampler.mark()
            sessions = [r["session_s"] for r in _server_log(folder) if "session_s" in r]
        finally:
            sampler.stop()
            child.terminate()
            child.wait(30)
            log.close()
    return finish_meta(
        {
            **meta,
            "setup": setup,
            "first_paint_ms": first,
            "session_s": sessions,
            "first_paint_memory": first_mem,
            "moves": moves,
            "moves_memory": moves_mem,
            "page_js_heap_mib": heap,
            "server_peak_rss_gib": moves_mem["VmHWM_gib"],
        }
    )


# ---------------------------------------------------------------------------- the table
def _stats(v) -> str:
    import numpy as np

    v = np.asarray([x for x in v if x is not None], float)
    return f"{np.median(v):.0f}, {np.percentile(v, 90):.0f}" if len(v) else "-"


def table(out: Path = OUT) -> str:
    import numpy as np

    head = [
        "| date | run | pool | first paint ms | zoom redraw ms (median, p90) | pan redraw ms (median, p90) "
        "| of which (median ms): to server / image / to page / paint | server peak RSS GiB "
        "| server peak anonymous GiB (setup / first page / pan-zoom) | load |",
        "|---|---|---:|---:|---:|---:|---|---:|---|---|",
    ]

    def row(r):
        mv = r["moves"]

        def med(k):
            v = [m[k] for m in mv if m.get(k) is not None]
            return f"{np.median(v):.0f}" if v else "-"

        for m in mv:  # runs from before raster_ms was recorded: binning + shading
            m.setdefault("raster_ms", (m.get("bin_ms") or 0) + (m.get("shade_ms") or 0))
        split = " / ".join(med(k) for k in ("to_server_ms", "raster_ms", "to_page_ms", "paint_ms"))
        return [
            f"| {r['date']} | {r.get('label', 'main (88faa7c)') or '-'} | {r['dataset']} x {r['n']:,} "
            f"| {r['first_paint_ms']:.0f} "
            f"| {_stats(m['ms'] for m in mv if m['kind'] == 'zoom')} "
            f"| {_stats(m['ms'] for m in mv if m['kind'] == 'pan')} | {split} "
            f"| {r['server_peak_rss_gib']:.2f} "
            f"| {r['setup']['peak_anon_gib']:.2f} / {r['first_paint_memory']['peak_anon_gib']:.2f} "
            f"/ {r['moves_memory']['peak_anon_gib']:.2f} "
            f"| {r['load_before'][0]} -> {r['load_after'][0]} |"
        ]

    def foot(rows):
        m = rows[0]["machine"]
        return (
            "\n\nServed (pn.serve, 127.0.0.1), headless Chromium (software rendering, --disable-gpu); the server "
            f"on one torch thread; {m['cpu']} ({m['cores']} cores), {m['mem_gb']} GiB. Redraw: input event to the "
            "frame after the new image; p90 of the zooms and of the drags each.\n"
        )

    return results_table(out, head, row, foot)


def main(argv=None):
    a = parse_args(argv)
    if a.child:
        serve(a)
        return
    measure_or_table(a, table, lambda: [(f"{a.dataset}-n{a.n}", measure(a))])


if __name__ == "__main__":
    main()
