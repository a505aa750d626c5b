"""How fast can the VAE train before its map gets worse? (issue 22, item 1)

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/generator_speed.py --dataset digits --seeds 0,1,2
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/generator_speed.py --dataset mnist --seeds 0,1,2
    .venv/bin/python benchmarks/generator_speed.py --table            # the tables, from the raw files

For every training recipe below and every seed: train the generator on the pool *minus a
validation split* (stratified, seeded; the recipe is chosen on it, never on the test set), then
score it on the validation images with :mod:`latentlab.quality`'s measures:

* **5-NN**: class accuracy of a 5-nearest-neighbour classifier whose memory is the pool's codes,
  asked about the validation images' codes (what SNN needs: nearby codes share class);
* **MSE**: per-pixel reconstruction error ``G(E(x))`` of the validation images.

Raw results: one JSON per (data set, recipe, seed) in ``benchmarks/results/perf/generator/``, with
seconds (wall and CPU), optimiser steps, load, threads and machine. ``--table`` prints, per recipe,
mean +- sd over seeds and whether it keeps the quality of ``v1`` (the default before issue 22):
a recipe *keeps* it when its mean 5-NN accuracy is at least ``v1``'s mean minus ``v1``'s seed sd and
its mean MSE at most ``v1``'s mean plus ``v1``'s seed sd.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import DATA_ROOT, RESULTS, finish_meta, mean_sd, read_json_files, run_meta, timed, write_json  # noqa: E402

OUT = RESULTS / "generator"


# name -> GeneratorConfig fields (kind vae, latent_dim 2, hidden 400 throughout)
def _name(epochs, batch_size, lr, min_steps, schedule) -> str:
    return f"e{epochs:g}-b{batch_size}-lr{lr:g}-m{min_steps}-{schedule[:3]}"


_GRID = [  # (epochs, batch_size, lr, min_steps, schedule)
    (10, 128, 1e-3, 1000, "constant"),
    (10, 128, 2e-3, 1500, "cosine"),
    (5, 128, 2e-3, 1500, "cosine"),
    (5, 256, 2e-3, 1000, "cosine"),
    (10, 512, 3e-3, 1000, "cosine"),
    (5, 512, 3e-3, 1000, "cosine"),
    (5, 1024, 4e-3, 600, "cosine"),
    (3, 512, 3e-3, 600, "cosine"),
]
# name -> GeneratorConfig fields (kind vae, latent_dim 2, hidden 400 throughout); v1 = the default before issue 22
RECIPES = {"v1": dict(epochs=30, batch_size=128, lr=1e-3, min_steps=3000, schedule="constant")}
RECIPES.update({_name(*g): dict(zip(("epochs", "batch_size", "lr", "min_steps", "schedule"), g)) for g in _GRID})
N_VAL = {"digits": 300, "mnist": 10_000}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=sorted(N_VAL), default="digits")
    ap.add_argument("--data-root", default=str(DATA_ROOT))
    ap.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated names from RECIPES")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--force", action="store_true", help="recompute entries that exist")
    ap.add_argument("--table", action="store_true", help="print the tables from the raw files and exit")
    return ap.parse_args(argv)


def score(gen, ds) -> dict:
    from latentlab.generative import decode, encode
    from latentlab.quality import knn_accuracy, reconstruction_mse

    zp, zv = encode(gen, ds.x_train), encode(gen, ds.x_val)
    return {
        "knn5_val": knn_accuracy(zp, ds.y_train, zv, ds.y_val, 5),
        "mse_val": reconstruction_mse(ds.x_val, decode(gen, zv)),
    }


def run(a) -> None:
    import torch

    from latentlab import set_thread_policy
    from latentlab.datasets import load_dataset
    from latentlab.generative import GeneratorConfig, train_generator

    set_thread_policy(a.threads)
    ds = load_dataset(a.dataset, root=a.data_root).with_validation(N_VAL[a.dataset], seed=0)
    out = Path(a.out) / a.dataset
    for name in a.recipes.split(","):
        cfg = GeneratorConfig(**RECIPES[name])
        for seed in map(int, a.seeds.split(",")):
            path = out / f"{name}-s{seed}.json"
            if path.exists() and not a.force:
                print(f"{path.name}: exists, skipped")
                continue
            meta = run_meta(dataset=a.dataset, recipe=name, config=cfg.to_dict(), seed=seed)
            t: dict = {}
            with timed(t, "train"):
                gen = train_generator(ds.x_train, cfg, seed=seed, progress=True)
            from latentlab.training import TrainConfig

            steps = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, min_steps=cfg.min_steps).n_steps(
                len(ds.x_train)
            )
            res = {**meta, **score(gen, ds), "seconds": t, "steps": steps, "n_pool": len(ds.x_train)}
            write_json(path, finish_meta(res))
            print(
                f"{a.dataset} {name} s{seed}: 5-NN {100 * res['knn5_val']:.1f} %, MSE {1e3 * res['mse_val']:.2f}e-3, "
                f"{t['train']['wall']:.1f} s wall / {t['train']['cpu']:.1f} s cpu, {steps} steps, "
                f"threads {torch.get_num_threads()}, load {meta['load_before'][0]}",
                flush=True,
            )


def table(out: Path = OUT) -> str:
    lines = []
    for dsdir in sorted(p for p in Path(out).iterdir() if p.is_dir()):
        rows = read_json_files(dsdir)
        if not rows:
            continue
        by = {}
        for r in rows:
            by.setdefault(r["recipe"], []).append(r)
        base = by.get("v1")
        bk = mean_sd(r["knn5_val"] for r in base) if base else None
        bm = mean_sd(r["mse_val"] for r in base) if base else None
        lines += [
            f"### {dsdir.name}: pool {rows[0]['n_pool']}, validation {N_VAL.get(dsdir.name, '?')} (5-NN and MSE on it)",
            "",
            "| recipe | epochs | batch | lr | schedule | steps | seeds | train s (wall, median) | train s (cpu, median)"
            " | 5-NN val % | MSE val x1e3 | keeps v1 quality |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        order = [k for k in RECIPES if k in by] + sorted(k for k in by if k not in RECIPES)
        for name in order:
            rs = by[name]
            c = rs[0]["config"]
            k, ks = mean_sd(r["knn5_val"] for r in rs)
            m, ms = mean_sd(r["mse_val"] for r in rs)
            import numpy as np

            wall = float(np.median([r["seconds"]["train"]["wall"] for r in rs]))
            cpu = float(np.median([r["seconds"]["train"]["cpu"] for r in rs]))
            keeps = "-"
            if base and name != "v1":
                ok = k >= bk[0] - bk[1] and m <= bm[0] + bm[1]
                keeps = "yes" if ok else "no"
            lines.append(
                f"| {name} | {c['epochs']:g} | {c['batch_size']} | {c['lr']:g} | {c.get('schedule', 'constant')} "
                f"| {rs[0]['steps']} | {len(rs)} | {wall:.1f} | {cpu:.1f} | {100 * k:.1f} +- {100 * ks:.1f} "
                f"| {1e3 * m:.2f} +- {1e3 * ms:.2f} | {keeps} |"
            )
        loads = sorted(r["load_before"][0] for r in rows)
        thr = sorted({r["torch_threads"] for r in rows})
        lines += [
            "",
            f"Threads {thr}, load average (1 min) before each training {loads[0]}-{loads[-1]}; "
            f"machine: {rows[0]['machine']['cpu']}, {rows[0]['machine']['cores']} cores.",
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    a = parse_args(argv)
    if not a.table:
        run(a)  # writes one raw file per (data set, recipe, seed) as each finishes
    print(table(Path(a.out)))


if __name__ == "__main__":
    main()
