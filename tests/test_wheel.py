"""The wheel as a user gets it: built from this checkout (sdist, then the wheel from the sdist, as
``python -m build`` does), installed NON-editable into a fresh venv outside the tree, and used from
an empty folder: ``latentlab --version``, a digits run, the explorer's import and a paper notebook
run by ``latentlab sweep`` (papermill) with smoke settings.

To avoid a second full install of the stack (~1 min, ~2 GB), the venv borrows the dependencies of
the environment running the tests: a ``.pth`` file adds that environment's site-packages *after*
the venv's own, whose only package is the wheel (``--no-deps``). The borrowed folder's own ``.pth``
files (an editable install of this checkout) are not processed, so nothing there can stand in for
the wheel: the test checks where every imported file comes from. pip's dry run then shows that the
wheel's requirements, torch's range included, install nothing more.
Measured on the 2-core machine at load 10-14 (2026-12-02): 171 s in all (build 19.5 s, venv and
install 14.3 s, the rest mostly the notebook under papermill); it prints its phases with -s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    r = subprocess.run(list(map(str, cmd)), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_wheel_installs_and_runs_outside_the_tree(tmp_path):
    pytest.importorskip("build", reason="the [dev] extra's `build` builds the wheel")
    pytest.importorskip("papermill", reason="the notebook smoke needs the [notebooks] extra")
    t0, times = time.perf_counter(), {}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env |= {"OMP_NUM_THREADS": "1", "LATENTLAB_CACHE": str(tmp_path / "cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    # --- build: sdist, then the wheel from the unpacked sdist
    _run([sys.executable, "-m", "build", "--outdir", tmp_path / "dist", ROOT], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("latentlab_sampling-*-py3-none-any.whl")
    times["build"] = time.perf_counter() - t0
    names = zipfile.ZipFile(wheel).namelist()
    nb = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    grids = sorted(p.name for p in (ROOT / "notebooks" / "grids").glob("*.yaml"))
    assert {f"latentlab/notebooks/{n}" for n in nb} | {f"latentlab/notebooks/grids/{g}" for g in grids} <= set(names)
    assert "latentlab/py.typed" in names and "latentlab/widgets/explorer.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    dist_info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"
    tops = {n.split("/")[0] for n in names}
    assert tops == {"latentlab", dist_info}, tops  # no top-level widgets/, notebooks/ or tests/

    # --- a fresh venv outside the tree: the wheel is its only package; dependencies are borrowed
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    py, bindir = venv / "bin" / "python", venv / "bin"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([py, "-c", purelib], tmp_path, env).stdout.strip())
    (site / "_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", py]
    _run([*pip, "install", "--no-deps", "--ignore-installed", wheel], tmp_path, env)
    report = tmp_path / "report.json"
    _run([*pip, "install", "--dry-run", "--quiet", "--report", report, f"{wheel}[widgets,notebooks]"], tmp_path, env)
    more = [i["metadata"]["name"] for i in json.loads(report.read_text())["install"]]
    assert more == [], f"the wheel's requirements would install more: {more}"
    times["venv+install"] = time.perf_counter() - t0 - times["build"]

    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    work = tmp_path / "work"  # an empty folder: no checkout anywhere on the path
    work.mkdir()
    out = _run([bindir / "latentlab", "--version"], work, env).stdout
    assert out == f"latentlab {_version()}\n"
    probe = (
        "import json, latentlab, latentlab.widgets, latentlab.widgets.explorer, importlib.metadata as m;"
        "from latentlab.resources import notebooks_dir;"
        "print(json.dumps([latentlab.__file__, latentlab.widgets.__file__, str(notebooks_dir()),"
        " str(m.distribution('latentlab-sampling').locate_file(''))]))"
    )
    files = json.loads(_run([py, "-c", probe], work, env).stdout)
    assert all(Path(f).is_relative_to(site) for f in files), files  # the wheel's files, not the checkout's
    assert not any(Path(f).is_relative_to(ROOT) for f in files)

    # --- a digits run (the command line)
    run = [bindir / "latentlab", "run", "--dataset", "digits", "--strategy", "random,snn", "--seeds", "0"]
    run += ["--n-pool", "300", "--n-test", "100", "--rounds", "2", "--initial", "20", "--per-round", "10"]
    run += ["--epochs", "1", "--min-steps", "10", "--gen-epochs", "1", "--gen-min-steps", "30", "--quiet"]
    _run([*run, "--out", "digits"], work, env)
    rows = (work / "digits" / "results.csv").read_text().splitlines()
    assert len(rows) > 1 and {"random", "snn"} <= {c for r in rows[1:] for c in r.split(",")}

    # --- a paper notebook under papermill, found in the wheel by `latentlab sweep` (one smoke point)
    (work / "smoke.yaml").write_text("grid:\n  seeds: [0]\nfixed:\n  smoke: true\n  strategies: [random, snn]\n")
    cmd = [bindir / "latentlab", "sweep", "notebooks/01_mnist.ipynb", "--grid", "smoke.yaml", "--out", "sw"]
    r = _run(cmd, work, env)
    assert "using the one installed with latentlab" in r.stdout
    sweep = json.loads((work / "sw" / "sweep.json").read_text())
    assert Path(sweep["notebook"]).is_relative_to(site)
    assert "1 finished, 0 failed" in (work / "sw" / "summary.md").read_text()
    # --- and `latentlab notebooks DIR` hands out the same files
    _run([bindir / "latentlab", "notebooks", "nb"], work, env)
    assert sorted(p.name for p in (work / "nb").glob("*.ipynb")) == nb
    assert sorted(p.name for p in (work / "nb" / "grids").glob("*.yaml")) == grids
    times["total"] = time.perf_counter() - t0
    print("wheel test seconds:", {k: round(v, 1) for k, v in times.items()}, "load", os.getloadavg()[0])


def _version() -> str:
    from latentlab._version import __version__

    return __version__
