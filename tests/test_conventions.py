"""The conventions a researcher expects of a library (issue 21): numpydoc docstrings on the public
API, rounds.csv naming its columns as results.csv does."""

from __future__ import annotations

import csv
import inspect
import types
from pathlib import Path
from unittest import mock

import pytest
from numpydoc.validate import Validator, get_doc_object, validate

import latentlab
from latentlab.loop import RoundRecord
from latentlab.report import read_results, read_rounds, write_outputs

ROOT = Path(__file__).resolve().parents[1]

# numpydoc's checks (numpydoc.validate.ERROR_MSGS) that the public API is held to: all of them but
#   ES01 (an extended summary), SA01 (See Also), EX01 (Examples): not every one-liner needs them;
#   SS05 (the summary starts with an infinitive verb): it reads noun summaries ending in "s" as
#   verbs ("Items per class ...", "Labels of ..."), and many summaries here are noun phrases;
#   PR03 (parameter order) only where a signature has positional parameters: a param.Parameterized
#   class (ExplorerState) takes keyword arguments only, in the alphabetical order param gives.
SKIPPED = {"ES01", "SA01", "EX01", "SS05"}


def _public_objects() -> list[tuple[str, object]]:
    """``latentlab.__all__`` and the public methods and properties defined by its classes."""
    out = []
    for name in latentlab.__all__:
        obj = getattr(latentlab, name)
        if name == "__version__":
            continue
        out.append((name, obj))
        if inspect.isclass(obj) and not issubclass(obj, BaseException):  # exceptions: Exception's methods
            for m, v in sorted(vars(obj).items()):
                if m.startswith("_"):
                    continue
                if isinstance(v, property):
                    out.append((f"{name}.{m}", v))
                elif inspect.isfunction(v) or isinstance(v, (staticmethod, classmethod)):
                    out.append((f"{name}.{m}", getattr(obj, m)))
    return out


def _keyword_only(obj) -> bool:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params)


_def_line = Validator.source_file_def_line


def _def_line_or_none(self):
    try:
        return _def_line.fget(self)
    except StopIteration:  # a property built from a lambda: numpydoc looks for its `def` line
        return None


def numpydoc_errors() -> dict[str, list[tuple[str, str]]]:
    """Public name -> the numpydoc errors of its docstring (the checks not in SKIPPED)."""
    found = {}
    with mock.patch.object(Validator, "source_file_def_line", property(_def_line_or_none)):
        for name, obj in _public_objects():
            skip = SKIPPED | ({"PR03"} if _keyword_only(obj) else set())
            errs = [(c, m) for c, m in validate(get_doc_object(obj))["errors"] if c not in skip]
            if errs:
                found[name] = errs
    return found


def test_every_public_name_is_in_all():
    exported = {k for k, v in vars(latentlab).items() if not k.startswith("_") and not isinstance(v, types.ModuleType)}
    assert exported == set(latentlab.__all__) - {"__version__"}


def test_the_public_api_has_numpydoc_docstrings():
    """Every object of ``latentlab.__all__``, and the public methods and properties of its classes,
    passes numpydoc's validation (all checks but ES01, SA01, EX01, SS05; see SKIPPED)."""
    objects = _public_objects()
    assert len(objects) >= 150  # the 47 names of __all__ and their classes' public members
    errors = numpydoc_errors()
    assert not errors, "\n".join(f"{name}: {code} {msg}" for name, e in errors.items() for code, msg in e)


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
