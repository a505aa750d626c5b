"""What every ``benchmarks/`` script of issue 22 records beside its numbers: when, how, where, how loaded.

Each raw result file carries :func:`run_meta` (date, command line, machine, torch and its threads,
the load average before), and :func:`finish_meta` adds the load after. Timings are taken with
:func:`timed`: wall-clock seconds and this process's CPU seconds (on a shared machine the CPU time
is the steadier of the two; single-threaded work should show ``cpu ~= wall`` when the core was free).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "perf"
# MNIST and CIFAR-10 files: ../shared/data beside the checkout (or beside the folder of worktrees)
DATA_ROOT = next(
    (p for p in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data") if p.exists()),
    ROOT.parent / "shared" / "data",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def run_meta(**extra) -> dict:
    """Date, command, machine, Python/torch versions, torch threads and the load average now."""
    import torch

    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "mem_gb": _mem_gb(), "host": platform.node()},
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_before": [round(v, 2) for v in os.getloadavg()],
        **extra,
    }


def finish_meta(meta: dict) -> dict:
    meta["load_after"] = [round(v, 2) for v in os.getloadavg()]
    return meta


@contextmanager
def timed(out: dict, name: str):
    """``with timed(t, "train"): ...`` stores ``t["train"] = {"wall": s, "cpu": s}``."""
    w, c = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        out[name] = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c}


def write_json(path: Path, obj) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=float))
    tmp.replace(path)
    return path


def read_json_files(folder: Path, pattern: str = "*.json") -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob(pattern))]


def arguments(doc: str, out: Path, *, dataset: bool = True) -> argparse.ArgumentParser:
    """The flags that :func:`measure_or_table` reads, ``--out`` (the raw results' folder, default ``out``)
    and ``--table``, after ``--dataset`` (mnist or digits) and ``--data-root`` where ``dataset``."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if dataset:
        ap.add_argument("--dataset", default="mnist", choices=("mnist", "digits"))
        ap.add_argument("--data-root", default=str(DATA_ROOT))
    ap.add_argument("--out", default=str(out))
    ap.add_argument("--table", action="store_true", help="print the table of the raw results in --out, measure nothing")
    return ap


def minute_stamp() -> str:
    """The minute a measurement started (``2026-12-02T0540``), the first part of a raw result's file name."""
    return _dt.datetime.now().strftime("%Y-%m-%dT%H%M")


def measure_or_table(args, table: Callable[[Path], str], measure: Callable[[], Iterable[tuple[str, dict]]]) -> None:
    """The ``main`` of the scripts here: unless ``--table``, write each ``(name, result)`` that
    ``measure()`` yields to ``--out`` as ``<minute started>-<name>.json``; then print the table of
    every raw result in ``--out``."""
    if not args.table:
        stamp = minute_stamp()
        for name, result in measure():
            write_json(Path(args.out) / f"{stamp}-{name}.json", result)
    print(table(Path(args.out)))


def results_table(
    out: Path,
    head: list[str],
    row: Callable[[dict], list[str]],
    foot: Callable[[list[dict]], str] = lambda rows: "",
) -> str:
    """The Markdown of the raw results in ``out``: the ``head`` lines, the lines ``row(r)`` gives for
    each result ``r`` (in file-name order), then ``foot(results)``; ``(no raw results)`` when there are none."""
    rows = read_json_files(Path(out))
    if not rows:
        return "(no raw results)"
    return "\n".join([*head, *(line for r in rows for line in row(r))]) + foot(rows)


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    import numpy as np

    v = np.asarray(list(values), float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
