"""The label books of a run: one owner of pool state, labels, synthesized items and the train set."""

import numpy as np
import pytest

from latentlab import ConfigError
from latentlab.label_store import LabelStore
from latentlab.labeling import LabelResult, Labeler, OracleLabeler
from latentlab.strategies import Proposal


class HalfTool(Labeler):
    """A tool that labels even-valued inputs (label = 10 x value) and fails on odd ones."""

    can_label_synthetic = True

    def label(self, x, *, indices=None, progress=False):
        v = np.asarray(x)[:, 0]
        ok = v % 2 == 0
        return LabelResult(y=(10 * v[ok]).astype(np.int64), ok=ok)


def test_oracle_books_train_set_and_synthetic():
    x = np.arange(10, dtype=np.float32)[:, None]
    s = LabelStore(x, OracleLabeler(np.arange(10) + 100))
    assert s.label(Proposal(indices=np.array([3, 1])), 1) == 0
    s.add_synthetic(np.array([[7.5]], np.float32), [9], [[0.0, 1.0]], 2)
    tx, ty = s.train_set()
    assert tx[:, 0].tolist() == [1, 3, 7.5] and ty.tolist() == [101, 103, 9]
    assert s.n_labelled == 3 and s.n_synthetic == 1
    idx, rounds = s.labelled()
    assert idx.tolist() == [1, 3] and rounds.tolist() == [1, 1]
    assert s.labels_of(np.array([0, 1]), np.array([-1, -1])).tolist() == [100, 101]  # the oracle knows all
    with pytest.raises(ConfigError, match="already labelled"):
        s.label(Proposal(indices=np.array([3])), 2)


def test_tool_labels_fill_in_and_survive_arrays_restore():
    x = np.arange(6, dtype=np.float32)[:, None]
    s = LabelStore(x, HalfTool())
    assert s.pool_labels is None
    assert s.label(Proposal(indices=np.array([0, 1, 2])), 1) == 1  # item 1 (odd) failed
    assert s.labels_of(np.array([0, 1, 4]), np.array([-1, -1, -1])).tolist() == [0, -1, -1]  # only labelled ones
    assert s.label(Proposal(indices=np.array([], np.int64), x_new=np.array([[4.0], [5.0]]), z_new=[[0], [1]]), 2) == 1
    again = LabelStore(x, HalfTool())
    again.restore(s.arrays())
    assert np.array_equal(again.pool.labelled_round, s.pool.labelled_round)
    assert np.array_equal(again.pool_labels[[0, 2]], [0, 20]) and again.synthetic["y"].tolist() == [40]
    for a, b in zip(again.train_set(), s.train_set()):
        np.testing.assert_array_equal(a, b)
