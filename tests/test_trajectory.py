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
