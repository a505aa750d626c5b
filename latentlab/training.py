"""ONE generic training loop (the minGPT pattern), used for the generator and the target model.

A model is trained by :func:`fit` with a ``loss_fn(model, batch) -> scalar tensor`` that knows
what the batch means; progress and logging go through callbacks. Nothing here is specific to
a VAE, LeNet or an alpha-GAN.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

__all__ = [
    "TrainConfig",
    "fit",
    "augment_batch",
    "recalibrate_batchnorm",
    "TqdmCallback",
    "seed_everything",
    "deterministic_device",
    "torch_generator",
    "AUGMENTATIONS",
    "SCHEDULES",
    "OPTIMIZERS",
]

AUGMENTATIONS = ("none", "crop-flip", "shift-rotate")
# Per-step shortcuts of :func:`fit` (issue 22), each giving the same bits as the plain code it replaces;
# benchmarks/train_step.py turns them off one at a time to measure them. "foreach": the optimiser's
# multi-tensor implementation.
FAST_STEP = {"foreach": False}
SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """How long and how hard to train.

    ``n_steps = max(min_steps, ceil(epochs * n / batch_size))``, capped at ``max_steps``: at
    small label counts an epoch is only a handful of steps, and a fixed tiny number of epochs
    under-trains the model (the main reason naive active-learning baselines look weak).

    Parameters
    ----------
    epochs : float, default 10.0
        Passes over the data (the floor ``min_steps`` matters more at small n).
    batch_size : int, default 64
        Minibatch size.
    lr : float, default 1e-3
        Learning rate (Adam's default, as in the paper).
    weight_decay : float, default 0.0
        L2 weight decay (off: the paper uses plain Adam).
    min_steps : int, default 0
        Floor on optimiser steps (0: epochs only).
    max_steps : int or None, default None
        Cap on optimiser steps, for quick runs.
    augment : {"none", "crop-flip", "shift-rotate"}, default "none"
        Seeded on-the-fly augmentation (crop-flip for CIFAR, shift-rotate for digit images).
    schedule : {"constant", "cosine"}, default "constant"
        The learning rate over the steps of one fit (cosine: to 0).
    optimizer : {"adam", "sgd"}, default "adam"
        Adam (the paper) or SGD (momentum 0.9, Nesterov).
    bn_recalibrate : bool, default True
        After training, recompute batch-norm statistics on the un-augmented train set.
    """

    epochs: float = 10.0  # passes over the data; the floor below matters more at small n
    batch_size: int = 64  # LeNet/VAE standard; small enough that 100 labels still give ~2 steps/epoch
    lr: float = 1e-3  # Adam default, as in the paper (Section 4.3)
    weight_decay: float = 0.0  # off: the paper uses plain Adam
    min_steps: int = 0  # floor on optimiser steps (0 = epochs only)
    max_steps: int | None = None  # cap, for quick runs
    augment: str = "none"  # on-the-fly, seeded: "crop-flip" (CIFAR), "shift-rotate" (digit images)
    schedule: str = "constant"  # learning rate over the n_steps of one fit: "constant" or "cosine" (to 0)
    optimizer: str = "adam"  # "adam" (the paper) or "sgd" (momentum 0.9, Nesterov: the CIFAR standard)
    bn_recalibrate: bool = True  # after training, batch-norm statistics from the un-augmented train set

    def __post_init__(self):  # 10 and 10.0 are the same setting (configs are compared on resume)
        object.__setattr__(self, "epochs", float(self.epochs))

    def to_dict(self) -> dict:
        """Fields as a dict; recipe fields at their defaults are left out.

        Configs written before those fields existed then compare equal on resume.

        Returns
        -------
        dict
            Field name -> value.
        """
        d = dataclasses.asdict(self)
        for k in _RECIPE_DEFAULTS:
            if d[k] == _RECIPE_DEFAULTS[k]:
                del d[k]
        return d

    def validate(self) -> "TrainConfig":
        """Check the recipe's choices (ranges of the numbers are checked by LoopConfig.validate).

        Returns
        -------
        TrainConfig
            This recipe, unchanged.
        """
        from .exceptions import ConfigError

        for name, valid in (("augment", AUGMENTATIONS), ("schedule", SCHEDULES), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in valid:
                raise ConfigError(f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}")
        if not isinstance(self.bn_recalibrate, bool):
            raise ConfigError(f"bn_recalibrate must be true or false, got {self.bn_recalibrate!r}")
        return self

    def n_steps(self, n: int) -> int:
        """Optimiser steps of one fit on ``n`` items: ``max(min_steps, ceil(epochs * n / batch_size))``, capped.

        Parameters
        ----------
        n : int
            Training items.

        Returns
        -------
        int
            The steps, at most ``max_steps`` when that is set.
        """
        steps = max(self.min_steps, math.ceil(self.epochs * n / self.batch_size))
        return min(steps, self.max_steps) if self.max_steps else steps


_RECIPE_DEFAULTS = {"augment": "none", "schedule": "constant", "optimizer": "adam", "bn_recalibrate": True}


def deterministic_device(device) -> bool:
    """Make training on ``device`` reproducible: on cuda, deterministic cuDNN and cuBLAS kernels.

    CPU kernels are deterministic already. On a GPU, cuDNN picks convolution algorithms by speed
    and some accumulate in a varying order: measured on an H200 (BENCHMARKS.md, CIFAR-10), the same
    seed and data gave t = 1 accuracies 1.3-2.5 points apart between strategies of one seed, which the
    "same t=1" protocol check caught. Call before the first cuda operation of the process (cuBLAS
    reads ``CUBLAS_WORKSPACE_CONFIG`` when it starts). Returns True when it changed anything.
    """
    if torch.device(device).type != "cuda":
        return False
    import os

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)  # an op without a deterministic kernel warns
    return True


def seed_everything(seed: int) -> None:
    """Seed torch's global RNG (weight init of new modules). Library code passes explicit generators elsewhere."""
    torch.manual_seed(int(seed) % (2**63))


def torch_generator(seed) -> torch.Generator:
    """A ``torch.Generator`` seeded from an int or a sequence of ints (hashed through numpy's SeedSequence)."""
    ss = np.random.SeedSequence(seed)
    g = torch.Generator()
    g.manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] % (2**63)))
    return g


class TqdmCallback:
    """Progress bar over optimiser steps (tqdm.auto: a widget in Jupyter, text in a terminal)."""

    def __init__(self, desc: str = "train", leave: bool = False, disable: bool | None = None, every: int = 10):
        self.desc, self.leave, self.disable, self.every = desc, leave, disable, every
        self.bar = None

    def on_start(self, n_steps: int):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=n_steps, desc=self.desc, leave=self.leave, disable=self.disable)

    def on_step(self, step: int, loss: float):
        self.bar.update(1)
        if step % self.every == 0:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_end(self, history):
        self.bar.close()


def augment_batch(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """A randomly transformed copy of the image batch ``x`` (n, C, H, W); parameters drawn from ``gen``.

    * ``"crop-flip"``: the standard CIFAR augmentation: zero-pad by 4 pixels, take a random
      H x W crop, flip horizontally with probability 1/2.
    * ``"shift-rotate"``: for digit images (no flips: a flipped 2 is not a 2): a random rotation
      of up to +-15 degrees and a shift of up to +-10 % of the image size per axis, bilinear,
      zero outside (the background of MNIST and the 8x8 digits).
    * ``"none"``: ``x`` itself.

    The parameters are drawn on the CPU from ``gen`` (so a seed gives the same images on any
    device) and applied on ``x``'s device. torchvision's transforms work per image and draw from
    torch's global RNG; this is the batched, explicitly seeded equivalent of its ``RandomCrop(pad=4)``
    + ``RandomHorizontalFlip`` and ``RandomAffine(degrees=15, translate=(0.1, 0.1))``.
    """
    if kind == "none":
        return x
    n, _, h, w = x.shape
    dev = x.device
    if kind == "crop-flip":
        pad = 4
        xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(dev)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(dev)
        flip = (torch.rand(n, generator=gen) < 0.5).to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, :, None]  # (n, h, 1)
        cols = ox[:, None] + torch.arange(w, device=dev)  # (n, w)
        cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]  # (n, 1, w)
        out = xp[torch.arange(n, device=dev)[:, None, None], :, rows, cols]  # (n, h, w, C)
        return out.permute(0, 3, 1, 2).contiguous()
    if kind == "shift-rotate":
        ang = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(15.0)
        shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.2  # normalised coords span 2: 0.2 = 10 %
        cos, sin = torch.cos(ang), torch.sin(ang)
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta.to(dev, x.dtype), list(x.shape), align_corners=False)
        return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    raise ValueError(f"unknown augmentation {kind!r}; valid: {', '.join(AUGMENTATIONS)}")


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 500) -> bool:
    """Recompute every batch-norm layer's running mean and variance from ``x`` under the final weights.

    During training the running statistics are an exponential average over batches seen under
    earlier weights (and augmented inputs); at a few hundred labels and steps they lag the final
    weights, and evaluation in eval mode then uses statistics that do not match. This pass sets
    them to the (equal-weight) average over batches of ``x`` of the current network's activations;
    other layers (dropout) stay in eval mode. Returns False (and does nothing) without batch norm.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or len(x) == 0:
        return False
    was_training = model.training
    model.eval()
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
        m.train()
    dev = next(iter(model.parameters())).device
    n_chunks = max(1, math.ceil(len(x) / batch_size))
    for chunk in torch.tensor_split(x, n_chunks):  # equal-sized chunks: each weighs the same
        if len(chunk) > 1:  # batch norm in train mode needs 2 items
            model(chunk.to(dev))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return True


def _seed_list(seed) -> list:
    return [int(s) for s in seed] if isinstance(seed, (list, tuple)) else [int(seed)]


def fit(
    model: torch.nn.Module,
    tensors: Sequence[torch.Tensor],
    loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
    config: TrainConfig = TrainConfig(),
    *,
    seed: int | Sequence[int] = 0,
    callbacks: Sequence = (),
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """Train ``model`` in place on minibatches of ``tensors`` and return the per-step losses.

    Parameters
    ----------
    model : torch.nn.Module
        The model, trained in place.
    tensors : sequence of Tensor, each shape (n, ...)
        Aligned arrays (e.g. ``(x, y)`` or ``(x,)``); minibatches index all of them. The recipe's
        augmentation (``config.augment``) transforms ``tensors[0]`` only (images with class labels).
    loss_fn : callable
        ``loss_fn(model, batch_tuple) -> scalar tensor``.
    config : TrainConfig
        Steps, batch size, optimiser and learning-rate schedule, augmentation, batch-norm recalibration.
    seed : int or sequence of int
        Seeds the minibatch order, the augmentation (its own stream) and any randomness ``loss_fn``
        draws via ``torch`` global RNG (dropout, the VAE's reparameterisation noise).
    callbacks : sequence
        Objects with optional ``on_start(n_steps)``, ``on_step(step, loss)``, ``on_end(history)``.
    optimizer : torch.optim.Optimizer, optional
        By default ``config.optimizer`` with ``config.lr`` and ``config.weight_decay``.

    Returns
    -------
    list of float
        The loss of every step.
    """
    config.validate()
    n = len(tensors[0])
    if n == 0:
        raise ValueError("cannot train on an empty set; label at least one item first")
    n_steps = config.n_steps(n)
    gen = torch_generator(seed)
    aug_gen = torch_generator([*_seed_list(seed), 0xA06])  # own stream: augmentation never shifts the order
    # global RNG drives dropout / reparameterisation noise inside loss_fn: seed it from the same source
    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
    foreach = True if FAST_STEP["foreach"] else None  # None: torch's default (per-tensor loop on the CPU)
    if optimizer is not None:
        opt = optimizer
    elif config.optimizer == "sgd":
        opt = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=config.weight_decay,
            foreach=foreach,
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=foreach)
    sched = (
        torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1.0 + math.cos(math.pi * k / n_steps)))
        if config.schedule == "cosine"
        else None
    )
    for cb in callbacks:
        getattr(cb, "on_start", lambda *_: None)(n_steps)
    on_step = [cb.on_step for cb in callbacks if hasattr(cb, "on_step")]
    model.train()
    history: list[float] = []
    bs = min(config.batch_size, n)
    dev = next(iter(model.parameters()), torch.empty(0)).device
    perm = torch.randperm(n, generator=gen)
    pos = 0
    for step in range(n_steps):
        if pos + bs > n:  # reshuffle each epoch; drop the ragged tail so every step sees bs items
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + bs]
        pos += bs
        # no-op on CPU; the model's device otherwise. Keep the advanced indexing: for one-channel images
        # it gives rows with channels-last strides, and the convolutions then run oneDNN's channels-last
        # kernels (~25 % faster per step than index_select's NCHW rows, and other bits: issue 22)
        batch = tuple(t[idx].to(dev) for t in tensors)
        if config.augment != "none":
            batch = (augment_batch(batch[0], config.augment, aug_gen), *batch[1:])
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, batch)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        lv = float(loss.detach())
        history.append(lv)
        for cb in on_step:
            cb(step, lv)
    if config.bn_recalibrate:
        recalibrate_batchnorm(model, tensors[0])
    model.eval()
    for cb in callbacks:
        getattr(cb, "on_end", lambda *_: None)(history)
    return history
