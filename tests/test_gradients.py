import numpy as np
import pytest
import torch

from latentlab import ConfigError, latent_gradient
from latentlab.models import LeNet, VAE
from latentlab.tasks import Classification


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    g = VAE((1, 8, 8), latent_dim=2).double()
    f = LeNet((1, 8, 8), 10).double()
    return g, f


def _loss(g, f, p, y):
    with torch.no_grad():
        out = f(g.decode(torch.as_tensor(p, dtype=torch.float64)))
        return torch.nn.functional.cross_entropy(out, torch.as_tensor(y), reduction="none").numpy()


def test_gradient_matches_finite_differences(nets):
    g, f = nets  # float64 nets: latent_gradient follows their dtype, so central differences are accurate
    rng = np.random.default_rng(0)
    p = rng.standard_normal((5, 2))
    y = rng.integers(0, 10, 5)
    res = latent_gradient(g, f, Classification(), p, y)
    h = 1e-6
    fd = np.zeros_like(p)
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd[:, j] = (_loss(g, f, p + e, y) - _loss(g, f, p - e, y)) / (2 * h)
    np.testing.assert_allclose(res.grad, fd, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(res.loss, _loss(g, f, p, y), rtol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(res.d, axis=1), 1.0)
    np.testing.assert_allclose(res.d * res.grad_norm[:, None], res.grad, rtol=1e-10)


def test_step_along_d_increases_loss(nets):
    g, f = nets
    p = np.random.default_rng(1).standard_normal((20, 2))
    y = np.random.default_rng(2).integers(0, 10, 20)
    res = latent_gradient(g, f, Classification(), p, y)
    l0 = _loss(g, f, p, y)
    l1 = _loss(g, f, p + 1e-3 * res.d, y)
    assert np.mean(l1 > l0) > 0.9


def test_loss_on_real_uses_real_images(nets):
    g, f = nets
    p = np.zeros((2, 2))
    x = np.random.default_rng(0).random((2, 1, 8, 8))
    y = np.array([1, 2])
    res = latent_gradient(g, f, Classification(), p, y, x=x, loss_on="real")
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(f(torch.as_tensor(x)), torch.as_tensor(y), reduction="none")
    np.testing.assert_allclose(res.loss, want.numpy(), rtol=1e-10)
    with pytest.raises(ConfigError, match="needs the real images"):
        latent_gradient(g, f, Classification(), p, y, loss_on="real")
    with pytest.raises(ConfigError, match="loss_on"):
        latent_gradient(g, f, Classification(), p, y, loss_on="pixels")
