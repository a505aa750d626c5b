"""Stage 1 of the method: train the generative model (E, G) on the unlabelled pool, cache it.

A generator is any ``nn.Module`` with ``encode(x) -> z`` (posterior mean, shape (n, latent_dim)),
``decode(z) -> x`` (images in [0, 1]) and ``latent_dim``, trained in one of two ways:

* ``loss(x) -> scalar`` (one objective, e.g. the VAE): the generic :func:`latentlab.training.fit`;
* ``fit_model(x, config, *, seed, progress, checkpoint_dir, device)`` (e.g. the alpha-GAN, whose
  three players alternate with their own optimisers, which one ``loss_fn`` cannot express without
  hiding optimiser steps inside it): the model's own loop, with per-epoch checkpoints and resume.

Trained weights are cached on disk as
a ``state_dict`` keyed by (dataset fingerprint, config, seed) and loaded with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .models import GENERATORS
from .storage import cache_dir, json_key, load_state, save_state
from .training import TqdmCallback, TrainConfig, deterministic_device, fit, seed_everything

__all__ = ["GeneratorConfig", "get_generator", "train_generator", "generator_key", "encode", "decode"]


@dataclass(frozen=True)
class GeneratorConfig:
    kind: str = "vae"  # registry name (models.GENERATORS)
    latent_dim: int = 2  # the paper's text; its tables say 15. 2-D is what the live view can show
    hidden: int = 400  # Tables S9/S10
    epochs: float = 30.0  # ~3 s/epoch on 60k MNIST on 2 cores; 30 epochs gives a well-spread 2-D map
    batch_size: int = 128  # standard VAE batch; larger batches speed up CPU training
    lr: float = 1e-3  # Adam default
    min_steps: int = 3000  # small pools (1.3k digits) need many epochs to give a usable map
    # extra keyword arguments of the generator class, as (name, value) pairs, e.g.
    # (("warmup_epochs", 3),) for the alpha-GAN; sorted by name; empty leaves cache keys as they were
    options: tuple = ()

    def __post_init__(self):  # 30 and 30.0 must give the same cache key
        object.__setattr__(self, "epochs", float(self.epochs))
        opts = self.options.items() if isinstance(self.options, dict) else self.options
        try:  # JSON gives lists of lists; a dict is accepted too
            pairs = tuple(sorted((str(k), v) for k, v in opts))
        except (TypeError, ValueError):
            from .exceptions import ConfigError

            raise ConfigError(
                f"generator options must be (name, value) pairs, e.g. (('warmup_epochs', 3),), got {self.options!r}"
            ) from None
        object.__setattr__(self, "options", pairs)

    def validate(self) -> "GeneratorConfig":
        """Check every setting (types and ranges; options must be keyword arguments of the generator)."""
        import inspect

        from .checks import check_int, check_number
        from .exceptions import ConfigError

        params = inspect.signature(GENERATORS.resolve(self.kind).__init__).parameters
        valid = [p for p in params if p not in ("self", "image_shape", "latent_dim", "hidden")]
        for name, _ in self.options:
            if name not in valid:
                raise ConfigError(
                    f"generator option {name!r} is not a setting of the {self.kind!r} generator; "
                    f"valid: {', '.join(valid) or '(none)'} (latent_dim and hidden have their own settings)"
                )
        check_int("latent_dim", self.latent_dim, 1)
        check_int("gen_hidden", self.hidden, 1)
        check_number("gen_epochs", self.epochs, 0)
        check_int("gen_min_steps", self.min_steps, 0)
        check_int("gen_batch_size", self.batch_size, 1)
        check_number("gen_lr", self.lr, 0, strict=True)
        if self.epochs <= 0 and self.min_steps <= 0:
            raise ConfigError("generator training needs --gen-epochs > 0 or --gen-min-steps > 0")
        return self

    def model_kwargs(self) -> dict:
        return {"latent_dim": self.latent_dim, "hidden": self.hidden, **dict(self.options)}

    def to_dict(self) -> dict:
        """The fields as a dict; ``options`` only when set, so keys and config files from before it stay the same."""
        d = dataclasses.asdict(self)
        if not self.options:
            del d["options"]
        else:
            d["options"] = [list(p) for p in self.options]
        return d


def build_generator(config: GeneratorConfig, image_shape) -> torch.nn.Module:
    return GENERATORS.resolve(config.kind)(image_shape, **config.model_kwargs())


def train_generator(
    x: np.ndarray,
    config: GeneratorConfig = GeneratorConfig(),
    *,
    seed: int = 0,
    progress: bool = True,
    checkpoint_dir=None,
    device=None,
) -> torch.nn.Module:
    """Train a generator on unlabelled images ``x`` (shape (n, C, H, W), [0, 1]); no cache.

    Models with a ``fit_model`` hook train themselves (``checkpoint_dir``: per-epoch checkpoints,
    resumed when present; ``device``: where to train); the rest go through the generic ``fit``.
    The returned model is on the CPU.
    """
    seed_everything(seed)
    model = build_generator(config, x.shape[1:])
    if hasattr(model, "fit_model"):
        model.fit_model(x, config, seed=seed, progress=progress, checkpoint_dir=checkpoint_dir, device=device)
        return model.cpu().eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    tc = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, min_steps=config.min_steps)
    cbs = [TqdmCallback(desc=f"{config.kind} training", disable=not progress)]
    fit(model, (xt,), lambda m, b: m.loss(b[0]), tc, seed=[seed, 7], callbacks=cbs)
    return model.eval()


def generator_key(fingerprint: str, config: GeneratorConfig, seed: int) -> str:
    return json_key(
        {
            "data": fingerprint,
            "config": config.to_dict(),
            "seed": seed,
            "torch": torch.__version__.split("+")[0],
        }
    )


def get_generator(
    dataset,
    config: GeneratorConfig = GeneratorConfig(),
    *,
    seed: int = 0,
    cache: bool = True,
    progress: bool = True,
    root: str | os.PathLike | None = None,
    device=None,
) -> torch.nn.Module:
    """A trained generator for ``dataset``'s pool: from the on-disk cache, else trained and cached.

    Parameters
    ----------
    dataset : latentlab.datasets.Dataset
    config : GeneratorConfig
    seed : int
        Generator seed (weight init, minibatch order, reparameterisation noise).
    cache : bool
        Read and write ``<cache_dir>/generators/<dataset>-<kind>-<key>.pt``.
    root : path, optional
        Cache folder (default :func:`cache_dir`).
    device : str or torch.device, optional
        Where to train (models with a ``fit_model`` hook) and where the returned model lives.
        A killed training of such a model resumes from ``<cache>/generators/<name>.ckpt/``.
    """
    if device is not None:
        deterministic_device(device)
    key = generator_key(dataset.fingerprint(), config, seed)
    path = Path(root or cache_dir()) / "generators" / f"{dataset.name}-{config.kind}-{key}.pt"
    if cache and path.exists():
        model = _load_cached(path, config, dataset.image_shape)
        if model is not None:
            return model.to(device) if device is not None else model
    ckpt = path.with_suffix(".ckpt") if cache else None
    model = train_generator(dataset.x_train, config, seed=seed, progress=progress, checkpoint_dir=ckpt, device=device)
    if cache:
        save_state(
            model,
            path,
            meta={
                "dataset": dataset.name,
                "fingerprint": dataset.fingerprint(),
                "config": config.to_dict(),
                "seed": seed,
                "train_history": getattr(model, "train_history", None),
            },
        )
        if ckpt is not None and ckpt.exists():
            import shutil

            shutil.rmtree(ckpt)
    return model.to(device) if device is not None else model


def _load_cached(path: Path, config: GeneratorConfig, image_shape):
    """The cached generator at ``path`` if its bytes match the SHA-256 in its sidecar, else None (with a
    warning naming the file: it is trained again and the entry rewritten).

    A sidecar without ``sha256`` (edited, or written before checksums existed) is a failure too:
    an unverified entry is never trusted.
    """
    import json
    import warnings

    from .exceptions import ResumeError

    side = path.with_suffix(".json")
    try:
        meta = json.loads(side.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, RecursionError) as e:
        warnings.warn(
            f"generator cache entry {path}: its sidecar {side.name} is missing or unreadable "
            f"({e.__class__.__name__}); training the generator again",
            stacklevel=3,
        )
        return None
    try:
        model = load_state(
            build_generator(config, image_shape), path, sha256=meta.get("sha256"), fix="training the generator again"
        ).eval()
    except ResumeError as e:
        warnings.warn(str(e), stacklevel=3)
        return None
    return model


@torch.no_grad()
def encode(generator, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Posterior means of images ``x`` (n, C, H, W) -> ndarray (n, latent_dim) float32."""
    generator.eval()
    dev = _device_of(generator)
    out = [
        generator.encode(torch.as_tensor(x[i : i + batch_size], dtype=torch.float32).to(dev)).cpu().numpy()
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, generator.latent_dim), np.float32)


@torch.no_grad()
def decode(generator, z: np.ndarray) -> np.ndarray:
    """Images G(z), shape (n, C, H, W), for latent points ``z`` (n, latent_dim)."""
    generator.eval()
    dev = _device_of(generator)
    return generator.decode(torch.as_tensor(np.asarray(z), dtype=torch.float32).to(dev)).cpu().numpy()


def _device_of(module) -> torch.device:
    p = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
    return p.device if p is not None else torch.device("cpu")
