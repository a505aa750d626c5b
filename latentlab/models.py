"""Network architectures of the paper's Appendix A.3, adapted to the input size.

* :class:`VAE` — the MLP VAE of Tables S9/S10 (S11/S12 for IVUS are the same with 4096 inputs).
* :class:`LeNet` — the MNIST target model of Table S7.
* :class:`LeNetDropout` — the same with dropout in its head, for MC-dropout strategies (BALD, BatchBALD).

Registries ``GENERATORS`` and ``TARGETS`` map names to builders so that configs name models by
string, and a miss lists the valid names.
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn
from torch.nn import functional as F

from .registry import Registry

__all__ = [
    "VAE",
    "LeNet",
    "LeNetDropout",
    "MaxPool2",
    "max_pool2",
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


# --------------------------------------------------------------------------- 2x2 max-pool
# Hand-written in torch ops what ATen's NCHW float32 CPU kernel does (cpu_max_pool in
# MaxPoolKernel.cpp): it scans each window in row order from -inf and takes an element when
# ``val > maxval or isnan(val)``, so without NaNs it keeps the first of tied maxima. Here the four
# stride-2 slices a b / c d are compared pairwise (``b > a``, ``d > c``, then the two winners):
# strict ">" with the first kept is associative, so the tree finds the element the scan finds, and
# gives ATen's int64 indices. The output is gathered from the input at those indices (its bits, signed
# zeros included), and the backward is ATen's own, fed the same indices: values and gradients are
# bit for bit those of F.max_pool2d. An input with a NaN goes to F.max_pool2d. On NCHW tensors one
# thread runs this in ~3/4 of the kernel's time (forward + backward of LeNet's first pool on 64 MNIST
# images, BENCHMARKS.md#perf-train-step). Channels-last tensors keep ATen's channels-last kernel,
# which is faster still; training F on one-channel images runs channels-last (see fit), so there
# this pool steps aside, and it serves NCHW inputs (the legacy inference path, several channels).
_BASE_INDEX: dict = {}


def fast_pool() -> bool:
    """False when ``LATENTLAB_FAST_POOL`` is ``0``/``off``/``false``: :class:`MaxPool2` then calls F.max_pool2d."""
    return os.environ.get("LATENTLAB_FAST_POOL", "1").strip().lower() not in ("0", "off", "false", "no")


def _pool2_applies(x: torch.Tensor) -> bool:
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and x.ndim == 4
        and x.shape[2] % 2 == 0
        and x.shape[3] % 2 == 0
        and x.numel() > 0
        and x.is_contiguous()  # NCHW only: a channels-last input keeps ATen's channels-last kernel
        and not bool(torch.isnan(x.sum()))  # a NaN anywhere makes the sum NaN: ATen's NaN rule then
    )


def _base_index(h2: int, w2: int, w: int) -> torch.Tensor:
    key = (h2, w2, w)
    if key not in _BASE_INDEX:  # flat index of each window's top-left element in its (H, W) plane
        _BASE_INDEX[key] = (torch.arange(h2).view(-1, 1) * (2 * w) + torch.arange(w2).view(1, -1) * 2).contiguous()
    return _BASE_INDEX[key]


def _pool2_indices(x: torch.Tensor) -> torch.Tensor:
    """ATen's indices of the 2x2 max-pool of ``x`` (NaN-free, NCHW): flat offsets in each (H, W) plane."""
    a, b = x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]
    c, d = x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]
    right_top, right_bottom = b > a, d > c
    # maximum only for comparing the two winners: equal values compare equal whichever bits it returns
    down = torch.maximum(c, d) > torch.maximum(a, b)
    right = torch.where(down, right_bottom, right_top)
    w = x.shape[3]
    return torch.add(_base_index(a.shape[2], a.shape[3], w), down, alpha=w).add_(right)


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)


class _Pool2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        idx = _pool2_indices(x)
        ctx.save_for_backward(x, idx)
        return _gather(x, idx)

    @staticmethod
    def backward(ctx, g):
        x, idx = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            g.contiguous(), x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx
        )


def max_pool2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``, bit for bit (values and gradients), faster on NCHW float32 CPU tensors.

    Other inputs (odd sizes, other dtypes or devices, channels-last, strided or 3-D tensors, a
    NaN) go to F.max_pool2d itself, as does everything when ``LATENTLAB_FAST_POOL=0``.
    """
    if not (fast_pool() and _pool2_applies(x)):
        return F.max_pool2d(x, 2)
    if torch.is_grad_enabled() and x.requires_grad:
        return _Pool2.apply(x)
    return _gather(x, _pool2_indices(x))  # no graph (inference, no_grad): the values only


class MaxPool2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)`` computed by :func:`max_pool2` (same outputs and gradients, bit for bit; no parameters)."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2(x)


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

    Each pool runs before its ReLU (``relu(max(window)) == max(relu(window))``, and the gradients
    agree too: the ReLU's forward and backward then touch a quarter of the values; the same bits in
    training and inference, measured in BENCHMARKS.md#perf-train-step). The parameters keep their
    names (``features.0``, ``features.3``, ``classifier.0``, ``classifier.2``): checkpoints load.
    """

    def __init__(self, image_shape, n_classes: int = 10, width: float = 1.0):
        super().__init__()
        c, h, w = image_shape
        pad = 0 if min(h, w) >= 16 else 2
        c1, c2, fc = max(1, round(20 * width)), max(1, round(50 * width)), max(1, round(500 * width))
        self.features = nn.Sequential(
            nn.Conv2d(c, c1, 5, padding=pad),
            MaxPool2(),  # before the ReLU: max commutes with it, and the ReLU then sees a quarter of the values
            nn.ReLU(),
            nn.Conv2d(c1, c2, 5, padding=pad),
            MaxPool2(),
            nn.ReLU(),
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
