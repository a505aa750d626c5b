import numpy as np
import pytest

from latentlab import ConfigError, LatentIndex


def brute_force_greedy(emb, q, excluded):
    taken = excluded.copy()
    out = []
    for p in q:
        d = np.linalg.norm(emb - p, axis=1)
        d[taken] = np.inf
        i = int(np.argmin(d))
        taken[i] = True
        out.append(i)
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_greedy(seed):
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((500, 2))
    excluded = rng.random(500) < 0.5
    q = rng.standard_normal((60, 2)) * 0.1  # clustered queries force many "next nearest" picks
    idx, dist = LatentIndex(emb).nearest_distinct(q, excluded, k0=4)
    np.testing.assert_array_equal(idx, brute_force_greedy(emb, q, excluded))
    assert len(set(idx.tolist())) == 60 and not excluded[idx].any()
    np.testing.assert_allclose(dist, np.linalg.norm(emb[idx] - q, axis=1))


def test_all_queries_on_one_point_get_distinct_items():
    emb = np.arange(10.0)[:, None] * np.array([[1.0, 0.0]])
    idx, _ = LatentIndex(emb).nearest_distinct(np.zeros((10, 2)), k0=2)
    assert idx.tolist() == list(range(10))


def test_too_few_free_items():
    emb = np.random.default_rng(0).standard_normal((5, 2))
    with pytest.raises(ConfigError, match="only 2 pool items are free"):
        LatentIndex(emb).nearest_distinct(np.zeros((3, 2)), np.array([1, 1, 1, 0, 0], bool))


def test_latent_space_view_is_identity_in_2d_and_pca_above():
    import torch

    from latentlab.latent import LatentSpace

    class Gen(torch.nn.Module):
        def __init__(self, d):
            super().__init__()
            self.latent_dim = d

    rng = np.random.default_rng(0)
    e2 = rng.normal(size=(50, 2)).astype(np.float32)
    s2 = LatentSpace(Gen(2), e2)
    assert s2.view is None and s2.to_view(e2) is not None
    np.testing.assert_array_equal(s2.to_view(e2), e2)
    # 3-D codes on a tilted plane: the view spans that plane, and from_view inverts to_view on it
    basis = np.linalg.qr(rng.normal(size=(3, 2)))[0]
    e3 = rng.normal(size=(60, 2)) * [3.0, 1.0] @ basis.T + [1.0, -2.0, 0.5]
    s3 = LatentSpace(Gen(3), e3)
    p = s3.to_view(e3)
    assert p.shape == (60, 2) and s3.to_view(e3[None]).shape == (1, 60, 2)
    np.testing.assert_allclose(s3.from_view(p), e3, atol=1e-9)
    d = e3[1] - e3[0]
    np.testing.assert_allclose(s3.direction_to_view(d), p[1] - p[0], atol=1e-9)
    x0, x1, y0, y1 = s3.extent(pad=0.0)
    assert (x0, x1) == (p[:, 0].min(), p[:, 0].max()) and (y0, y1) == (p[:, 1].min(), p[:, 1].max())
