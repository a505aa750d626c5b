"""Does SI gain when F is probed where it is trained? The raw probe G(p) vs a soft surrogate of prepare(G(p)).

SI's gradient (Eq. 1) evaluates F on the raw decoded image G(p), while F is trained on the
post-processed, thresholded masks prepare(G(p)). ``InterpolationStrategy(probe="soft",
temperature=T)`` evaluates it on ``sigmoid((G(p) - 0.5) / T)`` instead (the FEM labeler's
``soft_prepare``). This script measures whether that changes SI's result on the vessels protocol:

1. **validation**: SI with the raw probe and with the soft probe at every T of ``--grid``, seeds
   ``--val-seeds``, ``--val-rounds`` rounds; each variant is scored by its mean validation MSE over
   seeds and rounds 2.. (round 1 is the same draw for every variant); the best T is chosen there;
2. **test**: raw vs soft at the chosen T, and SI's random-direction control (``si-random-dir``:
   the same step length, a random unit direction), seeds ``--seeds``, ``--rounds`` rounds; paired
   differences against the raw probe per round with 95 % paired-t intervals (``latentlab.stats``);
3. **diagnostics**, from the checkpoints: at round 1 both variants have the same F and the same
   start points, so the cosine between their directions says how much the probe moves the step;
   and each final raw model's MSE on its own synthesized train items x = prepare(G(z)) against its
   MSE on G(z) (the raw probe's input) and on the surrogate (the soft probe's input).

Protocol = ``benchmarks/vessels_table.sh``'s (vessels, S6 target, 20 initial + 20 per round,
max(100 steps, 10 epochs) per round, 100 validation masks, MLP VAE latent 2), with SI's alpha as
chosen on validation by that script (``--alpha-from``). Raw results go to ``--out``
(``val/``, ``test/``: results.csv, summary.md; ``choice.json``, ``diagnostics.json``, ``meta.json``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/vessels_probe.py                 # the whole study
    python benchmarks/vessels_probe.py --table          # the tables (and paired.png), from the raw files
    OMP_NUM_THREADS=1 python benchmarks/vessels_probe.py --quick --out /tmp/probe   # a smoke run (minutes)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch: one thread per process, as vessels_table.sh

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "vessels_probe"
ALPHA_FROM = REPO / "benchmarks" / "results" / "vessels_si_v3" / "tune-si" / "tune.json"
RAW = "si"  # the label of the paper's probe in the tables; soft variants are "si-soft T=<T>"
CONTROL = "si-random-dir"  # SI's step length in a random direction: does the direction matter at all?
# the protocol of benchmarks/vessels_table.sh (its COMMON flags), as settings of config_from_settings
PROTOCOL = {
    "dataset": "vessels",
    "target": "s6",
    "n_val": 100,
    "initial": 20,
    "per_round": 20,
    "epochs": 10,
    "min_steps": 100,
    "batch_size": 32,
    "lr": 1e-3,
    "gen_epochs": 30,
    "gen_min_steps": 1500,
    "latent_dim": 2,
    "strategy": "si",
}


def soft_label(t: float) -> str:
    return f"si-soft T={t:g}"


def make_config(alpha: float, rounds: int):
    from latentlab.experiment import config_from_settings

    return config_from_settings({**PROTOCOL, "alpha": alpha, "rounds": rounds})


_PREPARED: dict = {}


def prepared(alpha: float):
    """(dataset with validation labels, latent space, labeler), once per process (cached generator and labels)."""
    if alpha not in _PREPARED:
        from latentlab.experiment import label_validation, labeler_for, prepare

        cfg = make_config(alpha, 1)
        ds, latent = prepare(cfg, progress=False)
        labeler = labeler_for(ds, cfg.loop.target)
        _PREPARED[alpha] = (label_validation(ds, labeler, False), latent, labeler)
    return _PREPARED[alpha]


def strategy(label: str):
    from latentlab.strategies import get_strategy
    from latentlab.strategies.si import InterpolationStrategy

    if label in (RAW, CONTROL):
        return get_strategy(label)
    return InterpolationStrategy(probe="soft", temperature=float(label.split("T=")[1]))


def run_one(job: tuple):
    """One (variant, seed) run, checkpointed in its folder (a finished one is only read back)."""
    import torch

    from latentlab.loop import ActiveLoop

    torch.set_num_threads(1)
    label, seed, rounds, alpha, folder = job
    ds, latent, labeler = prepared(alpha)
    loop = ActiveLoop(
        ds,
        strategy(label),
        make_config(alpha, rounds).loop,
        seed,
        latent=latent,
        labeler=labeler,
        checkpoint_dir=Path(folder),
        progress=False,
    )
    t0 = time.perf_counter()
    loop.run(progress_rounds=False)
    return label, seed, loop, time.perf_counter() - t0


def run_phase(name: str, labels: list, seeds: list, rounds: int, alpha: float, out: Path, workers: int) -> dict:
    """Run every (label, seed), ``workers`` processes; write ``out/name/`` results; return the runs' loops."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing as mp

    from tqdm.auto import tqdm

    from latentlab.report import write_outputs

    folder = out / name
    jobs = [
        (lab, s, rounds, alpha, str(folder / "runs" / f"{lab.replace(' ', '_')}-seed{s}"))
        for lab in labels
        for s in seeds
    ]
    sec_f = folder / "seconds.json"  # wall seconds of each run, kept across invocations (a read-back is not a run)
    seconds = json.loads(sec_f.read_text()) if sec_f.exists() else {}
    todo = [j for j in jobs if not _finished(Path(j[-1]))]
    if workers > 1 and todo:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = [ex.submit(run_one, j) for j in todo]
            for f in tqdm(as_completed(futs), total=len(futs), desc=f"{name} runs"):
                lab, s, _, sec = f.result()
                seconds[f"{lab} seed {s}"] = sec
    loops = {}
    for j in tqdm(jobs, desc=f"{name} runs (finished ones read back)"):
        ran = not _finished(Path(j[-1]))
        lab, s, loop, sec = run_one(j)
        loops[(lab, s)] = loop
        if ran:
            seconds[f"{lab} seed {s}"] = sec
    ds = prepared(alpha)[0]
    write_outputs(folder, "vessels", {k: lp.records for k, lp in loops.items()}, data=ds, shared_initial=set())
    sec_f.write_text(json.dumps(seconds, indent=1) + "\n")
    return loops


def _finished(folder: Path) -> bool:
    f = folder / "state.json"
    return f.exists() and bool(json.loads(f.read_text()).get("finished"))


def val_scores(rows: list, labels: list) -> dict:
    """Per label: mean over seeds of the mean validation MSE over rounds 2.. (round 1 is shared)."""
    out = {}
    for lab in labels:
        sel = [r for r in rows if r["strategy"] == lab and r["metric"] == "val_mse" and r["round"] >= 2]
        by_seed = {
            s: float(np.mean([r["value"] for r in sel if r["seed"] == s])) for s in sorted({r["seed"] for r in sel})
        }
        out[lab] = {"score": float(np.mean(list(by_seed.values()))), "by_seed": {str(k): v for k, v in by_seed.items()}}
    return out


def diagnostics(loops: dict, soft: str, alpha: float) -> dict:
    """Cosines of the round-1 directions (same F, same p) and final raw models' MSE on x, G(z), soft(G(z))."""
    import torch

    from latentlab.generative import decode

    ds, latent, labeler = prepared(alpha)
    t = float(soft.split("T=")[1])
    cos, gaps = {}, {}
    for (lab, seed), raw in sorted(loops.items()):
        if lab != RAW or (soft, seed) not in loops:
            continue
        a, b = raw.proposals[0], loops[(soft, seed)].proposals[0]
        if not np.array_equal(a["p"], b["p"]):
            raise SystemExit(f"seed {seed}: the round-1 start points differ between the probes; the pairing is broken")
        cos[str(seed)] = np.sum(a["d"] * b["d"], axis=1).tolist()
        syn = raw.synthetic
        model = raw.model.eval()
        with torch.no_grad():
            g = decode(latent.generator, syn["z"])
            inputs = {
                "x = prepare(G(z)) (trained on)": torch.as_tensor(syn["x"]),
                "G(z) (raw probe)": torch.as_tensor(g),
                f"soft(G(z)), T={t:g} (soft probe)": labeler.soft_prepare(torch.as_tensor(g), t),
            }
            y = torch.as_tensor(syn["y"])
            gaps[str(seed)] = {k: float(((model(v.float()) - y) ** 2).mean()) * 1e3 for k, v in inputs.items()}
    return {"round1_cosine": cos, "final_raw_model_mse_x1e3": gaps}


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def table(out: Path) -> str:
    """The markdown tables, from the raw files under ``out`` only."""
    from latentlab.report import read_results, summary_table
    from latentlab.stats import differences_table, paired_differences

    meta = json.loads((out / "meta.json").read_text())
    choice = json.loads((out / "choice.json").read_text())
    diag = json.loads((out / "diagnostics.json").read_text())
    lines = [
        f"Run {m['started']} - {m['finished']} UTC on {m['machine']['cpu']} ({m['machine']['cpus']} CPUs, "
        f"torch {m['machine']['torch']}, {m['machine']['cpu_capability']}), {m['workers']} worker processes "
        f"x 1 torch thread; load average {m['load_start'][0]:.1f} at the start, {m['load_end'][0]:.1f} at the end; "
        f"{m['wall_s'] / 60:.0f} min wall. Command: `{m['command']}`."
        for m in meta["invocations"]
    ]
    lines += [
        f"alpha = {meta['alpha']:g} (SI's validation choice, {meta['alpha_from']}).",
        "",
        f"**Validation** (seeds {meta['val_seeds']}, rounds 1-{meta['val_rounds']}; score = validation MSE x 1e3, "
        "mean over seeds of the mean over rounds 2.., lower is better):",
        "",
        "| probe | score | per seed | |",
        "|---|---|---|---|",
    ]
    for lab, v in choice["scores"].items():
        mark = "**chosen**" if lab == choice["chosen"] else ""
        lines.append(f"| {lab} | {v['score']:.3f} | {', '.join(f'{x:.2f}' for x in v['by_seed'].values())} | {mark} |")
    rows = read_results(out / "test" / "results.csv")
    lines += ["", f"**Test MSE x 1e3**, seeds {meta['seeds']}, mean ± std over seeds:", "", summary_table(rows).strip()]
    lines += ["", differences_table(paired_differences(rows, RAW), metric="mse").strip()]
    cos = np.concatenate([np.asarray(v) for v in diag["round1_cosine"].values()])
    lines += [
        "",
        f"Round-1 directions, same F and start points: cosine(raw, soft) median {np.median(cos):.3f}, "
        f"min {cos.min():.3f} over {cos.size} steps.",
        "",
        "| final raw-probe model (round "
        + str(meta["rounds"])
        + "), MSE x 1e3 on its synthesized train items | "
        + " | ".join(next(iter(diag["final_raw_model_mse_x1e3"].values())).keys())
        + " |",
        "|---|" + "---|" * len(next(iter(diag["final_raw_model_mse_x1e3"].values()))),
    ]
    for seed, g in diag["final_raw_model_mse_x1e3"].items():
        lines.append(f"| seed {seed} | " + " | ".join(f"{v:.3f}" for v in g.values()) + " |")
    if "reproduces" in meta:
        lines += ["", meta["reproduces"]]
    return "\n".join(lines) + "\n"


def figure(out: Path) -> Path:
    """``out/paired.png``: each variant - the raw probe per round (t >= 2), mean and 95 % interval over seeds."""
    from latentlab.report import new_figure, read_results
    from latentlab.stats import paired_differences

    diffs = [d for d in paired_differences(read_results(out / "test" / "results.csv"), RAW) if d.round >= 2]
    fig, ax = new_figure(figsize=(6.5, 3.6))
    names = sorted({d.strategy for d in diffs})
    for k, name in enumerate(names):
        ds = [d for d in diffs if d.strategy == name]
        t = np.array([d.round for d in ds]) + 0.12 * (k - (len(names) - 1) / 2)
        m = np.array([d.mean for d in ds])
        err = np.array([[d.mean - d.ci_low for d in ds], [d.ci_high - d.mean for d in ds]])
        ax.errorbar(t, m, yerr=err, fmt="o-", capsize=3, label=f"{name} - {RAW}")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(xlabel="round t (20 labels per round)", ylabel="test MSE x 1e3, paired difference")
    ax.set_title("vessels: SI's probe and direction, paired by seed (95 % intervals; < 0 = better than si)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "paired.png", dpi=120)
    return out / "paired.png"


def reproduces(loops: dict, seeds: list) -> str:
    """Whether the raw probe's test rows equal SI's committed rows of the vessels_table.sh run."""
    from latentlab.report import read_results, tidy_rows

    ref_f = REPO / "benchmarks" / "results" / "vessels_si_v3" / "random-si" / "results.csv"
    if not ref_f.exists():
        return f"(no committed reference {ref_f.name} to compare the raw probe with)"
    ref = [r for r in read_results(ref_f) if r["strategy"] == RAW and r["seed"] in seeds]
    mine = tidy_rows("vessels", {k: lp.records for k, lp in loops.items() if k[0] == RAW})
    key = lambda r: (r["seed"], r["round"], r["metric"])  # noqa: E731
    ref_d, mine_d = {key(r): r["value"] for r in ref}, {key(r): r["value"] for r in mine}
    common = sorted(set(ref_d) & set(mine_d))
    same = sum(ref_d[k] == mine_d[k] for k in common)
    worst = max((abs(ref_d[k] - mine_d[k]) for k in common), default=float("nan"))
    return (
        f"Reproducibility check: the raw probe's {len(common)} (seed, round, metric) values against the committed "
        f"`vessels_si_v3/random-si/results.csv` SI rows: {same} bit-identical, largest difference {worst:.3g}."
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--table", action="store_true", help="only print the tables from the raw files in --out")
    ap.add_argument("--grid", default="0.02,0.05,0.1,0.2", help="soft-probe temperatures tried on validation")
    ap.add_argument("--val-seeds", default="0,1,2")
    ap.add_argument("--val-rounds", type=int, default=4)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--alpha-from", type=Path, default=ALPHA_FROM, help="tune.json whose choice gives alpha")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 temperatures, 1 seed, 2-3 rounds")
    a = ap.parse_args(argv)
    if a.table:
        print(table(a.out), end="")
        print(f"\n![paired differences]({figure(a.out).relative_to(REPO) if a.out.is_relative_to(REPO) else a.out})")
        return
    grid = [float(t) for t in a.grid.split(",")]
    val_seeds = [int(s) for s in a.val_seeds.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    if a.quick:
        grid, val_seeds, seeds, a.val_rounds, a.rounds = grid[1:3], [0], [0], 2, 3
    alpha = float(json.loads(a.alpha_from.read_text())["choice"]["loop.alpha"])
    a.out.mkdir(parents=True, exist_ok=True)
    t_start, load_start = time.perf_counter(), os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    prepared(alpha)  # trains / caches the generator and labels the test and validation masks once
    labels = [RAW] + [soft_label(t) for t in grid]
    val = run_phase("val", labels, val_seeds, a.val_rounds, alpha, a.out, a.workers)
    from latentlab.report import tidy_rows

    scores = val_scores(tidy_rows("vessels", {k: lp.records for k, lp in val.items()}), labels)
    chosen = min(labels[1:], key=lambda lab: scores[lab]["score"])
    (a.out / "choice.json").write_text(json.dumps({"scores": scores, "chosen": chosen, "grid": grid}, indent=1) + "\n")
    test = run_phase("test", [RAW, chosen, CONTROL], seeds, a.rounds, alpha, a.out, a.workers)
    if any(lp.records[0].metric != test[(RAW, s)].records[0].metric for (_, s), lp in test.items()):
        raise SystemExit("round 1 differs between the probes of one seed: the pairing is broken")
    (a.out / "diagnostics.json").write_text(json.dumps(diagnostics(test, chosen, alpha), indent=1) + "\n")
    this = {
        "started": started,
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python", "benchmarks/vessels_probe.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "workers": a.workers,
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "wall_s": time.perf_counter() - t_start,
    }
    old = json.loads((a.out / "meta.json").read_text()).get("invocations", []) if (a.out / "meta.json").exists() else []
    meta = {
        "invocations": [*old, this],  # a rerun resumes the finished runs and adds what is new
        "alpha": alpha,
        "alpha_from": str(a.alpha_from.relative_to(REPO)) if a.alpha_from.is_relative_to(REPO) else str(a.alpha_from),
        "val_seeds": val_seeds,
        "val_rounds": a.val_rounds,
        "seeds": seeds,
        "rounds": a.rounds,
        "protocol": PROTOCOL,
        "reproduces": reproduces(test, seeds),
    }
    (a.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(table(a.out), end="")
    figure(a.out)


if __name__ == "__main__":
    main()
