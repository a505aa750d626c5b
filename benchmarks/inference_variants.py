"""Ways to run LeNet over the unlabelled MNIST pool, measured side by side against the matmul roofline.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/inference_variants.py            # 1 thread
    .venv/bin/python benchmarks/inference_variants.py --threads 2
    .venv/bin/python benchmarks/inference_variants.py --table

Issue 22 asks for entropy scoring of the 57,000 unlabelled items of a Table-1 round within 1.3x of
the core's limit. This script measures the ideas instead of assuming them: each *variant* computes
the 57k logits (then the entropy, from ``log_softmax``) its own way, in interleaved repetitions
(variant A, B, C, ..., then again), each repetition preceded by the 2048 x 2048 float32 matmul that
defines the roofline (``round_roofline.matmul_rate``), so the load affects both alike. For every
variant the raw file keeps every repetition's wall and CPU seconds and matmul rates, and whether its
logits are **bit-identical** to those of ``latentlab.predictive.forward`` (a variant that is not can
move a pick or a test accuracy through a tie, so it is only reported, not adopted).

A ``torch.profiler`` pass over the current path (10,000 items) records where the time goes, per op.

Raw results: ``benchmarks/results/perf/inference_variants/<minute>-t<threads>.json``.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, arguments, finish_meta, measure_or_table, results_table, run_meta  # noqa: E402

OUT = RESULTS / "inference_variants"

DEFAULT = (
    "legacy,forward,forward-b128,forward-b256,forward-b1024,forward-b2048,nchw,"
    "functional,pool-then-relu,jit-freeze,mkldnn,compile"
)


def parse_args(argv=None):
    ap = arguments(__doc__, OUT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pool", type=int, default=57_000, help="unlabelled items scored")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", default=DEFAULT)
    ap.add_argument("--profile-items", type=int, default=10_000, help="items of the profiler pass (0: none)")
    return ap.parse_args(argv)


def _batches(x, free, bs, channels_last=True):
    import numpy as np
    import torch

    for i in range(0, len(free), bs):
        b = torch.from_numpy(np.ascontiguousarray(x[free[i : i + bs]], dtype=np.float32))
        yield b.contiguous(memory_format=torch.channels_last) if channels_last else b


def _loop(fn, x, free, bs=512, channels_last=True):
    import torch

    with torch.inference_mode():
        return torch.cat([fn(b) for b in _batches(x, free, bs, channels_last)])


def _functional(model, relu_first=True):
    """LeNet's forward written out with in-place ReLUs (and, optionally, max-pool before ReLU:
    the two commute exactly, ``relu(max(a, b)) == max(relu(a), relu(b))``, so it is 4x fewer ReLUs)."""
    import torch
    from torch.nn import functional as F

    c1, c2 = model.features[0], model.features[3]
    f1, f2 = model.classifier[0], model.classifier[-1]

    def run(x):
        h = F.conv2d(x, c1.weight, c1.bias, padding=c1.padding)
        h = F.max_pool2d(h.relu_(), 2) if relu_first else F.max_pool2d(h, 2).relu_()
        h = F.conv2d(h, c2.weight, c2.bias, padding=c2.padding)
        h = F.max_pool2d(h.relu_(), 2) if relu_first else F.max_pool2d(h, 2).relu_()
        h = torch.addmm(f1.bias, h.flatten(1), f1.weight.t()).relu_()
        return torch.addmm(f2.bias, h, f2.weight.t())

    return run


def variants(model, x, free) -> dict:
    """name -> (setup() -> run() -> logits); setup's own time (tracing, compiling) is measured apart."""
    import torch

    from latentlab.predictive import forward

    def legacy():
        def run():
            os.environ["LATENTLAB_FAST_INFERENCE"] = "0"
            try:
                return forward(model, x, free)
            finally:
                del os.environ["LATENTLAB_FAST_INFERENCE"]

        return run

    def jit_freeze():
        ex = torch.from_numpy(x[free[:512]]).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(False), torch.no_grad():
            m = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(copy.deepcopy(model).eval(), ex)))
        return lambda: _loop(m, x, free)

    def mkldnn():
        from torch.utils import mkldnn as mk

        m = mk.to_mkldnn(copy.deepcopy(model).eval())
        return lambda: _loop(lambda b: m(b.to_mkldnn()).to_dense(), x, free, channels_last=False)

    def compiled():
        m = torch.compile(copy.deepcopy(model).eval())
        out = _loop(m, x, free[:1024])  # compile here, in setup
        del out
        return lambda: _loop(m, x, free)

    model.eval()
    table = {
        "legacy": legacy,
        "forward": lambda: lambda: forward(model, x, free),
        "nchw": lambda: lambda: _loop(model, x, free, channels_last=False),
        "functional": lambda: lambda: _loop(_functional(model), x, free),
        "pool-then-relu": lambda: lambda: _loop(_functional(model, relu_first=False), x, free),
        "jit-freeze": jit_freeze,
        "mkldnn": mkldnn,
        "compile": compiled,
    }
    for bs in (64, 128, 256, 1024, 2048):
        table[f"forward-b{bs}"] = lambda bs=bs: lambda: forward(model, x, free, batch_size=bs)
    return table


def profile(model, x, free) -> list[dict]:
    """Self CPU time of each op over ``forward`` on ``free`` (one warm pass first), largest first."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    from latentlab.predictive import forward

    forward(model, x, free)
    with prof(activities=[ProfilerActivity.CPU]) as p:
        forward(model, x, free)
    rows = [
        {"op": e.key, "calls": e.count, "self_cpu_s": e.self_cpu_time_total / 1e6, "cpu_s": e.cpu_time_total / 1e6}
        for e in p.key_averages()
    ]
    rows.sort(key=lambda r: -r["self_cpu_s"])
    return rows[:15]


def tail_probe(model, x) -> list[dict]:
    """``forward`` over 10,000 - 13 k items: the first call with a new last-batch size (as every round
    has: the unlabelled pool shrinks by ``per_round``) against a second call with the same size."""
    from latentlab.predictive import forward

    rows = []
    for k in range(1, 4):
        n = min(len(x), 10_000) - 13 * k
        t = []
        for _ in range(2):
            w, c = time.perf_counter(), time.process_time()
            forward(model, x[:n])
            t.append({"wall": time.perf_counter() - w, "cpu": time.process_time() - c})
        rows.append({"n": n, "first": t[0], "again": t[1]})
    return rows


def run(a) -> dict:
    import numpy as np
    import torch

    from latentlab import set_thread_policy
    from latentlab.datasets import load_dataset
    from latentlab.models import LeNet
    from latentlab.predictive import forward
    from latentlab.tasks import Classification
    from round_roofline import count_macs, matmul_rate

    set_thread_policy(a.threads)
    ds = load_dataset(a.dataset, root=a.data_root)
    x = ds.x_train
    # a Table-1 round at 3,000 labels: the labelled items are a seeded random 3,000, the rest is scored
    labelled = np.random.default_rng(0).choice(len(x), len(x) - a.pool, replace=False)
    free = np.setdiff1d(np.arange(len(x)), labelled)
    torch.manual_seed(0)
    model = LeNet(ds.image_shape, ds.n_classes).eval()
    macs = count_macs(model, torch.as_tensor(x[:1]))
    flop = 2 * sum(macs.values()) * len(free)
    task = Classification()
    meta = run_meta(dataset=a.dataset, threads=a.threads, n_scored=len(free), flop=flop, macs_per_item=macs)
    ref = forward(model, x, free)
    names = a.variants.split(",")
    runs, setup_s, same, maxdiff, errors = {}, {}, {}, {}, {}
    for name in names:
        t0 = time.perf_counter()
        try:
            runs[name] = variants(model, x, free)[name]()
            out = runs[name]()
        except Exception as e:  # a variant this torch cannot run (e.g. no compiler): say why, go on
            errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            runs.pop(name, None)
            print(f"{name}: {errors[name]}", flush=True)
            continue
        setup_s[name] = time.perf_counter() - t0
        same[name] = bool(torch.equal(out, ref))
        maxdiff[name] = float((out - ref).abs().max())
    reps: dict = {n: [] for n in runs}
    for rep in range(a.reps):
        for name, fn in runs.items():
            rate = matmul_rate(reps=5)
            w, c = time.perf_counter(), time.process_time()
            task.entropy(fn())
            r = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "rate": rate}
            r["ratio"] = r["wall"] / (flop / rate["wall"])
            r["ratio_cpu"] = r["cpu"] / (flop / rate["cpu"])
            reps[name].append(r)
            print(
                f"rep {rep} {name:16s} wall {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  matmul "
                f"{rate['wall'] / 1e9:5.1f} / {rate['cpu'] / 1e9:5.1f} GFLOP/s  x roofline {r['ratio']:.2f} "
                f"(cpu {r['ratio_cpu']:.2f})  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    prof = profile(model, x, free[: a.profile_items]) if a.profile_items else []
    tails = tail_probe(model, ds.x_test)
    return finish_meta(
        {
            **meta,
            "variants": {
                n: {"setup_s": setup_s[n], "bit_identical": same[n], "max_abs_diff": maxdiff[n], "reps": reps[n]}
                for n in runs
            },
            "errors": errors,
            "profile": prof,
            "tail_probe": tails,
        }
    )


def table(out: Path = OUT) -> str:
    import statistics

    def row(r):
        lines = [
            f"**{r['date']}, {r['threads']} thread(s), load {r['load_before'][0]} -> {r['load_after'][0]}; "
            f"{r['n_scored']} items, {r['flop'] / 1e9:.1f} GFLOP; {r['machine']['cpu']}**",
            "",
            "| variant | bit-identical to `forward` | setup s | wall s (median, min-max) | CPU s (median) "
            "| x roofline (wall, median) | x roofline (CPU, median, min-max) |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, v in r["variants"].items():
            reps = v["reps"]
            w = [x["wall"] for x in reps]
            c = [x["cpu"] for x in reps]
            rc = [x["ratio_cpu"] for x in reps]
            ident = "yes" if v["bit_identical"] else f"no ({v['max_abs_diff']:.1e})"
            lines.append(
                f"| {name} | {ident} | {v['setup_s']:.1f} | {statistics.median(w):.2f} ({min(w):.2f}-{max(w):.2f}) "
                f"| {statistics.median(c):.2f} | {statistics.median(x['ratio'] for x in reps):.2f} "
                f"| {statistics.median(rc):.2f} ({min(rc):.2f}-{max(rc):.2f}) |"
            )
        for name, err in r.get("errors", {}).items():
            lines.append(f"| {name} | could not run: {err} | | | | | |")
        if r.get("profile"):
            lines += ["", "Profile of `forward` (self CPU s, largest first):", ""]
            lines.append(", ".join(f"`{p['op']}` {p['self_cpu_s']:.2f} ({p['calls']})" for p in r["profile"][:8]))
        if r.get("tail_probe"):
            t = r["tail_probe"]
            lines += [
                "",
                "A new last-batch size (CPU s, first call / same size again): "
                + ", ".join(f"{p['n']} items {p['first']['cpu']:.2f} / {p['again']['cpu']:.2f}" for p in t),
            ]
        lines.append("")
        return lines

    return results_table(out, [], row)


def main(argv=None):
    a = parse_args(argv)
    measure_or_table(a, table, lambda: [(f"t{a.threads}", run(a))])


if __name__ == "__main__":
    main()
