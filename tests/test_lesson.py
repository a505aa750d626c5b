"""The classroom lesson: its headless helpers (latentlab/lesson.py) and notebook 06 under papermill."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from latentlab import lesson
from latentlab.exceptions import ConfigError


# --------------------------------------------------------------------------- settings and self-checks
def test_lesson_settings_smoke_caps_sizes_and_bad_values_name_the_fix():
    full = lesson.lesson_settings()
    assert full["seeds"] == (0, 1, 2) and full["rounds"] == 6 and full["dataset"] == "digits"
    smoke = lesson.lesson_settings(smoke=True, seeds="3,4,5", rounds=10, steps=1)
    assert smoke["seeds"] == (3, 4) and smoke["rounds"] == 3 and smoke["steps"] == 1 and smoke["min_steps"] == 30
    assert lesson.lesson_settings(seeds=7)["seeds"] == (7,)
    with pytest.raises(ConfigError, match="valid: dataset"):
        lesson.lesson_settings(n_rounds=3)
    with pytest.raises(ConfigError, match="long_alpha must be > 0"):
        lesson.lesson_settings(long_alpha=0)
    with pytest.raises(ConfigError, match="at least one seed"):
        lesson.lesson_settings(seeds=[])


def test_check_says_right_or_not_yet_and_never_raises():
    said = []
    log = said.append
    assert lesson.check("SNN ", "snn", hint="h", log=log) is True
    assert lesson.check(0.31, 0.3, hint="two decimals", tol=0.02, log=log) is True
    assert lesson.check(0.4, 0.3, hint="two decimals", tol=0.02, log=log) is False
    assert lesson.check(None, 3, hint="count the bars", log=log) is False
    assert lesson.check("three", 3, hint="a number", log=log) is False  # wrong kind: not yet, no error
    assert lesson.check([3, 1], {1, 3}, hint="h", log=log) is True
    assert lesson.check([1, 2], [1, 2, 3], hint="h", log=log) is False
    assert lesson.check(True, 1, hint="yes or no", log=log) is False  # a bool is not the number 1
    assert lesson.check(object(), 2.0, hint="h", log=log) is False
    assert said[:4] == [
        "right",
        "right",
        "not yet: two decimals",
        "not yet: replace None with your answer (hint: count the bars)",
    ]
    assert all(s == "right" or s.startswith("not yet: ") for s in said)


def test_class_balance_counts_rarest_and_entropy():
    b = lesson.class_balance(np.arange(10).repeat(3), 10)
    assert b["rarest"] == 3 and b["counts"].tolist() == [3] * 10
    assert b["entropy_bits"] == pytest.approx(np.log2(10))
    missing = lesson.class_balance([0, 0, 1, 1], 10)
    assert missing["rarest"] == 0 and missing["entropy_bits"] == pytest.approx(1.0)
    assert lesson.class_balance([4, 4, 4], 10)["entropy_bits"] == 0.0


# --------------------------------------------------------------------------- trajectory pieces
@dataclasses.dataclass
class _Traj:  # the fields of latentlab.trajectory.Trajectory that pick_point reads
    item: np.ndarray
    neighbour: np.ndarray
    loss: np.ndarray


def test_pick_point_prefers_a_first_step_into_another_class_else_the_largest_loss_rise():
    y = np.array([0, 0, 1, 1, 2, 2])
    crosses = _Traj(item=np.array([[0, 2, 4]]), neighbour=np.array([[1, 5, 3]]), loss=np.zeros((1, 3)))
    assert lesson.pick_point(crosses, y) == 1  # point 1: class 1 -> class 2; point 2 crosses too, later
    same = _Traj(
        item=np.array([[0, 2, 4], [1, 3, 5]]),
        neighbour=np.array([[1, 3, 5], [0, 2, 4]]),
        loss=np.array([[1.0, 1.0, 1.0], [1.1, 2.5, 0.5]]),
    )
    assert lesson.pick_point(same, y) == 1


@pytest.fixture(scope="module")
def trained(small_digits, latent):
    """F after one round on 30 random labels of the small digits, and 4 trajectories of 2 steps."""
    from latentlab import LoopConfig, TrainConfig, trajectory
    from latentlab.loop import ActiveLoop
    from latentlab.strategies import get_strategy

    cfg = LoopConfig(rounds=1, initial=30, per_round=10, train=TrainConfig(epochs=1, min_steps=20))
    loop = ActiveLoop(small_digits, get_strategy("random"), cfg, 0, progress=False)
    loop.run()
    starts = loop.pool.labelled_indices()[:4]
    traj = trajectory(latent, loop.model, loop.task, small_digits.y_train, starts, steps=2, alpha=0.3)
    return loop, traj


def test_trajectory_probs_are_F_at_Gp_Gp_prime_and_the_real_neighbour(small_digits, latent, trained):
    from latentlab.generative import decode
    from latentlab.predictive import class_probs

    loop, traj = trained
    pr = lesson.trajectory_probs(latent, loop.model, small_digits.x_train, traj, point=2)
    assert pr["p"].shape == pr["p_prime"].shape == pr["neighbour"].shape == (2, 10)
    for k in ("p", "p_prime", "neighbour"):
        np.testing.assert_allclose(pr[k].sum(1), 1.0, atol=1e-9)
    nb = traj.neighbour[:, 2]
    np.testing.assert_allclose(pr["neighbour"], class_probs(loop.model, small_digits.x_train[nb]).numpy(), atol=1e-6)
    gpp = decode(latent.generator, traj.p_prime[1, 2][None])
    np.testing.assert_allclose(pr["p_prime"][1], class_probs(loop.model, gpp).numpy()[0], atol=1e-6)
    assert pr["images"].shape == (2, 3, 8, 8) and pr["item"].tolist() == traj.item[:, 2].tolist()
    with pytest.raises(ConfigError, match="point must be in 0..3"):
        lesson.trajectory_probs(latent, loop.model, small_digits.x_train, traj, point=4)


def test_figures_of_the_predict_reveal_moment_and_the_bars(small_digits, latent, trained):
    loop, traj = trained
    lab = loop.pool.labelled_indices()
    start = lesson.plot_move(latent.embeddings, small_digits.y_train, traj, 0, labelled=lab)
    reveal = lesson.plot_move(latent.embeddings, small_digits.y_train, traj, 0, labelled=lab, reveal=True)
    assert "Where will p move" in start.axes[0].get_title() and "Revealed" in reveal.axes[0].get_title()
    n_start, n_reveal = len(start.axes[0].collections), len(reveal.axes[0].collections)
    assert n_reveal == n_start + 2  # p' and the neighbour are drawn only in the reveal
    pr = lesson.trajectory_probs(latent, loop.model, small_digits.x_train, traj, point=0)
    fig = lesson.plot_probs(pr, small_digits.y_train)
    bars = [a for a in fig.axes if a.patches]
    assert len(bars) == 6  # 2 steps x (G(p), G(p'), neighbour)
    heights = [p.get_height() for p in bars[5].patches]
    np.testing.assert_allclose(heights, pr["neighbour"][1])


# --------------------------------------------------------------------------- pick diagnostics
def _brute(loop, latent, y):
    """The measures of the last round's picks, recomputed by brute force."""
    t = loop.round
    picks = np.asarray(loop.proposals[-1]["indices"])
    before = np.flatnonzero((loop.pool.labelled_round >= 0) & (loop.pool.labelled_round <= t))
    e = latent.embeddings
    dist = np.sqrt(((e[picks][:, None, :] - e[before][None, :, :]) ** 2).sum(-1)).min(1)
    pred = loop.task.predict(loop.model, loop.dataset.x_train).argmax(1).numpy()
    unl = np.setdiff1d(np.arange(len(y)), before)
    return np.median(dist), np.mean(pred[picks] != y[picks]), np.mean(pred[unl] != y[unl])


@pytest.mark.parametrize("strategy", ["snn", "random"])
def test_pick_diagnostics_match_a_brute_force_count(small_digits, latent, strategy):
    from latentlab import LoopConfig, TrainConfig
    from latentlab.loop import ActiveLoop
    from latentlab.strategies import get_strategy

    cfg = LoopConfig(rounds=3, initial=20, per_round=10, alpha=0.2, train=TrainConfig(epochs=1, min_steps=10))
    strat = get_strategy(strategy)
    loop = ActiveLoop(small_digits, strat, cfg, 0, latent=latent if strat.needs_generator else None, progress=False)
    y = small_digits.y_train
    for t in (1, 2):
        loop.run_round()
        got = lesson.pick_diagnostics(loop, embeddings=latent.embeddings)
        med, err_p, err_u = _brute(loop, latent, y)
        assert got["round"] == t and got["n_labelled"] == 20 + 10 * t
        assert got["median_dist"] == pytest.approx(med)
        assert got["err_picks"] == pytest.approx(err_p) and got["err_pool"] == pytest.approx(err_u)
        counts = [got[f"class{k}"] for k in range(10)]
        assert counts == np.bincount(y[loop.pool.labelled_indices()], minlength=10).tolist()
        assert got["rarest"] == min(counts)
    loop.run_round()
    assert lesson.pick_diagnostics(loop, embeddings=latent.embeddings) is None  # the last round picks nothing


def test_run_with_diagnostics_measures_every_round_that_picked(small_digits, latent):
    from latentlab import LoopConfig, TrainConfig
    from latentlab.experiment import ExperimentConfig

    cfg = ExperimentConfig(
        dataset="digits",
        loop=LoopConfig(rounds=3, initial=20, per_round=10, alpha=0.2, train=TrainConfig(epochs=1, min_steps=10)),
    )
    loop, rows = lesson.run_with_diagnostics((small_digits, latent), cfg, "snn", 0, alpha=0.05)
    assert loop.done and loop.config.alpha == 0.05
    assert [r["round"] for r in rows] == [1, 2] and [r["n_labelled"] for r in rows] == [30, 40]
    assert rows[0]["metric"] == loop.records[0].metric


def test_pick_diagnostics_refuse_what_they_cannot_measure(small_digits, trained):
    loop, _ = trained
    with pytest.raises(ConfigError, match="pass embeddings="):
        lesson.pick_diagnostics(loop)


def test_compare_picks_caches_its_table_and_reads_it_back(small_digits, latent, tmp_path, monkeypatch):
    from latentlab import LoopConfig, TrainConfig
    from latentlab.experiment import ExperimentConfig

    cfg = ExperimentConfig(
        dataset="digits",
        loop=LoopConfig(rounds=2, initial=20, per_round=10, train=TrainConfig(epochs=1, min_steps=10)),
    )
    runs = [("random", "random", None), ("snn short", "snn", 0.1)]
    table = lesson.compare_picks((small_digits, latent), cfg, runs, [0, 1], cache_dir=tmp_path)
    assert len(table) == 4 and set(table["run"]) == {"random", "snn short"} and set(table["seed"]) == {0, 1}
    assert table["alpha"].isna().sum() == 2 and (table.loc[table["run"] == "snn short", "alpha"] == 0.1).all()
    monkeypatch.setattr(lesson, "run_with_diagnostics", lambda *a, **k: pytest.fail("the cached table was not used"))
    again = lesson.compare_picks((small_digits, latent), cfg, runs, [0, 1], cache_dir=tmp_path)
    import pandas as pd

    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(pytest.fail.Exception):  # other seeds: another key, computed afresh
        lesson.compare_picks((small_digits, latent), cfg, runs, [2], cache_dir=tmp_path)

    summary = lesson.summarise_picks(table)
    assert list(summary.index) == ["random", "snn short"]
    assert summary.loc["random", "rarest class count"] == table.loc[table["run"] == "random", "rarest"].mean()
    fig = lesson.plot_picks(table)
    assert len(fig.axes) == 4 and len(fig.axes[3].get_lines()) == 4  # picks and pool, per run
    counts = lesson.plot_class_counts(table, seed=1)
    heights = [p.get_height() for p in counts.axes[0].patches][:10]
    row = table[(table["run"] == "random") & (table["seed"] == 1)].iloc[-1]
    assert heights == [row[f"class{k}"] for k in range(10)]
    with pytest.raises(ConfigError, match="seed 5 is not in the table"):
        lesson.plot_class_counts(table, seed=5)


def test_same_seed_table_pairs_strategies_by_seed():
    rows = [
        {"strategy": s, "seed": seed, "round": t, "n_labelled": 10 * t, "metric": "accuracy", "value": v}
        for s, vals in {"random": [80.0, 84.0], "snn": [70.0, 71.0]}.items()
        for seed, v in enumerate(vals)
        for t in (1, 2)
    ] + [{"strategy": "snn", "seed": 0, "round": 2, "n_labelled": 20, "metric": "val_accuracy", "value": 1.0}]
    tab = lesson.same_seed_table(rows)
    assert list(tab.index) == ["seed 0", "seed 1", "mean", "std"]
    assert tab.loc["mean", "random"] == 82.0 and tab.loc["std", "snn"] == pytest.approx(0.71, abs=0.01)
    with pytest.raises(ConfigError, match="run the experiment first"):
        lesson.same_seed_table([])


def test_exercise_key_takes_its_answers_from_the_run_and_check_exercise_never_raises():
    import pandas as pd

    base = {"strategy": "snn", "alpha": 0.2, "n_labelled": 40, "metric": 80.0, "entropy_bits": 3.0}
    picks = pd.DataFrame(
        [
            {
                **base,
                "run": "random",
                "seed": 0,
                "round": 1,
                "median_dist": 0.4,
                "err_picks": 0.3,
                "err_pool": 0.3,
                "rarest": 3,
            },
            {
                **base,
                "run": "snn short",
                "seed": 0,
                "round": 1,
                "median_dist": 0.1,
                "err_picks": 0.1,
                "err_pool": 0.3,
                "rarest": 0,
            },
            {
                **base,
                "run": "snn long",
                "seed": 0,
                "round": 1,
                "median_dist": 0.5,
                "err_picks": 0.2,
                "err_pool": 0.3,
                "rarest": 2,
            },
        ]
    )
    results = [
        {"strategy": s, "seed": 0, "round": 1, "n_labelled": 20, "metric": "accuracy", "value": v}
        for s, v in {"random": 80.0, "snn": 70.0, "entropy": 85.0}.items()
    ]
    key = lesson.exercise_key(picks, results)
    assert {k: v["expected"] for k, v in key.items()} == {
        "1": "snn short",
        "2": 0,
        "3": "b",
        "4": "entropy",
        "5": "yes",
    }
    said = []
    assert lesson.check_exercise("1", "SNN short", key, log=said.append) is True
    assert lesson.check_exercise(2, 1, key, log=said.append) is False
    assert lesson.check_exercise("9", "a", key, log=said.append) is False
    assert said == [
        "right",
        f"not yet: {key['2']['hint']}",
        "not yet: there is no exercise '9'; the exercises are 1, 2, 3, 4, 5",
    ]
    with pytest.raises(ConfigError, match="no run 'snn short' for seed 4"):
        lesson.exercise_key(picks, results, seed=4)


def test_plot_map_rings_the_labelled_items(small_digits, latent):
    fig = lesson.plot_map(latent.embeddings, small_digits.y_train, labelled=[0, 5, 9])
    pool, rings = fig.axes[0].collections[:2]
    assert len(pool.get_offsets()) == 400 and len(rings.get_offsets()) == 3


# --------------------------------------------------------------------------- notebook 06
NB = Path(__file__).resolve().parents[1] / "notebooks" / "06_lesson.ipynb"
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def test_lesson_notebook_is_committed_clean_thin_and_has_slides():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NB, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "papermill notebooks/06_lesson.ipynb" in nb.cells[0].source
    assert "parameters" in nb.cells[1].metadata.get("tags", [])
    for c in nb.cells:
        assert c.metadata.get("slideshow", {}).get("slide_type") in SLIDE_TYPES, c.source[:60]
        if c.cell_type != "code":
            continue
        assert c.outputs == [] and c.execution_count is None, "strip outputs before committing"
        for node in ast.walk(ast.parse(c.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.Lambda)), (
                f"notebooks stay thin; move {type(node).__name__} into latentlab/lesson.py"
            )
    slides = [c for c in nb.cells if c.metadata["slideshow"]["slide_type"] == "slide"]
    assert len(slides) >= 9  # title, recap, idea, predict, trajectory, puzzle, race, exercises, explorer, ...
    key = [c for c in nb.cells if "answer-key" in c.metadata.get("tags", [])]
    assert key and all(c.metadata["slideshow"]["slide_type"] == "skip" for c in key)
    assert key[0].metadata.get("jp-MarkdownHeadingCollapsed") is True and key[0].source.startswith("## Answer key")
    assert nb.cells.index(key[0]) == len(nb.cells) - len(key)  # the key closes the notebook


def test_lesson_parameters_are_typed_and_documented():
    pm = pytest.importorskip("papermill")
    params = pm.inspect_notebook(str(NB))
    assert params["smoke"]["inferred_type_name"] == "bool" and params["smoke"]["default"] == "False"
    assert params["out_dir"]["inferred_type_name"] == "str" and params["seeds"]["inferred_type_name"] == "list"
    for p in params.values():
        assert p["inferred_type_name"] != "None" and p["help"].strip(), p


def test_student_copy_drops_the_answer_key():
    """The teacher's guide's nbconvert line: cells tagged answer-key removed, the rest kept."""
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    from traitlets.config import Config

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = ["answer-key"]
    c.NotebookExporter.preprocessors = ["nbconvert.preprocessors.TagRemovePreprocessor"]
    body, _ = nbconvert.NotebookExporter(config=c).from_filename(str(NB))
    student = nbformat.reads(body, as_version=4)
    full = nbformat.read(NB, as_version=4)
    n_key = sum("answer-key" in c.metadata.get("tags", []) for c in full.cells)
    assert len(student.cells) == len(full.cells) - n_key and n_key >= 2
    assert "Answer key" not in "".join(c.source for c in student.cells)


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_lesson_smoke_run_under_papermill(tmp_path, monkeypatch):
    """Notebook 06 end to end with smoke=True: figures, tables, self-checks that say 'not yet' to
    unanswered exercises and 'right' to the answer key, numbers in their ranges."""
    pm = pytest.importorskip("papermill")
    nbformat = pytest.importorskip("nbformat")
    import pandas as pd

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it; 2 spinning threads crawl on a loaded box
    out = tmp_path / "out"
    pm.execute_notebook(
        str(NB), str(tmp_path / "executed.ipynb"), parameters={"smoke": True, "out_dir": str(out)}, progress_bar=False
    )
    for f in (
        "results.csv",
        "picks.csv",
        "map.png",
        "reveal.png",
        "probs.png",
        "pick_measures.png",
        "class_counts.png",
    ):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    nb = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 8  # map, start, reveal, bars, Fig. 4 map, pick measures, class counts, curves
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    exercises = [
        c for c in code if "lesson.check_exercise(" in c.source and "answer-key" not in c.metadata.get("tags", [])
    ]
    assert len(exercises) == 5
    assert all(_stdout(c).startswith("not yet: replace None with your answer (hint: ") for c in exercises)
    key = [c for c in code if "answer-key" in c.metadata.get("tags", [])]
    assert _stdout(key[0]).split() == ["right"] * 5  # the answer key passes its own checks
    reveal = next(c for c in code if "reveal=True" in c.source)
    assert _stdout(reveal).count("not yet: replace None") == 2

    results = pd.read_csv(out / "results.csv")
    assert set(results["strategy"]) == {"random", "snn", "entropy"} and set(results["seed"]) == {0, 1}
    acc = results[results["metric"] == "accuracy"]
    assert acc["round"].max() == 3 and acc["value"].between(10, 100).all()
    picks = pd.read_csv(out / "picks.csv")
    assert len(picks) == 3 * 2 * 2  # 3 runs x 2 seeds x 2 rounds that picked (the third only trains)
    assert picks[["err_picks", "err_pool"]].stack().between(0, 1).all()
    assert picks["entropy_bits"].between(0, np.log2(10) + 1e-9).all() and (picks["rarest"] >= 0).all()
    assert (picks[[f"class{k}" for k in range(10)]].sum(axis=1) == picks["n_labelled"]).all()
    med = picks.groupby("run")["median_dist"].mean()
    assert med["snn short"] < med["snn long"]  # a shorter step lands nearer the labelled set
