"""The experiment protocol itself: invariants a broken protocol cannot pass, statistics, validation, tune.

What would have caught the void CIFAR-10 table (a test set of two classes): the test-set class
histogram against the source's, the "every class present" check, and t=1 accuracy above chance.
Each check below is also shown to FAIL on the broken protocol it guards against.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab import ExperimentConfig, GeneratorConfig, LoopConfig, TrainConfig, run_experiment
from latentlab.cli import main
from latentlab.datasets import load_dataset
from latentlab.report import read_results
from latentlab.stats import differences_table, paired_differences, protocol_checks

QUICK_GEN = dict(epochs=1, min_steps=300, batch_size=64)


def _rows(values: dict, metric="accuracy"):
    """{(strategy, seed, round): value} -> tidy rows."""
    return [
        {"dataset": "x", "strategy": s, "seed": k, "round": t, "n_labelled": 10 * t, "metric": metric, "value": v}
        for (s, k, t), v in values.items()
    ]


# --------------------------------------------------------------------------- statistics
def test_paired_differences_match_a_paired_t_interval():
    from scipy import stats

    base = np.array([90.0, 91.0, 89.5, 90.5, 92.0])
    snn = base + np.array([1.0, 0.5, 1.5, 0.2, 0.8])
    rows = _rows({**{("random", k, 2): v for k, v in enumerate(base)}, **{("snn", k, 2): v for k, v in enumerate(snn)}})
    (d,) = paired_differences(rows, "random")
    diff = snn - base
    half = stats.t.ppf(0.975, 4) * diff.std(ddof=1) / np.sqrt(5)
    assert d.mean == pytest.approx(diff.mean()) and d.n_seeds == 5 and d.n_ahead == 5
    assert (d.ci_low, d.ci_high) == pytest.approx((diff.mean() - half, diff.mean() + half))
    assert d.excludes_zero
    # same interval as scipy's own paired test
    ci = stats.ttest_rel(snn, base).confidence_interval(0.95)
    assert (d.ci_low, d.ci_high) == pytest.approx((ci.low, ci.high))
    boot = paired_differences(rows, "random", method="bootstrap")[0]
    assert boot.ci_low < d.mean < boot.ci_high and "snn" in differences_table([d])


def test_paired_differences_are_direction_aware_and_unpaired_seeds_are_dropped():
    rows = _rows(
        {("random", 0, 1): 2.0, ("random", 1, 1): 3.0, ("si", 0, 1): 1.0, ("si", 1, 1): 2.0, ("si", 2, 1): 0.1},
        metric="mse",
    )
    (d,) = paired_differences(rows, "random")
    assert d.n_seeds == 2 and d.mean == pytest.approx(-1.0) and d.n_ahead == 2 and not d.higher_is_better


def test_compare_command(tmp_path, capsys):
    rows = _rows({("random", 0, 1): 50.0, ("random", 1, 1): 52.0, ("snn", 0, 1): 55.0, ("snn", 1, 1): 54.0})
    from latentlab.report import write_csv

    (tmp_path / "a").mkdir()
    write_csv(tmp_path / "a" / "results.csv", rows)
    assert main(["compare", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "+3.50" in out and "2/2" in out
    assert main(["compare", str(tmp_path / "a"), "--baseline", "entropy"]) == 2
    assert "baseline strategy 'entropy'" in capsys.readouterr().err


# --------------------------------------------------------------------------- checks fail on broken protocols
def test_checks_fail_on_a_first_n_test_set_of_class_ordered_data():
    y = np.repeat(np.arange(10), 100)  # class-ordered, as image folders are
    broken = np.bincount(y[:200], minlength=10)  # the old "first n" subset
    checks = dict(
        (msg.split(":")[0], ok)
        for ok, msg in protocol_checks(
            _rows({("random", 0, 1): 80.0}),
            n_classes=10,
            test_counts=broken,
            source_test_counts=np.bincount(y, minlength=10),
        )
    )
    assert checks["every class present in the test set"] is False
    assert checks["test class counts proportional to the full test set (max deviation 80.0 items)"] is False
    fine = protocol_checks(
        _rows({("random", 0, 1): 80.0}), n_classes=10, test_counts=[20] * 10, source_test_counts=[100] * 10
    )
    assert all(ok for ok, _ in fine)


def test_regression_t1_must_beat_a_constant_prediction():
    rows = _rows({("random", 0, 1): 14.7, ("si", 0, 1): 16.1, ("random", 0, 3): 0.96}, metric="mse")
    (bad,) = protocol_checks(rows, higher_is_better=False, constant_error=1.32, shared_initial={"random"})
    assert not bad[0] and "16.1 vs 1.32" in bad[1] and "undertrained" in bad[1]
    (ok,) = protocol_checks(_rows({("random", 0, 1): 0.9}, metric="mse"), higher_is_better=False, constant_error=1.32)
    assert ok[0]


def test_checks_fail_on_diverging_t1_and_on_chance_level():
    rows = _rows({("random", 0, 1): 80.0, ("snn", 0, 1): 80.0, ("random", 1, 1): 70.0, ("snn", 1, 1): 71.0})
    (same,) = [c for c in protocol_checks(rows) if "same t=1" in c[1]]
    assert not same[0] and "seed(s) 1" in same[1]
    low = protocol_checks(_rows({("random", 0, 1): 12.0}), n_classes=10, test_counts=[10] * 10)
    assert not [ok for ok, msg in low if "chance" in msg][0]


# --------------------------------------------------------------------------- a real run, with a validation set
class _no_protocol_warning:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings(record=True)
        self.caught = self._w.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._w.__exit__(*exc)
        bad = [str(w.message) for w in self.caught if "PROTOCOL CHECK FAILED" in str(w.message)]
        assert not bad, bad


@pytest.fixture(scope="module")
def val_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("val_run")
    cfg = ExperimentConfig(
        dataset="digits",
        strategies=("random", "snn", "entropy"),
        seeds=(0, 1),
        n_pool=600,
        n_test=200,
        n_val=100,
        generator=GeneratorConfig(**QUICK_GEN),
        loop=LoopConfig(rounds=3, initial=30, per_round=30, train=TrainConfig(epochs=1, batch_size=32, min_steps=60)),
    )
    with _no_protocol_warning():
        rows = run_experiment(cfg, out, progress=False)
    return out, rows


def test_every_strategy_of_a_seed_has_the_same_t1(val_run):
    _, rows = val_run
    for seed in (0, 1):
        t1 = {
            r["strategy"]: r["value"]
            for r in rows
            if r["round"] == 1 and r["seed"] == seed and r["metric"] == "accuracy"
        }
        assert len(t1) == 3 and len(set(t1.values())) == 1, t1


def test_random_t1_is_well_above_chance_on_digits(val_run):
    _, rows = val_run
    t1 = [r["value"] for r in rows if r["round"] == 1 and r["strategy"] == "random" and r["metric"] == "accuracy"]
    assert min(t1) > 3 * 10.0  # chance is 10 % on the stratified test set


def test_validation_rows_summary_histogram_and_checks(val_run):
    out, rows = val_run
    val = [r for r in rows if r["metric"] == "val_accuracy"]
    assert len(val) == 3 * 2 * 3 and all(0 <= r["value"] <= 100 for r in val)
    assert read_results(out / "results.csv") == rows
    md = (out / "summary.md").read_text()
    assert "Test set class histogram: 0 20, 1 20" in md and "9 20" in md
    assert "100 validation items" in md and "500 pool items" in md
    assert "Protocol checks" in md and "FAILED" not in md
    assert "val_accuracy on the validation set" in md and "Paired differences of accuracy" in md


def test_model_based_strategies_pick_other_items_than_random(val_run):
    out, _ = val_run
    picks = {}
    for s in ("random", "entropy", "snn"):
        with np.load(next((out / "runs" / f"{s}-seed0").glob("arrays-r*.npz"))) as z:
            lab = z["labelled_round"]
        picks[s] = set(np.flatnonzero(lab == 2))
    assert len(picks["random"]) == len(picks["entropy"]) == len(picks["snn"]) == 30
    assert len(picks["random"] & picks["entropy"]) < 10 and len(picks["random"] & picks["snn"]) < 10


def test_workers_give_the_sequential_results(val_run, tmp_path):
    out, rows = val_run
    cfg = ExperimentConfig.from_dict(json.loads((out / "config.json").read_text()))
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the sequential reference of workers is a one-thread run
    try:
        seq = run_experiment(cfg, tmp_path / "seq", progress=False)
    finally:
        torch.set_num_threads(n)
    par = run_experiment(cfg, tmp_path / "par", progress=False, workers=2)
    assert par == seq


# --------------------------------------------------------------------------- tune
def test_tune_chooses_on_validation_and_run_takes_the_file(tmp_path, capsys):
    common = [
        "--dataset",
        "digits",
        "--seeds",
        "0",
        "--rounds",
        "2",
        "--initial",
        "30",
        "--per-round",
        "30",
        "--gen-epochs",
        "1",
        "--gen-min-steps",
        "300",
        "--min-steps",
        "40",
        "--epochs",
        "1",
        "--n-pool",
        "500",
        "--n-test",
        "100",
        "--quiet",
    ]
    assert main(["tune", *common, "--strategy", "snn", "--grid", "alpha=0.3"]) == 2
    assert "--val" in capsys.readouterr().err
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the sequential reference of --workers is a one-thread run
    try:
        assert (
            main(
                [
                    "tune",
                    *common,
                    "--strategy",
                    "snn",
                    "--val",
                    "80",
                    "--grid",
                    "alpha=0.1,0.8",
                    "--out",
                    str(tmp_path / "tune"),
                ]
            )
            == 0
        )
    finally:
        torch.set_num_threads(n)
    # on two worker processes: the same grid, the same scores (each job runs on one torch thread)
    assert (
        main(
            [
                "tune",
                *common,
                "--strategy",
                "snn",
                "--val",
                "80",
                "--grid",
                "alpha=0.1,0.8",
                "--workers",
                "2",
                "--out",
                str(tmp_path / "tune2"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "test set was not used" in printed and "accuracy on the test" not in printed
    doc = json.loads((tmp_path / "tune" / "tune.json").read_text())
    assert doc["metric"] == "val_accuracy" and len(doc["points"]) == 2
    doc2 = json.loads((tmp_path / "tune2" / "tune.json").read_text())
    assert [p["score"] for p in doc2["points"]] == [p["score"] for p in doc["points"]]
    assert doc2["choice"] == doc["choice"]
    # a second call continues (reads the finished points back) instead of refusing the folder
    assert (
        main(
            [
                "tune",
                *common,
                "--strategy",
                "snn",
                "--val",
                "80",
                "--grid",
                "alpha=0.1,0.8",
                "--workers",
                "2",
                "--out",
                str(tmp_path / "tune2"),
            ]
        )
        == 0
    )
    best = max(doc["points"], key=lambda p: p["score"])
    assert doc["choice"] == best["setting"] and set(doc["choice"]) == {"loop.alpha"}
    assert (
        main(
            [
                "run",
                *common,
                "--strategy",
                "snn",
                "--val",
                "80",
                "--config",
                str(tmp_path / "tune" / "tune.json"),
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    used = json.loads((tmp_path / "run" / "config.json").read_text())
    assert used["loop"]["alpha"] == doc["choice"]["loop.alpha"] and used["n_val"] == 80
    # an explicit flag wins over the file
    assert (
        main(
            [
                "run",
                *common,
                "--strategy",
                "snn",
                "--val",
                "80",
                "--alpha",
                "0.45",
                "--config",
                str(tmp_path / "tune" / "tune.json"),
                "--out",
                str(tmp_path / "run2"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["loop"]["alpha"] == 0.45


def test_tune_and_config_errors_are_one_line(tmp_path, capsys):
    assert main(["tune", "--val", "50", "--grid", "nonsense=1", "--quiet"]) == 2
    assert "unknown setting 'nonsense'" in capsys.readouterr().err
    assert main(["tune", "--val", "50", "--grid", "alpha=abc", "--quiet"]) == 2
    assert "cannot read 'abc'" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["run", "--config", str(tmp_path / "bad.json"), "--quiet", "--out", str(tmp_path / "o")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


# --------------------------------------------------------------------------- the real data sets
def test_real_cifar_cpu_profile_test_set_has_every_class(shared_data):
    """The defect that voided the CIFAR-10 table: subset(10000, 2000) held only classes 0 and 1."""
    if not (shared_data / "cifar10-jpeg.tar.gz").exists():
        pytest.skip("cifar10-jpeg.tar.gz not in ../shared/data")
    ds = load_dataset("cifar10", shared_data)
    s = ds.subset(10000, 2000, seed=0)
    assert s.histogram("test").tolist() == [200] * 10
    assert s.histogram("train").tolist() == [1000] * 10
    assert s.source_test_counts == tuple([1000] * 10)


@pytest.mark.slow
@pytest.mark.parametrize("name, n_pool, target", [("mnist", 3000, "lenet"), ("cifar10", 3000, "lenet")])
def test_random_t1_is_well_above_chance_on_real_data(shared_data, tmp_path, name, n_pool, target):
    if name == "cifar10" and not (shared_data / "cifar10-jpeg.tar.gz").exists():
        pytest.skip("cifar10-jpeg.tar.gz not in ../shared/data")
    cfg = ExperimentConfig(
        dataset=name,
        strategies=("random",),
        seeds=(0,),
        n_pool=n_pool,
        n_test=1000,
        loop=LoopConfig(
            rounds=1,
            initial=500,
            per_round=100,
            target=target,
            train=TrainConfig(epochs=1, batch_size=64, min_steps=150),
        ),
    )
    with _no_protocol_warning():
        rows = run_experiment(cfg, tmp_path / "out", data_root=shared_data, progress=False)
    (t1,) = [r["value"] for r in rows]
    assert t1 > 2 * 10.0, t1  # chance is 10 %


def _verdict_rows(snn_gain: float, ctl_gain: float):
    """random, snn and its control over 4 seeds and 3 rounds; snn = random + snn_gain (+ seed noise)."""
    noise = [0.3, -0.2, 0.1, -0.2]
    v = {}
    for k in range(4):
        for t in (1, 2, 3):
            base = 50.0 + 10 * t + k
            v[("random", k, t)] = base
            v[("snn-random-dir", k, t)] = base + (ctl_gain if t > 1 else 0) + noise[k]
            v[("snn", k, t)] = base + (snn_gain if t > 1 else 0) + noise[(k + 1) % 4]
    return _rows(v)


def test_verdict_line_reads_the_paired_statistics():
    from latentlab.stats import verdict

    line = verdict(_verdict_rows(snn_gain=0.0, ctl_gain=0.0))
    assert "random significantly ahead at no round" in line
    assert "no significant difference in any round" in line and "gradient adds nothing" in line
    line = verdict(_verdict_rows(snn_gain=-5.0, ctl_gain=-5.0))
    assert "random significantly ahead at t=2,3" in line and "-5.00 points" in line
    line = verdict(_verdict_rows(snn_gain=3.0, ctl_gain=0.0))
    assert "snn significantly ahead at t=2,3" in line and "gradient adds something" in line
    assert verdict(_rows({("random", 0, 1): 1.0, ("snn", 0, 1): 2.0})) is None  # no control, no verdict
