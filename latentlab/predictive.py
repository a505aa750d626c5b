"""What the baseline strategies read off the target model F: class probabilities, Monte-Carlo
dropout samples and penultimate features, plus the candidate subset they score.

* :func:`mc_dropout_probs` — ``K`` stochastic forward passes with only the dropout layers active
  (batch norm and everything else stay in eval mode), seeded, batched, on the model's device.
  Masks are *consistent*: pass ``k`` uses one dropout mask for every item, so sample ``k`` is one
  draw of the weights ``omega_k`` for the whole pool (Kirsch et al. 2019, "BatchBALD": the joint
  entropy of a batch needs the same ``omega_k`` across items; per-item masks would make items
  independent given ``k`` and BatchBALD would reduce to a sum of BALD scores).
* :func:`penultimate_features` — the input of the model's last ``nn.Linear`` (a forward hook), for
  lenet, lenet-dropout and vgg16 alike.
* :func:`candidate_items` — the unlabelled items a strategy scores: all, or a seeded random subset
  of ``ctx.candidates`` (the ``entropy`` strategy's rule).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .exceptions import ConfigError

__all__ = [
    "DROPOUT_TYPES",
    "has_dropout",
    "require_classification",
    "require_dropout",
    "candidate_items",
    "class_probs",
    "mc_dropout_probs",
    "penultimate_features",
]

DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def _device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def has_dropout(model: nn.Module) -> bool:
    """True when ``model`` has a dropout layer with a rate > 0."""
    return any(isinstance(m, DROPOUT_TYPES) and m.p > 0 for m in model.modules())


def require_classification(task, strategy: str) -> None:
    """Raise :class:`ConfigError` unless ``task`` has class scores per item."""
    if not getattr(task, "categorical", False):
        raise ConfigError(
            f"strategy {strategy!r} needs a classification task (class probabilities per item); "
            "this data set is a regression task: use random, snn or si-real"
        )


def require_dropout(model: nn.Module, strategy: str) -> None:
    """Raise :class:`ConfigError` unless ``model`` has dropout to sample (MC dropout)."""
    if not has_dropout(model):
        raise ConfigError(
            f"strategy {strategy!r} draws Monte-Carlo dropout samples, but the target model "
            f"{type(model).__name__} has no dropout layer; use --target lenet-dropout"
        )


def candidate_items(ctx, per_round: int, rng: np.random.Generator) -> np.ndarray:
    """Unlabelled pool items to score, ascending: all of them, or a seeded random subset of
    ``max(ctx.candidates, per_round)`` when ``ctx.candidates`` is set and smaller than the pool."""
    free = ctx.pool.unlabelled_indices()
    if ctx.candidates and ctx.candidates < len(free):
        free = np.sort(rng.choice(free, max(ctx.candidates, per_round), replace=False))
    return free


def _batches(x: np.ndarray, batch_size: int, dev: torch.device):
    for i in range(0, len(x), batch_size):
        yield torch.as_tensor(x[i : i + batch_size], dtype=torch.float32).to(dev)


@torch.no_grad()
def class_probs(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> torch.Tensor:
    """Softmax of ``model(x)`` in eval mode, float64 on the CPU, shape (n, C)."""
    model.eval()
    dev = _device(model)
    out = [torch.softmax(model(b).double(), 1).cpu() for b in _batches(x, batch_size, dev)]
    return torch.cat(out) if out else torch.zeros(0, 0, dtype=torch.float64)


@torch.no_grad()
def mc_dropout_probs(
    model: nn.Module, x: np.ndarray, n_samples: int, seed: int, batch_size: int = 1000
) -> torch.Tensor:
    """Class probabilities of ``n_samples`` Monte-Carlo dropout passes, float64 on the CPU, shape (n, K, C).

    The model stays in eval mode; each dropout layer's output is multiplied by a mask drawn from a
    ``torch.Generator`` seeded with ``seed`` on the model's device (``Bernoulli(1 - p) / (1 - p)``,
    per unit for ``nn.Dropout``, per channel for ``nn.Dropout2d`` and kin), the same mask for every
    item of pass ``k`` (see the module docstring). The global torch RNG is not touched: the same
    ``seed`` gives the same samples whatever ran before. A model with ``mc_split()`` returning
    ``(trunk, head)`` (LeNet) runs the trunk once when the trunk has no dropout.

    Parameters
    ----------
    model : nn.Module with at least one dropout layer
    x : ndarray, shape (n, C, H, W)
    n_samples : int
        ``K``, the number of stochastic passes (>= 1).
    seed : int
    batch_size : int
        Items per forward pass.
    """
    if n_samples < 1:
        raise ConfigError(f"--mc-samples must be >= 1, got {n_samples}")
    require_dropout(model, "MC dropout")
    model.eval()
    dev = _device(model)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    trunk, head = model.mc_split() if hasattr(model, "mc_split") else (None, model)
    if trunk is not None and has_dropout(trunk):
        trunk, head = None, model
    layers = [m for m in head.modules() if isinstance(m, DROPOUT_TYPES) and m.p > 0]
    masks: dict = {}  # layer -> mask of the current pass (drawn at its first batch)

    def hook(layer, inputs, output):
        if layer not in masks:
            shape = output.shape[1:]
            if isinstance(layer, _CHANNEL_DROPOUT):
                shape = shape[:1] + (1,) * (len(shape) - 1)
            keep = torch.rand(shape, generator=gen, device=output.device) >= layer.p
            masks[layer] = keep.to(output.dtype) / (1.0 - layer.p)
        return output * masks[layer]

    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        xs = list(_batches(x, batch_size, dev))
        hs = [trunk(b) for b in xs] if trunk is not None else xs
        out = []
        for _ in range(n_samples):
            masks.clear()
            out.append(torch.cat([torch.softmax(head(h).double(), 1).cpu() for h in hs]))
    finally:
        for h in handles:
            h.remove()
    return torch.stack(out, 1)


@torch.no_grad()
def penultimate_features(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The input of ``model``'s last ``nn.Linear`` and the model's outputs, eval mode.

    Returns
    -------
    features : ndarray float32, shape (n, D)
        What the last linear layer sees (LeNet: the 500 fc units after ReLU; VGG16: the pooled
        conv features).
    logits : ndarray float32, shape (n, C)
    """
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not lin:
        raise ConfigError(
            f"{type(model).__name__} has no nn.Linear layer, so it has no penultimate features; "
            "use a target with a linear output layer (lenet, lenet-dropout, vgg16)"
        )
    model.eval()
    dev = _device(model)
    feats, outs = [], []
    handle = lin[-1].register_forward_hook(lambda m, inp, out: feats.append(inp[0].flatten(1).float().cpu()))
    try:
        outs = [model(b).float().cpu() for b in _batches(x, batch_size, dev)]
    finally:
        handle.remove()
    if not outs:
        return np.zeros((0, lin[-1].in_features), np.float32), np.zeros((0, lin[-1].out_features), np.float32)
    return torch.cat(feats).numpy(), torch.cat(outs).numpy()
