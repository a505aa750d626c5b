"""Benchmark of the open labeling tool (latentlab.fem): speed, memory, accuracy, throughput.

Usage::

    python benchmarks/bench_fem.py --n 50 --workers 2

Prints a markdown table (date, machine, command) to paste into the docs. One core per
process: BLAS/OpenMP threads are pinned to 1 before numpy is imported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from latentlab.vessels.fem import stress_map  # noqa: E402
from latentlab.vessels import generate_vessels  # noqa: E402


def _label(mask: np.ndarray) -> np.ndarray:
    return stress_map(mask)


def lame_error(a: float, b: float, size: int, refine: int = 0, p: float = 0.1) -> float:
    """Relative L2 error of the hoop stress of a centred annulus vs Lame (off-border pixels)."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    r = np.hypot(x - size / 2, y - size / 2)
    m = ((r >= a) & (r < b)).astype(np.uint8)
    s = stress_map(m, p, refine=refine)
    ex = p * a ** 2 / (b ** 2 - a ** 2) * (1 + b ** 2 / r ** 2)
    inner = ndimage.binary_erosion(m)
    return float(np.linalg.norm((s - ex)[inner]) / np.linalg.norm(ex[inner]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="generated 64x64 masks to label")
    ap.add_argument("--seed", type=int, default=0, help="seed of the vessel generator")
    ap.add_argument("--workers", type=int, default=2, help="processes for the throughput run")
    args = ap.parse_args(argv)

    load_start = os.getloadavg()
    masks = generate_vessels(args.n, seed=args.seed)
    _label(masks[0])  # warm-up (imports, caches)

    times, dofs, newton = [], [], []
    for m in masks:
        t0 = time.perf_counter()
        _, info = stress_map(m, return_info=True)
        times.append(time.perf_counter() - t0)
        dofs.append(info["n_dofs"])
        newton.append(info["n_newton"])
    times = np.array(times)
    seq_rate = len(masks) / times.sum()

    tracemalloc.start()
    _label(masks[int(np.argmax(dofs))])
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    lame = {
        "64x64, a=10 b=20 px, refine=0": lame_error(10, 20, 64, 0),
        "64x64, a=10 b=20 px, refine=1": lame_error(10, 20, 64, 1),
        "128x128, a=20 b=40 px, refine=0": lame_error(20, 40, 128, 0),
    }

    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as ex:
        list(ex.map(_label, masks, chunksize=max(1, len(masks) // (4 * args.workers))))
    par_rate = len(masks) / (time.perf_counter() - t0)

    rows = [
        ("date", datetime.datetime.now().isoformat(timespec="seconds")),
        ("machine", f"{platform.platform()}, {platform.processor() or platform.machine()}, "
                    f"{os.cpu_count()} CPUs, Python {platform.python_version()}"),
        ("command", "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])),
        ("masks", f"{args.n} generated 64x64 (seed {args.seed}); "
                  f"{int(np.median(dofs))} dofs median ({min(dofs)}-{max(dofs)})"),
        ("time per mask, 1 core", f"median {np.median(times):.3f} s, "
                                  f"p90 {np.percentile(times, 90):.3f} s, max {times.max():.3f} s"),
        ("Newton iterations per mask", f"median {int(np.median(newton))}"),
        ("peak memory", f"{traced_peak / 2**20:.1f} MiB traced (largest mask), "
                        f"{rss_mb:.0f} MiB max RSS of the process"),
        *[(f"Lame error, {k}", f"{v * 100:.2f} %") for k, v in lame.items()],
        ("throughput, 1 process", f"{seq_rate:.2f} masks/s"),
        (f"throughput, {args.workers} processes", f"{par_rate:.2f} masks/s "
                                                   f"(x{par_rate / seq_rate:.2f})"),
        ("load average (1, 5, 15 min) at start / end",
         " / ".join(", ".join(f"{v:.1f}" for v in la) for la in (load_start, os.getloadavg()))
         + f" on {os.cpu_count()} CPUs (other jobs share the machine: times are upper bounds)"),
        ("paper's VasFEM", "~120 s per 64x64 mask (Appendix A.2)"),
    ]
    print("| quantity | value |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
