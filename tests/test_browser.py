"""The served app driven by Debian's headless Chromium through Playwright (never `playwright install`)."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser
pn = pytest.importorskip("panel")
sync_api = pytest.importorskip("playwright.sync_api")

from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS, stop

# JS: number of rows in the data source of the glyph renderer called `name` (Bokeh 3 keeps data in a Map)
COUNT_JS = """([name]) => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  for (const doc of docs) {
    const r = doc.get_model_by_name(name);
    if (r) { const d = r.data_source.data; const x = d instanceof Map ? d.get(d.keys().next().value)
                                                                        : d[Object.keys(d)[0]];
             return x ? x.length : 0; }
  }
  return -1;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _kill_servers():
    yield
    pn.state.kill_all_servers()


@pytest.fixture
def app_url(explorer_settings):
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's browser (apt-get install -y chromium) to run "
            "the browser tests; never `playwright install`"
        )
    from latentlab.widgets.app import create_app

    port = free_port()
    pn.serve(lambda: create_app(**explorer_settings), port=port, address="127.0.0.1", threaded=True, show=False)
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/"  # the autouse _kill_servers stops the server


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def count(page, name) -> int:
    return page.evaluate(COUNT_JS, [name])


def open_app(browser, url, requests=None):
    page = browser.new_context(viewport={"width": 1500, "height": 900}).new_page()
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_function(COUNT_JS.replace("([name]) =>", "() => ((name) =>") + ")('pool') > 0", timeout=60_000)
    return page


def test_step_round_step_changes_readout_and_plot(browser, app_url, tmp_path):
    requests = []
    page = open_app(browser, app_url, requests)
    expect = sync_api.expect
    # Step before a model exists: a message in the page, not a dead page
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.get_by_text("Step needs a target model")).to_be_visible(timeout=20_000)

    page.get_by_role("button", name="Run round").click()
    page.wait_for_function(f"() => ({COUNT_JS})(['points']) === 5", timeout=60_000)
    expect(page.get_by_text(re.compile(r"round 1 · labelled 35"))).to_be_visible(timeout=20_000)
    assert count(page, "heatmap") == 1

    before = count(page, "trajectories")
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.get_by_text(re.compile(r"steps 2"))).to_be_visible(timeout=20_000)
    page.wait_for_function(f"() => ({COUNT_JS})(['trajectories']) === 5", timeout=20_000)
    xs = page.evaluate("""() => { const r = Bokeh.documents[0].get_model_by_name('trajectories');
                                  const d = r.data_source.data; const xs = d instanceof Map ? d.get('xs') : d.xs;
                                  return xs.map(a => a.length); }""")
    assert before == 5 and xs == [3] * 5  # every trajectory grew by one vertex
    shot = tmp_path / "explorer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    foreign = sorted(
        {
            u
            for u in requests
            if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).hostname != "127.0.0.1"
        }
    )
    assert not foreign, f"the served app fetched from outside 127.0.0.1 (offline it would fail): {foreign}"


def test_two_sessions_keep_separate_state(browser, app_url):
    a = open_app(browser, app_url)
    b = open_app(browser, app_url)
    a.get_by_role("button", name="Run round").click()
    a.wait_for_function(f"() => ({COUNT_JS})(['labelled']) === 35", timeout=60_000)
    time.sleep(0.5)
    assert count(b, "labelled") == 0 and count(b, "points") == 0
    sync_api.expect(b.get_by_text(re.compile(r"round 0 · labelled 0"))).to_be_visible()


def test_served_notebook_is_an_app_without_code(browser, tmp_path, explorer_settings):
    """`panel serve notebooks/00_explore.ipynb` (smoke parameters): the explorer as a web app, Step
    works, and the page asks nothing of any host but 127.0.0.1."""
    import os
    import subprocess
    import sys
    import urllib.request

    pm = pytest.importorskip("papermill")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium (never `playwright install`)")
    root = Path(__file__).resolve().parents[1]
    nb = tmp_path / "explore.ipynb"
    pm.execute_notebook(
        str(root / "notebooks" / "00_explore.ipynb"),
        str(nb),
        parameters={"smoke": True, "out_dir": str(tmp_path / "out"), "rounds": 1, "steps": 1},
        prepare_only=True,
        progress_bar=False,
    )
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "panel", "serve", str(nb), "--address", "127.0.0.1", "--port", str(port)]
    cmd += ["--allow-websocket-origin", f"127.0.0.1:{port}"]
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    requests: list[str] = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        page = browser.new_context(viewport={"width": 1500, "height": 900}).new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"http://127.0.0.1:{port}/explore", timeout=300_000)
        page.wait_for_function(f"() => ({COUNT_JS})(['labelled']) > 0", timeout=300_000)
        before = count(page, "trajectories")
        page.get_by_role("button", name="Step", exact=True).click()
        sync_api.expect(page.get_by_text(re.compile(r"steps 3"))).to_be_visible(timeout=60_000)
        page.screenshot(path=str(tmp_path / "served_notebook.png"))
        after = count(page, "trajectories")
    finally:
        try:
            stop(proc)  # terminate, then kill if it has not exited in 20 s (a plain wait raised and left it)
        finally:
            log.close()
    assert before > 0 and after == before
    foreign = sorted({u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                      and urlparse(u).hostname != "127.0.0.1"})  # fmt: skip
    assert not foreign, f"the served notebook fetched from outside 127.0.0.1: {foreign}"
