"""The explorer's state: every action driven without a browser, bad input as messages."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.explorer_state import ExplorerState


@pytest.fixture(scope="module")
def trained(explorer_settings):
    """A state after one round (F exists, trajectories start from the round's SNN step)."""
    s = ExplorerState(**explorer_settings).load()
    assert s.run_round(), s.error
    return s


def test_load_gives_a_plane_and_no_model(explorer_settings):
    s = ExplorerState(**explorer_settings).load()
    assert s.error == "" and s.loaded and s.model is None
    assert s.embeddings.shape == (400, 2)
    x0, x1, y0, y1 = s.extent
    assert x0 < s.embeddings[:, 0].min() and x1 > s.embeddings[:, 0].max() and y0 < y1
    assert s.readout() == {
        "round": 0,
        "n_labelled": 0,
        "metric": None,
        "metric_name": "accuracy",
        "steps": 0,
        "per_round": 0,
    }


def test_sessions_sharing_a_data_set_hash_its_pool_once(explorer_settings, monkeypatch):
    """A session's load names its annotation folder by the pool's fingerprint; sessions share the
    data set (load_resources), so the pool is hashed once, not per session (seconds at 10^6 images)."""
    from latentlab.datasets import Dataset
    from latentlab.explorer_run import shared_fingerprint

    first = ExplorerState(**explorer_settings).load()
    hashed = []
    real = Dataset.fingerprint
    monkeypatch.setattr(Dataset, "fingerprint", lambda self: hashed.append(self.name) or real(self))
    second = ExplorerState(**explorer_settings).load()
    assert second.data is first.data and hashed == []
    assert second.annotation.annotator.cache.folder == first.annotation.annotator.cache.folder
    assert first.data.fingerprint() in str(second.annotation.annotator.cache.folder)
    other = first.data.subset(n_pool=100, seed=1)  # another data set: hashed (once)
    assert shared_fingerprint(other) == shared_fingerprint(other) == real(other) and len(hashed) == 2


def test_step_before_a_model_is_a_message(explorer_settings):
    s = ExplorerState(**explorer_settings).load()
    v = s.version
    assert s.step() is False
    assert "Run round" in s.error and s.version > v


@pytest.mark.parametrize("alpha", [0, -0.5, float("nan"), "a"])
def test_bad_alpha_is_a_message_and_keeps_the_old_value(explorer_settings, alpha):
    s = ExplorerState(**explorer_settings).load()
    assert s.configure(alpha=alpha) is False
    assert "alpha" in s.error and s.alpha == 0.2


def test_unknown_strategy_and_setting_are_messages(explorer_settings):
    s = ExplorerState(**explorer_settings).load()
    assert s.configure(strategy="snnn") is False and "snn" in s.error
    assert s.configure(gamma=1) is False and "gamma" in s.error


def test_unknown_dataset_is_a_message():
    s = ExplorerState(dataset="nope").load()
    assert not s.loaded and "valid choices" in s.error


def test_round_then_steps_grow_trajectories(trained):
    s = trained
    r = s.readout()
    assert r["round"] == 1 and r["metric"] is not None and r["n_labelled"] == 30 + 5
    tr = s.trajectories()
    assert tr["paths"].shape == (2, 5, 2) and tr["steps"] == 1  # the round's own SNN step
    assert s.grid is not None and s.grid["values"].shape == (12, 12) and np.all(s.grid["values"] >= 0)
    labelled_before = s.loop.n_labelled
    assert s.step(), s.error
    tr2 = s.trajectories()
    assert tr2["paths"].shape == (3, 5, 2) and tr2["steps"] == 2
    np.testing.assert_allclose(tr2["p"], tr["neighbour_xy"])  # the neighbour became the next point
    np.testing.assert_allclose(tr2["p_prime"], tr2["p"] + s.alpha * tr2["d"])
    np.testing.assert_allclose(np.linalg.norm(tr2["d"], axis=1), 1.0, atol=1e-6)
    assert s.loop.n_labelled == labelled_before  # a step labels nothing
    # no trajectory revisits an item
    s.step()
    items = np.stack([s.trajectories()["neighbour"]])
    assert items.shape == (1, 5)


def test_alpha_changes_the_step_length(trained):
    s = trained
    assert s.configure(alpha=0.5)
    s.step()
    tr = s.trajectories()
    np.testing.assert_allclose(np.linalg.norm(tr["p_prime"] - tr["p"], axis=1), 0.5, atol=1e-9)
    assert s.loop.config.alpha == 0.5
    s.configure(alpha=0.2)


def test_J_larger_than_labelled_set_is_a_message(explorer_settings):
    s = ExplorerState(**explorer_settings).load()
    s.run_round()
    assert s.configure(per_round=500)
    assert s.traj is None  # per_round changed: new start points on the next Step
    assert s.step() is False and "per_round = 500" in s.error and "labelled" in s.error


def test_select_decodes_a_point_and_a_sampling_point(trained):
    s = trained
    assert s.select(0.0, 0.0), s.error
    sel = s.selection
    assert sel["point"] is None and sel["images"][0][0] == "G(z)"
    assert sel["images"][0][1].shape == (1, 8, 8) and "F says" in sel["text"]
    p = s.trajectories()["p"][2]
    assert s.select(*p)
    assert s.selection["point"] == 2 and [t for t, _ in s.selection["images"]][:2] == ["G(p)", "G(p')"]
    assert s.select(float("inf"), 0) is False


def test_history_and_curves(explorer_settings):
    s = ExplorerState(**{**explorer_settings, "compare": True}).load()
    s.run_round()
    s.run_round()
    h1, h2 = s.history(1), s.history(2)
    assert len(h1["labelled"]) == 35 and len(h2["labelled"]) == 40
    assert h1["proposal"]["p"].shape == (5, 2)
    with pytest.raises(ValueError):
        s.history(3)
    c = s.curves()
    assert set(c) == {"snn", "random"} and c["snn"][0] == [30, 35]


def test_reset_and_strategy_switch(explorer_settings):
    s = ExplorerState(**explorer_settings).load()
    s.run_round()
    assert s.configure(strategy="random")
    assert s.round == 0 and s.model is None and s.loop.strategy.name == "random"
    s.run_round()
    assert s.trajectories()["steps"] == 0  # random proposes no latent step
    assert s.step(), s.error  # random's Step moves nothing: it names J random unlabelled items
    assert s.trajectories()["steps"] == 0 and len(s.picks) == s.per_round
    assert not s.loop.pool.labelled_mask[s.picks].any() and "no move" in s.explain_step()
    assert s.reset() and s.loop.round == 0 and s.traj is None


def test_loss_grid_before_a_model_raises_config_error(explorer_settings):
    s = ExplorerState(**explorer_settings).load()
    with pytest.raises(ValueError, match="run a round"):
        s.loss_grid(4)


def test_person_annotation_adds_to_train_set_and_persists(explorer_settings):
    s = ExplorerState(**explorer_settings).load()
    n_cached = len(s.annotator.cache)
    assert s.annotate(3) is False and "Step" in s.error
    s.run_round()
    assert s.queue_synthetic(), s.error
    assert len(s.pending) == 5
    n0 = s.loop.n_labelled
    assert s.annotate(11) is False and "0..9" in s.error  # not a class
    assert s.annotate(3) and s.annotate(7)
    assert s.loop.n_labelled == n0 + 2 and s.loop.synthetic["y"].tolist() == [3, 7]
    assert len(s.annotator.cache) == n_cached + 2
    # a second session with the same images takes the answers from the cache
    s2 = ExplorerState(**explorer_settings).load()
    s2.run_round()
    s2.traj = s.traj
    s2.queue_synthetic()
    assert len(s2.pending) == 3 and s2.loop.synthetic["y"].tolist() == [3, 7]
    x, _ = s2.loop.train_set()
    assert len(x) == s2.loop.n_labelled


def test_latent_dim_above_two_is_drawn_in_its_pca_plane(explorer_settings):
    """A 3-D latent space: the map shows the PCA-2 view of the codes; SNN still moves in 3-D."""
    import dataclasses

    gen = dataclasses.replace(explorer_settings["generator_config"], latent_dim=3, min_steps=100)
    s = ExplorerState(**{**explorer_settings, "generator_config": gen}).load()
    assert s.error == "" and s.latent.dim == 3 and s.latent.embeddings.shape == (400, 3)
    view = s.latent.view
    np.testing.assert_allclose(s.embeddings, view.transform(s.latent.embeddings))  # drawn = projected codes
    assert s.embeddings.shape == (400, 2)
    assert s.run_round(), s.error
    assert s.step(), s.error
    tr = s.trajectories()
    assert tr["paths"].shape == (3, 5, 2) and tr["p"].shape == (5, 2) and tr["neighbour_xy"].shape == (5, 2)
    last = s.traj.last  # the move itself is 3-D; drawn: its projection
    np.testing.assert_allclose(tr["p"], view.transform(last["p"]))
    np.testing.assert_allclose(tr["p_prime"], tr["p"] + s.alpha * tr["d"], atol=1e-9)  # a linear view keeps steps
    assert s.grid["values"].shape == (12, 12)
    # a click decodes the 3-D point under it, on the view's plane
    x0, x1, y0, y1 = s.extent
    assert s.select((x0 + x1) / 2, (y0 + y1) / 2), s.error
    z = s.latent.from_view(np.array([[(x0 + x1) / 2, (y0 + y1) / 2]]))
    np.testing.assert_allclose(s.selection["images"][0][1], s.latent.decode(z)[0], atol=1e-6)
    assert s.select(*tr["p"][1]) and s.selection["point"] == 1  # a sampling point is picked where it is drawn
    assert s.history(1)["proposal"]["p"].shape == (5, 2)
