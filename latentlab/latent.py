"""The latent space of a trained generator: the generator, the pool's embeddings and their index.

One object instead of three loose arguments (generator, embeddings, index) that every consumer
(the loop, :class:`~latentlab.strategies.SamplingContext`, :func:`~latentlab.trajectory.trajectory`,
the explorer) had to keep in step::

    space = LatentSpace.from_generator(vae, dataset.x_train)
    space.encode(x); space.decode(z); space.nearest(z, k=1); space.extent()
"""

from __future__ import annotations

import numpy as np

from .generative import decode, encode
from .neighbours import LatentIndex

__all__ = ["LatentSpace"]


class LatentSpace:
    """A frozen generator and its encoded pool.

    Parameters
    ----------
    generator : torch.nn.Module
        A module with ``encode`` / ``decode`` and ``latent_dim``.
    embeddings : ndarray, shape (N, n), optional
        E(x_pool), posterior means, fixed; None for a generator without an encoded pool (SI only
        decodes).
    index : LatentIndex, optional
        KD-tree over ``embeddings`` (built from them when not given).
    """

    def __init__(self, generator, embeddings: np.ndarray | None = None, index: LatentIndex | None = None):
        self.generator = generator
        self.embeddings = embeddings  # None: a generator without an encoded pool (SI only decodes)
        self.index = index if index is not None or embeddings is None else LatentIndex(embeddings)
        self._view = None  # the display projection, fit on first use when dim > 2

    @classmethod
    def from_generator(cls, generator, x_pool: np.ndarray) -> "LatentSpace":
        """Encode the pool ``x_pool`` with ``generator`` and index it.

        Parameters
        ----------
        generator : torch.nn.Module
            A module with ``encode`` / ``decode`` and ``latent_dim``.
        x_pool : numpy.ndarray
            The pool's images, shape (N, C, H, W).

        Returns
        -------
        LatentSpace
            The generator, the pool's codes and their index.
        """
        return cls(generator, encode(generator, x_pool))

    @property
    def dim(self) -> int:
        """Dimension of the latent space."""
        return int(self.generator.latent_dim if self.embeddings is None else self.embeddings.shape[1])

    @property
    def n(self) -> int:
        """Pool items in the space."""
        return 0 if self.embeddings is None else len(self.embeddings)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Posterior means of images ``x`` (n, C, H, W) -> (n, dim).

        Parameters
        ----------
        x : numpy.ndarray
            Images, shape (n, C, H, W).

        Returns
        -------
        numpy.ndarray
            Latent codes, shape (n, dim), float32.
        """
        return encode(self.generator, x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Images G(z), shape (n, C, H, W).

        Parameters
        ----------
        z : numpy.ndarray
            Latent points, shape (n, dim).

        Returns
        -------
        numpy.ndarray
            Images, shape (n, C, H, W), float32.
        """
        return decode(self.generator, z)

    def nearest(self, z: np.ndarray, k: int = 1):
        """``(distances, pool indices)`` of the ``k`` pool items nearest to each point of ``z``.

        Parameters
        ----------
        z : numpy.ndarray
            Latent points, shape (m, dim).
        k : int, default 1
            Neighbours per point.

        Returns
        -------
        distances : numpy.ndarray
            Latent distances, shape (m,) for ``k=1``, else (m, k).
        indices : numpy.ndarray
            Pool indices, int64, the same shape.
        """
        return self.index.nearest(z, k=k)

    # ------------------------------------------------------------------ the 2-D view (display only)
    @property
    def view(self):
        """The display projection: None for a 2-D latent space, else the PCA-2 of the pool's codes.

        Only drawing uses it (the explorer's map, heat map and clicks): strategies, gradients and
        the nearest-neighbour search stay in the full latent space. Fit with scikit-learn's ``PCA``
        (full SVD, deterministic) on :attr:`embeddings` when first asked for.
        """
        if self.dim <= 2:
            return None
        if self._view is None:
            from sklearn.decomposition import PCA

            if self.embeddings is None or len(self.embeddings) < 2:
                from .exceptions import ConfigError

                raise ConfigError(
                    f"a {self.dim}-D latent space is drawn in the PCA-2 plane of its pool's codes; "
                    "build it with LatentSpace.from_generator(generator, x_pool)"
                )
            self._view = PCA(n_components=2, svd_solver="full").fit(np.asarray(self.embeddings, np.float64))
        return self._view

    def to_view(self, z: np.ndarray) -> np.ndarray:
        """Latent points ``z`` (..., dim) -> their 2-D display coordinates (..., 2).

        Parameters
        ----------
        z : numpy.ndarray
            Latent points, last axis ``dim``.

        Returns
        -------
        numpy.ndarray
            Display coordinates, float64, last axis 2 (``z`` itself for a 2-D space).
        """
        z = np.asarray(z, np.float64)
        if self.view is None:
            return z
        return self.view.transform(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], 2)

    def from_view(self, p: np.ndarray) -> np.ndarray:
        """2-D display coordinates ``p`` (..., 2) -> latent points (..., dim) on the view's plane.

        The plane passes through the codes' mean, spanned by their two principal axes.

        Parameters
        ----------
        p : numpy.ndarray
            Display coordinates, last axis 2.

        Returns
        -------
        numpy.ndarray
            Latent points, float64, last axis ``dim``.
        """
        p = np.asarray(p, np.float64)
        if self.view is None:
            return p
        return self.view.inverse_transform(p.reshape(-1, 2)).reshape(*p.shape[:-1], self.dim)

    def direction_to_view(self, d: np.ndarray) -> np.ndarray:
        """Latent directions ``d`` (..., dim) -> their 2-D display directions (the projection's linear part).

        Parameters
        ----------
        d : numpy.ndarray
            Latent directions, last axis ``dim``.

        Returns
        -------
        numpy.ndarray
            Display directions, float64, last axis 2.
        """
        d = np.asarray(d, np.float64)
        return d if self.view is None else d @ self.view.components_.T

    def extent(self, pad: float = 0.05) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the embeddings in the 2-D view (:meth:`to_view`), padded.

        Parameters
        ----------
        pad : float, default 0.05
            Padding on each side, as a fraction of the range.

        Returns
        -------
        tuple of float
            ``(x0, x1, y0, y1)``.
        """
        e = self.to_view(self.embeddings)
        lo, hi = e.min(0), e.max(0)
        p = pad * (hi - lo)
        return float(lo[0] - p[0]), float(hi[0] + p[0]), float(lo[1] - p[1]), float(hi[1] + p[1])

    def __repr__(self):
        return f"LatentSpace({type(self.generator).__name__}, {self.n} pool items, dim {self.dim})"
