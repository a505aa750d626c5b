"""SI's probe: F evaluated on a smooth surrogate of the post-processing (``probe="soft"``); SI's control.

The surrogate is the FEM labeler's ``soft_prepare``; its gradient through a float64 decoder and
target is checked against central finite differences, and the default probe (``"raw"``, the
paper's) is checked to give the proposals it gave before the option existed.
"""

import functools
import types

import numpy as np
import pytest
import torch
from test_interpolation import RingGenerator, context, fake_stress

from latentlab.exceptions import ConfigError
from latentlab.gradients import latent_gradient
from latentlab.strategies import get_strategy
from latentlab.strategies.si import InterpolationStrategy
from latentlab.tasks import Regression
from latentlab.vessels import FEMLabeler
from latentlab.vessels.net import VesselNet


@pytest.fixture()
def fem():
    return FEMLabeler(solver=fake_stress, cache_dir=None)


def test_soft_prepare_tends_to_the_thresholded_mask(fem):
    x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    hard = (x >= 0.5).double()
    hard[..., 0, :] = hard[..., -1, :] = hard[..., :, 0] = hard[..., :, -1] = 0.0  # the band prepare clears
    for t in (0.1, 0.01):
        s = fem.soft_prepare(x, t)
        assert s.shape == x.shape and torch.all((s >= 0) & (s <= 1))
        far = (x - 0.5).abs() > 10 * t  # away from the threshold the surrogate is the mask to exp(-10)
        assert torch.all((s - hard).abs()[far] < 1e-4)
    assert torch.all(fem.soft_prepare(x, 0.01)[..., 0, :] == 0)


class _LinearDecoder(torch.nn.Module):
    """z (n, 2) -> sigmoid(W z + b), (n, 1, 8, 8), float64: smooth, with soft borders as a VAE's."""

    latent_dim = 2

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.W = torch.nn.Parameter(torch.randn(64, 2, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.randn(64, generator=g, dtype=torch.float64))

    def decode(self, z):
        return torch.sigmoid(torch.as_tensor(z) @ self.W.T + self.b).reshape(-1, 1, 8, 8)


def _target():
    torch.manual_seed(2)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(3, 1, 3, padding=1), torch.nn.Sigmoid()
    ).double()


def test_soft_probe_gradient_is_finite_nonzero_and_matches_finite_differences(fem):
    gen, target, task = _LinearDecoder(), _target(), Regression()
    rng = np.random.default_rng(3)
    p = rng.standard_normal((4, 2))
    y = rng.random((4, 1, 8, 8)).astype(np.float32).astype(np.float64)  # labels are float32 (Task.y_tensor)
    soft = functools.partial(fem.soft_prepare, temperature=0.2)
    g = latent_gradient(gen, target, task, p, y, transform=soft)
    raw = latent_gradient(gen, target, task, p, y)
    assert np.all(np.isfinite(g.grad)) and np.all(g.grad_norm > 0)
    assert not np.allclose(g.d, raw.d, atol=1e-3)  # the surrogate moves the direction

    def loss(z):
        with torch.no_grad():
            img = soft(gen.decode(torch.as_tensor(z)))
            return task.per_item_loss(target(img), torch.as_tensor(y)).numpy()

    h = 1e-6
    fd = np.zeros_like(p)
    for k in range(p.shape[1]):
        e = np.zeros_like(p)
        e[:, k] = h
        fd[:, k] = (loss(p + e) - loss(p - e)) / (2 * h)
    np.testing.assert_allclose(g.grad, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())  # round-off of the differences
    np.testing.assert_allclose(g.loss, loss(p), rtol=1e-12)


def _store(fem, gen):
    init = get_strategy("si").initial(context(gen, fem), 5, np.random.default_rng(0))
    return {"x": init.x_new, "y": fem.label(init.x_new).y, "z": init.z_new, "round": np.ones(5, np.int64)}


def test_soft_probe_proposes_other_unit_steps_and_the_default_is_the_paper(fem):
    gen = RingGenerator()
    torch.manual_seed(0)
    ctx = context(gen, fem, VesselNet((1, 32, 32)), _store(fem, gen), alpha=0.5)
    default = get_strategy("si").propose(ctx, 4, np.random.default_rng(3))
    raw = InterpolationStrategy(probe="raw").propose(ctx, 4, np.random.default_rng(3))
    for name in ("p", "d", "grad_norm", "loss", "z_new"):
        np.testing.assert_array_equal(getattr(default, name), getattr(raw, name))
    by_hand = latent_gradient(gen, ctx.target, ctx.task, default.p, _labels_at(ctx, default.p))
    np.testing.assert_array_equal(default.d, by_hand.d)  # the raw probe is Eq. 1 on G(p) itself
    soft = InterpolationStrategy(probe="soft", temperature=0.05)
    prop = soft.propose(ctx, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(prop.p, default.p)  # same start points (same rng), other directions
    assert np.all(np.isfinite(prop.d)) and np.allclose(np.linalg.norm(prop.d, axis=1), 1.0)
    assert not np.allclose(prop.d, default.d, atol=1e-3)
    assert repr(soft) == "InterpolationStrategy(probe='soft', temperature=0.05)" and repr(get_strategy("si")) == (
        "InterpolationStrategy()"
    )


def _labels_at(ctx, p):
    syn = ctx.synthetic
    return np.stack([syn["y"][np.flatnonzero((syn["z"] == q).all(axis=1))[0]] for q in p])


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"probe": "hard"}, "probe must be one of 'raw', 'soft'"),
        ({"temperature": 0.1}, "temperature is the soft probe's"),
        ({"probe": "soft"}, "needs a temperature"),
        ({"probe": "soft", "temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"probe": "soft", "temperature": float("nan")}, "temperature must be a finite number > 0"),
        ({"probe": "soft", "temperature": True}, "temperature must be a finite number > 0"),
    ],
)
def test_probe_options_are_validated(kw, match):
    with pytest.raises(ConfigError, match=match):
        InterpolationStrategy(**kw)


def test_soft_probe_needs_a_labeler_with_a_surrogate():
    tool = types.SimpleNamespace(name="tool", can_label_synthetic=True)  # labels anything, offers no surrogate
    with pytest.raises(ConfigError, match="does not offer.*soft_prepare.*probe='raw'"):
        InterpolationStrategy(probe="soft", temperature=0.1).check(context(RingGenerator(), tool), 2)


def test_random_direction_control_keeps_starts_and_losses_and_changes_only_the_direction(fem):
    gen = RingGenerator()
    torch.manual_seed(0)
    ctx = context(gen, fem, VesselNet((1, 32, 32)), _store(fem, gen), alpha=0.5)
    si = get_strategy("si").propose(ctx, 4, np.random.default_rng(3))
    ctl = get_strategy("si-random-dir").propose(ctx, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(ctl.p, si.p)  # the same start points: the draw of starts comes first
    np.testing.assert_array_equal(ctl.loss, si.loss)
    np.testing.assert_array_equal(ctl.grad_norm, si.grad_norm)
    np.testing.assert_allclose(np.linalg.norm(ctl.d, axis=1), 1.0)
    assert np.all(np.abs(np.sum(ctl.d * si.d, axis=1)) < 0.999)  # not the gradient's direction
    np.testing.assert_allclose(ctl.p_prime, ctl.p + 0.5 * ctl.d)
