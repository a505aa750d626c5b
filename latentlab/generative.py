"""Stage 1 of the method: train the generative model (E, G) on the unlabelled pool, cache it.

A generator is any ``nn.Module`` with ``encode(x) -> z`` (posterior mean, shape (n, latent_dim)),
``decode(z) -> x`` (images in [0, 1]) and ``latent_dim``, trained in one of two ways:

* ``loss(x) -> scalar`` (one objective, e.g. the VAE): the generic :func:`latentlab.training.fit`;
* ``fit_model(x, config, *, seed, progress, checkpoint_dir, device)`` (e.g. the alpha-GAN, whose
  three players alternate with their own optimisers, which one ``loss_fn`` cannot express without
  hiding optimiser steps inside it): the model's own loop, with per-epoch checkpoints and resume.

Trained weights are cached on disk as
a ``state_dict`` keyed by (dataset fingerprint, config, seed) and loaded with ``weights_only=True``.

**Shipped weights.** For the data sets latentlab knows (``digits``, ``mnist``, ``vessels``) the package carries
the generator its own code trains with the default settings and generator seed 0
(``latentlab/weights/``, written by ``benchmarks/ship_generators.py``), under the very name the cache
would give it: the key binds the data's fingerprint (a hash of the pool's pixels and labels), the
settings, the seed and the torch version, and the JSON sidecar holds the file's SHA-256, checked at
load. A cache miss for exactly that (data, settings, seed) loads the shipped file instead of
training; any other pool (``--n-pool``, ``--val``), setting or seed trains as before.
``retrain=True`` (``latentlab run --retrain-generator``) ignores both the cache and the shipped
weights and trains afresh (the result replaces the cache entry); ``LATENTLAB_SHIPPED_WEIGHTS=0``
turns the shipped weights off (the generator then trains once and is cached).

**Watching the latent space form.** ``on_epoch`` (a callable) gets a :class:`LatentSnapshot` once
before training and after every epoch: the codes of a fixed, seeded subset of the pool (``watch``
items), so a view can redraw the map while the generator trains (:func:`latent_snapshots` collects
them headless). Encoding the subset touches no random stream and no weights: training gives the
same bits with or without the callback. Code that does not call :func:`get_generator` itself (the
explorer loads through ``experiment.prepare``) watches with :func:`watching`: inside the block, on
this thread, every :func:`get_generator` call without its own ``on_epoch`` reports to the watcher's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from .models import GENERATORS
from .storage import cache_dir, check_cache_writable, json_key, load_state, save_state
from .training import TqdmCallback, TrainConfig, deterministic_device, fit, seed_everything

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .datasets import Dataset

__all__ = [
    "GeneratorConfig",
    "GENERATOR_V1",
    "LatentSnapshot",
    "get_generator",
    "train_generator",
    "latent_snapshots",
    "watching",
    "generator_key",
    "shipped_dir",
    "encode",
    "decode",
    "EncoderDecoder",
    "has_decoder",
]


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator's settings; they (with the data and the seed) name its cache entry.

    Parameters
    ----------
    kind : str, default "vae"
        A registered generator (``models.GENERATORS``: ``vae``, ``alphagan``, ...).
    latent_dim : int, default 2
        Dimension of the latent space (2-D is what the live view shows).
    hidden : int, default 400
        Width of the hidden layers (Tables S9/S10).
    epochs : float, default 30.0
        Training epochs over the pool.
    batch_size : int, default 128
        Minibatch size.
    lr : float, default 1e-3
        Adam's learning rate.
    min_steps : int, default 3000
        At least this many optimiser steps (small pools need many epochs for a usable map).
    schedule : {"constant", "cosine"}, default "constant"
        The learning rate over training, as :class:`~latentlab.training.TrainConfig`.
    options : tuple of (str, object) pairs, default ()
        Extra keyword arguments of the generator class, e.g. ``(("warmup_epochs", 3),)`` for the
        alpha-GAN; sorted by name (a dict is accepted too).
    """

    kind: str = "vae"  # registry name (models.GENERATORS)
    latent_dim: int = 2  # the paper's text; its tables say 15. 2-D is what the live view can show
    hidden: int = 400  # Tables S9/S10
    epochs: float = 30.0  # ~3 s/epoch on 60k MNIST on 2 cores; 30 epochs gives a well-spread 2-D map
    batch_size: int = 128  # standard VAE batch; larger batches speed up CPU training
    lr: float = 1e-3  # Adam default
    min_steps: int = 3000  # small pools (1.3k digits) need many epochs to give a usable map
    schedule: str = "constant"  # learning rate over training: "constant" or "cosine" (to 0), as TrainConfig
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
        """Check every setting (types and ranges; options must be keyword arguments of the generator).

        Returns
        -------
        GeneratorConfig
            This config, unchanged.
        """
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
        """Keyword arguments of the generator class: ``latent_dim``, ``hidden`` and the options.

        Returns
        -------
        dict
            Name -> value.
        """
        return {"latent_dim": self.latent_dim, "hidden": self.hidden, **dict(self.options)}

    def to_dict(self) -> dict:
        """The fields as a dict; ``options`` only when set, so keys and config files from before it stay the same.

        Returns
        -------
        dict
            Field name -> value (``schedule`` absent at ``"constant"``, ``options`` absent when empty).
        """
        d = dataclasses.asdict(self)
        if self.schedule == "constant":  # absent at its old value: keys from before the field stay the same
            del d["schedule"]
        if not self.options:
            del d["options"]
        else:
            d["options"] = [list(p) for p in self.options]
        return d


# The VAE recipe of every result published before issue 22 (30 epochs of batch 128, constant rate 1e-3,
# at least 3,000 steps). The benchmark scripts that reproduce those results pin it explicitly
# (``--gen-epochs 30 --gen-batch-size 128 --gen-lr 1e-3 --gen-min-steps 3000 --gen-schedule constant``);
# its cache key is the one the old default had.
GENERATOR_V1 = GeneratorConfig(epochs=30.0, batch_size=128, lr=1e-3, min_steps=3000, schedule="constant")


def build_generator(config: GeneratorConfig, image_shape) -> torch.nn.Module:
    return GENERATORS.resolve(config.kind)(image_shape, **config.model_kwargs())


@dataclass(frozen=True)
class LatentSnapshot:
    """The codes of a fixed subset of the pool at one moment of the generator's training.

    Attributes
    ----------
    epoch : float
        Epochs completed (0 = before the first step; alpha-GAN warm-up epochs count).
    n_epochs : float
        Epochs the training will run in all.
    step, n_steps : int
        Optimiser steps (minibatches) done and in all.
    loss : float or None
        Mean training loss over the last epoch (None before training).
    indices : ndarray int64 (m,)
        The pool rows encoded, ascending; the same in every snapshot of one training.
    codes : ndarray float32 (m, latent_dim)
        ``E(x[indices])``, posterior means.
    """

    epoch: float
    n_epochs: float
    step: int
    n_steps: int
    loss: float | None
    indices: np.ndarray
    codes: np.ndarray


def watch_indices(n: int, watch: int | None, seed: int = 0) -> np.ndarray:
    """The pool rows a training's snapshots encode: all ``n`` when ``watch`` is None or >= n, else a
    seeded random ``watch`` of them (ascending; their own stream, never the training's)."""
    if watch is None or watch >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng([int(seed), 0x5EE]).choice(n, int(watch), replace=False)).astype(np.int64)


class _Watcher:
    """Encodes ``x[indices]`` with the model being trained and hands a :class:`LatentSnapshot` to ``on_epoch``.

    As a :func:`latentlab.training.fit` callback it fires every ``steps_per_epoch`` steps (and on the
    last); models with their own loop (``fit_model``) call :meth:`epoch_done` after each epoch.
    """

    def __init__(self, model, x, indices, on_epoch, steps_per_epoch: int = 1, n_epochs: float = 1.0):
        self.model, self.x, self.indices, self.on_epoch = model, x, indices, on_epoch
        self.steps_per_epoch, self.n_epochs = max(int(steps_per_epoch), 1), float(n_epochs)
        self.n_steps, self._losses = 0, []

    def emit(self, epoch: float, step: int, loss: float | None) -> None:
        was_training = self.model.training
        codes = encode(self.model, self.x[self.indices] if len(self.indices) < len(self.x) else self.x)
        self.model.train(was_training)
        self.on_epoch(LatentSnapshot(epoch, self.n_epochs, step, self.n_steps, loss, self.indices, codes))

    # fit() callback protocol
    def on_start(self, n_steps: int):
        self.n_steps = n_steps
        self.n_epochs = n_steps / self.steps_per_epoch
        self.emit(0.0, 0, None)

    def on_step(self, step: int, loss: float):
        self._losses.append(loss)
        done = step + 1
        if done % self.steps_per_epoch == 0 or done == self.n_steps:
            mean = float(np.mean(self._losses))
            self._losses = []
            self.emit(done / self.steps_per_epoch, done, mean)

    # fit_model hook
    def epoch_done(self, epoch: int, n_epochs: int, record: dict) -> None:
        self.n_epochs = float(n_epochs)
        self.n_steps = n_epochs * self.steps_per_epoch
        loss = record.get("eg", record.get("l1"))
        self.emit(float(epoch), epoch * self.steps_per_epoch, None if loss is None else float(loss))


def train_generator(
    x: np.ndarray,
    config: GeneratorConfig = GeneratorConfig(),
    *,
    seed: int = 0,
    progress: bool = True,
    checkpoint_dir=None,
    device=None,
    on_epoch=None,
    watch: int | None = 2000,
) -> torch.nn.Module:
    """Train a generator on unlabelled images ``x`` (shape (n, C, H, W), [0, 1]); no cache.

    Models with a ``fit_model`` hook train themselves (``checkpoint_dir``: per-epoch checkpoints,
    resumed when present; ``device``: where to train); the rest go through the generic ``fit``.
    The returned model is on the CPU.

    ``on_epoch(snapshot)``: called with a :class:`LatentSnapshot` of ``watch`` seeded pool items
    (None = all) before training and after every epoch (see the module docstring). A progress bar
    over optimiser steps shows when ``progress``.
    """
    seed_everything(seed)
    model = build_generator(config, x.shape[1:])
    n = len(x)
    spe = max(n // min(int(config.batch_size), n), 1) if n else 1
    watcher = None
    if on_epoch is not None:
        watcher = _Watcher(model, x, watch_indices(n, watch, seed), on_epoch, spe)
    if hasattr(model, "fit_model"):
        kw = {"on_epoch": watcher.epoch_done} if watcher is not None else {}
        if watcher is not None:
            watcher.emit(0.0, 0, None)
        model.fit_model(x, config, seed=seed, progress=progress, checkpoint_dir=checkpoint_dir, device=device, **kw)
        return model.cpu().eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    tc = TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        min_steps=config.min_steps,
        schedule=config.schedule,
    )
    cbs = [TqdmCallback(desc=f"{config.kind} training", disable=not progress)]
    if watcher is not None:
        cbs.append(watcher)
    fit(model, (xt,), lambda m, b: m.loss(b[0]), tc, seed=[seed, 7], callbacks=cbs)
    return model.eval()


def latent_snapshots(
    x: np.ndarray,
    config: GeneratorConfig = GeneratorConfig(),
    *,
    seed: int = 0,
    watch: int | None = 2000,
    progress: bool = True,
) -> tuple[torch.nn.Module, list[LatentSnapshot]]:
    """Train a generator on ``x`` (no cache) and return it with the snapshots of its latent space as
    it formed: one before training, one per epoch (headless; a view draws ``snapshot.codes``)."""
    snaps: list[LatentSnapshot] = []
    model = train_generator(x, config, seed=seed, progress=progress, on_epoch=snaps.append, watch=watch)
    return model, snaps


_WATCHING = threading.local()  # the innermost watching() block of this thread (None outside)


@contextlib.contextmanager
def watching(
    on_epoch: Callable[[LatentSnapshot], None],
    *,
    watch: int | None = 2000,
    retrain: bool = False,
    on_train: Callable[[Any, GeneratorConfig], None] | None = None,
):
    """Within the block, on this thread, :func:`get_generator` reports its training to ``on_epoch``.

    For callers that reach :func:`get_generator` through other code (``experiment.prepare``): a call
    without its own ``on_epoch`` uses this one and ``watch``; ``retrain=True`` makes it train afresh
    (as its ``retrain``); ``on_train(dataset, config)`` is called just before a training starts
    (never when the generator comes from the cache or the shipped weights). Other threads are not
    affected, and the weights are the same bits as without the block.
    """
    prev = getattr(_WATCHING, "ctx", None)
    _WATCHING.ctx = {"on_epoch": on_epoch, "watch": watch, "retrain": bool(retrain), "on_train": on_train}
    try:
        yield
    finally:
        _WATCHING.ctx = prev


def generator_key(fingerprint: str, config: GeneratorConfig, seed: int) -> str:
    return json_key(
        {
            "data": fingerprint,
            "config": config.to_dict(),
            "seed": seed,
            "torch": torch.__version__.split("+")[0],
        }
    )


def shipped_dir() -> Path:
    """The folder of generator weights shipped with the package (``latentlab/weights``)."""
    return Path(__file__).resolve().parent / "weights"


def get_generator(
    dataset: Dataset,
    config: GeneratorConfig = GeneratorConfig(),
    *,
    seed: int = 0,
    cache: bool = True,
    progress: bool = True,
    root: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    retrain: bool = False,
    shipped: bool | None = None,
    on_epoch: Callable[[Any], None] | None = None,
    watch: int | None = 2000,
) -> torch.nn.Module:
    """A trained generator for a data set's pool: from the cache, the shipped weights, or trained.

    On a cache miss the package's shipped weights are used when they are exactly this generator;
    otherwise it trains, and the result is cached.

    Parameters
    ----------
    dataset : latentlab.datasets.Dataset
        The data set whose pool (``x_train``) the generator learns.
    config : GeneratorConfig
        The generator's settings.
    seed : int
        Generator seed (weight init, minibatch order, reparameterisation noise).
    cache : bool
        Read and write ``<cache_dir>/generators/<dataset>-<kind>-<key>.pt``.
    progress : bool
        Show training progress (tqdm).
    root : path, optional
        Cache folder (default :func:`cache_dir`).
    device : str or torch.device, optional
        Where to train (models with a ``fit_model`` hook) and where the returned model lives.
        A killed training of such a model resumes from ``<cache>/generators/<name>.ckpt/``.
    retrain : bool
        Train afresh even when the cache or the shipped weights have this generator (the new
        weights replace the cache entry; ``latentlab run --retrain-generator``).
    shipped : bool, optional
        Use the package's shipped weights on a cache miss when they are exactly this generator
        (:func:`shipped_dir`; checked by name, data fingerprint, settings and SHA-256). Default: yes,
        unless ``$LATENTLAB_SHIPPED_WEIGHTS`` is ``0``/``off`` (then the generator trains once and
        is cached, as before shipped weights existed).
    on_epoch : callable, optional
        Called with snapshots of the latent space while it trains (:func:`train_generator`); not
        called when the generator comes from the cache or the shipped weights.
    watch : int or None, default 2000
        Pool items encoded for each snapshot (:func:`train_generator`).

    Returns
    -------
    torch.nn.Module
        The trained generator, in eval mode, on ``device`` (CPU by default).
    """
    ctx = getattr(_WATCHING, "ctx", None)
    if ctx is not None and on_epoch is None:  # a watching() block of this thread
        on_epoch, watch, retrain = ctx["on_epoch"], ctx["watch"], retrain or ctx["retrain"]
    if device is not None:
        deterministic_device(device)
    if shipped is None:
        shipped = os.environ.get("LATENTLAB_SHIPPED_WEIGHTS", "1").strip().lower() not in ("0", "off", "false", "no")
    fp = dataset.fingerprint()
    key = generator_key(fp, config, seed)
    name = f"{dataset.name}-{config.kind}-{key}"
    path = Path(root or cache_dir()) / "generators" / f"{name}.pt"
    if not retrain:
        model = _load_cached(path, config, dataset.image_shape) if cache and path.exists() else None
        if model is not None:
            log.debug("generator %s: from the cache (%s)", name, path)
        elif shipped:
            model = _load_shipped(shipped_dir() / f"{name}.pt", config, dataset.image_shape, fp, seed)
            if model is not None:
                log.info("generator %s: the weights shipped with latentlab", name)
        if model is not None:
            return model.to(device) if device is not None else model
    log.info(
        "generator %s: training it on %d pool items%s",
        name,
        len(dataset.x_train),
        f" (cached in {path})" if cache else "",
    )
    if cache:  # before training: a cache folder that cannot be written would lose the trained weights
        check_cache_writable(path.parent)
    ckpt = path.with_suffix(".ckpt") if cache else None
    if retrain and ckpt is not None and ckpt.exists():
        import shutil

        shutil.rmtree(ckpt)
    if ctx is not None and ctx["on_train"] is not None:
        ctx["on_train"](dataset, config)
    model = train_generator(
        dataset.x_train,
        config,
        seed=seed,
        progress=progress,
        checkpoint_dir=ckpt,
        device=device,
        on_epoch=on_epoch,
        watch=watch,
    )
    if cache:
        save_state(
            model,
            path,
            meta={
                "dataset": dataset.name,
                "fingerprint": fp,
                "config": config.to_dict(),
                "seed": seed,
                "train_history": getattr(model, "train_history", None),
            },
        )
        if ckpt is not None and ckpt.exists():
            import shutil

            shutil.rmtree(ckpt)
    return model.to(device) if device is not None else model


def _load_shipped(path: Path, config: GeneratorConfig, image_shape, fingerprint: str, seed: int):
    """The shipped generator at ``path`` when it exists and its sidecar says it is exactly this one
    (data fingerprint, settings, seed) and its bytes match the recorded SHA-256; else None (with a
    warning when the file exists but fails a check: the generator is then trained)."""
    import json
    import warnings

    from .exceptions import ResumeError

    side = path.with_suffix(".json")
    if not path.exists() or not side.exists():
        return None
    try:
        meta = json.loads(side.read_text())
        ok = (
            meta.get("fingerprint") == fingerprint
            and meta.get("config") == config.to_dict()
            and meta.get("seed") == seed
            and isinstance(meta.get("sha256"), str)
        )
        if not ok:
            raise ValueError("its sidecar names other data, settings or seed")
        return load_state(
            build_generator(config, image_shape), path, sha256=meta["sha256"], fix="training the generator instead"
        ).eval()
    except (OSError, ValueError, ResumeError) as e:
        warnings.warn(f"shipped generator {path.name} not used ({e}); training the generator instead", stacklevel=3)
        return None


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
def encode(generator: torch.nn.Module, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Posterior means of images ``x`` (n, C, H, W) -> ndarray (n, latent_dim) float32.

    Parameters
    ----------
    generator : torch.nn.Module
        A generator with an ``encode`` method.
    x : numpy.ndarray
        Images, shape (n, C, H, W), float32 in [0, 1].
    batch_size : int, default 4096
        Images encoded at once.

    Returns
    -------
    numpy.ndarray
        Latent codes, shape (n, latent_dim), float32.
    """
    generator.eval()
    dev = _device_of(generator)
    out = [
        generator.encode(torch.as_tensor(x[i : i + batch_size], dtype=torch.float32).to(dev)).cpu().numpy()
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, generator.latent_dim), np.float32)


@torch.no_grad()
def decode(generator: torch.nn.Module, z: np.ndarray) -> np.ndarray:
    """Images G(z), shape (n, C, H, W), for latent points ``z`` (n, latent_dim).

    Parameters
    ----------
    generator : torch.nn.Module
        A generator with a ``decode`` method.
    z : numpy.ndarray
        Latent points, shape (n, latent_dim).

    Returns
    -------
    numpy.ndarray
        Images, shape (n, C, H, W), float32.
    """
    generator.eval()
    dev = _device_of(generator)
    return generator.decode(torch.as_tensor(np.asarray(z), dtype=torch.float32).to(dev)).cpu().numpy()


def _device_of(module) -> torch.device:
    p = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
    return p.device if p is not None else torch.device("cpu")


class EncoderDecoder(torch.nn.Module):
    """A pretrained encoder (and, optionally, decoder) of your own as latentlab's latent space.

    ``run_experiment(generator=(encoder, decoder))`` wraps the pair in this class; nothing is trained.

    Parameters
    ----------
    encoder : callable
        ``encoder(x) -> z``: images (n, C, H, W) float32 in [0, 1] to codes (n, latent_dim); a tuple
        output (e.g. a VAE's ``(mu, logvar)``) gives its first element, the posterior mean.
    decoder : callable, optional
        ``decoder(z) -> x``: codes back to images of the data's shape in [0, 1], differentiable in
        torch. Strategies that move points in the latent space and label what they decode (``snn``,
        the ``si`` family) need it; strategies that score or cover the pool's codes
        (``latent-coreset``, ``diverse-entropy``) and every pool-scoring strategy (``entropy``,
        ``margin``, ``bald``, ...) do not.
    latent_dim : int, optional
        Size of the codes; found at the first encode when not given (sampling ``z ~ N(0, I)``, as SI
        does, needs it before).
    """

    def __init__(self, encoder, decoder=None, latent_dim: int | None = None):
        super().__init__()
        if not callable(encoder) or (decoder is not None and not callable(decoder)):
            from .exceptions import ConfigError

            raise ConfigError("generator=(encoder, decoder): both must be callables (nn.Module), decoder may be None")
        self.encoder = encoder
        self.decoder = decoder
        self._latent_dim = latent_dim

    @property
    def latent_dim(self) -> int:
        if self._latent_dim is None:
            from .exceptions import ConfigError

            raise ConfigError("the latent size is not known before the first encode; give EncoderDecoder(latent_dim=)")
        return int(self._latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        if isinstance(z, (tuple, list)):
            z = z[0]
        z = z.flatten(1)
        if self._latent_dim is None:
            self._latent_dim = int(z.shape[1])
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.decoder is None:
            from .exceptions import ConfigError

            raise ConfigError(
                "this latent space has no decoder; give generator=(encoder, decoder), or use strategies "
                "that do not decode (latent-coreset, diverse-entropy, or any pool-scoring strategy)"
            )
        return self.decoder(z)


def has_decoder(generator) -> bool:
    """Whether ``generator`` can decode codes to images (an :class:`EncoderDecoder` without one cannot)."""
    if isinstance(generator, EncoderDecoder):
        return generator.decoder is not None
    return callable(getattr(generator, "decode", None))
