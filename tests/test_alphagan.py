"""alpha-GAN (latentlab/alphagan.py): part shapes (Tables S1-S5 and the documented deviations), one
step lowers each player's loss, the generator interface, cache/checkpoint round-trips, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab import GeneratorConfig, decode, encode, get_generator
from latentlab.exceptions import ConfigError
from latentlab.alphagan import AlphaGAN, CodeDiscriminator, Decoder, Encoder, ImageDiscriminator, ResidualBlock
from latentlab.storage import load_state, save_state

SHAPE = (3, 32, 32)
TINY = dict(latent_dim=2, hidden=4, code_hidden=16)


def fake_images(n=16, seed=0):
    """Smooth coloured blobs in [0, 1], shape (n, 3, 32, 32): learnable, no data set needed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    cx, cy, col = rng.uniform(0.2, 0.8, (n, 1, 1)), rng.uniform(0.2, 0.8, (n, 1, 1)), rng.uniform(0, 1, (n, 3))
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.05)
    return (blob[:, None] * col[:, :, None, None]).astype(np.float32)


def test_part_shapes_follow_tables():
    x = torch.rand(5, *SHAPE)
    assert ResidualBlock(8)(torch.rand(2, 8, 16, 16)).shape == (2, 8, 16, 16)  # S1: channels and size kept
    enc = Encoder(SHAPE, latent_dim=2, channels=64)  # S2 at full width: 64 x 4 x 4 after 3 poolings (deviation 1)
    assert enc.fc.in_features == 64 * 4 * 4 and enc(x).shape == (5, 2)
    dec = Decoder(SHAPE, latent_dim=2, channels=64)  # S3 mirrored: fc to 64 x 4 x 4, upsampled (deviation 2)
    img = dec(torch.randn(5, 2))
    assert dec.fc[0].out_features == 1024 and img.shape == (5, *SHAPE)
    assert float(img.detach().min()) >= 0.0 and float(img.detach().max()) <= 1.0  # deviation 4: [0, 1]
    assert ImageDiscriminator(SHAPE, 64)(x).shape == (5,)  # S4: one logit
    cd = CodeDiscriminator(latent_dim=128)  # S5: 128 -> 700 -> 700 -> 1 (tables' latent size)
    assert [m.out_features for m in cd.net if isinstance(m, torch.nn.Linear)] == [700, 700, 1]
    assert cd(torch.randn(5, 128)).shape == (5,)


def test_latent_dim_and_bad_size():
    m = AlphaGAN(SHAPE, latent_dim=3, hidden=4)
    assert m.latent_dim == 3 and m.encode(torch.rand(2, *SHAPE)).shape == (2, 3)
    with pytest.raises(ValueError, match="divisible by 8"):
        AlphaGAN((1, 28, 28), hidden=4)


def test_one_step_lowers_each_loss():
    torch.manual_seed(0)
    m = AlphaGAN(SHAPE, **TINY).train()
    x = torch.as_tensor(fake_images(16))
    zp = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    opts = m.optimizers(lr=1e-3)

    @torch.no_grad()
    def losses():
        loss_eg, _, (z, xr, xg) = m.loss_eg(x, zp)
        return float(loss_eg), float(m.loss_d(x, xr, xg)), float(m.loss_c(zp, z))

    before = losses()
    for _ in range(3):  # a few steps on the fixed batch; each player's own loss must go down
        m.train_step(x, zp, opts)
    eg0, d0, c0 = before
    # all three measured on the same batch and noise, after all players moved (BN in batch-stat mode)
    eg1, d1, c1 = losses()
    assert eg1 < eg0 and d1 < d0 and c1 < c0


def test_interface_round_trip_and_checkpoint(tmp_path):
    m = AlphaGAN(SHAPE, **TINY).eval()
    x = fake_images(6)
    z = encode(m, x)
    assert z.shape == (6, 2) and z.dtype == np.float32
    xr = decode(m, z)
    assert xr.shape == (6, *SHAPE)
    digest = save_state(m, tmp_path / "g.pt")  # plain state_dict: loads with weights_only=True
    m2 = load_state(AlphaGAN(SHAPE, **TINY), tmp_path / "g.pt", sha256=digest).eval()
    np.testing.assert_array_equal(encode(m2, x), z)
    np.testing.assert_array_equal(decode(m2, z), xr)


CFG = GeneratorConfig(kind="alphagan", latent_dim=2, hidden=4, epochs=2, batch_size=8, lr=1e-3, min_steps=0)


def test_resume_gives_same_weights(tmp_path):
    x = fake_images(16)
    torch.manual_seed(0)
    straight = AlphaGAN(SHAPE, **TINY)
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    h_straight = straight.fit_model(x, CFG, seed=3, progress=False)
    assert [r["epoch"] for r in h_straight] == [1, 2]

    resumed = AlphaGAN(SHAPE, **TINY)
    resumed.load_state_dict(init)
    resumed.fit_model(x, CFG, seed=3, progress=False, checkpoint_dir=tmp_path, max_epochs=1)  # "killed" after 1
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1
    again = AlphaGAN(SHAPE, **TINY)  # a fresh process: everything comes from the checkpoint
    h = again.fit_model(x, CFG, seed=3, progress=False, checkpoint_dir=tmp_path)
    assert [r["epoch"] for r in h] == [1, 2]
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v, rtol=0, atol=0)


def test_get_generator_trains_through_hook_and_caches(tmp_path):
    from latentlab.datasets import Dataset

    x = fake_images(24)
    ds = Dataset(
        name="blobs",
        x_train=x,
        y_train=np.zeros(24, np.int64),
        x_test=x[:4],
        y_test=np.zeros(4, np.int64),
        classes=("blob",),
    )
    g1 = get_generator(ds, CFG, seed=0, progress=False, root=tmp_path)
    files = sorted(p.name for p in (tmp_path / "generators").iterdir())
    assert any(f.endswith(".pt") for f in files) and not any(f.endswith(".ckpt") for f in files)  # ckpt dropped
    g2 = get_generator(ds, CFG, seed=0, progress=False, root=tmp_path)  # from the cache
    np.testing.assert_array_equal(encode(g1, x), encode(g2, x))


def test_warmup_epochs_train_the_autoencoder_first_and_resume(tmp_path):
    x = fake_images(16)
    kw = dict(TINY, warmup_epochs=1)
    torch.manual_seed(0)
    straight = AlphaGAN(SHAPE, **kw)
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    disc0 = {k: v.clone() for k, v in straight.image_disc.state_dict().items()}
    h = straight.fit_model(x, CFG, seed=3, progress=False, max_epochs=1)  # the warm-up epoch only
    assert [sorted(r) for r in h] == [["epoch", "l1", "seconds"]]
    for k, v in straight.image_disc.state_dict().items():  # the discriminators sit the warm-up out
        torch.testing.assert_close(v, disc0[k], rtol=0, atol=0)

    straight = AlphaGAN(SHAPE, **kw)
    straight.load_state_dict(init)
    h = straight.fit_model(x, CFG, seed=3, progress=False)
    assert [r["epoch"] for r in h] == [1, 2, 3] and "d" not in h[0] and "d" in h[1]  # 1 warm-up + 2 epochs
    resumed = AlphaGAN(SHAPE, **kw)
    resumed.load_state_dict(init)
    resumed.fit_model(x, CFG, seed=3, progress=False, checkpoint_dir=tmp_path, max_epochs=2)  # killed mid-way
    again = AlphaGAN(SHAPE, **kw)
    h2 = again.fit_model(x, CFG, seed=3, progress=False, checkpoint_dir=tmp_path)
    assert [sorted(r) for r in h2] == [sorted(r) for r in h]  # the warm-up row keeps its own keys
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v, rtol=0, atol=0)


def test_generator_options_reach_the_model_and_key():
    from latentlab.generative import build_generator, generator_key

    plain = CFG
    warm = GeneratorConfig(**{**plain.to_dict(), "options": [["warmup_epochs", 2]]})  # JSON-style lists
    assert warm.options == (("warmup_epochs", 2),) and "options" not in plain.to_dict()
    assert build_generator(warm, SHAPE).warmup_epochs == 2 and build_generator(plain, SHAPE).warmup_epochs == 0
    assert generator_key("f", warm, 0) != generator_key("f", plain, 0)
    assert generator_key("f", GeneratorConfig(**plain.to_dict(), options=()), 0) == generator_key("f", plain, 0)
    with pytest.raises(ConfigError, match="warmup_epochs must be"):
        AlphaGAN(SHAPE, **TINY, warmup_epochs=-1)
    with pytest.raises(ConfigError, match="name, value"):
        GeneratorConfig(options=(1, 2))
