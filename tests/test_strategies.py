import numpy as np
import pytest
import torch

from latentlab import ConfigError, get_strategy
from latentlab.models import LeNet
from latentlab.strategies import STRATEGIES

from conftest import digits_context


@pytest.fixture(scope="module")
def ctx(small_digits, latent):
    torch.manual_seed(0)
    return digits_context(small_digits, LeNet((1, 8, 8), 10), latent=latent, alpha=0.3)


def test_registry_names():
    assert {"random", "snn", "snn-random-dir", "entropy"} <= set(STRATEGIES)
    with pytest.raises(ConfigError, match="unknown strategy 'snnn'.*entropy.*random.*snn"):
        get_strategy("snnn")


@pytest.mark.parametrize("name", ["random", "snn", "snn-random-dir", "entropy"])
def test_proposals_are_distinct_unlabelled_and_seeded(ctx, name):
    s = get_strategy(name)
    a = s.propose(ctx, 40, np.random.default_rng(0))
    b = s.propose(ctx, 40, np.random.default_rng(0))
    assert len(a.indices) == 40 and len(set(a.indices.tolist())) == 40
    assert not ctx.pool.labelled_mask[a.indices].any()
    np.testing.assert_array_equal(a.indices, b.indices)


def test_snn_steps_alpha_along_the_gradient_and_takes_nearest(ctx):
    prop = get_strategy("snn").propose(ctx, 30, np.random.default_rng(1))
    assert ctx.pool.labelled_mask[prop.start_indices].all()
    np.testing.assert_allclose(prop.p, ctx.embeddings[prop.start_indices], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(prop.p_prime - prop.p, axis=1), ctx.alpha, rtol=1e-6)
    np.testing.assert_allclose(
        prop.neighbour_dist, np.linalg.norm(ctx.embeddings[prop.indices] - prop.p_prime, axis=1), rtol=1e-5
    )
    # the first pick is the true nearest unlabelled item
    free = ctx.pool.unlabelled_indices()
    d = np.linalg.norm(ctx.embeddings[free] - prop.p_prime[0], axis=1)
    assert prop.indices[0] == free[np.argmin(d)]


def test_random_direction_control_differs_only_in_direction(ctx):
    a = get_strategy("snn").propose(ctx, 30, np.random.default_rng(2))
    b = get_strategy("snn-random-dir").propose(ctx, 30, np.random.default_rng(2))
    np.testing.assert_array_equal(a.start_indices, b.start_indices)
    np.testing.assert_allclose(a.loss, b.loss)
    np.testing.assert_allclose(np.linalg.norm(b.p_prime - b.p, axis=1), ctx.alpha, rtol=1e-6)
    cos = np.sum(a.d * b.d, axis=1)
    assert np.mean(np.abs(cos) > 0.99) < 0.5


def test_entropy_picks_the_most_uncertain(ctx):
    prop = get_strategy("entropy").propose(ctx, 10, np.random.default_rng(0))
    free = ctx.pool.unlabelled_indices()
    logits = ctx.task.predict(ctx.target, ctx.x_pool[free])
    p = torch.softmax(logits, 1)
    ent = -(p * torch.log(p)).sum(1).numpy()
    assert set(prop.indices.tolist()) == set(free[np.argsort(-ent)[:10]].tolist())
    assert np.all(np.diff(prop.score) <= 1e-6)


def test_bad_alpha_and_batch(ctx):
    import dataclasses

    with pytest.raises(ConfigError, match="alpha must be > 0"):
        get_strategy("snn").propose(dataclasses.replace(ctx, alpha=0.0), 5, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="larger than the 350 unlabelled"):
        get_strategy("random").propose(ctx, 351, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="needs a trained generator"):
        get_strategy("snn").propose(dataclasses.replace(ctx, latent=None), 5, np.random.default_rng(0))


def test_snn_batch_larger_than_labelled_set_still_distinct(ctx):
    prop = get_strategy("snn").propose(ctx, 120, np.random.default_rng(0))  # 50 labelled start points
    assert len(set(prop.indices.tolist())) == 120


def test_every_module_of_the_strategies_package_registers_its_strategy():
    """A new strategy is one file in latentlab/strategies/: the package imports it, nothing else must."""
    import pkgutil
    import sys

    import latentlab.strategies as pkg

    mods = {m.name for m in pkgutil.iter_modules(pkg.__path__)} - {"base"}
    assert {"random_sampling", "entropy", "snn", "si"} <= mods
    registered_in = {sys.modules[cls.__module__].__name__.rsplit(".", 1)[1] for cls in STRATEGIES.values()}
    assert mods <= registered_in, f"modules that register no strategy: {mods - registered_in}"


def test_strategy_table_lists_every_registered_strategy_with_a_description():
    from latentlab.strategies import STRATEGIES, strategy_table

    table = strategy_table()
    for name in STRATEGIES:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert len(row.split("|")[3].strip()) > 20, f"{name} has no one-line description"
