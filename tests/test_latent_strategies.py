"""The latent strategies beyond the paper: snn-hard, uncertainty-ascent, diverse-entropy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from latentlab import ActiveLoop, ConfigError, LoopConfig, TrainConfig, get_strategy
from latentlab.gradients import latent_gradient
from latentlab.strategies.latent_plus import k_centre_greedy
from latentlab.tasks import Regression

NEW = ["snn-hard", "uncertainty-ascent", "diverse-entropy", "latent-coreset"]
NO_MOVE = ("diverse-entropy", "latent-coreset")  # picks without a latent step
FAST = TrainConfig(epochs=1, batch_size=32, min_steps=60)


@pytest.fixture(scope="module")
def ctx(small_digits, latent):
    """A context after one round of a random run: F trained on 50 digits, 60 labelled now (one thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loop = ActiveLoop(
            small_digits,
            get_strategy("random"),
            LoopConfig(rounds=2, initial=50, per_round=10, alpha=0.3, train=FAST),
            seed=0,
            latent=latent,
            progress=False,
        )
        loop.run_round()
    finally:
        torch.set_num_threads(n)
    return loop.context()


def _entropy_at(ctx, z):
    with torch.no_grad():
        img = ctx.generator.decode(torch.as_tensor(z, dtype=torch.float32))
        return ctx.task.entropy(ctx.target(img)).numpy().astype(np.float64)


def _min_pairwise(z):
    d = np.linalg.norm(z[:, None] - z[None], axis=2)
    return d[np.triu_indices(len(z), 1)].min()


@pytest.mark.parametrize("name", NEW)
def test_picks_are_distinct_unlabelled_and_seeded(ctx, name):
    s = get_strategy(name)
    a = s.propose(ctx, 25, np.random.default_rng(0))
    b = s.propose(ctx, 25, np.random.default_rng(0))
    assert len(a.indices) == 25 and len(set(a.indices.tolist())) == 25
    assert not ctx.pool.labelled_mask[a.indices].any()
    np.testing.assert_array_equal(a.indices, b.indices)
    for k, v in a.arrays().items():
        np.testing.assert_array_equal(v, b.arrays()[k])
    np.testing.assert_allclose(a.p, ctx.embeddings[a.start_indices if a.start_indices is not None else a.indices])


# --------------------------------------------------------------------------- snn-hard
def test_snn_hard_starts_at_the_highest_loss_labelled_items(ctx):
    lab = ctx.pool.labelled_indices()
    pred = ctx.task.predict(ctx.target, ctx.x_pool[lab]).argmax(1).numpy()
    y = np.array(ctx.y_pool, copy=True)
    y[lab] = pred  # F agrees with every label ...
    wrong = lab[[3, 11, 17, 29, 40]]
    y[wrong] = (pred[[3, 11, 17, 29, 40]] + 1) % 10  # ... except on five items, which F gets wrong
    c = dataclasses.replace(ctx, y_pool=y)
    prop = get_strategy("snn-hard").propose(c, 5, np.random.default_rng(0))
    assert set(prop.start_indices.tolist()) == set(wrong.tolist())
    loss = c.task.item_loss(c.target, c.x_pool[prop.start_indices], y[prop.start_indices])
    assert np.all(np.diff(loss) <= 1e-9)  # highest loss first
    np.testing.assert_allclose(np.linalg.norm(prop.p_prime - prop.p, axis=1), c.alpha, rtol=1e-6)
    assert not c.pool.labelled_mask[prop.indices].any()


def test_snn_hard_cycles_when_the_batch_exceeds_the_labelled_set_and_breaks_ties_by_seed(ctx):
    lab = ctx.pool.labelled_indices()
    n = len(lab)
    starts = get_strategy("snn-hard").starts(ctx, n + 10, np.random.default_rng(0))
    assert sorted(starts[:n].tolist()) == lab.tolist()
    np.testing.assert_array_equal(starts[n:], starts[:10])
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))  # constant logits: all losses tie
    torch.nn.init.zeros_(flat[1].weight), torch.nn.init.zeros_(flat[1].bias)
    c = dataclasses.replace(ctx, target=flat)
    s = get_strategy("snn-hard")
    a, b = s.starts(c, 10, np.random.default_rng(1)), s.starts(c, 10, np.random.default_rng(2))
    np.testing.assert_array_equal(a, s.starts(c, 10, np.random.default_rng(1)))
    assert set(a.tolist()) != set(b.tolist())  # ties are broken by the seeded draw, not by pool order


# --------------------------------------------------------------------------- uncertainty-ascent
def test_entropy_gradient_increases_entropy_of_the_decoded_point(ctx):
    free = ctx.pool.unlabelled_indices()[:40]
    p = ctx.embeddings[free].astype(np.float64)
    g = latent_gradient(ctx.generator, ctx.target, ctx.task, p, objective="entropy")
    np.testing.assert_allclose(g.loss, _entropy_at(ctx, p), rtol=1e-5, atol=1e-6)
    h = 1e-2
    up, down = _entropy_at(ctx, p + h * g.d), _entropy_at(ctx, p - h * g.d)
    ok = g.grad_norm > 0.05
    assert ok.sum() >= 20
    assert np.all(up[ok] > g.loss[ok])
    # the central difference along d is the gradient's norm (the directional derivative along d)
    np.testing.assert_allclose((up - down)[ok] / (2 * h), g.grad_norm[ok], rtol=0.1, atol=5e-3)


def test_latent_gradient_keeps_the_loss_objective_and_checks_its_arguments(ctx):
    lab = ctx.pool.labelled_indices()[:8]
    p = ctx.embeddings[lab]
    a = latent_gradient(ctx.generator, ctx.target, ctx.task, p, ctx.y_pool[lab])
    b = latent_gradient(ctx.generator, ctx.target, ctx.task, p, ctx.y_pool[lab], objective="loss")
    np.testing.assert_array_equal(a.d, b.d)
    with pytest.raises(ConfigError, match="needs the labels y"):
        latent_gradient(ctx.generator, ctx.target, ctx.task, p)
    with pytest.raises(ConfigError, match="objective must be one of"):
        latent_gradient(ctx.generator, ctx.target, ctx.task, p, objective="margin")
    with pytest.raises(ConfigError, match="classification"):
        latent_gradient(ctx.generator, ctx.target, Regression(), p, objective="entropy")


def test_uncertainty_ascent_steps_top_entropy_unlabelled_points(ctx):
    prop = get_strategy("uncertainty-ascent").propose(ctx, 10, np.random.default_rng(0))
    free = ctx.pool.unlabelled_indices()
    ent = ctx.task.entropy(ctx.task.predict(ctx.target, ctx.x_pool[free])).numpy()
    assert set(prop.start_indices.tolist()) == set(free[np.argsort(-ent)[:10]].tolist())
    assert not ctx.pool.labelled_mask[prop.start_indices].any()
    np.testing.assert_allclose(np.linalg.norm(prop.p_prime - prop.p, axis=1), ctx.alpha, rtol=1e-6)
    np.testing.assert_allclose(prop.score, _entropy_at(ctx, prop.p), rtol=1e-5, atol=1e-6)  # entropy of G(p)
    assert prop.loss is None  # no label was used
    # the first pick is the nearest unlabelled item to p'
    dd = np.linalg.norm(ctx.embeddings[free] - prop.p_prime[0], axis=1)
    assert prop.indices[0] == free[np.argmin(dd)]


def test_uncertainty_ascent_bad_start():
    with pytest.raises(ConfigError, match="start must be one of"):
        get_strategy("uncertainty-ascent", start="middle")


def test_uncertainty_ascent_random_start_points_are_unlabelled(ctx):
    prop = get_strategy("uncertainty-ascent", start="random").propose(ctx, 30, np.random.default_rng(3))
    assert not ctx.pool.labelled_mask[prop.start_indices].any()
    assert not ctx.pool.labelled_mask[prop.indices].any() and len(set(prop.indices.tolist())) == 30


# --------------------------------------------------------------------------- diverse-entropy
def test_k_centre_greedy_spreads_a_constructed_cluster():
    rng = np.random.default_rng(0)
    cluster = rng.normal(0, 0.01, (10, 2))  # the highest-priority candidates pile up at one point
    spread = np.array([[3.0, 0], [-3, 0], [0, 3], [0, -3]])
    pts = np.concatenate([cluster, spread])
    rows, dist = k_centre_greedy(pts, np.zeros((0, 2)), 5)
    assert rows[0] == 0 and set(rows[1:].tolist()) == {10, 11, 12, 13}
    assert np.isinf(dist[0]) and np.all(np.diff(dist[1:]) <= 1e-12)
    # a labelled centre at (3, 0) pushes the picks away from it
    rows, _ = k_centre_greedy(pts, np.array([[3.0, 0]]), 2)
    assert rows[0] == 11  # (-3, 0): farthest from the centre
    with pytest.raises(ConfigError, match="k-centre needs"):
        k_centre_greedy(pts, np.zeros((0, 2)), 15)


def test_diverse_entropy_spreads_the_top_entropy_batch(ctx):
    j = 10
    div = get_strategy("diverse-entropy").propose(ctx, j, np.random.default_rng(0))
    ent = get_strategy("entropy").propose(ctx, j, np.random.default_rng(0))
    z_div, z_ent = ctx.embeddings[div.indices], ctx.embeddings[ent.indices]
    assert _min_pairwise(z_div) > _min_pairwise(z_ent)
    # the picks come from the 10 x J most uncertain items, and p is their embedding (no move)
    free = ctx.pool.unlabelled_indices()
    h = ctx.task.entropy(ctx.task.predict(ctx.target, ctx.x_pool[free])).numpy()
    assert set(div.indices.tolist()) <= set(free[np.argsort(-h)[: 10 * j]].tolist())
    np.testing.assert_allclose(div.p, ctx.embeddings[div.indices])
    assert div.p_prime is None and div.d is None
    # each pick's recorded distance is to its nearest labelled item or earlier pick
    lab = ctx.embeddings[ctx.pool.labelled_indices()]
    for i in range(j):
        others = np.concatenate([lab, z_div[:i]])
        assert div.neighbour_dist[i] == pytest.approx(np.linalg.norm(others - z_div[i], axis=1).min(), rel=1e-6)


def test_latent_coreset_is_k_centre_over_the_free_items(ctx):
    prop = get_strategy("latent-coreset").propose(ctx, 10, np.random.default_rng(0))
    free = ctx.pool.unlabelled_indices()
    rows, dist = k_centre_greedy(ctx.embeddings[free], ctx.embeddings[ctx.pool.labelled_indices()], 10)
    np.testing.assert_array_equal(prop.indices, free[rows])
    np.testing.assert_allclose(prop.neighbour_dist, dist)
    # the first pick is the free item farthest from every labelled item
    lab = ctx.embeddings[ctx.pool.labelled_indices()]
    far = [np.linalg.norm(lab - ctx.embeddings[i], axis=1).min() for i in free]
    assert prop.indices[0] == free[int(np.argmax(far))]
    ent = get_strategy("entropy").propose(ctx, 10, np.random.default_rng(0))
    assert _min_pairwise(ctx.embeddings[prop.indices]) > _min_pairwise(ctx.embeddings[ent.indices])


def test_diverse_entropy_bad_factor():
    with pytest.raises(ConfigError, match="factor"):
        get_strategy("diverse-entropy", factor=0)


# --------------------------------------------------------------------------- regression
def test_regression_entropy_strategies_raise_and_snn_hard_works(ctx):
    y = np.linspace(0, 1, len(ctx.x_pool), dtype=np.float32)[:, None]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1)).eval()
    c = dataclasses.replace(ctx, task=Regression(), target=net, y_pool=y)
    for name in ("uncertainty-ascent", "diverse-entropy"):
        with pytest.raises(ConfigError, match=f"{name}.*classification.*snn-hard"):
            get_strategy(name).propose(c, 5, np.random.default_rng(0))
    assert not c.pool.labelled_mask[
        get_strategy("latent-coreset").propose(c, 5, np.random.default_rng(0)).indices
    ].any()
    prop = get_strategy("snn-hard").propose(c, 5, np.random.default_rng(0))
    lab = c.pool.labelled_indices()
    loss = c.task.item_loss(net, c.x_pool[lab], y[lab])
    assert set(prop.start_indices.tolist()) == set(lab[np.argsort(-loss)[:5]].tolist())
    assert not c.pool.labelled_mask[prop.indices].any()


# --------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("name", NEW)
def test_active_loop_runs_each_on_digits(small_digits, latent, name):
    cfg = LoopConfig(rounds=3, initial=30, per_round=20, alpha=0.3, train=FAST)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = ActiveLoop(small_digits, get_strategy(name), cfg, seed=0, latent=latent, progress=False)
        recs = a.run()
        b = ActiveLoop(small_digits, get_strategy(name), cfg, seed=0, latent=latent, progress=False)
        b.run()
    finally:
        torch.set_num_threads(n)
    assert [r.n_labelled for r in recs] == [30, 50, 70] and all(0 <= r.metric <= 100 for r in recs)
    assert a.pool.n_labelled == 70  # every proposal labelled 20 new items
    np.testing.assert_array_equal(a.pool.labelled_indices(), b.pool.labelled_indices())
    assert [r.metric for r in recs] == [r.metric for r in b.records]
    assert recs[1].mean_neighbour_dist is not None
    if name == "uncertainty-ascent":
        assert recs[1].mean_loss_at_p is None and recs[1].mean_grad_norm > 0


def test_proposals_leave_the_pool_unchanged(ctx):
    before = ctx.pool.labelled_mask.copy()
    for name in NEW:
        get_strategy(name).propose(ctx, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(ctx.pool.labelled_mask, before)


# --------------------------------------------------------------------------- explorer (headless) and its map
@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name", NEW)
def test_explorer_runs_each_and_records_its_points(explorer_settings, one_thread, name):
    from latentlab.explorer_state import ExplorerState, strategy_names

    assert name in strategy_names()
    s = ExplorerState(**{**explorer_settings, "strategy": name}).load()
    assert s.run_round(), s.error
    pr = s.history(1)["proposal"]
    picks = np.asarray(pr["indices"])
    assert len(set(picks.tolist())) == 5
    assert np.all(s.loop.pool.labelled_round[picks] == 2)  # unlabelled before the round, labelled by it
    np.testing.assert_allclose(pr["p"], s.embeddings[pr.get("start_indices", picks)])
    t = s.trajectories()
    if name in NO_MOVE:  # picks, no move: the points sit at the picks, nothing to draw as p'
        assert "p_prime" not in pr and t["steps"] == 0 and t["p_prime"].shape == (0, 2)
        np.testing.assert_allclose(t["p"], s.embeddings[picks])
    else:
        np.testing.assert_allclose(np.linalg.norm(pr["p_prime"] - pr["p"], axis=1), s.alpha, rtol=1e-6)
        assert t["steps"] == 1 and t["paths"].shape == (2, 5, 2)
        np.testing.assert_allclose(t["p"], pr["p"])
        np.testing.assert_allclose(t["neighbour_xy"], s.embeddings[picks])
        assert np.all(np.isfinite(t["loss"])) and np.all(np.isfinite(t["loss_after"]))
        start_round = s.loop.pool.labelled_round[np.asarray(pr["start_indices"])]
        if name == "uncertainty-ascent":  # starts were unlabelled: some may have been picked themselves
            assert "loss" not in pr and np.all(start_round != 1)
        else:
            assert np.all(start_round == 1)
    assert s.step(), s.error  # Step follows the strategy's own rule (Strategy.step)
    if name in NO_MOVE:  # no latent move: Step names the strategy's next picks instead
        assert s.trajectories()["steps"] == 0 and len(set(s.picks.tolist())) == len(picks)
    else:
        assert s.trajectories()["steps"] == t["steps"] + 1
    assert s.select(*t["p"][0]), s.error
    assert s.run_round(), s.error
    assert s.loop.n_labelled == 40 and s.round == 2


@pytest.mark.parametrize("name", ["uncertainty-ascent", "diverse-entropy"])
def test_explorer_map_draws_each_round_live_and_in_replay(explorer_settings, one_thread, name):
    pytest.importorskip("panel")
    from latentlab.explorer_state import ExplorerState
    from latentlab.widgets import LatentExplorer

    view = LatentExplorer(ExplorerState(**{**explorer_settings, "strategy": name}).load())
    view.b_round.clicks += 1
    view.b_round.clicks += 1
    assert view.alert_text == "", view.alert_text
    moved = name == "uncertainty-ascent"
    assert len(view.src["points"].data["x"]) == 5
    assert len(view.src["pp"].data["x"]) == (5 if moved else 0)
    view.w_replay.value = 1  # the first round's proposal
    assert view.alert_text == "", view.alert_text
    pr = view.state.history(1)["proposal"]
    np.testing.assert_allclose(view.src["points"].data["x"], pr["p"][:, 0])
    assert len(view.src["pp"].data["x"]) == (5 if moved else 0)
    assert len(view.src["grad"].data["x0"]) == (5 if moved else 0)  # an arrow only where a point moved
    assert len(view.src["nb"].data["x"]) == (5 if moved else 0)
