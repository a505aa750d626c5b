"""The machine a run came from: CPU model, ATen's CPU kernel level, library versions, threads.

Same seed, same ``results.csv`` holds byte for byte on one machine and kernel path; another CPU
(or ``ATEN_CPU_CAPABILITY`` forcing another kernel level) can move float results by a test item
or two per round. Every run folder records ``machine.json`` (:func:`write_machine`) so that
``latentlab compare`` can say when it compares runs from different kernel paths
(:func:`kernel_path_warnings`).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from .storage import atomic_write

__all__ = ["machine_info", "write_machine", "read_machine", "kernel_path", "kernel_path_warnings", "MACHINE_FILE"]

MACHINE_FILE = "machine.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict:
    """What decides a run's floats on this machine (and what a reader needs to reproduce it)."""
    import numpy as np
    import torch

    return {
        "cpu_model": _cpu_model(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY"),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }


def write_machine(out) -> dict:
    """Write ``out/machine.json`` (worker processes of ``--workers`` run one torch thread each)."""
    info = machine_info()
    atomic_write(Path(out) / MACHINE_FILE, json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def read_machine(folder) -> dict | None:
    """A run folder's ``machine.json``, or None (written before machines were recorded, or unreadable)."""
    try:
        d = json.loads((Path(folder) / MACHINE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def kernel_path(info: dict) -> tuple:
    """What must agree for byte-identical floats: CPU model, ATen kernel level, torch and numpy."""
    return (info.get("cpu_model"), info.get("cpu_capability"), info.get("torch"), info.get("numpy"))


def kernel_path_warnings(folders) -> list[str]:
    """One line per way the compared run folders' machines differ (empty: same kernel path, or unknown)."""
    infos = {str(f): read_machine(f) for f in folders}
    known = {f: i for f, i in infos.items() if i is not None}
    out = []
    if len(known) < len(infos) and known:
        missing = ", ".join(f for f, i in infos.items() if i is None)
        out.append(f"no machine.json in {missing}: cannot tell whether the runs share a kernel path")
    paths = {f: kernel_path(i) for f, i in known.items()}
    if len(set(paths.values())) > 1:
        desc = "; ".join(f"{f}: {p[0]}, {p[1]}, torch {p[2]}, numpy {p[3]}" for f, p in paths.items())
        out.append(
            "the compared runs came from different machines or CPU kernel paths "
            f"({desc}); their numbers can differ by a test item or two per round for that alone"
        )
    return out
