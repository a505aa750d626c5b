"""A page-side watchdog for Panel's notebook comm manager: a click must never wait for an ack that is lost.

Panel's notebook comm manager (``panel/models/comm_manager.ts``, Panel 1.9) sends the page's changes
to the kernel one message at a time: after a send it holds every new change until the kernel's
acknowledgement arrives, or, once its ``timeout`` (5 s) has passed, until the *next* change. If
that acknowledgement never arrives, a click held meanwhile waits for another change that may never
come: the explorer's Step did nothing. Measured in JupyterLab under load (1 of 8 runs of Run All
then Step at load ~4): the explorer's manager blocked with 20 held changes and no acknowledgement
16 s after its send; forcing the same state near idle (``_blocked`` with no message in flight)
held a Step click for 15 of 15 s. (Why the acknowledgement is lost was not found: the kernel's
reply travels on iopub, and in a run that went well it reached the page 0.1-1.5 s after the kernel
had handled the message. Generated figures: BENCHMARKS.md, "A click that never arrived".)

:class:`CommWatchdog` is an invisible element of the explorer's root. Every ``period`` ms its
script looks at the comm managers of its own document (``window.PyViz.shared_views``) and, when one
holds changes while blocked for longer than ``patience`` ms since its last send, sends them as Panel
itself does for a change made after its timeout (``process_events``, the block renewed). Sending
early is safe: the kernel queues messages in order, which is what Panel does after 5 s anyway.
Served pages (``panel serve``) have no comm manager: the script then does nothing.
(Private on purpose: the fields read are Panel's page-side internals; each is checked before use.)
"""

from __future__ import annotations

import param
from panel.reactive import ReactiveHTML

WATCHDOG_JS = """
const doc = view.model.document;
state.flushed = 0;
state.timer = setInterval(() => {
  const shared = window.PyViz && window.PyViz.shared_views;
  if (!shared || typeof shared.values !== 'function') return;
  for (const m of Array.from(shared.values()).flat()) {
    if (!m || m.document !== doc || !m._blocked || !Array.isArray(m._event_buffer)) continue;
    if (m._event_buffer.length === 0 || typeof m.process_events !== 'function') continue;
    const sent = m._timeout - m.timeout;  // when Panel last sent (or scheduled) and blocked
    if (Date.now() - sent < data.patience) continue;
    m._timeout = Date.now() + m.timeout;
    state.flushed += 1;
    data.flushed = state.flushed;
    m.process_events();
  }
}, data.period);
"""


class CommWatchdog(ReactiveHTML):
    """Sends the changes Panel's notebook comm manager holds for an acknowledgement overdue by
    ``patience`` ms (see the module's docstring); invisible, one per explorer root."""

    period = param.Integer(default=500, bounds=(50, None), doc="ms between two looks")
    patience = param.Integer(default=1500, bounds=(0, None), doc="ms without an acknowledgement before a send")
    flushed = param.Integer(default=0, doc="how many times the page sent what Panel held (set by the page)")

    _template = '<div id="watchdog" style="display: none"></div>'
    _scripts = {"render": WATCHDOG_JS, "remove": "if (state.timer) clearInterval(state.timer)"}

    def __init__(self, **params):
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        params.setdefault("margin", 0)
        params.setdefault("sizing_mode", "fixed")
        super().__init__(**params)


__all__ = ["CommWatchdog", "WATCHDOG_JS"]
