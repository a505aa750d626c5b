"""Explorer timings: server-side Step (gradient + neighbours + data-source update), click-to-redraw
in headless Chromium, first paint, and Run round's click-to-busy (spinner on, buttons disabled).
Run with ``nice -n 10 .venv/bin/python benchmarks/bench_widgets.py``.

Prints a markdown table (for BENCHMARKS.md) and writes ``--out`` JSON. Uses the cached default
generators (digits; MNIST from ``--data-root``, skipped when its files are absent).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from latentlab.widgets.browser import CHROMIUM
from latentlab.widgets.browser import CHROMIUM_ARGS as ARGS

COUNT_JS = """(name) => { for (const doc of (window.Bokeh && Bokeh.documents) || []) {
  const r = doc.get_model_by_name(name); if (r) { const d = r.data_source.data;
  const x = d instanceof Map ? d.get(d.keys().next().value) : d[Object.keys(d)[0]]; return x ? x.length : 0; } }
  return -1; }"""
# in-page clock: press (capturing click listener) -> trajectories source changed -> next animation frame
# (Bokeh paints in the frame it requested on the change, before this callback)
PROBE_JS = """() => { window.__t = {};
  document.addEventListener('click', () => { window.__t = {click: performance.now()}; }, true);
  const r = Bokeh.documents[0].get_model_by_name('trajectories');
  r.data_source.change.connect(() => { window.__t.change = performance.now();
    requestAnimationFrame(() => { window.__t.paint = performance.now(); }); }); }"""
# in-page clock for Run round: press -> the Run round button's model turns disabled (the busy state)
# -> the next animation frame (painted), and -> enabled again (the round is over)
BUSY_PROBE_JS = """() => { window.__b = {};
  document.addEventListener('click', () => { window.__b = {click: performance.now()}; }, true);
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.label === 'Run round') m.properties.disabled.change.connect(() => {
      if (m.disabled) { window.__b.busy = performance.now();
                        requestAnimationFrame(() => { window.__b.busy_paint = performance.now(); }); }
      else { window.__b.done = performance.now(); } }); } }"""
VERTS_JS = """() => { const r = Bokeh.documents[0].get_model_by_name('trajectories'); const d = r.data_source.data;
  const xs = d instanceof Map ? d.get('xs') : d.xs; return xs.reduce((a, b) => a + b.length, 0); }"""


def server_step(settings: dict, n: int) -> dict:
    """Median/p90 ms of one Step click on a document-attached view (gradient + NN + source update)."""
    import panel as pn

    from latentlab.explorer_state import ExplorerState
    from latentlab.widgets import LatentExplorer

    t0 = time.perf_counter()
    state = ExplorerState(**settings).load()
    load_s = time.perf_counter() - t0
    view = LatentExplorer(state)
    pn.panel(view).get_root()  # attach to a Bokeh document: updates produce real change events
    t0 = time.perf_counter()
    view.b_round.clicks += 1
    round_s = time.perf_counter() - t0
    if state.error:
        raise RuntimeError(state.error)
    ts, core = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        view.b_step.clicks += 1
        ts.append(1e3 * (time.perf_counter() - t0))
        core.append(1e3 * state.timings["step"])
        if state.error:
            raise RuntimeError(state.error)
    return {
        "pool": len(state.data.x_train),
        "J": state.per_round,
        "load_s": load_s,
        "round_s": round_s,
        "step_ms_median": statistics.median(ts),
        "step_ms_p90": float(np.percentile(ts, 90)),
        "state_step_ms_median": statistics.median(core),
    }


def browser(settings: dict, n: int) -> dict:
    import panel as pn
    from playwright.sync_api import sync_playwright

    from latentlab.widgets.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    create_app(**settings)  # warm the shared data/generator cache: first paint measures the page, not training
    server = pn.serve(lambda: create_app(**settings), port=port, address="127.0.0.1", threaded=True, show=False)
    time.sleep(1.0)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = b.new_context(viewport={"width": 1500, "height": 900}).new_page()
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            # the pool is drawn as points (small pools) or as one raster image (large pools)
            page.wait_for_function(
                f"() => ({COUNT_JS})('pool') > 0 || ({COUNT_JS})('pool_raster') > 0", timeout=120_000
            )
            page.wait_for_timeout(0)
            first_paint = time.perf_counter() - t0
            page.evaluate(BUSY_PROBE_JS)
            busy, busy_paint, rounds = [], [], []
            for _ in range(2):  # the first round (from the initial set), then one more
                page.get_by_role("button", name="Run round").click()
                page.wait_for_function("() => window.__b && window.__b.done !== undefined", timeout=300_000)
                t = page.evaluate("() => window.__b")
                busy.append(t["busy"] - t["click"])
                busy_paint.append(t["busy_paint"] - t["click"])
                rounds.append(t["done"] - t["click"])
            page.wait_for_function(f"() => ({COUNT_JS})('points') > 0", timeout=120_000)
            page.evaluate(PROBE_JS)
            ts, inpage, to_change = [], [], []
            for _ in range(n):
                v = page.evaluate(VERTS_JS)
                t0 = time.perf_counter()
                page.get_by_role("button", name="Step", exact=True).click()
                page.wait_for_function(f"() => ({VERTS_JS})() > {v}", polling="raf", timeout=30_000)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")  # one frame painted
                ts.append(1e3 * (time.perf_counter() - t0))
                page.wait_for_function("() => window.__t && window.__t.paint !== undefined", timeout=30_000)
                t = page.evaluate("() => window.__t")
                inpage.append(t["paint"] - t["click"])
                to_change.append(t["change"] - t["click"])
            page.screenshot(path="/tmp/bench_widgets.png")
            b.close()
    finally:
        pn.state.kill_all_servers()  # stops `server` too (stopping it twice raises)
    return {
        "first_paint_s": first_paint,
        "round_click_to_busy_ms": busy,
        "round_click_to_busy_paint_ms": busy_paint,
        "round_click_to_done_ms": rounds,
        "click_to_redraw_ms_median": statistics.median(ts),
        "inpage_click_to_paint_ms_median": statistics.median(inpage),
        "inpage_click_to_paint_ms_p90": float(np.percentile(inpage, 90)),
        "inpage_click_to_data_ms_median": statistics.median(to_change),
        "click_to_redraw_ms_p90": float(np.percentile(ts, 90)),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default="/work/shared/data")
    ap.add_argument("--n", type=int, default=15, help="Steps timed per case")
    ap.add_argument("--per-round", type=int, default=20, help="sampling points (the paper's J)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: stable on a shared machine)")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-server", action="store_true", help="browser timings only")
    ap.add_argument("--only", choices=["digits", "mnist"], help="one data set only")
    ap.add_argument("--out", default="benchmarks/results/bench_widgets.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    res = {"load_before": os.getloadavg(), "torch_threads": a.threads}
    base = {"per_round": a.per_round, "compare": False}
    has_mnist = (Path(a.data_root) / "mnist").is_dir()
    digits, has_mnist = a.only != "mnist", has_mnist and a.only != "digits"
    if not a.no_server:
        if digits:
            res["digits"] = server_step({"dataset": "digits", **base}, a.n)
        if has_mnist:
            res["mnist"] = server_step({"dataset": "mnist", "data_root": a.data_root, **base}, a.n)
    if not a.no_browser and Path(CHROMIUM).exists():
        if digits:
            res["browser_digits"] = browser({"dataset": "digits", **base}, a.n)
        if has_mnist:
            res["browser_mnist"] = browser({"dataset": "mnist", "data_root": a.data_root, **base}, max(3, a.n // 3))
    res["load_after"] = os.getloadavg()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(
        f"load average before {res['load_before'][0]:.1f}, after {res['load_after'][0]:.1f} (2 cores); "
        f"torch threads {a.threads}"
    )
    print(
        "| case | Step, server (median / p90) | of which state.step | click-to-paint in page (median / p90) "
        "| click-to-redraw via Playwright (median / p90) | first paint |"
    )
    print("|---|---|---|---|---|---|")
    for k in ("digits", "mnist"):
        r, b = res.get(k), res.get(f"browser_{k}")
        if r is None and b is None:
            continue
        sv = (
            f"{r['step_ms_median']:.1f} / {r['step_ms_p90']:.1f} ms | {r['state_step_ms_median']:.1f} ms"
            if r
            else "– | –"
        )
        br = (
            f"{b['inpage_click_to_paint_ms_median']:.0f} / {b['inpage_click_to_paint_ms_p90']:.0f} ms | "
            f"{b['click_to_redraw_ms_median']:.0f} / {b['click_to_redraw_ms_p90']:.0f} ms | {b['first_paint_s']:.1f} s"
            if b
            else "– | – | –"
        )
        print(f"| {k} (J={a.per_round}) | {sv} | {br} |")
    for k in ("digits", "mnist"):
        b = res.get(f"browser_{k}")
        if b:
            print(
                f"Run round, {k}: click -> busy state (button disabled) "
                f"{', '.join(f'{x:.0f}' for x in b['round_click_to_busy_ms'])} ms, painted "
                f"{', '.join(f'{x:.0f}' for x in b['round_click_to_busy_paint_ms'])} ms; round done "
                f"{', '.join(f'{x / 1e3:.1f}' for x in b['round_click_to_done_ms'])} s"
            )
    return res


if __name__ == "__main__":
    main()
