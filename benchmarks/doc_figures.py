"""Redraw the learning-curve figures the docs show, from the committed raw results, in today's style.

    .venv/bin/python benchmarks/doc_figures.py            # writes docs/images/{mnist,vessels}_curves.png
    .venv/bin/python benchmarks/doc_figures.py --out DIR  # elsewhere (the test does this)

Each figure is :func:`latentlab.report.plot_learning_curves` of the ``results.csv`` files named in
:data:`FIGURES` (rows of several runs are concatenated; a strategy appears once): the numbers are the
committed ones, only the drawing is redone. The README's MNIST figure is the Table-1 run with settings
chosen on validation (BENCHMARKS.md#mnist-tuned); the vessels figure is random against SI and its two
remedies (BENCHMARKS.md, "FEM labeling tool and the IVUS-like experiment").
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from latentlab.report import plot_learning_curves  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: figure file -> (its title, the results.csv files it draws, a log y axis)
FIGURES = {
    "mnist_curves.png": (
        "MNIST, LeNet, 300 labels a round, settings chosen on validation",
        ["mnist_tuned/table1/results.csv"],
        False,
    ),
    "vessels_curves.png": (
        "Vessels, FEM labels: random against SI and its remedies (log scale)",
        ["vessels_si/random-si/results.csv", "vessels_si/si-mix/results.csv", "vessels_si/si-real/results.csv"],
        True,  # the first round's MSE is 15x the last: on a linear axis the runs' gap is invisible
    ),
}


def _rows(files: list[str]) -> list[dict]:
    """The rows of ``files``; a strategy already read from an earlier file is skipped."""
    rows, seen = [], set()
    for name in files:
        with open(RESULTS / name, newline="") as fh:
            new = list(csv.DictReader(fh))
        for r in new:
            for k in ("seed", "round", "n_labelled"):
                r[k] = int(r[k])
            r["value"] = float(r["value"])
        here = {r["strategy"] for r in new} - seen
        rows += [r for r in new if r["strategy"] in here]
        seen |= here
    return rows


def main(argv=None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (title, files, log) in FIGURES.items():
        fig = plot_learning_curves(_rows(files), title=title)
        if log:
            fig.axes[0].set_yscale("log")
        fig.savefig(out / name)
        written.append(out / name)
        print(out / name)
    return written


if __name__ == "__main__":
    main()
