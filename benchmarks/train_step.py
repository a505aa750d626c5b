"""One optimiser step of training F (LeNet on 64 MNIST images), the ideas for it measured side by side.

    OMP_WAIT_POLICY=PASSIVE flock /tmp/latentlab-bench.lock .venv/bin/python benchmarks/train_step.py
    .venv/bin/python benchmarks/train_step.py --table
    .venv/bin/python benchmarks/train_step.py --dataset digits --steps 20 --reps 1 --out /tmp/x   # smoke

Training F is the largest phase of the MNIST Table-1 regeneration (issue 22: 1367 of ~2100
worker-seconds, 2.16x its roofline). Each *variant* runs ``latentlab.training.fit`` for ``--steps``
steps of 64 images from a seeded LeNet on a seeded 3,000 labelled MNIST items (a Table-1 round's
set at its largest), one thread. The variants switch the shortcuts of issue 22 on one at a time:

* ``before``: the code before them (``F.max_pool2d``, per-tensor Adam);
* ``pool``: :class:`latentlab.models.MaxPool2` (the 2x2 pool as four strided slices, ATen's backward);
* ``foreach``: Adam's multi-tensor (``foreach``) implementation;
* ``now``: both, what ``fit`` and ``LeNet`` do by default;
* ``relu-inplace``, ``pool-then-relu``, ``adam-fused``: further ideas, reported, adopted only if
  bit-identical and faster;
* ``nchw-batches``, ``nchw-batches+pool``: the minibatch copied to NCHW strides first. ``t[idx]`` on
  one-channel images gives rows whose strides are channels-last as well as NCHW, and the
  convolutions then run oneDNN's channels-last kernels (and ATen's channels-last pool, where
  ``MaxPool2`` steps aside); these variants show what NCHW rows (``index_select``'s) would cost.

The variants run interleaved (A, B, C, ..., then again) so the load hits all alike; each keeps its
final weights and per-step losses, compared bit for bit (``torch.equal``) with ``before``'s. A
``torch.profiler`` pass over ``--profile-steps`` steps of ``before`` and ``now`` records the ops'
self CPU time, and the two 2x2 pools of LeNet are timed alone (forward + backward).

Raw results: ``benchmarks/results/perf/train_step/<minute>-t<threads>.json``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, arguments, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "train_step"


def parse_args(argv=None):
    ap = arguments(__doc__, OUT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--labelled", type=int, default=3000, help="labelled items F trains on")
    ap.add_argument("--steps", type=int, default=200, help="optimiser steps per timed fit")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--profile-steps", type=int, default=200, help="steps of the profiler passes (0: none)")
    return ap.parse_args(argv)


@contextmanager
def switches(pool: bool, foreach: bool):
    """The shortcuts of issue 22 set for one variant (restored afterwards)."""
    from latentlab import training

    old_env, old_fast = os.environ.get("LATENTLAB_FAST_POOL"), dict(training.FAST_STEP)
    os.environ["LATENTLAB_FAST_POOL"] = "1" if pool else "0"
    training.FAST_STEP.update(foreach=foreach)
    try:
        yield
    finally:
        training.FAST_STEP.update(old_fast)
        if old_env is None:
            os.environ.pop("LATENTLAB_FAST_POOL", None)
        else:
            os.environ["LATENTLAB_FAST_POOL"] = old_env


# variant -> switches: fast pool, foreach optimiser, and the ideas only measured: in-place ReLU,
# ReLU after the pool, fused Adam, NCHW batches (index_select's strides, not advanced indexing's)
VARIANTS = {
    "before": dict(pool=False, foreach=False),
    "pool": dict(pool=True, foreach=False),
    "foreach": dict(pool=False, foreach=True),
    "relu-inplace": dict(pool=False, foreach=False, relu_inplace=True),
    "pool-then-relu": dict(pool=False, foreach=False, pool_first=True),
    "adam-fused": dict(pool=False, foreach=False, fused=True),
    "nchw-batches": dict(pool=False, foreach=False, nchw=True),
    "nchw-batches+pool": dict(pool=True, foreach=False, nchw=True),
    "now": {},  # LeNet and fit as they are, their defaults
}


def make_fit(name: str, image_shape, n_classes: int, x, y, steps: int):
    """A function running one seeded fit of ``steps`` steps as variant ``name``; returns (model, losses)."""
    import torch
    from torch import nn

    from latentlab import training
    from latentlab.models import LeNet, MaxPool2
    from latentlab.tasks import Classification
    from latentlab.training import TrainConfig, fit

    v = VARIANTS[name]
    task = Classification()
    cfg = TrainConfig(max_steps=steps, min_steps=steps, bn_recalibrate=False)

    def loss(m, b):
        xb = b[0].clone(memory_format=torch.contiguous_format) if v.get("nchw") else b[0]
        return task.loss(m(xb), b[1])

    def layers(model):
        """LeNet's conv block in the variant's order (the convolutions stay at 0 and 3: same state dict)."""
        c1, c2, relu = model.features[0], model.features[3], lambda: nn.ReLU(inplace=bool(v.get("relu_inplace")))
        if v.get("pool_first"):
            return nn.Sequential(c1, MaxPool2(), relu(), c2, MaxPool2(), relu(), nn.Flatten())
        return nn.Sequential(c1, relu(), MaxPool2(), c2, relu(), MaxPool2(), nn.Flatten())

    def run():
        torch.manual_seed(0)
        model = LeNet(image_shape, n_classes)
        if not v:  # "now": as built, with fit's and the pool's defaults
            with switches(True, training.FAST_STEP["foreach"]):
                return model, fit(model, (x, y), loss, cfg, seed=[0, 1, 2])
        model.features = layers(model)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True) if v.get("fused") else None
        with switches(v["pool"], v["foreach"]):
            hist = fit(model, (x, y), loss, cfg, seed=[0, 1, 2], optimizer=opt)
        return model, hist

    return run


def same_bits(a, b) -> bool:
    import torch

    (ma, ha), (mb, hb) = a, b
    sa, sb = ma.state_dict(), mb.state_dict()
    return ha == hb and sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def profile(run) -> list[dict]:
    """Self CPU time per op over one call of ``run`` (after a warm call), largest first."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    run()
    with prof(activities=[ProfilerActivity.CPU]) as p:
        run()
    rows = [{"op": e.key, "calls": e.count, "self_cpu_s": e.self_cpu_time_total / 1e6} for e in p.key_averages()]
    rows.sort(key=lambda r: -r["self_cpu_s"])
    return rows[:15]


def pool_ops(batch: int = 64, reps: int = 30) -> list[dict]:
    """Forward + backward of LeNet's two pools (MNIST sizes, ReLU'd input), median ms: F.max_pool2d, max_pool2."""
    import torch
    import torch.nn.functional as F

    from latentlab.models import max_pool2

    out = []
    for shape in [(batch, 20, 24, 24), (batch, 50, 8, 8)]:
        x0 = torch.relu(torch.randn(shape, generator=torch.Generator().manual_seed(0)))
        g = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2, generator=torch.Generator().manual_seed(1))
        row: dict = {"shape": list(shape)}
        for name, f in (("max_pool2d", lambda t: F.max_pool2d(t, 2)), ("max_pool2", max_pool2)):
            fw, tot = [], []
            for _ in range(reps):
                x = x0.clone().requires_grad_(True)
                c0 = time.process_time()
                y = f(x)
                c1 = time.process_time()
                y.backward(g)
                fw.append(c1 - c0)
                tot.append(time.process_time() - c0)
            row[name] = {"forward_ms": 1e3 * statistics.median(fw), "total_ms": 1e3 * statistics.median(tot)}
            row[name + "_out"] = (y.detach(), x.grad)
        row["bit_identical"] = all(
            torch.equal(p, q) for p, q in zip(row.pop("max_pool2_out"), row.pop("max_pool2d_out"))
        )
        out.append(row)
    return out


def run(a) -> dict:
    import numpy as np
    import torch

    from latentlab import set_thread_policy
    from latentlab.datasets import load_dataset

    set_thread_policy(a.threads)
    ds = load_dataset(a.dataset, root=a.data_root)
    items = np.random.default_rng(0).choice(len(ds.x_train), min(a.labelled, len(ds.x_train)), replace=False)
    x = torch.as_tensor(np.ascontiguousarray(ds.x_train[items], dtype=np.float32))
    y = torch.as_tensor(np.asarray(ds.y_train[items]), dtype=torch.long)
    meta = run_meta(dataset=a.dataset, threads=a.threads, labelled=len(items), steps=a.steps, batch=64)
    names = a.variants.split(",")
    fits = {n: make_fit(n, ds.image_shape, ds.n_classes, x, y, a.steps) for n in names}
    ref = fits["before"]() if "before" in fits else None
    same = {n: (same_bits(fits[n](), ref) if ref is not None else None) for n in names}
    reps: dict = {n: [] for n in names}
    for rep in range(a.reps):
        for n in names:
            w, c = time.perf_counter(), time.process_time()
            fits[n]()
            r = {
                "wall_ms": 1e3 * (time.perf_counter() - w) / a.steps,
                "cpu_ms": 1e3 * (time.process_time() - c) / a.steps,
            }
            reps[n].append(r)
            print(
                f"rep {rep} {n:18s} {r['cpu_ms']:6.2f} ms/step CPU  {r['wall_ms']:6.2f} wall  "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    profiles = {}
    if a.profile_steps:
        for n in ("before", "now"):
            if n in names:
                profiles[n] = profile(make_fit(n, ds.image_shape, ds.n_classes, x, y, a.profile_steps))
    return finish_meta(
        {
            **meta,
            "variants": {n: {"bit_identical": same[n], "reps": reps[n]} for n in names},
            "profile_steps": a.profile_steps,
            "profiles": profiles,
            "pools": pool_ops(),
        }
    )


def table(out: Path = OUT) -> str:
    def med(v, key):
        return statistics.median(r[key] for r in v["reps"])

    def row(r):
        v = r["variants"]
        base = med(v["before"], "cpu_ms") if "before" in v else None
        lines = [
            f"**{r['date']}, {r['dataset']}, {r['threads']} thread(s), load {r['load_before'][0]} -> "
            f"{r['load_after'][0]}; {r['steps']} steps of {r['batch']} images from {r['labelled']} labelled, "
            f"{len(v[next(iter(v))]['reps'])} interleaved repetitions; {r['machine']['cpu']}**",
            "",
            "| variant | bit-identical to `before` | ms per step, CPU (median, min-max) | ms per step, wall (median) "
            "| speed-up (CPU) |",
            "|---|---|---:|---:|---:|",
        ]
        for name, x in v.items():
            c = [q["cpu_ms"] for q in x["reps"]]
            ident = {True: "yes", False: "**no**", None: "-"}[x["bit_identical"]]
            up = f"{base / med(x, 'cpu_ms'):.2f}x" if base else "-"
            spread = f"{med(x, 'cpu_ms'):.2f} ({min(c):.2f}-{max(c):.2f})"
            lines.append(f"| {name} | {ident} | {spread} | {med(x, 'wall_ms'):.2f} | {up} |")
        if r.get("pools"):
            lines += [
                "",
                "| pool (forward + backward, median of 30) | F.max_pool2d ms | max_pool2 ms | bit-identical |",
            ]
            lines.append("|---|---:|---:|---|")
            for p in r["pools"]:
                lines.append(
                    f"| {'x'.join(map(str, p['shape']))} | {p['max_pool2d']['total_ms']:.2f} "
                    f"(forward {p['max_pool2d']['forward_ms']:.2f}) | {p['max_pool2']['total_ms']:.2f} "
                    f"(forward {p['max_pool2']['forward_ms']:.2f}) | {'yes' if p['bit_identical'] else '**no**'} |"
                )
        for name, prof in r.get("profiles", {}).items():
            total = sum(p["self_cpu_s"] for p in prof) or 1.0
            lines += [
                "",
                f"Profile of `{name}`, {r['profile_steps']} steps (self CPU ms per step, share of the top 15):",
                "",
            ]
            lines.append(
                ", ".join(
                    f"`{p['op']}` {1e3 * p['self_cpu_s'] / r['profile_steps']:.2f} "
                    f"({100 * p['self_cpu_s'] / total:.0f} %)"
                    for p in prof[:10]
                )
            )
        return [*lines, ""]

    return results_table(out, [], row)


def main(argv=None) -> None:
    """Measure (unless ``--table``), then print the table of every raw result."""
    args = parse_args(argv)
    measure_or_table(args, table, lambda: [(f"t{args.threads}", run(args))])


if __name__ == "__main__":
    main()
