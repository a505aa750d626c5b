"""The conventions a researcher expects of a library (issue 21): rounds.csv names its columns as
results.csv does."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from latentlab.loop import RoundRecord
from latentlab.report import read_results, read_rounds, write_outputs

ROOT = Path(__file__).resolve().parents[1]


def _runs():
    def rec(t, acc, val):
        return RoundRecord(round=t, n_labelled=10 * t, metric=acc, metric_name="accuracy", train_loss=0.5,
                           n_steps=20, val_metric=val)  # fmt: skip

    return {
        ("random", 0): [rec(1, 61.0, 60.0), rec(2, 72.5, 70.0)],
        ("snn", 0): [rec(1, 61.0, 60.0), rec(2, 75.0, 71.0)],
    }


def test_rounds_csv_names_its_columns_as_results_csv(tmp_path):
    write_outputs(tmp_path, "digits", _runs())
    with open(tmp_path / "rounds.csv") as f:
        header = next(csv.reader(f))
    assert header[:6] == ["strategy", "seed", "round", "n_labelled", "metric", "value"]
    assert "metric_name" not in header and "val_metric" not in header and "val_value" in header
    rounds = read_rounds(tmp_path / "rounds.csv")
    results = read_results(tmp_path / "results.csv")
    # the same word means the same thing in both files: metric = the name, value = the number
    assert {r["metric"] for r in rounds} == {"accuracy"}
    test_rows = {(r["strategy"], r["round"]): r["value"] for r in results if r["metric"] == "accuracy"}
    val_rows = {(r["strategy"], r["round"]): r["value"] for r in results if r["metric"] == "val_accuracy"}
    assert {(r["strategy"], int(r["round"])): float(r["value"]) for r in rounds} == test_rows
    assert {(r["strategy"], int(r["round"])): float(r["val_value"]) for r in rounds} == val_rows


def test_rounds_csv_of_the_old_layout_reads_in_todays_names():
    old = ROOT / "benchmarks/results/cifar10_gpu/table/rounds.csv"
    if not old.exists():
        pytest.skip("benchmarks/results is not in this tree")
    with open(old) as f:
        raw = list(csv.DictReader(f))
    assert "metric_name" in raw[0]  # written before the rename: metric = the value
    rows = read_rounds(old)
    assert len(rows) == len(raw)
    for r, o in zip(rows, raw):
        assert (r["metric"], r["value"], r["val_value"]) == (o["metric_name"], o["metric"], o["val_metric"])
        assert r["train_s"] == o["train_s"] and "metric_name" not in r
