"""What the target model F learns: loss, test metric and model, per kind of label.

A :class:`Task` bundles the per-item loss ``L`` of Eq. 1 (needed unreduced for the latent
gradient), the metric reported per round and how predictions are made. Classification
(cross-entropy, accuracy in %) serves MNIST, digits and CIFAR-10; regression (MSE) serves
image-to-image tasks such as the vessel stress maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .exceptions import ConfigError, unknown_choice

__all__ = ["Task", "Classification", "Regression", "task_for", "task_of_metric", "higher_is_better"]


@dataclass(frozen=True)
class Task:
    metric_name: str = "metric"
    higher_is_better: bool = True  # the one place a metric's direction is decided (see higher_is_better())
    categorical = False  # class scores out (entropy, argmax, class names make sense)

    def n_outputs(self, dataset) -> int:
        """Output units of the target model F for ``dataset``."""
        raise NotImplementedError

    def entropy(self, out: torch.Tensor) -> torch.Tensor:
        """Predictive entropy per item, shape (n,), from F's outputs (classification only)."""
        raise ConfigError("entropy sampling needs a classification task (class scores per item)")

    def per_item_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # shape (n,)
        raise NotImplementedError

    def loss(self, out, y):
        return self.per_item_loss(out, y).mean()

    def y_tensor(self, y: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def metric_from_outputs(self, out: torch.Tensor, y: torch.Tensor) -> float:
        raise NotImplementedError

    def predict(self, model, x: np.ndarray, batch_size: int | None = None, items=None) -> torch.Tensor:
        """``model``'s outputs for ``x`` (or ``x[items]``), eval mode, on the CPU (predictive.forward)."""
        from .predictive import forward

        return forward(model, x, items, batch_size=batch_size)

    def item_loss(self, model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-item loss of ``model`` on inputs ``x`` with labels ``y``, float64 (n,)."""
        return self.per_item_loss(self.predict(model, x), self.y_tensor(y)).numpy().astype(np.float64)

    def evaluate(self, model, x: np.ndarray, y: np.ndarray) -> float:
        """Test metric of ``model`` on ``(x, y)``."""
        return self.metric_from_outputs(self.predict(model, x), self.y_tensor(y))

    def reaches(self, value: float, target: float) -> bool:
        return value >= target if self.higher_is_better else value <= target


@dataclass(frozen=True)
class Classification(Task):
    """Cross-entropy loss; metric = accuracy in percent (as the paper's Table 1)."""

    metric_name: str = "accuracy"
    higher_is_better: bool = True
    categorical = True

    def n_outputs(self, dataset) -> int:
        return max(dataset.n_classes, 1)

    def entropy(self, out):
        """``-sum p log p`` over classes of ``softmax(out)``, shape (n,)."""
        if out.ndim != 2:
            return super().entropy(out)
        logp = torch.log_softmax(out, 1)
        return -(logp.exp() * logp).sum(1)

    def per_item_loss(self, out, y):
        return F.cross_entropy(out, y, reduction="none")

    def y_tensor(self, y):
        return torch.as_tensor(np.asarray(y), dtype=torch.long)

    def metric_from_outputs(self, out, y):
        return float((out.argmax(1) == y).float().mean()) * 100.0


@dataclass(frozen=True)
class Regression(Task):
    """Mean squared error per item (averaged over output pixels); metric = test MSE ``* scale``.

    ``scale`` converts to the unit the table reports (e.g. the paper's IVUS MSE x 1e3).
    """

    metric_name: str = "mse"
    higher_is_better: bool = False
    scale: float = 1.0

    def n_outputs(self, dataset) -> int:
        return dataset.n_outputs or 1

    def per_item_loss(self, out, y):
        return (out - y).pow(2).flatten(1).mean(1)

    def y_tensor(self, y):
        return torch.as_tensor(np.asarray(y), dtype=torch.float32)

    def metric_from_outputs(self, out, y):
        return float((out - y).pow(2).mean()) * self.scale


def task_for(dataset) -> Task:
    """The task a :class:`~latentlab.datasets.Dataset` declares (``dataset.task``)."""
    if dataset.task == "classification":
        return Classification()
    if dataset.task == "regression":
        return Regression(scale=float(dataset.metric_scale))
    raise unknown_choice("task", dataset.task, ["classification", "regression"])


def task_of_metric(metric: str) -> type[Task]:
    """The task class that reports ``metric``, a results.csv metric name (``accuracy``, ``val_mse``, ...)."""
    name = metric[len("val_") :] if metric.startswith("val_") else metric
    classes, seen = [Task], []
    while classes:  # every Task subclass, including ones defined outside latentlab
        cls = classes.pop()
        seen.append(cls)
        classes.extend(cls.__subclasses__())
    for cls in seen:
        if cls is not Task and cls.metric_name == name:
            return cls
    raise ConfigError(
        f"no task reports the metric {metric!r} (known: {', '.join(sorted({c.metric_name for c in seen[1:]}))}), "
        "so whether higher is better is unknown; give higher_is_better explicitly"
    )


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better, as the task that reports it says (``Task.higher_is_better``)."""
    return task_of_metric(metric).higher_is_better
