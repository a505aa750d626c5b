"""A researcher's script against latentlab's public API: tests/test_conventions.py runs mypy --strict on it.

It is type-checked, not run: every call must match the package's annotations, and the
``assert_type`` lines pin what the main functions return.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from typing_extensions import assert_type

import latentlab
from latentlab import (
    ActiveLoop,
    Dataset,
    ExperimentConfig,
    GeneratorConfig,
    LatentSpace,
    LoopConfig,
    PoolState,
    Proposal,
    RoundRecord,
    SamplingContext,
    Strategy,
    TrainConfig,
)


@latentlab.register_strategy
class Margin(Strategy):
    """The unlabelled items with the smallest margin between F's top two class probabilities."""

    name = "margin-user"

    def propose(self, ctx: SamplingContext, per_round: int, rng: np.random.Generator) -> Proposal:
        self.check(ctx, per_round)
        free = ctx.pool.unlabelled_indices()
        with torch.no_grad():
            probs = torch.softmax(ctx.target(torch.as_tensor(ctx.x_pool[free])), 1)
        top2 = probs.topk(2, dim=1).values
        margin = (top2[:, 0] - top2[:, 1]).numpy()
        return Proposal(indices=free[np.argsort(margin)[:per_round]], score=margin)


def main(out: Path) -> float:
    print(latentlab.__version__)
    threads: int = latentlab.set_thread_policy(1)
    ds = latentlab.load_dataset("digits")
    assert_type(ds, Dataset)
    small = ds.subset(n_pool=300, n_test=100, seed=0).with_validation(30).validate()
    hist = small.histogram("test")
    print(small.n_classes, small.n_val, small.image_shape, small.fingerprint(), hist, threads)

    cfg = latentlab.config_from_settings({"rounds": 3, "per_round": 10}, strategy="random,margin-user")
    assert_type(cfg, ExperimentConfig)
    cfg = cfg.override({"loop.train.epochs": 1.0}).validate()
    print(cfg.get("loop.per_round"), cfg.to_dict(), ExperimentConfig.from_dict(cfg.to_dict()))
    loop_cfg: LoopConfig = cfg.loop
    train: TrainConfig = loop_cfg.train
    print(train.n_steps(100), train.to_dict(), LoopConfig.from_dict(loop_cfg.to_dict()))
    gen_cfg = GeneratorConfig(latent_dim=2, epochs=1, min_steps=10)

    dataset, latent = latentlab.prepare(cfg, progress=False)
    assert_type(dataset, Dataset)
    assert_type(latent, LatentSpace | None)
    gen = latentlab.get_generator(small, gen_cfg, seed=0, progress=False)
    codes = latentlab.encode(gen, small.x_train)
    images = latentlab.decode(gen, codes[:5])
    space = LatentSpace.from_generator(gen, small.x_train)
    dist, idx = space.nearest(codes[:3], k=2)
    print(images.shape, dist.shape, idx.shape, space.dim, space.extent(), space.to_view(codes).shape)

    rows = latentlab.run_experiment(cfg, out, prepared=(dataset, latent), progress=False, workers=1)
    assert_type(rows, list[dict[Any, Any]])

    loop = ActiveLoop(small, latentlab.get_strategy("margin-user"), loop_cfg, seed=0, latent=space, progress=False)
    rec = loop.run_round()
    assert_type(rec, RoundRecord)
    pool: PoolState = loop.pool
    labelled, rounds = loop.labelled()
    x, y = loop.train_set()
    n_lab, metric = loop.curve()
    print(pool.n_labelled, pool.history(), labelled, rounds, x.shape, y.shape, n_lab, metric, loop.n_labelled)
    records: list[RoundRecord] = loop.run()
    print(latentlab.strategy_table(), sorted(latentlab.STRATEGIES), sorted(latentlab.DATASETS))

    assert loop.model is not None  # F exists once a round has run
    walk = latentlab.trajectory(space, loop.model, loop.task, small.y_train, labelled[:4], steps=3)
    assert_type(walk, latentlab.Trajectory)
    print(walk.path.shape, walk.off_manifold(0.5))
    g = latentlab.latent_gradient(gen, loop.model, loop.task, codes[:4], small.y_train[:4])
    print(g.d.shape, g.grad_norm)
    net = torch.nn.Linear(4, 2)
    losses = latentlab.fit(
        net,
        (torch.zeros(8, 4), torch.zeros(8, dtype=torch.long)),
        lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]),
        TrainConfig(epochs=1),
        seed=0,
    )
    assert_type(losses, list[float])

    state = latentlab.ExplorerState(dataset="digits", n_pool=300)
    ok: bool = state.load().step()
    print(ok, state.readout(), state.curves(), state.loaded, state.embeddings)
    try:
        latentlab.get_strategy("no-such-strategy")
    except latentlab.ConfigError as e:
        print(e)
    return records[-1].metric


if __name__ == "__main__":
    print(main(Path("out-user-script")))
