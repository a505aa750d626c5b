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

    Attributes
    ----------
    generator : module with ``encode``/``decode`` and ``latent_dim``
    embeddings : ndarray, shape (N, n)   E(x_pool), posterior means, fixed
    index : LatentIndex                  KD-tree over ``embeddings``
    """

    def __init__(self, generator, embeddings: np.ndarray | None = None, index: LatentIndex | None = None):
        self.generator = generator
        self.embeddings = embeddings  # None: a generator without an encoded pool (SI only decodes)
        self.index = index if index is not None or embeddings is None else LatentIndex(embeddings)

    @classmethod
    def from_generator(cls, generator, x_pool: np.ndarray) -> "LatentSpace":
        """Encode the pool ``x_pool`` with ``generator`` and index it."""
        return cls(generator, encode(generator, x_pool))

    @property
    def dim(self) -> int:
        return int(self.generator.latent_dim if self.embeddings is None else self.embeddings.shape[1])

    @property
    def n(self) -> int:
        """Pool items in the space."""
        return 0 if self.embeddings is None else len(self.embeddings)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Posterior means of images ``x`` (n, C, H, W) -> (n, dim)."""
        return encode(self.generator, x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Images G(z), shape (n, C, H, W)."""
        return decode(self.generator, z)

    def nearest(self, z: np.ndarray, k: int = 1):
        """``(distances, pool indices)`` of the ``k`` pool items nearest to each point of ``z``."""
        return self.index.nearest(z, k=k)

    def extent(self, pad: float = 0.05) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the embeddings' first two dimensions, padded by ``pad`` of the range."""
        lo, hi = self.embeddings[:, :2].min(0), self.embeddings[:, :2].max(0)
        p = pad * (hi - lo)
        return float(lo[0] - p[0]), float(hi[0] + p[0]), float(lo[1] - p[1]), float(hi[1] + p[1])

    def __repr__(self):
        return f"LatentSpace({type(self.generator).__name__}, {self.n} pool items, dim {self.dim})"
