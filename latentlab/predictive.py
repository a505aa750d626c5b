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
* :func:`forward` — the one inference pass everything above (and :meth:`latentlab.tasks.Task.predict`,
  i.e. test evaluation) goes through.

Inference speed (issue 22; ``benchmarks/round_roofline.py`` measures it against the core's matmul
rate): :func:`forward` runs in ``torch.inference_mode``, reads the resident float32 pool in place
(``torch.from_numpy`` of each batch's slice; with ``items`` it gathers one batch at a time, never a
copy of the whole unlabelled pool), and on the CPU feeds convolutional models *channels-last*
batches, which makes PyTorch use oneDNN's blocked convolutions instead of its generic
im2col path: LeNet over 57k MNIST images went from ~7.0 to ~3.4 CPU-seconds on one thread. The
model itself is not touched (its weights stay in their own layout, so training is unchanged).
oneDNN sums in another order: outputs differ from the old path by ~1e-7 (float32 rounding), which
can reorder two items whose scores agree to 7 digits. ``LATENTLAB_FAST_INFERENCE=0`` restores the
old path exactly (same batches, NCHW), to reproduce results written before issue 22 bit for bit.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from .exceptions import ConfigError

__all__ = [
    "INFERENCE_BATCH",
    "fast_inference",
    "forward",
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


INFERENCE_BATCH = 512  # items per forward pass: measured flat from 128 to 1000 (channels-last, one thread)
_LEGACY_BATCH = 1000  # the batch of the path before issue 22 (LATENTLAB_FAST_INFERENCE=0)


def fast_inference() -> bool:
    """False when ``LATENTLAB_FAST_INFERENCE`` is ``0``/``off``/``false``: :func:`forward` then runs
    exactly as before issue 22 (NCHW batches of 1000), for bit-for-bit reproduction of older results."""
    return os.environ.get("LATENTLAB_FAST_INFERENCE", "1").strip().lower() not in ("0", "off", "false", "no")


def _channels_last(model: nn.Module, x, dev: torch.device) -> bool:
    return (
        dev.type == "cpu"
        and getattr(x, "ndim", 0) == 4
        and any(isinstance(m, nn.Conv2d) for m in model.modules())
        and fast_inference()
    )


def _batches(x: np.ndarray, batch_size: int, dev: torch.device, items=None, channels_last: bool = False):
    """Batches of ``x`` (or of ``x[items]``, gathered one batch at a time) as float32 tensors on ``dev``.

    A float32 C-contiguous slice is wrapped, not copied (``torch.from_numpy``); other dtypes are
    converted batch by batch."""
    n = len(x) if items is None else len(items)
    for i in range(0, n, batch_size):
        xb = x[i : i + batch_size] if items is None else x[np.asarray(items[i : i + batch_size])]
        b = torch.from_numpy(np.ascontiguousarray(xb, dtype=np.float32))
        if channels_last:  # the fast path only: the legacy path keeps its old strides (and bits)
            b = _plain_strides(b.contiguous(memory_format=torch.channels_last), True)
        yield b.to(dev)


def _plain_strides(b: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``b`` with the strides a fresh tensor of its shape has (same memory, no copy).

    A slice of an array built as ``images[:, None]`` has stride 0 on its size-1 channel axis;
    numpy and torch call it contiguous (size-1 axes do not count), but oneDNN's convolution then
    misses its fast channels-last kernel: LeNet over 10,000 MNIST test items took 1.7 CPU s
    through slices against 0.95 s through gathered rows (issue 22; the same values either way)."""
    fmt = torch.channels_last if channels_last and b.ndim == 4 else torch.contiguous_format
    want = torch.empty(b.shape, dtype=b.dtype, device="meta", memory_format=fmt).stride()
    if b.stride() == want or not b.is_contiguous(memory_format=fmt):
        return b
    return b.as_strided(b.shape, want)


def forward(
    model: nn.Module,
    x: np.ndarray,
    items: np.ndarray | None = None,
    *,
    batch_size: int | None = None,
    fn=None,
) -> torch.Tensor:
    """``model``'s outputs for ``x`` (or ``x[items]``), eval mode, inference mode, on the CPU, in order.

    Parameters
    ----------
    model : nn.Module
        Put in eval mode (dropout off, batch-norm running statistics); its weights are not changed.
    x : ndarray (N, ...)
        Inputs, e.g. the resident pool (float32 in [0, 1]); a ``np.memmap`` works too.
    items : int array, optional
        Rows of ``x`` to run, in this order; each batch is gathered on its own.
    batch_size : int, optional
        Items per pass (default :data:`INFERENCE_BATCH`).
    fn : callable, optional
        What to run on each batch instead of ``model`` (e.g. a sub-module such as LeNet's conv block).

    Returns
    -------
    Tensor (n, ...): the outputs (float32 for float32 models); ``(0, 0)`` for no items.
    """
    model.eval()
    dev = _device(model)
    fast = fast_inference()
    bs = int(batch_size or (INFERENCE_BATCH if fast else _LEGACY_BATCH))
    fn = model if fn is None else fn
    cl = _channels_last(model, x, dev)
    with torch.inference_mode(mode=fast), torch.no_grad():
        outs = [fn(b).cpu() for b in _batches(x, bs, dev, items, cl)]
    # the concatenation outside inference mode: callers get an ordinary tensor (in-place ops allowed)
    return torch.cat(outs) if outs else torch.zeros(0, 0)


def class_probs(model: nn.Module, x: np.ndarray, batch_size: int | None = None, items=None) -> torch.Tensor:
    """Softmax of ``model(x)`` (or ``model(x[items])``) in eval mode, float64 on the CPU, shape (n, C)."""
    out = forward(model, x, items, batch_size=batch_size)
    return torch.softmax(out.double(), 1) if out.numel() else torch.zeros(0, 0, dtype=torch.float64)


def mc_dropout_probs(
    model: nn.Module, x: np.ndarray, n_samples: int, seed: int, batch_size: int | None = None, items=None
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
    batch_size : int, optional
        Items per forward pass (default that of :func:`forward`).
    items : int array, optional
        Score ``x[items]`` (gathered one batch at a time) instead of all of ``x``.
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

    fast = fast_inference()
    bs = int(batch_size or (INFERENCE_BATCH if fast else _LEGACY_BATCH))
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.inference_mode(mode=fast), torch.no_grad():
            if trunk is not None:  # the deterministic trunk once (channels-last on the CPU), then K heads
                hs = forward(model, x, items, batch_size=bs, fn=trunk).to(dev).split(bs)
            else:
                hs = list(_batches(x, bs, dev, items, _channels_last(model, x, dev)))
            out = []
            for _ in range(n_samples):
                masks.clear()
                out.append(torch.cat([torch.softmax(head(h).double(), 1).cpu() for h in hs]))
    finally:
        for h in handles:
            h.remove()
    return torch.stack(out, 1) if out and len(out[0]) else torch.zeros(0, n_samples, 0, dtype=torch.float64)


def penultimate_features(
    model: nn.Module, x: np.ndarray, batch_size: int | None = None, items=None
) -> tuple[np.ndarray, np.ndarray]:
    """The input of ``model``'s last ``nn.Linear`` and the model's outputs for ``x`` (or ``x[items]``), eval mode.

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
    feats = []
    handle = lin[-1].register_forward_hook(lambda m, inp, out: feats.append(inp[0].flatten(1).float().cpu()))
    try:
        outs = forward(model, x, items, batch_size=batch_size)
    finally:
        handle.remove()
    if not feats:
        return np.zeros((0, lin[-1].in_features), np.float32), np.zeros((0, lin[-1].out_features), np.float32)
    return torch.cat(feats).numpy(), outs.float().numpy()
