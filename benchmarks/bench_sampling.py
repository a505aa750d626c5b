"""Time one SNN sampling step (latent gradient + nearest-distinct query) for large pools.

The step is what a round adds on top of training: J start points go through G and F and back
(Eq. 1), move by alpha (Eq. 2) and take their nearest free pool items (KD-tree). The KD-tree is
built once per run (the generator is frozen), so its build time is reported separately.

Usage::

    python benchmarks/bench_sampling.py --data-root ../shared/data [--J 300] [--repeats 20]

Prints a markdown table. Pools: MNIST's 60,000 embeddings, and 1,000,000 points made from them
(each MNIST embedding repeated with small Gaussian jitter), 10% of the pool labelled.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--J", default="32,300", help="comma-separated batch sizes J")
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()

    from latentlab import GeneratorConfig, LatentIndex, LatentSpace, PoolState, encode, get_generator, load_dataset
    from latentlab.models import LeNet
    from latentlab.strategies import SamplingContext, get_strategy
    from latentlab.tasks import Classification

    ds = load_dataset("mnist", root=a.data_root)
    gen = get_generator(ds, GeneratorConfig(), seed=0)
    emb60 = encode(gen, ds.x_train)
    torch.manual_seed(0)
    target = LeNet((1, 28, 28), 10).eval()
    rng = np.random.default_rng(0)
    rows = []
    for name, emb, x, y in [
        ("60k (MNIST)", emb60, ds.x_train, ds.y_train),
        ("1M (MNIST x 17 + jitter)", None, None, None),
    ]:
        if emb is None:
            reps = int(np.ceil(1_000_000 / len(emb60)))
            emb = (np.tile(emb60, (reps, 1))[:1_000_000] + rng.normal(0, 0.01, (1_000_000, 2))).astype(np.float32)
            idx = np.arange(1_000_000) % len(emb60)
            x, y = ds.x_train, ds.y_train[idx]
            xs = _LazyImages(ds.x_train, idx)
        else:
            xs = x
        t0 = time.perf_counter()
        index = LatentIndex(emb)
        build = time.perf_counter() - t0
        n = len(emb)
        pool = PoolState.empty(n).label(rng.choice(n, n // 10, replace=False), 1)
        ctx = SamplingContext(
            x_pool=xs,
            y_pool=y,
            pool=pool,
            task=Classification(),
            target=target,
            latent=LatentSpace(gen, emb, index),
            alpha=0.2,
        )
        snn = get_strategy("snn")
        for J in [int(j) for j in a.J.split(",")]:
            times, grad_t, nn_t = [], [], []
            for r in range(a.repeats + 2):
                t0 = time.perf_counter()
                start = rng.choice(pool.labelled_indices(), J, replace=False)
                d, _, _ = snn.directions(ctx, emb[start].astype(np.float64), start, rng)
                t1 = time.perf_counter()
                index.nearest_distinct(emb[start] + 0.2 * d, excluded=pool.labelled_mask)
                t2 = time.perf_counter()
                if r >= 2:  # warm-up
                    times.append(t2 - t0), grad_t.append(t1 - t0), nn_t.append(t2 - t1)
            rows.append((name, J, build, np.median(grad_t), np.median(nn_t), np.median(times)))
    print(
        f"date: {datetime.date.today()}  machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}"
    )
    print(f"command: python benchmarks/bench_sampling.py --J {a.J} --repeats {a.repeats}\n")
    print("| pool | J | KD-tree build (once per run) | gradient (G, F, backward) | nearest-distinct | one step |")
    print("|---|---|---|---|---|---|")
    for name, J, b, g, q, t in rows:
        print(f"| {name} | {J} | {b * 1e3:.0f} ms | {g * 1e3:.1f} ms | {q * 1e3:.1f} ms | {t * 1e3:.1f} ms |")


class _LazyImages:
    """Index-mapped view of the MNIST images for the 1M pool (images are only read for start points)."""

    def __init__(self, base, idx):
        self.base, self.idx = base, idx

    def __getitem__(self, i):
        return self.base[self.idx[i]]

    def __len__(self):
        return len(self.idx)


if __name__ == "__main__":
    main()
