"""A round's work against the core's limit (issue 22, item 2): scoring, evaluation, training F.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/round_roofline.py            # MNIST, 1 and 2 threads
    .venv/bin/python benchmarks/round_roofline.py --table                            # the table, from raw files
    .venv/bin/python benchmarks/round_roofline.py --dataset digits --pool 1000 --test 300 --out /tmp/x  # smoke

The roofline of an operation is its floating-point work divided by this core's measured rate:

* **rate**: a 2048 x 2048 float32 matmul (``torch.mm``), best of 10, at the same thread count,
  measured inside the same run just before each operation (so both see the same load);
* **work**: multiply-adds of every ``Conv2d`` and ``Linear`` layer, counted by forward hooks on
  one batch (LeNet of Table S7: 2.30 M per 28 x 28 image = 4.59 MFLOP), times the items; BALD adds
  ``K`` passes of the dropout head; training counts 3x the forward (forward, input and weight gradients).

Operations (MNIST, a Table-1 round at 3,000 labels: 57,000 unlabelled pool items, 10,000 test items):
entropy and margin scoring of the 57k (the path before issue 22 and the one now, in one run),
BALD with ``K = 20`` MC-dropout passes, test evaluation, and one round's training of F (300
optimiser steps of 64 images, the ``--min-steps`` floor). Each is the best of ``--reps`` runs;
``ratio`` = measured wall seconds / roofline seconds (1.0 = at the limit). The CPU-seconds column
is this process's CPU time (with one thread: the time the core actually spent).

Raw results: ``benchmarks/results/perf/roofline/<date>-t<threads>.json`` (date, command, machine,
load before/after, threads). The legacy path is ``LATENTLAB_FAST_INFERENCE=0`` (latentlab.predictive).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, arguments, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "roofline"


def parse_args(argv=None):
    ap = arguments(__doc__, OUT)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--pool", type=int, default=57_000, help="unlabelled items scored")
    ap.add_argument("--test", type=int, default=10_000, help="test items evaluated")
    ap.add_argument("--mc-samples", type=int, default=20)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--ops", default="entropy_before,entropy,margin_before,margin,bald_before,bald,evaluate_before,evaluate,train"
    )
    return ap.parse_args(argv)


def matmul_rate(n: int = 2048, reps: int = 10) -> dict:
    """Best-of-``reps`` float32 ``n x n`` matmul rate, FLOP/s by wall clock and by CPU time."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best_w = best_c = float("inf")
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        a @ b
        best_w, best_c = min(best_w, time.perf_counter() - w), min(best_c, time.process_time() - c)
    return {"wall": 2 * n**3 / best_w, "cpu": 2 * n**3 / max(best_c, 1e-9)}


def count_macs(model, x1) -> dict:
    """Multiply-adds per item of each Conv2d / Linear layer of ``model`` on the batch ``x1``, by name."""
    import torch
    from torch import nn

    macs: dict = {}

    def hook(name):
        def f(m, inp, out):
            if isinstance(m, nn.Conv2d):
                per_out = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            else:
                per_out = m.in_features
            macs[name] = out[0].numel() * per_out

        return f

    hs = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(x1)
    for h in hs:
        h.remove()
    return macs


def measure_once(fn, flop: float) -> dict:
    """One timed call of ``fn`` with the matmul rate measured just before it (same threads, same load):
    wall and CPU seconds, the rate, and the ratios to the roofline ``flop / rate``."""
    rate = matmul_rate(reps=5)
    w, c = time.perf_counter(), time.process_time()
    fn()
    r = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "rate": rate}
    r["ratio"] = r["wall"] * rate["wall"] / flop
    r["ratio_cpu"] = r["cpu"] * rate["cpu"] / flop
    return r


def summarize(reps: list[dict], first: dict, flop: float, threads: int) -> dict:
    """Medians over the repetitions (and their min-max), the first call apart (it builds oneDNN's kernels)."""
    med = statistics.median
    out = {
        "flop": flop,
        "first": first,
        "reps": reps,
        "wall": med(r["wall"] for r in reps),
        "cpu": med(r["cpu"] for r in reps),
        "rate": {k: med(r["rate"][k] for r in reps) for k in ("wall", "cpu")},
        "ratio": med(r["ratio"] for r in reps),
        "ratio_range": [min(r["ratio"] for r in reps), max(r["ratio"] for r in reps)],
    }
    out["roofline_s"] = flop / out["rate"]["wall"]
    out["roofline_cpu_s"] = flop / out["rate"]["cpu"]
    if threads == 1:  # CPU time is the core's work only with one thread
        out["ratio_cpu"] = med(r["ratio_cpu"] for r in reps)
        out["ratio_cpu_range"] = [min(r["ratio_cpu"] for r in reps), max(r["ratio_cpu"] for r in reps)]
    else:
        out["ratio_cpu"] = None
    return out


def _legacy(fn):
    def run():
        old = os.environ.get("LATENTLAB_FAST_INFERENCE")
        os.environ["LATENTLAB_FAST_INFERENCE"] = "0"
        try:
            return fn()
        finally:
            if old is None:
                del os.environ["LATENTLAB_FAST_INFERENCE"]
            else:
                os.environ["LATENTLAB_FAST_INFERENCE"] = old

    return run


def run(a) -> list[tuple[str, dict]]:
    """Every op at every thread count, interleaved: for each repetition, op by op, thread count by
    thread count (so a load swing hits all of them alike); one raw result per thread count."""
    import numpy as np
    import torch

    from latentlab import set_thread_policy
    from latentlab.datasets import load_dataset
    from latentlab.models import LeNet, LeNetDropout
    from latentlab.predictive import class_probs, forward, mc_dropout_probs
    from latentlab.strategies.bayesian import bald_scores
    from latentlab.strategies.uncertainty import margin_scores
    from latentlab.tasks import Classification
    from latentlab.training import TrainConfig, fit

    threads = [int(t) for t in a.threads.split(",")]
    set_thread_policy(threads[0])
    ds = load_dataset(a.dataset, root=a.data_root)
    x_pool, y_pool = ds.x_train, ds.y_train
    n_lab = 3000 if len(x_pool) > a.pool + 3000 else max(64, len(x_pool) - a.pool)
    # a Table-1 round at 3,000 labels: a seeded random 3,000 labelled, the rest (scattered rows) scored
    labelled = np.sort(np.random.default_rng(0).choice(len(x_pool), n_lab, replace=False))
    free = np.setdiff1d(np.arange(len(x_pool)), labelled)[: a.pool]
    x_test, y_test = ds.x_test[: a.test], ds.y_test[: a.test]
    task = Classification()
    torch.manual_seed(0)
    shape = ds.image_shape
    lenet = LeNet(shape, ds.n_classes)
    drop = LeNetDropout(shape, ds.n_classes)  # same layers plus dropout in the head (own init; timing only)
    macs = count_macs(lenet, torch.as_tensor(x_pool[:1]))
    per_item = 2 * sum(macs.values())
    head = 2 * sum(v for k, v in macs.items() if k.startswith("classifier"))
    k = a.mc_samples
    n, nt = len(free), len(x_test)
    xtr, ytr = torch.as_tensor(x_pool[labelled]), torch.as_tensor(y_pool[labelled])
    tc = TrainConfig(epochs=0, batch_size=64, min_steps=a.train_steps)

    def train():
        m = LeNet(shape, ds.n_classes)
        fit(m, (xtr, ytr), lambda mm, b: task.loss(mm(b[0]), b[1]), tc, seed=0)

    bald_flop = n * (per_item + (k - 1) * head)
    ops = {
        "entropy_before": (_legacy(lambda: task.entropy(task.predict(lenet, x_pool[free]))), n * per_item),
        "entropy": (lambda: task.entropy(forward(lenet, x_pool, free)), n * per_item),
        "margin_before": (_legacy(lambda: margin_scores(class_probs(lenet, x_pool[free]).numpy())), n * per_item),
        "margin": (lambda: margin_scores(class_probs(lenet, x_pool, items=free).numpy()), n * per_item),
        "bald_before": (_legacy(lambda: bald_scores(mc_dropout_probs(drop, x_pool[free], k, seed=0))), bald_flop),
        "bald": (lambda: bald_scores(mc_dropout_probs(drop, x_pool, k, seed=0, items=free)), bald_flop),
        "evaluate_before": (_legacy(lambda: task.evaluate(lenet, x_test, y_test)), nt * per_item),
        "evaluate": (lambda: task.evaluate(lenet, x_test, y_test), nt * per_item),
        "train": (train, 3 * a.train_steps * 64 * per_item),
    }
    names = a.ops.split(",")
    meta = run_meta(
        version=2,
        dataset=a.dataset,
        threads_interleaved=threads,
        reps=a.reps,
        n_scored=n,
        n_test=nt,
        mc_samples=k,
        train_steps=a.train_steps,
        macs_per_item=macs,
        flop_per_item=per_item,
        flop_note=(
            "multiply-adds of every Conv2d and Linear layer (forward hooks on one image) x 2; "
            "ReLU, max-pool, softmax and the entropy are not counted"
        ),
    )
    first: dict = {t: {} for t in threads}
    reps: dict = {t: {name: [] for name in names} for t in threads}
    for rep in range(a.reps + 1):  # repetition 0 is the first call (oneDNN builds its kernels), kept apart
        for name in names:
            fn, flop = ops[name]
            for t in threads:
                torch.set_num_threads(t)
                r = measure_once(fn, flop)
                if rep == 0:
                    first[t][name] = r
                else:
                    reps[t][name].append(r)
                print(
                    f"rep {rep} t{t} {name:16s} {flop / 1e9:7.1f} GFLOP  matmul {r['rate']['wall'] / 1e9:5.1f} GFLOP/s "
                    f"(cpu {r['rate']['cpu'] / 1e9:5.1f})  measured {r['wall']:6.2f} s wall {r['cpu']:6.2f} s cpu  "
                    f"x roofline {r['ratio']:.2f} (cpu {r['ratio_cpu']:.2f})  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    out = []
    for t in threads:
        res = {name: summarize(reps[t][name], first[t][name], ops[name][1], t) for name in names}
        if t != threads[0]:
            for name in names:
                res[name][f"speedup_vs_{threads[0]}_thread"] = (
                    reps_median_wall(reps[threads[0]][name]) / res[name]["wall"]
                )
        out.append((f"{a.dataset}-t{t}", {**meta, "threads": t, "torch_threads": t, "ops": res}))
    for _, r in out:
        finish_meta(r)
    return out


def reps_median_wall(reps: list[dict]) -> float:
    return statistics.median(r["wall"] for r in reps)


NAMES = {
    "entropy": "entropy scoring",
    "margin": "margin scoring",
    "bald": "BALD scoring (K MC-dropout heads)",
    "evaluate": "test evaluation",
    "train": "training F (one round's floor)",
}


def _row_v1(r) -> list[str]:
    """A raw result of the first version of this script (best of ``--reps``, one thread count per run)."""
    ops = r["ops"]
    lines = [
        f"**{r['date']}, {r['dataset']}, {r['threads']} thread(s), load {r['load_before'][0]} -> "
        f"{r['load_after'][0]}; {r['n_scored']} scored, {r['n_test']} test, K={r['mc_samples']}, "
        f"{r['flop_per_item'] / 1e6:.2f} MFLOP per item; {r['machine']['cpu']}**",
        "",
        "| operation | path | GFLOP | matmul GFLOP/s | roofline s | measured s (wall) | CPU s | ratio"
        " | ratio (CPU time) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for text, path, _, o in _op_rows(ops):
        rc = f"{o['ratio_cpu']:.2f}" if o.get("ratio_cpu") else "-"
        lines.append(
            f"| {text} | {path} | {o['flop'] / 1e9:.1f} | {o['rate']['wall'] / 1e9:.1f} | {o['roofline_s']:.2f} "
            f"| {o['wall']:.2f} | {o['cpu']:.2f} | {o['ratio']:.2f} | {rc} |"
        )
    lines += [
        "",
        "| operation | GFLOP | CPU s before | CPU s now | x roofline before (CPU) | x roofline now (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, text in NAMES.items():
        b, o = ops.get(key + "_before"), ops.get(key)
        if o is None:
            continue
        rb = f"{b['ratio_cpu']:.2f}" if b and b.get("ratio_cpu") else "-"
        ro = f"{o['ratio_cpu']:.2f}" if o.get("ratio_cpu") else "-"
        cb = f"{b['cpu']:.2f}" if b else "(unchanged)"
        lines.append(f"| {text} | {o['flop'] / 1e9:.1f} | {cb} | {o['cpu']:.2f} | {rb} | {ro} |")
    lines.append("")
    return lines


def _op_rows(ops: dict):
    """``(name, path, suffix, op)`` of each measured operation, the old path first."""
    for key, text in NAMES.items():
        for suffix, path in (("_before", "before"), ("", "now")):
            o = ops.get(key + suffix)
            if o is not None:
                yield text, (path if key != "train" else "unchanged"), suffix, o


def _row_v2(r) -> list[str]:
    """A raw result of this version: medians of ``reps`` interleaved repetitions (min-max beside)."""
    ops, t = r["ops"], r["threads"]
    others = [x for x in r["threads_interleaved"] if x != t]
    speed = f"speedup_vs_{r['threads_interleaved'][0]}_thread"
    lines = [
        f"**{r['date']}, {r['dataset']}, {t} thread(s) (interleaved with {', '.join(map(str, others)) or 'none'}), "
        f"load {r['load_before'][0]} -> {r['load_after'][0]}; {r['n_scored']} scored, {r['n_test']} test, "
        f"K={r['mc_samples']}, {r['flop_per_item'] / 1e6:.3f} MFLOP per item; median of {r['reps']} "
        f"(min-max); {r['machine']['cpu']}**",
        "",
        "| operation | path | GFLOP | matmul GFLOP/s (wall / CPU) | roofline s (wall) | wall s | CPU s "
        "| x roofline (wall) | x roofline (CPU time) | first call CPU s |"
        + (f" wall speedup vs {r['threads_interleaved'][0]} thread |" if speed in next(iter(ops.values())) else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if speed in next(iter(ops.values())) else ""),
    ]
    for text, path, suffix, o in _op_rows(ops):
        walls = [x["wall"] for x in o["reps"]]
        rc = "-"
        if o.get("ratio_cpu"):
            lo, hi = o["ratio_cpu_range"]
            rc = f"**{o['ratio_cpu']:.2f}** ({lo:.2f}-{hi:.2f})" if suffix == "" else f"{o['ratio_cpu']:.2f}"
        lo, hi = o["ratio_range"]
        cells = [
            text,
            path,
            f"{o['flop'] / 1e9:.1f}",
            f"{o['rate']['wall'] / 1e9:.0f} / {o['rate']['cpu'] / 1e9:.0f}",
            f"{o['roofline_s']:.2f}",
            f"{o['wall']:.2f} ({min(walls):.2f}-{max(walls):.2f})",
            f"{o['cpu']:.2f}",
            f"{o['ratio']:.2f} ({lo:.2f}-{hi:.2f})",
            rc,
            f"{o['first']['cpu']:.2f}",
        ]
        if speed in o:
            cells.append(f"{o[speed]:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def table(out: Path = OUT) -> str:
    return results_table(out, [], lambda r: (_row_v2 if r.get("version", 1) >= 2 else _row_v1)(r))


def main(argv=None):
    a = parse_args(argv)
    measure_or_table(a, table, lambda: run(a))


if __name__ == "__main__":
    main()
