"""Pool state: one integer per pool item records the round it was labelled in (-1 = unlabelled).

The train set, the unlabelled pool and the labelling history all derive from that one array
(the baal pattern), so they can never disagree. Changes return copies (``dataclasses.replace``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .exceptions import ConfigError

__all__ = ["PoolState", "UNLABELLED"]

UNLABELLED = -1


@dataclass(frozen=True)
class PoolState:
    """Which pool item was labelled in which round.

    Parameters
    ----------
    labelled_round : ndarray, shape (n_pool,), int64
        Round (1-based) in which each item was labelled; ``-1`` for unlabelled.
    """

    labelled_round: np.ndarray

    @classmethod
    def empty(cls, n_pool: int) -> "PoolState":
        """A pool of ``n_pool`` items, none labelled.

        Parameters
        ----------
        n_pool : int
            Pool size.

        Returns
        -------
        PoolState
            Every item at -1.
        """
        return cls(np.full(int(n_pool), UNLABELLED, dtype=np.int64))

    def __post_init__(self):
        a = np.asarray(self.labelled_round, dtype=np.int64)
        a.setflags(write=False)
        object.__setattr__(self, "labelled_round", a)

    @property
    def n_pool(self) -> int:
        """Pool size."""
        return len(self.labelled_round)

    @property
    def n_labelled(self) -> int:
        """Pool items labelled."""
        return int(np.count_nonzero(self.labelled_round >= 0))

    @property
    def n_rounds(self) -> int:
        """Last round that labelled anything (0 when nothing is labelled)."""
        return int(self.labelled_round.max(initial=0))

    @property
    def labelled_mask(self) -> np.ndarray:
        """True for each labelled pool item, shape (n_pool,)."""
        return self.labelled_round >= 0

    def labelled_indices(self, upto_round: int | None = None) -> np.ndarray:
        """Pool indices labelled in rounds ``<= upto_round`` (all labelled when ``None``), ascending.

        Parameters
        ----------
        upto_round : int, optional
            The last round counted (None: all).

        Returns
        -------
        numpy.ndarray
            Pool indices, int64, ascending.
        """
        r = self.labelled_round
        m = r >= 0 if upto_round is None else (r >= 0) & (r <= upto_round)
        return np.flatnonzero(m)

    def unlabelled_indices(self) -> np.ndarray:
        """Pool indices not labelled yet, ascending.

        Returns
        -------
        numpy.ndarray
            Pool indices, int64.
        """
        return np.flatnonzero(self.labelled_round < 0)

    def indices_of_round(self, round_: int) -> np.ndarray:
        """Pool indices labelled in round ``round_``, ascending.

        Parameters
        ----------
        round_ : int
            The round.

        Returns
        -------
        numpy.ndarray
            Pool indices, int64.
        """
        return np.flatnonzero(self.labelled_round == round_)

    def history(self) -> dict[int, np.ndarray]:
        """``{round: indices labelled in that round}`` for every round that labelled something.

        Returns
        -------
        dict of int to numpy.ndarray
            Round -> pool indices.
        """
        return {int(t): self.indices_of_round(int(t)) for t in np.unique(self.labelled_round[self.labelled_round >= 0])}

    def label(self, indices, round_: int) -> "PoolState":
        """A copy with ``indices`` marked as labelled in ``round_``.

        Parameters
        ----------
        indices : array-like of int
            Unlabelled pool items, distinct.
        round_ : int
            The round, >= 1.

        Returns
        -------
        PoolState
            The changed copy (this state is unchanged).

        Raises
        ------
        ConfigError
            An index is out of range, repeated, or already labelled (labelling twice would
            waste an expensive oracle call and silently shrink the batch).
        """
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if round_ < 1:
            raise ConfigError(f"round must be >= 1, got {round_}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_pool):
            raise ConfigError(f"pool indices must lie in [0, {self.n_pool}); got min {idx.min()}, max {idx.max()}")
        if len(np.unique(idx)) != len(idx):
            raise ConfigError(
                "the same pool item was proposed twice in one batch; a strategy must return distinct items"
            )
        already = idx[self.labelled_round[idx] >= 0]
        if already.size:
            raise ConfigError(f"pool items {already[:5].tolist()} are already labelled; propose unlabelled items only")
        new = self.labelled_round.copy()
        new[idx] = round_
        return dataclasses.replace(self, labelled_round=new)
