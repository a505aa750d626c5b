"""The explorer's first load on a worker thread, its latent space watched while the generator trains
(latentlab/explorer_training.py, generative.watching): snapshots in order, the same generator as an
unwatched load, errors as messages."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from latentlab import GeneratorConfig
from latentlab.explorer_run import _RESOURCES
from latentlab.explorer_training import GeneratorTraining

# its own settings: never in the session's cache, so the job must train
CFG = GeneratorConfig(epochs=3, min_steps=0, batch_size=64)


def weights_hash(model) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def test_snapshots_arrive_in_order_and_the_generator_is_the_unwatched_one():
    from latentlab.experiment import config_from_settings, prepare

    _RESOURCES.clear()
    job = GeneratorTraining("digits", generator_config=CFG, n_pool=256, n_test=64, watch=100).start()
    assert job.wait(300) and job.error == "", job.error
    snaps = job.snapshots
    assert job.trained and job.phase == "ready" and job.status().fraction == 1.0
    epochs = [s.epoch for s in snaps]
    assert epochs == sorted(epochs) and epochs[0] == 0 and len(set(epochs)) == len(epochs)
    assert epochs[-1] == snaps[-1].n_epochs == 3 and len(snaps) == 4
    assert snaps[0].loss is None and all(np.isfinite(s.loss) for s in snaps[1:])
    assert all(np.array_equal(s.indices, snaps[0].indices) for s in snaps) and len(snaps[0].indices) == 100
    assert all(s.codes.shape == (100, 2) for s in snaps)
    assert not np.allclose(snaps[0].codes, snaps[-1].codes)  # the map moved while it trained
    lab = job.snapshot_labels(snaps[-1])
    assert job.categorical and lab.dtype == np.int64 and len(lab) == 100 and len(job.classes) == 10

    ds, space = job.resources
    # the last snapshot is the trained encoder's codes of those items: the page's last picture is the map
    np.testing.assert_allclose(snaps[-1].codes, space.embeddings[snaps[-1].indices], atol=1e-6)
    # the same generator as a load that watched nothing (same seed, same bits), trained afresh here
    cfg = config_from_settings(dataset="digits").override({"n_pool": 256, "n_test": 64, "generator": CFG})
    _, plain = prepare(cfg, progress=False, retrain_generator=True)
    assert weights_hash(space.generator) == weights_hash(plain.generator)
    np.testing.assert_array_equal(space.embeddings, plain.embeddings)


def test_the_state_loads_from_the_jobs_resources():
    from latentlab import ExplorerState

    _RESOURCES.clear()
    state = ExplorerState(dataset="digits", n_pool=256, n_test=64, generator_config=CFG, initial=20, per_round=4)
    job = GeneratorTraining.shared(state, watch=50)
    assert GeneratorTraining.shared(state) is job  # one job per load key: sessions watch the same training
    assert job.wait(300) and not job.error
    state.load()
    assert state.loaded and state.error == "" and state.latent is job.resources[1]


def test_a_failed_load_is_a_message_with_the_fix(tmp_path):
    job = GeneratorTraining("mnist", str(tmp_path / "nowhere")).run()
    assert job.done and job.phase == "error" and not job.snapshots
    assert "Traceback" not in job.error and len(job.error) > 20
    st = job.status()
    assert st.phase == "error" and job.error in st.text


def test_watching_reaches_only_its_own_thread(small_digits):
    import threading

    from latentlab.generative import get_generator, watching

    seen, other = [], []
    cfg = GeneratorConfig(epochs=1, min_steps=0, batch_size=64)

    def elsewhere():
        get_generator(small_digits, cfg, seed=1, progress=False, cache=False)
        other.append(True)

    with watching(seen.append, watch=10):
        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        get_generator(small_digits, cfg, seed=2, progress=False, cache=False)
    n = len(seen)  # one training (seed 2) reported: from epoch 0 to its end; the other thread's did not
    assert other and n >= 2 and [s.epoch for s in seen][:2] == [0.0, 1.0] and seen[-1].epoch == seen[-1].n_epochs
    assert seen[0].codes.shape == (10, 2) and sum(s.epoch == 0 for s in seen) == 1
    get_generator(small_digits, cfg, seed=3, progress=False, cache=False)
    assert len(seen) == n  # outside the block nothing reports


@pytest.mark.parametrize("phase", ["data", "training"])
def test_status_text_names_the_phase(phase):
    job = GeneratorTraining("digits")
    job.started, job.phase = 0.0, phase
    if phase == "training":
        from latentlab.generative import LatentSnapshot

        job.snapshots.append(LatentSnapshot(2.0, 30.0, 20, 300, 41.5, np.arange(3), np.zeros((3, 2), np.float32)))
    st = job.status()
    assert st.phase == phase
    assert ("epoch 2 of 30" in st.text and "loss 41.5" in st.text) if phase == "training" else "loading" in st.text
