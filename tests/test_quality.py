"""latentlab/quality.py: k-NN accuracy of codes against trivial embeddings, MSE baselines, figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.exceptions import ConfigError
from latentlab.quality import (
    chance_level,
    code_map_figure,
    codes_2d,
    colour_embedding,
    decoded_grid_figure,
    embedding_quality,
    knn_accuracy,
    mean_rgb,
    pca_embedding,
    reconstruction_mse,
)

SHAPE = (3, 4, 4)  # 48 pixels


class LinearGenerator(torch.nn.Module):
    """x = mu + W z (+ nuisance); encode = least-squares inverse: recovers z exactly on the data below."""

    def __init__(self, w: np.ndarray, mu: np.ndarray):
        super().__init__()
        self.latent_dim = w.shape[1]
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float32), requires_grad=False)
        self.mu = torch.nn.Parameter(torch.as_tensor(mu, dtype=torch.float32), requires_grad=False)
        self.pinv = torch.linalg.pinv(self.w)

    def encode(self, x):
        return (x.flatten(1) - self.mu) @ self.pinv.T

    def decode(self, z):
        return (self.mu + z @ self.w.T).view(-1, *SHAPE)


class RandomCodes(LinearGenerator):
    """Same decoder, but codes that ignore the image (a fixed hash of its index in the batch stream)."""

    def encode(self, x):
        g = torch.Generator().manual_seed(int(1e6 * float(x.sum())) % (2**31))
        return torch.randn(len(x), self.latent_dim, generator=g)


def linear_world(n_pool=600, n_test=300, seed=0, nuisance=3.0):
    """Images driven by 2 class factors (small variance) and 2 nuisance factors (large variance).

    Class = quadrant of the two class factors (4 classes), a function of the pixels through a linear map.
    """
    rng = np.random.default_rng(seed)
    d = int(np.prod(SHAPE))
    q, _ = np.linalg.qr(rng.normal(size=(d, 4)))  # orthonormal directions
    w_class, w_nuis = 0.05 * q[:, :2], 0.05 * nuisance * q[:, 2:]
    mu = np.full(d, 0.5)

    def draw(n):
        f = rng.normal(size=(n, 2))
        u = rng.normal(size=(n, 2))
        x = mu + f @ w_class.T + u @ w_nuis.T
        y = (f[:, 0] > 0).astype(int) * 2 + (f[:, 1] > 0).astype(int)
        return x.reshape(n, *SHAPE).astype(np.float32), y, f

    xp, yp, fp = draw(n_pool)
    xt, yt, ft = draw(n_test)
    return (xp, yp, fp), (xt, yt, ft), w_class, mu


def test_true_factors_beat_random_codes_and_pca():
    (xp, yp, fp), (xt, yt, _), w, mu = linear_world()
    good = embedding_quality(LinearGenerator(w, mu), xp, yp, xt, yt)
    bad = embedding_quality(RandomCodes(w, mu), xp, yp, xt, yt)
    assert good.knn["codes"] > 0.9  # neighbours in the true factors share the quadrant
    assert bad.knn["codes"] < 0.4  # 4 balanced classes: ~0.25
    # the nuisance directions carry most of the variance, so PCA-2 finds them, not the class
    assert good.knn["pca2"] < 0.45 and good.ratio > 2.0
    assert good.knn["chance"] == chance_level(yt) and set(good.knn) >= {"codes", "pca2", "colour2", "rgb3"}
    assert good.latent_dim == 2 and "codes_2d" not in good.knn
    assert "| codes: generator codes E(x) |" in good.table()
    # without the nuisance the class factors are the top two components: PCA-2 does as well
    (xp, yp, _), (xt, yt, _), w, mu = linear_world(nuisance=0.1)
    assert embedding_quality(None, xp, yp, xt, yt).knn["pca2"] > 0.9


def test_knn_accuracy_counts_votes():
    zp = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    yp = np.array([0, 0, 0, 1, 1, 1])
    assert knn_accuracy(zp, yp, np.array([[0.05], [10.05], [9.0]]), np.array([0, 1, 0]), k=3) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="smaller k"):
        knn_accuracy(zp[:2], yp[:2], zp, yp, k=5)


def test_pca_baseline_shapes_and_exact_subspace():
    (xp, _, _), (xt, _, _), _, _ = linear_world(n_pool=50, n_test=20, nuisance=0.0)  # data in a 2-D plane
    zp, zt, rec = pca_embedding(xp, xt, 2)
    assert zp.shape == (50, 2) and zt.shape == (20, 2) and rec.shape == xt.shape
    assert reconstruction_mse(xt, rec) < 1e-12  # a 2-D affine plane is reconstructed exactly
    zp1, _, rec1 = pca_embedding(xp, xt, 1)
    assert zp1.shape == (50, 1) and reconstruction_mse(xt, rec1) > 1e-5


def test_colour_embedding_on_a_hand_made_image():
    img = np.zeros((1, 3, 2, 2), np.float32)
    img[0, 0] = [[1.0, 0.0], [0.0, 0.0]]  # red: mean 0.25
    img[0, 1] = 0.5  # green: mean 0.5
    img[0, 2] = [[1.0, 1.0], [0.0, 1.0]]  # blue: mean 0.75
    np.testing.assert_allclose(mean_rgb(img), [[0.25, 0.5, 0.75]])
    # brightness (r + g + b) / 3 = 0.5; blue-yellow b - (r + g) / 2 = 0.75 - 0.375
    np.testing.assert_allclose(colour_embedding(img), [[0.5, 0.375]])
    grey = np.full((2, 1, 2, 2), 0.3, np.float32)
    np.testing.assert_allclose(colour_embedding(grey), [[0.3, 0.0], [0.3, 0.0]])
    with pytest.raises(ConfigError, match="channels, height, width"):
        colour_embedding(np.zeros((3, 4, 4)))


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # PCA of flat images
def test_mse_baselines_computed_right():
    rng = np.random.default_rng(1)
    flat = np.broadcast_to(rng.uniform(size=(6, 3, 1, 1)), (6, 3, 4, 4)).astype(np.float32).copy()
    yp = np.arange(6) % 2
    q = embedding_quality(None, flat, yp, flat, yp, k=1)
    assert q.mse["mean_colour"] == pytest.approx(0.0, abs=1e-12)  # flat images are their mean colour
    assert "generator" not in q.mse and "codes" not in q.knn
    # one pixel off by 0.4 in a (1, 3, 4, 4) image: MSE 0.16 / 48 against the image itself
    x = np.zeros((1, 3, 4, 4))
    x2 = x.copy()
    x2[0, 1, 2, 3] = 0.4
    assert reconstruction_mse(x, x2) == pytest.approx(0.16 / 48)
    # the mean-colour baseline of a two-valued channel: values 0 and 1 half each -> MSE 0.25 on that channel
    half = np.zeros((1, 3, 2, 2), np.float32)
    half[0, 0, 0] = 1.0
    q = embedding_quality(None, np.repeat(half, 5, 0), np.arange(5) % 2, half, np.array([0]), k=1)
    assert q.mse["mean_colour"] == pytest.approx(0.25 / 3)
    assert chance_level(np.array([0, 1, 1, 2])) == 0.5
    with pytest.raises(ConfigError, match="pair up"):
        embedding_quality(None, flat, yp[:3], flat, yp)
    with pytest.raises(ConfigError, match="class labels"):
        embedding_quality(None, flat, None, flat, yp)


def test_higher_latent_dim_scored_in_its_2d_projection_and_figures():
    (xp, yp, _), (xt, yt, _), w, mu = linear_world(n_pool=300, n_test=100, nuisance=0.0)
    rng = np.random.default_rng(3)
    w3 = np.concatenate([w, 1e-3 * rng.normal(size=(w.shape[0], 1))], axis=1)  # a third, nearly silent code
    gen = LinearGenerator(w3, mu)
    q = embedding_quality(gen, xp, yp, xt, yt)
    assert q.latent_dim == 3 and q.knn["codes_2d"] >= 0.85 and q.ratio == q.knn["codes"] / q.best_trivial
    z = gen.encode(torch.as_tensor(xp)).numpy()
    pca, (p2,) = codes_2d(z)
    assert p2.shape == (300, 2) and pca is not None
    np.testing.assert_allclose(pca.inverse_transform(p2), z, atol=1e-4)  # the third code is ~0 on this data
    fig = decoded_grid_figure(gen, z, n=3)
    arr = fig.axes[0].images[0].get_array()
    assert arr.shape == (3 * 4, 3 * 4, 3)
    fig = code_map_figure(z, yp, classes=("a", "b", "c", "d"))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c", "d"]
    assert fig.axes[0].get_xlabel() == "PC1 of codes (latent units)"  # a PCA plane keeps the codes' units


def test_decoded_grid_top_row_is_largest_z2():
    (xp, yp, _), _, w, mu = linear_world(n_pool=100, n_test=10, nuisance=0.0)
    gen = LinearGenerator(w, mu)
    z = gen.encode(torch.as_tensor(xp)).numpy()
    arr = np.asarray(decoded_grid_figure(gen, z, n=2, pad=0.0, quantile=0.0).axes[0].images[0].get_array())
    hi = np.array([z[:, 0].min(), z[:, 1].max()], np.float32)  # top-left tile: smallest z1, largest z2
    expect = gen.decode(torch.as_tensor(hi[None])).numpy()[0].transpose(1, 2, 0)
    np.testing.assert_allclose(arr[:4, :4], expect, atol=1e-5)


def test_generator_quality_benchmark_runs_end_to_end(tmp_path):
    """benchmarks/generator_quality.py at a tiny size: digits (8x8, no file), 1 warm-up + 1 adversarial epoch."""
    import json

    from conftest import load_benchmark

    mod = load_benchmark("generator_quality")
    out = tmp_path / "q"
    argv = ["--profile", "cpu", "--dataset", "digits", "--n-pool", "300", "--n-test", "100", "--gen-epochs", "1"]
    res = mod.main([*argv, "--gen-option", "warmup_epochs=1", "--latent-dim", "3", "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["code_map.png", "decoded_grid.png", "quality.json", "quality.md"]
    saved = json.loads((out / "quality.json").read_text())
    assert saved["generator"]["options"] == [["rec_weight", 100.0], ["warmup_epochs", 1]]  # merged with the profile's
    assert saved["n_pool"] == 300 and saved["n_val"] == 60 and saved["test"]["latent_dim"] == 3
    assert set(saved["test"]["knn"]) >= {"codes", "codes_2d", "pca2", "colour2", "chance"}
    assert [r["epoch"] for r in res["train_history"]] == [1, 2]
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        mod.main([*argv, "--gen-option", "warmup_epochs", "--out", str(out)])
