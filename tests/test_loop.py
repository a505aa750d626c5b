import numpy as np
import pytest

from latentlab import ActiveLoop, ConfigError, LoopConfig, ResumeError, TrainConfig, get_strategy

FAST = TrainConfig(epochs=1, batch_size=32, min_steps=20)


def cfg(**kw):
    base = dict(rounds=3, initial=30, per_round=20, alpha=0.3, train=FAST)
    base.update(kw)
    return LoopConfig(**base)


def test_rounds_records_and_pool(small_digits, latent):
    loop = ActiveLoop(small_digits, get_strategy("snn"), cfg(), seed=0, latent=latent, progress=False)
    recs = loop.run()
    assert [r.round for r in recs] == [1, 2, 3] and [r.n_labelled for r in recs] == [30, 50, 70]
    assert loop.done and loop.pool.n_labelled == 70 and loop.pool.n_rounds == 3
    assert all(0 <= r.metric <= 100 for r in recs)
    assert recs[0].mean_grad_norm > 0 and recs[-1].n_proposed == 0
    assert set(loop.proposals[0]) >= {"indices", "p", "p_prime", "d", "grad_norm", "loss"}
    np.testing.assert_array_equal(np.sort(loop.proposals[0]["indices"]), loop.pool.indices_of_round(2))


def test_same_initial_set_for_every_strategy(small_digits, latent):
    a = ActiveLoop(small_digits, get_strategy("random"), cfg(), seed=3, progress=False)
    b = ActiveLoop(small_digits, get_strategy("snn"), cfg(), seed=3, latent=latent, progress=False)
    a.run_round(), b.run_round()
    np.testing.assert_array_equal(a.pool.indices_of_round(1), b.pool.indices_of_round(1))
    assert a.records[0].metric == b.records[0].metric
    c = ActiveLoop(small_digits, get_strategy("random"), cfg(), seed=4, progress=False)
    assert not np.array_equal(c.initial_set(), a.initial_set())


@pytest.mark.parametrize("warm", [True, False])
def test_resume_gives_identical_run(small_digits, latent, tmp_path, warm):
    c = cfg(rounds=4, warm_start=warm)
    full = ActiveLoop(small_digits, get_strategy("snn"), c, seed=1, latent=latent, progress=False).run()
    part = ActiveLoop(
        small_digits, get_strategy("snn"), c, seed=1, latent=latent, checkpoint_dir=tmp_path, progress=False
    )
    part.run_round(), part.run_round()
    del part  # "crash" after round 2
    again = ActiveLoop(
        small_digits, get_strategy("snn"), c, seed=1, latent=latent, checkpoint_dir=tmp_path, progress=False
    )
    assert again.round == 2
    recs = again.run()
    assert [r.metric for r in recs] == [r.metric for r in full]
    assert [r.n_labelled for r in recs] == [r.n_labelled for r in full]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["arrays-r004.npz", "model-r004.pt", "state.json"]


def test_checkpoint_of_other_run_is_refused(small_digits, tmp_path):
    ActiveLoop(small_digits, get_strategy("random"), cfg(), seed=0, checkpoint_dir=tmp_path, progress=False).run_round()
    with pytest.raises(ResumeError, match="differs in: seed"):
        ActiveLoop(small_digits, get_strategy("random"), cfg(), seed=1, checkpoint_dir=tmp_path, progress=False)


def test_stop_on_target_metric_and_budget(small_digits):
    loop = ActiveLoop(small_digits, get_strategy("random"), cfg(rounds=10, target_metric=1.0), seed=0, progress=False)
    assert len(loop.run()) == 1
    loop = ActiveLoop(small_digits, get_strategy("random"), cfg(rounds=10, budget=75), seed=0, progress=False)
    assert [r.n_labelled for r in loop.run()] == [30, 50, 70]


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(alpha=0.0), "alpha must be"),
        (dict(alpha=-1.0), "alpha must be"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(rounds=0), "rounds"),
        (dict(per_round=0), "per-round"),
        (dict(loss_on="x"), "loss_on"),
        (dict(train=TrainConfig(min_steps=5, augment="mixup")), "augment must be one of"),
        (dict(train=TrainConfig(min_steps=5, weight_decay=-1.0)), "weight.decay"),
    ],
)
def test_bad_config(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        cfg(**kw).validate()


def test_initial_larger_than_pool(small_digits):
    with pytest.raises(ConfigError, match="larger than the pool"):
        ActiveLoop(small_digits, get_strategy("random"), cfg(initial=401), seed=0)


def test_per_round_larger_than_pool_left(small_digits):
    loop = ActiveLoop(small_digits, get_strategy("random"), cfg(initial=390, per_round=20), seed=0, progress=False)
    with pytest.raises(ConfigError, match="larger than the 10 unlabelled"):
        loop.run_round()


def test_snn_without_generator(small_digits):
    with pytest.raises(ConfigError, match="needs a trained generator"):
        ActiveLoop(small_digits, get_strategy("snn"), cfg(), seed=0)


def test_augmented_recipe_runs_resumes_and_changes_the_model(small_digits, tmp_path):
    rec = TrainConfig(epochs=1, batch_size=32, min_steps=20, augment="shift-rotate", schedule="cosine")
    full = ActiveLoop(small_digits, get_strategy("random"), cfg(train=rec), seed=2, progress=False).run()
    plain = ActiveLoop(small_digits, get_strategy("random"), cfg(), seed=2, progress=False).run()
    assert [r.metric for r in full] != [r.metric for r in plain]
    part = ActiveLoop(
        small_digits, get_strategy("random"), cfg(train=rec), seed=2, progress=False, checkpoint_dir=tmp_path
    )
    part.run_round(), part.run_round()  # "crash" after round 2
    again = ActiveLoop(
        small_digits, get_strategy("random"), cfg(train=rec), seed=2, progress=False, checkpoint_dir=tmp_path
    )
    assert again.round == 2
    assert [r.metric for r in again.run()] == [r.metric for r in full]


def test_augmentation_is_refused_for_image_labels():
    from latentlab.datasets import Dataset

    ds = Dataset(
        name="maps",
        x_train=np.zeros((10, 1, 8, 8), np.float32),
        y_train=np.zeros((10, 1, 8, 8), np.float32),
        x_test=np.zeros((4, 1, 8, 8), np.float32),
        y_test=np.zeros((4, 1, 8, 8), np.float32),
        task="regression",
        n_outputs=64,
    )
    rec = TrainConfig(min_steps=5, augment="crop-flip")
    with pytest.raises(ConfigError, match="--augment none"):
        ActiveLoop(ds, get_strategy("random"), cfg(initial=4, per_round=2, train=rec), seed=0)


def test_balanced_initial_set_is_shared_and_balanced(small_digits, latent):
    c = cfg(initial=30, initial_balanced=True)
    a = ActiveLoop(small_digits, get_strategy("random"), c, seed=5, progress=False)
    b = ActiveLoop(small_digits, get_strategy("snn"), c, seed=5, latent=latent, progress=False)
    ia, ib = a.initial_set(), b.initial_set()
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(np.bincount(small_digits.y_train[ia], minlength=10), np.full(10, 3))
    assert not np.array_equal(
        ia, ActiveLoop(small_digits, get_strategy("random"), cfg(initial=30), seed=5).initial_set()
    )
    assert "initial_balanced" not in cfg().to_dict() and cfg(initial_balanced=True).to_dict()["initial_balanced"]
