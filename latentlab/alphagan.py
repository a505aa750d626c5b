"""alpha-GAN (Rosca et al. 2017) of the paper's Tables S1-S5: the CIFAR-10 generator.

Four parts, all built from the residual block of Table S1 with ``c`` channels (64 in the tables,
``hidden`` here so that a CPU profile can shrink it):

* :class:`Encoder` (Table S2) ``x -> z``: conv5(3->c) - avgpool - ReLU - [res - avgpool] x2 - res -
  flatten (c * H/8 * W/8) - fc(latent_dim).
* :class:`Decoder` (the table's "generator", Table S3) ``z -> x``: fc(latent_dim -> c * H/8 * W/8) -
  ReLU - [res - upsample x2] x3 - res - conv1(c->3) - tanh, mapped to [0, 1].
* :class:`ImageDiscriminator` (Table S4): the encoder's body with fc(... -> 1), a logit.
* :class:`CodeDiscriminator` (Table S5): latent_dim -> 700 -> 700 -> 1, leaky ReLU, a logit.

:class:`AlphaGAN` bundles them behind the generator interface of :mod:`latentlab.generative`
(``encode``, ``decode``, ``latent_dim``), so every strategy, ``trajectory`` and the widgets use it
unchanged. Its training is not one loss: three optimisers alternate per minibatch (encoder+decoder,
image discriminator, code discriminator). :meth:`AlphaGAN.fit_model` is that loop, the hook
:func:`latentlab.generative.train_generator` calls instead of the generic ``fit``.

Deviations from the tables, and why
-----------------------------------
1. **Flatten size.** Tables S2/S4 pool three times (32 -> 4) but then use a 65536-wide linear layer
   (= 64 x 32 x 32, i.e. no pooling). We keep the pooling, so the linear layer takes
   ``c * 4 * 4`` = 1024 inputs at c = 64: a 65536 x 2 code layer on unpooled maps would also make the
   residual blocks run at 32 x 32 (16x the cost) for no stated reason.
2. **Decoder upsamples.** Table S3 lists *average pooling* between the decoder's residual blocks after a
   fc to 65536 (= 64 x 32 x 32); pooling would shrink the image to 4 x 4. We read it as the mirror of
   the encoder: fc to ``c x 4 x 4``, then nearest-neighbour upsampling x2 three times back to 32 x 32.
3. **Latent dimension** 2 by default (the paper's text, Section 4.3); the tables say 128.
   ``latent_dim`` is a parameter.
4. **Output range.** Table S3 ends in tanh ([-1, 1]); our images live in [0, 1], so the decoder
   returns ``(tanh(h) + 1) / 2``.
5. **Discriminators return logits**; the sigmoid of Table S5 lives in the loss
   (``binary_cross_entropy_with_logits``, numerically stable). Same model.
6. **Residual block** (Table S1) lists conv-BN-LReLU-conv-BN-LReLU but no skip; we add the input
   (``x + block(x)``), which is what makes it residual. Leaky ReLU slope 0.2 (not given).
7. **Width.** ``hidden`` (base channels, 64 in the tables) scales all four convolutional parts; the
   ``cpu`` profile uses 16 (Appendix numbers in BENCHMARKS.md). The code discriminator keeps 700.
8. **Losses** (Rosca et al. 2017, Algorithm 1, with the non-saturating GAN loss): encoder+decoder
   minimise ``rec_weight * L1(x, G(E(x))) + BCE(D(G(E(x))), 1) + BCE(D(G(z)), 1) + BCE(C(E(x)), 1)``,
   z ~ N(0, I); the image discriminator minimises ``BCE(D(x), 1) + BCE(D(G(E(x))), 0) + BCE(D(G(z)), 0)``,
   the code discriminator ``BCE(C(z), 1) + BCE(C(E(x)), 0)``. The paper gives no weights; L1 is the
   per-pixel mean, weighted 20 so that reconstruction dominates (the SNN method needs a faithful
   encoder/decoder more than sharp samples). Adam with betas (0.5, 0.999), the usual GAN setting.
9. **Warm-up** (not in the paper, off by default): ``warmup_epochs`` of plain autoencoder training
   (the L1 term alone) before the adversarial epochs; set through ``GeneratorConfig.options``.

What SNN needs from the codes (nearby codes share class) is measured by :mod:`latentlab.quality`
and ``benchmarks/generator_quality.py``. At 2-D on the ``cpu`` profile the codes' 5-NN class
accuracy stays at the level of trivial 2-D embeddings of the pixels (mean colour, PCA-2); a larger
``latent_dim`` (e.g. 16) clears them (numbers in :mod:`latentlab.profiles`); the explorer then
draws the PCA-2 plane of the codes (:attr:`latentlab.latent.LatentSpace.view`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .models import register_generator

__all__ = ["ResidualBlock", "Encoder", "Decoder", "ImageDiscriminator", "CodeDiscriminator", "AlphaGAN"]


class ResidualBlock(nn.Module):
    """Table S1: ``x + LReLU(BN(conv3(LReLU(BN(conv3(x))))))``, channels unchanged."""

    def __init__(self, channels: int, slope: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.BatchNorm2d(channels),
            nn.LeakyReLU(slope),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.BatchNorm2d(channels),
            nn.LeakyReLU(slope),
        )

    def forward(self, x):
        return x + self.body(x)


def _check_shape(image_shape):
    c, h, w = (int(s) for s in image_shape)
    if h % 8 or w % 8:
        raise ValueError(
            f"alpha-GAN needs image height and width divisible by 8 (three 2x poolings), "
            f"got {h}x{w}; resize or pad the images (CIFAR-10 is 32x32)"
        )
    return c, h, w


class _ConvTrunk(nn.Module):
    """Shared body of Tables S2/S4: conv5 - avgpool - ReLU - res - avgpool - res - avgpool - res - flatten."""

    def __init__(self, image_shape, channels: int):
        super().__init__()
        c, h, w = _check_shape(image_shape)
        self.net = nn.Sequential(
            nn.Conv2d(c, channels, 5, 1, 2),
            nn.AvgPool2d(2),
            nn.ReLU(),
            ResidualBlock(channels),
            nn.AvgPool2d(2),
            ResidualBlock(channels),
            nn.AvgPool2d(2),
            ResidualBlock(channels),
            nn.Flatten(),
        )
        self.n_flat = channels * (h // 8) * (w // 8)

    def forward(self, x):
        return self.net(x)


class Encoder(nn.Module):
    """Table S2: image (n, C, H, W) -> code (n, latent_dim)."""

    def __init__(self, image_shape, latent_dim: int = 2, channels: int = 64):
        super().__init__()
        self.trunk = _ConvTrunk(image_shape, channels)
        self.fc = nn.Linear(self.trunk.n_flat, latent_dim)

    def forward(self, x):
        return self.fc(self.trunk(x))


class Decoder(nn.Module):
    """Table S3 (the "generator"): code (n, latent_dim) -> image (n, C, H, W) in [0, 1]."""

    def __init__(self, image_shape, latent_dim: int = 2, channels: int = 64):
        super().__init__()
        c, h, w = _check_shape(image_shape)
        self.start = (channels, h // 8, w // 8)
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), nn.ReLU())
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        self.net = nn.Sequential(
            ResidualBlock(channels),
            up(),
            ResidualBlock(channels),
            up(),
            ResidualBlock(channels),
            up(),
            ResidualBlock(channels),
            nn.Conv2d(channels, c, 1, 1, 0),
        )

    def forward(self, z):
        h = self.net(self.fc(z).view(-1, *self.start))
        return (torch.tanh(h) + 1.0) / 2.0


class ImageDiscriminator(nn.Module):
    """Table S4: image (n, C, H, W) -> real/fake logit (n,)."""

    def __init__(self, image_shape, channels: int = 64):
        super().__init__()
        self.trunk = _ConvTrunk(image_shape, channels)
        self.fc = nn.Linear(self.trunk.n_flat, 1)

    def forward(self, x):
        return self.fc(self.trunk(x)).squeeze(1)


class CodeDiscriminator(nn.Module):
    """Table S5: code (n, latent_dim) -> prior/encoded logit (n,); 700 hidden units, leaky ReLU."""

    def __init__(self, latent_dim: int = 2, hidden: int = 700, slope: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(slope),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(slope),
            nn.Linear(hidden, 1),
        )

    def forward(self, z):
        return self.net(z).squeeze(1)


def _bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


@register_generator("alphagan")
class AlphaGAN(nn.Module):
    """alpha-GAN generator: encoder E, decoder G, image discriminator D, code discriminator C.

    Parameters
    ----------
    image_shape : tuple (C, H, W)
        H and W divisible by 8 (32x32 for CIFAR-10).
    latent_dim : int
        2 (the paper's text; the tables say 128).
    hidden : int
        Base channel count of E, G and D (64 in Tables S1-S4; 16 in the ``cpu`` profile).
    code_hidden : int
        Width of the code discriminator (700, Table S5).
    rec_weight : float
        Weight of the per-pixel-mean L1 reconstruction term (not given in the paper).
    warmup_epochs : int
        Epochs of plain autoencoder training (E and G on the L1 term alone, Adam at ``warmup_lr``)
        before the adversarial epochs; 0 (default) starts adversarial. Not in the paper: a warm
        start gives the adversarial game an encoder that already separates images.
    warmup_lr : float
        Adam learning rate of the warm-up (default betas).
    """

    def __init__(
        self,
        image_shape,
        latent_dim: int = 2,
        hidden: int = 64,
        code_hidden: int = 700,
        rec_weight: float = 20.0,
        warmup_epochs: int = 0,
        warmup_lr: float = 1e-3,
    ):
        super().__init__()
        if int(warmup_epochs) != warmup_epochs or warmup_epochs < 0:
            from .exceptions import ConfigError

            raise ConfigError(f"warmup_epochs must be a whole number >= 0, got {warmup_epochs!r}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        self.rec_weight = float(rec_weight)
        self.warmup_epochs = int(warmup_epochs)
        self.warmup_lr = float(warmup_lr)
        self.encoder = Encoder(image_shape, latent_dim, hidden)
        self.decoder = Decoder(image_shape, latent_dim, hidden)
        self.image_disc = ImageDiscriminator(image_shape, hidden)
        self.code_disc = CodeDiscriminator(latent_dim, code_hidden)

    # ------------------------------------------------------------------ generator interface
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic code E(x), shape (n, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images G(z) in [0, 1], shape (n, C, H, W)."""
        return self.decoder(z)

    # ------------------------------------------------------------------ the three objectives
    def loss_eg(self, x, z_prior):
        """Encoder+decoder objective on images x (n, C, H, W) and prior codes z_prior (n, latent_dim).

        Returns ``(loss, parts, (z, x_rec, x_gen))``; the tensors are reused (detached) by the
        discriminators' objectives so one update costs one pass of E and two of G.
        """
        z = self.encoder(x)
        x_rec = self.decoder(z)
        x_gen = self.decoder(z_prior)
        rec = (x_rec - x).abs().mean()
        adv = _bce(self.image_disc(x_rec), 1.0) + _bce(self.image_disc(x_gen), 1.0)
        code = _bce(self.code_disc(z), 1.0)
        parts = {"l1": float(rec.detach()), "adv": float(adv.detach()), "code": float(code.detach())}
        return self.rec_weight * rec + adv + code, parts, (z.detach(), x_rec.detach(), x_gen.detach())

    def loss_d(self, x, x_rec, x_gen):
        """Image-discriminator objective: real ``x`` vs reconstructed ``x_rec`` and sampled ``x_gen``."""
        return _bce(self.image_disc(x), 1.0) + _bce(self.image_disc(x_rec), 0.0) + _bce(self.image_disc(x_gen), 0.0)

    def loss_c(self, z_prior, z):
        """Code-discriminator objective: N(0, I) codes ``z_prior`` vs encoded codes ``z``."""
        return _bce(self.code_disc(z_prior), 1.0) + _bce(self.code_disc(z), 0.0)

    def optimizers(self, lr: float = 2e-4, betas=(0.5, 0.999)) -> dict:
        """One Adam per player: ``{"eg", "d", "c"}``, and ``"ae"`` (the warm-up's) when ``warmup_epochs`` > 0."""
        eg = list(self.encoder.parameters()) + list(self.decoder.parameters())
        opts = {
            "eg": torch.optim.Adam(eg, lr=lr, betas=betas),
            "d": torch.optim.Adam(self.image_disc.parameters(), lr=lr, betas=betas),
            "c": torch.optim.Adam(self.code_disc.parameters(), lr=lr, betas=betas),
        }
        if self.warmup_epochs:
            opts["ae"] = torch.optim.Adam(eg, lr=self.warmup_lr)
        return opts

    def warmup_step(self, x, opt) -> dict:
        """One plain-autoencoder update of E and G on the per-pixel-mean L1 of ``x``; returns ``{"l1"}``."""
        opt.zero_grad(set_to_none=True)
        rec = (self.decoder(self.encoder(x)) - x).abs().mean()
        rec.backward()
        opt.step()
        return {"l1": float(rec.detach())}

    def train_step(self, x, z_prior, opts: dict) -> dict:
        """One alternating update on a minibatch: E+G, then D, then C (each on the E+G outputs of
        this step, detached). Returns the losses as floats: ``eg, d, c`` and the parts ``l1, adv, code``."""
        for k in ("eg", "d", "c"):
            opts[k].zero_grad(set_to_none=True)
        loss, out, (z, x_rec, x_gen) = self.loss_eg(x, z_prior)
        loss.backward()
        opts["eg"].step()
        out["eg"] = float(loss.detach())
        for name, loss in (("d", lambda: self.loss_d(x, x_rec, x_gen)), ("c", lambda: self.loss_c(z_prior, z))):
            opts[name].zero_grad(set_to_none=True)  # drop the grads the E+G pass left on this player
            value = loss()
            value.backward()
            opts[name].step()
            out[name] = float(value.detach())
        return out

    # ------------------------------------------------------------------ training hook
    def fit_model(
        self,
        x: np.ndarray,
        config,
        *,
        seed: int = 0,
        progress: bool = True,
        checkpoint_dir=None,
        device=None,
        max_epochs: int | None = None,
        on_epoch=None,
    ) -> list[dict]:
        """Train on images ``x`` (n, C, H, W) in [0, 1]; the hook ``train_generator`` calls.

        Epochs: ``warmup_epochs`` of plain autoencoder training, then
        ``max(ceil(config.epochs), ceil(config.min_steps / steps_per_epoch))`` adversarial ones, each a
        reshuffled pass without the ragged tail. The shuffle and the prior noise of epoch ``e``
        derive from ``(seed, e)`` only, so training resumed from the checkpoint of epoch ``e``
        gives the same weights, bit for bit, as uninterrupted training.

        Parameters
        ----------
        config : latentlab.generative.GeneratorConfig (epochs, batch_size, lr, min_steps)
        checkpoint_dir : path, optional
            ``last.pt`` there (model + optimiser states + epoch + history) is written after every
            epoch and resumed from when present; loaded with ``weights_only=True``.
        device : torch.device or str, optional
            Where to train (the model's current device by default). The model is left there.
        max_epochs : int, optional
            Stop after this many epochs in total, warm-up included (for tests and for "train a
            little now, resume later").
        on_epoch : callable, optional
            ``on_epoch(epoch, n_epochs, record)`` after every epoch (``record``: that epoch's row of
            the history); :func:`latentlab.generative.train_generator` draws the latent space with it.
            It must not change the model (the model is back in training mode afterwards).

        Returns
        -------
        list of dict
            Per-epoch mean losses ``{"epoch", "eg", "d", "c", "l1", "adv", "code", "seconds"}``
            (warm-up epochs: ``{"epoch", "l1", "seconds"}``).
        """
        from tqdm.auto import tqdm

        dev = torch.device(device) if device is not None else next(self.parameters()).device
        self.to(dev)
        n = len(x)
        bs = min(int(config.batch_size), n)
        per_epoch = max(n // bs, 1)
        n_epochs = self.warmup_epochs + max(math.ceil(config.epochs), math.ceil(config.min_steps / per_epoch), 1)
        stop = n_epochs if max_epochs is None else min(n_epochs, max_epochs)
        opts = self.optimizers(lr=config.lr)
        ckpt = Path(checkpoint_dir) / "last.pt" if checkpoint_dir else None
        state = _load_checkpoint(ckpt, dev) if ckpt is not None and ckpt.exists() else None
        start, history = self._resume(state, opts) if state is not None else (0, [])
        xt = torch.as_tensor(x, dtype=torch.float32)
        self.train()
        with tqdm(
            total=stop * per_epoch,
            initial=start * per_epoch,
            desc="alphagan training",
            disable=not progress,
            leave=False,
        ) as bar:
            for epoch in range(start, stop):
                rec = self._fit_epoch(xt, epoch, opts, seed=seed, batch_size=bs, n_steps=per_epoch, device=dev, bar=bar)
                history.append(rec)
                if ckpt is not None:
                    _save_checkpoint(ckpt, self, opts, epoch + 1, history)
                if on_epoch is not None:
                    on_epoch(epoch + 1, stop, rec)
                    self.train()
        self.eval()
        self.train_history = history  # get_generator keeps it in the cache's JSON sidecar
        return history

    def _resume(self, state: dict, opts: dict) -> tuple[int, list[dict]]:
        """Load a verified checkpoint's model and optimiser states; ``(epochs done, history so far)``."""
        self.load_state_dict(state["model"])
        for k, o in opts.items():
            o.load_state_dict(state["opt_" + k])
        history = [
            {k: v for k, v in zip(state["history_keys"], row) if not math.isnan(v)} for row in state["history"].tolist()
        ]
        return int(state["epoch"]), history

    def _fit_epoch(self, xt, epoch: int, opts: dict, *, seed: int, batch_size: int, n_steps: int, device, bar) -> dict:
        """Epoch ``epoch`` (0-based): ``n_steps`` minibatches of a reshuffled pass over the images ``xt``,
        warm-up or adversarial; returns its history row (mean losses, ``epoch`` counted from 1, seconds).

        Everything random (the shuffle, the prior noise) comes from one stream seeded by
        ``(seed, epoch)``, drawn in the same order every time: that is what makes resuming exact.
        """
        from .training import torch_generator

        t0 = time.perf_counter()
        warm = epoch < self.warmup_epochs
        # warm-up epochs draw from their own stream; adversarial epoch e keeps (seed, 11, e)
        g = torch_generator([seed, 13, epoch] if warm else [seed, 11, epoch - self.warmup_epochs])
        perm = torch.randperm(len(xt), generator=g)
        sums: dict = {}
        for s in range(n_steps):
            xb = xt[perm[s * batch_size : (s + 1) * batch_size]].to(device)
            if warm:
                out = self.warmup_step(xb, opts["ae"])
            else:
                zp = torch.randn(len(xb), self.latent_dim, generator=g).to(device)
                out = self.train_step(xb, zp, opts)
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
            if s % 10 == 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in out.items() if k in ("l1", "d", "c")}, refresh=False)
        return {"epoch": epoch + 1, **{k: v / n_steps for k, v in sums.items()}, "seconds": time.perf_counter() - t0}


def _save_checkpoint(path: Path, model, opts, epoch: int, history: list[dict]) -> None:
    from .storage import atomic_path, write_sidecar

    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in history for k in r))  # warm-up rows have fewer keys: NaN there
    state = {
        "model": model.state_dict(),
        "epoch": epoch,
        "history_keys": keys,
        "history": torch.tensor([[float(r.get(k, math.nan)) for k in keys] for r in history], dtype=torch.float64),
        **{"opt_" + k: o.state_dict() for k, o in opts.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    write_sidecar(path)  # load_torch checks it: a checkpoint without a matching checksum is never resumed


def _load_checkpoint(path: Path, device):
    """The training checkpoint at ``path`` once its checksum is verified; else None with a warning (train afresh)."""
    import warnings

    from .exceptions import ResumeError
    from .storage import load_torch

    try:
        state = load_torch(path, fix="training the generator from its first epoch", map_location=device)
        if not isinstance(state, dict) or not {"model", "epoch", "history", "history_keys"} <= set(state):
            raise ResumeError(f"{path} is not an alpha-GAN training checkpoint; training from its first epoch")
    except ResumeError as e:
        warnings.warn(str(e), stacklevel=3)
        return None
    return state
