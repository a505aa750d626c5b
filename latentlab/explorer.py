"""State of the live latent explorer: everything the view shows, every action it offers.

:class:`ExplorerState` is a ``param.Parameterized`` model with no Panel or Bokeh in it (the
``widgets`` package draws it), so every action runs headless in a test or a notebook::

    s = ExplorerState(dataset="digits").load()
    s.run_round()          # train F on the labelled set, propose and label J items (ActiveLoop.step)
    s.step()               # move the J sampling points one gradient step: p -> p' -> nearest item
    s.select(0.3, -1.2)    # decode a point of the latent plane
    grid = s.loss_grid(48) # F's uncertainty over a decoded grid of the plane

An action never raises on bad input (alpha <= 0, J larger than the labelled set, Step before a
target model exists): it returns ``False`` and writes the reason, with the fix, to :attr:`error`
(and :attr:`status`). Every change the view must redraw bumps :attr:`version`; a new heat map
bumps :attr:`grid_version`; a new data set bumps :attr:`data_version`.

Step vs round. :meth:`run_round` is one round of Algorithm 1 (train F, evaluate, propose J items
with the chosen strategy, label them). :meth:`step` is the paper's Fig. 4 rule applied once to the
current sampling points *without labelling*: each point takes its loss gradient (Eq. 1), moves
by alpha (Eq. 2) and jumps to the nearest pool item it has not visited, which becomes the point
of the next step. Trajectories therefore grow one segment per step; a round restarts them from
the points the strategy used.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import numpy as np
import param
import torch

from .annotation import PersonLabeler
from .datasets import DATASETS
from .exceptions import ConfigError, LatentLabError
from .experiment import ExperimentConfig, config_from_settings, labeler_for, prepare
from .generative import GeneratorConfig, decode
from .gradients import latent_gradient
from .labeling import OracleLabeler
from .loop import ActiveLoop, LoopConfig
from .storage import LabelCache, cache_dir
from .strategies import STRATEGIES, get_strategy
from .training import TrainConfig

__all__ = ["ExplorerState", "load_resources", "EXPLORER_TRAIN"]

# Target training per round in the explorer: 150 optimiser steps train LeNet on ~50-200 digits to
# ~80-90 % in about a second on 2 cores, so a round feels interactive (the run CLI uses 300).
EXPLORER_TRAIN = TrainConfig(epochs=5, batch_size=64, lr=1e-3, min_steps=150)
_STEP_STREAM = 99  # stream id mixed into (seed, round, restart) for drawing start points


@functools.lru_cache(maxsize=4)
def load_resources(dataset: str, data_root: str | None = None, generator_config: GeneratorConfig = GeneratorConfig(),
                   gen_seed: int = 0, n_pool: int | None = None, n_test: int | None = None):
    """``(dataset, latent_space)`` of :func:`latentlab.experiment.prepare`, shared by every session.

    An in-memory cache over ``prepare`` (the generator is frozen, the embeddings fixed), so a
    second browser tab or a reset does not load or encode the pool again.
    """
    cfg = ExperimentConfig(dataset=dataset, strategies=("snn",), generator=generator_config, gen_seed=gen_seed,
                           n_pool=n_pool, n_test=n_test)
    return prepare(cfg, data_root, progress=False)


def _strategy_names() -> list[str]:
    preferred = [s for s in ("snn", "random", "si") if s in STRATEGIES]
    return preferred + sorted(s for s in STRATEGIES if s not in preferred)


class ExplorerState(param.Parameterized):
    """The loaded experiment, its sampling points and their trajectories; actions as methods.

    Settings (params): ``dataset``, ``strategy``, ``alpha``, ``J``, ``initial``, ``seed``,
    ``compare`` (also run the random baseline for the learning curve), ``heat``, ``grid_size``,
    ``data_root``, ``n_pool``/``n_test`` (a subset, for tests), ``generator_config``, ``train_config``.

    Outputs (params written by the actions): ``round``, ``status``, ``error``, ``selection``,
    ``version``, ``grid_version``, ``data_version``.
    """

    dataset = param.Selector(default="digits", objects=sorted(DATASETS), check_on_set=False,
                             doc="registered data set; mnist/cifar10 need data_root")
    data_root = param.String(default=None, allow_None=True, doc="folder with the data set's files")
    strategy = param.Selector(default="snn", objects=_strategy_names(), check_on_set=False,
                              doc="query strategy of Run round")
    alpha = param.Number(default=0.2, bounds=(0, None), inclusive_bounds=(False, True), softbounds=(0.02, 1.0),
                         doc="step length of Eq. 2 in latent units (prior std 1)")
    J = param.Integer(default=10, bounds=(1, None), doc="number of sampling points (= items labelled per round)")
    initial = param.Integer(default=50, bounds=(1, None), doc="random initial set |T(1)|")
    seed = param.Integer(default=0, doc="run seed (initial set, start points, training)")
    compare = param.Boolean(default=True, doc="also run the random strategy each round (learning curve)")
    heat = param.Selector(default="entropy", objects=["entropy", "loss"],
                          doc="background: F's predictive entropy, or its loss w.r.t. the nearest pool item's label")
    grid_size = param.Integer(default=48, bounds=(4, 256), doc="heat-map resolution (grid_size^2 decoded images)")
    n_pool = param.Integer(default=None, allow_None=True, doc="use a seeded random subset of the pool")
    n_test = param.Integer(default=None, allow_None=True, doc="use the first n_test test items")
    generator_config = param.ClassSelector(class_=GeneratorConfig, default=GeneratorConfig())
    train_config = param.ClassSelector(class_=TrainConfig, default=EXPLORER_TRAIN)

    round = param.Integer(default=0, doc="rounds completed")
    status = param.String(default="", doc="last action's outcome, for the readout")
    error = param.String(default="", doc="why the last action failed and how to fix it ('' = fine)")
    selection = param.Dict(default=None, allow_None=True, doc="decoded point of the last select()")
    version = param.Integer(default=0, doc="bumped on every change the view must redraw")
    grid_version = param.Integer(default=0, doc="bumped when the heat map changes")
    data_version = param.Integer(default=0, doc="bumped when a data set is (re)loaded")

    def __init__(self, **params):
        super().__init__(**params)
        self.data = self.latent = self.generator = self.embeddings = self.index = None
        self.loop = self.baseline = None
        self.annotator: PersonLabeler | None = None
        self.pending: list[dict] = []  # synthesized inputs waiting for a person's label
        self.grid: dict | None = None
        self.timings: dict[str, float] = {}
        self._clear_points()

    # ------------------------------------------------------------------ helpers
    def _fail(self, e: Exception) -> bool:
        self.error = str(e)
        self.status = f"error: {e}"
        self.version += 1
        return False

    def _ok(self, msg: str) -> bool:
        self.error = ""
        self.status = msg
        self.version += 1
        return True

    def _clear_points(self):
        self.traj = None  # dict: items (J,), origin_y, path [(J, 2)...], visited [set...], last {...}
        self._restarts = 0

    @property
    def loaded(self) -> bool:
        return self.loop is not None

    @property
    def model(self):
        """The current target model F (None before the first round)."""
        return None if self.loop is None else self.loop.model

    @property
    def task(self):
        return self.loop.task

    def _loop_config(self) -> LoopConfig:
        return config_from_settings(dataset=self.dataset, rounds=10 ** 6, per_round=self.J, alpha=float(self.alpha),
                                    initial=min(self.initial, len(self.data.x_train)),
                                    **{"loop.train": self.train_config}).loop

    def _new_loop(self, strategy: str) -> ActiveLoop:
        return ActiveLoop(self.data, get_strategy(strategy), self._loop_config(), seed=self.seed, latent=self.latent,
                          labeler=labeler_for(self.data), progress=False)

    def _require_loaded(self):
        if not self.loaded:
            raise ConfigError("no experiment loaded yet: call load() (or pick a data set)")

    def _labels(self, items, origin_y):
        """Labels used for the loss at pool items: the oracle's when known, else the trajectory origin's."""
        y = np.array(origin_y, copy=True)
        known = self.loop.pool_labels
        if known is not None:
            m = (np.ones(len(items), bool) if isinstance(self.loop.labeler, OracleLabeler)
                 else self.loop.pool.labelled_mask[items])
            y[m] = known[items][m]
        return y

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the pool embeddings, padded by 5 %."""
        lo, hi = self.embeddings[:, :2].min(0), self.embeddings[:, :2].max(0)
        pad = 0.05 * (hi - lo)
        return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])

    # ------------------------------------------------------------------ actions
    def load(self) -> "ExplorerState":
        """Load the data set, its cached generator and embeddings, and start a fresh run."""
        t0 = time.perf_counter()
        try:
            if self.dataset not in DATASETS:
                raise ConfigError(f"unknown dataset {self.dataset!r}; valid choices: {', '.join(sorted(DATASETS))}")
            self.data, self.latent = load_resources(self.dataset, self.data_root, self.generator_config, 0,
                                                    self.n_pool, self.n_test)
            self.generator, self.embeddings, self.index = self.latent.generator, self.latent.embeddings, self.latent.index
            if self.embeddings.shape[1] != 2:
                raise ConfigError(f"the explorer draws a 2-D latent plane; this generator has latent_dim="
                                  f"{self.embeddings.shape[1]}. Use GeneratorConfig(latent_dim=2)")
            mode = "class" if self.data.task == "classification" else "accept"
            folder = cache_dir() / "labels" / f"person-{self.data.name}-{self.data.fingerprint()}"
            self.annotator = PersonLabeler(LabelCache(folder), mode=mode, classes=self.data.classes)
            self.data_version += 1
            self._reset()
        except (LatentLabError, ValueError, OSError) as e:
            self.loop = None
            self._fail(e)
            return self
        self.timings["load"] = time.perf_counter() - t0
        self._ok(f"loaded {self.data.name}: {len(self.data.x_train)} pool items. "
                 "Press Run round to train the target model F, then Step.")
        return self

    def _reset(self):
        self.loop = self._new_loop(self.strategy)
        self.baseline = self._new_loop("random") if self.compare and self.strategy != "random" else None
        self._clear_points()
        self.pending = []
        self.grid = None
        self.selection = None
        self.round = 0
        self.grid_version += 1

    def reset(self) -> bool:
        """Forget the run (labels, model, trajectories) and start again with the current settings."""
        try:
            self._require_loaded()
            self._reset()
        except (LatentLabError, ValueError) as e:
            return self._fail(e)
        return self._ok("reset: nothing labelled, no model yet. Press Run round.")

    def configure(self, **settings) -> bool:
        """Change settings (``alpha=0.3``, ``J=20``, ``strategy="random"``, ...) without raising.

        Alpha and J apply from the next step/round; a new strategy or data set starts a new run.
        A rejected value leaves the old one and explains why in :attr:`error`.
        """
        unknown = sorted(set(settings) - set(self.param))
        try:
            if unknown:
                raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid: alpha, J, strategy, dataset, ...")
            if "alpha" in settings:
                a = settings["alpha"]
                if not isinstance(a, (int, float)) or isinstance(a, bool) or not np.isfinite(a) or a <= 0:
                    raise ConfigError(f"alpha must be a number > 0 (a step length in latent units, e.g. 0.2), got {a}")
            if "J" in settings:
                j = settings["J"]
                if not isinstance(j, (int, np.integer)) or isinstance(j, bool) or j < 1:
                    raise ConfigError(f"J (number of sampling points) must be an integer >= 1, got {j}")
            if "strategy" in settings and settings["strategy"] not in STRATEGIES:
                raise ConfigError(f"unknown strategy {settings['strategy']!r}; valid choices: "
                                  f"{', '.join(_strategy_names())}")
            self.param.update(**settings)
        except (LatentLabError, ValueError, TypeError) as e:
            return self._fail(e)
        if self.loaded and not (set(settings) & {"dataset", "data_root", "n_pool", "n_test"} and self.error):
            return self._ok(f"settings: alpha={self.alpha:g}, J={self.J}, strategy={self.strategy}")
        return not self.error

    @param.depends("alpha", "J", watch=True)
    def _apply_step_settings(self):
        if self.loop is not None:
            for lp in (self.loop, self.baseline):
                if lp is not None:
                    lp.config = dataclasses.replace(lp.config, alpha=float(self.alpha), per_round=self.J).validate()
            if self.traj is not None and len(self.traj["items"]) != self.J:
                self._clear_points()  # J changed: the next Step draws new start points
            self.version += 1

    @param.depends("strategy", "compare", watch=True)
    def _new_strategy(self):
        if self.loaded:
            self.reset()

    @param.depends("dataset", "data_root", "n_pool", "n_test", watch=True)
    def _new_dataset(self):
        self.load()

    def _start_points(self):
        labelled = self.loop.pool.labelled_indices()
        if labelled.size == 0 and self.loop.round:
            raise ConfigError(f"Step starts from labelled pool items and this run has none (strategy "
                              f"{self.strategy!r} labels synthesized images); pick snn or random to watch trajectories")
        if self.J > labelled.size:
            raise ConfigError(f"J = {self.J} sampling points but only {labelled.size} labelled items to start from; "
                              f"lower J to {labelled.size} or less, or run another round")
        rng = np.random.default_rng([self.seed, _STEP_STREAM, self.round, self._restarts])
        self._restarts += 1
        items = np.sort(rng.choice(labelled, self.J, replace=False))
        self.traj = {"items": items, "origin_y": self.loop.pool_labels[items],
                     "path": [self.embeddings[items].astype(np.float64)],
                     "visited": [{int(i)} for i in items], "last": None, "steps": 0}

    def step(self) -> bool:
        """One gradient step for every sampling point: p -> p' = p + alpha d -> nearest unvisited item.

        Nothing is labelled. Before the first step after a round, the points are the round's own
        start points (SNN) or a random subset of J labelled items.
        """
        t0 = time.perf_counter()
        try:
            self._require_loaded()
            if self.model is None:
                raise ConfigError("Step needs a target model F to take gradients of: press Run round first "
                                  "(it trains F on the initial labelled set)")
            if self.traj is None:
                self._start_points()
            tr = self.traj
            items = tr["items"]
            p = self.embeddings[items].astype(np.float64)
            y = self._labels(items, tr["origin_y"])
            x_real = self.data.x_train[items] if self.loop.config.loss_on == "real" else None
            g = latent_gradient(self.generator, self.model, self.task, p, y, x=x_real,
                                loss_on=self.loop.config.loss_on)
            pp = p + float(self.alpha) * g.d
            k = min(max(len(v) for v in tr["visited"]) + 1, self.index.n)
            dist, ii = self.index.nearest(pp, k=k)
            dist, ii = dist.reshape(len(pp), -1), ii.reshape(len(pp), -1)
            nb = np.empty(len(items), np.int64)
            nd = np.empty(len(items))
            for j, vis in enumerate(tr["visited"]):  # each trajectory excludes only its own history
                free = [c for c in range(ii.shape[1]) if int(ii[j, c]) not in vis]
                c = free[0] if free else 0
                nb[j], nd[j] = ii[j, c], dist[j, c]
                vis.add(int(nb[j]))
            loss_after = self._item_loss(nb, self._labels(nb, tr["origin_y"]))
            tr["last"] = {"p": p, "p_prime": pp, "d": g.d, "grad_norm": g.grad_norm, "loss": g.loss,
                          "neighbour": nb, "neighbour_dist": nd, "loss_after": loss_after, "item": items}
            tr["items"] = nb
            tr["path"].append(self.embeddings[nb].astype(np.float64))
            tr["steps"] += 1
        except (LatentLabError, ValueError) as e:
            return self._fail(e)
        self.timings["step"] = time.perf_counter() - t0
        return self._ok(f"step {tr['steps']}: mean loss {np.mean(g.loss):.3f} at p -> "
                        f"{np.mean(loss_after):.3f} at the neighbours")

    @torch.no_grad()
    def _item_loss(self, items, y) -> np.ndarray:
        """Per-item loss of F on real pool items ``items`` with labels ``y``, shape (len(items),)."""
        self.model.eval()
        out = self.model(torch.as_tensor(self.data.x_train[items], dtype=torch.float32))
        return self.task.per_item_loss(out, self.task.y_tensor(y)).numpy().astype(np.float64)

    def run_round(self) -> bool:
        """One round of Algorithm 1 with the chosen strategy (``ActiveLoop.step``), plus the random
        baseline when ``compare``; then restart the trajectories and refresh the heat map."""
        t0 = time.perf_counter()
        try:
            self._require_loaded()
            if self.loop.done:
                raise ConfigError("this run is finished; press Reset to start again")
            rec = self.loop.step()
            if self.baseline is not None and not self.baseline.done:
                self.baseline.step()
            self.round = self.loop.round
            self._points_from_proposal(self.loop.proposals[-1])
            self.grid = self.loss_grid(self.grid_size)
            self.grid_version += 1
        except (LatentLabError, ValueError) as e:
            self.round = self.loop.round if self.loop is not None else 0
            return self._fail(e)
        self.timings["round"] = time.perf_counter() - t0
        return self._ok(f"round {rec.round}: F trained on {rec.n_labelled} items, test {rec.metric_name} "
                        f"{rec.metric:.1f}; {self.loop.n_labelled} labelled now")

    def _points_from_proposal(self, prop: dict):
        """Show the round's own sampling step (SNN: p, d, p', neighbours) as the trajectories' first step."""
        self._clear_points()
        if not {"p", "p_prime", "start_indices"} <= set(prop) or "indices" not in prop:
            return
        start, nb = np.asarray(prop["start_indices"]), np.asarray(prop["indices"])
        origin_y = self.loop.pool_labels[start]
        self.traj = {"items": nb, "origin_y": origin_y,
                     "path": [np.asarray(prop["p"], np.float64), self.embeddings[nb].astype(np.float64)],
                     "visited": [{int(a), int(b)} for a, b in zip(start, nb)], "steps": 1,
                     "last": {"p": prop["p"], "p_prime": prop["p_prime"], "d": prop["d"],
                              "grad_norm": prop["grad_norm"], "loss": prop["loss"], "neighbour": nb,
                              "neighbour_dist": prop.get("neighbour_dist", np.zeros(len(nb))),
                              "loss_after": self._item_loss(nb, self._labels(nb, origin_y)), "item": start}}

    # ------------------------------------------------------------------ queries
    @torch.no_grad()
    def loss_grid(self, n: int | None = None) -> dict:
        """F's uncertainty (``heat="entropy"``) or loss (``heat="loss"``) over a decoded n x n grid.

        The loss of a grid point uses the label of its nearest pool item (the oracle's, as a
        trajectory would reveal it). Regression tasks (vessels: mask -> stress map) show F's
        predicted peak output instead (no uncertainty; pool labels are mostly unknown).

        Returns
        -------
        dict with ``values`` ndarray (n, n) (row = y, column = x, as Bokeh's Image wants),
        ``x``, ``y`` (lower-left corner), ``dw``, ``dh`` in latent units, and ``kind``
        (``"entropy"``, ``"loss"``, or ``"prediction"``: F's peak output, for regression tasks).

        Raises
        ------
        ConfigError
            No target model yet.
        """
        self._require_loaded()
        if self.model is None:
            raise ConfigError("the heat map needs a target model F: run a round first")
        n = int(n or self.grid_size)
        x0, x1, y0, y1 = self.extent
        gx, gy = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
        z = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        imgs = decode(self.generator, z)
        self.model.eval()
        out = torch.cat([self.model(torch.as_tensor(imgs[i:i + 2048])) for i in range(0, len(imgs), 2048)])
        kind = self.heat if self.task.categorical else "prediction"
        if kind == "prediction":  # regression (e.g. stress maps): F's predicted peak output
            v = out.flatten(1).max(1).values
        elif kind == "entropy":
            v = self.task.entropy(out)
        else:
            _, nn = self.index.nearest(z, k=1)
            nn = np.ravel(nn)
            known = self.loop.pool_labels
            if known is None:
                raise ConfigError("the loss map needs labels; use heat='entropy'")
            v = self.task.per_item_loss(out, self.task.y_tensor(known[nn]))
        return {"values": v.numpy().reshape(n, n).astype(np.float64), "x": x0, "y": y0, "dw": x1 - x0,
                "dh": y1 - y0, "kind": kind}

    @torch.no_grad()
    def select(self, x: float, y: float) -> bool:
        """Decode the latent point (x, y); if a current sampling point is near, select its step.

        Fills :attr:`selection` with ``z``, ``point`` (index of the sampling point or None),
        ``item`` (nearest pool item), ``images`` (list of ``(title, image (C, H, W))``) and ``text``.
        """
        try:
            self._require_loaded()
            z = np.array([[float(x), float(y)]])
            if not np.all(np.isfinite(z)):
                raise ConfigError(f"select needs finite coordinates, got ({x}, {y})")
            x0, x1, y0, y1 = self.extent
            tol = 0.03 * max(x1 - x0, y1 - y0)
            last = self.traj["last"] if self.traj else None
            j = None
            if last is not None:
                dd = np.linalg.norm(np.asarray(last["p"]) - z, axis=1)
                if dd.min() <= tol:
                    j = int(np.argmin(dd))
            sel = {"z": z[0], "point": j}
            if j is not None:
                p, pp, nb = np.asarray(last["p"])[j], np.asarray(last["p_prime"])[j], int(last["neighbour"][j])
                imgs = decode(self.generator, np.stack([p, pp]))
                sel["item"] = nb
                sel["images"] = [("G(p)", imgs[0]), ("G(p')", imgs[1]), (f"neighbour #{nb}", self.data.x_train[nb])]
                sel["text"] = (f"point {j}: loss {last['loss'][j]:.3f} at p, {last['loss_after'][j]:.3f} at the "
                               f"neighbour; |grad| {last['grad_norm'][j]:.3g}")
            else:
                _, nn = self.index.nearest(z, k=1)
                nb = int(np.ravel(nn)[0])
                img = decode(self.generator, z)[0]
                sel["item"] = nb
                sel["images"] = [("G(z)", img), (f"nearest #{nb}", self.data.x_train[nb])]
                sel["text"] = f"z = ({x:.2f}, {y:.2f})"
                if self.model is not None and not self.task.categorical:  # e.g. a mask -> stress map
                    self.model.eval()
                    pred = self.model(torch.as_tensor(img[None])).numpy()[0]
                    if pred.ndim == 3:
                        sel["images"].append(("F(G(z))", pred))
                if self.model is not None and self.task.categorical:
                    self.model.eval()
                    prob = torch.softmax(self.model(torch.as_tensor(img[None])), 1)[0].numpy()
                    c = int(prob.argmax())
                    sel["text"] += f": F says {self.data.classes[c]} ({100 * prob[c]:.0f} %)"
            self.selection = sel
        except (LatentLabError, ValueError) as e:
            return self._fail(e)
        return self._ok(f"selected {sel['text']}")

    def trajectories(self) -> dict:
        """Current sampling points for drawing.

        Returns
        -------
        dict with ``paths`` ndarray (steps + 1, J, 2) (empty (0, 0, 2) before any step), and for
        the last step ``p``, ``p_prime``, ``d`` (J, 2), ``grad_norm``, ``loss``, ``loss_after``
        (J,), ``neighbour`` (J,) and ``neighbour_xy`` (J, 2); ``steps``.
        """
        if self.traj is None:
            e2, e1 = np.zeros((0, 2)), np.zeros(0)
            return {"paths": np.zeros((0, 0, 2)), "p": e2, "p_prime": e2, "d": e2, "grad_norm": e1, "loss": e1,
                    "loss_after": e1, "neighbour": np.zeros(0, np.int64), "neighbour_xy": e2, "steps": 0}
        tr = self.traj
        out = {"paths": np.stack(tr["path"]), "steps": tr["steps"]}
        last = tr["last"]
        if last is None:
            p = tr["path"][-1]
            e1 = np.zeros(len(p))
            out.update(p=p, p_prime=np.zeros((0, 2)), d=np.zeros((0, 2)), grad_norm=e1, loss=e1, loss_after=e1,
                       neighbour=np.zeros(0, np.int64), neighbour_xy=np.zeros((0, 2)))
            return out
        out.update({k: np.asarray(last[k]) for k in ("p", "p_prime", "d", "grad_norm", "loss", "loss_after",
                                                     "neighbour")})
        out["neighbour_xy"] = self.embeddings[out["neighbour"]]
        return out

    def history(self, round_: int) -> dict:
        """What the run looked like after round ``round_`` (1..round), for the replay slider.

        Returns
        -------
        dict with ``record`` (RoundRecord), ``labelled`` (pool indices labelled by then, the
        round's proposal included), ``labelled_round`` (their rounds), ``proposal`` (arrays the
        strategy recorded: p, p_prime, d, indices, ...).
        """
        self._require_loaded()
        if not 1 <= round_ <= self.loop.round:
            raise ConfigError(f"round must be in 1..{self.loop.round} (rounds run so far), got {round_}")
        lab = self.loop.pool.labelled_indices(upto_round=round_ + 1)
        return {"record": self.loop.records[round_ - 1], "labelled": lab,
                "labelled_round": self.loop.pool.labelled_round[lab], "proposal": self.loop.proposals[round_ - 1]}

    def curves(self) -> dict:
        """Learning curves ``{name: (n_labelled list, metric list)}`` of the strategy and the baseline."""
        out = {}
        for lp in (self.loop, self.baseline):
            if lp is not None and lp.records:
                out[lp.strategy.name] = ([r.n_labelled for r in lp.records], [r.metric for r in lp.records])
        return out

    def readout(self) -> dict:
        """``round``, ``n_labelled``, ``metric`` (None before a round), ``metric_name``, ``steps``, ``n_points``."""
        if not self.loaded:
            return {"round": 0, "n_labelled": 0, "metric": None, "metric_name": "", "steps": 0, "n_points": 0}
        rec = self.loop.records[-1] if self.loop.records else None
        return {"round": self.loop.round, "n_labelled": self.loop.n_labelled,
                "metric": None if rec is None else rec.metric, "metric_name": self.task.metric_name,
                "steps": self.traj["steps"] if self.traj else 0,
                "n_points": len(self.traj["items"]) if self.traj else 0}

    # ------------------------------------------------------------------ annotation by a person
    def queue_synthetic(self) -> bool:
        """Queue G(p') of the last step's points for a person to label (sampling by interpolation
        without a labeling tool). Inputs the person already labelled are taken from the cache."""
        try:
            self._require_loaded()
            last = self.traj["last"] if self.traj else None
            if last is None:
                raise ConfigError("nothing to annotate yet: press Step (or Run round) to move the points first")
            z = np.asarray(last["p_prime"], np.float64)
            x = decode(self.generator, z)
            self.pending = [{"x": xi, "z": zi} for xi, zi in zip(x, z)]
            n_cached = self._apply_cached()
        except (LatentLabError, ValueError) as e:
            return self._fail(e)
        return self._ok(f"{len(self.pending)} synthesized images wait for a label"
                        + (f" ({n_cached} already labelled earlier, taken from the cache)" if n_cached else ""))

    def _apply_cached(self) -> int:
        """Commit pending inputs the person answered before (the cache knows them); returns how many."""
        keep, n = [], 0
        for item in self.pending:
            if self.annotator.answer_of(item["x"]) is not None:
                self._commit(item, None)
                n += 1
            else:
                keep.append(item)
        self.pending = keep
        return n

    def _commit(self, item: dict, answer) -> None:
        x, z = item["x"], item["z"]
        ans = self.annotator.answer_of(x) if answer is None else answer
        if self.annotator.mode == "class":
            self._add_synthetic(x[None], np.asarray([ans], np.int64), z[None])
        elif ans == 1 and getattr(self.loop.labeler, "can_label_synthetic", False):
            res = self.loop.labeler.label(x[None])
            if res.ok.all():
                self._add_synthetic(x[None], np.asarray(res.y), z[None])

    def _add_synthetic(self, x, y, z):
        new = {"x": x.astype(np.float32), "y": y, "z": z, "round": np.full(len(x), self.loop.round + 1, np.int64)}
        s = self.loop.synthetic
        self.loop.synthetic = new if s is None else {k: np.concatenate([s[k], new[k]]) for k in new}

    def annotate(self, answer) -> bool:
        """Label the first pending image (class index, or True/False for accept/reject) and add it
        to the train set; the answer is stored in the person's label cache."""
        try:
            self._require_loaded()
            if not self.pending:
                raise ConfigError("no image waits for a label: press Annotate after a Step first")
            item = self.pending[0]
            self.annotator.annotate(item["x"], answer)
            self.pending.pop(0)
            self._commit(item, None)
        except (LatentLabError, ValueError) as e:
            return self._fail(e)
        return self._ok(f"labelled; {len(self.pending)} left; {self.loop.n_labelled} labelled in all")

    def skip(self) -> bool:
        """Drop the first pending image without a label."""
        if self.pending:
            self.pending.pop(0)
        return self._ok(f"skipped; {len(self.pending)} left")
