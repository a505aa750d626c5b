"""The per-round diagnostics: class balance, picks' latent distance, F's error on picks vs pool."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab import ActiveLoop, LoopConfig, TrainConfig, get_strategy
from latentlab.diagnostics import class_balance, diagnostics_section, median_distance_to_labelled

FAST = LoopConfig(
    rounds=3, initial=30, per_round=20, alpha=0.3, train=TrainConfig(epochs=1, batch_size=32, min_steps=20)
)


def test_class_balance():
    assert class_balance(np.array([0, 1, 2, 3]), 4) == (1, pytest.approx(2.0))
    rare, h = class_balance(np.array([0, 0, 0, 1]), 3)
    assert rare == 0 and h == pytest.approx(-(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)))


def test_median_distance_to_labelled():
    z = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [10.0, 0.0]])
    assert median_distance_to_labelled(z, np.array([1, 2, 3]), np.array([0])) == pytest.approx(3.0)
    assert median_distance_to_labelled(z, np.array([], int), np.array([0])) is None


@pytest.mark.parametrize("strategy", ["random", "snn"])
def test_loop_records_diagnostics(small_digits, latent, strategy):
    loop = ActiveLoop(small_digits, get_strategy(strategy), FAST, seed=0, latent=latent, progress=False)
    recs = loop.run()
    y = small_digits.y_train
    for r in recs:
        lab = loop.pool.labelled_indices(upto_round=r.round)
        assert (r.rarest_class, r.class_entropy) == class_balance(y[lab], small_digits.n_classes)
    r1 = recs[0]
    picks, before = loop.pool.indices_of_round(2), loop.pool.labelled_indices(upto_round=1)
    z = latent.embeddings
    d = np.linalg.norm(z[picks][:, None] - z[before][None], axis=2).min(1)
    assert r1.pick_latent_dist == pytest.approx(float(np.median(d)))
    assert 0 <= r1.pick_error <= 100 and 0 <= r1.pool_error <= 100
    assert recs[-1].pick_error is None  # the last round proposes nothing
    md = diagnostics_section({(strategy, 0): recs})
    assert f"| {strategy} | 1 | " in md and "rarest class" in md


def test_pick_error_is_measured_with_the_model_that_picked(small_digits, latent):
    """entropy picks what F is unsure of: F errs on them more often than on the pool."""
    loop = ActiveLoop(small_digits, get_strategy("entropy"), FAST, seed=0, progress=False)
    recs = loop.run()
    assert recs[0].pick_latent_dist is None  # no latent space given
    assert recs[0].pick_error > recs[0].pool_error


def test_why_line_compares_balance_and_pick_error():
    from latentlab.diagnostics import why_line
    from latentlab.loop import RoundRecord

    def rec(t, rare, pick, pool):
        return RoundRecord(t, 20 * t, 50.0, "accuracy", 0.1, 10, rarest_class=rare, pick_error=pick, pool_error=pool)

    runs = {
        ("snn", 0): [rec(1, 0, 10.0, 30.0), rec(2, 2, None, None)],
        ("snn", 1): [rec(1, 1, 20.0, 30.0), rec(2, 4, None, None)],
        ("random", 0): [rec(1, 0, 30.0, 30.0), rec(2, 8, None, None)],
    }
    line = why_line(runs, "snn")
    assert "holds 3.0 labels of its rarest class (random: 8.0)" in line
    assert "picks 15.0 % of the time vs 30.0 % on the unlabelled pool (random: 30.0 % vs 30.0 %)" in line
    assert why_line({("snn", 0): runs[("snn", 0)]}, "snn") is None
