"""ONE generic training loop (the minGPT pattern), used for the generator and the target model.

A model is trained by :func:`fit` with a ``loss_fn(model, batch) -> scalar tensor`` that knows
what the batch means; progress and logging go through callbacks. Nothing here is specific to
a VAE, LeNet or an alpha-GAN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

__all__ = ["TrainConfig", "fit", "TqdmCallback", "seed_everything", "torch_generator"]


@dataclass(frozen=True)
class TrainConfig:
    """How long and how hard to train.

    ``n_steps = max(min_steps, ceil(epochs * n / batch_size))``, capped at ``max_steps``: at
    small label counts an epoch is only a handful of steps, and a fixed tiny number of epochs
    under-trains the model (the main reason naive active-learning baselines look weak).
    """

    epochs: float = 10.0  # passes over the data; the floor below matters more at small n
    batch_size: int = 64  # LeNet/VAE standard; small enough that 100 labels still give ~2 steps/epoch
    lr: float = 1e-3  # Adam default, as in the paper (Section 4.3)
    weight_decay: float = 0.0  # off: the paper uses plain Adam
    min_steps: int = 0  # floor on optimiser steps (0 = epochs only)
    max_steps: int | None = None  # cap, for quick runs

    def __post_init__(self):  # 10 and 10.0 are the same setting (configs are compared on resume)
        object.__setattr__(self, "epochs", float(self.epochs))

    def n_steps(self, n: int) -> int:
        steps = max(self.min_steps, math.ceil(self.epochs * n / self.batch_size))
        return min(steps, self.max_steps) if self.max_steps else steps


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


def fit(
    model: torch.nn.Module,
    tensors: Sequence[torch.Tensor],
    loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
    config: TrainConfig = TrainConfig(),
    *,
    seed=0,
    callbacks: Sequence = (),
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """Train ``model`` in place on minibatches of ``tensors`` and return the per-step losses.

    Parameters
    ----------
    model : torch.nn.Module
    tensors : sequence of Tensor, each shape (n, ...)
        Aligned arrays (e.g. ``(x, y)`` or ``(x,)``); minibatches index all of them.
    loss_fn : callable
        ``loss_fn(model, batch_tuple) -> scalar tensor``.
    config : TrainConfig
    seed : int or sequence of int
        Seeds the minibatch order (and any randomness ``loss_fn`` draws via ``torch`` global RNG,
        e.g. the VAE's reparameterisation noise).
    callbacks : objects with optional ``on_start(n_steps)``, ``on_step(step, loss)``, ``on_end(history)``.
    optimizer : optional; Adam(lr, weight_decay) by default.
    """
    n = len(tensors[0])
    if n == 0:
        raise ValueError("cannot train on an empty set; label at least one item first")
    n_steps = config.n_steps(n)
    gen = torch_generator(seed)
    # global RNG drives dropout / reparameterisation noise inside loss_fn: seed it from the same source
    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for cb in callbacks:
        getattr(cb, "on_start", lambda *_: None)(n_steps)
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
        batch = tuple(t[idx].to(dev) for t in tensors)  # no-op on CPU; the model's device otherwise
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, batch)
        loss.backward()
        opt.step()
        lv = float(loss.detach())
        history.append(lv)
        for cb in callbacks:
            getattr(cb, "on_step", lambda *_: None)(step, lv)
    model.eval()
    for cb in callbacks:
        getattr(cb, "on_end", lambda *_: None)(history)
    return history
