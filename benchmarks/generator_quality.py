"""Generator quality measured by what SNN needs (issue 10): 5-NN class accuracy of the codes vs trivial embeddings.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generator_quality.py --profile cpu --out runs/gen-quality-cpu
    .venv/bin/python benchmarks/generator_quality.py --profile paper --device cuda --out runs/gen-quality-paper

Trains the profile's generator on its pool (or loads it from the generator cache: the same entry
``latentlab run --profile ...`` uses, unless a flag below changes the generator's settings), then
writes to ``--out``:

* ``quality.json``: the numbers of :func:`latentlab.quality.embedding_quality` on the test set
  (``test``) and on a validation split of the pool (``val``: the k-NN's memory is the rest of the
  pool; choose settings on these), the settings, the generator's training history, seconds, load;
* ``quality.md``: the same as markdown tables;
* ``decoded_grid.png`` (G(z) over the pool's code box) and ``code_map.png`` (the pool's codes
  coloured by class; codes of latent_dim > 2 in their PCA-2 plane).

Time is bounded by the generator's epochs (``--gen-epochs``; progress via tqdm); scoring takes
seconds. Quick check: ``--dataset digits --n-pool 500 --n-test 200 --gen-epochs 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=("cpu", "paper"), default="cpu")
    ap.add_argument("--dataset", default=None, help="override the profile's data set (e.g. digits for a smoke run)")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--n-pool", type=int, default=None, help="pool size (default: the profile's)")
    ap.add_argument("--n-test", type=int, default=None, help="test images scored (default: the profile's)")
    ap.add_argument("--n-val", type=int, default=None, help="validation split of the pool (default: 20 %% of it)")
    ap.add_argument("--gen-epochs", type=float, default=None, help="generator epochs (default: the profile's)")
    ap.add_argument("--latent-dim", type=int, default=None, help="generator latent dimension (default: the profile's)")
    ap.add_argument(
        "--gen-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra generator keyword (generator.options), e.g. warmup_epochs=3; repeatable",
    )
    ap.add_argument(
        "--clear-gen-options",
        action="store_true",
        help="drop the profile's generator options (the cpu profile before its warm-up: add --gen-epochs 3)",
    )
    ap.add_argument("--device", default=None, help="cpu, cuda or auto (default: the profile's)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on a shared machine)")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--no-cache", action="store_true", help="train afresh, do not read or write the generator cache")
    ap.add_argument("--out", default="runs/generator-quality")
    return ap.parse_args(argv)


def _option(text: str):
    from latentlab.exceptions import ConfigError

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ConfigError(f"--gen-option takes NAME=VALUE (e.g. warmup_epochs=3), got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main(argv=None) -> dict:
    a = parse_args(argv)
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    from latentlab import ExperimentConfig, prepare
    from latentlab.datasets import stratified_indices
    from latentlab.generative import generator_key, get_generator
    from latentlab.profiles import apply_profile, get_profile, resolve_device
    from latentlab.quality import code_map_figure, decoded_grid_figure, embedding_quality

    cfg = apply_profile(ExperimentConfig(strategies=("snn",)), a.profile)
    changes = {}
    if a.dataset:
        changes["dataset"] = a.dataset
    if a.n_pool is not None:
        changes["n_pool"] = a.n_pool
    if a.n_test is not None:
        changes["n_test"] = a.n_test
    if a.gen_epochs is not None:
        changes["generator.epochs"] = float(a.gen_epochs)
    if a.latent_dim is not None:
        changes["generator.latent_dim"] = a.latent_dim
    options = {} if a.clear_gen_options else dict(cfg.generator.options)
    if a.gen_option or a.clear_gen_options:
        changes["generator.options"] = tuple(sorted({**options, **dict(map(_option, a.gen_option))}.items()))
    cfg = cfg.override(changes).validate()
    device = resolve_device(a.device or get_profile(a.profile).device)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    # the data exactly as `latentlab run` prepares it; no generator yet (below) and no loop to fit
    cfg_nogen = cfg.override({"strategies": ("random",), "loop.initial": 1, "loop.per_round": 1, "loop.rounds": 1})
    ds, _ = prepare(cfg_nogen, a.data_root, progress=False)
    t_data = time.perf_counter() - t0
    gen = get_generator(ds, cfg.generator, seed=cfg.gen_seed, cache=not a.no_cache, progress=True, device=device)
    t_gen = time.perf_counter() - t0 - t_data
    gen.eval()  # encoding and decoding run where the generator is (the GPU with --device cuda)

    from latentlab.generative import encode

    t1 = time.perf_counter()
    z_pool = encode(gen, ds.x_train)  # once: the test scoring, the validation memory and the figures share it
    test = embedding_quality(gen, ds.x_train, ds.y_train, ds.x_test, ds.y_test, k=a.k, z_pool=z_pool)
    n_val = a.n_val if a.n_val is not None else len(ds.x_train) // 5
    val_idx = stratified_indices(ds.y_train, n_val, np.random.default_rng([0, 5]))
    rest = np.setdiff1d(np.arange(len(ds.x_train)), val_idx)
    val = embedding_quality(
        gen, ds.x_train[rest], ds.y_train[rest], ds.x_train[val_idx], ds.y_train[val_idx], k=a.k, z_pool=z_pool[rest]
    )
    t_score = time.perf_counter() - t1
    title = f"{ds.name}, {a.profile} profile, {cfg.generator.kind} latent_dim={cfg.generator.latent_dim}"
    decoded_grid_figure(gen, z_pool, title=f"G(z): {title}").savefig(out / "decoded_grid.png")
    code_map_figure(z_pool, ds.y_train, ds.classes, title=f"E(x) by class: {title}").savefig(out / "code_map.png")

    history = getattr(gen, "train_history", None)
    if history is None:  # loaded from the cache: the sidecar keeps it
        from latentlab.storage import cache_dir

        key = generator_key(ds.fingerprint(), cfg.generator, cfg.gen_seed)
        side = cache_dir() / "generators" / f"{ds.name}-{cfg.generator.kind}-{key}.json"
        if side.exists():
            history = json.loads(side.read_text()).get("train_history")
    res = {
        "profile": a.profile,
        "dataset": ds.name,
        "n_pool": len(ds.x_train),
        "n_test": len(ds.x_test),
        "n_val": int(n_val),
        "generator": cfg.generator.to_dict(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "test": test.as_dict(),
        "val": val.as_dict(),
        "seconds": {"data": t_data, "generator": t_gen, "scoring": t_score},
        "load_avg_end": os.getloadavg(),
        "train_history": history,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else " ".join(argv),
    }
    (out / "quality.json").write_text(json.dumps(res, indent=1))
    md = [
        f"# Generator quality: {title}",
        "",
        f"Generator: `{json.dumps(cfg.generator.to_dict())}`, trained on {len(ds.x_train)} pool images "
        f"({t_gen:.0f} s, {device}; 0 s = loaded from the cache). Load average at the end: "
        f"{', '.join(f'{v:.2f}' for v in res['load_avg_end'])}.",
        "",
        "## Test set",
        "",
        test.table(),
        f"## Validation split of the pool ({n_val} items; k-NN memory = the other {len(rest)})",
        "",
        val.table("validation"),
    ]
    (out / "quality.md").write_text("\n".join(md))
    print("\n".join(md))
    return res


if __name__ == "__main__":
    main()
