"""The one inference pass (latentlab.predictive.forward, issue 22): what it returns, what it leaves alone,
and that the fast path (channels-last batches, in place gathering) picks what the old path picked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.models import LeNet, LeNetDropout
from latentlab.predictive import class_probs, forward, mc_dropout_probs, penultimate_features


@pytest.fixture(scope="module")
def mnist_like():
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((700, 1, 28, 28), dtype=np.float32)
    return LeNet((1, 28, 28)), x


def _eager(model, x, bs=1000):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(torch.as_tensor(x[i : i + bs])) for i in range(0, len(x), bs)])


def test_forward_is_the_models_output(mnist_like):
    model, x = mnist_like
    out = forward(model, x)
    assert out.shape == (700, 10) and out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, _eager(model, x), rtol=1e-5, atol=1e-5)
    out.add_(1.0)  # an ordinary tensor: in-place work on it is allowed


def test_legacy_path_reproduces_the_old_outputs_bit_for_bit(mnist_like, monkeypatch):
    model, x = mnist_like
    monkeypatch.setenv("LATENTLAB_FAST_INFERENCE", "0")
    assert torch.equal(forward(model, x), _eager(model, x))
    assert torch.equal(class_probs(model, x), torch.softmax(_eager(model, x).double(), 1))


def test_items_gather_batch_by_batch_and_keep_their_order(mnist_like):
    model, x = mnist_like
    items = np.array([650, 3, 3, 400, 12, 699, 0])
    assert torch.equal(forward(model, x, items), forward(model, x[items]))
    assert torch.equal(class_probs(model, x, items=items), class_probs(model, x[items]))
    f1, l1 = penultimate_features(model, x, items=items)
    f2, l2 = penultimate_features(model, x[items])
    assert np.array_equal(f1, f2) and np.array_equal(l1, l2) and f1.shape == (7, 500)
    assert forward(model, x, np.zeros(0, np.int64)).numel() == 0


def test_forward_leaves_the_model_as_it_was(mnist_like):
    model, x = mnist_like
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    forward(model, x[:10])
    assert all(p.is_contiguous() for p in model.parameters())  # weights keep their layout: training is unchanged
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_forward_reads_a_memory_mapped_pool(mnist_like, tmp_path):
    model, x = mnist_like
    mm = np.lib.format.open_memmap(tmp_path / "pool.npy", mode="w+", dtype=np.float32, shape=x.shape)
    mm[:] = x
    mm.flush()
    ro = np.load(tmp_path / "pool.npy", mmap_mode="r")
    assert torch.equal(forward(model, ro, np.arange(100, 300)), forward(model, x[100:300]))


def test_mc_dropout_on_items_equals_on_the_gathered_rows(mnist_like):
    _, x = mnist_like
    torch.manual_seed(1)
    m = LeNetDropout((1, 28, 28))
    items = np.arange(50, 650, 3)
    a = mc_dropout_probs(m, x, 5, seed=4, items=items)
    b = mc_dropout_probs(m, x[items], 5, seed=4)
    assert a.shape == (200, 5, 10) and torch.equal(a, b)
    assert not torch.allclose(a[:, 0], a[:, 1])  # passes differ (dropout masks), items of one pass share a mask


@pytest.mark.parametrize("strategy,target", [("entropy", "lenet"), ("margin", "lenet"), ("bald", "lenet-dropout")])
def test_fast_and_legacy_paths_pick_the_same_items(small_digits, monkeypatch, strategy, target):
    """A short run of each pool-scoring strategy: the same seed labels the same items on both paths."""
    from latentlab import ActiveLoop, LoopConfig, TrainConfig, get_strategy

    cfg = LoopConfig(rounds=3, initial=30, per_round=20, target=target, train=TrainConfig(epochs=1, min_steps=40))

    def run(flag):
        monkeypatch.setenv("LATENTLAB_FAST_INFERENCE", flag)
        loop = ActiveLoop(small_digits, get_strategy(strategy), cfg, seed=2, progress=False)
        while not loop.done:
            loop.run_round()
        return [r.metric for r in loop.records], loop.pool.labelled_round.copy()

    (m_fast, lab_fast), (m_old, lab_old) = run("1"), run("0")
    assert np.array_equal(lab_fast, lab_old) and m_fast == m_old
