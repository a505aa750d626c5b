"""End-to-end time of the MNIST Table-1 regeneration, with its phase breakdown (issue 22, item 3).

    .venv/bin/python benchmarks/table1_timing.py                     # the protocol, 2 workers, own cache
    .venv/bin/python benchmarks/table1_timing.py --cold              # from an empty cache (trains the VAE first)
    .venv/bin/python benchmarks/table1_timing.py --toy               # a 2-minute check of the script itself
    .venv/bin/python benchmarks/table1_timing.py --table             # the tables, from the raw files

The protocol is ``benchmarks/mnist_table1.sh``'s (random, snn, snn-random-dir, entropy; 5 seeds;
10 rounds; 300 initial + 300 per round; LeNet 10 epochs / >= 300 steps; VAE of the default recipe)
with ``--workers 2``. Phases:

1. **prepare**: load MNIST, get the generator (from the cache, the shipped weights, or trained with
   ``--cold``), encode and index the pool: ``latentlab.experiment.prepare`` in its own process, timed;
2. **runs**: ``latentlab run ... --workers 2`` (which finds the generator in the cache), timed; its
   ``rounds.csv`` splits the workers' time into training F, evaluating it and proposing (scoring the
   pool / the latent steps), summed over all (strategy, seed, round); ``other`` is what the two
   workers spent beyond those (labelling, checkpoints, start-up, idle tail).

**Roofline of the protocol.** After the run (or with ``--roofline DIR`` for a run already timed) the
script writes ``roofline.json``: the floating-point work of each phase, from the run's own
``rounds.csv`` and the FLOP count of LeNet (``round_roofline.count_macs``: 4.59 MFLOP per 28 x 28
image), divided by one core's float32 matmul rate (``round_roofline.matmul_rate``, by CPU time, so
that other work on the machine does not lower it). Training counts 3x the forward per image
(forward, input and weight gradients) times ``n_steps`` x batch size; evaluation the test items of
every round; proposing, for entropy, the unlabelled pool items it scores each round. The latent
steps of snn are not counted (a few hundred decodes). The lower bound on the wall time is the sum
over phases divided by the workers.

Raw results: ``benchmarks/results/perf/table1_timing/<date>[-toy]/`` (timing.json with command, load
before/after, threads, machine; the run's rounds.csv and results.csv; roofline.json).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import DATA_ROOT, RESULTS, ROOT, run_meta, write_json  # noqa: E402

OUT = RESULTS / "table1_timing"
PROTOCOL = [
    "--dataset", "mnist", "--strategy", "random,snn,entropy,snn-random-dir", "--rounds", "10", "--initial", "300",
    "--per-round", "300", "--seeds", "0,1,2,3,4", "--alpha", "0.2", "--epochs", "10", "--min-steps", "300",
    "--gen-epochs", "30",
]  # fmt: skip
TOY = ["--n-pool", "3000", "--n-test", "1000", "--rounds", "2", "--initial", "50", "--per-round", "50", "--seeds", "0",
       "--gen-epochs", "1", "--gen-min-steps", "200", "--min-steps", "50"]  # fmt: skip


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(DATA_ROOT))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="start from an empty cache (the generator is trained)")
    ap.add_argument("--toy", action="store_true", help="a small pool, 2 rounds, 1 seed: checks the script")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--roofline", metavar="DIR", help="only measure the roofline of a run already timed in DIR")
    return ap.parse_args(argv)


def _latentlab() -> list[str]:
    return [sys.executable, "-m", "latentlab"]


def _prepare_cmd(args: list[str]) -> list[str]:
    """Time ``prepare`` alone: the same flags through the CLI's config path, no rounds run."""
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from latentlab.cli import build_parser, config_from_args\n"
        "from latentlab.experiment import prepare\n"
        "a = build_parser().parse_args(['run', *sys.argv[1:]])\n"
        "cfg = config_from_args(a)\n"
        "prepare(cfg, a.data_root, progress=False)\n"
        "print('PREPARE_S', time.perf_counter() - t)\n"
    )
    return [sys.executable, "-c", code, *args]


def _sum_rounds(path: Path) -> dict:
    out: dict = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            s = out.setdefault(row["strategy"], {"train_s": 0.0, "eval_s": 0.0, "sample_s": 0.0, "rounds": 0})
            for k in ("train_s", "eval_s", "sample_s"):
                s[k] += float(row[k] or 0)
            s["rounds"] += 1
    return out


def run(a) -> Path:
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M") + ("-toy" if a.toy else "")
    dest = Path(a.out) / stamp
    dest.mkdir(parents=True, exist_ok=True)
    args = [*PROTOCOL, *(TOY if a.toy else []), "--data-root", a.data_root]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="table1-"))
    if a.cold:
        env["LATENTLAB_CACHE"] = str(tmp / "cache")
    meta = run_meta(workers=a.workers, cold=a.cold, toy=a.toy, protocol=args, cache=env.get("LATENTLAB_CACHE"))
    t0 = time.perf_counter()
    p = subprocess.run(_prepare_cmd(args), env=env, capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        sys.exit(f"prepare failed:\n{p.stderr[-3000:]}")
    prepare_s = time.perf_counter() - t0
    load_mid = os.getloadavg()
    out = tmp / "run"
    cmd = [*_latentlab(), "run", *args, "--workers", str(a.workers), "--out", str(out), "--quiet"]
    t1 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        sys.exit(f"run failed:\n{r.stderr[-3000:]}")
    runs_s = time.perf_counter() - t1
    for f in ("rounds.csv", "results.csv", "summary.md", "config.json"):
        if (out / f).exists():
            shutil.copyfile(out / f, dest / f)
    per = _sum_rounds(out / "rounds.csv")
    tot = {k: sum(v[k] for v in per.values()) for k in ("train_s", "eval_s", "sample_s")}
    res = {
        **meta,
        "run_command": " ".join(["latentlab", *cmd[3:]]),
        "prepare_s": prepare_s,
        "runs_s": runs_s,
        "total_s": prepare_s + runs_s,
        "load_between": [round(v, 2) for v in load_mid],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "per_strategy": per,
        "sum": tot,
        "other_s": a.workers * runs_s - sum(tot.values()),
    }
    write_json(dest / "timing.json", res)
    shutil.rmtree(tmp, ignore_errors=True)
    roofline(dest, a.data_root)
    return dest


def protocol_work(rounds_csv: Path, pool_size: int, n_test: int, batch_size: int) -> dict:
    """Items through LeNet per phase, from the run's ``rounds.csv`` (training counted as 3 passes)."""
    with open(rounds_csv) as f:
        rows = list(csv.DictReader(f))
    scored = sum(pool_size - int(r["n_labelled"]) for r in rows if r["strategy"] == "entropy")
    return {
        "train": 3 * batch_size * sum(int(r["n_steps"]) for r in rows),
        "eval": n_test * len(rows),
        "propose": scored,
        "rounds": len(rows),
    }


def roofline(dest: Path, data_root: str) -> dict:
    """Write ``dest/roofline.json``: each phase's work over one core's measured matmul rate."""
    import torch

    from latentlab.datasets import load_dataset
    from latentlab.models import LeNet
    from round_roofline import count_macs, matmul_rate

    torch.set_num_threads(1)
    timing = json.loads((dest / "timing.json").read_text())
    cfg = json.loads((dest / "config.json").read_text())
    ds = load_dataset("mnist", root=data_root).subset(cfg.get("n_pool"), cfg.get("n_test"))
    per_item = 2 * sum(count_macs(LeNet(ds.image_shape, ds.n_classes), torch.as_tensor(ds.x_train[:1])).values())
    bs = int(cfg["loop"]["train"]["batch_size"])
    items = protocol_work(dest / "rounds.csv", len(ds.x_train), len(ds.x_test), bs)
    load = os.getloadavg()
    rate = max(matmul_rate()["cpu"] for _ in range(3))
    phases = {k: items[k] * per_item / rate for k in ("train", "eval", "propose")}
    res = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "load": [round(v, 2) for v in load],
        "matmul_gflops_cpu_1thread": rate / 1e9,
        "flop_per_item": per_item,
        "batch_size": bs,
        "pool": len(ds.x_train),
        "test": len(ds.x_test),
        "items": items,
        "roofline_s": phases,
        "bound_wall_s": sum(phases.values()) / timing["workers"],
    }
    write_json(dest / "roofline.json", res)
    return res


def _roofline_lines(d: Path, r: dict) -> list[str]:
    if not (d / "roofline.json").exists():
        return []
    f = json.loads((d / "roofline.json").read_text())
    t, rs = r["sum"], f["roofline_s"]
    meas = {
        "train": t["train_s"],
        "eval": t["eval_s"],
        "propose": r["per_strategy"].get("entropy", {}).get("sample_s", 0),
    }
    cells = " | ".join(f"{rs[k]:.0f} s -> {meas[k] / rs[k]:.2f}x" for k in ("train", "eval", "propose"))
    return [
        f"Roofline ({f['flop_per_item'] / 1e6:.2f} MFLOP per image, one core's matmul "
        f"{f['matmul_gflops_cpu_1thread']:.1f} GFLOP/s by CPU time, measured {f['date']} at load {f['load'][0]}):",
        "",
        "| | train F | evaluate | propose (entropy) |",
        "|---|---:|---:|---:|",
        f"| worker-seconds at the roofline -> measured / roofline | {cells} |",
        "",
        f"Lower bound on the runs' wall time on {r['workers']} workers: {f['bound_wall_s'] / 60:.1f} min "
        f"(measured {r['runs_s'] / 60:.1f} min, {r['runs_s'] / f['bound_wall_s']:.2f}x).",
        "",
    ]


def _identity_lines(d: Path, r: dict) -> list[str]:
    """The timed run must be the protocol: its results equal the committed Table-1 run's, value for value."""
    ref = RESULTS.parent / "mnist_table1" / "results.csv"
    if r.get("toy") or not ref.exists() or not (d / "results.csv").exists():
        return []

    def read(p):
        with open(p) as f:
            return {(x["strategy"], x["seed"], x["round"]): x["value"] for x in csv.DictReader(f)}

    a, b = read(ref), read(d / "results.csv")
    same = sum(a[k] == b.get(k) for k in a)
    return [f"Its results.csv equals benchmarks/results/mnist_table1/results.csv in {same} of {len(a)} values.", ""]


def table(out: Path = OUT) -> str:
    lines = []
    for d in sorted(p for p in Path(out).iterdir() if (p / "timing.json").exists()):
        r = json.loads((d / "timing.json").read_text())
        w = r["workers"]
        lines += [
            f"#### {d.name}: {'cold cache' if r['cold'] else 'warm cache'}, {w} workers, load {r['load_before'][0]} "
            f"-> {r['load_after'][0]}, {r['machine']['cpu']} ({r['machine']['cores']} cores)",
            "",
            f"Total {r['total_s'] / 60:.1f} min = prepare {r['prepare_s']:.0f} s + runs {r['runs_s']:.0f} s.",
            "",
            "| strategy | rounds | train F (s) | evaluate (s) | propose (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for s, v in sorted(r["per_strategy"].items()):
            lines.append(f"| {s} | {v['rounds']} | {v['train_s']:.0f} | {v['eval_s']:.0f} | {v['sample_s']:.0f} |")
        t = r["sum"]
        lines += [
            f"| all (worker-seconds) | | {t['train_s']:.0f} | {t['eval_s']:.0f} | {t['sample_s']:.0f} |",
            "",
            f"Other worker time (labelling, checkpoints, start-up, idle tail): {r['other_s']:.0f} s of "
            f"{w} x {r['runs_s']:.0f} s.",
            "",
        ]
        lines += _roofline_lines(d, r) + _identity_lines(d, r)
    return "\n".join(lines) or "(no raw results)"


def main(argv=None):
    a = parse_args(argv)
    if a.roofline:
        print(roofline(Path(a.roofline), a.data_root))
    elif not a.table:
        print(f"raw results in {run(a)}")
    print(table(Path(a.out)))


if __name__ == "__main__":
    main()
