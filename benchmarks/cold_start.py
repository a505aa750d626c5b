"""From an empty cache to a usable explorer, and to the first map (issue 22, item 1).

    .venv/bin/python benchmarks/cold_start.py                       # digits and MNIST, shipped weights
    .venv/bin/python benchmarks/cold_start.py --no-shipped digits   # the generator trains (default recipe)
    .venv/bin/python benchmarks/cold_start.py vessels                # shipped weights and FEM test labels
    .venv/bin/python benchmarks/cold_start.py --no-shipped vessels   # the VAE trains, the 210 test masks are solved
    .venv/bin/python benchmarks/cold_start.py --table

**Explorer**: ``latentlab explore --dataset D --port P`` is started with a fresh, empty
``LATENTLAB_CACHE``; the clock runs from the start of the process to (a) its "serving on" line,
(b) the first HTTP 200 of the page, and, with ``--browser`` (the default when ``/usr/bin/chromium``
exists; headless Chromium through Playwright), (c) **the first map on screen**: the page's forming
map (the ``forming`` glyph, drawn while the generator trains) or the explorer's pool has points in
the browser, and (d) **a usable explorer**: the explorer's pool is drawn (``pool`` or
``pool_raster``) and its Run round button is there. **First map**: in a fresh interpreter,
the seconds to the first :class:`~latentlab.generative.LatentSnapshot` (the codes of 2,000 pool
items, the picture a view draws while the generator trains) and to the trained, encoded and
indexed latent space (``experiment.prepare``). With the shipped weights there is no training:
the first map is the final one. ``--no-shipped`` sets ``LATENTLAB_SHIPPED_WEIGHTS=0`` and
``LATENTLAB_SHIPPED_LABELS=0`` (vessels: the FEM labels of the test set are solved, as before they shipped).
Raw results: ``benchmarks/results/perf/cold_start/<date>-<dataset>-<mode>.json``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import DATA_ROOT, RESULTS, ROOT, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "cold_start"

FIRST_MAP = r"""
import json, sys, time
t0 = time.perf_counter()
import latentlab
latentlab.set_thread_policy()  # as every latentlab command: one thread unless asked
import dataclasses
from latentlab.experiment import config_from_settings, prepare
from latentlab import generative
first = {}
real = generative.train_generator
def watched(*a, **k):
    def on_epoch(s):
        first.setdefault("first_snapshot_s", time.perf_counter() - t0)
        first["epochs"] = s.epoch
    return real(*a, **{**k, "on_epoch": on_epoch})
generative.train_generator = watched
t_import = time.perf_counter() - t0
cfg = dataclasses.replace(config_from_settings(dataset=sys.argv[1]), strategies=("snn",))  # its own target
ds, space = prepare(cfg, sys.argv[2] or None, progress=False)
t_ready = time.perf_counter() - t0
print(json.dumps({"import_s": t_import, "ready_s": t_ready, "first_map_s": first.get("first_snapshot_s", t_ready),
                  "trained": bool(first), "epochs": first.get("epochs"), "n_pool": len(ds.x_train)}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# JS: whether the glyph renderer called `name` has data in the page (rows of its first column)
HAS_JS = """(names) => { for (const doc of (window.Bokeh && window.Bokeh.documents) || []) for (const n of names) {
  const r = doc.get_model_by_name(n); if (!r) continue; const d = r.data_source.data;
  const c = d instanceof Map ? d.get(d.keys().next().value) : d[Object.keys(d)[0]]; if (c && c.length) return true; }
  return false; }"""


def on_screen(url: str, t0: float, timeout: float) -> dict:
    """Seconds (on the clock started at t0) to the first map in a headless Chromium, and to the explorer."""
    from playwright.sync_api import sync_playwright

    from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS

    out: dict = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url, timeout=int(timeout * 1e3))
        out["page_loaded_s"] = time.perf_counter() - t0
        while time.perf_counter() - t0 < timeout:
            if "first_map_on_screen_s" not in out and page.evaluate(HAS_JS, ["forming", "pool", "pool_raster"]):
                out["first_map_on_screen_s"] = time.perf_counter() - t0
                out["first_map_was"] = "forming" if page.evaluate(HAS_JS, ["forming"]) else "explorer"
            if page.evaluate(HAS_JS, ["pool", "pool_raster"]) and page.get_by_role("button", name="Run round").count():
                out["usable_on_screen_s"] = time.perf_counter() - t0
                break
            time.sleep(0.1)
        b.close()
    return out


def _drain(stream, lines: list, t0: float) -> None:
    for line in stream:
        if len(lines) < 200:
            lines.append([round(time.perf_counter() - t0, 2), line.strip()[:200]])


def explorer(dataset: str, data_root: str, env: dict, timeout: float = 3600, browser: bool = False) -> dict:
    port = _free_port()
    cmd = [sys.executable, "-m", "latentlab", "explore", "--dataset", dataset, "--port", str(port)]
    if dataset != "digits":
        cmd += ["--data-root", data_root]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    res: dict = {"lines": []}
    try:
        for line in p.stdout:
            res["lines"].append([round(time.perf_counter() - t0, 2), line.strip()[:200]])
            if "serving on" in line:
                res["serving_s"] = time.perf_counter() - t0
                break
            if time.perf_counter() - t0 > timeout:
                break
        # keep reading its output: a full pipe would block the explorer's first load (its progress
        # bars write on) and stall what is being timed
        threading.Thread(target=_drain, args=(p.stdout, res["lines"], t0), daemon=True).start()
        while "serving_s" in res and time.perf_counter() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
                    if r.status == 200:
                        res["http_200_s"] = time.perf_counter() - t0
                        break
            except OSError:
                time.sleep(0.1)
        if browser and "http_200_s" in res:
            res.update(on_screen(f"http://127.0.0.1:{port}/", t0, timeout))
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    return res


def run(dataset: str, a) -> dict:
    mode = "no-shipped" if a.no_shipped else "shipped"
    meta = run_meta(dataset=dataset, mode=mode)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LATENTLAB_CACHE": str(Path(tmp) / "c1")}
        if a.no_shipped:
            env["LATENTLAB_SHIPPED_WEIGHTS"] = env["LATENTLAB_SHIPPED_LABELS"] = "0"
        ex = explorer(dataset, a.data_root, env, browser=a.browser)
        if a.no_headless:  # the explorer only (a training run's headless twin takes as long again)
            return finish_meta({**meta, "explorer": ex, "first_map": {"trained": a.no_shipped}})
        env["LATENTLAB_CACHE"] = str(Path(tmp) / "c2")  # empty again for the first-map timing
        p = subprocess.run(
            [sys.executable, "-c", FIRST_MAP, dataset, a.data_root if dataset != "digits" else ""],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if p.returncode:
            sys.exit(p.stderr[-2000:])
        import json

        fm = json.loads(p.stdout.strip().splitlines()[-1])
    return finish_meta({**meta, "explorer": ex, "first_map": fm})


def table(out: Path = OUT) -> str:
    head = [
        "| date | data set | generator | explorer: 'serving' s | explorer: page answers s "
        "| first map on screen s | usable explorer on screen s | first map s (headless) "
        "| latent space ready s | load |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]

    def row(r):
        ex, fm = r["explorer"], r["first_map"]
        gen = "trained (default recipe)" if fm["trained"] else "shipped weights"
        if r["dataset"] == "vessels":  # its first load also needs the test set's FEM labels
            gen += ", test labels solved" if r["mode"] == "no-shipped" else ", shipped test labels"
        pool = f" ({fm['n_pool']:,} pool)" if "n_pool" in fm else ""
        return [
            f"| {r['date']} | {r['dataset']}{pool} | {gen} | {ex.get('serving_s', float('nan')):.1f} "
            f"| {ex.get('http_200_s', float('nan')):.1f} | {_s(ex, 'first_map_on_screen_s')} "
            f"| {_s(ex, 'usable_on_screen_s')} | {_s(fm, 'first_map_s')} | {_s(fm, 'ready_s')} "
            f"| {r['load_before'][0]} -> {r['load_after'][0]} |"
        ]

    return results_table(
        out, head, row, lambda rows: f"\n\nFresh empty cache each time; {rows[0]['machine']['cpu']}.\n"
    )


def _s(d: dict, k: str) -> str:
    return f"{d[k]:.1f}" if k in d else "-"  # runs from before the browser timing have none


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="*", default=["digits", "mnist"])
    ap.add_argument("--data-root", default=str(DATA_ROOT))
    ap.add_argument("--no-shipped", action="store_true", help="LATENTLAB_SHIPPED_WEIGHTS=0: the generator trains")
    ap.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=Path("/usr/bin/chromium").exists(),
        help="time the first map and the usable explorer on screen in headless Chromium (default: when installed)",
    )
    ap.add_argument("--no-headless", action="store_true", help="time the explorer only, not the headless first map")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--table", action="store_true")
    a = ap.parse_args(argv)
    mode = "no-shipped" if a.no_shipped else "shipped"
    measure_or_table(a, table, lambda: ((f"{d}-{mode}", run(d, a)) for d in a.datasets))


if __name__ == "__main__":
    main()
