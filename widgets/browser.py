"""Debian's Chromium as the browser of the widget tests and benchmarks (never ``playwright install``).

Constants only, shared by tests/test_browser.py, tests/test_jupyterlab.py and
benchmarks/bench_widgets.py (importing it still runs the package's ``__init__``, which loads Panel).
"""

CHROMIUM = "/usr/bin/chromium"
# headless on a machine without a display, GPU or internet: without the background-networking flags
# Chromium keeps trying to reach Google's hosts and its connections are refused
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
