"""The progressive training loop (Algorithm 1): train F, evaluate, propose, label, checkpoint.

:class:`ActiveLoop` holds the state of one run (one strategy, one seed); :meth:`ActiveLoop.run_round`
runs exactly one round and the driver loop stays short (the baal pattern)::

    loop = ActiveLoop(dataset, get_strategy("snn"), LoopConfig(), seed=0,
                      latent=LatentSpace.from_generator(vae, dataset.x_train))
    while not loop.done:
        rec = loop.run_round()

Randomness of round t derives from ``(seed, t)`` only, never from a running stream, so a run
resumed from its checkpoint after a crash continues exactly as if it had never stopped. The
initial set depends on the seed only: every strategy of one seed starts from the same items.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .exceptions import ConfigError, ResumeError
from .gradients import LOSS_ON
from .labeling import Labeler, OracleLabeler
from .models import build_target
from .latent import LatentSpace
from .pool import PoolState
from .storage import atomic_path, atomic_write, load_state, save_state, sha256_bytes, sha256_file, verify_file
from .datasets import balanced_indices
from .strategies import Proposal, SamplingContext, Strategy
from .tasks import task_for
from .training import TqdmCallback, TrainConfig, deterministic_device, fit, seed_everything

__all__ = ["LoopConfig", "RoundRecord", "ActiveLoop"]

# fixed stream ids mixed into (seed, round) so each use of randomness has its own stream
_INIT_SET, _PROPOSE, _TRAIN, _WEIGHTS = 0, 1, 2, 3


@dataclass(frozen=True)
class LoopConfig:
    """Settings of one progressive run. Every default says why it is what it is."""

    rounds: int = 10  # Table 1 reports t = 1..10
    initial: int = 100  # |T(1)|, random; the paper does not give sizes, BENCHMARKS.md says what we chose
    per_round: int = 100  # |T(t)| for t >= 2 (= J, the number of sampling points)
    alpha: float = 0.2  # step length of Eq. 2 in latent units (prior std 1); 0.05 was too short on MNIST
    loss_on: str = "decoded"  # "decoded" = F(G(p)) as in Eq. 1; "real" = loss of the real x, gradient through G
    warm_start: bool = True  # continue training F across rounds: the paper's drop-and-rebound curves
    #   (Section 5) imply a model that keeps training; it is also cheaper. False = retrain from scratch.
    target: str = "lenet"  # target model F (models.TARGETS)
    target_kwargs: tuple = ()  # extra (key, value) pairs for the target builder, e.g. (("width", 0.25),)
    train: TrainConfig = TrainConfig(epochs=10, batch_size=64, lr=1e-3, min_steps=300)
    #   min_steps: at 100 labels 10 epochs are only ~16 steps; 300 steps train LeNet properly
    budget: int | None = None  # stop before the number of labels would exceed this
    target_metric: float | None = None  # stop once the test metric reaches this
    candidates: int | None = None  # entropy: score a random subset of this many unlabelled items (None = all)
    initial_balanced: bool = False  # T(1) with equal counts per class (the BatchBALD protocol) instead of random
    mc_samples: int = 20  # bald, batchbald: MC-dropout passes K (BatchBALD's MNIST runs use 20 to 100)

    def __post_init__(self):
        if isinstance(self.alpha, int) and not isinstance(self.alpha, bool):
            object.__setattr__(self, "alpha", float(self.alpha))

    def validate(self) -> "LoopConfig":
        from .checks import check_int, check_number

        check_int("rounds", self.rounds, 1, "rounds must be >= 1")
        check_int("initial", self.initial, 1, "initial set size must be >= 1")
        check_int("per_round", self.per_round, 1, "per-round batch size must be >= 1")
        if not (isinstance(self.alpha, (int, float)) and np.isfinite(self.alpha) and self.alpha > 0):
            raise ConfigError(
                f"alpha must be a finite number > 0 (a step length in latent units, e.g. 0.2), got {self.alpha}"
            )
        if self.loss_on not in LOSS_ON:
            raise ConfigError(f"loss_on must be one of {', '.join(LOSS_ON)}, got {self.loss_on!r}")
        tr = self.train
        check_number("epochs", tr.epochs, 0)
        check_int("min_steps", tr.min_steps, 0)
        check_int("batch_size", tr.batch_size, 1)
        check_number("lr", tr.lr, 0, strict=True)
        check_number("weight_decay", tr.weight_decay, 0)
        if tr.epochs <= 0 and tr.min_steps <= 0:
            raise ConfigError("target training needs epochs > 0 or min_steps > 0")
        tr.validate()
        if self.budget is not None:
            check_int("budget", self.budget, 1)
            if self.budget < self.initial:
                raise ConfigError(
                    f"--budget {self.budget} is smaller than the initial set ({self.initial}); "
                    "raise --budget or lower --initial"
                )
        if self.target_metric is not None:
            check_number("target_metric", self.target_metric)
        if self.candidates is not None:
            check_int("candidates", self.candidates, 1)
        if not isinstance(self.initial_balanced, bool):
            raise ConfigError(f"initial_balanced must be true or false, got {self.initial_balanced!r}")
        check_int(
            "mc_samples",
            self.mc_samples,
            2,
            "--mc-samples must be a whole number >= 2 (BALD needs samples to disagree)",
        )
        for k, v in self.target_kwargs:
            if k == "width":
                check_number("target_width", v, 0, strict=True)
        from .models import TARGETS

        TARGETS.resolve(self.target)
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["train"] = self.train.to_dict()
        if not self.initial_balanced:  # absent at its default, so older run folders still resume
            del d["initial_balanced"]
        d["target_kwargs"] = [list(kv) for kv in self.target_kwargs]
        if self.mc_samples == LoopConfig.mc_samples:  # absent when default: older run folders still resume
            del d["mc_samples"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LoopConfig":
        d = dict(d)
        d["train"] = TrainConfig(**d["train"])
        d["target_kwargs"] = tuple(tuple(kv) for kv in d.get("target_kwargs", ()))
        return cls(**d)


@dataclass
class RoundRecord:
    """What happened in one round. ``metric`` is measured after training on ``n_labelled`` items;
    the proposal fields describe the batch proposed *after* that evaluation (empty in the last round)."""

    round: int
    n_labelled: int
    metric: float
    metric_name: str
    train_loss: float
    n_steps: int
    train_s: float = 0.0
    eval_s: float = 0.0
    sample_s: float = 0.0
    n_proposed: int = 0
    n_failed: int = 0  # proposed items the labeling tool could not label (or post-processing rejected)
    n_synthetic: int = 0  # synthesized items in the train set (sampling by interpolation)
    mean_grad_norm: float | None = None
    mean_loss_at_p: float | None = None
    mean_neighbour_dist: float | None = None
    val_metric: float | None = None  # the same metric on the validation set (None without one)


class ActiveLoop:
    """One progressive run: dataset x strategy x seed.

    Parameters
    ----------
    dataset : latentlab.datasets.Dataset
    strategy : latentlab.strategies.Strategy
    config : LoopConfig
    seed : int
    latent : LatentSpace, optional
        The frozen generator, the pool embeddings and their index (required by latent strategies).
    labeler : latentlab.labeling.Labeler, optional
        Where labels come from; the dataset oracle (``dataset.y_train``) by default.
    checkpoint_dir : path, optional
        When given, the state is written there atomically after every round, and an existing
        checkpoint is resumed (see :meth:`load_checkpoint`).
    progress : bool
        tqdm bars for target training.
    device : str or torch.device, optional
        Where the target model lives and trains (CPU by default); move ``generator`` there too.
    """

    def __init__(
        self,
        dataset,
        strategy: Strategy,
        config: LoopConfig = LoopConfig(),
        seed: int = 0,
        *,
        latent: LatentSpace | None = None,
        labeler: Labeler | None = None,
        checkpoint_dir=None,
        progress: bool = True,
        device=None,
    ):
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        deterministic_device(self.device)
        self.dataset = dataset
        self.task = task_for(dataset)
        self.strategy = strategy
        self.config = config.validate()
        self.seed = int(seed)
        self.latent = latent
        if config.train.augment != "none" and not self.task.categorical:
            raise ConfigError(
                f"--augment {config.train.augment} transforms the inputs but not image-valued labels "
                f"({dataset.name} is a {dataset.task} task); use --augment none"
            )
        if strategy.needs_generator and latent is None:
            raise ConfigError(f"strategy {strategy.name!r} needs a trained generator; pass latent=LatentSpace(...)")
        n_pool = len(dataset.x_train)
        if config.initial > n_pool:
            raise ConfigError(
                f"initial set of {config.initial} is larger than the pool ({n_pool} items); lower --initial"
            )
        if labeler is None:
            if dataset.y_train is None:
                raise ConfigError(f"{dataset.name} has no known labels; pass a labeling tool (labeler=...)")
            labeler = OracleLabeler(dataset.y_train)
        self.labeler = labeler
        # labels of pool items as they arrive; the oracle's are all known, others fill in lazily
        self.pool_labels = labeler.known_labels
        self.synthetic: dict | None = None  # {"x", "y", "z", "round"} of labelled synthesized items
        self.pool = PoolState.empty(n_pool)
        self.records: list[RoundRecord] = []
        self.proposals: list[dict] = []
        self.model = None
        self.finished = False
        self.progress = progress
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        if self.checkpoint_dir and (self.checkpoint_dir / "state.json").exists():
            self.load_checkpoint()

    # ------------------------------------------------------------------ state
    @property
    def round(self) -> int:
        """Rounds completed so far."""
        return len(self.records)

    @property
    def done(self) -> bool:
        return self.finished

    def _rng(self, *stream) -> np.random.Generator:
        return np.random.default_rng([self.seed, *stream])

    def _new_model(self, t: int):
        seed_everything(int(np.random.SeedSequence([self.seed, _WEIGHTS, t]).generate_state(1)[0]))
        return build_target(
            self.config.target,
            self.dataset.image_shape,
            self.task.n_outputs(self.dataset),
            **dict(self.config.target_kwargs),
        ).to(self.device)

    def context(self) -> SamplingContext:
        """The :class:`SamplingContext` strategies see now."""
        return SamplingContext(
            x_pool=self.dataset.x_train,
            y_pool=self.pool_labels,
            pool=self.pool,
            task=self.task,
            target=self.model,
            latent=self.latent,
            alpha=self.config.alpha,
            loss_on=self.config.loss_on,
            candidates=self.config.candidates,
            labeler=self.labeler,
            synthetic=self.synthetic,
            mc_samples=self.config.mc_samples,
        )

    def initial_proposal(self):
        """T(1) as the strategy builds it; pool-based strategies of one seed all get the same items.

        With ``initial_balanced`` the shared draw has equal counts per class (needs known labels)."""
        rng = self._rng(_INIT_SET)
        if self.config.initial_balanced and self.strategy.shares_initial_set:
            if self.labeler.known_labels is None or not self.task.categorical:
                raise ConfigError(
                    "a class-balanced initial set needs class labels known in advance (the oracle); "
                    "drop --balanced-initial"
                )
            return Proposal(indices=balanced_indices(self.labeler.known_labels, self.config.initial, rng))
        return self.strategy.initial(self.context(), self.config.initial, rng)

    def initial_set(self) -> np.ndarray:
        """Pool items of the initial set (empty for strategies that synthesize it)."""
        return self.initial_proposal().indices

    @property
    def n_labelled(self) -> int:
        return self.pool.n_labelled + (len(self.synthetic["round"]) if self.synthetic else 0)

    def labelled(self, upto_round: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pool items labelled so far (or before round ``upto_round``) and the round that labelled each."""
        idx = self.pool.labelled_indices() if upto_round is None else self.pool.labelled_indices(upto_round=upto_round)
        return idx, self.pool.labelled_round[idx]

    def labels_of(self, items: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """Labels of pool ``items`` where the loop knows them (all, for the oracle; labelled ones for a
        tool), ``fallback`` elsewhere."""
        y = np.array(fallback, copy=True)
        if self.pool_labels is not None:
            m = np.ones(len(items), bool) if self.labeler.known_labels is not None else self.pool.labelled_mask[items]
            y[m] = self.pool_labels[items][m]
        return y

    def snapshot(self, round_: int) -> dict:
        """The run after round ``round_``: ``record``, ``labelled`` (the round's proposal included),
        ``labelled_round``, ``proposal`` (the arrays the strategy recorded)."""
        if not 1 <= round_ <= self.round:
            raise ConfigError(f"round must be in 1..{self.round} (rounds run so far), got {round_}")
        lab, rounds = self.labelled(upto_round=round_ + 1)
        return {
            "record": self.records[round_ - 1],
            "labelled": lab,
            "labelled_round": rounds,
            "proposal": self.proposals[round_ - 1],
        }

    def curve(self) -> tuple[list, list]:
        """Learning curve: labelled items and metric per round."""
        return [r.n_labelled for r in self.records], [r.metric for r in self.records]

    def train_set(self):
        """``(x, y)`` arrays of everything labelled so far: pool items, then synthesized items."""
        idx = self.pool.labelled_indices()
        x, y = self.dataset.x_train[idx], (self.pool_labels[idx] if idx.size else None)
        if self.synthetic:
            x = np.concatenate([x, self.synthetic["x"]]) if idx.size else self.synthetic["x"]
            y = np.concatenate([y, self.synthetic["y"]]) if idx.size else self.synthetic["y"]
        return x, y

    def add_synthetic(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, round_: int | None = None) -> None:
        """Add labelled synthesized inputs (``x``, labels ``y``, latent points ``z``) to the train set.

        ``round_`` is the round they count for (default: the next one). SI's proposals and a
        person's annotations in the explorer both arrive here.
        """
        round_ = self.round + 1 if round_ is None else round_
        new = {"x": x, "y": np.asarray(y), "z": np.asarray(z), "round": np.full(len(x), round_, np.int64)}
        self.synthetic = (
            new if self.synthetic is None else {k: np.concatenate([self.synthetic[k], new[k]]) for k in new}
        )

    def _apply(self, prop, round_: int) -> int:
        """Label a proposal and add what got labels to the train set; returns how many items failed.

        A proposal may carry pool items, synthesized inputs, or both (a mix of real and synthesized)."""
        n_failed = 0
        if prop.x_new is not None:
            res = self.labeler.label(prop.x_new, progress=self.progress)
            self.add_synthetic(prop.x_new[res.ok], res.y, np.asarray(prop.z_new)[res.ok], round_)
            n_failed += res.n_failed
        if prop.x_new is None or len(prop.indices):
            n_failed += self._apply_pool(np.asarray(prop.indices, np.int64), round_)
        return n_failed

    def _apply_pool(self, idx: np.ndarray, round_: int) -> int:
        """Label pool items ``idx``; returns how many failed."""
        res = self.labeler.label(self.dataset.x_train[idx], indices=idx, progress=self.progress)
        ok = idx[res.ok]
        if self.labeler.known_labels is None and ok.size:
            y = np.asarray(res.y)
            if self.pool_labels is None:
                self.pool_labels = np.zeros((self.pool.n_pool, *y.shape[1:]), y.dtype)
            self.pool_labels[ok] = y
        self.pool = self.pool.label(ok, round_)
        return res.n_failed

    # ------------------------------------------------------------------ one round
    def run_round(self) -> RoundRecord:
        """Run one round: train F on the labelled set, evaluate, propose and label the next batch."""
        if self.finished:
            raise ConfigError("this run is finished; raise rounds/budget in a new run to continue")
        cfg = self.config
        t = self.round + 1
        n_failed_initial = 0
        if t == 1 and self.n_labelled == 0:
            init = self.initial_proposal()
            n_failed_initial = self._apply(init, 1) + init.n_rejected
            if self.n_labelled == 0:
                raise ConfigError("the labeling tool labelled none of the initial set; see its errors above")

        # train
        t0 = time.perf_counter()
        if self.model is None or not cfg.warm_start:
            self.model = self._new_model(t if not cfg.warm_start else 0)
        x_np, y_np = self.train_set()
        x = torch.as_tensor(x_np, dtype=torch.float32)
        y = self.task.y_tensor(y_np)
        cbs = [TqdmCallback(desc=f"{self.strategy.name} s{self.seed} round {t} train", disable=not self.progress)]
        hist = fit(
            self.model,
            (x, y),
            lambda m, b: self.task.loss(m(b[0]), b[1]),
            cfg.train,
            seed=[self.seed, _TRAIN, t],
            callbacks=cbs,
        )
        train_s = time.perf_counter() - t0

        # evaluate
        t0 = time.perf_counter()
        metric = self.task.evaluate(self.model, self.dataset.x_test, self.dataset.y_test)
        ds = self.dataset
        val = (
            self.task.evaluate(self.model, ds.x_val, ds.y_val)
            if getattr(ds, "x_val", None) is not None and ds.y_val is not None
            else None
        )
        eval_s = time.perf_counter() - t0

        n_lab = len(x_np)
        rec = RoundRecord(
            round=t,
            n_labelled=n_lab,
            metric=metric,
            metric_name=self.task.metric_name,
            train_loss=float(np.mean(hist[-10:])),
            n_steps=len(hist),
            train_s=train_s,
            eval_s=eval_s,
            n_synthetic=len(self.synthetic["round"]) if self.synthetic else 0,
            val_metric=val,
        )
        if t == 1:
            rec.n_failed = n_failed_initial

        # stop or propose
        stop = (
            t >= cfg.rounds
            or (cfg.target_metric is not None and self.task.reaches(metric, cfg.target_metric))
            or (cfg.budget is not None and n_lab + cfg.per_round > cfg.budget)
        )
        prop_arrays = {}
        if not stop:
            t0 = time.perf_counter()
            prop = self.strategy.propose(self.context(), cfg.per_round, self._rng(_PROPOSE, t))
            rec.sample_s = time.perf_counter() - t0
            n_failed = self._apply(prop, t + 1)
            rec.n_proposed = len(prop.indices) + (0 if prop.x_new is None else len(prop.x_new) + prop.n_rejected)
            rec.n_failed += n_failed + prop.n_rejected
            if prop.grad_norm is not None:
                rec.mean_grad_norm = float(np.mean(prop.grad_norm))
            if prop.loss is not None:  # uncertainty-ascent steps along F's entropy: no loss at p recorded
                rec.mean_loss_at_p = float(np.mean(prop.loss))
            if prop.neighbour_dist is not None:
                rec.mean_neighbour_dist = float(np.mean(prop.neighbour_dist))
            prop_arrays = prop.arrays()
        self.records.append(rec)
        self.proposals.append(prop_arrays)
        self.finished = stop
        if self.checkpoint_dir:
            self.save_checkpoint()
        return rec

    step = run_round  # the name before "step" came to mean the explorer's unlabelled move; prefer run_round

    def run(self, progress_rounds: bool | None = None) -> list[RoundRecord]:
        """Run rounds until a stop condition holds; returns all records."""
        from tqdm.auto import tqdm

        show = self.progress if progress_rounds is None else progress_rounds
        with tqdm(
            total=self.config.rounds,
            initial=self.round,
            desc=f"{self.strategy.name} seed {self.seed}",
            disable=not show,
            leave=False,
        ) as bar:
            while not self.finished:
                rec = self.run_round()
                bar.update(1)
                bar.set_postfix({rec.metric_name: f"{rec.metric:.2f}", "n": rec.n_labelled}, refresh=False)
        return self.records

    # ------------------------------------------------------------------ checkpoints
    def _identity(self) -> dict:
        return {
            "dataset": self.dataset.name,
            "fingerprint": self.dataset.fingerprint(),
            "strategy": self.strategy.name,
            "seed": self.seed,
            "config": self.config.to_dict(),
        }

    def save_checkpoint(self) -> None:
        """Write the state after the current round atomically.

        Round-numbered model and array files are written first; ``state.json``, written last by
        an atomic rename, is the commit point that names them. A crash at any moment leaves the
        previous complete checkpoint in force.
        """
        d = self.checkpoint_dir
        d.mkdir(parents=True, exist_ok=True)
        t = self.round
        model_f, arr_f = f"model-r{t:03d}.pt", f"arrays-r{t:03d}.npz"
        model_sha = save_state(self.model, d / model_f)
        arrays = {"labelled_round": self.pool.labelled_round}
        if self.labeler.known_labels is None and self.pool_labels is not None:
            lab = self.pool.labelled_indices()
            arrays["pool_label_idx"], arrays["pool_label_val"] = lab, self.pool_labels[lab]
        for k, v in (self.synthetic or {}).items():
            arrays[f"synthetic/{k}"] = v
        for r, pa in enumerate(self.proposals, start=1):
            for k, v in pa.items():
                arrays[f"r{r:03d}/{k}"] = np.asarray(v)
        with atomic_path(d / arr_f, suffix=".tmp.npz") as tmp:
            np.savez(tmp, **arrays)
            arr_sha = sha256_file(tmp)
        state = {
            **self._identity(),
            "round": t,
            "finished": self.finished,
            "model": model_f,
            "arrays": arr_f,
            "sha256": {"model": model_sha, "arrays": arr_sha},
            "records": [dataclasses.asdict(r) for r in self.records],
        }
        state["checksum"] = _state_checksum(state)
        atomic_write(d / "state.json", json.dumps(state, indent=1))
        for f in d.iterdir():  # drop superseded round files
            if f.name.startswith(("model-r", "arrays-r")) and f.name not in (model_f, arr_f):
                f.unlink()

    def load_checkpoint(self) -> None:
        """Restore the state saved by :meth:`save_checkpoint` (after checking it is the same run)."""
        d = self.checkpoint_dir
        f = d / "state.json"
        fix = (
            f"delete {d} to run this strategy and seed again from round 1 (the other runs resume), "
            "or rerun with --overwrite"
        )
        from .storage import load_checked_json

        state = load_checked_json(f, fix, key="checksum", what="a latentlab checkpoint")  # a missing checksum fails
        try:
            n_rec, rnd = len(state["records"]), int(state["round"])
        except (KeyError, TypeError, ValueError):
            raise ResumeError(f"{f} lacks the fields of a latentlab checkpoint; {fix}") from None
        if n_rec != rnd:
            raise ResumeError(f"{f} is corrupt ({n_rec} round records for round {rnd}); {fix}")
        mine = self._identity()
        diff = [k for k in mine if state.get(k) != mine[k]]
        if diff:
            raise ResumeError(
                f"checkpoint in {d} belongs to a different run (differs in: {', '.join(diff)}); "
                "use another output folder, or the settings it was started with"
            )
        sums = state.get("sha256") or {}
        verify_file(d / state["arrays"], sums.get("arrays"), fix)
        try:
            self._load_arrays(d / state["arrays"], state)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ResumeError(
                f"{d / state['arrays']} is unreadable or corrupt ({e.__class__.__name__}); {fix}"
            ) from None
        self.records = [RoundRecord(**r) for r in state["records"]]
        self.model = load_state(self._new_model(0), d / state["model"], sha256=sums.get("model"), fix=fix)
        self.finished = bool(state["finished"])

    def _load_arrays(self, path, state) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.pool = PoolState(z["labelled_round"])
            if "pool_label_idx" in z.files:
                val = z["pool_label_val"]
                self.pool_labels = np.zeros((self.pool.n_pool, *val.shape[1:]), val.dtype)
                self.pool_labels[z["pool_label_idx"]] = val
            syn = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("synthetic/")}
            self.synthetic = syn or None
            self.proposals = []
            for r in range(1, state["round"] + 1):
                pre = f"r{r:03d}/"
                self.proposals.append({k[len(pre) :]: z[k] for k in z.files if k.startswith(pre)})


def _state_checksum(state: dict) -> str:
    """SHA-256 of a checkpoint's ``state.json`` contents (without the checksum itself), canonical JSON."""
    return sha256_bytes(json.dumps({k: v for k, v in state.items() if k != "checksum"}, sort_keys=True).encode())
