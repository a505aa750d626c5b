"""The docs' learning-curve figures redraw from the committed raw results (benchmarks/doc_figures.py)."""

from __future__ import annotations

import numpy as np
from conftest import ROOT, load_benchmark


def test_doc_figures_redraw_from_the_committed_results(tmp_path):
    mod = load_benchmark("doc_figures")
    written = mod.main(["--out", str(tmp_path)])
    assert sorted(p.name for p in written) == sorted(mod.FIGURES) and all(p.stat().st_size > 10_000 for p in written)
    for name in mod.FIGURES:  # every figure the script draws is the one the docs show
        assert (ROOT / "docs" / "images" / name).exists(), name
    rows = mod._rows(mod.FIGURES["vessels_curves.png"][1])
    assert sorted({r["strategy"] for r in rows}) == ["random", "si", "si-mix", "si-real"]
    # one strategy read once: random of random-si.csv, 5 seeds x 8 rounds each
    for s in ("random", "si", "si-mix", "si-real"):
        got = [(r["seed"], r["round"]) for r in rows if r["strategy"] == s and r["metric"] == "mse"]
        assert len(got) == len(set(got)) == 40, s
    last = [r["value"] for r in rows if r["strategy"] == "si" and r["round"] == 8 and r["metric"] == "mse"]
    assert np.isclose(np.mean(last), 1.0, atol=0.1)  # the figure's SI end point (BENCHMARKS.md's table)
