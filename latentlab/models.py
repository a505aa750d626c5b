"""Network architectures of the paper's Appendix A.3, adapted to the input size.

* :class:`VAE` — the MLP VAE of Tables S9/S10 (S11/S12 for IVUS are the same with 4096 inputs).
* :class:`LeNet` — the MNIST target model of Table S7.
* :class:`LeNetDropout` — the same with dropout in its head, for MC-dropout strategies (BALD, BatchBALD).

Registries ``GENERATORS`` and ``TARGETS`` map names to builders so that configs name models by
string, and a miss lists the valid names.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .registry import Registry

__all__ = [
    "VAE",
    "LeNet",
    "LeNetDropout",
    "GENERATORS",
    "TARGETS",
    "register_generator",
    "register_target",
    "build_target",
]

GENERATORS = Registry("generator")  # name -> class(image_shape, **GeneratorConfig.model_kwargs())
TARGETS = Registry("target model")  # name -> builder(image_shape, n_outputs, **kwargs)


def register_generator(name: str, *, replace: bool = False):
    """Decorator: register a generator class under ``name`` (``GeneratorConfig.kind``, ``--generator``).

    The class is built as ``cls(image_shape, latent_dim=..., hidden=..., **options)`` and must offer
    ``encode(x) -> z`` (posterior means), ``decode(z) -> x`` (images in [0, 1]), ``latent_dim``, and
    either ``loss(x) -> scalar`` or its own ``fit_model(...)`` (see :mod:`latentlab.generative`).
    A taken name is refused unless ``replace=True``. A pretrained model needs no registration: pass
    it to ``run_experiment(generator=...)``.
    """
    return GENERATORS.register(name, replace=replace)


def register_target(name: str, *, replace: bool = False):
    """Decorator: register a target-model builder under ``name`` (``LoopConfig.target``, ``--target``).

    The builder is called as ``builder(image_shape, n_outputs, **target_kwargs)`` with ``image_shape``
    = (C, H, W) and ``n_outputs`` the classes (or regression channels) and returns an ``nn.Module``
    mapping (n, C, H, W) float32 to (n, n_outputs) logits. A taken name is refused unless
    ``replace=True``. An in-memory class needs no registration: pass it to ``run_experiment(target=...)``.
    """
    return TARGETS.register(name, replace=replace)


@register_generator("vae")
class VAE(nn.Module):
    """MLP VAE (Tables S9/S10): ``in -> 400 -> 400 -> (mu, logvar)``; ``z -> 400 -> 400 -> in``, sigmoid.

    Parameters
    ----------
    image_shape : tuple (C, H, W)
        Input size is taken from the data (784 for MNIST, 64 for 8x8 digits, 4096 for 64x64 masks).
    latent_dim : int
        2 by default (the paper's text; its tables say 15): a 2-D latent space is what can be watched.
    hidden : int
        400 as in the tables.

    Notes
    -----
    The decoder ends in a sigmoid and the reconstruction loss is the Bernoulli log-likelihood
    (binary cross-entropy summed over pixels), the usual choice for images in [0, 1].
    """

    def __init__(self, image_shape, latent_dim: int = 2, hidden: int = 400):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        d = math.prod(self.image_shape)
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.dec = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, d)
        )

    def posterior(self, x: torch.Tensor):
        h = self.enc(x)
        return self.mu(h), self.logvar(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean, shape (n, latent_dim)."""
        return self.posterior(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z).view(-1, *self.image_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], shape (n, C, H, W)."""
        return torch.sigmoid(self.decode_logits(z))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per image (BCE summed over pixels + KL), averaged over the batch."""
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (rec + kl) / len(x)


@register_target("lenet")
class LeNet(nn.Module):
    """LeNet of Table S7: conv5(20) - pool - conv5(50) - pool - fc(500) - fc(classes).

    The flatten size follows the input (800 for 28x28 as in the table). Inputs smaller than
    16x16 (the 8x8 digits) cannot take two unpadded 5x5 convolutions, so the convolutions then
    use padding 2 ("same"), giving 50x2x2 = 200 features for 8x8 inputs.
    """

    def __init__(self, image_shape, n_classes: int = 10, width: float = 1.0):
        super().__init__()
        c, h, w = image_shape
        pad = 0 if min(h, w) >= 16 else 2
        c1, c2, fc = max(1, round(20 * width)), max(1, round(50 * width)), max(1, round(500 * width))
        self.features = nn.Sequential(
            nn.Conv2d(c, c1, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, c, h, w)).shape[1]
        self.classifier = nn.Sequential(nn.Linear(n_flat, fc), nn.ReLU(), nn.Linear(fc, n_classes))

    def forward(self, x):
        return self.classifier(self.features(x))

    def mc_split(self) -> tuple[nn.Module, nn.Module]:
        """``(trunk, head)`` with ``forward(x) == head(trunk(x))``: MC dropout runs the trunk once."""
        return self.features, self.classifier


@register_target("lenet-dropout")
class LeNetDropout(LeNet):
    """LeNet of Table S7 with dropout, for Monte-Carlo dropout (BALD, BatchBALD).

    ``conv block - Dropout(conv_p) - fc(500) - ReLU - Dropout(p) - fc(classes)``: dropout before each
    fc layer, the first one on the conv block's output. This is the MNIST model of Gal et al. (2017,
    "Deep Bayesian active learning with image data": 0.25 after the conv block, 0.5 before the last
    fc layer). Every dropout sits in the head, after the deterministic conv block, so
    :func:`latentlab.predictive.mc_dropout_probs` runs the conv block once and only the small head
    ``K`` times. In eval mode (training, evaluation, entropy) the model is the plain LeNet.

    Parameters
    ----------
    image_shape, n_classes, width
        As :class:`LeNet`.
    p : float
        Dropout before the last fc layer, in [0, 1) (default 0.5).
    conv_p : float
        Dropout on the conv block's output (the first fc layer's input), in [0, 1) (default 0.25).
    """

    def __init__(self, image_shape, n_classes: int = 10, width: float = 1.0, p: float = 0.5, conv_p: float = 0.25):
        super().__init__(image_shape, n_classes, width)
        for name, v in (("p", p), ("conv_p", conv_p)):
            if not (isinstance(v, (int, float)) and 0 <= v < 1):
                raise ValueError(f"lenet-dropout: {name} must be a dropout rate in [0, 1), got {v!r}")
        fc1, fc2 = self.classifier[0], self.classifier[2]
        self.classifier = nn.Sequential(nn.Dropout(conv_p), fc1, nn.ReLU(), nn.Dropout(p), fc2)


def build_target(name: str, image_shape, n_outputs: int, **kwargs) -> nn.Module:
    """Build a registered target model; an unknown name lists the valid ones."""
    return TARGETS.resolve(name)(image_shape, n_outputs, **kwargs)
