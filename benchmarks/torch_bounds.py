"""The torch range of pyproject.toml, tested at its ends: a fresh venv per torch release.

    python benchmarks/torch_bounds.py --torch 2.13.0 [--torch 2.14.1] [--tests tests/test_cli.py ...]
    python benchmarks/torch_bounds.py --table

For each release: a new venv outside the tree, ``pip install torch==V`` first, then the wheel built
from this checkout with its ``[dev]`` extra (so pip must keep that torch: the range admits it), then
the core test files (``python -m pytest`` in a copy of this checkout taken at the start) and one small digits run
(``latentlab run``, 1 thread). Raw results go to ``benchmarks/results/torch_bounds/<V>.json``
(date, command, machine, load, torch's version and CUDA build, what pip installed, the pytest
summary, and the digits run's ``results.csv`` itself); ``--table`` prints them side by side with a
byte comparison of ``results.csv`` against the first release. The venvs are deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "torch_bounds"
TESTS = [
    "tests/test_cli.py",
    "tests/test_training.py",
    "tests/test_gradients.py",
    "tests/test_strategies.py",
    "tests/test_loop.py",
    "tests/test_generative.py",
    "tests/test_packaging.py",
]
DIGITS = (
    "run --dataset digits --strategy random,snn,entropy --seeds 0,1 --rounds 3 --initial 20 --per-round 20 "
    "--epochs 1 --min-steps 60 --gen-epochs 1 --gen-min-steps 200 --n-pool 300 --n-test 150 --quiet"
).split()


def sh(cmd, log, **kw) -> subprocess.CompletedProcess:
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(map(str, cmd))}\n")
        f.flush()
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, text=True, **kw)


def one(version: str, tests: list[str]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"torch-{version}-"))
    log = tmp / "log.txt"
    t0 = time.perf_counter()
    rec = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": f"{platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_before": os.getloadavg()[0],
        "torch_requested": version,
    }
    try:
        src = tmp / "src"  # a snapshot: later edits to the checkout cannot leak into this run
        skip = shutil.ignore_patterns(".venv*", ".git", "runs", "results", "build", "dist", "*.egg-info", "__pycache__")
        shutil.copytree(ROOT, src, ignore=skip)
        r = sh([sys.executable, "-m", "build", "--wheel", "--outdir", tmp / "dist", src], log)
        assert r.returncode == 0, f"build failed, see {log}"
        wheel = next((tmp / "dist").glob("*.whl"))
        sh([sys.executable, "-m", "venv", tmp / "venv"], log)
        py = tmp / "venv" / "bin" / "python"
        pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
        r = sh([*pip, f"torch=={version}"], log)
        assert r.returncode == 0, f"pip install torch=={version} failed, see {log}"
        r = sh([*pip, "--report", tmp / "report.json", f"{wheel}[dev]"], log)
        assert r.returncode == 0, f"pip install of the wheel failed, see {log}"
        installed = [i["metadata"] for i in json.loads((tmp / "report.json").read_text())["install"]]
        rec["pip_installed_with_the_wheel"] = sorted(f"{m['name']}=={m['version']}" for m in installed)
        probe = "import torch, json; print(json.dumps([torch.__version__, torch.version.cuda]))"
        rec["torch"], rec["cuda"] = json.loads(subprocess.check_output([py, "-c", probe], text=True))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "LATENTLAB_CACHE": str(tmp / "cache")}
        r = subprocess.run(
            [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
            cwd=src,
            env=env,
            capture_output=True,
            text=True,
        )
        tail = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-300:]
        rec["pytest"] = {"files": tests, "returncode": r.returncode, "summary": re.sub(r"\x1b\[[0-9;]*m", "", tail)}
        run_dir = tmp / "digits"
        r = sh([tmp / "venv" / "bin" / "latentlab", *DIGITS, "--out", run_dir], log, cwd=tmp, env=env)
        assert r.returncode == 0, f"digits run failed, see {log}"
        text = (run_dir / "results.csv").read_text()
        rec["digits_command"] = "OMP_NUM_THREADS=1 latentlab " + " ".join(DIGITS)
        rec["results_csv_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        rec["results_csv"] = text
        rec["seconds"] = round(time.perf_counter() - t0, 1)
        rec["load_after"] = os.getloadavg()[0]
    finally:
        if log.exists():  # without pip's harmless "Location ... is ignored" lines (this machine's index settings)
            lines = [ln for ln in log.read_text().splitlines(True) if "is ignored: it is neither" not in ln]
            (OUT / f"{version}.log").write_text("".join(lines))
        shutil.rmtree(tmp, ignore_errors=True)
    return rec


def table() -> None:
    recs = [json.loads(p.read_text()) for p in sorted(OUT.glob("*.json"))]
    if not recs:
        sys.exit(f"no results in {OUT}; run with --torch VERSION first")
    ref = recs[0]["results_csv_sha256"]
    print("| torch | CUDA build | wheel install kept that torch | tests | digits results.csv | date | load |")
    print("|---|---|---|---|---|---|---|")
    for r in recs:
        same = "identical" if r["results_csv_sha256"] == ref else "DIFFERS"
        moved = [p for p in r["pip_installed_with_the_wheel"] if p.split("==")[0] == "torch"]
        kept = "yes" if not moved else f"no: {moved[0]}"
        print(
            f"| {r['torch']} | {r['cuda'] or 'no (CPU)'} | {kept} | {r['pytest']['summary']} | "
            f"{r['results_csv_sha256'][:12]} ({same} to {recs[0]['torch']}) | {r['date'][:16]} | "
            f"{r['load_before']:.1f}-{r['load_after']:.1f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torch", action="append", default=[], help="torch release to test (repeatable)")
    p.add_argument("--tests", nargs="+", default=TESTS, help="test files run in each venv")
    p.add_argument("--table", action="store_true", help="print the table from the raw results")
    a = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for v in a.torch:
        rec = one(v, a.tests)
        (OUT / f"{v}.json").write_text(json.dumps(rec, indent=1) + "\n")
        print(f"torch {v}: {rec['pytest']['summary']}, results.csv {rec['results_csv_sha256'][:12]}, {rec['seconds']}s")
    if a.table or not a.torch:
        table()


if __name__ == "__main__":
    main()
