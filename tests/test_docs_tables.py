"""Every generated table and number in README.md, BENCHMARKS.md and docs/*.md equals what
``benchmarks/tables.py`` computes from the raw files in ``benchmarks/results/``: a hand edit fails."""

import re
from pathlib import Path

import pytest
from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    return load_benchmark("tables")


def test_committed_text_equals_the_generated_text(tables):
    diffs = tables.check(tables.doc_paths())
    assert not diffs, "generated text differs (run `python benchmarks/tables.py --write`):\n" + "\n".join(diffs)


def test_every_marker_names_a_generator_and_every_generator_is_used(tables):
    where = tables.used_names(tables.doc_paths())
    unknown = sorted(set(where) - set(tables.GENERATORS))
    unused = sorted(set(tables.GENERATORS) - set(where))
    assert not unknown, f"markers name unknown generators: {unknown}"
    assert not unused, f"generators no document uses: {unused}"


def test_the_headline_documents_carry_generated_numbers(tables):
    where = tables.used_names(tables.doc_paths())
    files = {f for fs in where.values() for f in fs}
    assert {"README.md", "BENCHMARKS.md"} <= files


def test_a_hand_edit_of_a_generated_number_is_caught(tables):
    text = (ROOT / "BENCHMARKS.md").read_text()
    m = re.search(r"(<!-- table:mnist-tuned.diff -->\n.*?)(\+0\.30)", text, re.S)
    assert m, "the MNIST Table-1 difference table is marked"
    edited = text[: m.start(2)] + "+0.31" + text[m.end(2) :]
    assert tables.render(edited) == text != edited
    inline = re.search(r"<!-- num:([\w.-]+) -->(.*?)<!-- /num -->", text)
    assert inline
    edited = text[: inline.start(2)] + "9" + inline.group(2) + text[inline.end(2) :]
    assert tables.render(edited) == text


def test_an_unknown_marker_is_refused(tables):
    with pytest.raises(KeyError, match="unknown generator"):
        tables.render("<!-- num:no-such-table -->1<!-- /num -->")


def test_the_vessels_paired_table_is_not_shifted_by_a_round(tables):
    """The mismatch that started this: t=4's cell must be SI - random at round 4 of the raw file."""
    d = tables.diffs(tables.V3, "random")[("si", 4)]
    rows = tables.test_rows(*tables.V3)
    by_seed = {
        s: tables.values([r for r in rows if r["seed"] == s], "si", 4)[0]
        - tables.values([r for r in rows if r["seed"] == s], "random", 4)[0]
        for s in range(5)
    }
    assert d.round == 4 and d.mean == pytest.approx(sum(by_seed.values()) / 5)
    assert f"**{tables.diff_cell(d)}**" in tables.GENERATORS["vessels-v3.diff"]()


def test_the_probe_numbers_are_the_paired_differences_of_their_round(tables):
    """SI's soft-probe quote at t=4 is soft - raw at round 4 of the raw results, seed by seed."""
    rows = tables.read_results(tables.PROBE / "test" / "results.csv")
    soft = tables._probe_soft()
    by_seed = [
        tables.values([r for r in rows if r["seed"] == s], soft, 4)[0]
        - tables.values([r for r in rows if r["seed"] == s], "si", 4)[0]
        for s in range(5)
    ]
    quoted = float(tables.GENERATORS["vessels-probe.soft-t4"]().split()[0])
    assert quoted == pytest.approx(sum(by_seed) / 5, abs=0.005)


def test_importing_a_benchmark_script_leaves_the_environment(tables, monkeypatch):
    """vessels_probe sets OMP_NUM_THREADS on import; the docs generator must not leak it into the
    process (later tests and their subprocesses would run with another thread count)."""
    import os
    import sys

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delitem(sys.modules, "vessels_probe", raising=False)
    tables._script.cache_clear()
    mod = tables._script("vessels_probe")
    assert hasattr(mod, "table") and "OMP_NUM_THREADS" not in os.environ
