"""JupyterLab itself, driven by Debian's headless Chromium: 00_explore.ipynb as a new user runs it.

One test: start JupyterLab on 127.0.0.1 (a token, private config/data/workspace folders), open
00_explore.ipynb with smoke parameters, run all cells, then check that the explorer is there (its
Step button visible), that clicking Step changes the plot, that Run round (run in the background)
labels more items and enables its button again, and that the page asked nothing of any host but
127.0.0.1 (no CDN: the explorer must work offline). Screenshots go to
``$LATENTLAB_ARTIFACTS`` (default: the test's tmp folder) and their paths are printed.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser
pytest.importorskip("jupyterlab")
pm = pytest.importorskip("papermill")
sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS

# JS: total vertices of the trajectories' polylines in every Bokeh document of the page (-1: no such glyph)
VERTICES_JS = """() => {
  let n = -1;
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
    const r = doc.get_model_by_name('trajectories');
    if (!r) continue;
    const d = r.data_source.data; const xs = d instanceof Map ? d.get('xs') : d.xs;
    n = Math.max(n, 0) + Array.from(xs).reduce((a, x) => a + x.length, 0);
  }
  return n;
}"""


# JS: rows of the labelled items' source (-1: no such glyph)
LABELLED_JS = """() => {
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
    const r = doc.get_model_by_name('labelled');
    if (r) { const d = r.data_source.data; return (d instanceof Map ? d.get('x') : d.x).length; }
  }
  return -1;
}"""


# JS: how many loading spinners turn in sight
SPINNING_JS = """() => { let n = 0;
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) for (const m of doc.all_models)
    if (m.css_classes && m.css_classes.includes('loader') && m.css_classes.includes('spin') && m.visible) {
      const st = m.styles instanceof Map ? m.styles.get('visibility') : (m.styles || {}).visibility;
      if (st !== 'hidden') n += 1; }
  return n; }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"jupyter lab did not answer at {url}")


@pytest.fixture
def lab(tmp_path, explorer_settings):
    """A JupyterLab server on 127.0.0.1 serving a smoke-parameterised copy of 00_explore.ipynb."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's browser (apt-get install -y chromium) to run "
            "the JupyterLab test; never `playwright install`"
        )
    work = tmp_path / "lab"
    work.mkdir()
    pm.execute_notebook(
        str(ROOT / "notebooks" / "00_explore.ipynb"),
        str(work / "explore.ipynb"),
        parameters={"smoke": True, "out_dir": str(tmp_path / "out"), "rounds": 1, "steps": 1},
        prepare_only=True,
        progress_bar=False,
    )
    port, token = _free_port(), secrets.token_hex(16)
    labconfig = tmp_path / "jcfg" / "labconfig"
    labconfig.mkdir(parents=True)
    # no "get notified about Jupyter news?" toast over the screenshots
    (labconfig / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        OMP_NUM_THREADS="1",
        JUPYTER_CONFIG_DIR=str(tmp_path / "jcfg"),
        JUPYTER_DATA_DIR=str(tmp_path / "jdata"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jrun"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "jws"),
        IPYTHONDIR=str(tmp_path / "ipy"),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells through Lab's own commands
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
        yield f"http://127.0.0.1:{port}", token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_explore_notebook_runs_in_jupyterlab_offline(lab, tmp_path):
    base, token = lab
    artifacts = Path(os.environ.get("LATENTLAB_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    expect = sync_api.expect
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.goto(f"{base}/lab/tree/explore.ipynb?token={token}&reset")
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                "&& window.jupyterapp.shell.currentWidget.sessionContext "
                "&& window.jupyterapp.shell.currentWidget.sessionContext.session "
                "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel "
                "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                ".connectionStatus === 'connected'",
                timeout=90_000,
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # the last cell's output says the tour saved its tables; the bad-alpha cell's message comes before it
            expect(page.get_by_text(re.compile(r"alpha must be a number > 0")).first).to_be_visible(timeout=120_000)
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                timeout=60_000,
            )
            step = page.get_by_role("button", name="Step", exact=True)
            step.scroll_into_view_if_needed()
            expect(step).to_be_visible(timeout=30_000)
            page.wait_for_function(f"() => ({VERTICES_JS})() > 0", timeout=30_000)
            page.screenshot(path=str(artifacts / "jupyterlab_explorer_before.png"))
            before = page.evaluate(VERTICES_JS)
            step.click()
            page.wait_for_function(f"() => ({VERTICES_JS})() > {before}", timeout=30_000)
            after = page.evaluate(VERTICES_JS)
            step.scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / "jupyterlab_explorer_after_step.png"))
            # Run round runs in the background (an async callback in the kernel): the view redraws after
            labelled = page.evaluate(LABELLED_JS)
            page.get_by_role("button", name="Run round").click()
            page.wait_for_function(f"() => ({LABELLED_JS})() > {labelled}", timeout=60_000)
            expect(page.get_by_role("button", name="Run round")).to_be_enabled(timeout=30_000)
            page_labelled_after = page.evaluate(LABELLED_JS)
            spinning = page.evaluate(SPINNING_JS)
            page.screenshot(path=str(artifacts / "jupyterlab_explorer_after_round.png"))
            print(
                f"screenshots: {artifacts}/jupyterlab_explorer_*.png; vertices {before} -> {after}; "
                f"{len(requests)} requests"
            )
        finally:
            browser.close()
    assert after > before
    assert page_labelled_after > labelled
    assert spinning == 0, "the busy spinner still turns after the round"
    foreign = sorted(
        {
            u
            for u in requests
            if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).hostname != "127.0.0.1"
        }
    )
    assert not foreign, f"the page fetched from outside 127.0.0.1 (offline it would fail): {foreign}"
