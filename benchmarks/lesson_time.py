"""The full-size lesson (notebooks/06_lesson.ipynb at its default parameters), timed as a teacher runs it.

    python benchmarks/lesson_time.py              # cold (empty cache and out_dir), then warm (the same again)
    python benchmarks/lesson_time.py --runs cold  # only one of them

``cold`` is the teacher's run before class: a fresh cache and a fresh working folder, so every
loop of sections 5 and 6 runs; ``warm`` executes the notebook again in the same folder, as the
class does (the runs are read back from ``out_dir``; F of section 2, the walks and the explorer
are computed again). Each run is ``papermill`` of the committed notebook with no parameter given
(the working folder is a temporary directory, so ``out_dir``'s default lands there), under
``/usr/bin/time -v`` and ``flock /tmp/latentlab-bench.lock``, one torch thread (the notebook's
``set_thread_policy``), the load recorded before and after. Raw numbers land in
``benchmarks/results/lesson_time/<run>.json``, with the cold run's ``results.csv`` (the race) and
``picks.csv`` (the pick measurements) beside them; ``benchmarks/tables.py`` writes docs/lesson.md's
numbers from them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "lesson_time"
NB = ROOT / "notebooks" / "06_lesson.ipynb"
LOCK = "/tmp/latentlab-bench.lock"
TIME = "/usr/bin/time"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _time_v(text: str) -> dict:
    """The numbers of ``/usr/bin/time -v`` that matter here: wall, user, system seconds, peak RSS (MiB)."""
    grab = {k: re.search(p, text) for k, p in {
        "wall": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)",
        "user": r"User time \(seconds\): ([\d.]+)",
        "sys": r"System time \(seconds\): ([\d.]+)",
        "rss": r"Maximum resident set size \(kbytes\): (\d+)",
    }.items()}  # fmt: skip
    missing = [k for k, m in grab.items() if m is None]
    if missing:
        raise ValueError(f"{TIME} -v printed no {missing}: is GNU time installed (apt-get install time)?")
    wall = 0.0
    for part in grab["wall"].group(1).split(":"):  # h:mm:ss or m:ss.ss
        wall = 60 * wall + float(part)
    return {
        "wall_s": round(wall, 2),
        "user_s": float(grab["user"].group(1)),
        "sys_s": float(grab["sys"].group(1)),
        "max_rss_mib": round(int(grab["rss"].group(1)) / 1024, 1),
    }


def run(work: Path, cache: Path, name: str) -> dict:
    """Execute the notebook once in ``work`` with ``cache``; the run's record."""
    env = {**os.environ, "LATENTLAB_CACHE": str(cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    timing = work / f"{name}.time"
    cmd = ["flock", LOCK, TIME, "-v", "-o", str(timing), sys.executable, "-m", "papermill", "--cwd", str(work)]
    cmd += [str(NB), str(work / f"06_lesson_{name}.ipynb"), "--no-progress-bar"]
    before, t0 = _load(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    after = _load()
    if p.returncode:
        sys.exit(f"run {name} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "run": name,
        "started": t0,
        "commit": commit.stdout.strip(),
        "command": "papermill notebooks/06_lesson.ipynb OUT.ipynb  (default parameters)",
        "load_before": before,
        "load_after": after,
        "cores": os.cpu_count(),
        **_time_v(timing.read_text()),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="cold,warm", help="comma-separated: cold, warm (warm needs cold first)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    bad = sorted(set(names) - {"cold", "warm"})
    if bad:
        sys.exit(f"unknown run(s) {bad}; valid: cold, warm")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lesson_time-") as tmp:
        work, cache = Path(tmp) / "work", Path(tmp) / "cache"
        work.mkdir()
        for name in ["cold", "warm"]:
            if name not in names and not (name == "cold" and "warm" in names):
                continue  # warm alone still needs the cold run first, unrecorded
            rec = run(work, cache, name)
            if name in names:
                (OUT / f"{name}.json").write_text(json.dumps(rec, indent=1) + "\n")
                print(json.dumps(rec))
            if name == "cold":  # what the class sees at the default settings (same seeds: the same numbers)
                for f in ("results.csv", "picks.csv"):
                    shutil.copy(work / "runs" / "06_lesson" / f, OUT / f)


if __name__ == "__main__":
    main()
