"""Eq. 1 of the paper: the direction in latent space in which the target model's loss grows.

For sampling points ``p`` with labels ``y``: ``L = sum_k loss(F(G(p_k)), y_k)``; ``d = dL/dp``
normalised per point. Because ``L`` is a sum of per-point terms, ``dL/dp_k`` is the gradient of
point k's own loss, so one backward pass gives every point's direction.

The same machinery with ``objective="entropy"`` gives the direction in which F's predictive
entropy of ``G(p)`` grows; it needs no label, so it applies to unlabelled points
(``uncertainty-ascent``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .exceptions import ConfigError

__all__ = ["LatentGradient", "latent_gradient", "LOSS_ON", "OBJECTIVES"]

LOSS_ON = ("decoded", "real")
OBJECTIVES = ("loss", "entropy")


@dataclass(frozen=True)
class LatentGradient:
    """Result of :func:`latent_gradient`; all arrays have J rows (one per sampling point).

    Attributes
    ----------
    d : ndarray, shape (J, n)  unit directions (zero where the gradient vanishes)
    grad : ndarray, shape (J, n)  raw gradient dL/dp
    grad_norm : ndarray, shape (J,)
    loss : ndarray, shape (J,)  per-point objective at p: F's loss (``objective="loss"``) or its
        predictive entropy (``objective="entropy"``)
    """

    d: np.ndarray
    grad: np.ndarray
    grad_norm: np.ndarray
    loss: np.ndarray


def latent_gradient(
    generator,
    target,
    task,
    p,
    y=None,
    *,
    x=None,
    loss_on: str = "decoded",
    eps: float = 1e-12,
    objective: str = "loss",
    transform=None,
) -> LatentGradient:
    """Normalised gradient of the target model's loss (Eq. 1), or of its entropy, w.r.t. latent points.

    Parameters
    ----------
    generator : torch.nn.Module
        A generator with ``decode(z)``.
    target : torch.nn.Module
        The target model F (evaluated in eval mode: batch-norm uses running statistics).
    task : latentlab.tasks.Task
        Gives the per-item loss (and the entropy).
    p : array-like, shape (J, n)
        Latent points.
    y : array-like, shape (J, ...), optional
        Labels of the points; needed for ``objective="loss"``, unused for ``"entropy"``.
    x : array-like, shape (J, C, H, W), optional
        Real images at ``p``; needed for ``loss_on="real"``.
    loss_on : {"decoded", "real"}
        ``"decoded"`` (the paper): loss of ``F(G(p))``. ``"real"``: loss of ``F(x + G(p) - G(p0))``,
        i.e. the loss is evaluated on the real image while the gradient still flows through G;
        it removes the generator's reconstruction error from the loss value at p0.
    eps : float, default 1e-12
        Added to the gradient's norm before dividing by it (a zero gradient stays zero).
    objective : {"loss", "entropy"}
        ``"loss"`` (the paper): the per-item loss against ``y``. ``"entropy"``: F's predictive
        entropy ``-sum_c q_c log q_c`` of the input (classification only; no label needed).
    transform : callable, optional
        ``transform(img) -> img``, differentiable, applied to ``G(p)`` before F sees it, e.g. a
        smooth surrogate of the labeler's post-processing (SI's ``probe="soft"``); the gradient
        flows through it. None (default): F sees ``G(p)`` itself.

    Returns
    -------
    LatentGradient
        ``d`` (the unit directions, J x n), ``grad_norm`` and ``loss`` (the objective at ``p``).
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "loss" and y is None:
        raise ConfigError("objective='loss' needs the labels y of the points (or use objective='entropy')")
    if objective == "entropy" and not getattr(task, "categorical", False):
        raise ConfigError(
            "objective='entropy' needs class probabilities (a classification task); for regression use objective='loss'"
        )
    if loss_on not in LOSS_ON:
        raise ConfigError(f"loss_on must be one of {LOSS_ON}, got {loss_on!r}")
    if loss_on == "real" and x is None:
        raise ConfigError("loss_on='real' needs the real images x at the sampling points")
    target_was_training = target.training
    target.eval()
    generator.eval()
    params = list(generator.parameters()) if hasattr(generator, "parameters") else []
    dtype = params[0].dtype if params else torch.float32  # float64 nets give float64 gradients
    dev = params[0].device if params else torch.device("cpu")  # generator and target share a device
    z = torch.as_tensor(np.asarray(p), dtype=dtype).to(dev).clone().requires_grad_(True)
    img = generator.decode(z)
    if transform is not None:
        img = transform(img)
    if loss_on == "real":
        img = img + (torch.as_tensor(np.asarray(x), dtype=dtype).to(dev) - img.detach())
    if objective == "entropy":
        per_item = task.entropy(target(img))
    else:
        yt = task.y_tensor(y).to(dev)
        if yt.is_floating_point():
            yt = yt.to(dtype)
        per_item = task.per_item_loss(target(img), yt)
    (grad,) = torch.autograd.grad(per_item.sum(), z)
    if target_was_training:
        target.train()
    g = grad.detach().cpu().numpy().astype(np.float64)
    norm = np.linalg.norm(g, axis=1)
    d = np.where(norm[:, None] > eps, g / np.maximum(norm, eps)[:, None], 0.0)
    return LatentGradient(d=d, grad=g, grad_norm=norm, loss=per_item.detach().cpu().numpy().astype(np.float64))
