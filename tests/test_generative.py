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
