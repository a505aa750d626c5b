"""Seconds per ``propose`` of each baseline strategy on the 60k MNIST pool: 300 random labels,
LeNet-dropout trained 200 steps, ``candidates=10000``, ``mc_samples=20``, 10 picks, one torch thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_baseline_propose.py ../shared/data [strategy,strategy,...]
"""

import os
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
from latentlab import load_dataset, PoolState, get_strategy
from latentlab.models import build_target
from latentlab.strategies import SamplingContext
from latentlab.tasks import Classification
from latentlab.training import TrainConfig, fit

ds = load_dataset("mnist", root=sys.argv[1])
rng = np.random.default_rng(0)
lab = np.sort(rng.choice(len(ds.x_train), 300, replace=False))
torch.manual_seed(0)
m = build_target("lenet-dropout", ds.image_shape, 10)
task = Classification()
x, y = torch.as_tensor(ds.x_train[lab]), task.y_tensor(ds.y_train[lab])
t = time.perf_counter()
fit(m, (x, y), lambda mm, b: task.loss(mm(b[0]), b[1]), TrainConfig(epochs=1, batch_size=64, min_steps=200), seed=0)
print(
    f"train 200 steps: {time.perf_counter() - t:.1f}s",
    f"test acc {task.evaluate(m, ds.x_test[:2000], ds.y_test[:2000]):.1f}%",
)
pool = PoolState.empty(len(ds.x_train)).label(lab, 1)
ctx = SamplingContext(
    x_pool=ds.x_train, y_pool=ds.y_train, pool=pool, task=task, target=m, candidates=10_000, mc_samples=20
)
names = (
    sys.argv[2].split(",")
    if len(sys.argv) > 2
    else ["random", "entropy", "margin", "least-confidence", "bald", "batchbald", "coreset", "badge"]
)
for name in names:
    s = get_strategy(name)
    t = time.perf_counter()
    p = s.propose(ctx, 10, np.random.default_rng(1))
    print(
        f"{name:18s} {time.perf_counter() - t:7.2f} s/propose (10 of 10000 candidates)",
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
