"""The peer strategy ``baal-bald`` (baal's dropout patch, MC inference and BALD ranking)."""

import numpy as np
import pytest
import torch

from latentlab.exceptions import ConfigError
from latentlab.pool import PoolState
from latentlab.strategies import SamplingContext, get_strategy
from latentlab.tasks import Classification, Regression

pytest.importorskip("baal")


def _ctx(model, n=200, candidates=None, task=Classification()):
    x = np.random.default_rng(0).random((n, 1, 8, 8), dtype=np.float32)
    pool = PoolState.empty(n).label(np.arange(10), 1)
    return SamplingContext(
        x_pool=x, y_pool=np.zeros(n, np.int64), pool=pool, task=task, target=model, candidates=candidates
    )


def _net(p=0.5):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(p), torch.nn.Linear(32, 10)
    )


def test_baal_bald_picks_baals_top_scores_and_is_seeded():
    from baal.active.heuristics import BALD

    ctx = _ctx(_net())
    s = get_strategy("baal-bald")
    a = s.propose(ctx, 8, np.random.default_rng(1))
    b = s.propose(ctx, 8, np.random.default_rng(1))
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(set(a.indices)) == 8 and not ctx.pool.labelled_mask[a.indices].any()
    assert np.all(np.diff(a.score) <= 1e-12) and a.score.min() > 0  # ranked, dropout disagrees
    # the scores are BALD of MC predictions: with dropout off every sample agrees and BALD is 0
    probs = np.repeat(
        torch.softmax(ctx.target.eval()(torch.as_tensor(ctx.x_pool[:5])), 1).detach().numpy()[..., None], 4, axis=-1
    )
    np.testing.assert_allclose(BALD().get_uncertainties(probs), 0, atol=1e-6)
    assert ctx.target.training is False  # the strategy patched a copy, not the model


def test_baal_bald_candidates_and_errors():
    s = get_strategy("baal-bald")
    a = s.propose(_ctx(_net(), candidates=50), 5, np.random.default_rng(0))
    assert len(a.indices) == 5
    with pytest.raises(ConfigError, match="lenet-dropout"):
        s.propose(_ctx(_net(0.5)[:3].append(torch.nn.Linear(32, 10))), 5, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="classification"):
        s.propose(_ctx(_net(), task=Regression()), 5, np.random.default_rng(0))
