"""The fast 2x2 max-pool of LeNet and fit's per-step shortcuts give the bits of the plain code (issue 22)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentlab import models
from latentlab.models import LeNet, MaxPool2, max_pool2

NAN, INF = float("nan"), float("inf")


def bits(t: torch.Tensor) -> torch.Tensor:
    """The float32 bit patterns (tells -0.0 from 0.0 and compares NaNs)."""
    return t.detach().contiguous().view(torch.int32)


def pooled(f, x0: torch.Tensor, g: torch.Tensor):
    x = x0.clone().requires_grad_(True)
    y = f(x)
    y.backward(g)
    return bits(y), bits(x.grad)


def assert_same_as_aten(x0: torch.Tensor, seed: int = 0) -> None:
    n, c, h, w = x0.shape
    g = torch.randn(n, c, h // 2, w // 2, generator=torch.Generator().manual_seed(seed))
    y_ref, gx_ref = pooled(lambda t: F.max_pool2d(t, 2), x0, g)
    y, gx = pooled(max_pool2, x0, g)
    assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref)
    for ctx in (torch.no_grad, torch.inference_mode):
        with ctx():
            assert torch.equal(bits(max_pool2(x0)), bits(F.max_pool2d(x0, 2)))


@pytest.mark.parametrize("shape", [(64, 20, 24, 24), (64, 50, 8, 8), (1, 1, 2, 2), (3, 2, 6, 10), (2, 5, 4, 2)])
def test_random_inputs_match_max_pool2d_in_value_and_gradient(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    assert_same_as_aten(torch.relu(torch.randn(shape, generator=gen)))
    assert_same_as_aten(torch.randn(shape, generator=gen))


def test_ties_signed_zeros_infinities_and_nans_pick_the_element_aten_picks():
    x = torch.zeros(2, 3, 6, 6)
    x[0, 1] = 0.5  # a whole plane of ties: the first element of each window wins
    x[0, 2, :2, :2] = torch.tensor([[0.0, -0.0], [-0.0, 0.0]])
    x[1, 0, :2, :2] = -0.0
    x[1, 0, 2:4, 2:4] = torch.tensor([[0.0, 2.0], [2.0, 2.0]])  # ties after the first element
    x[1, 0, 4:6, 4:6] = torch.tensor([[1.0, 1.0], [3.0, 3.0]])  # a tie in the bottom row
    x[1, 1, :2, :2] = -INF  # all -inf: ATen keeps the window's first index
    x[1, 1, 2, 2], x[1, 1, 3, 3] = NAN, NAN  # two NaNs: ATen takes the last one
    x[1, 1, 4, 5] = NAN
    x[1, 2, 1, 0], x[1, 2, 0, 1] = INF, NAN
    x[0, 0] = torch.randn(6, 6).round()  # many integer ties
    assert_same_as_aten(x)
    x[1, 1] = 0.0  # no NaN left: the fast path itself sees the ties, zeros and infinities
    assert_same_as_aten(x)
    assert_same_as_aten(torch.relu(torch.randn(4, 20, 24, 24).round()))  # ReLU'd: many tied zeros


def _no_fast_path(monkeypatch):
    def boom(x):
        raise AssertionError("the fast pool ran where F.max_pool2d must")

    monkeypatch.setattr(models, "_pool2_indices", boom)


@pytest.mark.parametrize(
    "x",
    [
        torch.randn(2, 3, 5, 6),  # odd height: max_pool2d floors it
        torch.randn(2, 3, 6, 7),  # odd width
        torch.randn(3, 6, 6),  # 3-D (C, H, W)
        torch.randn(2, 3, 6, 6, dtype=torch.float64),
        torch.randn(2, 3, 6, 6).contiguous(memory_format=torch.channels_last),
        torch.randn(2, 3, 12, 12)[:, :, ::2, ::2],  # a strided view
        torch.tensor([[[[1.0, NAN], [0.0, 2.0]]]]),  # a NaN: ATen's rule (the last NaN of a window)
    ],
    ids=["odd-h", "odd-w", "3d", "float64", "channels-last", "strided", "nan"],
)
def test_other_inputs_fall_back_to_max_pool2d(x, monkeypatch):
    _no_fast_path(monkeypatch)
    x = x.clone().requires_grad_(True) if x.is_contiguous() else x.requires_grad_(True)
    y = max_pool2(x)
    assert torch.equal(bits(y), bits(F.max_pool2d(x, 2)))
    assert y.is_contiguous(memory_format=torch.channels_last) == F.max_pool2d(x, 2).is_contiguous(
        memory_format=torch.channels_last
    )


def test_switch_off_restores_max_pool2d(monkeypatch):
    monkeypatch.setenv("LATENTLAB_FAST_POOL", "0")
    _no_fast_path(monkeypatch)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(max_pool2(x), F.max_pool2d(x, 2))


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8)])
def test_lenet_step_and_checkpoints_are_unchanged(shape):
    """Table S7's LeNet (ReLU then nn.MaxPool2d) loads LeNet's state dict and takes the same step, bit for bit."""
    torch.manual_seed(0)
    fast = LeNet(shape, 10)
    assert isinstance(fast.features[1], MaxPool2) and isinstance(fast.features[4], nn.MaxPool2d)
    plain = LeNet(shape, 10)  # Table S7's order (ReLU, then the pool) with PyTorch's own pool
    f = plain.features
    plain.features = nn.Sequential(f[0], nn.ReLU(), nn.MaxPool2d(2), f[3], nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    plain.load_state_dict(fast.state_dict())  # same keys: checkpoints load either way
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, *shape, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    for xb in (x, x.contiguous(memory_format=torch.channels_last), x[torch.randperm(16, generator=gen)]):
        grads = []
        for m in (fast, plain):
            m.zero_grad()
            out = m(xb)
            F.cross_entropy(out, y).backward()
            grads.append([bits(out), *(bits(p.grad) for p in m.parameters())])
        assert all(torch.equal(a, b) for a, b in zip(*grads))
        with torch.inference_mode():
            assert torch.equal(bits(fast(xb)), bits(plain(xb)))


@pytest.mark.parametrize("nchw", [False, True], ids=["rows-as-indexed", "nchw-rows"])
def test_fit_shortcuts_give_the_same_bits(monkeypatch, nchw):
    """fit with foreach Adam/SGD and the fast pool = the plain code, bit for bit (NCHW and channels-last rows)."""
    from latentlab import training
    from latentlab.training import TrainConfig, fit

    gen = torch.Generator().manual_seed(2)
    x, y = torch.rand(150, 1, 8, 8, generator=gen), torch.randint(0, 10, (150,), generator=gen)

    def run(fast: bool, optimizer: str):
        monkeypatch.setenv("LATENTLAB_FAST_POOL", "1" if fast else "0")
        monkeypatch.setitem(training.FAST_STEP, "foreach", fast)
        torch.manual_seed(0)
        m = LeNet((1, 8, 8), 10)
        cfg = TrainConfig(epochs=1, min_steps=12, batch_size=32, optimizer=optimizer, lr=0.01)

        def loss(mm, b):  # NCHW rows: the convolutions' outputs are NCHW and the fast pool runs
            xb = b[0].clone(memory_format=torch.contiguous_format) if nchw else b[0]
            return F.cross_entropy(mm(xb), b[1])

        hist = fit(m, (x, y), loss, cfg, seed=3)
        return hist, [bits(t) for t in m.state_dict().values()]

    for optimizer in ("adam", "sgd"):
        (h0, s0), (h1, s1) = run(False, optimizer), run(True, optimizer)
        assert h0 == h1 and all(torch.equal(a, b) for a, b in zip(s0, s1))
