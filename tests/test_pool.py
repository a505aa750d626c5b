import pytest

from latentlab import ConfigError, PoolState


def test_one_array_gives_train_set_pool_and_history():
    s = PoolState.empty(10).label([1, 3], 1).label([7], 2)
    assert s.n_labelled == 3 and s.n_rounds == 2
    assert s.labelled_indices().tolist() == [1, 3, 7]
    assert s.labelled_indices(upto_round=1).tolist() == [1, 3]
    assert s.unlabelled_indices().tolist() == [0, 2, 4, 5, 6, 8, 9]
    assert {k: v.tolist() for k, v in s.history().items()} == {1: [1, 3], 2: [7]}
    assert s.labelled_round.tolist() == [-1, 1, -1, 1, -1, -1, -1, 2, -1, -1]


def test_label_returns_a_copy_and_state_is_read_only():
    s0 = PoolState.empty(5)
    s1 = s0.label([0], 1)
    assert s0.n_labelled == 0 and s1.n_labelled == 1
    with pytest.raises(ValueError):
        s1.labelled_round[2] = 4


@pytest.mark.parametrize("idx, msg", [([5], "lie in"), ([1, 1], "twice"), ([0], "already labelled")])
def test_bad_labels(idx, msg):
    s = PoolState.empty(5).label([0], 1)
    with pytest.raises(ConfigError, match=msg):
        s.label(idx, 2)
