"""Debian's Chromium as the browser of the widget tests and benchmarks (never ``playwright install``).

Constants (and a server teardown) shared by tests/test_browser.py, tests/test_jupyterlab.py,
benchmarks/bench_widgets.py and benchmarks/explorer_latency.py (importing it still runs the
package's ``__init__``, which loads Panel).
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


def stop(proc, timeout: float = 20) -> None:
    """Stop a server started with ``subprocess.Popen`` (JupyterLab, Notebook 7): terminate, then kill
    if it has not exited after ``timeout`` s."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
