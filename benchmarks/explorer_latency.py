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
  document.addEventListener('click', () => {{ window.__lat = {{click: performance.now(),
    epoch: performance.timeOrigin + performance.now()}}; }}, true);
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


# --trace: a first cell that records, in the kernel, when each comm message from the page arrives and
# is handled and when each comm message leaves (wall clock, shared with the page on this machine)
TRACE_CELL = """import cProfile as _lt_profile, io as _lt_io, pstats as _lt_pstats, time as _lt_time
import comm.base_comm as _lt_comm
_lt_kernel = get_ipython().kernel
LATENCY_TRACE = []
def _lt_events(data):
    # a long message: its events, each as kind, model (type and name where the kernel knows it) and attribute
    out = []
    for e in (data.get("content", {}).get("events", []) if isinstance(data, dict) else []):
        mid = (e.get("model") or {}).get("id")
        m = next((d.get_model_by_id(mid) for d in _lt_docs() if d.get_model_by_id(mid) is not None), None)
        name = type(m).__name__ if m else mid
        out.append(f"{e.get('kind')} {name} {getattr(m, 'name', '') or ''} {e.get('attr', '')}")
    return out
def _lt_docs():
    import panel as _pn
    return [v[2] for v in getattr(_pn.state, "_views", {}).values()]
def _lt_wrap(kind, fn):
    def run(stream, ident, msg):
        data = msg.get("content", {}).get("data")
        text = str(data) if data is not None else ""
        mid = msg.get("header", {}).get("msg_id", "")[-6:]
        what = f"{len(text)} {text[:700]}" if len(text) < 4000 else _lt_events(data)
        LATENCY_TRACE.append((_lt_time.time() * 1e3, f"{kind} {mid} in", what))
        prof, t0 = _lt_profile.Profile(), _lt_time.perf_counter()
        try:
            return prof.runcall(fn, stream, ident, msg)
        finally:
            slow = ""
            if _lt_time.perf_counter() - t0 > 0.3:  # what a slow handler ran: the top of its profile
                out = _lt_io.StringIO()
                _lt_pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
                slow = out.getvalue()
            LATENCY_TRACE.append((_lt_time.time() * 1e3, f"{kind} {mid} done", slow))
    return run
for _lt_k in ("comm_open", "comm_msg"):
    _lt_kernel.shell_handlers[_lt_k] = _lt_wrap(_lt_k, _lt_kernel.shell_handlers[_lt_k])
_lt_publish = _lt_comm.BaseComm.publish_msg
def _lt_out(self, msg_type, data=None, metadata=None, buffers=None, **keys):
    LATENCY_TRACE.append((_lt_time.time() * 1e3, msg_type + " out", len(str(data)) if data is not None else 0))
    return _lt_publish(self, msg_type, data, metadata, buffers, **keys)
_lt_comm.BaseComm.publish_msg = _lt_out"""
# the page's side: every kernel message sent or received (its type, when), from before Run All
PAGE_TRACE_JS = f"""() => {{ window.__trace = [];
  {KERNEL}.anyMessage.connect((_, a) => {{ const c = a.msg.content || {{}};
    const d = c.data === undefined ? '' : JSON.stringify(c.data);
    window.__trace.push([performance.timeOrigin + performance.now(), a.direction, a.msg.header.msg_type,
      a.msg.header.msg_type === 'status' ? c.execution_state
        : a.direction === 'send' && d.length < 4000 ? d.length + ' ' + d.slice(0, 700) : d.length]); }}); }}"""


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
    return {
        "data_ms": t["data"] - t["click"], "paint_ms": t["paint"] - t["click"], "wall_ms": 1e3 * wall,
        "click_epoch_ms": t["epoch"],
    }  # fmt: skip


def _with_trace_cell(path: Path) -> None:
    """Put :data:`TRACE_CELL` first in the notebook at ``path``."""
    nb = json.loads(path.read_text())
    cell = {"cell_type": "code", "execution_count": None, "id": "latency-trace", "metadata": {}, "outputs": []}
    nb["cells"].insert(0, {**cell, "source": TRACE_CELL})
    path.write_text(json.dumps(nb))


def timeline(res: dict, before_ms: float = 4000) -> list[tuple]:
    """The first Step's trace: page and kernel events from ``before_ms`` before its click to its data,
    in ms after the click: (ms, side, what, size or state)."""
    trace, click = res.get("trace"), res["first_step"]["click_epoch_ms"]
    if not trace:
        return []
    end = click + res["first_step"]["data_ms"]
    rows = [(t - click, "page", d + " " + m, x) for t, d, m, x in trace["page"]]
    rows += [(t - click, "kernel", what, n) for t, what, n in trace["kernel"]]
    return sorted(r for r in rows if -before_ms <= r[0] <= end - click + 1)


def measure(tree: Path, steps: int, trace: bool = False) -> dict:
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
        if trace:
            _with_trace_cell(work / "explore.ipynb")
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
                if trace:
                    page.evaluate(PAGE_TRACE_JS)
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
                if trace:
                    res["trace"] = {
                        "page": page.evaluate("() => window.__trace"),
                        "kernel": _kernel_json(page, "LATENCY_TRACE", work),
                    }
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
    ap.add_argument(
        "--trace", action="store_true",
        help="also record every comm message in the page and the kernel (a first cell installs the kernel's "
        "recorder) and print the first Step's timeline",
    )  # fmt: skip
    a = ap.parse_args(argv)
    if not a.table:
        tree = Path(a.tree).resolve()
        git = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True)
        meta = run_meta(label=a.label, commit=a.commit or git.stdout.strip(), kernel_env={"OMP_NUM_THREADS": "1"})
        res = finish_meta({**meta, **measure(tree, a.steps, trace=a.trace)})
        print(write_json(Path(a.out) / (a.stamp or minute_stamp()) / f"{a.label}.json", res))
        for ms, side, what, x in timeline(res):
            print(f"{ms:9.1f} ms  {side:6s}  {what:28s}  {x}")
    print(table(Path(a.out)))


if __name__ == "__main__":
    main()
