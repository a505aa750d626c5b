"""The live latent explorer's model: settings, one run, its sampling points; actions as methods.

:class:`ExplorerState` is a thin ``param.Parameterized`` with no Panel or Bokeh in it (``widgets``
draws it), so every action runs headless: ``s = ExplorerState(dataset="digits").load();
s.run_round(); s.step(); s.select(0.3, -1.2)``. The work is done elsewhere: resources by
:func:`latentlab.experiment.prepare` (cached here), a round (train F, evaluate, propose and label
``per_round`` items) by :class:`~latentlab.loop.ActiveLoop`, a step (the Fig. 4 rule once, nothing labelled) by
:func:`latentlab.trajectory.advance`, the map by :mod:`latentlab.latent_map`, annotation by
:class:`latentlab.annotation.AnnotationQueue`.

An action never raises on bad input: it returns ``False`` and writes the reason, with the fix, to
:attr:`error` (see :func:`action`). Every change the view must redraw bumps :attr:`version`; a new
heat map :attr:`grid_version`; a new data set :attr:`data_version`.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import param

from . import latent_map
from .annotation import AnnotationQueue
from .datasets import DATASETS
from .exceptions import ConfigError, LatentLabError
from .experiment import config_from_settings
from .explorer_run import (
    EXPLORER_TRAIN,
    ExplorerRun,
    check_settings,
    load_resources,
    shared_fingerprint,
    strategy_names,
)
from .generative import GeneratorConfig
from .loop_config import LoopConfig
from .strategies import STEP_LABELS, get_strategy
from .training import TrainConfig
from .trajectory import Walk

if TYPE_CHECKING:
    import torch

    from .loop import ActiveLoop
    from .tasks import Task

__all__ = ["ExplorerState", "action", "load_resources", "strategy_names", "EXPLORER_TRAIN"]


_DATA_SETTINGS = ("dataset", "data_root", "n_pool", "n_test")


def _utility_map(latent, n: int, score) -> dict:
    """``score`` (images -> (m,) utility) over the decoded n x n grid, as :func:`latent_map.heat_map` returns it."""
    x0, x1, y0, y1 = latent.extent()
    imgs = latent.decode(latent.from_view(latent_map.grid((x0, x1, y0, y1), n)))
    v = np.asarray(score(imgs), np.float64).reshape(n, n)
    return {"values": v, "x": x0, "y": y0, "dw": x1 - x0, "dh": y1 - y0, "kind": "strategy"}


# strategies that need F with dropout (MC dropout): the explorer trains lenet-dropout for them
MC_DROPOUT = ("bald", "batchbald", "baal-bald")

_LABEL_TEXT = {
    "start": "the start point's (paid) label",
    "prediction": "F's own prediction at G(p)",
    "oracle": "the ORACLE's label where the point is (a peek: not paid for)",
}


def action(fn: Callable[..., str]) -> Callable[..., bool]:
    """An explorer action: returns True and shows the message ``fn`` returns, or, on bad input
    (a latentlab error, ValueError, TypeError, OSError), returns False and shows the reason."""

    @functools.wraps(fn)
    def run(self: ExplorerState, *args: Any, **kwargs: Any) -> bool:
        try:
            msg = fn(self, *args, **kwargs)
        except (LatentLabError, ValueError, TypeError, OSError) as e:
            self.error, self.status = str(e), f"error: {e}"
            self.version += 1
            return False
        self.error, self.status = "", msg
        self.version += 1
        return True

    return run


class ExplorerState(param.Parameterized):
    """Settings (the first params), outputs the actions write (the rest), one :class:`ExplorerRun`.

    ``per_round`` is the batch size of a round (the paper's J): the number of sampling points.

    Other Parameters
    ----------------
    dataset : str, default "digits"
        A registered data set; mnist/cifar10 need ``data_root``.
    data_root : str, optional
        Folder with the data set's files.
    strategy : str, default "snn"
        The query strategy of Run round.
    alpha : float, default 0.2
        Step length of Eq. 2 in latent units (prior std 1).
    per_round : int, default 10
        Sampling points = items labelled per round (the paper's J).
    initial : int, default 50
        The random initial set |T(1)|.
    seed : int, default 0
        Run seed (initial set, start points, training).
    compare : bool, default True
        Also run the random strategy each round (learning curve).
    heat : {"entropy", "loss", "strategy"}, default "entropy"
        The map's background: F's predictive entropy, its loss w.r.t. the nearest pool item's label,
        or the selected strategy's own utility.
    step_label : {"start", "prediction", "oracle"}, default "start"
        The label a Step's loss uses at an unlabelled point: the start point's (paid) label, F's own
        prediction, or the oracle's (a peek at a label nobody paid for).
    grid_size : int, default 48
        Heat-map resolution (grid_size^2 decoded images).
    n_pool, n_test : int, optional
        Use seeded random subsets of the pool and the test set.
    generator_config : GeneratorConfig
        The generator's settings.
    train_config : TrainConfig
        F's training recipe.
    progress : bool, default False
        Show a progress bar while the generator trains (first load only).
    step_label : {"start", "prediction", "oracle"}, default "start"
        The label the Step's loss uses at an unlabelled point: the start point's (paid) label, F's
        own prediction, or the oracle's (a peek at a label nobody paid for).
    round, status, error, selection, version, grid_version, data_version, busy : object
        Outputs the actions write (a view reads them; see each param's ``doc``).
    name : str, optional
        The object's name (param's own).
    """

    dataset = param.Selector(
        default="digits",
        objects=sorted(DATASETS),
        check_on_set=False,
        doc="registered data set; mnist/cifar10 need data_root",
    )
    data_root = param.String(default=None, allow_None=True, doc="folder with the data set's files")
    strategy = param.Selector(
        default="snn", objects=strategy_names(), check_on_set=False, doc="query strategy of Run round"
    )
    alpha = param.Number(
        default=LoopConfig.alpha,
        bounds=(0, None),
        inclusive_bounds=(False, True),
        softbounds=(0.02, 1.0),
        doc="step length of Eq. 2 in latent units (prior std 1)",
    )
    per_round = param.Integer(
        default=10, bounds=(1, None), doc="sampling points = items labelled per round (the paper's J)"
    )
    initial = param.Integer(default=50, bounds=(1, None), doc="random initial set |T(1)|")
    seed = param.Integer(default=0, doc="run seed (initial set, start points, training)")
    compare = param.Boolean(default=True, doc="also run the random strategy each round (learning curve)")
    heat = param.Selector(
        default="entropy",
        objects=["entropy", "loss", "strategy"],
        doc="background: F's predictive entropy, its loss w.r.t. the nearest pool item's label, or the "
        "selected strategy's own utility (entropy, margin, BALD score, loss)",
    )
    step_label = param.Selector(
        default="start",
        objects=list(STEP_LABELS),
        doc="label the Step's loss uses at an unlabelled point: the start point's (paid) label, F's own "
        "prediction, or the oracle's (a peek at a label nobody paid for)",
    )
    grid_size = param.Integer(default=48, bounds=(4, 256), doc="heat-map resolution (grid_size^2 decoded images)")
    n_pool = param.Integer(default=None, allow_None=True, doc="use a seeded random subset of the pool")
    n_test = param.Integer(default=None, allow_None=True, doc="use a seeded random subset of the test set")
    generator_config = param.ClassSelector(class_=GeneratorConfig, default=GeneratorConfig())
    train_config = param.ClassSelector(class_=TrainConfig, default=EXPLORER_TRAIN)
    progress = param.Boolean(default=False, doc="show a progress bar while the generator trains (first load only)")

    round = param.Integer(default=0, doc="rounds completed")
    status = param.String(default="", doc="last action's outcome, for the readout")
    error = param.String(default="", doc="why the last action failed and how to fix it ('' = fine)")
    selection = param.Dict(default=None, allow_None=True, doc="decoded point of the last select()")
    version = param.Integer(default=0, doc="bumped on every change the view must redraw")
    grid_version = param.Integer(default=0, doc="bumped when the heat map changes")
    data_version = param.Integer(default=0, doc="bumped when a data set is (re)loaded")
    busy = param.String(
        default="",
        doc="what a view is running in the background now ('' = idle); views disable their actions meanwhile",
    )

    def __init__(self, **params):  # type: (**Any) -> None
        # (a type comment: annotated, __init__ would lose the signature param builds from the settings)
        super().__init__(**params)
        self.data = self.latent = self.run = self.annotation = None
        self.grid: dict | None = None
        self.timings: dict[str, float] = {}
        self._loaded_settings = {k: getattr(self, k) for k in _DATA_SETTINGS}

    # ------------------------------------------------------------------ read-outs
    @property
    def loaded(self) -> bool:
        """Whether a data set and its generator are loaded."""
        return self.run is not None

    @property
    def loop(self) -> ActiveLoop | None:
        """The strategy's ActiveLoop."""
        return None if self.run is None else self.run.loop

    @property
    def baseline(self) -> ActiveLoop | None:
        """The random baseline's ActiveLoop (or None)."""
        return None if self.run is None else self.run.baseline

    @property
    def model(self) -> torch.nn.Module | None:
        """Target model F (or None)."""
        return None if self.run is None else self.run.loop.model

    @property
    def task(self) -> Task:
        """The run's Task (loss, metric)."""
        return self.run.loop.task

    @property
    def embeddings(self) -> np.ndarray | None:
        """The pool's codes as drawn (n, 2): the codes of a 2-D latent space, else their PCA-2 view."""
        return None if self.latent is None else self.latent.to_view(self.latent.embeddings)

    @property
    def pending(self) -> list:
        """Synthesized images waiting for a person's label."""
        return [] if self.annotation is None else self.annotation.pending

    @property
    def annotator(self) -> Any:
        """The person labelling synthesized images (or None)."""
        return None if self.annotation is None else self.annotation.annotator

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1) of the pool embeddings, padded 5 %."""
        return self.latent.extent()

    @property
    def traj(self) -> Walk | None:
        """The sampling points and their trajectories (:class:`latentlab.trajectory.Walk`), or None."""
        return None if self.run is None else self.run.walk

    @traj.setter
    def traj(self, walk: Walk) -> None:
        self.run.walk = walk

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Pool items labelled so far and the round of each.

        Returns
        -------
        items : numpy.ndarray
            Pool indices.
        rounds : numpy.ndarray
            The round that labelled each.
        """
        return self.loop.labelled()

    def trajectories(self) -> dict:
        """Current sampling points for drawing (:meth:`latentlab.trajectory.Walk.arrays`), in the 2-D view.

        Returns
        -------
        dict
            Name -> array (``paths``, ``p``, ``p_prime``, ``d``, ...).
        """
        return self._in_view(Walk.arrays(self.traj, self.latent.embeddings))

    def history(self, round_: int) -> dict:
        """The run after round ``round_`` (the replay slider).

        Parameters
        ----------
        round_ : int
            A round run so far.

        Returns
        -------
        dict
            ``record``, ``labelled``, ``labelled_round``, ``proposal`` (its points in the 2-D view).
        """
        self._require_loaded()
        snap = self.loop.snapshot(round_)
        if snap.get("proposal") and self.latent.view is not None:
            snap = {**snap, "proposal": self._in_view(dict(snap["proposal"]))}
        return snap

    def _in_view(self, arrays: dict) -> dict:
        """Latent points (``paths``, ``p``, ``p_prime``, ``neighbour_xy``) and directions (``d``) of
        ``arrays`` in the 2-D view; unchanged for a 2-D latent space."""
        lat = self.latent
        if lat is None or lat.view is None:
            return arrays
        out = dict(arrays)
        for k in ("paths", "p", "p_prime", "neighbour_xy"):
            if k in out and np.size(out[k]):
                out[k] = lat.to_view(out[k])
            elif k in out:
                out[k] = np.zeros((*np.shape(out[k])[:-1], 2))
        if "d" in out:
            out["d"] = lat.direction_to_view(out["d"]) if np.size(out["d"]) else np.zeros((0, 2))
        return out

    def curves(self) -> dict:
        """Learning curves of the strategy and the baseline.

        Returns
        -------
        dict
            ``{name: (n_labelled list, metric list)}`` (empty before a load).
        """
        return self.run.curves() if self.run else {}

    def readout(self) -> dict:
        """What the readout shows now.

        Returns
        -------
        dict
            ``round``, ``n_labelled``, ``metric`` (None before a round), ``metric_name``, ``steps``,
            ``per_round``.
        """
        if not self.loaded:
            return {"round": 0, "n_labelled": 0, "metric": None, "metric_name": "", "steps": 0, "per_round": 0}
        return self.run.readout()

    def loss_grid(self, n: int | None = None) -> dict:
        """The background over a decoded n x n grid (:func:`latentlab.latent_map.heat_map`).

        F's entropy or loss, or with ``heat="strategy"`` the strategy's own utility (``name`` says
        which; its loss map for SNN and kin; F's entropy, named so, for a strategy that has no score).

        Parameters
        ----------
        n : int, optional
            Grid points per side (default :attr:`grid_size`).

        Returns
        -------
        dict
            The grid and its values, as :func:`latentlab.latent_map.heat_map` returns them.
        """
        self._require_loaded()
        if self.model is None:
            raise ConfigError("the heat map needs a target model F: run a round first")
        n = int(n or self.grid_size)
        heat, strat = self.heat, self.loop.strategy
        if heat == "strategy":
            if getattr(strat, "utility_name", "") and strat.utility_name != "loss":
                try:
                    g = _utility_map(self.latent, n, lambda x: strat.utility(self.loop.context(), x))
                    return {**g, "name": f"{self.strategy}'s utility: {strat.utility_name}"}
                except (LatentLabError, ValueError) as e:  # e.g. BALD on a model without dropout
                    note = f"{self.strategy} has no utility here ({e}); showing F's entropy"
                    heat = "entropy"
            elif strat.utility_name == "loss":
                heat, note = "loss", f"{self.strategy}'s utility: F's loss (nearest pool item's label)"
            else:
                heat, note = "entropy", f"{self.strategy} scores nothing; showing F's entropy"
        g = latent_map.heat_map(self.latent, self.model, self.task, n, heat, self.loop.pool_labels)
        names = {"entropy": "F's predictive entropy", "loss": "F's loss (nearest pool item's label)"}
        name = note if self.heat == "strategy" else names.get(g["kind"], "F's predicted peak output")
        return {**g, "name": name}

    # ------------------------------------------------------------------ actions
    def _require_loaded(self):
        if not self.loaded:
            raise ConfigError("no experiment loaded yet: call load() (or pick a data set)")

    def _reset(self):
        cfg = config_from_settings(
            dataset=self.dataset,
            rounds=10**6,
            per_round=self.per_round,
            alpha=float(self.alpha),
            initial=min(self.initial, len(self.data.x_train)),
            **{"loop.train": self.train_config},
        )
        if self.strategy in MC_DROPOUT and cfg.loop.target == "lenet":  # BALD and kin sample dropout masks
            cfg = cfg.override({"loop.target": "lenet-dropout"})
        self.run = ExplorerRun(
            self.data, self.latent, self.strategy, cfg.loop, self.seed, self.compare, self.annotation
        )
        self.grid = self.selection = None
        self.round = 0
        self.grid_version += 1

    def load(self) -> "ExplorerState":
        """Load the data set, its cached generator and embeddings, and start a fresh run.

        Returns
        -------
        ExplorerState
            This state (a failed load leaves the reason in :attr:`error`).
        """
        if self._load():
            self._loaded_settings = {k: getattr(self, k) for k in _DATA_SETTINGS}
        return self

    @action
    def _load(self):
        t0 = time.perf_counter()
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; valid choices: {', '.join(sorted(DATASETS))}")
        data, latent = load_resources(
            self.dataset, self.data_root, self.generator_config, 0, self.n_pool, self.n_test, progress=self.progress
        )  # raises before anything loaded is replaced
        self.data, self.latent = data, latent
        self.annotation = AnnotationQueue.for_dataset(self.data, shared_fingerprint(self.data))
        self.data_version += 1
        self._reset()
        self.timings["load"] = time.perf_counter() - t0
        return (
            f"loaded {self.data.name}: {len(self.data.x_train)} pool items. "
            "Press Run round to train the target model F, then Step."
        )

    @action
    def reset(self) -> str:
        """Forget the run (labels, model, trajectories) and start again with the current settings.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        self._require_loaded()
        self._reset()
        return "reset: nothing labelled, no model yet. Press Run round."

    @action
    def configure(self, **settings: Any) -> str:
        """Change settings (``alpha=0.3``, ``per_round=20``, ``strategy="random"``, ...) without raising.

        Alpha and per_round apply from the next step/round; a new strategy or data set starts a new run.
        A rejected value leaves the old one and explains why in :attr:`error`.

        Parameters
        ----------
        **settings
            Names of this state's settings -> new values.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        check_settings(settings, valid=set(self.param))
        self.param.update(**settings)
        if set(settings) & {"dataset", "data_root", "n_pool", "n_test"} and self.error:
            raise ConfigError(self.error)  # the reload the new settings started failed: keep its message
        return f"settings: alpha={self.alpha:g}, per_round={self.per_round}, strategy={self.strategy}"

    @param.depends("alpha", "per_round", watch=True)
    def _apply_step_settings(self):
        if self.run is not None:
            self.run.configure(self.alpha, self.per_round)
            self.version += 1

    @param.depends("strategy", "compare", watch=True)
    def _new_strategy(self):
        if self.loaded:
            self.reset()

    @param.depends("heat", watch=True)
    def _new_heat(self):
        if self.model is not None:
            self.grid = self.loss_grid(self.grid_size)
            self.grid_version += 1

    @param.depends("dataset", "data_root", "n_pool", "n_test", watch=True)
    def _new_dataset(self):
        old = dict(self._loaded_settings)
        if self._load() or not self.loaded:
            self._loaded_settings = {k: getattr(self, k) for k in _DATA_SETTINGS}
            return
        # the new data set did not load: keep the one shown (its run untouched) and say so
        with param.parameterized.discard_events(self):
            self.param.update(**old)
        self.error = f"{self.error} (still showing {self.dataset})"
        self.status = f"error: {self.error}"

    @action
    def step(self) -> str:
        """One Step by the selected strategy's own rule (:meth:`latentlab.strategies.Strategy.step`).

        SNN and kin: p -> p' = p + alpha d along the gradient of F's loss (label: :attr:`step_label`)
        -> nearest unvisited item; uncertainty-ascent along F's entropy gradient; a scoring strategy
        (entropy, margin, BALD, ...) moves nothing and names its next picks (:attr:`picks`). Nothing
        is labelled. Before the first step after a round, the points are the round's own start
        points (SNN) or a random subset of ``per_round`` labelled items.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        t0 = time.perf_counter()
        self._require_loaded()
        m, loss_after = self.run.step(self.alpha, self.per_round, self.step_label)
        self.timings["step"] = time.perf_counter() - t0
        if m is None:
            return f"{self.loop.strategy.name} moves no point: its next {len(self.picks)} picks are ringed in gold"
        what = self.run.last_step.objective or "objective"
        return (
            f"step {self.traj.steps}: mean {what} {np.nanmean(m.loss):.3f} at p -> "
            f"mean loss {np.mean(loss_after):.3f} at the neighbours ({self.run.last_step.used})"
        )

    @property
    def picks(self) -> np.ndarray:
        """Pool items a non-moving strategy would label next (its last Step), else empty."""
        return np.zeros(0, np.int64) if self.run is None else self.run.picks

    def explain_step(self) -> str:
        """One line: what Step does for the selected strategy (and, for a loss step, which label it uses).

        Returns
        -------
        str
            The line the page shows above the controls.
        """
        strat = self.loop.strategy if self.loaded else get_strategy(self.strategy)
        line = f"{strat.name}: {strat.explain_step()}"
        if getattr(strat, "uses_label", False) or strat.name.startswith("si"):
            line += f"; label: {_LABEL_TEXT[self.step_label]}"
        return line

    @action
    def run_round(self) -> str:
        """One round of Algorithm 1 with the chosen strategy (``ActiveLoop.run_round``).

        Plus the random baseline when ``compare``; then the trajectories restart and the heat map
        is refreshed.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        t0 = time.perf_counter()
        self._require_loaded()
        try:
            rec = self.run.run_round()
        finally:
            self.round = self.loop.round
        self.grid = self.loss_grid(self.grid_size)
        self.grid_version += 1
        self.timings["round"] = time.perf_counter() - t0
        return (
            f"round {rec.round}: F trained on {rec.n_labelled} items, test {rec.metric_name} "
            f"{rec.metric:.1f}; {self.loop.n_labelled} labelled now"
        )

    @action
    def select(self, x: float, y: float) -> str:
        """Decode the latent point (x, y); if a current sampling point is near, select its step.

        Fills :attr:`selection` (:func:`latentlab.latent_map.describe_point`).

        Parameters
        ----------
        x, y : float
            The point, in the map's 2-D coordinates.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        self._require_loaded()
        z = np.array([float(x), float(y)])
        if not np.all(np.isfinite(z)):
            raise ConfigError(f"select needs finite coordinates, got ({x}, {y})")
        x0, x1, y0, y1 = self.extent
        last = self.traj.last if self.traj else None
        near = None if last is None else self.latent.to_view(last["p"])  # a point is picked where it is drawn
        j = latent_map.nearest_point(near, z, 0.03 * max(x1 - x0, y1 - y0))
        sel = latent_map.describe_point(
            self.latent, self.model, self.task, self.data.x_train, self.data.classes, z, last, j
        )
        self.selection = {**sel, "probs": self._probabilities(sel["images"])}
        return f"selected {self.selection['text']}"

    def _probabilities(self, images) -> dict:
        """F's class probabilities ``{title: (C,) array}`` at each shown image (G(p), G(p'), the real
        neighbour); for regression F's predicted map ``{title: (C, H, W)}``; ``{}`` before a model."""
        import torch

        if self.model is None:
            return {}
        titles = [t for t, _ in images if not t.startswith("F(")]
        x = np.stack([np.asarray(a, np.float32) for t, a in images if not t.startswith("F(")])
        self.model.eval()
        with torch.no_grad():
            out = self.model(torch.as_tensor(x))
        out = torch.softmax(out, 1) if self.task.categorical else out
        return dict(zip(titles, out.numpy().astype(np.float64)))

    # ------------------------------------------------------------------ annotation by a person
    @action
    def queue_synthetic(self) -> str:
        """Queue G(p') of the last step's points for a person to label.

        Sampling by interpolation without a labeling tool. Inputs the person already labelled are
        taken from the cache.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        self._require_loaded()
        n_cached = self.run.queue_synthetic()
        return f"{len(self.pending)} synthesized images wait for a label" + (
            f" ({n_cached} already labelled earlier, taken from the cache)" if n_cached else ""
        )

    @action
    def annotate(self, answer: int | bool) -> str:
        """Label the first pending image and add it to the train set.

        The answer is stored in the person's label cache.

        Parameters
        ----------
        answer : int or bool
            A class index, or True/False for accept/reject.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        self._require_loaded()
        self.annotation.answer(self.loop, answer)
        return f"labelled; {len(self.pending)} left; {self.loop.n_labelled} labelled in all"

    @action
    def skip(self) -> str:
        """Drop the first pending image without a label.

        Returns
        -------
        bool
            True when it worked (:attr:`status` says what happened); False on bad input, with the
            reason in :attr:`error`.
        """
        if self.annotation is not None:
            self.annotation.skip()
        return f"skipped; {len(self.pending)} left"
