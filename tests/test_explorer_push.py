"""What the explorer sends to a notebook page, without a browser (issue 19 items 5 and 6).

The view is rendered as Panel's notebook display renders it (a held document and a pyviz_comms
comm); the comm's transport is replaced by a recorder, so every message Panel would send to the
page is kept. One action is one PATCH-DOC that leaves out what it did not change (the pool, the
background image, the probability chart's range); while the page has not opened its comm yet
(during Run All the kernel reads the page's comm_open only after the last cell) nothing is sent,
and once it opens one message carries the final state, so an alert that a later cell cleared
does not come back.
"""

from __future__ import annotations

import asyncio
import json

import pytest

pn = pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402
from panel.io.model import add_to_doc  # noqa: E402
from pyviz_comms import Comm  # noqa: E402

from latentlab.explorer_state import ExplorerState  # noqa: E402
from latentlab.widgets import LatentExplorer  # noqa: E402


class _Transport:
    """Stands in for the kernel's comm: keeps what is sent."""

    def __init__(self, log: list):
        self.log = log

    def send(self, data=None, metadata=None, buffers=None):
        self.log.append((data, list(buffers or [])))


class RecordingComm(Comm):
    """A pyviz_comms comm that is closed until :meth:`open` and records what it sends."""

    def __init__(self, opened: bool = True):
        super().__init__()
        self.log: list = []
        if opened:
            self.open()

    def open(self) -> None:
        self._comm = _Transport(self.log)

    def send(self, data=None, metadata=None, buffers=None):  # what pyviz_comms' JupyterComm does
        self.comm.send(data, metadata=metadata, buffers=buffers)

    def patches(self) -> list[list[dict]]:
        """The events of every PATCH-DOC sent so far (one list per message)."""
        out = []
        for data, _ in self.log:
            if isinstance(data, str) and data.startswith("{") and '"events"' in data:
                out.append(json.loads(data)["events"])
        return out


def _notebook_view(view: LatentExplorer, comm: RecordingComm) -> Document:
    """Render ``view`` the way Panel's notebook display does (the document held)."""
    doc = Document()
    root = view.__panel__().get_root(doc, comm)
    add_to_doc(root, doc, True)
    return doc


def _changed_ids(events: list[dict]) -> set[str]:
    ids = set()
    for e in events:
        m = e.get("model")
        if isinstance(m, dict) and "id" in m:
            ids.add(m["id"])
    return ids


def test_one_step_is_one_message_without_the_pool_the_background_or_a_new_range(explorer_settings):
    state = ExplorerState(**explorer_settings).load()
    assert state.run_round(), state.error
    view = LatentExplorer(state)
    comm = RecordingComm()
    doc = _notebook_view(view, comm)
    pn.io.push_notebook(view.__panel__())
    assert state.select(*state.trajectories()["p"][0]), state.error  # the probability chart has bars
    comm.log.clear()
    probs_range = view.probs.x_range
    for _ in range(2):
        view._act(state.step)  # what a click on Step runs
        sent = comm.patches()
        assert len(sent) == 1, f"a Step sent {len(sent)} messages"
        ids = _changed_ids(sent[0])
        assert view.src["paths"].id in ids  # the trajectories grew
        unchanged = {"pool": view.src["pool"], "heat": view.src["heat"], "labelled": view.src["labelled"]}
        assert not {k for k, src in unchanged.items() if src.id in ids}, "a Step re-sent a source it did not change"
        assert view.probs.x_range is probs_range and probs_range.id not in ids
        assert not [e for e in sent[0] if e["kind"] == "RootAdded"]
        comm.log.clear()
    view.w_replay.value = 1  # one move of the replay slider: one redraw message, round 1's proposal
    slider = {m.id for m in doc.models if type(m).__name__ == "Slider"}
    sent = [p for p in comm.patches() if _changed_ids(p) - slider]  # set from Python its value is echoed too
    assert len(sent) == 1 and view.src["paths"].id in _changed_ids(sent[0])
    assert view.src["pool"].id not in _changed_ids(sent[0]) and view.src["heat"].id not in _changed_ids(sent[0])


def test_before_the_page_opens_its_comm_nothing_is_sent_then_one_message_with_the_last_state(explorer_settings):
    state = ExplorerState(**explorer_settings).load()
    view = LatentExplorer(state)
    comm = RecordingComm(opened=False)
    docs = []

    async def run_all() -> None:
        docs.append(_notebook_view(view, comm))
        state.run_round()  # the notebook's cells, with the page's comm not open yet
        state.step()
        state.configure(alpha=0)  # the bad-input cell: an alert ...
        assert "alpha" in view.alert_text
        await asyncio.sleep(0.25)  # the kernel between two cells: nothing may go out meanwhile
        assert comm.patches() == []
        state.configure(alpha=0.2)  # ... that its next cell clears
        assert view.alert_text == ""
        comm.open()  # the page's comm_open, read after the last cell
        await asyncio.sleep(0.5)

    asyncio.run(run_all())
    sent = comm.patches()
    assert len(sent) == 1, f"{len(sent)} messages after the comm opened (one carries the final state)"
    alert = {m.id for m in docs[0].models if "latentlab-alert" in (getattr(m, "css_classes", None) or [])}
    assert alert, "no alert model in the document"
    texts = [e["new"] for e in sent[0] if e.get("attr") == "text" and e["model"]["id"] in alert]
    assert texts in ([], [""]), f"after Run All the page would show the alert {texts[-1]!r}"


def test_play_steps_on_its_timer_says_its_rate_and_nothing_steps_after_pause(explorer_settings):
    state = ExplorerState(**explorer_settings).load()
    assert state.run_round(), state.error
    view = LatentExplorer(state)
    s0 = state.readout()["steps"]

    async def play_then_pause() -> int:
        view.b_play.value = True  # Play's timer runs on this event loop, as in a notebook's kernel
        await asyncio.sleep(2.5)
        view.b_play.value = False
        at_pause = state.readout()["steps"]
        await asyncio.sleep(1.5)  # two timer periods: a tick that was due must not step
        return at_pause

    at_pause = asyncio.run(play_then_pause())
    record = view.play_record
    assert state.readout()["steps"] == at_pause >= s0 + 2, (s0, at_pause, record)
    assert len(record["starts"]) == at_pause - s0 and all(t < record["paused_at"] for t in record["starts"])
    assert view.b_play.label == "Play"
    assert "steps/s" in view.play_rate() and "timer 1.43/s" in view.play_rate()


def test_a_select_from_a_cell_reaches_the_page_after_presentation_and_steps(explorer_settings):
    """The sequence of test_presentation_lab.py without a browser: the notebook's select, Presentation,
    three Steps, then a select from a cell. Every message the kernel sends is applied to a copy of the
    document as the page holds it; the page's strip must show the new selection, not the previous one."""
    state = ExplorerState(**explorer_settings).load()
    assert state.run_round(), state.error
    view = LatentExplorer(state)
    comm = RecordingComm()
    doc = _notebook_view(view, comm)
    page = Document.from_json(doc.to_json())  # what the page rendered
    applied = 0

    def page_strip() -> list[str]:
        nonlocal applied
        for events in comm.patches()[applied:]:
            page.apply_json_patch({"events": events})
        applied = len(comm.patches())
        return list(page.get_model_by_id(view.src["strip"].id).data["title"])

    def selected() -> list[str]:
        return [t for t, _ in state.selection["images"]]

    state.step()
    assert state.select(*state.trajectories()["p"][0]), state.error  # the notebook's cell
    assert page_strip() == selected()
    before = selected()
    view.presentation = True
    for _ in range(3):
        view._act(state.step)  # what a click on Step runs
    assert page_strip() == before
    assert state.select(*state.trajectories()["p"][-1]), state.error  # a cell, not a click on the map
    assert selected() != before  # another point: a stale strip would show
    assert list(view.src["strip"].data["title"]) == selected()  # the view redrew ...
    assert page_strip() == selected()  # ... and the page got it


@pytest.mark.parametrize("start", [False, True])
def test_presentation_switch_is_one_message_and_the_page_gets_its_layout(explorer_settings, start):
    """The switch (either way) is one PATCH-DOC; applied to the page's copy of the document it gives
    the mode's own layout: presentation's tabs ("Step" among them), or no tabs in a notebook."""
    state = ExplorerState(**explorer_settings).load()
    assert state.run_round(), state.error
    view = LatentExplorer(state, presentation=start)
    comm = RecordingComm()
    doc = _notebook_view(view, comm)
    page = Document.from_json(doc.to_json())
    comm.log.clear()
    view.presentation = not start
    sent = comm.patches()
    assert len(sent) == 1, f"the presentation switch sent {len(sent)} messages"
    page.apply_json_patch({"events": sent[0]})
    titles = [p.title for m in page.models if type(m).__name__ == "Tabs" for p in m.tabs]
    assert ("Step" in titles) is (not start), titles
    assert page.get_model_by_id(view.map.id).sizing_mode == ("fixed" if start else "stretch_width")


def _page_message(events: list[dict]) -> dict:
    """A PATCH-DOC from the page, as Panel's notebook handler receives it."""
    return {"header": {"msgid": "page", "msgtype": "PATCH-DOC"}, "metadata": {}, "content": {"events": events},
            "_buffers": {}}  # fmt: skip


def test_the_pages_echo_of_pushed_data_costs_no_tree_walk_and_page_changes_still_apply(explorer_settings, monkeypatch):
    """The page sends back every data source the kernel pushed (traced in JupyterLab: 27 after Run All,
    6 per Step); Panel found each by a walk of the whole tree before it set the same data again. The
    explorer drops the echo; a change the page makes (the replay slider) still reaches the kernel."""
    from bokeh.model import Model
    from bokeh.models.tools import EditTool
    from panel.models.comm_manager import CommManager

    state = ExplorerState(**explorer_settings).load()
    assert state.run_round(), state.error
    view = LatentExplorer(state)
    comm = RecordingComm()
    doc = _notebook_view(view, comm)
    root = next(iter(view._layout._models.values()))[0]
    ref = root.ref["id"]
    manager = CommManager(comm_id=comm.id, plot_id=ref)
    # the drop is right only while the page never writes a source itself: no edit tool, no JS callback
    js = [m.code for m in doc.models if type(m).__name__ == "CustomJS"]
    assert js and not [c for c in js if ".data" in c or "source" in c], js  # the busy callback only
    assert not [m for m in doc.models if isinstance(m, EditTool)]
    comm.log.clear()
    view._act(state.step)
    (pushed,) = comm.patches()
    # the page's echo: each pushed source's data back, as a ModelChanged of its own document (the trace)
    echo = [{"kind": "ModelChanged", "model": e["model"], "attr": "data", "new": e["data"]}
            for e in pushed if e.get("kind") == "ColumnDataChanged"]  # fmt: skip
    assert len(echo) >= 3, "a Step pushed fewer sources than the trace saw"
    kept = {name: dict(src.data) for name, src in view.src.items()}  # the columns the kernel holds
    walks = []
    select_one = Model.select_one
    monkeypatch.setattr(Model, "select_one", lambda self, sel: walks.append(sel) or select_one(self, sel))
    view._layout._on_msg(ref, manager, _page_message(echo))
    assert walks == [], f"the echo of {len(echo)} sources walked the tree {len(walks)} times"
    changed = [n for n, src in view.src.items() if any(src.data[k] is not v for k, v in kept[n].items())]
    assert changed == [], f"the echo set the kernel's data again: {changed}"
    slider = next(m for m in doc.models if type(m).__name__ == "Slider")
    view._layout._on_msg(ref, manager, _page_message([
        {"kind": "ModelChanged", "model": {"id": slider.id}, "attr": "value", "new": 1}]))  # fmt: skip
    assert view.w_replay.value == 1, "the page's own change (the replay slider) did not reach the kernel"
