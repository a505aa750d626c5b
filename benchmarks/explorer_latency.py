"""Fast first feedback (issue 19, item 6): the tour's Run All, the first Step after it, later Steps.

    .venv/bin/python benchmarks/explorer_latency.py                      # this tree, empty cache
    .venv/bin/python benchmarks/explorer_latency.py --tree /tmp/main --label before
    .venv/bin/python benchmarks/explorer_latency.py --table

One JupyterLab 4 (127.0.0.1, private config folders) serves a copy of ``notebooks/00_explore.ipynb``
of ``--tree`` with its default parameters (digits, 2 rounds, 4 steps; ``out_dir`` in a temporary
folder); the kernel imports latentlab from ``--tree`` and caches into a fresh, empty
``LATENTLAB_CACHE``. Debian's headless Chromium (Playwright) opens it and measures:

* **cold start**: from the ``notebook:run-all-cells`` command to a usable explorer: the kernel idle
  after the last cell, the explorer's Step button visible and its trajectories drawn in the page;
  each cell's own time comes from JupyterLab's ``recordTiming`` (kernel ``execute_input`` ->
  ``execute_reply``).
* **Step, click to paint**, in the page: a capturing ``click`` listener stamps
  ``performance.now()``; the trajectories' ``ColumnDataSource`` in the browser's Bokeh document
  stamps the moment its data changes (``change``, ``streaming`` or ``patching`` signal: the new
  state is in the browser's model); a ``requestAnimationFrame`` callback registered then runs
  in the frame Bokeh paints in, and a second one in the frame after it: "painted" is that second
  stamp (conservative by up to one frame). The first Step is clicked as soon as Run All is over;
  ``--steps`` more follow, 0.4 s apart.

The kernel's own times (``state.timings``, torch threads) are read back through the kernel.
Raw results: ``benchmarks/results/explorer/latency/<minute>/<label>.json`` with the command, date,
machine, threads and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import ROOT, finish_meta, minute_stamp, run_meta, write_json  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "explorer" / "latency"

# the explorer's glyph named `name` in any Bokeh document of the page (null: not drawn yet)
FIND_JS = """(name) => { for (const doc of (window.Bokeh && Bokeh.documents) || []) {
  const r = doc.get_model_by_name(name); if (r) return r; } return null; }"""
# total vertices of the trajectories (-1: not drawn yet)
VERTICES_JS = f"""() => {{ const r = ({FIND_JS})('trajectories'); if (!r) return -1;
  const d = r.data_source.data; const xs = d instanceof Map ? d.get('xs') : d.xs;
  return Array.from(xs).reduce((a, x) => a + x.length, 0); }}"""
# the in-page clock (see the module's docstring); window.__lat holds one Step's stamps
PROBE_JS = f"""() => {{ if (window.__latProbe) return;
  window.__latProbe = true; window.__lat = {{}};
  document.addEventListener('click', () => {{ window.__lat = {{click: performance.now()}}; }}, true);
  const src = ({FIND_JS})('trajectories').data_source;
  const seen = () => {{ const t = window.__lat; if (t.click === undefined || t.data !== undefined) return;
    t.data = performance.now();
    requestAnimationFrame(() => {{ t.frame = performance.now();
      requestAnimationFrame(() => {{ t.paint = performance.now(); }}); }}); }};
  for (const s of [src.change, src.streaming, src.patching, src.properties.data.change]) s.connect(seen); }}"""
# per cell of the open notebook: its first source line and JupyterLab's recorded execution times
TIMING_JS = """() => { const m = window.jupyterapp.shell.currentWidget.content.model; const out = [];
  for (let i = 0; i < m.cells.length; i++) { const c = m.cells.get(i);
    out.push([c.type, c.sharedModel.getSource().split('\\n')[0].slice(0, 70), c.getMetadata('execution') || null]); }
  return out; }"""
KERNEL = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
# run Python in the notebook's kernel; resolves to the reply's status
EXEC_JS = f"""async (code) => (await {KERNEL}.requestExecute({{code, store_history: false}}).done).content.status"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_lab(tree: Path, work: Path, cache: Path) -> tuple[subprocess.Popen, str]:
    """JupyterLab on 127.0.0.1 over ``work`` (kernel: latentlab from ``tree``, cache ``cache``); its URL with token."""
    port, token = _port(), secrets.token_hex(16)
    settings = work / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"recordTiming": true}')
    cfg = work / "jcfg" / "labconfig"
    cfg.mkdir(parents=True)
    (cfg / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "LATENTLAB_CACHE": str(cache),
        "OMP_NUM_THREADS": "1",
        "JUPYTER_CONFIG_DIR": str(work / "jcfg"),
        "JUPYTER_DATA_DIR": str(work / "jdata"),
        "JUPYTER_RUNTIME_DIR": str(work / "jrun"),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "jws"),
        "IPYTHONDIR": str(work / "ipy"),
    }
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(work / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}; see {work / 'jupyterlab.log'}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    return proc, f"{base}/lab/tree/explore.ipynb?token={token}&reset"


def _cells(timing: list) -> list[dict]:
    """Each code cell's kernel time (execute_input -> execute_reply), from JupyterLab's recordTiming."""
    import datetime as dt

    def t(s):
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

    out = []
    for kind, first, ex in timing:
        if kind == "code" and ex and "shell.execute_reply" in ex and "iopub.execute_input" in ex:
            out.append({"cell": first, "s": round(t(ex["shell.execute_reply"]) - t(ex["iopub.execute_input"]), 3)})
    return out


def _kernel_json(page, expr: str, work: Path):
    path = work / "kernel.json"
    code = f"import json as _j, pathlib as _p\n_p.Path({str(path)!r}).write_text(_j.dumps({expr}))"
    assert page.evaluate(EXEC_JS, code) == "ok", expr
    return json.loads(path.read_text())


def _step(page) -> dict:
    """Click Step; the in-page stamps (ms after the click) and Playwright's wall clock to the paint."""
    before = page.evaluate(VERTICES_JS)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Step", exact=True).click()
    page.wait_for_function("() => window.__lat && window.__lat.paint !== undefined", timeout=120_000, polling="raf")
    wall = time.perf_counter() - t0
    t = page.evaluate("() => window.__lat")
    assert page.evaluate(VERTICES_JS) > before, "the Step did not add trajectory vertices"
    return {"data_ms": t["data"] - t["click"], "paint_ms": t["paint"] - t["click"], "wall_ms": 1e3 * wall}


def measure(tree: Path, steps: int) -> dict:
    import papermill as pm
    from playwright.sync_api import sync_playwright

    from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS, stop

    with tempfile.TemporaryDirectory(prefix="latentlab-latency-") as tmp:
        work, cache = Path(tmp) / "lab", Path(tmp) / "cache"
        work.mkdir()
        cache.mkdir()
        pm.execute_notebook(
            str(tree / "notebooks" / "00_explore.ipynb"), str(work / "explore.ipynb"),
            parameters={"out_dir": str(Path(tmp) / "out")}, prepare_only=True, progress_bar=False,
        )  # fmt: skip
        proc, url = _start_lab(tree, work, cache)
        res: dict = {"tree": str(tree), "cache": "empty"}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
                t_open = time.perf_counter()
                page.goto(url)
                page.wait_for_function(
                    f"() => {{ try {{ return {KERNEL}.connectionStatus === 'connected' "
                    f"&& {KERNEL}.status === 'idle'; }} catch (e) {{ return false; }} }}",
                    timeout=180_000,
                )
                res["kernel_ready_s"] = time.perf_counter() - t_open
                t0 = time.perf_counter()
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                step_btn = page.get_by_role("button", name="Step", exact=True)
                step_btn.wait_for(state="visible", timeout=600_000)
                res["explorer_shown_s"] = time.perf_counter() - t0
                page.wait_for_function(f"() => ({VERTICES_JS})() > 0", timeout=600_000)
                page.wait_for_function(
                    "() => { const c = window.jupyterapp.shell.currentWidget.content.model.cells;"
                    " const m = c.get(c.length - 1).getMetadata('execution');"
                    f" return m && m['shell.execute_reply'] && {KERNEL}.status === 'idle'; }}",
                    timeout=600_000,
                )
                res["run_all_s"] = time.perf_counter() - t0
                res["cells"] = _cells(page.evaluate(TIMING_JS))
                page.evaluate(PROBE_JS)
                step_btn.scroll_into_view_if_needed()
                res["first_step"] = _step(page)
                res["usable_s"] = res["run_all_s"] + res["first_step"]["wall_ms"] / 1e3
                later = []
                for _ in range(steps):
                    page.wait_for_timeout(400)
                    later.append(_step(page))
                res["later_steps"] = later
                res["kernel"] = _kernel_json(
                    page,
                    "{'timings': state.timings, 'torch_threads': __import__('torch').get_num_threads(), "
                    "'steps': state.readout()['steps'], 'latentlab': __import__('latentlab').__file__}",
                    work,
                )
                res["cached_files"] = sorted(str(q.relative_to(cache)) for q in cache.rglob("*") if q.is_file())
                browser.close()
        finally:
            stop(proc)
            shutil.copy(work / "jupyterlab.log", Path(tmp) / "jupyterlab.log")
    return res


def _median(v):
    import numpy as np

    return float(np.median(v)) if len(v) else float("nan")


def _p90(v):
    import numpy as np

    return float(np.percentile(v, 90)) if len(v) else float("nan")


def table(out: Path = OUT) -> str:
    """The Markdown table of every raw result under ``out`` (one row each, by folder, "before" first)."""
    files = sorted(Path(out).glob("*/*.json"), key=lambda f: (f.parent.name, f.stem != "before", f.stem))
    if not files:
        return "(no raw results)"
    lines = [
        "| run | code | load before -> after | Run All to usable explorer s | first Step: click to data / painted ms "
        "| later Steps painted, median / p90 ms (n) | Step in the kernel ms |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for f in files:
        r = json.loads(f.read_text())
        later = [s["paint_ms"] for s in r["later_steps"]]
        fs = r["first_step"]
        k = r["kernel"]["timings"].get("step", float("nan")) * 1e3
        lines.append(
            f"| {f.parent.name} | {r['label']} | {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} "
            f"| {r['usable_s']:.1f} | {fs['data_ms']:.0f} / {fs['paint_ms']:.0f} "
            f"| {_median(later):.0f} / {_p90(later):.0f} ({len(later)}) | {k:.0f} |"
        )
    r = json.loads(files[-1].read_text())
    m = r["machine"]
    return "\n".join(lines) + (
        f"\n\n{m['cpu']}, {m['cores']} cores shared with other work (load: 1-minute average); kernel torch "
        f"threads {r['kernel']['torch_threads']}; JupyterLab and headless Chromium on the same machine; "
        "fresh empty LATENTLAB_CACHE each run (shipped generator weights).\n"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", default=str(ROOT), help="the checkout whose notebook and latentlab the kernel runs")
    ap.add_argument("--label", default="after", help="name of this run's file (e.g. before / after)")
    ap.add_argument("--steps", type=int, default=10, help="later Steps timed after the first")
    ap.add_argument("--commit", default=None, help="the commit --tree holds (default: git rev-parse in --tree)")
    ap.add_argument("--stamp", default=None, help="results folder name (default: the minute started)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--table", action="store_true", help="print the table of the raw results, measure nothing")
    a = ap.parse_args(argv)
    if not a.table:
        tree = Path(a.tree).resolve()
        git = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True)
        meta = run_meta(label=a.label, commit=a.commit or git.stdout.strip(), kernel_env={"OMP_NUM_THREADS": "1"})
        res = finish_meta({**meta, **measure(tree, a.steps)})
        print(write_json(Path(a.out) / (a.stamp or minute_stamp()) / f"{a.label}.json", res))
    print(table(Path(a.out)))


if __name__ == "__main__":
    main()
