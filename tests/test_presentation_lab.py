"""Presentation mode in JupyterLab 4 at 1280x720 with the side bar open, as a class sees it (issue 19).

00_explore.ipynb runs (smoke parameters: a round, a Step, a selected point); then Presentation is
switched on and every tab of the side column is shown in turn, before and after three more Steps
and a new selection. Each time, every text of the explorer must be readable as drawn: nothing cut
by its box, a clipping ancestor, the canvas or the viewport, nothing hidden under another element,
no canvas text over another, nothing below 20 px (``test_jupyterlab.CLIP_JS``: DOM text through
shadow roots, Bokeh's canvas text recorded at its repaint). Screenshots go to
``$LATENTLAB_ARTIFACTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
pytest.importorskip("jupyterlab")
sync_api = pytest.importorskip("playwright.sync_api")

from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS
from test_jupyterlab import KERNEL_JS, COLUMNS_JS, COMMS_JS, VERTICES_JS, _clipped_text, _kernel_json, _nudge, lab  # noqa: F401 (lab: the fixture)

TABS = ("Step", "Settings", "Point", "Curve", "Key")
# JS: the latent map's canvas size in the page [width, height]
MAP_BOX_JS = """() => { for (const v of Bokeh.index.all_views())
  if (v.model.type === 'Figure' && v.model.title.text.startsWith('latent map')) {
    const r = v.el.getBoundingClientRect(); return [r.width, r.height]; }
  return null; }"""
# JS: the strip's captions in every Bokeh document of the page (more than one: a stale copy of the view)
STRIP_DOCS_JS = """() => Bokeh.documents.map(d => d.get_model_by_name('strip')).filter(r => r)
  .map(r => { const d = r.data_source.data; return Array.from(d instanceof Map ? d.get('title') : d.title); })"""
IDLE_JS = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"


def _show_tabs(page, artifacts: Path, when: str) -> dict:
    """Each tab in turn: its unreadable texts (and a screenshot)."""
    found = {}
    for tab in TABS:
        page.locator(".bk-tab", has_text=re.compile(f"^{tab}$")).click()
        page.wait_for_timeout(700)
        got = _clipped_text(page)
        found[f"{when}/{tab}"] = got
        size = "x".join(map(str, page.evaluate("() => [innerWidth, innerHeight]")))
        page.screenshot(path=str(artifacts / f"jupyterlab_presentation_{when}_{tab.lower()}_{size}.png"))
    return found


# JS: what the page holds of presentation mode: Tabs models per document, .bk-tab elements and their boxes
PAGE_TABS_JS = """() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  const tabs = docs.map(d => Array.from(d.all_models).filter(m => m.type === 'Tabs').length);
  const views = Array.from(Bokeh.index.all_views()).filter(v => v.model.type === 'Tabs')
    .map(v => { const r = v.el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height, v.el.isConnected]; });
  const scroll = document.querySelector('.jp-WindowedPanel-outer')?.scrollTop;
  const comms = (COMMS)();
  const toggles = docs.map(d => Array.from(d.all_models).filter(m => m.type === 'Toggle')
    .map(m => [m.label, m.active]));
  return {docs: docs.length, tabs_models: tabs, tabs_views: views, scroll, comms, toggles};
}""".replace("COMMS", COMMS_JS)


def _diagnose(page, console: list[str]) -> dict:
    """What the page and the kernel hold when presentation mode's tabs did not show."""
    out: dict = {"console": console[-20:]}
    for key, fn in (
        ("page", lambda: page.evaluate(PAGE_TABS_JS)),
        (
            "kernel",
            lambda: _kernel_json(
                page,
                "[explorer.presentation, type(explorer._layout.objects[0][1][1]).__name__, "
                "[len(v[2].callbacks._held_events) for v in __import__('panel').state._views.values()]]",
            ),
        ),
    ):
        try:
            out[key] = fn()
        except Exception as e:  # a diagnosis never hides the failure it explains
            out[key] = f"{type(e).__name__}: {e}"
    return out


# CIFAR-10's class names, the longest of a registered data set: given to the digits pool (no files needed)
CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# kernel code: the loaded digits pool under other class names, the explorer redrawn
RENAME = "object.__setattr__(state.data, 'classes', {names!r}); explorer._draw_keys(); explorer._redraw()"


@pytest.mark.parametrize("names", [None, CIFAR_NAMES], ids=["digits", "cifar10-names"])
def test_presentation_mode_every_text_readable_at_1280x720(lab, tmp_path, names):  # noqa: F811 (lab: the fixture)
    """Every text readable at 1280x720; with CIFAR-10's long class names too (their key would take ten
    rows under the map: it moves to the Key tab, and F's probabilities stand the names upright)."""
    base, token = lab
    artifacts = Path(os.environ.get("LATENTLAB_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            console: list[str] = []
            page.on(
                "console",
                lambda m: console.append(f"{m.type}: {m.text}"[:300]) if m.type in ("error", "warning") else None,
            )
            page.goto(f"{base}/lab/tree/explore.ipynb?token={token}&reset")
            kernel = "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel"
            page.wait_for_function(f"() => {kernel}?.connectionStatus === 'connected'", timeout=90_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            expect(page.get_by_text(re.compile(r"alpha must be a number > 0")).first).to_be_visible(timeout=180_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            page.evaluate(
                "() => { const a = window.jupyterapp; "
                "if (a.shell.leftCollapsed) a.commands.execute('application:toggle-left-area'); }"
            )
            if names:
                assert page.evaluate(KERNEL_JS, RENAME.format(names=names)) == "ok"
                page.wait_for_function(IDLE_JS, timeout=60_000)
                page.wait_for_timeout(1000)
            page.get_by_role("button", name="Presentation").click()
            stuck = None
            for i in range(60):  # the click reaches the kernel as a comm message, after any idle report
                if _kernel_json(page, "explorer.presentation"):
                    break
                if i == 20:
                    # 10 s without it (seen once in ~25 runs under load). The likely cause: Panel's page-side
                    # comm manager sends nothing while it waits for the kernel's answer to its last message,
                    # and a held event goes out only with a later change after its 5 s timeout. Record what
                    # the page holds, then make such a change (a 1 px resize: the layout's widths),
                    # not a second click (a held click and a second one would both arrive: off again)
                    stuck = _diagnose(page, console)
                    (artifacts / "presentation_click_held.json").write_text(json.dumps(stuck, indent=1, default=str))
                    _nudge(page)
                page.wait_for_timeout(500)
            else:
                raise AssertionError(
                    f"the click on Presentation never reached the kernel: {_diagnose(page, console)}; at 10 s: {stuck}"
                )
            if stuck is not None:
                print(f"the click on Presentation reached the kernel only after a resize; the page at 10 s: {stuck}")
            width = _kernel_json(page, "explorer.map.width")
            page.wait_for_function(
                "(w) => Bokeh.documents.some(d => Array.from(d.all_models).some(m => m.type === 'Figure' "
                "&& m.width === w))",
                arg=width,
                timeout=60_000,
            )
            page.wait_for_function(IDLE_JS, timeout=60_000)
            # the tabs are presentation mode's own layout: its re-layout has reached the page
            try:
                expect(page.locator(".bk-tab", has_text=re.compile("^Step$"))).to_be_visible(timeout=90_000)
            except AssertionError as e:
                raise AssertionError(f"presentation mode's tabs never showed: {_diagnose(page, console)}") from e
            page.wait_for_timeout(1500)
            found = _show_tabs(page, artifacts, "start")
            page.locator(".bk-tab", has_text=re.compile("^Step$")).click()
            for _ in range(3):
                before = page.evaluate(VERTICES_JS)
                page.get_by_role("button", name="Step", exact=True).click()
                page.wait_for_function(f"() => ({VERTICES_JS})() > {before}", timeout=30_000)
            _kernel_json(page, "state.select(*state.trajectories()['p'][-1]) or True")
            page.wait_for_function(IDLE_JS, timeout=60_000)
            page.wait_for_timeout(1000)
            found.update(_show_tabs(page, artifacts, "after_steps"))
            captions = page.evaluate(COLUMNS_JS, ["strip", ["title"]])[0]
            strip_docs = page.evaluate(STRIP_DOCS_JS)
            kernel_strip = _kernel_json(page, "list(explorer.src['strip'].data['title'])")
            # responsive: on a larger screen the map widens and every text still reads
            small = page.evaluate(MAP_BOX_JS)
            page.set_viewport_size({"width": 1600, "height": 900})
            page.wait_for_timeout(1500)
            found.update(_show_tabs(page, artifacts, "larger"))
            large = page.evaluate(MAP_BOX_JS)
            expected = _kernel_json(page, "[t for t, _ in state.selection['images']]")
            keys = _kernel_json(
                page,
                "[explorer.class_legend.visible, explorer.map.title.text, "
                "explorer.probs.xaxis[0].group_label_orientation]",
            )
        finally:
            browser.close()
    print({k: (v["texts"], v["canvas_texts"]) for k, v in found.items()}, errors)
    bad = {k: v["defects"] for k, v in found.items() if v["defects"]}
    assert all(v["canvas_texts"] > 5 for k, v in found.items()), found  # the check saw the map's canvas text
    assert not bad, f"presentation mode at 1280x720: texts a class cannot read: {bad}"
    assert not errors, errors
    assert large[0] > small[0] + 200, (small, large)  # the map took the width (its height stays fixed)
    if names:  # the classes are in the Key tab, the map keeps its height, the bars' names stand upright
        assert keys == [False, "latent map (classes: Key tab)", "vertical"], keys
    else:
        assert keys == [True, "latent map", "horizontal"], keys
    # a kernel-side select reaches the page (2 of 3 runs failed on 6d386af, none of 7 since)
    assert captions == expected, (
        f"the page's strip {captions} is not the kernel's selection {expected} after a kernel select; the "
        f"kernel's strip source: {kernel_strip} (stale: no redraw), the page's documents: {strip_docs}"
    )
