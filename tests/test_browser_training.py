"""The served explorer while its generator trains, in Debian's headless Chromium (never `playwright install`):
the page answers at once, draws the latent space as it forms with a bar, then becomes the explorer."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
pn = pytest.importorskip("panel")
sync_api = pytest.importorskip("playwright.sync_api")

from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# JS: the x column of the data source of the glyph renderer called `name` (null when there is none)
XS_JS = """(name) => {
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
    const r = doc.get_model_by_name(name);
    if (r) { const d = r.data_source.data; const x = d instanceof Map ? d.get('x') : d.x; return Array.from(x || []); }
  }
  return null;
}"""
BAR_JS = """() => { const find = (root) => { const t = root.querySelector('.latentlab-bar-text'); if (t) return t;
  for (const n of root.querySelectorAll('*')) if (n.shadowRoot) { const f = find(n.shadowRoot); if (f) return f; }
  return null; }; const t = find(document); return t ? t.textContent : null; }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_forming_map_is_drawn_then_the_explorer(explorer_settings, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium (never `playwright install`)")
    from latentlab import GeneratorConfig
    from latentlab.widgets.app import create_app

    # a generator the session has not trained: 600 epochs of 5 steps, long enough to watch it form
    cfg = GeneratorConfig(epochs=600, min_steps=0, batch_size=64)
    settings = {**explorer_settings, "n_pool": 330, "generator_config": cfg}
    port = _free_port()
    pn.serve(lambda: create_app(**settings), port=port, address="127.0.0.1", threaded=True, show=False)
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = b.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
            page.wait_for_function(f"() => (({XS_JS})('forming') || []).length > 0", timeout=60_000)
            first = page.evaluate(XS_JS, "forming")
            bar = page.evaluate(BAR_JS)
            page.screenshot(path=str(tmp_path / "forming.png"))
            seen = {tuple(first)}
            # the map changes as the generator trains, until the explorer takes its place
            deadline = time.time() + 240
            while time.time() < deadline:
                xs = page.evaluate(XS_JS, "forming")
                if xs:
                    seen.add(tuple(xs))
                pool = page.evaluate(XS_JS, "pool")
                if pool:
                    break
                time.sleep(0.2)
            assert len(first) == 330 and bar and "epoch" in bar, bar
            assert len(seen) >= 2, "the forming map was drawn once only"
            assert pool and len(pool) == 330, "the explorer did not replace the forming map"
            page.get_by_role("button", name="Run round").click()
            page.wait_for_function(f"() => (({XS_JS})('labelled') || []).length > 0", timeout=60_000)
            page.screenshot(path=str(tmp_path / "explorer.png"))
            b.close()
    finally:
        pn.state.kill_all_servers()
