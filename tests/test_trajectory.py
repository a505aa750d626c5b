import numpy as np
import pytest
import torch

from latentlab import ConfigError, trajectory
from latentlab.models import LeNet
from latentlab.tasks import Classification


def test_trajectory_follows_snn_rules(small_digits, latent):
    torch.manual_seed(0)
    emb = latent.embeddings
    f = LeNet((1, 8, 8), 10).eval()
    tr = trajectory(latent, f, Classification(), small_digits.y_train, [0, 5, 9], steps=6, alpha=0.25)
    assert tr.p.shape == (6, 3, 2) and tr.neighbour.shape == (6, 3) and tr.path.shape == (7, 3, 2)
    np.testing.assert_array_equal(tr.item[0], [0, 5, 9])
    np.testing.assert_array_equal(tr.item[1:], tr.neighbour[:-1])  # next point = previous neighbour
    np.testing.assert_allclose(tr.p[1:], emb[tr.neighbour[:-1]], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(tr.p_prime - tr.p, axis=2), 0.25, rtol=1e-6)
    for j in range(3):  # no revisits
        visited = [tr.item[0, j]] + tr.neighbour[:, j].tolist()
        assert len(set(visited)) == len(visited)
    assert tr.off_manifold(np.inf).sum() == 0 and tr.off_manifold(-1.0).all()
    with pytest.raises(ConfigError):
        trajectory(latent, f, Classification(), small_digits.y_train, [0], alpha=-1)


def test_advance_is_trajectorys_step_and_the_explorers(small_digits, latent):
    """One engine: the first step of trajectory() is advance() on the same points."""
    from latentlab.trajectory import Walk, advance

    torch.manual_seed(0)
    f = LeNet((1, 8, 8), 10).eval()
    items = np.array([0, 5, 9])
    tr = trajectory(latent, f, Classification(), small_digits.y_train, items, steps=2, alpha=0.25)
    visited = [{int(i)} for i in items]
    m = advance(latent, f, Classification(), items, small_digits.y_train[items], alpha=0.25, visited=visited)
    np.testing.assert_array_equal(m.neighbour, tr.neighbour[0])
    np.testing.assert_allclose(m.p_prime, tr.p_prime[0])
    assert all(int(n) in v for n, v in zip(m.neighbour, visited))
    w = Walk.start(items, small_digits.y_train[items], latent.embeddings)
    w.record(m, np.zeros(3), latent.embeddings)
    arr = Walk.arrays(w, latent.embeddings)
    assert arr["paths"].shape == (2, 3, 2) and arr["steps"] == 1 and Walk.arrays(None, None)["steps"] == 0
