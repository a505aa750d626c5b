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
