"""The classroom lesson: its headless helpers (latentlab/lesson.py) and notebook 06 under papermill."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from latentlab import lesson
from latentlab.exceptions import ConfigError
from test_figure_style import MIN_TEXT_PX, _smallest_text_px


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
def test_pick_point_prefers_a_step_that_changes_Fs_answer_then_the_largest_fall():
    change = {"changed": np.array([False, True, True, False]), "drop": np.array([0.9, 0.1, 0.4, 0.2])}
    assert lesson.pick_point(change) == 2  # of the two that change F's answer, the larger fall
    same = {"changed": np.zeros(3, bool), "drop": np.array([0.05, 0.3, 0.3])}
    assert lesson.pick_point(same) == 1  # none changes: the largest fall, ties to the lowest


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


def test_step_change_is_F_at_Gp_and_Gp_prime_of_every_walk(latent, trained):
    from latentlab.generative import decode
    from latentlab.predictive import class_probs

    loop, traj = trained
    ch = lesson.step_change(latent, loop.model, traj, step=1)
    pr_p = class_probs(loop.model, decode(latent.generator, traj.p[1])).numpy()
    pr_pp = class_probs(loop.model, decode(latent.generator, traj.p_prime[1])).numpy()
    assert ch["top_p"].tolist() == pr_p.argmax(1).tolist() and ch["top_pp"].tolist() == pr_pp.argmax(1).tolist()
    cols = np.arange(4)
    np.testing.assert_allclose(ch["conf_p"], pr_p[cols, ch["top_p"]], atol=1e-6)
    np.testing.assert_allclose(ch["drop"], pr_p[cols, ch["top_p"]] - pr_pp[cols, ch["top_p"]], atol=1e-6)
    assert ch["changed"].tolist() == (pr_pp.argmax(1) != pr_p.argmax(1)).tolist()
    with pytest.raises(ConfigError, match="step must be in 0..1"):
        lesson.step_change(latent, loop.model, traj, step=2)


def test_some_walks_keeps_the_chosen_walk_first_and_seeded_others(trained):
    _, traj = trained
    w = lesson.some_walks(traj, 2, 3, seed=0)
    assert w.p.shape[:2] == (2, 3) and w.item[0, 0] == traj.item[0, 2]
    cols = [int(np.flatnonzero(traj.item[0] == i)[0]) for i in w.item[0]]
    assert len(set(cols)) == 3 and cols[0] == 2
    np.testing.assert_array_equal(w.p_prime, traj.p_prime[:, cols])
    assert lesson.some_walks(traj, 2, 3, seed=0).item.tolist() == w.item.tolist()  # seeded
    assert lesson.some_walks(traj, 2, 10, seed=0).p.shape[1] == 4  # asks for more than there are: all
    with pytest.raises(ConfigError, match="point must be in 0..3"):
        lesson.some_walks(traj, 4, 2, seed=0)


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
    before = lesson.plot_move(latent.embeddings, small_digits.y_train, traj, 0, labelled=lab, probs=pr)
    after = lesson.plot_move(latent.embeddings, small_digits.y_train, traj, 0, labelled=lab, probs=pr, reveal=True)
    assert [len(a.patches) for a in before.axes if a.patches] == [10]  # G(p) only: G(p') waits for the reveal
    shown = [a for a in after.axes if a.patches]
    np.testing.assert_allclose([b.get_height() for b in shown[1].patches], pr["p_prime"][0])
    assert "F says" in shown[1].get_title()


# --------------------------------------------------------------------------- pick measurements
def _brute(loop, latent, y):
    """The measures of the last round's picks, recomputed by brute force with the model that picked."""
    t = loop.round
    picks = np.asarray(loop.proposals[-1]["indices"])
    before = np.flatnonzero((loop.pool.labelled_round >= 0) & (loop.pool.labelled_round <= t))
    e = latent.embeddings
    dist = np.sqrt(((e[picks][:, None, :] - e[before][None, :, :]) ** 2).sum(-1)).min(1)
    pred = loop.task.predict(loop.model, loop.dataset.x_train).argmax(1).numpy()
    unl = np.setdiff1d(np.arange(len(y)), before)
    after = np.concatenate([before, picks])
    return {
        "round": t,
        "n_labelled": len(after),
        "median_dist": np.median(dist),
        "err_picks": np.mean(pred[picks] != y[picks]),
        "err_pool": np.mean(pred[unl] != y[unl]),
        **{f"class{k}": int(c) for k, c in enumerate(np.bincount(y[after], minlength=10))},
    }


def _small_config(rounds: int = 3):
    from latentlab import LoopConfig, TrainConfig
    from latentlab.experiment import ExperimentConfig

    # 40 optimiser steps: F above chance at t=1 (10 left it at 10 %), still a second per round
    lc = LoopConfig(rounds=rounds, initial=20, per_round=10, alpha=0.2, train=TrainConfig(epochs=1, min_steps=40))
    return ExperimentConfig(dataset="digits", strategies=("random", "snn", "entropy"), seeds=(0, 1), loop=lc)


def test_compare_picks_measures_each_round_as_a_live_loop_does_and_shares_the_race_runs(
    small_digits, latent, tmp_path, monkeypatch
):
    """compare_picks' table equals a brute-force count on live loops of the same settings; the runs at
    the config's own step are the race's (compare_strategies reads them back), another step runs apart."""
    import pandas as pd

    from latentlab.loop import ActiveLoop
    from latentlab.strategies import get_strategy

    cfg, prepared = _small_config(), (small_digits, latent)
    runs = [("random", "random", None), ("snn short", "snn", 0.2), ("snn long", "snn", 0.6)]
    table = lesson.compare_picks(prepared, cfg, runs, tmp_path, progress=False)
    assert list(table["run"].unique()) == ["random", "snn short", "snn long"] and set(table["seed"]) == {0, 1}
    assert len(table) == 3 * 2 * 2  # 3 runs x 2 seeds x the 2 rounds that picked
    assert table["alpha"].isna().sum() == 4 and (table.loc[table["run"] == "snn long", "alpha"] == 0.6).all()
    y = small_digits.y_train
    for name, s, a in runs[1:] + runs[:1]:
        lc = cfg.loop if a is None else dataclasses.replace(cfg.loop, alpha=a)
        strat = get_strategy(s)
        live = ActiveLoop(small_digits, strat, lc, 1, latent=latent, progress=False)
        for t in (1, 2):
            live.run_round()
            want = _brute(live, latent, y)
            got = table[(table["run"] == name) & (table["seed"] == 1) & (table["round"] == t)].iloc[0]
            for k, v in want.items():
                assert got[k] == pytest.approx(v), (name, t, k)
            assert got["rarest"] == min(want[f"class{k}"] for k in range(10))
            assert got["metric"] == pytest.approx(live.records[-1].metric)

    folders = sorted(d.name for d in tmp_path.iterdir())
    assert len(folders) == 2  # the config's folder (random, snn, entropy) and the long step's
    monkeypatch.setattr(ActiveLoop, "run_round", lambda self: pytest.fail("the race ran a run again"))
    results = lesson.compare_strategies(cfg, prepared, tmp_path, progress=False)
    acc = pd.DataFrame(results).query("metric == 'accuracy' and strategy == 'snn' and seed == 0")
    short = table[(table["run"] == "snn short") & (table["seed"] == 0)]
    assert acc.set_index("round").loc[short["round"], "value"].tolist() == pytest.approx(short["metric"].tolist())
    again = lesson.compare_picks(prepared, cfg, runs, tmp_path, progress=False)  # read back, nothing run
    pd.testing.assert_frame_equal(table, again)


def test_pick_summaries_and_figures(small_digits, latent, tmp_path):
    cfg = _small_config(rounds=2).override({"strategies": ["random", "snn"]})
    table = lesson.compare_picks((small_digits, latent), cfg, [("random", "random", None), ("snn short", "snn", 0.2)],
                                 tmp_path)  # fmt: skip
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


def _pick_table():
    """A pick table as compare_picks writes it: 2 runs x 2 seeds x 2 rounds, seed 0's snn short lacking class 5."""
    import pandas as pd

    rows = []
    for run, strategy in (("random", "random"), ("snn short", "snn")):
        for seed in (0, 1):
            for t, n in ((1, 40), (2, 60)):
                counts = np.full(10, n // 10)
                if run == "snn short" and seed == 0:
                    counts[5], counts[6] = 0, counts[6] + counts[5]
                rows.append(
                    {"run": run, "strategy": strategy, "alpha": np.nan, "seed": seed, "round": t, "n_labelled": n,
                     "metric": 70.0 + t, "median_dist": 0.1 * t, "err_picks": 0.1, "err_pool": 0.2,
                     "rarest": int(counts.min()), "entropy_bits": 3.0,
                     **{f"class{k}": int(c) for k, c in enumerate(counts)}}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_class_counts_print_every_count_so_a_missing_class_reads_0():
    """Exercise 2 asks for the rarest class count: a class with no bar must still show its 0."""
    table = _pick_table()
    fig = lesson.plot_class_counts(table, seed=0)
    ax = fig.axes[0]
    shown = [t.get_text() for t in ax.texts]
    assert len(shown) == 20  # one count over each of the 2 runs' 10 bars
    last = table[(table["seed"] == 0) & (table["round"] == 2)].set_index("run")
    assert shown[10:] == [str(last.loc["snn short", f"class{k}"]) for k in range(10)] and shown[15] == "0"
    assert "60 labels" in ax.get_title()
    key = lesson.exercise_key(table, [{"strategy": "random", "seed": 0, "round": 1, "n_labelled": 20,
                                       "metric": "accuracy", "value": 80.0}])  # fmt: skip
    assert key["2"]["expected"] == 0 and "no bar has 0" in key["2"]["hint"]


def test_lesson_figures_share_colours_and_are_readable_on_a_projector(small_digits, latent, trained):
    """One colour per run in every figure (random blue everywhere), and no text under 16 px as shown; the
    race labels its unit and its seeds; the walks run through the real images they reached."""
    from matplotlib.colors import to_hex

    table = _pick_table()
    picks = lesson.plot_picks(table)
    counts = lesson.plot_class_counts(table, seed=1)
    results = [
        {"strategy": s, "seed": seed, "round": t, "n_labelled": 20 * t, "metric": "accuracy", "value": 60.0 + t + seed}
        for s in ("entropy", "random", "snn")
        for seed in (0, 1, 2)
        for t in (1, 2)
    ]
    race = lesson.plot_race(results, names={"snn": "snn short"})
    colour = {
        "picks": {ln.get_label(): to_hex(ln.get_color()) for ln in picks.axes[0].get_lines()},
        "counts": {c.get_label(): to_hex(c.patches[0].get_facecolor()) for c in counts.axes[0].containers},
        "race": {ln.get_label(): to_hex(ln.get_color()) for ln in race.axes[0].get_lines()},
    }
    assert colour["picks"] == colour["counts"] and colour["picks"].items() <= colour["race"].items()
    assert set(colour["race"]) == {"entropy", "random", "snn short"} and len(set(colour["race"].values())) == 3
    ax = race.axes[0]
    assert ax.get_ylabel() == "test accuracy (%)" and "3 seeds" in ax.get_title()
    one = lesson.plot_race([r for r in results if r["seed"] == 0])
    assert "one seed" in one.axes[0].get_title()
    with pytest.raises(ConfigError, match="run the experiment first"):
        lesson.plot_race([])

    loop, traj = trained
    walks = lesson.some_walks(traj, 0, 3, seed=0)
    off = np.array([False, True, False])
    fig = lesson.plot_walks(latent.embeddings, small_digits.y_train, walks, off)
    lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) > 1]
    e = latent.embeddings
    for j, ln in enumerate(lines):
        want = np.concatenate([walks.p[:1, j, :2], e[walks.neighbour[:, j]]])
        np.testing.assert_allclose(np.column_stack([ln.get_xdata(), ln.get_ydata()]), want, atol=1e-6)
        assert ln.get_linestyle() == ("--" if off[j] else "-")

    lab = loop.pool.labelled_indices()
    pr = lesson.trajectory_probs(latent, loop.model, small_digits.x_train, traj, point=0)
    figures = [
        lesson.plot_map(e, small_digits.y_train, lab),
        lesson.plot_move(e, small_digits.y_train, traj, 0, labelled=lab, probs=pr, reveal=True),
        lesson.plot_probs(pr, small_digits.y_train),
        fig, picks, counts, race,
    ]  # fmt: skip
    small = {}
    for f in figures:  # the 16 px floor of the synthetic figures' test, here on a trained F's figures
        px, text = _smallest_text_px(f)
        if px < MIN_TEXT_PX:
            small[f.axes[0].get_title()] = f"{text!r} is {px:.1f} px at the size shown"
    assert small == {}, small


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
def test_the_reveal_point_changes_what_F_says_on_the_lesson_defaults():
    """Notebook 06's predict-then-reveal on its default settings (the lesson's first seed and step):
    the point the rule picks makes a visible change, F naming another class for G(p') than for G(p)
    (or, failing that, F's top probability falling clearly)."""
    import latentlab as ll
    from latentlab import notebook_helpers as nh

    S = lesson.lesson_settings()
    config = nh.experiment_config(
        dataset=S["dataset"], strategies=["random", "snn", "entropy"], seeds=S["seeds"], rounds=S["rounds"],
        initial=S["initial"], per_round=S["per_round"], min_steps=S["min_steps"], alpha=S["alpha"],
    )  # fmt: skip
    ds, latent = prepared = ll.prepare(config, None, progress=False)
    loop = nh.trained_target(config, prepared, seed=S["seeds"][0])
    labelled = loop.pool.labelled_indices()
    assert len(labelled) == S["initial"] and set(labelled) <= set(range(len(ds.x_train)))  # pool items only
    traj = ll.trajectory(latent, loop.model, loop.task, ds.y_train, labelled, steps=1, alpha=S["alpha"])
    change = lesson.step_change(latent, loop.model, traj)
    point = lesson.pick_point(change)
    probs = lesson.trajectory_probs(latent, loop.model, ds.x_train, traj, point)
    sure_p, sure_pp = probs["p"][0].max(), probs["p_prime"][0].max()
    assert change["changed"][point] or sure_p - sure_pp >= 0.2, (change["top_p"][point], sure_p, sure_pp)


def test_dev_extra_installs_the_slides_extra_so_ci_runs_the_slides_test():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    own = next(r for r in extras["dev"] if r.startswith("latentlab-sampling["))
    assert "slides" in own[own.index("[") + 1 : own.index("]")].split(",")
    assert extras["slides"] == ["jupyterlab-slideshow>=0.3.4"]


NB = Path(__file__).resolve().parents[1] / "notebooks" / "06_lesson.ipynb"
# a continuation cell carries no slide type (RISE and nbconvert read a missing one as "-";
# jupyterlab-slideshow hides a cell whose type is "-")
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", None}


def test_lesson_notebook_is_committed_clean_thin_and_has_slides():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NB, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "papermill notebooks/06_lesson.ipynb" in nb.cells[0].source
    assert "parameters" in nb.cells[1].metadata.get("tags", [])
    for c in nb.cells:
        assert c.metadata.get("slideshow", {}).get("slide_type") in SLIDE_TYPES, c.source[:60]
        assert c.metadata.get("slideshow", {}) != {"slide_type": "-"}
        if c.cell_type != "code":
            continue
        assert c.outputs == [] and c.execution_count is None, "strip outputs before committing"
        for node in ast.walk(ast.parse(c.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.Lambda)), (
                f"notebooks stay thin; move {type(node).__name__} into latentlab/lesson.py"
            )
    slides = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide"]
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
    assert _stdout(reveal).count("not yet: replace None") == 3  # the neighbour's class, F's answer, more/less sure

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


# --------------------------------------------------------------------------- slides, in a real browser
def _slideshow_installed() -> bool:
    from jupyter_core.paths import jupyter_path

    return any((Path(d) / "jupyterlab-slideshow").is_dir() for d in jupyter_path("labextensions"))


@pytest.mark.browser
def test_slides_present_offline_in_jupyterlab(tmp_path):
    """Deck mode of jupyterlab-slideshow on notebook 06 at 1280x720: it starts, the title slide is
    on screen and the parameters cell is not, the arrows reach the next sections, and the page asks
    nothing of any host but 127.0.0.1. Screenshots in $LATENTLAB_ARTIFACTS (default: tmp)."""
    pytest.importorskip("jupyterlab")
    sync_api = pytest.importorskip("playwright.sync_api")
    import os
    import secrets
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from latentlab.widgets.browser import CHROMIUM, CHROMIUM_ARGS, stop

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium (never `playwright install`)")
    if not _slideshow_installed():
        pytest.skip("jupyterlab-slideshow is not installed: pip install 'latentlab-sampling[slides]'")
    work, settings = tmp_path / "nb", tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    work.mkdir()
    settings.mkdir(parents=True)
    shutil.copy(NB, work / NB.name)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')  # docs/lesson.md's advice
    (tmp_path / "config" / "labconfig").mkdir(parents=True)  # no "Jupyter news?" toast over the slides
    (tmp_path / "config" / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}
    env.update({f"JUPYTER_{k}_DIR": str(tmp_path / k.lower()) for k in ("CONFIG", "RUNTIME")})
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "ws")
    args = [f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.news_url="]
    args.append("--LabApp.expose_app_in_browser=True")  # window.jupyterapp: start the deck by its command
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", *args, *root],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    shots = Path(os.environ.get("LATENTLAB_ARTIFACTS", tmp_path))
    outside: list[str] = []
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
                time.sleep(0.3)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            local = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")
            page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
            page.goto(f"http://127.0.0.1:{port}/lab/workspaces/lesson/tree/{NB.name}?reset&token={token}")
            page.wait_for_selector(".jp-Notebook >> visible=true", timeout=90_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('deck:start')")
            page.wait_for_timeout(2000)  # the notebook's cells rendered
            page.evaluate("() => window.jupyterapp.commands.execute('deck:start')")  # = palette: Start Deck
            page.wait_for_selector("body[data-jp-deck-mode='presenting']", state="attached", timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / "lesson_slide_title.png"))

            def on_screen(text: str) -> bool:  # a heading with ``text`` drawn inside the 1280x720 viewport
                boxes = [h.bounding_box() for h in page.locator("h1, h2", has_text=text).all() if h.is_visible()]
                return any(b and b["y"] >= 0 and b["y"] + b["height"] <= 720 and b["x"] >= 0 for b in boxes)

            assert on_screen("06 · Hard-sample mining and active learning")
            assert not page.get_by_text("smoke: bool = False").first.is_visible()  # the parameters cell is skipped
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(1200)
            assert on_screen("1 · Recap: active learning")
            for _ in range(2):
                page.keyboard.press("ArrowRight")
                page.wait_for_timeout(1200)
            page.screenshot(path=str(shots / "lesson_slide_predict.png"))
            assert on_screen("3 · Predict first!")
            browser.close()
    finally:
        try:
            stop(proc, timeout=30)  # terminate, then kill if it has not exited (a plain wait raised and left it)
        finally:
            log.close()
    print(f"screenshots: {shots / 'lesson_slide_title.png'}, {shots / 'lesson_slide_predict.png'}")
    assert not outside, f"the slides asked hosts other than 127.0.0.1: {outside[:5]}"
