"""A pool of a million items: a round of random and of snn, and a Step, headless, with peak memory (issue 22, item 4).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/million_pool.py                 # MNIST x 1,000,000
    .venv/bin/python benchmarks/million_pool.py --dataset digits --n 50000 --out /tmp/x    # smoke
    .venv/bin/python benchmarks/million_pool.py --table

The pool: MNIST's 60,000 training images replicated to ``--n`` items with seeded pixel jitter
(Gaussian, sd 0.05, clipped to [0, 1]), their labels alongside. The images are written once, chunk by
chunk, to a ``.npy`` file and opened **memory-mapped, read-only** (``np.load(mmap_mode="r")``): the
pool is never held in anonymous memory, neither whole nor twice. Everything downstream reads it in place:
encoding (batches of 4,096), the loop's training set (the labelled rows only), the labeler, and the
scoring strategies (one batch gathered at a time, :func:`latentlab.predictive.forward`).

Then, timed: encode the pool with the default generator (from the cache or the shipped weights;
trained if neither has it) and build the KD-tree; one round of ``random`` and of ``snn`` (300 initial
+ 300 proposed, LeNet trained 300 steps, evaluated on the 10,000 test images); one Step
(:func:`latentlab.trajectory.advance`) of 300 points. Memory: peak resident set (``VmHWM``), peak
*anonymous* resident memory (sampled every 20 ms: what the process itself allocated, without the
file pages of the mapped pool, which the kernel can drop), and tracemalloc's peak of Python/numpy
allocations. Raw results: ``benchmarks/results/perf/million_pool/<date>-n<n>.json``.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, arguments, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "million_pool"


def _status() -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) / 2**20  # GiB
    return out


class AnonPeak:
    """Samples RssAnon every ``dt`` seconds in a thread; ``peak`` in GiB."""

    def __init__(self, dt: float = 0.02):
        self.dt, self.peak, self._stop = dt, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _status().get("RssAnon", 0.0))
            time.sleep(self.dt)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def parse_args(argv=None):
    ap = arguments(__doc__, OUT)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--per-round", type=int, default=300)
    ap.add_argument("--steps", type=int, default=300, help="LeNet optimiser steps per round")
    ap.add_argument("--tmp", default=None, help="folder for the pool file (default: a temporary folder)")
    return ap.parse_args(argv)


def build_pool(base, n: int, folder: Path, chunk: int = 50_000):
    """Write ``n`` jittered copies of ``base.x_train`` to ``folder/pool.npy``; return it memory-mapped, and labels."""
    import numpy as np

    path = folder / "pool.npy"
    xb, yb = base.x_train, base.y_train
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, *xb.shape[1:]))
    rng = np.random.default_rng(0)
    src = np.resize(np.arange(len(xb)), n)
    for a in range(0, n, chunk):
        rows = src[a : a + chunk]
        block = xb[rows] + rng.normal(0, 0.05, (len(rows), *xb.shape[1:])).astype(np.float32)
        np.clip(block, 0, 1, out=block)
        mm[a : a + chunk] = block
    mm.flush()
    del mm
    return np.load(path, mmap_mode="r"), yb[src].astype(np.int64)


def run(a) -> dict:
    import dataclasses
    import tracemalloc

    import numpy as np

    from latentlab import ActiveLoop, GeneratorConfig, LoopConfig, TrainConfig, get_generator, get_strategy
    from latentlab import set_thread_policy
    from latentlab.datasets import load_dataset
    from latentlab.latent import LatentSpace
    from latentlab.tasks import task_for
    from latentlab.trajectory import advance

    set_thread_policy(1)
    meta = run_meta(dataset=a.dataset, n=a.n, per_round=a.per_round, steps=a.steps)
    t: dict = {}
    base = load_dataset(a.dataset, root=a.data_root)
    gen = get_generator(base, GeneratorConfig(), seed=0, progress=False)
    with tempfile.TemporaryDirectory(dir=a.tmp) as tmp, AnonPeak() as anon:
        tracemalloc.start()
        w = time.perf_counter()
        x_pool, y_pool = build_pool(base, a.n, Path(tmp))
        t["write_pool_s"] = time.perf_counter() - w
        ds = dataclasses.replace(base, name=f"{base.name}-x{a.n}", x_train=x_pool, y_train=y_pool)
        w = time.perf_counter()
        space = LatentSpace.from_generator(gen, ds.x_train)
        t["encode_and_index_s"] = time.perf_counter() - w
        cfg = LoopConfig(
            rounds=2,
            initial=a.per_round,
            per_round=a.per_round,
            train=TrainConfig(epochs=1, batch_size=64, min_steps=a.steps),
        )
        rounds = {}
        loops = {}
        for name in ("random", "snn"):
            loop = ActiveLoop(ds, get_strategy(name), cfg, seed=0, latent=space, progress=False)
            w = time.perf_counter()
            rec = loop.run_round()
            rounds[name] = {
                "round_s": time.perf_counter() - w,
                "train_s": rec.train_s,
                "eval_s": rec.eval_s,
                "propose_s": rec.sample_s,
                "accuracy": rec.metric,
                "n_labelled_after": int(loop.pool.n_labelled),
            }
            loops[name] = loop
        loop = loops["snn"]
        items = loop.pool.labelled_indices()[: a.per_round]
        w = time.perf_counter()
        mv = advance(space, loop.model, task_for(ds), items, y_pool[items], alpha=0.2, x_pool=ds.x_train)
        t["step_s"] = time.perf_counter() - w
        moved = int(np.count_nonzero(mv.neighbour != items))
        _, tm_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        st = _status()
    pool_gb = a.n * int(np.prod(base.image_shape)) * 4 / 2**30
    return finish_meta(
        {
            **meta,
            "seconds": t,
            "rounds": rounds,
            "step_moved": moved,
            "pool_file_gib": pool_gb,
            "peak_rss_gib": st["VmHWM"],
            "peak_anon_gib": anon.peak,
            "rss_end": st,
            "tracemalloc_peak_gib": tm_peak / 2**30,
        }
    )


def table(out: Path = OUT) -> str:
    head = [
        "| date | pool | pool file GiB | write s | encode + KD-tree s | random round s (train / eval / propose)"
        " | snn round s (train / eval / propose) | Step s | peak RSS GiB | peak anonymous GiB | tracemalloc peak GiB"
        " | load |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|",
    ]

    def row(r):
        s = r["seconds"]

        def rnd(k):
            v = r["rounds"][k]
            return f"{v['round_s']:.1f} ({v['train_s']:.1f} / {v['eval_s']:.1f} / {v['propose_s']:.2f})"

        return [
            f"| {r['date']} | {r['dataset']} x {r['n']:,} | {r['pool_file_gib']:.2f} | {s['write_pool_s']:.0f} "
            f"| {s['encode_and_index_s']:.1f} | {rnd('random')} | {rnd('snn')} | {s['step_s']:.2f} "
            f"| {r['peak_rss_gib']:.2f} | {r['peak_anon_gib']:.2f} | {r['tracemalloc_peak_gib']:.2f} "
            f"| {r['load_before'][0]} -> {r['load_after'][0]} |"
        ]

    def foot(rows):
        m = rows[0]["machine"]
        return f"\n\nOne torch thread; {m['cpu']}, {m['mem_gb']} GiB.\n"

    return results_table(out, head, row, foot)


def main(argv=None):
    a = parse_args(argv)
    measure_or_table(a, table, lambda: [(f"{a.dataset}-n{a.n}", run(a))])


if __name__ == "__main__":
    main()
