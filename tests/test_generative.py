import numpy as np
import pytest
import torch

from latentlab import ResumeError, decode, encode, get_generator
from latentlab.storage import load_state, save_state
from latentlab.models import VAE


def test_vae_trains_encodes_and_decodes(vae, small_digits):
    z = encode(vae, small_digits.x_train)
    assert z.shape == (400, 2) and np.all(np.isfinite(z))
    x = decode(vae, z[:5])
    assert x.shape == (5, 1, 8, 8)
    # it learned something: reconstruction beats the mean image
    rec = decode(vae, z)
    mse = np.mean((rec - small_digits.x_train) ** 2)
    base = np.mean((small_digits.x_train - small_digits.x_train.mean(0)) ** 2)
    assert mse < 0.8 * base


def test_generator_cache_hit_returns_same_weights(vae, small_digits, quick_gen_config, _private_cache):
    from latentlab.generative import generator_key

    key = generator_key(small_digits.fingerprint(), quick_gen_config, 0)
    f = _private_cache / "generators" / f"digits-vae-{key}.pt"
    assert f.exists() and f.with_suffix(".json").exists()
    again = get_generator(small_digits, quick_gen_config, seed=0, progress=False)
    for a, b in zip(vae.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    v = VAE((1, 8, 8))
    save_state(v, tmp_path / "v.pt", meta={"a": 1})
    w = load_state(VAE((1, 8, 8)), tmp_path / "v.pt")
    assert all(torch.equal(a, b) for a, b in zip(v.state_dict().values(), w.state_dict().values()))
    with pytest.raises(ResumeError, match="does not fit this model"):
        load_state(VAE((1, 28, 28)), tmp_path / "v.pt")


def test_checkpoint_refuses_arbitrary_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception):  # weights_only=True refuses the global 'print'
        load_state(VAE((1, 8, 8)), tmp_path / "evil.pt")


# --------------------------------------------------------------------- issue 22: snapshots, shipped weights
def _tiny_config(**kw):
    from latentlab import GeneratorConfig

    return GeneratorConfig(**{"epochs": 3, "min_steps": 0, "batch_size": 64, **kw})


def test_snapshots_follow_every_epoch_and_leave_training_unchanged(small_digits):
    from latentlab.generative import latent_snapshots, train_generator

    x = small_digits.x_train  # 400 items, batch 64: 6 steps per epoch; ceil(3 * 400 / 64) = 19 steps
    plain = train_generator(x, _tiny_config(), seed=3, progress=False)
    model, snaps = latent_snapshots(x, _tiny_config(), seed=3, watch=100, progress=False)
    for a, b in zip(plain.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)  # encoding the watched subset touched no weight and no random stream
    assert [s.step for s in snaps] == [0, 6, 12, 18, 19] and snaps[-1].n_steps == 19
    assert [s.epoch for s in snaps] == [0.0, 1.0, 2.0, 3.0, 19 / 6]  # the last, partial epoch is shown too
    assert snaps[0].loss is None and all(np.isfinite(s.loss) for s in snaps[1:])
    idx = snaps[0].indices
    assert len(idx) == 100 and np.all(np.diff(idx) > 0) and all(np.array_equal(s.indices, idx) for s in snaps)
    assert all(s.codes.shape == (100, 2) for s in snaps)
    np.testing.assert_array_equal(snaps[-1].codes, encode(model, x[idx]))  # the last snapshot is the final map
    assert not np.allclose(snaps[0].codes, snaps[-1].codes)  # the map moved while it trained
    # the loss falls as the space forms
    assert snaps[-1].loss < snaps[1].loss


def test_snapshots_of_the_alphagan_hook(monkeypatch):
    from latentlab import GeneratorConfig
    from latentlab.generative import train_generator

    x = np.random.default_rng(0).random((32, 3, 32, 32), dtype=np.float32)
    cfg = GeneratorConfig(kind="alphagan", latent_dim=2, hidden=4, epochs=2, batch_size=8, lr=1e-3, min_steps=0)
    snaps = []
    a = train_generator(x, cfg, seed=1, progress=False, on_epoch=snaps.append, watch=10)
    b = train_generator(x, cfg, seed=1, progress=False)
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)
    assert [s.epoch for s in snaps] == [0.0, 1.0, 2.0] and snaps[-1].codes.shape == (10, 2)
    np.testing.assert_array_equal(snaps[-1].codes, encode(a, x[snaps[-1].indices]))


def test_v1_recipe_keeps_the_published_cache_key(digits):
    from latentlab.generative import GENERATOR_V1, GeneratorConfig, generator_key

    # the default before issue 22: the key every published digits/MNIST cache entry has
    assert generator_key(digits.fingerprint(), GENERATOR_V1, 0) == "8033a177edd541ed"
    assert "schedule" not in GENERATOR_V1.to_dict()  # a constant rate leaves older keys unchanged
    cos = GeneratorConfig(**{**GENERATOR_V1.to_dict(), "schedule": "cosine"})
    assert cos.to_dict()["schedule"] == "cosine" and generator_key("f", cos, 0) != generator_key("f", GENERATOR_V1, 0)


@pytest.fixture()
def ship(tmp_path, monkeypatch, small_digits):
    """A private shipped-weights folder holding one generator for small_digits, and a cache elsewhere."""
    from latentlab import generative
    from latentlab.generative import generator_key, train_generator

    cfg = _tiny_config(epochs=1)
    folder = tmp_path / "weights"
    monkeypatch.setattr(generative, "shipped_dir", lambda: folder)
    model = train_generator(small_digits.x_train, cfg, seed=0, progress=False)
    name = f"{small_digits.name}-vae-{generator_key(small_digits.fingerprint(), cfg, 0)}"
    meta = {"dataset": small_digits.name, "fingerprint": small_digits.fingerprint(), "config": cfg.to_dict(), "seed": 0}
    save_state(model, folder / f"{name}.pt", meta=meta)
    return cfg, model, folder / f"{name}.pt", tmp_path / "cache"


def _no_training(monkeypatch):
    from latentlab import generative

    def boom(*a, **k):
        raise AssertionError("trained although the shipped weights fit")

    monkeypatch.setattr(generative, "train_generator", boom)


def test_shipped_weights_load_without_training(ship, small_digits, monkeypatch):
    cfg, model, _, cache = ship
    _no_training(monkeypatch)
    got = get_generator(small_digits, cfg, seed=0, progress=False, root=cache)
    for a, b in zip(model.state_dict().values(), got.state_dict().values()):
        assert torch.equal(a, b)
    assert not (cache / "generators").exists()  # nothing copied: the package file is read in place


def test_shipped_weights_can_be_turned_off(ship, small_digits, monkeypatch):
    cfg, _, _, cache = ship
    monkeypatch.setenv("LATENTLAB_SHIPPED_WEIGHTS", "0")
    get_generator(small_digits, cfg, seed=0, progress=False, root=cache)
    assert any((cache / "generators").glob("*.pt"))  # trained and cached, the shipped file ignored


def test_shipped_weights_only_for_their_own_data_settings_and_seed(ship, small_digits):
    cfg, model, _, cache = ship
    other = small_digits.subset(n_pool=300, seed=1)  # another pool: another fingerprint, so it trains
    trained = get_generator(other, cfg, seed=0, progress=False, root=cache)
    assert (cache / "generators").exists()
    assert not all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values()))


def test_tampered_shipped_weights_are_refused_and_retrained(ship, small_digits):
    cfg, model, path, cache = ship
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="shipped generator .* not used .*SHA-256|shipped generator .* not used"):
        get_generator(small_digits, cfg, seed=0, progress=False, root=cache)
    assert any((cache / "generators").glob("*.pt"))  # trained and cached instead


def test_retrain_ignores_cache_and_shipped(ship, small_digits, monkeypatch):
    from latentlab import generative

    cfg, model, _, cache = ship
    calls = []
    real = generative.train_generator
    monkeypatch.setattr(generative, "train_generator", lambda *a, **k: calls.append(1) or real(*a, **k))
    get_generator(small_digits, cfg, seed=0, progress=False, root=cache, retrain=True)
    get_generator(small_digits, cfg, seed=0, progress=False, root=cache, retrain=True)  # cached now, still retrains
    assert len(calls) == 2
    get_generator(small_digits, cfg, seed=0, progress=False, root=cache)  # without the flag: the cache entry
    assert len(calls) == 2


def _shipped_entries():
    from latentlab.generative import shipped_dir

    return sorted(p.name for p in shipped_dir().glob("*.json"))


@pytest.mark.parametrize("entry", _shipped_entries())
def test_each_shipped_generator_is_the_default_one_for_its_data(entry, request):
    """A shipped file must be what get_generator asks for: the default settings, seed 0, the data set's
    current fingerprint, the recorded SHA-256; and get_generator must load it (no training)."""
    import json

    from latentlab import GeneratorConfig, load_dataset
    from latentlab.generative import generator_key, shipped_dir
    from latentlab.storage import sha256_file

    meta = json.loads((shipped_dir() / entry).read_text())
    assert sha256_file((shipped_dir() / entry).with_suffix(".pt")) == meta["sha256"]
    assert meta["config"] == GeneratorConfig().to_dict() and meta["seed"] == 0
    root = None if meta["dataset"] == "digits" else request.getfixturevalue("shared_data")  # MNIST: its files
    ds = load_dataset(meta["dataset"], root=root)
    assert meta["fingerprint"] == ds.fingerprint()
    assert entry == f"{ds.name}-vae-{generator_key(ds.fingerprint(), GeneratorConfig(), 0)}.json"


def test_the_digits_generator_ships(digits, tmp_path, monkeypatch):
    """The embedded data set's generator is in the package: an empty cache loads it without training."""
    from latentlab import GeneratorConfig

    _no_training(monkeypatch)
    g = get_generator(digits, GeneratorConfig(), seed=0, progress=False, root=tmp_path)
    z = encode(g, digits.x_train)
    assert z.shape == (len(digits.x_train), 2) and np.all(np.isfinite(z))
