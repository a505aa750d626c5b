"""Tests of sampling by interpolation (SI, Algorithm 2) and the vessels experiment end to end.

A differentiable "ring generator" (decodes z to a smooth annulus whose radii depend on z) stands
in for a trained VAE, and a distance-transform fake stands in for the FEM solver: SI's logic, not
the generator or the physics, is under test here (the solver has its own tests).
"""

import numpy as np
import pytest
import torch
from scipy import ndimage

from latentlab import ExperimentConfig, LatentSpace, LoopConfig, TrainConfig, run_experiment
from latentlab.exceptions import ConfigError
from latentlab.strategies.si import InterpolationStrategy
from latentlab.labeling import LABELERS, OracleLabeler
from latentlab.vessels import FEMLabeler
from latentlab.pool import PoolState
from latentlab.strategies import SamplingContext, get_strategy
from latentlab.tasks import Regression
from latentlab.vessels.net import VesselNet
from latentlab.vessels import generate_vessels, load_vessels, validate_mask

SIZE = 32
CALLS = []


def fake_stress(mask, **kw):
    validate_mask(mask)
    CALLS.append(1)
    return ndimage.distance_transform_edt(mask) * 20.0


class RingGenerator(torch.nn.Module):
    """z (n, 2) -> smooth ring image (n, 1, S, S): inner radius 6 + 2 tanh(z0), wall 4 + 2 tanh(z1).

    ``z0 > 2.5`` decodes to an empty image (to test rejects)."""

    latent_dim = 2

    def __init__(self, size=SIZE):
        super().__init__()
        self.size = size
        self.sharp = torch.nn.Parameter(torch.tensor(3.0))

    def decode(self, z):
        z = torch.as_tensor(z, dtype=torch.float32)
        yy, xx = torch.meshgrid(torch.arange(self.size) + 0.5, torch.arange(self.size) + 0.5, indexing="ij")
        r = torch.hypot(xx - self.size / 2, yy - self.size / 2)[None]
        a = (self.size / 32) * (6 + 2 * torch.tanh(z[:, :1, None]))
        b = a + (self.size / 32) * (4 + 2 * torch.tanh(z[:, 1:, None]))
        img = torch.sigmoid(self.sharp * (r - a)) * torch.sigmoid(self.sharp * (b - r))
        return (img * (z[:, :1, None] < 2.5)).unsqueeze(1)

    def encode(self, x):
        return torch.zeros(len(x), 2)


def context(gen, labeler, target=None, synthetic=None, alpha=0.5):
    return SamplingContext(
        x_pool=np.zeros((3, 1, SIZE, SIZE), np.float32),
        y_pool=None,
        pool=PoolState.empty(3),
        task=Regression(),
        target=target,
        latent=LatentSpace(gen),
        alpha=alpha,
        labeler=labeler,
        synthetic=synthetic,
    )


@pytest.fixture()
def fem(tmp_path):
    return FEMLabeler(solver=fake_stress, cache_dir=tmp_path / "labels")


def test_initial_is_seeded_valid_and_counts_rejects(fem):
    gen = RingGenerator()
    si = get_strategy("si")
    p1 = si.initial(context(gen, fem), 6, np.random.default_rng(0))
    p2 = si.initial(context(gen, fem), 6, np.random.default_rng(0))
    assert p1.x_new.shape == (6, 1, SIZE, SIZE) and p1.z_new.shape == (6, 2) and p1.indices.size == 0
    np.testing.assert_array_equal(p1.x_new, p2.x_new)
    np.testing.assert_array_equal(p1.z_new, p2.z_new)
    for m in p1.x_new:
        validate_mask(m[0])

    # shift the prior draws so about half decode to empty images: rejected, counted, redrawn
    class Shifted:
        rng = np.random.default_rng(1)

        def standard_normal(self, shape):
            return self.rng.standard_normal(shape) + np.array([2.5, 0.0])

    p3 = si.initial(context(gen, fem), 6, Shifted())
    assert len(p3.x_new) == 6 and p3.n_rejected > 0 and np.all(p3.z_new[:, 0] < 2.5)


def test_propose_steps_along_the_gradient(fem):
    gen = RingGenerator()
    torch.manual_seed(0)
    target = VesselNet((1, SIZE, SIZE))
    init = get_strategy("si").initial(context(gen, fem), 5, np.random.default_rng(0))
    res = fem.label(init.x_new)
    syn = {"x": init.x_new, "y": res.y, "z": init.z_new, "round": np.ones(5, np.int64)}
    ctx = context(gen, fem, target, syn, alpha=0.5)
    prop = get_strategy("si").propose(ctx, 4, np.random.default_rng(3))
    again = get_strategy("si").propose(ctx, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(prop.z_new, again.z_new)
    assert prop.x_new.shape == (4, 1, SIZE, SIZE) and prop.n_rejected == 0
    np.testing.assert_allclose(prop.p_prime, prop.p + 0.5 * prop.d)
    np.testing.assert_array_equal(prop.z_new, prop.p_prime)
    np.testing.assert_allclose(np.linalg.norm(prop.d, axis=1), 1.0, rtol=1e-6)
    assert all(any(np.array_equal(p, z) for z in syn["z"]) for p in prop.p)  # starts from the store
    assert prop.grad_norm.shape == (4,) and np.all(prop.loss > 0)


def test_si_errors_name_the_fix(small_digits):
    gen = RingGenerator()
    oracle = OracleLabeler(small_digits.y_train)
    with pytest.raises(ConfigError, match="cannot label.*FEM"):
        get_strategy("si").initial(context(gen, oracle), 4, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="initial set first"):
        get_strategy("si").propose(
            context(gen, FEMLabeler(solver=fake_stress, cache_dir=None)), 4, np.random.default_rng(0)
        )
    with pytest.raises(ConfigError, match="max_attempts"):
        InterpolationStrategy(max_attempts=0)


@pytest.fixture()
def tiny_vessels(monkeypatch, tmp_path):
    """30 generated 64x64 masks (4 test), labelled by the fake solver through the registry."""
    monkeypatch.setitem(
        LABELERS,
        "fem",
        lambda ds=None, **kw: FEMLabeler(solver=fake_stress, cache_dir=tmp_path / "labels", **{**kw, "workers": 1}),
    )
    return load_vessels(n=30, n_test=4, progress=False)


def test_vessels_dataset(tiny_vessels):
    ds = tiny_vessels
    assert ds.y_train is None and ds.task == "regression" and ds.labeler == "fem"
    assert ds.x_train.shape == (26, 1, 64, 64) and ds.x_train.dtype == np.float32
    assert ds.y_test.shape == (4, 1, 64, 64) and 0 <= ds.y_test.min() and ds.y_test.max() <= 1
    np.testing.assert_array_equal(ds.x_test[:, 0], generate_vessels(30, seed=0)[26:])
    assert ds.subset(10, 2).x_train.shape[0] == 10 and ds.subset(10, 2).y_train is None
    assert ds.fingerprint() == ds.subset().fingerprint() != ds.subset(10).fingerprint()


def test_experiment_random_and_si_end_to_end_and_resume(tiny_vessels, tmp_path):
    ds = tiny_vessels
    gen = RingGenerator(64)
    cfg = ExperimentConfig(
        dataset="vessels",
        strategies=("random", "si"),
        seeds=(0,),
        loop=LoopConfig(
            rounds=2,
            initial=3,
            per_round=2,
            target="s6",
            target_kwargs=(("width", 0.25),),
            train=TrainConfig(epochs=1, batch_size=4, min_steps=2),
        ),
    )
    prepared = (ds, LatentSpace.from_generator(gen, ds.x_train))
    rows = run_experiment(cfg, tmp_path / "out", prepared=prepared, progress=False)
    assert {r["strategy"] for r in rows} == {"random", "si"} and {r["metric"] for r in rows} == {"mse"}
    assert [r["n_labelled"] for r in rows if r["strategy"] == "si"] == [3, 5]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| si |" in summary and "accuracy reaches" not in summary
    assert (tmp_path / "out" / "learning_curves.png").exists()
    n = len(CALLS)
    again = run_experiment(cfg, tmp_path / "out", prepared=prepared, progress=False, resume=True)
    assert again == rows and len(CALLS) == n  # finished runs read back; nothing solved twice
    bad = ExperimentConfig(dataset="vessels", strategies=("random",), loop=LoopConfig(target="lenet"))
    with pytest.raises(ConfigError, match="--target s6"):
        run_experiment(bad, tmp_path / "bad", prepared=prepared, progress=False)


# ---------------------------------------------------------------- si-real, si-mix: SI anchored to real masks
def real_context(gen, fem, n_pool=12, n_labelled=4, target=None, synthetic=None, alpha=0.5):
    """A pool of ring masks (decoded from a grid of z), the first ``n_labelled`` labelled by ``fem``."""
    z = np.stack([np.linspace(-1.5, 1.5, n_pool), np.linspace(1.0, -1.0, n_pool)], 1)
    x_pool, _ = fem.prepare(gen.decode(torch.as_tensor(z)).detach().numpy())
    pool = PoolState.empty(n_pool).label(np.arange(n_labelled), 1)
    y_pool = np.zeros_like(x_pool)
    y_pool[:n_labelled] = fem.label(x_pool[:n_labelled]).y
    return SamplingContext(
        x_pool=x_pool,
        y_pool=y_pool,
        pool=pool,
        task=Regression(),
        target=target,
        latent=LatentSpace(gen, embeddings=z.astype(np.float32)),
        alpha=alpha,
        labeler=fem,
        synthetic=synthetic,
    )


def test_si_real_starts_from_the_shared_real_draw_and_steps_from_labelled_items(fem):
    gen = RingGenerator()
    torch.manual_seed(0)
    ctx = real_context(gen, fem, target=VesselNet((1, SIZE, SIZE), width=0.25))
    s = get_strategy("si-real")
    assert s.shares_initial_set  # T(1) = the random pool draw every pool strategy of a seed gets
    np.testing.assert_array_equal(
        s.initial(ctx, 3, np.random.default_rng(5)).indices,
        get_strategy("random").initial(ctx, 3, np.random.default_rng(5)).indices,
    )
    prop = s.propose(ctx, 5, np.random.default_rng(1))
    assert prop.indices.size == 0 and prop.x_new.shape == (5, 1, SIZE, SIZE)
    starts = ctx.embeddings[:4].astype(np.float64)
    pos = [int(np.argmin(np.linalg.norm(starts - p, axis=1))) for p in prop.p]
    np.testing.assert_allclose(prop.p, starts[pos])  # every start is a labelled item's encoding
    np.testing.assert_allclose(prop.p_prime, prop.p + 0.5 * prop.d)
    # the loss at p is the target's loss on the labelled real mask itself, not on its decoding
    with torch.no_grad():
        ctx.target.eval()
        real = (
            ((ctx.target(torch.as_tensor(ctx.x_pool[pos])) - torch.as_tensor(ctx.y_pool[pos])) ** 2)
            .mean((1, 2, 3))
            .numpy()
        )
    np.testing.assert_allclose(prop.loss, real, rtol=1e-4)
    again = s.propose(ctx, 5, np.random.default_rng(1))
    np.testing.assert_array_equal(prop.z_new, again.z_new)


def test_si_mix_is_half_random_pool_half_synthesized(fem):
    gen = RingGenerator()
    torch.manual_seed(0)
    ctx = real_context(gen, fem, target=VesselNet((1, SIZE, SIZE), width=0.25))
    prop = get_strategy("si-mix").propose(ctx, 5, np.random.default_rng(2))
    assert len(prop.indices) == 2 and len(set(prop.indices.tolist())) == 2  # round(0.5 * 5)
    assert not ctx.pool.labelled_mask[prop.indices].any()
    assert prop.x_new.shape == (3, 1, SIZE, SIZE) and prop.p.shape == (3, 2)
    with pytest.raises(ConfigError, match="random_fraction"):
        type(get_strategy("si-mix"))(random_fraction=1.0)
    with pytest.raises(ConfigError, match="embeddings"):
        get_strategy("si-real").propose(context(gen, fem, target=ctx.target), 2, np.random.default_rng(0))


def test_si_mix_and_si_real_end_to_end_share_random_t1(tiny_vessels, tmp_path):
    ds = tiny_vessels
    gen = RingGenerator(64)
    cfg = ExperimentConfig(
        dataset="vessels",
        strategies=("random", "si-real", "si-mix"),
        seeds=(0,),
        loop=LoopConfig(
            rounds=2,
            initial=3,
            per_round=2,
            target="s6",
            target_kwargs=(("width", 0.25),),
            train=TrainConfig(epochs=1, batch_size=4, min_steps=2),
        ),
    )
    rows = run_experiment(
        cfg, tmp_path / "out", prepared=(ds, LatentSpace.from_generator(gen, ds.x_train)), progress=False
    )
    by = {(r["strategy"], r["round"]): r for r in rows}
    assert by[("si-real", 1)]["value"] == by[("random", 1)]["value"] == by[("si-mix", 1)]["value"]
    assert [by[(s, 2)]["n_labelled"] for s in ("random", "si-real", "si-mix")] == [5, 5, 5]
    state = (tmp_path / "out" / "runs" / "si-mix-seed0" / "state.json").read_text()
    assert '"n_synthetic": 1' in state and '"n_proposed": 2' in state  # one real + one synthesized
