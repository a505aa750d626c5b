"""latentlab's ``bald`` against the peer library's ``baal-bald``: seconds per acquisition, same model and data.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bald_vs_baal.py          # MNIST, 1 thread
    .venv/bin/python benchmarks/bald_vs_baal.py --table
    .venv/bin/python benchmarks/bald_vs_baal.py --dataset digits --candidates 500 --reps 1 --out /tmp/x  # smoke

One LeNet-with-dropout (Table S7 + Gal et al.'s dropout, ``lenet-dropout``) is trained on a seeded
initial set (the BatchBALD protocol's 20 class-balanced labels by default), then both strategies
propose the next batch from the *same* :class:`~latentlab.strategies.SamplingContext` (the same
model weights, the same candidates: a seeded ``--candidates`` subset of the unlabelled pool, and
``--mc-samples`` passes), alternately, ``--reps`` times each. Reported: the best and the median
seconds of each, and the ratio ``bald / baal-bald`` of the medians (< 1: latentlab is faster).

Where the time goes: latentlab runs LeNet's deterministic conv block once and only the small dropout
head ``K`` times (:func:`latentlab.predictive.mc_dropout_probs`); baal's ``mc_inference`` replicates
the batch ``K`` times through the whole network. Both use ``K`` masks (latentlab: one per pass,
shared by all items, as BatchBALD needs; baal: one per item and pass), so the scores differ in
their Monte-Carlo noise, not in what they estimate.

Raw results: ``benchmarks/results/perf/bald_vs_baal/<date>-<dataset>-c<candidates>.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, arguments, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "bald_vs_baal"


def parse_args(argv=None):
    ap = arguments(__doc__, OUT)
    ap.add_argument("--candidates", default="10000,59980", help="comma-separated candidate counts (protocol: 10000)")
    ap.add_argument("--mc-samples", type=int, default=20)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--initial", type=int, default=20)
    ap.add_argument("--train-steps", type=int, default=250)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args(argv)


def run(a, n_cand: int) -> dict:
    import numpy as np
    import torch

    from latentlab import set_thread_policy
    from latentlab.datasets import balanced_indices, load_dataset
    from latentlab.models import build_target
    from latentlab.pool import PoolState
    from latentlab.strategies import SamplingContext, get_strategy
    from latentlab.tasks import Classification
    from latentlab.training import TrainConfig, fit, seed_everything

    set_thread_policy(a.threads)
    ds = load_dataset(a.dataset, root=a.data_root)
    task = Classification()
    rng = np.random.default_rng(0)
    init = balanced_indices(ds.y_train, a.initial, rng)
    seed_everything(0)
    model = build_target("lenet-dropout", ds.image_shape, ds.n_classes)
    xt, yt = torch.as_tensor(ds.x_train[init]), torch.as_tensor(ds.y_train[init])
    fit(model, (xt, yt), lambda m, b: task.loss(m(b[0]), b[1]), TrainConfig(epochs=0, min_steps=a.train_steps), seed=0)
    pool = PoolState.empty(len(ds.x_train)).label(init, 1)
    n_free = pool.n_pool - pool.n_labelled
    ctx = SamplingContext(
        x_pool=ds.x_train,
        y_pool=ds.y_train,
        pool=pool,
        task=task,
        target=model,
        candidates=n_cand if n_cand < n_free else None,
        mc_samples=a.mc_samples,
    )
    meta = run_meta(
        dataset=a.dataset,
        candidates=min(n_cand, n_free),
        mc_samples=a.mc_samples,
        per_round=a.per_round,
        initial=a.initial,
    )
    times: dict = {"bald": [], "baal-bald": []}
    picks = {}
    for rep in range(a.reps):
        for name in ("bald", "baal-bald"):
            s = get_strategy(name)
            w, c = time.perf_counter(), time.process_time()
            prop = s.propose(ctx, a.per_round, np.random.default_rng([1, rep]))
            times[name].append({"wall": time.perf_counter() - w, "cpu": time.process_time() - c})
            picks[name] = prop.indices.tolist()
            t = times[name][-1]
            print(f"{name:10s} rep {rep}: {t['wall']:.2f} s wall, {t['cpu']:.2f} s cpu", flush=True)
    med = {k: float(np.median([t["wall"] for t in v])) for k, v in times.items()}
    med_cpu = {k: float(np.median([t["cpu"] for t in v])) for k, v in times.items()}
    overlap = len(set(picks["bald"]) & set(picks["baal-bald"]))
    return finish_meta(
        {
            **meta,
            "times": times,
            "median_wall": med,
            "median_cpu": med_cpu,
            "ratio_wall": med["bald"] / med["baal-bald"],
            "ratio_cpu": med_cpu["bald"] / med_cpu["baal-bald"],
            "picks_overlap": overlap,
        }
    )


def table(out: Path = OUT) -> str:
    head = [
        "| date | data | candidates | K | threads | load | bald s (median wall / cpu) "
        "| baal-bald s (median wall / cpu) | ratio bald / baal (wall) | ratio (cpu) | same picks |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]

    def row(r):
        mw, mc = r["median_wall"], r["median_cpu"]
        return [
            f"| {r['date']} | {r['dataset']} | {r['candidates']} | {r['mc_samples']} | {r['torch_threads']} "
            f"| {r['load_before'][0]} -> {r['load_after'][0]} | {mw['bald']:.2f} / {mc['bald']:.2f} "
            f"| {mw['baal-bald']:.2f} / {mc['baal-bald']:.2f} | {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} "
            f"| {r['picks_overlap']} of {r['per_round']} |"
        ]

    def foot(rows):
        return f"\n\nMachine: {rows[0]['machine']['cpu']}, {rows[0]['machine']['cores']} cores.\n"

    return results_table(out, head, row, foot)


def main(argv=None):
    a = parse_args(argv)
    measure_or_table(a, table, lambda: ((f"{a.dataset}-c{c}", run(a, c)) for c in map(int, a.candidates.split(","))))


if __name__ == "__main__":
    main()
