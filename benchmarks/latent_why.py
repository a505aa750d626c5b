"""What each strategy picks, as F sees it: why latent strategies do or do not beat entropy, measured.

Used for MNIST (BENCHMARKS.md, section mnist-latent) and CIFAR-10 (section cifar10-redo).

    python benchmarks/latent_why.py RUN_DIR [--data-root ../shared/data] [--seed 0] [--round N]

Loads the ``entropy`` run of ``RUN_DIR`` (e.g. a ``benchmarks/mnist_table1_latent.sh`` output) at its last
checkpoint (F trained on that round's labels), its VAE from the cache and its pool state, then asks
every strategy of the run for one batch from that same state and reports, per strategy, what it
picked as F sees it: mean predictive entropy, F's error rate on the picks (oracle labels), the mean
latent distance to the nearest labelled item, and the number of classes covered. Also: how much of
F's uncertainty the 2-D latent preserves (the rank correlation between an item's entropy and its
nearest latent neighbour's) and the 5-NN class accuracy of the codes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--candidates", type=int, default=10_000)
    a = ap.parse_args()
    import torch
    from scipy.stats import spearmanr

    torch.set_num_threads(1)
    from latentlab import ActiveLoop, ExperimentConfig, get_strategy, prepare
    from latentlab.quality import knn_accuracy

    run = Path(a.run_dir)
    cfg = ExperimentConfig.from_dict(json.loads((run / "config.json").read_text()))
    ds, latent = prepare(cfg, a.data_root, progress=False)
    loop = ActiveLoop(
        ds,
        get_strategy("entropy"),
        cfg.loop,
        a.seed,
        latent=latent,
        progress=False,
        checkpoint_dir=run / "runs" / f"entropy-seed{a.seed}",
    )
    # the state F was trained in: the last round's training set (drop the batch proposed after it)
    t = loop.round
    pool = loop.pool
    lab_round = pool.labelled_round.copy()
    lab_round[lab_round == t + 1] = 0
    from latentlab.pool import PoolState

    loop.pool = PoolState(lab_round)
    ctx = loop.context()
    task, model, z = loop.task, loop.model, latent.embeddings
    rng = np.random.default_rng([a.seed, 99])
    free = loop.pool.unlabelled_indices()
    cand = np.sort(rng.choice(free, min(a.candidates, len(free)), replace=False))
    out = task.predict(model, ds.x_train[cand])
    ent = task.entropy(out).numpy()
    # how much of F's uncertainty survives a step to a latent neighbour
    _, nn = latent.index.nearest(z[cand], k=2)
    pos = {int(i): j for j, i in enumerate(cand)}
    nb = np.array([next((pos[int(i)] for i in row[1:] if int(i) in pos), -1) for row in nn])
    ok = nb >= 0
    rho = spearmanr(ent[ok], ent[nb[ok]]).statistic
    labelled = loop.pool.labelled_indices()
    knn = knn_accuracy(z[labelled], ds.y_train[labelled], z[cand], ds.y_train[cand], 5)
    print(f"# {ds.name} after round {t} ({len(labelled)} labels), seed {a.seed}, F = the entropy run's model\n")
    dim = z.shape[1]
    print(f"- 5-NN class accuracy of the {dim}-D codes (labelled -> {len(cand)} free items): {100 * knn:.1f} %")
    print(f"- rank correlation of F's entropy between an item and its nearest free latent neighbour: {rho:.2f}")
    print(f"- F's error on the candidates: {100 * np.mean(out.argmax(1).numpy() != ds.y_train[cand]):.1f} %\n")
    cols = ["strategy", "mean entropy of picks (nats)", "F's error on picks", "latent distance to labelled", "classes"]
    print("| " + " | ".join(cols) + " |")
    print("|---|---|---|---|---|")
    from scipy.spatial import cKDTree

    tree = cKDTree(z[labelled])
    per_round = cfg.loop.per_round
    for s in cfg.strategies:
        strat = get_strategy(s)
        c = ctx if not strat.needs_generator else loop.context()
        prop = strat.propose(c, per_round, np.random.default_rng([a.seed, 7]))
        idx = np.asarray(prop.indices)
        o = task.predict(model, ds.x_train[idx])
        e = task.entropy(o).numpy()
        err = 100 * np.mean(o.argmax(1).numpy() != ds.y_train[idx])
        d = tree.query(z[idx])[0]
        print(f"| {s} | {e.mean():.3f} | {err:.1f} % | {d.mean():.3f} | {len(np.unique(ds.y_train[idx]))} |")


if __name__ == "__main__":
    main()
