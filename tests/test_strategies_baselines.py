"""The baseline strategies of the comparison with baal, scikit-activeml and modAL: margin,
least-confidence, BALD, BatchBALD (MC dropout), core-set and BADGE.

Each pick is checked against its definition on hand-made outputs or features, against the
reference libraries where they are installed (baal's BALD, batchbald-redux's BatchBALD), and in a
short ActiveLoop on digits.
"""

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from latentlab import ConfigError, PoolState, get_strategy
from latentlab.loop import ActiveLoop, LoopConfig
from latentlab.models import LeNet, LeNetDropout, build_target
from latentlab.predictive import candidate_items, mc_dropout_probs, penultimate_features

from conftest import digits_context
from latentlab.strategies import SamplingContext
from latentlab.strategies.bayesian import _sampled_joint, bald_scores, batchbald
from latentlab.strategies.diversity import gradient_embedding, k_centre_greedy
from latentlab.tasks import Classification, Regression
from latentlab.training import TrainConfig

NEW = ["margin", "least-confidence", "bald", "batchbald", "coreset", "badge"]


class _Table(nn.Module):
    """Item ``i`` (``x[i] == i``) gets features ``feats[i]`` and logits ``fc(feats[i])``."""

    def __init__(self, feats, weight=None, dropout: float = 0.0):
        super().__init__()
        feats = torch.as_tensor(np.asarray(feats), dtype=torch.float32)
        self.register_buffer("feats", feats)
        w = torch.eye(feats.shape[1]) if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(w.shape[1], w.shape[0], bias=False)
        self.fc.weight.data.copy_(w)

    def forward(self, x):
        return self.fc(self.drop(self.feats[x.flatten(1)[:, 0].long()]))


def _ctx(model, n, labelled=(), task=None, **kw):
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    pool = PoolState.empty(n).label(np.asarray(labelled, np.int64), 1)
    return SamplingContext(
        x_pool=x, y_pool=np.zeros(n, np.int64), pool=pool, task=task or Classification(), target=model, **kw
    )


# class probabilities with known margins / top-1: margin ranks 0, 1, 4, 3, 2; least-confidence 1, 0, 4, 3, 2
PROBS = np.array(
    [
        [0.49, 0.47, 0.02, 0.02],  # margin 0.02, top-1 0.49
        [0.40, 0.20, 0.20, 0.20],  # margin 0.20, top-1 0.40 (the highest entropy)
        [0.97, 0.01, 0.01, 0.01],
        [0.70, 0.10, 0.10, 0.10],
        [0.60, 0.30, 0.05, 0.05],
    ]
)


@pytest.fixture(scope="module")
def digits_ctx(small_digits):
    torch.manual_seed(0)
    return digits_context(small_digits, LeNetDropout((1, 8, 8), 10), mc_samples=8)


# --------------------------------------------------------------------------- margin, least-confidence
def test_margin_and_least_confidence_follow_their_definitions():
    ctx = _ctx(_Table(np.log(PROBS)), len(PROBS))
    m = get_strategy("margin").propose(ctx, 3, np.random.default_rng(0))
    lc = get_strategy("least-confidence").propose(ctx, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(m.indices, [0, 1, 4])
    np.testing.assert_allclose(m.score, [0.02, 0.20, 0.30], atol=1e-6)
    np.testing.assert_array_equal(lc.indices, [1, 0, 4])
    np.testing.assert_allclose(lc.score, [0.40, 0.49, 0.60], atol=1e-6)
    # labelled items are never proposed
    m2 = get_strategy("margin").propose(
        _ctx(_Table(np.log(PROBS)), len(PROBS), labelled=[0]), 1, np.random.default_rng(0)
    )
    assert m2.indices.tolist() == [1]


# --------------------------------------------------------------------------- BALD
def test_bald_is_zero_when_samples_agree_and_high_when_they_disagree_confidently():
    agree_sure = np.tile([0.99, 0.01], (6, 1))
    agree_unsure = np.tile([0.5, 0.5], (6, 1))  # the highest entropy, but no disagreement
    disagree = np.array([[0.99, 0.01], [0.01, 0.99]] * 3)
    s = bald_scores(torch.tensor(np.stack([agree_sure, agree_unsure, disagree]))).numpy()
    np.testing.assert_allclose(s[:2], 0.0, atol=1e-12)
    h = -(0.99 * np.log(0.99) + 0.01 * np.log(0.01))
    np.testing.assert_allclose(s[2], np.log(2) - h, rtol=1e-12)


def test_bald_scores_equal_baals_on_the_same_mc_predictions():
    heur = pytest.importorskip("baal.active.heuristics")
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(200, 20, 10, generator=g, dtype=torch.float64), 2)
    theirs = heur.BALD().get_uncertainties(probs.permute(0, 2, 1).numpy())  # baal: [n, C, K]
    np.testing.assert_allclose(bald_scores(probs).numpy(), theirs, rtol=1e-10, atol=1e-12)


def test_bald_strategy_takes_the_top_scores_of_its_own_mc_samples(digits_ctx):
    rng = np.random.default_rng(3)
    prop = get_strategy("bald").propose(digits_ctx, 10, rng)
    rng = np.random.default_rng(3)
    free = candidate_items(digits_ctx, 10, rng)
    s = bald_scores(mc_dropout_probs(digits_ctx.target, digits_ctx.x_pool[free], 8, int(rng.integers(2**62))))
    np.testing.assert_array_equal(prop.indices, free[np.argsort(-s.numpy(), kind="stable")[:10]])
    assert prop.score[0] > 0 and np.all(np.diff(prop.score) <= 0)


# --------------------------------------------------------------------------- BatchBALD
def _brute_force_batchbald(probs, b):
    """Greedy BatchBALD with the joint entropy summed over every label configuration."""
    probs = np.asarray(probs)
    n, k, c = probs.shape
    cond = -(probs * np.log(probs)).sum((1, 2)) / k
    picks, scores = [], []
    for _ in range(b):
        best = (-np.inf, -1)
        for j in range(n):
            if j in picks:
                continue
            s = picks + [j]
            h = 0.0
            for ys in itertools.product(range(c), repeat=len(s)):
                p = np.mean(np.prod([probs[i, :, y] for i, y in zip(s, ys)], axis=0))
                h -= p * np.log(p)
            best = max(best, (h - cond[s].sum(), -j))
        picks.append(-best[1])
        scores.append(best[0])
    return picks, scores


def test_batchbald_exact_equals_brute_force_and_starts_with_bald():
    g = torch.Generator().manual_seed(1)
    probs = torch.softmax(2 * torch.randn(12, 6, 3, generator=g, dtype=torch.float64), 2)
    picks, scores = batchbald(probs, 3, n_joint_samples=10_000)
    ref_picks, ref_scores = _brute_force_batchbald(probs.numpy(), 3)
    assert picks.tolist() == ref_picks
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-10)
    assert picks[0] == int(torch.argmax(bald_scores(probs)))


def test_batchbald_skips_a_duplicate_of_its_first_pick():
    hi, lo = [0.99, 0.01], [0.01, 0.99]
    a = [hi, hi, lo, lo]  # items 0 and 1: the same, the highest BALD
    other = [[0.95, 0.05], [0.05, 0.95], [0.95, 0.05], [0.05, 0.95]]  # disagrees along other samples
    probs = torch.tensor([a, a, other, [[0.5, 0.5]] * 4], dtype=torch.float64)
    assert set(torch.topk(bald_scores(probs), 2).indices.tolist()) == {0, 1}
    picks, _ = batchbald(probs, 2)
    assert picks[0] in (0, 1) and picks[1] == 2


def test_batchbald_equals_batchbald_redux():
    bb = pytest.importorskip("batchbald_redux.batchbald")
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(2 * torch.randn(80, 10, 3, generator=g, dtype=torch.float64), 2)
    ours = batchbald(probs, 5, n_joint_samples=1000)  # 3**4 configurations: exact throughout
    ref = bb.get_batchbald_batch(probs.log(), 5, 1000, dtype=torch.double)
    assert ours[0].tolist() == ref.indices
    np.testing.assert_allclose(ours[1], ref.scores, rtol=1e-10)


def test_sampled_joint_entropy_estimates_the_exact_one():
    g = torch.Generator().manual_seed(2)
    probs = torch.softmax(2 * torch.randn(3, 10, 4, generator=g, dtype=torch.float64), 2)
    exact = 0.0
    for ys in itertools.product(range(4), repeat=3):
        p = float(torch.prod(torch.stack([probs[i, :, y] for i, y in enumerate(ys)]), 0).mean())
        exact -= p * np.log(p)
    joint = _sampled_joint(probs, 200_000, torch.Generator().manual_seed(0))
    assert joint.shape == (200_000, 10)
    est = float((-torch.log(joint.mean(1))).mean())
    assert abs(est - exact) < 0.01 * exact


def test_batchbald_sampled_regime_is_seeded_and_distinct():
    g = torch.Generator().manual_seed(4)
    probs = torch.softmax(2 * torch.randn(300, 10, 10, generator=g, dtype=torch.float64), 2)
    a = batchbald(probs, 6, n_joint_samples=500, seed=7)  # 10**3 > 500: sampled from the 4th pick on
    b = batchbald(probs, 6, n_joint_samples=500, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert len(set(a[0].tolist())) == 6


def test_batchbald_strategy_first_pick_is_balds(digits_ctx):
    bald = get_strategy("bald").propose(digits_ctx, 5, np.random.default_rng(5))
    bb = get_strategy("batchbald").propose(digits_ctx, 5, np.random.default_rng(5))
    assert bb.indices[0] == bald.indices[0]
    np.testing.assert_allclose(bb.score[0], bald.score[0], rtol=1e-9)
    with pytest.raises(ConfigError, match="n_joint_samples"):
        get_strategy("batchbald", n_joint_samples=0)


# --------------------------------------------------------------------------- MC dropout
def test_mc_dropout_is_seeded_consistent_and_leaves_the_model_alone(digits_ctx):
    m, x = digits_ctx.target, digits_ctx.x_pool[:64]
    state = torch.get_rng_state()
    a = mc_dropout_probs(m, x, 5, seed=11, batch_size=64)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is not used
    assert a.shape == (64, 5, 10) and not m.training
    np.testing.assert_allclose(a.sum(2), 1.0, rtol=1e-9)
    # the same seed, other batching: the same masks per pass (one mask for every item of a pass)
    torch.testing.assert_close(a, mc_dropout_probs(m, x, 5, seed=11, batch_size=7))
    assert not torch.allclose(a, mc_dropout_probs(m, x, 5, seed=12))
    assert not torch.allclose(a[:, 0], a[:, 1])  # passes differ
    # the trunk shortcut gives what full passes give
    full = nn.Sequential(m.features, m.classifier)
    torch.testing.assert_close(a, mc_dropout_probs(full, x, 5, seed=11, batch_size=64))


def test_mc_dropout_keeps_batch_norm_in_eval():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3)).eval()
    m[2].running_mean.fill_(0.3)
    before = m[2].running_mean.clone()
    x = np.random.default_rng(0).normal(size=(20, 1, 2, 2)).astype(np.float32)
    p = mc_dropout_probs(m, x, 4, seed=0, batch_size=1)  # batch norm in train mode fails on 1 item
    assert torch.equal(m[2].running_mean, before) and not m.training
    assert p.shape == (20, 4, 3) and not torch.allclose(p[:, 0], p[:, 1])


def test_lenet_dropout_is_lenet_in_eval_mode():
    torch.manual_seed(0)
    a = LeNet((1, 28, 28), 10).eval()
    torch.manual_seed(0)
    b = build_target("lenet-dropout", (1, 28, 28), 10).eval()
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(a(x), b(x))
    assert [type(l).__name__ for l in b.classifier] == ["Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert (b.classifier[0].p, b.classifier[3].p) == (0.25, 0.5)
    with pytest.raises(ValueError, match="p must be a dropout rate"):
        LeNetDropout((1, 28, 28), 10, p=1.0)


# --------------------------------------------------------------------------- features, core-set, BADGE
def test_penultimate_features_are_the_last_linear_layers_input():
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    m = LeNetDropout((1, 8, 8), 10).eval()
    f, out = penultimate_features(m, x)
    with torch.no_grad():
        t = torch.as_tensor(x)
        ref = m.classifier[2](m.classifier[1](m.features(t)))
        np.testing.assert_allclose(f, ref.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out, m(t).numpy(), rtol=1e-5, atol=1e-6)
    v = build_target("vgg16", (1, 8, 8), 10, width=0.125).eval()
    with torch.no_grad():
        np.testing.assert_allclose(penultimate_features(v, x)[0], v.features(t).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="no nn.Linear"):
        penultimate_features(nn.Sequential(nn.Flatten()), x)


def test_k_centre_greedy_maximises_the_min_distance():
    feats = np.array([[1.0, 0], [2, 0], [10, 0], [9, 0], [5, 0]])
    picks, dist = k_centre_greedy(feats, np.zeros((1, 2)), 3)
    assert picks.tolist() == [2, 4, 1]
    np.testing.assert_allclose(dist, [10, 5, 2])
    # random features: every pick is a farthest point from the centres and the earlier picks
    rng = np.random.default_rng(0)
    f, c = rng.normal(size=(300, 5)), rng.normal(size=(7, 5))
    picks, dist = k_centre_greedy(f, c, 12)
    centres = c
    for j, d in zip(picks, dist):
        mind = np.linalg.norm(f[:, None] - centres[None], axis=2).min(1)
        np.testing.assert_allclose(d, mind.max(), rtol=1e-9)
        assert mind[j] == mind.max()
        centres = np.vstack([centres, f[j]])


def test_coreset_uses_the_labelled_items_as_centres():
    feats = np.array([[0.0, 0], [1, 0], [2, 0], [10, 0], [9, 0], [5, 0]])  # item 0 labelled
    ctx = _ctx(_Table(feats, weight=np.eye(2)), len(feats), labelled=[0])
    prop = get_strategy("coreset").propose(ctx, 3, np.random.default_rng(0))
    assert prop.indices.tolist() == [3, 5, 2]
    ctx2 = _ctx(_Table(feats, weight=np.eye(2)), len(feats), labelled=[3])  # now item 3 (at 10) is a centre
    assert get_strategy("coreset").propose(ctx2, 1, np.random.default_rng(0)).indices.tolist() == [0]


def test_gradient_embedding_is_softmax_minus_onehot_times_features():
    rng = np.random.default_rng(0)
    h, z = rng.normal(size=(4, 3)), rng.normal(size=(4, 5))
    e = gradient_embedding(h, z)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    p[np.arange(4), p.argmax(1)] -= 1
    np.testing.assert_allclose(e, np.einsum("nc,nd->ncd", p, h).reshape(4, 15), rtol=1e-5, atol=1e-6)


def test_badge_picks_are_distinct_seeded_and_not_random(digits_ctx):
    s = get_strategy("badge")
    a = s.propose(digits_ctx, 20, np.random.default_rng(0))
    np.testing.assert_array_equal(a.indices, s.propose(digits_ctx, 20, np.random.default_rng(0)).indices)
    assert len(set(a.indices.tolist())) == 20 and not digits_ctx.pool.labelled_mask[a.indices].any()
    r = get_strategy("random").propose(digits_ctx, 20, np.random.default_rng(0))
    assert set(a.indices.tolist()) != set(r.indices.tolist())


def test_badge_picks_the_uncertain_items_in_different_directions():
    feats = np.zeros((40, 6))
    feats[:, 0] = 10.0  # confident: logits (10, 0, 0), gradient embedding ~ 0
    uncertain = np.array([3, 11, 17, 25, 38])
    feats[uncertain] = np.eye(6)[1:]  # flat logits, orthogonal features: large, spread embeddings
    w = np.zeros((3, 6))
    w[0, 0] = 1.0
    ctx = _ctx(_Table(feats, weight=w), 40)
    for seed in range(3):
        prop = get_strategy("badge").propose(ctx, 5, np.random.default_rng(seed))
        assert len(set(prop.indices.tolist()) & set(uncertain.tolist())) >= 4  # the first centre is uniform


def test_badge_on_identical_items_still_returns_distinct_items():
    ctx = _ctx(_Table(np.ones((30, 3))), 30)
    prop = get_strategy("badge").propose(ctx, 8, np.random.default_rng(0))
    assert len(set(prop.indices.tolist())) == 8


# --------------------------------------------------------------------------- shared rules
@pytest.mark.parametrize("name", NEW)
def test_seeded_and_inside_the_candidate_subset(digits_ctx, name):
    ctx = dataclasses.replace(digits_ctx, candidates=40)
    a = get_strategy(name).propose(ctx, 6, np.random.default_rng(9))
    b = get_strategy(name).propose(ctx, 6, np.random.default_rng(9))
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(set(a.indices.tolist())) == 6 and not ctx.pool.labelled_mask[a.indices].any()
    subset = candidate_items(ctx, 6, np.random.default_rng(9))
    assert len(subset) == 40 and set(a.indices.tolist()) <= set(subset.tolist())


@pytest.mark.parametrize("name", NEW)
def test_regression_tasks_are_refused(digits_ctx, name):
    ctx = dataclasses.replace(digits_ctx, task=Regression())
    with pytest.raises(ConfigError, match=f"strategy '{name}' needs a classification task"):
        get_strategy(name).propose(ctx, 5, np.random.default_rng(0))


@pytest.mark.parametrize("name", ["bald", "batchbald"])
def test_mc_strategies_need_dropout_and_samples(digits_ctx, name):
    ctx = dataclasses.replace(digits_ctx, target=LeNet((1, 8, 8), 10))
    with pytest.raises(ConfigError, match="no dropout layer; use --target lenet-dropout"):
        get_strategy(name).propose(ctx, 5, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="--mc-samples >= 2"):
        get_strategy(name).propose(dataclasses.replace(digits_ctx, mc_samples=1), 5, np.random.default_rng(0))


def test_mc_samples_setting_flag_and_old_configs():
    from latentlab.cli import build_parser, config_from_args

    assert "mc_samples" not in LoopConfig().to_dict()  # run folders written before the field still resume
    d = LoopConfig(mc_samples=50).to_dict()
    assert d["mc_samples"] == 50 and LoopConfig.from_dict(d).mc_samples == 50
    assert LoopConfig.from_dict(LoopConfig().to_dict()) == LoopConfig()
    cfg = config_from_args(build_parser().parse_args(["run", "--mc-samples", "7", "--target", "lenet-dropout"]))
    assert cfg.loop.mc_samples == 7
    with pytest.raises(ConfigError, match="--mc-samples must be a whole number >= 2"):
        LoopConfig(mc_samples=1).validate()


@pytest.mark.parametrize("name", NEW)
def test_short_active_loop_on_digits(small_digits, name):
    cfg = LoopConfig(
        rounds=3,
        initial=20,
        per_round=10,
        target="lenet-dropout",
        mc_samples=4,
        candidates=150,
        train=TrainConfig(epochs=1, batch_size=32, min_steps=10),
    )
    loop = ActiveLoop(small_digits, get_strategy(name), cfg, seed=0, progress=False)
    loop.run()
    assert [r.n_labelled for r in loop.records] == [20, 30, 40]
    assert loop.pool.n_labelled == 40 and all(r.n_proposed == 10 for r in loop.records[:2])
    assert np.isfinite(loop.records[-1].metric)
    assert loop.context().mc_samples == 4
