"""Generator quality measured by what SNN needs: do nearby codes share class?

SNN moves labelled points through the latent space and labels the nearest pool item, so a useful
latent space is one where neighbours share class (and difficulty). Reconstruction quality matters
less at 2-D, where it is poor anyway. This module scores a generator's codes against two trivial
2-D embeddings of the same images, so "the codes are informative" is a number with a yardstick:

* **codes**: ``E(x)`` of the generator (what SNN's KD-tree sees; raw, not rescaled);
* **pca2**: the first two principal components of the pixels (PCA fit on the pool);
* **colour2**: mean colour plus brightness, :func:`colour_embedding` (brightness and the
  blue-yellow opponent axis of each image's mean colour);
* **rgb3** (extra row, 3-D): each image's mean (R, G, B);
* **chance**: the share of the test set's most frequent class.

Each is scored by the class accuracy of a 5-nearest-neighbour classifier (scikit-learn's
``KNeighborsClassifier``, Euclidean, uniform vote) fit on the pool's embeddings and labels and
evaluated on the test images' embeddings. Reconstruction MSE (per pixel, [0, 1] scale, test images)
of the generator ``G(E(x))`` sits beside two trivial reconstructions: each image's own mean colour,
and the PCA-2 reconstruction.

A generator with ``latent_dim > 2`` is scored on its full codes (``codes``) and on the 2-D PCA
projection of them that a display would show (``codes_2d``).

Figures (:func:`decoded_grid_figure`, :func:`code_map_figure`) are matplotlib ``Figure`` objects
built without pyplot (:func:`latentlab.report.new_figure`); the caller saves or displays them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .exceptions import ConfigError

__all__ = [
    "EmbeddingQuality",
    "colour_embedding",
    "mean_rgb",
    "pca_embedding",
    "knn_accuracy",
    "chance_level",
    "reconstruction_mse",
    "embedding_quality",
    "codes_2d",
    "decoded_grid_figure",
    "code_map_figure",
]

# Rows of the table, in order, with a one-line description (markdown output).
ROWS = {
    "codes": "generator codes E(x)",
    "codes_2d": "generator codes, 2-D PCA projection (display)",
    "pca2": "PCA-2 of the pixels (fit on the pool)",
    "colour2": "brightness + blue-yellow opponent of the mean colour",
    "rgb3": "mean (R, G, B), 3-D",
    "chance": "most frequent class of the scored images",
}
MSE_ROWS = {
    "generator": "G(E(x))",
    "mean_colour": "each image's own mean colour",
    "pca2": "PCA-2 reconstruction",
}


@dataclass(frozen=True)
class EmbeddingQuality:
    """k-NN class accuracy of each embedding (pool -> test) and reconstruction MSE on the test images.

    Attributes
    ----------
    knn : dict
        Embedding name (``codes``, ``codes_2d`` when latent_dim > 2, ``pca2``, ``colour2``, ``rgb3``,
        ``chance``) -> accuracy in [0, 1].
    mse : dict
        ``generator``, ``mean_colour``, ``pca2`` -> per-pixel MSE on the test images ([0, 1] scale).
    k : int
    n_pool, n_test : int
    latent_dim : int
    """

    knn: dict
    mse: dict
    k: int
    n_pool: int
    n_test: int
    latent_dim: int
    extra: dict = field(default_factory=dict)

    @property
    def best_trivial(self) -> float:
        """The better 5-NN accuracy of the two trivial 2-D embeddings (``pca2``, ``colour2``)."""
        return max(self.knn["pca2"], self.knn["colour2"])

    @property
    def ratio(self) -> float:
        """k-NN accuracy of the codes over :attr:`best_trivial`.

        The full codes, whatever ``latent_dim``: SNN's nearest-neighbour search runs on them (the
        2-D projection, ``knn["codes_2d"]``, is for display only)."""
        return self.knn["codes"] / self.best_trivial

    def as_dict(self) -> dict:
        return {**asdict(self), "best_trivial": self.best_trivial, "ratio": self.ratio}

    def table(self, scored: str = "test") -> str:
        """The numbers as two markdown tables (accuracy in %, MSE x 1e3); ``scored`` names the scored images."""
        lines = [
            f"| embedding ({self.k}-NN, {self.n_pool} pool -> {self.n_test} {scored}) | accuracy % |",
            "|---|---:|",
        ]
        for name, text in ROWS.items():
            if name in self.knn:
                lines.append(f"| {name}: {text} | {100 * self.knn[name]:.1f} |")
        lines += [
            "",
            f"Codes / better trivial 2-D embedding: {self.ratio:.2f} x",
            "",
            f"| reconstruction ({scored}) | MSE x 1e3 |",
            "|---|---:|",
        ]
        for name, text in MSE_ROWS.items():
            if name in self.mse:
                lines.append(f"| {name}: {text} | {1e3 * self.mse[name]:.2f} |")
        return "\n".join(lines) + "\n"


def _check_images(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ConfigError(f"{name} must have shape (n, channels, height, width), got {x.shape}")
    return x


def mean_rgb(x: np.ndarray) -> np.ndarray:
    """Each image's mean colour, shape (n, C) (C = 3 for RGB): the mean over its pixels per channel."""
    return _check_images(x, "images").mean(axis=(2, 3), dtype=np.float64)


def colour_embedding(x: np.ndarray) -> np.ndarray:
    """The trivial 2-D "mean colour plus brightness" embedding, shape (n, 2).

    With ``(r, g, b)`` an image's mean colour (:func:`mean_rgb`, [0, 1] scale):

    * column 0, brightness: ``(r + g + b) / 3``;
    * column 1, the blue-yellow opponent axis: ``b - (r + g) / 2`` (positive for bluish images: sky, sea).

    Single-channel images give ``(brightness, 0)``.
    """
    m = mean_rgb(x)
    if m.shape[1] == 1:
        return np.concatenate([m, np.zeros_like(m)], axis=1)
    if m.shape[1] != 3:
        raise ConfigError(f"the colour embedding needs 1 or 3 channels, got {m.shape[1]}")
    r, g, b = m.T
    return np.stack([(r + g + b) / 3.0, b - (r + g) / 2.0], axis=1)


def pca_embedding(x_pool: np.ndarray, x_test: np.ndarray, n_components: int = 2, seed: int = 0):
    """PCA of the pixels fit on the pool (scikit-learn, randomized SVD with ``seed``).

    Returns
    -------
    z_pool : ndarray (n_pool, n_components)
    z_test : ndarray (n_test, n_components)
    x_test_rec : ndarray, shape of ``x_test``: the PCA reconstruction of the test images
    """
    from sklearn.decomposition import PCA

    x_pool, x_test = _check_images(x_pool, "x_pool"), _check_images(x_test, "x_test")
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed)
    z_pool = pca.fit_transform(x_pool.reshape(len(x_pool), -1).astype(np.float64))
    z_test = pca.transform(x_test.reshape(len(x_test), -1).astype(np.float64))
    rec = pca.inverse_transform(z_test).reshape(x_test.shape)
    return z_pool, z_test, rec


def knn_accuracy(z_pool: np.ndarray, y_pool: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, k: int = 5) -> float:
    """Accuracy of a ``k``-nearest-neighbour classifier (Euclidean, uniform vote) fit on the pool."""
    from sklearn.neighbors import KNeighborsClassifier

    if len(z_pool) < k:
        raise ConfigError(f"k-NN with k={k} needs at least {k} pool items, got {len(z_pool)}; use a smaller k")
    clf = KNeighborsClassifier(n_neighbors=k).fit(np.asarray(z_pool, np.float64), np.asarray(y_pool))
    return float(np.mean(clf.predict(np.asarray(z_test, np.float64)) == np.asarray(y_test)))


def chance_level(y_test: np.ndarray) -> float:
    """Share of the most frequent class in ``y_test`` (always guessing it scores this)."""
    _, counts = np.unique(np.asarray(y_test), return_counts=True)
    return float(counts.max() / counts.sum())


def reconstruction_mse(x: np.ndarray, x_rec: np.ndarray) -> float:
    """Per-pixel mean squared error of ``x_rec`` against ``x``."""
    x, x_rec = np.asarray(x, np.float64), np.asarray(x_rec, np.float64)
    if x.shape != x_rec.shape:
        raise ConfigError(f"reconstruction shape {x_rec.shape} differs from the images' {x.shape}")
    return float(np.mean((x - x_rec) ** 2))


def codes_2d(z_pool: np.ndarray, *others: np.ndarray, seed: int = 0):
    """2-D view of codes: the codes themselves when 2-D, else their PCA-2 (fit on ``z_pool``).

    Returns ``(pca or None, [z_pool_2d, *others_2d])``; ``pca.inverse_transform`` lifts a 2-D
    point back to a code (the plane through the codes' mean spanned by the two components).
    """
    z_pool = np.asarray(z_pool)
    if z_pool.shape[1] <= 2:
        return None, [z_pool, *others]
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(z_pool)
    return pca, [pca.transform(z) for z in (z_pool, *others)]


def _recon(generator, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    from .generative import decode, encode

    z = encode(generator, x, batch_size=batch_size)
    xr = np.concatenate([decode(generator, z[i : i + batch_size]) for i in range(0, len(z), batch_size)])
    return z, xr


def embedding_quality(
    generator,
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    k: int = 5,
    seed: int = 0,
    batch_size: int = 1000,
    z_pool: np.ndarray | None = None,
) -> EmbeddingQuality:
    """Score ``generator``'s codes and the trivial embeddings by ``k``-NN class accuracy and MSE.

    Parameters
    ----------
    generator : module with ``encode``/``decode`` (see :mod:`latentlab.generative`), or None
        None scores the trivial embeddings only (no ``codes`` row, no generator MSE).
    x_pool, y_pool : the pool's images (n, C, H, W) in [0, 1] and class labels: the k-NN's memory
        and the PCA's fit.
    x_test, y_test : the images scored (the test set; a validation split to choose settings on).
    k : int
        Neighbours voting (5).
    seed : int
        Seed of the randomized PCA.
    z_pool : ndarray, optional
        The pool's codes when already encoded (e.g. ``LatentSpace.embeddings``).

    Returns
    -------
    EmbeddingQuality
    """
    x_pool, x_test = _check_images(x_pool, "x_pool"), _check_images(x_test, "x_test")
    if y_pool is None or y_test is None:
        raise ConfigError("embedding_quality scores class neighbourhoods and needs class labels (y_pool, y_test)")
    y_pool, y_test = np.asarray(y_pool), np.asarray(y_test)
    if len(y_pool) != len(x_pool) or len(y_test) != len(x_test):
        raise ConfigError("images and labels must pair up: len(x_pool) == len(y_pool), len(x_test) == len(y_test)")
    knn, mse = {}, {}
    latent_dim = 0
    if generator is not None:
        from .generative import encode

        zp = encode(generator, x_pool, batch_size=batch_size) if z_pool is None else np.asarray(z_pool)
        zt, xr = _recon(generator, x_test, batch_size)
        latent_dim = int(zp.shape[1])
        knn["codes"] = knn_accuracy(zp, y_pool, zt, y_test, k)
        if latent_dim > 2:
            _, (p2, t2) = codes_2d(zp, zt, seed=seed)
            knn["codes_2d"] = knn_accuracy(p2, y_pool, t2, y_test, k)
        mse["generator"] = reconstruction_mse(x_test, xr)
    pp, pt, prec = pca_embedding(x_pool, x_test, 2, seed)
    knn["pca2"] = knn_accuracy(pp, y_pool, pt, y_test, k)
    knn["colour2"] = knn_accuracy(colour_embedding(x_pool), y_pool, colour_embedding(x_test), y_test, k)
    if x_pool.shape[1] == 3:
        knn["rgb3"] = knn_accuracy(mean_rgb(x_pool), y_pool, mean_rgb(x_test), y_test, k)
    knn["chance"] = chance_level(y_test)
    mse["mean_colour"] = reconstruction_mse(
        x_test, np.broadcast_to(x_test.mean(axis=(2, 3), keepdims=True), x_test.shape)
    )
    mse["pca2"] = reconstruction_mse(x_test, prec)
    return EmbeddingQuality(knn=knn, mse=mse, k=k, n_pool=len(x_pool), n_test=len(x_test), latent_dim=latent_dim)


# ---------------------------------------------------------------------------------------- figures
def decoded_grid_figure(
    generator, z_pool: np.ndarray, n: int = 12, pad: float = 0.05, quantile: float = 0.01, seed: int = 0, title=None
):
    """``G(z)`` over an ``n x n`` grid spanning the pool's codes (their 2-D view).

    The box runs from the ``quantile`` to the ``1 - quantile`` quantile of each coordinate (a few
    outlying codes would otherwise stretch it over empty space), padded by ``pad`` of its range.
    Codes of ``latent_dim > 2`` are gridded in their PCA-2 plane (:func:`codes_2d`) and lifted back
    to codes before decoding. Returns a matplotlib Figure; top row = largest second coordinate.
    """
    from .figure_style import axes_text
    from .generative import decode
    from .latent_map import grid
    from .report import new_figure

    pca, (p2,) = codes_2d(z_pool, seed=seed)
    lo, hi = np.quantile(p2, quantile, axis=0), np.quantile(p2, 1.0 - quantile, axis=0)
    span = hi - lo
    x0, x1, y0, y1 = lo[0] - pad * span[0], hi[0] + pad * span[0], lo[1] - pad * span[1], hi[1] + pad * span[1]
    pts = grid((x0, x1, y0, y1), n)  # row = y ascending
    z = pts if pca is None else pca.inverse_transform(pts)
    imgs = decode(generator, z.astype(np.float32))  # (n*n, C, H, W)
    c, h, w = imgs.shape[1:]
    tiles = imgs.reshape(n, n, c, h, w)[::-1]  # flip rows: top row = largest y
    mosaic = tiles.transpose(0, 3, 1, 4, 2).reshape(n * h, n * w, c)
    fig, ax = new_figure(figsize=(7.5, 7.5), dpi=100)
    cw, ch = (x1 - x0) / max(n - 1, 1) / 2, (y1 - y0) / max(n - 1, 1) / 2
    ax.imshow(
        mosaic[..., 0] if c == 1 else mosaic,
        cmap="gray" if c == 1 else None,
        extent=(x0 - cw, x1 + cw, y0 - ch, y1 + ch),
    )
    ax.set_aspect("auto")
    dims = ("z1", "z2") if pca is None else ("PC1 of codes", "PC2 of codes")
    axes_text(ax, f"{dims[0]} (latent units)", f"{dims[1]} (latent units)", title or "G(z) over the pool's code box")
    fig.tight_layout()
    return fig


def code_map_figure(z_pool: np.ndarray, y_pool: np.ndarray, classes=(), seed: int = 0, title=None, max_points=10_000):
    """The pool's codes (their 2-D view) as a scatter coloured by class. Returns a matplotlib Figure.

    The class legend stands right of the map, where it hides no code; text at the projector sizes
    of :mod:`latentlab.figure_style`.
    """
    from .figure_style import FONT, axes_text, legend_outside
    from .report import new_figure

    _, (p2,) = codes_2d(z_pool, seed=seed)
    y = np.asarray(y_pool)
    if len(p2) > max_points:  # a seeded thinning keeps the figure light
        keep = np.sort(np.random.default_rng(seed).choice(len(p2), max_points, replace=False))
        p2, y = p2[keep], y[keep]
    fig, ax = new_figure(figsize=(9, 7), dpi=100)
    # the class colours of every latentlab map (tab10, class k in Ck); dots that show on a small pool
    dot = float(np.clip(20_000 / max(len(p2), 1), 2.0, 12.0))
    sc = ax.scatter(p2[:, 0], p2[:, 1], c=y, cmap="tab10", vmin=-0.5, vmax=9.5, s=dot, alpha=0.7, linewidths=0)
    handles = sc.legend_elements()[0]  # one per class present, in sorted order
    labels = [str(classes[u]) if len(classes) > u else str(u) for u in np.unique(y).astype(int)]
    legend_outside(ax, handles=handles, labels=labels, markerscale=1.6, title="class", title_fontsize=FONT["legend"])
    two_d = np.asarray(z_pool).shape[1] <= 2
    dims = ("z1", "z2") if two_d else ("PC1 of codes", "PC2 of codes")
    title = title or "E(x) of the pool, coloured by class"
    axes_text(ax, f"{dims[0]} (latent units)", f"{dims[1]} (latent units)", title)
    fig.tight_layout()
    return fig
