"""Every table and quoted number in README.md, BENCHMARKS.md and docs/*.md that comes from a run,
generated from the raw files in ``benchmarks/results/``.

    python benchmarks/tables.py --write    # regenerate every marked block in place
    python benchmarks/tables.py --check    # exit 1, with a diff, where the committed text differs
    python benchmarks/tables.py --list     # the generators and the files that use them
    python benchmarks/tables.py NAME ...   # print generators' output

The Markdown holds two kinds of markers:

* a block, ``<!-- table:NAME -->`` ... ``<!-- /table:NAME -->`` on lines of their own: the lines
  between are the output of generator ``NAME``;
* an inline number, ``<!-- num:NAME -->VALUE<!-- /num -->``: VALUE is the output of ``NAME``.

A generator is a function registered under its name in :data:`GENERATORS`; it reads raw files
only (``results.csv``, ``rounds.csv``, ``tune.json``, ``why.md``, ``quality.json``, ...) and uses
the project's own statistics (:func:`latentlab.stats.paired_differences`,
:func:`latentlab.report.read_results`) and the benchmark scripts' helpers (``al_table``,
``summarize_run``), so a number in the docs is the number those commands print.
``tests/test_docs_tables.py`` runs ``--check``: a hand edit of a generated number fails the suite.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from al_table import labels_to_threshold, round_costs  # noqa: E402
from summarize_run import paired_gains  # noqa: E402

from latentlab.report import read_results, read_rounds  # noqa: E402
from latentlab.stats import PairedDifference, paired_differences, test_metric_rows  # noqa: E402

#: name -> generator; each returns the Markdown between its markers (a block) or one value (inline)
GENERATORS: dict[str, Callable[[], str]] = {}

#: the files whose markers are regenerated (README, BENCHMARKS and every page under docs/)
DOC_FILES = ("README.md", "BENCHMARKS.md", "docs/*.md")

BLOCK = re.compile(r"^([ \t]*)(<!-- table:([\w.-]+) -->\n)(.*?)^(\1<!-- /table:\3 -->)", re.S | re.M)
INLINE = re.compile(r"(<!-- num:([\w.-]+) -->)([^\n]*?)(<!-- /num -->)")


def generator(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Register ``fn`` as the generator of the markers named ``name``."""

    def deco(fn: Callable[[], str]) -> Callable[[], str]:
        if name in GENERATORS:
            raise ValueError(f"generator {name!r} is registered twice")
        GENERATORS[name] = fn
        return fn

    return deco


# ----------------------------------------------------------------------------------------------
# reading raw files


@cache
def rows(*dirs: str) -> tuple[dict, ...]:
    """The tidy rows of ``results.csv`` in each folder under benchmarks/results/, merged."""
    out: list[dict] = []
    for d in dirs:
        out += read_results(RES / d / "results.csv")
    return tuple(out)


def test_rows(*dirs: str) -> list[dict]:
    return test_metric_rows(list(rows(*dirs)))


def values(rs: Iterable[dict], strategy: str, rnd: int | None = None, labels: int | None = None) -> np.ndarray:
    """The per-seed values of one strategy at one round (or one label count)."""
    return np.array(
        [
            r["value"]
            for r in rs
            if r["strategy"] == strategy
            and (rnd is None or r["round"] == rnd)
            and (labels is None or r["n_labelled"] == labels)
        ]
    )


def tune(path: str) -> dict:
    return json.loads((RES / path / "tune.json").read_text())


def tune_score(path: str, **setting) -> float:
    """The validation score of the grid point whose setting matches ``setting`` (dots as ``__``)."""
    want = {k.replace("__", "."): v for k, v in setting.items()}
    for p in tune(path)["points"]:
        if all(p["setting"].get(k) == v for k, v in want.items()):
            return p["score"]
    raise KeyError(f"no grid point {want} in {path}/tune.json")


def md_table(path: str, after: str | None = None) -> list[list[str]]:
    """The rows (cells stripped, header and separator dropped) of the first Markdown table in a raw
    ``.md`` file, or of the first one after the line containing ``after``."""
    lines = (RES / path).read_text().splitlines()
    if after is not None:
        lines = lines[next(i for i, line in enumerate(lines) if after in line) :]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    out = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        out.append([c.strip() for c in line.strip().strip("|").split("|")])
    return out[2:]


def md_lookup(path: str, key: str, col: int, after: str | None = None) -> str:
    """Cell ``col`` of the row whose first cell is ``key``."""
    for r in md_table(path, after):
        if r[0] == key:
            return r[col]
    raise KeyError(f"no row {key!r} in {path}")


def md_bullet(path: str, prefix: str) -> str:
    """The value after ``prefix ...: `` of a bullet line of a raw ``.md`` file."""
    for line in (RES / path).read_text().splitlines():
        if line.startswith("- " + prefix):
            return line.rsplit(": ", 1)[1].strip()
    raise KeyError(f"no bullet {prefix!r} in {path}")


# ----------------------------------------------------------------------------------------------
# formatting


def half_up(text: str, digits: int) -> str:
    """A number printed in a raw ``.md`` file, rounded half up to ``digits`` (30.25 -> 30.3): the
    raw file's own decimals are all there is, so binary rounding of 30.25 must not decide."""
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(text).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def pm(v: np.ndarray, digits: int = 2) -> str:
    """``mean ± sample std`` over seeds."""
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if v.size > 1 else 0:.{digits}f}"


def diff_cell(d: PairedDifference, digits: int = 2, bold: bool = False) -> str:
    """The cell format of ``latentlab compare``: ``mean [low, high]* k/n``."""
    ci = f" [{d.ci_low:+.{digits}f}, {d.ci_high:+.{digits}f}]" if np.isfinite(d.ci_low) else ""
    cell = f"{d.mean:+.{digits}f}{ci}{'*' if d.excludes_zero else ''} {d.n_ahead}/{d.n_seeds}"
    return f"**{cell}**" if bold else cell


def diffs(dirs: tuple[str, ...], baseline: str) -> dict[tuple[str, int], PairedDifference]:
    return {(d.strategy, d.round): d for d in paired_differences(list(rows(*dirs)), baseline)}


def header(first: str, cols: list[str]) -> list[str]:
    return ["| " + first + " | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]


def mean_std_table(
    dirs: tuple[str, ...],
    order: list[tuple[str, str]],
    rounds: list[int] | None = None,
    *,
    digits: int = 2,
    labels_row: bool = True,
    col: Callable[[int, int], str] = lambda t, n: f"t={t}",
    bold: dict[str, list[int]] | None = None,
) -> list[str]:
    """Rows ``label | mean ± std ...`` for ``order = [(strategy, label), ...]`` at ``rounds``."""
    rs = test_rows(*dirs)
    rounds = rounds or sorted({r["round"] for r in rs})
    n_at = {t: int(np.mean([r["n_labelled"] for r in rs if r["round"] == t])) for t in rounds}
    lines = header("strategy", [col(t, n_at[t]) for t in rounds])
    if labels_row:
        lines.append("| *labels* | " + " | ".join(str(n_at[t]) for t in rounds) + " |")
    for s, label in order:
        cells = []
        for t in rounds:
            c = pm(values(rs, s, t), digits)
            cells.append(f"**{c}**" if bold and t in bold.get(s, ()) else c)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def diff_table(
    dirs: tuple[str, ...],
    baseline: str,
    order: list[tuple[str, str]],
    rounds: list[int],
    *,
    mean_col: bool = False,
    bold: dict[str, list[int]] | None = None,
) -> list[str]:
    """Paired differences ``strategy - baseline`` as ``latentlab compare`` prints them."""
    dd = diffs(dirs, baseline)
    cols = [f"t={t}" for t in rounds] + (["mean t>=2"] if mean_col else [])
    lines = header(f"strategy - {baseline}", cols)
    for s, label in order:
        cells = [diff_cell(dd[(s, t)], bold=bool(bold and t in bold.get(s, ()))) for t in rounds]
        if mean_col:
            cells.append(f"{np.mean([dd[(s, t)].mean for t in rounds if t >= 2]):+.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def block(lines: list[str]) -> str:
    text = "\n".join(lines) + "\n"
    while "|  |" in text:  # an empty cell is written "| |"
        text = text.replace("|  |", "| |")
    return text


def f1(x: float) -> str:
    return f"{x:.1f}"


def f2(x: float) -> str:
    return f"{x:.2f}"


def signed(x: float, digits: int = 2) -> str:
    return f"{x:+.{digits}f}"


def interval(d: PairedDifference, digits: int = 2) -> str:
    return f"[{d.ci_low:+.{digits}f}, {d.ci_high:+.{digits}f}]"


# ----------------------------------------------------------------------------------------------
# The CLI reference (docs/cli.md): built from the one declaration of every run setting


@generator("cli.run-settings")
def _() -> str:
    from latentlab.config import RUN_SETTINGS

    lines = ["| flag | default | meaning |", "|---|---|---|"]
    for s in RUN_SETTINGS:
        text = s.help() if callable(s.help) else s.help
        lines.append(f"| `{s.flag}` | `{s.default_text()}` | {text.replace('|', '/')} |")
    return block(lines)


# ----------------------------------------------------------------------------------------------
# The paper's Table 1 MNIST row (quoted from the paper, not a run of ours)

PAPER_MNIST_RANDOM = (91.0, 94.1, 95.6, 96.4, 96.9, 97.1, 97.2, 97.4, 97.7, 97.8)
PAPER_MNIST_SNN = (91.2, 95.1, 96.2, 96.7, 97.2, 97.5, 97.6, 97.7, 97.8, 97.8)


# ----------------------------------------------------------------------------------------------
# MNIST Table 1, tuned on validation (benchmarks/results/mnist_tuned/)

TUNED = ("mnist_tuned/table1",)
EARLIER = ("mnist_table1",)


@generator("mnist-tuned.tune-training")
def _() -> str:
    steps = [150, 300, 600]
    t = tune("mnist_tuned/tune-training")
    chosen = t["choice"]["loop.train.min_steps"]
    cells = [
        f"**{tune_score('mnist_tuned/tune-training', loop__train__min_steps=s):.2f}** (chosen)"
        if s == chosen
        else f"{tune_score('mnist_tuned/tune-training', loop__train__min_steps=s):.2f}"
        for s in steps
    ]
    head = [f"**{s} steps**" if s == chosen else f"{s} steps" for s in steps]
    return block(
        header("target training per round (random)", head) + ["| validation score | " + " | ".join(cells) + " |"]
    )


@generator("mnist-tuned.tune-snn")
def _() -> str:
    path = "mnist_tuned/tune-snn"
    ch = tune(path)["choice"]
    lines = header("SNN alpha \\ loss on", ["decoded F(G(p))", "real x"])
    for a in tune(path)["grid"]["loop.alpha"]:
        cells = []
        for lo in ("decoded", "real"):
            s = f"{tune_score(path, loop__alpha=a, loop__loss_on=lo):.2f}"
            cells.append(f"**{s}** (chosen)" if (a, lo) == (ch["loop.alpha"], ch["loop.loss_on"]) else s)
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return block(lines)


@generator("mnist-tuned.table1")
def _() -> str:
    lines = mean_std_table(
        TUNED,
        [
            ("random", "random"),
            ("snn", "snn (alpha 0.1, loss on real x)"),
            ("snn-random-dir", "snn-random-dir (same alpha)"),
            ("entropy", "entropy"),
        ],
    )
    er = test_rows(*EARLIER)
    for s, label in (
        ("random", "*earlier run: random (alpha 0.2, 300 steps, no validation set)*"),
        ("snn", "*earlier run: snn*"),
    ):
        lines.append(f"| {label} | " + " | ".join(f"{values(er, s, t).mean():.2f}" for t in range(1, 11)) + " |")
    paper = " | ".join(f"{a} / {b}" for a, b in zip(PAPER_MNIST_RANDOM, PAPER_MNIST_SNN))
    lines.append(f"| *paper, Rand / Ours* | {paper} |")
    return block(lines)


@generator("mnist-tuned.diff")
def _() -> str:
    order = [("snn", "snn"), ("snn-random-dir", "snn-random-dir"), ("entropy", "entropy")]
    return block(diff_table(TUNED, "random", order, list(range(2, 11)), mean_col=True))


def _tuned(s: str, t: int, baseline: str = "random") -> PairedDifference:
    return diffs(TUNED, baseline)[(s, t)]


def _mean_gain(dirs: tuple[str, ...], s: str, baseline: str = "random", rounds: Iterable[int] = range(2, 11)) -> float:
    dd = diffs(dirs, baseline)
    return float(np.mean([dd[(s, t)].mean for t in rounds]))


for _t in (2, 3):
    GENERATORS[f"mnist-tuned.snn-t{_t}"] = lambda t=_t: signed(_tuned("snn", t).mean)
GENERATORS["mnist-tuned.snn-t2-ci"] = lambda: interval(_tuned("snn", 2))
GENERATORS["mnist-tuned.snn-mean"] = lambda: signed(_mean_gain(TUNED, "snn"))
GENERATORS["mnist-tuned.ctl-mean"] = lambda: signed(_mean_gain(TUNED, "snn-random-dir"))
GENERATORS["mnist-tuned.entropy-mean"] = lambda: signed(_mean_gain(TUNED, "entropy"))
GENERATORS["mnist-tuned.ctl-share"] = lambda: (
    f"{100 * _mean_gain(TUNED, 'snn-random-dir') / _mean_gain(TUNED, 'snn'):.0f} %"
)
GENERATORS["mnist-tuned.earlier-ctl-share"] = lambda: (
    f"{signed(_mean_gain(EARLIER, 'snn-random-dir'))} of {signed(_mean_gain(EARLIER, 'snn'))}, "
    f"{100 * _mean_gain(EARLIER, 'snn-random-dir') / _mean_gain(EARLIER, 'snn'):.0f} %"
)


@generator("mnist-tuned.snn-vs-ctl")
def _() -> str:
    """SNN against its own random-direction control, round by round."""
    d = {t: _tuned("snn", t, "snn-random-dir") for t in range(2, 11)}
    later = [d[t].mean for t in range(4, 11)]
    sig = [t for t in range(2, 11) if d[t].excludes_zero]
    return (
        f"{signed(d[2].mean)} {interval(d[2])} at t=2, {signed(d[3].mean)} at t=3, then {min(later):+.2f} to "
        f"{max(later):+.2f} from t=4 on, significant at t={sig[0]}-{sig[-1]} "
        f"({', '.join(f'{d[t].n_ahead}/{d[t].n_seeds}' for t in sig)})"
    )


@generator("mnist-tuned.to95")
def _() -> str:
    from latentlab.report import labels_to_reach

    r = labels_to_reach(list(rows(*TUNED)), 95.0)
    return ", ".join(f"{s} {r[s]}" for s in ("entropy", "random", "snn", "snn-random-dir"))


def _rounds_mean(dirs: tuple[str, ...], strategy: str, column: str) -> float:
    vals = []
    for d in dirs:  # read_rounds: today's column names, from files of either layout
        vals += [
            float(r[column]) for r in read_rounds(RES / d / "rounds.csv") if r["strategy"] == strategy and r[column]
        ]
    return float(np.mean(vals))


GENERATORS["mnist-tuned.loss-at-p"] = lambda: f"{_rounds_mean(TUNED, 'snn', 'mean_loss_at_p'):.0e}"
GENERATORS["mnist-tuned.neighbour-dist"] = lambda: (
    f"{_rounds_mean(TUNED, 'snn', 'mean_neighbour_dist'):.3f} latent units from p' (the control: "
    f"{_rounds_mean(TUNED, 'snn-random-dir', 'mean_neighbour_dist'):.3f})"
)


@generator("mnist-tuned.cost")
def _() -> str:
    c = round_costs([RES / d for d in TUNED])
    tr = [v["train"] for v in c.values()]
    return (
        f"training {min(tr):.0f}-{max(tr):.0f} s (600 steps), SNN proposal {c['snn']['proposal_rounds']:.2f} s, "
        f"entropy scoring of the 59k pool {c['entropy']['proposal_rounds']:.0f} s"
    )


@generator("mnist-tuned.snn-significant")
def _() -> str:
    """The rounds at which SNN - random excludes 0, as a range ``a-b``."""
    ts = [t for t in range(2, 11) if _tuned("snn", t).excludes_zero]
    return f"{ts[0]}-{ts[-1]}" if ts == list(range(ts[0], ts[-1] + 1)) else ", ".join(map(str, ts))


@generator("mnist-tuned.t1-range")
def _() -> str:
    v = [r["value"] for r in test_rows(*TUNED) if r["round"] == 1]
    return f"{min(v):.1f}-{max(v):.1f} %"


# ----------------------------------------------------------------------------------------------
# MNIST under the BatchBALD protocol (benchmarks/results/mnist_batchbald_cpu/)

BB = ("mnist_batchbald_cpu/seeds012", "mnist_batchbald_cpu/seeds34")
BB_MORE = ("mnist_batchbald_cpu/more_seeds01",)
BB_ORDER = ["margin", "baal-bald", "bald", "entropy", "random"]
BB_LABEL = {"baal-bald": "baal-bald (peer)"}


@generator("mnist-batchbald.tune")
def _() -> str:
    p = "mnist_batchbald_gpu/tune-training"
    cells = []
    for steps in (250, 500):
        for warm in (True, False):
            score = tune_score(p, loop__train__min_steps=steps, loop__warm_start=warm)
            cells.append(f"{steps} {'warm' if warm else 'cold'} {score:.1f}")
    return " / ".join(cells) + " %"


@generator("mnist-batchbald.accuracy")
def _() -> str:
    rs = test_rows(*BB)
    ns = [20, 40, 60, 80, 100, 120, 150]
    lines = header("strategy", [str(n) for n in ns])
    for s in BB_ORDER:
        lines.append(f"| {BB_LABEL.get(s, s)} | " + " | ".join(pm(values(rs, s, labels=n), 1) for n in ns) + " |")
    return block(lines)


PUBLISHED_TO_95 = {"bald": "BALD (acquisition 1): 217", "batchbald": "BatchBALD (acquisition 10): 225"}


@generator("mnist-batchbald.labels-to")
def _() -> str:
    lines = header("strategy", ["to 90 %: seeds 0-4", "median", "to 95 %: seeds 0-4", "median", "published, to 95 %"])
    five = {thr: labels_to_threshold([RES / d for d in BB], thr) for thr in (90, 95)}
    two = {thr: labels_to_threshold([RES / d for d in BB_MORE], thr) for thr in (90, 95)}

    def row(s: str, table: dict, label: str, bold: bool = False) -> str:
        cells = []
        for thr in (90, 95):
            per_seed, med = table[thr][s][:2]
            cells += [", ".join(per_seed.values()), f"**{med}**" if bold else med]
        return f"| {label} | " + " | ".join(cells) + f" | {PUBLISHED_TO_95.get(s, '')} |"

    best = min(BB_ORDER, key=lambda s: five[95][s][2])
    for s in sorted(BB_ORDER, key=lambda s: (five[95][s][2], five[90][s][2])):
        lines.append(row(s, five, BB_LABEL.get(s, s), bold=s == best))
    more = [s for s in two[95] if s not in BB_ORDER]
    for s in sorted(more, key=lambda s: (two[95][s][2], two[90][s][2], s)):
        lines.append(row(s, two, f"{s} (seeds 0, 1)"))
    return block(lines)


def _bb_median(s: str, thr: float = 95, dirs: tuple[str, ...] = BB) -> str:
    return labels_to_threshold([RES / d for d in dirs], thr)[s][1]


for _s in ("margin", "baal-bald", "entropy", "bald", "random"):
    GENERATORS[f"mnist-batchbald.to95-{_s}"] = lambda s=_s: _bb_median(s)


@generator("mnist-batchbald.more-at-100")
def _() -> str:
    rs = test_rows(*BB_MORE)
    ss = sorted({r["strategy"] for r in rs} - set(BB_ORDER), key=lambda s: -values(rs, s, labels=100).mean())
    return ", ".join(f"{s} {values(rs, s, labels=100).mean():.1f}" for s in ss) + " %"


@generator("mnist-batchbald.t1")
def _() -> str:
    """The lowest t=1 accuracy of the five-seed runs (what the protocol check compares with chance)."""
    return f"lowest {min(r['value'] for r in test_rows(*BB) if r['round'] == 1):.1f} %"


@generator("mnist-batchbald.bald-vs-peer")
def _() -> str:
    dd = [d for d in paired_differences(list(rows(*BB)), "baal-bald") if d.strategy == "bald" and d.round > 1]
    inside = all(d.ci_low <= 0 <= d.ci_high for d in dd)
    return f"between {min(d.mean for d in dd):+.2f} and {max(d.mean for d in dd):+.2f} points at every round, " + (
        "every 95 % interval contains 0" if inside else "NOT every 95 % interval contains 0"
    )


BB_GPU = ("mnist_batchbald_gpu/protocol",)


@generator("mnist-batchbald.gpu-to95")
def _() -> str:
    """Seed 0 of the GPU run: labels to 95 % per strategy, grouped by count, then those not reaching it."""
    t = labels_to_threshold([RES / d for d in BB_GPU], 95)
    by: dict[float, list[str]] = {}
    for s, (_, _, med) in t.items():
        by.setdefault(med, []).append(s)
    hit = [(n, ss) for n, ss in sorted(by.items()) if np.isfinite(n)]
    miss = sorted(s for s, (_, _, med) in t.items() if not np.isfinite(med))
    parts = [(" and ".join(ss) if len(ss) < 3 else ", ".join(ss[:-1]) + " and " + ss[-1]) + f" {n:g}" for n, ss in hit]
    last = " / ".join(t[s][0][0].lstrip("> ") for s in miss)
    return "labels to 95 % " + ", ".join(parts) + f"; {' and '.join(miss)} not by {last}"


@generator("mnist-batchbald.gpu-cost")
def _() -> str:
    c = round_costs([RES / d for d in BB_GPU])
    big = sorted((s for s in c if c[s]["ratio_median"] > 0.05), key=lambda s: -c[s]["ratio_median"])
    rest = max(c[s]["ratio_median"] for s in c if s not in big)
    return (
        ", ".join(f"{s} {c[s]['ratio_median']:.2f}" for s in big)
        + f", others <= {rest:.2f}; max {max(c[s]['ratio_max'] for s in c):.2f}"
    )


@generator("mnist-batchbald.margin-vs-random")
def _() -> str:
    dd = [d for d in paired_differences(list(rows(*BB)), "random") if d.strategy == "margin" and d.round > 1]
    early = [d for d in dd if d.n_labelled <= 60]
    sig = [d for d in dd if d.excludes_zero]
    always = all(d.excludes_zero for d in dd if d.n_labelled >= sig[0].n_labelled)
    return (
        f"margin - random {min(d.mean for d in early):+.1f} to {max(d.mean for d in early):+.1f} points at "
        f"{early[0].n_labelled:.0f}-{early[-1].n_labelled:.0f} labels, significant from {sig[0].n_labelled:.0f} "
        f"labels {'on' if always else '(not at every later round)'}"
    )


@generator("mnist-batchbald.bald-to95-range")
def _() -> str:
    t = labels_to_threshold([RES / d for d in BB], 95)

    def span(s: str) -> str:
        v = [int(x) for x in t[s][0].values()]
        return f"{min(v)}-{max(v)}"

    return f"{span('bald')} vs {span('baal-bald')}"


@generator("mnist-batchbald.cost")
def _() -> str:
    c = round_costs([RES / d for d in BB + BB_MORE])
    return block(
        header("strategy", ["train s", "proposal s", "proposal / train (median)", "proposal / train (max)"])
        + [
            f"| {s} | {v['train']:.2f} | {v['proposal']:.2f} | {v['ratio_median']:.2f} | {v['ratio_max']:.2f} |"
            for s, v in sorted(c.items())
        ]
    )


# ----------------------------------------------------------------------------------------------
# MNIST, latent strategies on the Table-1 protocol (benchmarks/results/mnist_latent/)

LATENT = ("mnist_latent",)
LATENT_ORDER = ["entropy", "uncertainty-ascent", "diverse-entropy", "snn-hard", "snn", "random", "latent-coreset"]


@generator("mnist-latent.accuracy")
def _() -> str:
    return block(
        mean_std_table(
            LATENT,
            [(s, s) for s in LATENT_ORDER],
            labels_row=False,
            col=lambda t, n: f"t={t} ({n})",
            bold={"entropy": [2, 3, 4, 5]},
        )
    )


@generator("mnist-latent.diff")
def _() -> str:
    return block(diff_table(LATENT, "entropy", [(s, s) for s in LATENT_ORDER[1:]], [2, 3, 4, 5]))


@generator("mnist-latent.why")
def _() -> str:
    src = {r[0]: r for r in md_table("mnist_latent/why.md")}
    lines = header(
        "strategy", ["mean entropy of picks (nats)", "F's error on its picks", "latent distance to nearest labelled"]
    )
    order = ["entropy", "diverse-entropy", "uncertainty-ascent", "snn-hard", "snn", "random", "latent-coreset"]
    return block(lines + [f"| {s} | {src[s][1]} | {src[s][2]} | {src[s][3]} |" for s in order])


@generator("mnist-latent.t1-range")
def _() -> str:
    v = [r["value"] for r in test_rows(*LATENT) if r["round"] == 1]
    return f"{min(v):.1f}-{max(v):.1f} %"


@generator("mnist-latent.best-t5")
def _() -> str:
    """The latent strategy closest to entropy at t=5, and its paired difference."""
    dd = diffs(LATENT, "entropy")
    latent = [s for s in LATENT_ORDER if s not in ("entropy", "random")]
    best = max(latent, key=lambda s: dd[(s, 5)].mean)
    d = dd[(best, 5)]
    return f"{best} {d.mean:+.2f} {interval(d)}, {d.n_ahead}/{d.n_seeds} seeds ahead"


@generator("mnist-latent.behind-entropy")
def _() -> str:
    dd = diffs(LATENT, "entropy")
    latent = [s for s in LATENT_ORDER if s not in ("entropy", "random")]
    every = all(dd[(s, t)].mean < 0 and dd[(s, t)].n_ahead == 0 for s in latent for t in (2, 3, 4, 5))
    best = max(latent, key=lambda s: np.mean([dd[(s, t)].mean for t in (2, 3, 4, 5)]))
    gaps = [-dd[(best, t)].mean for t in (2, 3, 4, 5)]
    return (
        "Every latent strategy is behind entropy at every round on every seed"
        if every
        else "NOT every latent strategy is behind"
    ) + f"; the best, {best}, by {min(gaps):.1f}-{max(gaps):.1f} points"


@generator("mnist-latent.ua-vs-random")
def _() -> str:
    dd = diffs(LATENT, "random")
    d = [dd[("uncertainty-ascent", t)] for t in (2, 3, 4, 5)]
    sig = [x.round for x in d if x.excludes_zero]
    lo, hi = min(x.mean for x in d), max(x.mean for x in d)
    return f"uncertainty-ascent {lo:+.1f} to {hi:+.1f}, significant at t={sig[0]}-{sig[-1]}"


@generator("mnist-latent.cost")
def _() -> str:
    c = round_costs([RES / d for d in LATENT])
    scoring = ["entropy", "uncertainty-ascent", "diverse-entropy"]
    latent_only = ["snn", "snn-hard", "latent-coreset"]
    tr = [v["train"] for v in c.values()]
    return (
        f"training {min(tr):.1f}-{max(tr):.1f} s; proposal {np.median([c[s]['proposal'] for s in scoring]):.1f} s "
        "for the "
        f"strategies that score 10,000 candidates with F ({', '.join(scoring)}: "
        f"{max(c[s]['ratio_median'] for s in scoring):.2f} x training), "
        f"{min(c[s]['proposal'] for s in latent_only):.2f}-{max(c[s]['proposal'] for s in latent_only):.2f} s "
        "for the latent-only ones"
    )


GENERATORS["mnist-latent.rank-corr"] = lambda: md_bullet("mnist_latent/why.md", "rank correlation")
GENERATORS["mnist-latent.knn"] = lambda: md_bullet("mnist_latent/why.md", "5-NN class accuracy")


# ----------------------------------------------------------------------------------------------
# The lent GPU machine (benchmarks/results/gpu_session/)


@generator("gpu-session.probe")
def _() -> str:
    ms = re.findall(r"step \(batch \d+\): ([\d.]+) ms", (RES / "gpu_session/probe.txt").read_text())
    a, v1, v8, le = ms
    return (
        f"alpha-GAN at 64 channels {a} ms per 64-image step; VGG16-BN full width {v1} ms per 128-image step; "
        f"VGG16-BN width 1/8 {v8} ms per 64; LeNet {le} ms per 64"
    )


@generator("gpu-session.cifar-tune")
def _() -> str:
    tr, sn = "cifar10_tuned/tune-training", "cifar10_tuned/tune-snn"
    st = " / ".join(f"{tune_score(tr, loop__train__min_steps=s):.1f}" for s in (150, 300, 600))
    al = " / ".join(f"{tune_score(sn, loop__alpha=a):.1f}" for a in (0.1, 0.2, 0.5))
    return (
        f"steps per round {tune(tr)['choice']['loop.train.min_steps']} from 150 / 300 / 600 (validation accuracy "
        f"{st} %, mean of 2 seeds x rounds 1-4) and SNN alpha {tune(sn)['choice']['loop.alpha']:g} from "
        f"0.1 / 0.2 / 0.5 ({al} %)"
    )


# ----------------------------------------------------------------------------------------------
# CIFAR-10, redone (benchmarks/results/cifar10_cpu/, cifar10_gpu/, generator_quality_cpu*/)

CIFAR = ("cifar10_cpu/table",)
CIFAR_ORDER = ["random", "snn", "snn-random-dir", "entropy"]


@generator("cifar10.accuracy")
def _() -> str:
    return block(mean_std_table(CIFAR, [(s, s) for s in CIFAR_ORDER]))


@generator("cifar10.diff")
def _() -> str:
    return block(diff_table(CIFAR, "random", [(s, s) for s in CIFAR_ORDER[1:]], [2, 3, 4, 5, 10]))


@generator("cifar10.cost")
def _() -> str:
    c = round_costs([RES / d for d in CIFAR])
    tr = [v["train"] for v in c.values()]
    return (
        f"training {min(tr):.1f}-{max(tr):.1f} s, SNN proposal {c['snn']['proposal']:.2f} s, "
        f"entropy {c['entropy']['proposal']:.2f} s"
    )


@generator("cifar10.t1-range")
def _() -> str:
    v = [r["value"] for r in test_rows(*CIFAR) if r["round"] == 1]
    return f"{min(v):.1f}-{max(v):.1f} %"


@generator("cifar10.random-range")
def _() -> str:
    rs = test_rows(*CIFAR)
    return f"{values(rs, 'random', 1).mean():.1f} -> {values(rs, 'random', 10).mean():.1f} %"


@generator("cifar10.random-std")
def _() -> str:
    rs = test_rows(*CIFAR)
    sd = [values(rs, "random", t).std(ddof=1) for t in range(3, 11)]
    return f"{min(sd):.1f}-{max(sd):.1f}"


GENERATORS["cifar10.snn-t2"] = lambda: f"{diff_cell(diffs(CIFAR, 'random')[('snn', 2)]).rsplit(' ', 1)[0]}"


def _quality(folder: str) -> dict:
    return json.loads((RES / folder / "quality.json").read_text())


@generator("cifar10.quality")
def _() -> str:
    before, now, d16 = (_quality(f"generator_quality_cpu{s}") for s in ("_before", "", "_d16"))

    def knn(q: dict, k: str) -> str:
        return f"{100 * q['test']['knn'][k]:.1f} / {100 * q['val']['knn'][k]:.1f} %"

    def mse(q: dict, k: str) -> str:
        return f"{1e3 * q['test']['mse'][k]:.1f}"

    rows_ = [
        (
            "alpha-GAN codes, earlier cpu recipe (3 adversarial epochs, L1 weight 20)",
            knn(before, "codes"),
            mse(before, "generator"),
        ),
        (
            "alpha-GAN codes, new cpu recipe (3 L1 autoencoder warm-up + 2 adversarial epochs, L1 weight 100; "
            "chosen on validation)",
            knn(now, "codes"),
            mse(now, "generator"),
        ),
        ("PCA-2 of the pixels", knn(now, "pca2"), mse(now, "pca2")),
        (
            "mean colour: brightness + blue-yellow opponent (2-D)",
            knn(now, "colour2"),
            f"{mse(now, 'mean_colour')} (each image's mean colour)",
        ),
        ("mean (R, G, B), 3-D", knn(now, "rgb3"), ""),
        ("same recipe, `--latent-dim 16`", knn(d16, "codes"), mse(d16, "generator")),
        ("chance", f"{100 * now['test']['knn']['chance']:.1f} %", ""),
    ]
    return block(
        header("embedding", ["5-NN accuracy (test / validation)", "reconstruction MSE x 1e3 (test)"])
        + [f"| {a} | {b} | {c} |" for a, b, c in rows_]
    )


GENERATORS["cifar10.quality-ratio"] = lambda: f"{_quality('generator_quality_cpu')['test']['ratio']:.2f} x"
GENERATORS["cifar10.quality-ratio-before"] = lambda: (
    f"{_quality('generator_quality_cpu_before')['test']['ratio']:.2f} x"
)
GENERATORS["cifar10.quality-ratio-d16"] = lambda: f"{_quality('generator_quality_cpu_d16')['test']['ratio']:.2f} x"
GENERATORS["cifar10.knn-codes"] = lambda: f"{100 * _quality('generator_quality_cpu')['test']['knn']['codes']:.1f} %"
GENERATORS["cifar10.knn-colour"] = lambda: f"{100 * _quality('generator_quality_cpu')['test']['knn']['colour2']:.1f} %"
GENERATORS["cifar10.knn-d16"] = lambda: f"{100 * _quality('generator_quality_cpu_d16')['test']['knn']['codes']:.1f} %"
GENERATORS["cifar10.rank-corr"] = lambda: md_bullet("cifar10_cpu/why.md", "rank correlation")
GENERATORS["cifar10.why-knn"] = lambda: md_bullet("cifar10_cpu/why.md", "5-NN class accuracy")


@generator("cifar10.why-picks")
def _() -> str:
    w = {r[0]: r for r in md_table("cifar10_cpu/why.md")}
    nats = {k: half_up(w[k][1], 2) for k in ("snn", "random", "entropy")}
    return (
        f"F's error {w['snn'][2].rstrip(' %')} vs {w['random'][2]}, mean entropy {nats['snn']} vs {nats['random']} "
        f"nats); entropy's are much harder ({w['entropy'][2]}, {nats['entropy']} nats"
    )


def _gpu_snn(folder: str, t: int) -> str:
    d = diffs((folder,), "random")[("snn", t)]
    return f"{signed(d.mean)} {interval(d)}"


GENERATORS["cifar10.d16"] = lambda: (
    f"SNN - random {_gpu_snn('cifar10_gpu/table-d16', 2)} at t=2, {_gpu_snn('cifar10_gpu/table-d16', 10)} at t=10"
)


@generator("cifar10.gpu-table")
def _() -> str:
    rs = test_rows("cifar10_gpu/table")
    return (
        f"random {values(rs, 'random', 1).mean():.1f} -> {values(rs, 'random', 10).mean():.1f} %, SNN - random "
        f"{_gpu_snn('cifar10_gpu/table', 2)} at t=2"
    )


# ----------------------------------------------------------------------------------------------
# MNIST, the core loop (superseded; benchmarks/results/mnist_table1/, mnist_ablation/, mnist_to95/)


@generator("core.table1")
def _() -> str:
    lines = mean_std_table(EARLIER, [(s, s) for s in ("random", "snn", "snn-random-dir", "entropy")])
    lines.append("| *paper, Rand* | " + " | ".join(map(str, PAPER_MNIST_RANDOM)) + " |")
    lines.append("| *paper, Ours (SNN)* | " + " | ".join(map(str, PAPER_MNIST_SNN)) + " |")
    return block(lines)


@generator("core.gains")
def _() -> str:
    g = paired_gains(list(rows(*EARLIER)), "random")
    rounds = list(range(2, 11))
    lines = header("strategy", [f"t={t}" for t in rounds] + ["mean t>=2"])
    for s in ("snn", "snn-random-dir", "entropy"):
        lines.append(f"| {s} | " + " | ".join(g[s]["cells"][t] for t in rounds) + f" | {g[s]['mean']:+.2f} |")
    return block(lines)


@generator("core.ablation")
def _() -> str:
    base = {(r["seed"], r["round"]): r["value"] for r in test_rows(*EARLIER) if r["strategy"] == "random"}

    def cells(rs: list[dict], s: str) -> list[str]:
        out = []
        for t in (2, 3, 4):
            g = np.array([r["value"] - base[(r["seed"], t)] for r in rs if r["strategy"] == s and r["round"] == t])
            out.append(f"{g.mean():+.2f} ± {g.std(ddof=1):.2f}")
        return out

    t1 = [r for r in test_rows(*EARLIER) if r["seed"] in (0, 1, 2) and r["round"] <= 4]
    spec = [
        ("alpha 0.2, loss on F(G(p)) (the table's setting)", t1, "snn"),
        ("alpha 0.1", test_rows("mnist_ablation/alpha0.1"), "snn"),
        ("alpha 0.5", test_rows("mnist_ablation/alpha0.5"), "snn"),
        ("alpha 0.2, loss on the real x (`--loss-on real`)", test_rows("mnist_ablation/real-alpha0.2"), "snn"),
        ("random-direction control, alpha 0.2", t1, "snn-random-dir"),
    ]
    lines = header("SNN variant (seeds 0,1,2)", ["t=2", "t=3", "t=4"])
    return block(lines + [f"| {label} | " + " | ".join(cells(rs, s)) + " |" for label, rs, s in spec])


@generator("core.to95")
def _() -> str:
    table = labels_to_threshold([RES / "mnist_to95"], 95)
    lines = header("strategy", ["seed 0", "seed 1", "seed 2", "median"])
    for s in ("entropy", "snn", "random"):
        per_seed, med = table[s][:2]
        lines.append(
            f"| {s} | " + " | ".join(per_seed.values()) + f" | {'**' + med + '**' if s == 'entropy' else med} |"
        )
    return block(lines)


@generator("core.round-time")
def _() -> str:
    c = round_costs([RES / "mnist_table1"])
    lines = header("strategy", ["train F (>= 300 steps)", "evaluate (10k test)", "sample"])
    names = {"entropy": "entropy (scores all ~57k-59k unlabelled items)"}
    for s in ("random", "snn", "snn-random-dir", "entropy"):
        v = c[s]
        lines.append(f"| {names.get(s, s)} | {v['train']:.2f} | {v['eval']:.2f} | {v['proposal_rounds']:.3f} |")
    return block(lines)


# ----------------------------------------------------------------------------------------------
# Vessels: random vs SI (benchmarks/results/vessels_si_v3/, vessels_si/)

V3 = ("vessels_si_v3/random-si", "vessels_si_v3/si-mix", "vessels_si_v3/si-real")
V2 = ("vessels_si/random-si", "vessels_si/si-mix", "vessels_si/si-real")


@generator("vessels-v3.tune")
def _() -> str:
    p = "vessels_si_v3/tune-si"
    ch = tune(p)["choice"]["loop.alpha"]
    return ", ".join(
        (
            f"**{a} {tune_score(p, loop__alpha=a):.2f} (chosen)**"
            if a == ch
            else f"{a} {tune_score(p, loop__alpha=a):.2f}"
        )
        for a in tune(p)["grid"]["loop.alpha"]
    )


@generator("vessels-v3.mse")
def _() -> str:
    lines = mean_std_table(V3, [(s, s) for s in ("random", "si", "si-mix", "si-real")], bold={"random": [4]})
    lines[0] = lines[0].replace("| strategy |", "| test MSE x 1e3 (5 seeds) |", 1)
    return block(lines)


@generator("vessels-v3.diff")
def _() -> str:
    return block(
        diff_table(V3, "random", [(s, s) for s in ("si", "si-mix", "si-real")], [3, 4, 6, 8], bold={"si": [4]})
    )


def _ratio(dirs: tuple[str, ...], s: str, t: int) -> float:
    rs = test_rows(*dirs)
    return values(rs, s, t).mean() / values(rs, "random", t).mean()


GENERATORS["vessels-v3.si-ratio-t4"] = lambda: (
    f"{values(test_rows(*V3), 'si', 4).mean():.2f} / {values(test_rows(*V3), 'random', 4).mean():.2f} = "
    f"{_ratio(V3, 'si', 4):.2f}"
)
GENERATORS["vessels-v3.si-ratio"] = lambda: f"{_ratio(V3, 'si', 4):.2f}x"
GENERATORS["vessels-v3.si-mix-ratio"] = lambda: f"{_ratio(V3, 'si-mix', 4):.2f}x"
GENERATORS["vessels-v3.si-real-ratio"] = lambda: f"{_ratio(V3, 'si-real', 4):.2f}x"
GENERATORS["vessels-v2.si-ratio"] = lambda: f"{_ratio(V2, 'si', 4):.2f}x"
GENERATORS["vessels-v3.si-diff-t4"] = lambda: (
    f"{signed(diffs(V3, 'random')[('si', 4)].mean)} {interval(diffs(V3, 'random')[('si', 4)])}"
)


def _why(folder: str) -> dict:
    return json.loads((RES / folder / "why.json").read_text())


def _model_ratio(folder: str, s: str, kind: str) -> float:
    m = _why(folder)["models"]
    return float(np.mean(m[s][kind]) / np.mean(m["random"][kind]))


GENERATORS["vessels-v3.why-decoded"] = lambda: f"{_model_ratio('vessels_si_v3', 'si', 'decoded'):.2f}x"
GENERATORS["vessels-v3.why-real"] = lambda: f"{_model_ratio('vessels_si_v3', 'si', 'real_test'):.2f}x"
GENERATORS["vessels-v3.ellipticity"] = lambda: " vs ".join(
    f"{_why('vessels_si_v3')[k]['lumen_ellipticity']:.2f}" for k in ("shape_decoded", "shape_real")
)
GENERATORS["vessels-v3.classifier"] = lambda: f"{100 * _why('vessels_si_v3')['classifier_pixels'][0]:.0f} %"
GENERATORS["vessels-v2.why-decoded"] = lambda: f"{_model_ratio('vessels_si', 'si', 'decoded'):.2f}x"
GENERATORS["vessels-v2.why-real"] = lambda: f"{_model_ratio('vessels_si', 'si', 'real_test'):.2f}x"
GENERATORS["vessels-v2.si-ratio-t4"] = lambda: f"{_ratio(V2, 'si', 4):.2f}"
GENERATORS["vessels-v2.si-means-t4"] = lambda: " / ".join(
    f"{values(test_rows(*V2), s, 4).mean():.2f}" for s in ("si", "random")
)
GENERATORS["vessels-v2.si-ratio-t8"] = lambda: f"x{_ratio(V2, 'si', 8):.2f}"
GENERATORS["vessels-latent15.t8"] = lambda: f"{_ratio(('vessels_si/latent15',), 'si', 8):.2f}"


@generator("vessels-latent15.detail")
def _() -> str:
    lat = ("vessels_si/latent15",)
    rs, d = test_rows(*lat), diffs(lat, "random")[("si", 4)]
    return (
        f"{pm(values(rs, 'si', 4))} vs {pm(values(rs, 'random', 4))}; paired {signed(d.mean)} {interval(d)}, "
        f"{d.n_ahead}/{d.n_seeds} seeds better"
    )


GENERATORS["vessels-latent15.ratio"] = lambda: f"{_ratio(('vessels_si/latent15',), 'si', 4):.2f}x"


@generator("vessels-v3.why-peak")
def _() -> str:
    r = md_lookup("vessels_si_v3/why.md", "peak", 1)
    d = md_lookup("vessels_si_v3/why.md", "peak", 2)
    ks = md_lookup("vessels_si_v3/why.md", "peak", 3).split()[0]
    one = lambda c: " ± ".join(half_up(x, 1) for x in c.split(" ± "))  # noqa: E731
    return f"{one(d)} vs {one(r)} kPa, KS {ks}"


def _range_at(dirs: tuple[str, ...], t: int, digits: int) -> str:
    rs = test_rows(*dirs)
    m = [values(rs, s, t).mean() for s in sorted({r["strategy"] for r in rs})]
    return f"{min(m):.{digits}f}-{max(m):.{digits}f}"


GENERATORS["vessels-v3.t1-range"] = lambda: _range_at(V3, 1, 1)
GENERATORS["vessels-v3.t2-range"] = lambda: _range_at(V3, 2, 1)
GENERATORS["vessels-v3.t3-range"] = lambda: _range_at(V3, 3, 2)


@generator("vessels-v2.tune")
def _() -> str:
    p = "vessels_si/tune-si"
    ch = tune(p)["choice"]["loop.alpha"]
    lines = header("alpha", ["score", "val MSE t=1 / t=2 / t=3 (mean of 3 seeds)", ""])
    for pt in tune(p)["points"]:
        a = pt["setting"]["loop.alpha"]
        by = " / ".join(f"{pt['by_round'][str(t)]:.2f}" for t in (1, 2, 3))
        lines.append(f"| {a} | {pt['score']:.2f} | {by} | {'**chosen**' if a == ch else ''} |")
    return block(lines)


@generator("vessels-v2.mse")
def _() -> str:
    order = [("random", "random"), ("si", "si"), ("si-mix", "si-mix (remedy)"), ("si-real", "si-real (remedy)")]
    best = {"random": [4, 5, 6, 7, 8]}
    lines = mean_std_table(V2, order, bold=best)
    for s in ("si", "si-mix", "si-real"):
        cells = [f"{_ratio(V2, s, t):.2f}" for t in range(1, 9)]
        cells[3] = f"**{cells[3]}**" if s == "si" else cells[3]
        lines.append(f"| *ratio to random: {s}* | " + " | ".join(cells) + " |")
    return block(lines)


@generator("vessels-v2.diff")
def _() -> str:
    return block(
        diff_table(V2, "random", [(s, s) for s in ("si", "si-mix", "si-real")], list(range(2, 9)), bold={"si": [4]})
    )


@generator("vessels-v2.why")
def _() -> str:
    """Real vs decoded masks (why.md of the version-2 study): stress, shape, realism."""
    w = "vessels_si/why.md"

    def row(label: str, key: str, digits: int) -> str:
        r = md_lookup(w, key, 1)
        d = md_lookup(w, key, 2)
        ks = md_lookup(w, key, 3).split()[0]

        def fmt(c: str) -> str:
            return " ± ".join(half_up(x, digits) for x in c.split(" ± "))

        return f"| {label} | {fmt(r)} | {fmt(d)} | {ks} |"

    def acc(key: str) -> str:
        m, sd = _why("vessels_si")[key]
        return f"{m:.2f} ± {sd:.2f}"

    def areas(col: int) -> str:
        a = [md_lookup(w, k, col).split(" ± ") for k in ("wall_area", "lumen_area")]
        return " / ".join(f"{half_up(m, 0)} ± {half_up(sd, 0)}" for m, sd in a)

    ks_areas = " / ".join(md_lookup(w, k, 3).split()[0] for k in ("wall_area", "lumen_area"))
    lines = header("measure", ["real pool masks", "decoded masks", "KS statistic"]) + [
        row("peak wall stress per mask (kPa)", "peak", 1),
        row("99th percentile of wall stress (kPa)", "p99", 1),
        row("mean wall stress (kPa)", "mean", 1),
        row("lumen ellipticity (1 - minor/major axis)", "lumen_ellipticity", 2),
        row("wall thickness asymmetry (max/min over 36 rays)", "thick_asym", 2),
        row("mean wall thickness (px)", "thickness", 2),
        f"| wall area / lumen area (px) | {areas(1)} | {areas(2)} | {ks_areas} |",
        f"| **real-vs-decoded logistic regression, 5-fold CV accuracy, pixels** | | **{acc('classifier_pixels')}** | |",
        f"| same, on the shape + stress statistics above | | {acc('classifier_features')} | |",
        "| same, pixels, real masks vs their own reconstructions G(E(x)) | | "
        f"{acc('classifier_pixels_reconstructions')} | |",
    ]
    return block(lines)


@generator("vessels-v2.final-models")
def _() -> str:
    m = _why("vessels_si")["models"]
    lines = header(
        "final model (t=8, 160 labels)",
        ["MSE on real test masks", "MSE on decoded masks", "ratio to random: real / decoded"],
    )
    for s in ("random", "si", "si-mix", "si-real"):
        real, dec = np.array(m[s]["real_test"]), np.array(m[s]["decoded"])
        rr, rd = _model_ratio("vessels_si", s, "real_test"), _model_ratio("vessels_si", s, "decoded")
        c = [
            f"{real.mean():.3f} ± {real.std(ddof=1):.3f}",
            f"{dec.mean():.3f} ± {dec.std(ddof=1):.3f}",
            f"{rr:.2f} / {rd:.2f}",
        ]
        if s == "si":
            c[1], c[2] = f"**{c[1]}**", f"**{c[2]}**"
        lines.append(f"| {s} | " + " | ".join(c) + " |")
    return block(lines)


# ----------------------------------------------------------------------------------------------
# Reliability: the thread policy (benchmarks/results/threads_*.txt)


def _threads(name: str) -> list[dict]:
    return [json.loads(line) for line in (RES / name).read_text().splitlines() if line.startswith("{")]


def _threads_table(name: str) -> str:
    lines = header(
        "extra load", ["threads", "OMP_WAIT_POLICY", "LeNet step (ms)", "digits run (s)", "load avg (1 min)"]
    )
    for r in _threads(name):
        th = "2 (torch's default)" if r["threads"] == 2 and r["wait"] == "default" else str(r["threads"])
        load = "none" if r["load"] == "idle" else r["load"]
        lines.append(
            f"| {load} | {th} | {r['wait']} | {r['lenet_step_ms']:.1f} | {r['digits_s']:.1f} | {r['loadavg_1m']:.2f} |"
        )
    return block(lines)


GENERATORS["threads.loaded"] = lambda: _threads_table("threads_2026-11-26.txt")
GENERATORS["threads.idle"] = lambda: _threads_table("threads_idle_2026-11-26.txt")


def _digits_run(name: str, load: str, threads: int, wait: str) -> float:
    return next(r["digits_s"] for r in _threads(name) if (r["load"], r["threads"], r["wait"]) == (load, threads, wait))


def _busy_ratio(name: str) -> float:
    """The chosen policy (1 passive thread): digits run with two busy processes / without."""
    return _digits_run(name, "busy2", 1, "PASSIVE") / _digits_run(name, "idle", 1, "PASSIVE")


GENERATORS["threads.idle-ratio"] = lambda: f"{_busy_ratio('threads_idle_2026-11-26.txt'):.2f}x"
GENERATORS["threads.loaded-ratio"] = lambda: f"{_busy_ratio('threads_2026-11-26.txt'):.1f}x"


# ----------------------------------------------------------------------------------------------
# docsint's block: issue 22's speed results (benchmarks/results/perf/**), SI's soft probe
# (benchmarks/results/vessels_probe/) and the torch range (benchmarks/results/torch_bounds/).
# The tables are the benchmark scripts' own ``--table`` printers, called on the raw files, so the
# docs show what those commands print; the quoted numbers read the same raw JSON files.

PERF = RES / "perf"


@cache
def _script(name: str):
    """A benchmark script of ``benchmarks/`` imported as a module, the environment left as it was
    (``vessels_probe`` sets ``OMP_NUM_THREADS`` on import, which must not leak into the caller)."""
    import importlib
    import os

    env = dict(os.environ)
    try:
        return importlib.import_module(name)
    finally:
        os.environ.clear()
        os.environ.update(env)


def _printed(text: str) -> str:
    """A script's printed table as a generated block: its ``#`` heading lines become bold lines (a
    generated block must not add headings to the page), the trailing blank lines dropped."""
    out = [f"**{line.lstrip('#').strip()}**" if line.startswith("#") else line for line in text.splitlines()]
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"


def _perf_json(topic: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((PERF / topic).glob("*.json"))]


def _one(topic: str, **match) -> dict:
    """The raw result of ``topic`` whose fields equal ``match`` and whose load before it was lowest:
    the run the prose quotes when a benchmark was rerun at a quieter moment (every run stays in the
    script's table)."""
    found = [r for r in _perf_json(topic) if all(r.get(k) == v for k, v in match.items())]
    if not found:
        raise KeyError(f"no raw result in perf/{topic} matches {match}")
    return min(found, key=lambda r: r["load_before"][0])


def _load(r: dict) -> str:
    return f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}"


def _load_range(records: Iterable[dict]) -> str:
    loads = [x for r in records for x in (r["load_before"][0], r["load_after"][0])]
    return f"{min(loads):.1f}-{max(loads):.1f}"


GENERATORS["perf.cold-start"] = lambda: _printed(_script("cold_start").table(PERF / "cold_start"))
GENERATORS["perf.generator"] = lambda: _printed(_script("generator_speed").table(PERF / "generator"))
GENERATORS["perf.roofline"] = lambda: _printed(_script("round_roofline").table(PERF / "roofline"))
GENERATORS["perf.inference-variants"] = lambda: _printed(
    _script("inference_variants").table(PERF / "inference_variants")
)
GENERATORS["perf.bald-vs-baal"] = lambda: _printed(_script("bald_vs_baal").table(PERF / "bald_vs_baal"))
GENERATORS["perf.million-pool"] = lambda: _printed(_script("million_pool").table(PERF / "million_pool"))
GENERATORS["perf.bigpool-render"] = lambda: _printed(_script("bigpool_render").table(PERF / "bigpool_render"))
GENERATORS["perf.explorer-bigpool"] = lambda: _printed(_script("explorer_bigpool").table(PERF / "explorer_bigpool"))


def _bigpool_verdict() -> str:
    """Each served 1M-pool run against the < 500 ms target: the slowest p90 of its zooms and its drags."""
    import numpy as np

    out = []
    for f in sorted((PERF / "explorer_bigpool").glob("*.json")):
        r = json.loads(f.read_text())
        p90 = max(float(np.percentile([m["ms"] for m in r["moves"] if m["kind"] == k], 90)) for k in ("zoom", "pan"))
        out.append(f"{'met' if p90 < 500 else 'missed'} at load {r['load_before'][0]} -> {r['load_after'][0]} "
                   f"({r['date'][:10]}: slowest p90 {p90:.0f} ms)")  # fmt: skip
    return "; ".join(out)


GENERATORS["perf.explorer-bigpool-verdict"] = _bigpool_verdict
GENERATORS["perf.table1-timing"] = lambda: _printed(_script("table1_timing").table(PERF / "table1_timing"))
# issue 22 item 2: one optimiser step of training F, the ideas side by side (benchmarks/train_step.py)
GENERATORS["perf.train-step"] = lambda: _printed(_script("train_step").table(PERF / "train_step"))


@generator("perf.train-step-gain")
def _() -> str:
    r = _one("train_step", dataset="mnist")
    ms = {k: float(np.median([q["cpu_ms"] for q in v["reps"]])) for k, v in r["variants"].items()}
    return (
        f"{ms['before']:.1f} -> {ms['now']:.1f} ms per step (CPU time, median; pool-then-relu alone "
        f"{ms['pool-then-relu']:.1f}) at load {_load(r)}"
    )


def _table1_runs() -> list[dict]:
    """The full-protocol Table-1 timings (not the toy runs), oldest first."""
    runs = [json.loads(p.read_text()) for p in sorted((PERF / "table1_timing").glob("*/timing.json"))]
    return [r for r in runs if not r.get("toy")]


@generator("perf.table1-latest")
def _() -> str:
    first, last = _table1_runs()[0], _table1_runs()[-1]

    def ws(r: dict, k: str) -> float:
        return sum(v[k] for v in r["per_strategy"].values())

    tot = [r["total_s"] / 60 for r in (first, last)]
    parts = ", ".join(
        f"{name} {ws(first, k):.0f} -> {ws(last, k):.0f}"
        for name, k in (("training F", "train_s"), ("evaluation", "eval_s"), ("proposing", "sample_s"))
    )
    return (
        f"{tot[1]:.1f} min at load {last['load_before'][0]} -> {last['load_after'][0]} ({last['date'][:16]}), "
        f"against {tot[0]:.1f} min on {first['date'][:16]} (worker-seconds: {parts}; the inference path's "
        "stride fix, then LeNet's pools before its ReLUs)"
    )


# issue 19 item 6: the tour in JupyterLab, Run All and Step click-to-paint (benchmarks/explorer_latency.py)
GENERATORS["explorer.latency"] = lambda: _printed(_script("explorer_latency").table(RES / "explorer" / "latency"))


def _latency(stamp: str, label: str) -> str:
    """One explorer-latency run in words: Run All, the first Step and later Steps, painted."""
    el = _script("explorer_latency")
    r = json.loads((RES / "explorer" / "latency" / stamp / f"{label}.json").read_text())
    later = [x["paint_ms"] for x in r["later_steps"]]
    return (
        f"Run All to a usable explorer {r['usable_s']:.1f} s, first Step painted {r['first_step']['paint_ms']:.0f} ms, "
        f"later Steps painted {el._median(later):.0f} ms median ({el._p90(later):.0f} ms p90; load "
        f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f})"
    )


GENERATORS["explorer.latency-idle-canvas"] = lambda: _latency("2026-12-02T1506", "after-canvas")
GENERATORS["explorer.latency-idle-webgl"] = lambda: _latency("2026-12-02T1506", "after-webgl")


def _echo(label: str) -> str:
    """A --trace run in words: the data sources the page sent back after Run All and per Step, and
    how long the kernel took over the first of those messages."""
    r = json.loads((RES / "explorer" / "latency_trace" / f"{label}.json").read_text())
    k = r["trace"]["kernel"]
    ins = {w.split()[1]: (t, x) for t, w, x in k if w.endswith(" in") and isinstance(x, list)}
    done = {w.split()[1]: t for t, w, _ in k if w.endswith(" done")}
    counts = [(mid, sum(e == "ModelChanged ColumnDataSource  data" for e in x)) for mid, (_, x) in ins.items()]
    first, n = max(counts, key=lambda c: c[1])
    later = sorted({c for mid, c in counts if mid != first})
    ms = done[first] - ins[first][0]
    return (
        f"after Run All the page sent back {n} data sources in one message, which the kernel handled in "
        f"{ms:.0f} ms{' (under the profiler)' if ms > 300 else ''}; each later Step's message sent back "
        f"{' or '.join(map(str, later))}; the first Step painted {r['first_step']['paint_ms']:.0f} ms after its click"
    )


GENERATORS["explorer.trace-before"] = lambda: _echo("2026-12-03T0917-before")
GENERATORS["explorer.trace-after"] = lambda: _echo("2026-12-03T0923-after")
# the page's echo of pushed data dropped (widgets/explorer.py, _Root): main's code, then the change
GENERATORS["explorer.latency-echo-before"] = lambda: _latency("2026-12-03T0923", "before")
GENERATORS["explorer.latency-echo-after"] = lambda: _latency("2026-12-03T0923", "after")


# issue 19: the Step click held by a lost acknowledgement, and the comm watchdog (widgets/comm_watchdog.py)
LOST_ACK = RES / "explorer" / "lost_ack"


def _explorer_manager(dump: dict) -> dict:
    """The explorer's page-side comm manager in a probe dump (the document with the most models)."""
    return max((v for p in dump["plots"] for v in p["views"]), key=lambda v: v["attached"])


@generator("explorer.lost-ack-stalled")
def _() -> str:
    r = json.loads((LOST_ACK / "stalled_run.json").read_text())
    a, c, z = (_explorer_manager(r[k]) for k in ("after_run_all", "after_click", "later"))
    return (
        f"blocked with {a['buf']} changes held and {a['to'] / 1000:.0f} s left of its timeout after Run All; "
        f"after the click {c['buf']} held, {c['acks'] + z['acks']} acknowledgements "
        f"{(a['to'] - z['to']) / 1000:.0f} s later"
    )


@generator("explorer.lost-ack-forced")
def _() -> str:
    r = json.loads((LOST_ACK / "forced.json").read_text())
    off, on = r["runs"]
    held = "held it" if off["arrived_s"] is None else f"let it through after {off['arrived_s']} s"
    return (
        f"with the watchdog off Panel {held} for the {off['waited_s']} s waited; with it on the Step arrived "
        f"after {on['arrived_s']} s, {on['flushed']} send by the watchdog (load {r['load_before'][0]:.1f})"
    )


@generator("explorer.lost-ack-good")
def _() -> str:
    r = json.loads((LOST_ACK / "good_run.json").read_text())
    kernel = [json.loads(x) for x in (LOST_ACK / "good_run_kernel.jsonl").read_text().splitlines()]
    deltas = []
    for cc in {s[0] for s in r["sends"]}:  # each comm's first acknowledgement: kernel done -> page
        done = [e["t"] for e in kernel if e["ev"] == "handle1" and e.get("cc") == cc]
        acks = [a[1] / 1000 for a in r["acks"] if a[0] == cc]
        if done and acks:
            deltas.append(acks[0] - done[0])
    return f"{min(deltas):.1f}-{max(deltas):.1f} s after the kernel had handled the message"


@generator("explorer.lost-ack-runs")
def _() -> str:
    lines = [x for x in (LOST_ACK / "with_watchdog_runs.txt").read_text().splitlines() if x.startswith("run")]
    arrived = sum('"step_arrived": true' in x for x in lines)
    sent = sum(not x.rstrip().endswith('"flushed": 0') for x in lines)
    return f"the Step arrived within 10 s in {arrived} of {len(lines)} runs; the watchdog sent in {sent} of them"


@generator("perf.load-range")
def _() -> str:
    """The 1-minute load average over every timed perf run (before and after each) but the cold
    start, which has runs near idle and is quoted with its own load."""
    recs = [r for t in ("roofline", "bald_vs_baal", "million_pool", "bigpool_render") for r in _perf_json(t)]
    recs += [json.loads(p.read_text()) for p in sorted((PERF / "generator").glob("*/*.json"))]
    return _load_range(recs)


@generator("perf.shipped")
def _() -> str:
    """The generator weights shipped in ``latentlab/weights/``, from their JSON sidecars."""
    lines = header("data set", ["file", "MB", "SHA-256", "recipe", "seed", "trained", "train s", "load"])
    for side in sorted((ROOT / "latentlab" / "weights").glob("*.json")):
        d = json.loads(side.read_text())
        c, m = d["config"], d["made_by"]
        w = side.with_suffix(".pt")
        recipe = f"{c['kind']}, {c['epochs']:g} epochs, batch {c['batch_size']}, lr {c['lr']:g}"
        recipe += f", >= {c['min_steps']} steps"
        made = f"{m['date'][:16]}, torch {m['torch']}, {m['torch_threads']} thread"
        cells = [d["dataset"], f"`{w.name}`", f"{w.stat().st_size / 1e6:.1f}", f"`{d['sha256'][:12]}...`", recipe]
        cells += [str(d["seed"]), made, f"{m['train_seconds']:.0f}", f"{m['load_before'][0]:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return block(lines)


def _cold(dataset: str, quiet: bool = True) -> dict:
    """The cold-start run of ``dataset`` at the lowest (``quiet``) or the highest load before it."""
    runs = [r for r in _perf_json("cold_start") if r["dataset"] == dataset and r["mode"] == "shipped"]
    return (min if quiet else max)(runs, key=lambda r: r["load_before"][0])


def _screen(dataset: str, mode: str = "shipped") -> dict:
    """The newest cold-start run of ``dataset`` timed in a browser (``--browser``)."""
    runs = [r for r in _perf_json("cold_start") if r["dataset"] == dataset and r["mode"] == mode]
    return max((r for r in runs if "usable_on_screen_s" in r["explorer"]), key=lambda r: r["date"])


@generator("perf.cold-screen")
def _() -> str:
    parts = []
    for ds in ("mnist", "digits"):
        ex = (r := _screen(ds))["explorer"]
        parts.append(
            f"{ds}: first map on screen {ex['first_map_on_screen_s']:.1f} s, usable explorer on screen "
            f"{ex['usable_on_screen_s']:.1f} s (page loaded {ex['page_loaded_s']:.1f} s; load "
            f"{r['load_before'][0]} -> {r['load_after'][0]})"
        )
    return "; ".join(parts)


@generator("perf.cold-forming")
def _() -> str:
    r = _screen("digits", "no-shipped")
    ex = r["explorer"]
    return (
        f"the forming map ({ex['first_map_was']}) on screen after {ex['first_map_on_screen_s']:.1f} s and the "
        f"usable explorer after {ex['usable_on_screen_s']:.1f} s, the VAE trained in {r['first_map']['ready_s']:.1f} s "
        f"(load {r['load_before'][0]} -> {r['load_after'][0]})"
    )


@generator("perf.cold-vessels")
def _() -> str:
    """vessels from an empty cache, on screen: before (the VAE trains, the 210 test masks are solved)
    and after (shipped weights and test labels)."""

    def one(r: dict) -> str:
        ex = r["explorer"]
        ready = r["first_map"].get("ready_s")
        headless = "" if ready is None else f", latent space ready headless {ready:.1f} s"
        return (
            f"usable explorer on screen {ex['usable_on_screen_s']:.1f} s{headless} "
            f"(load {r['load_before'][0]} -> {r['load_after'][0]})"
        )

    after = f"{one(_screen('vessels'))} with the generator and the test labels shipped"
    if not any(r["dataset"] == "vessels" and r["mode"] == "no-shipped" for r in _perf_json("cold_start")):
        before = max((x for x in _perf_json("vessels_first_load") if x["tag"] == "before"), key=lambda x: x["date"])
        return (
            f"{after}; before, the first load alone took {before['load_s']:.0f} s headless (load "
            f"{before['load_before'][0]} -> {before['load_after'][0]}; no on-screen run without them)"
        )
    return f"{one(_screen('vessels', 'no-shipped'))} before; {after}"


def _vessels_phases(tag: str) -> str:
    """Where the first load of vessels went (benchmarks/vessels_first_load.py), its newest ``tag`` run."""
    r = max((x for x in _perf_json("vessels_first_load") if x["tag"] == tag), key=lambda x: x["date"])
    by: dict[str, float] = {}
    for p in r["phases"][: len(r["phases"]) - len(r.get("first_round_phases", []))]:
        by[p["phase"]] = by.get(p["phase"], 0.0) + p["s"]
    names = {"fem labels": "the test set's FEM labels", "generator": "the generator", "encode + index": "encoding"}
    parts = ", ".join(f"{names.get(k, k)} {v:.1f} s" for k, v in by.items())
    fem = sum(p["s"] for p in r.get("first_round_phases", []))
    first = (
        f"; the first Run round {r['first_round_s']:.1f} s, {fem:.1f} s of it FEM labels"
        if "first_round_s" in r
        else ""
    )
    return f"{r['load_s']:.1f} s in all: {parts}{first} (load {r['load_before'][0]} -> {r['load_after'][0]})"


GENERATORS["perf.vessels-phases-before"] = lambda: _vessels_phases("before")
GENERATORS["perf.vessels-phases-after"] = lambda: _vessels_phases("after")


def _phases(r: dict) -> str:
    """The explorer's log lines of a cold start: imports until the first line, then loading."""
    lines = r["explorer"]["lines"]
    start = next(t for t, text in lines if "loading" in text)
    loaded = next(t for t, text in lines if "loaded" in text)
    return f"{start:.1f} s of imports with Panel, then {loaded - start:.1f} s in `ExplorerState.load`"


def _cold_text(dataset: str, quiet: bool) -> str:
    r = _cold(dataset, quiet)
    ex, fm = r["explorer"], r["first_map"]
    return (
        f"latent space ready {fm['ready_s']:.1f} s (imports {fm['import_s']:.1f} s), explorer serving "
        f"{ex['serving_s']:.1f} s, page answers {ex['http_200_s']:.1f} s"
    )


for _quiet, _which in ((True, "quiet"), (False, "loaded")):
    for _ds in ("mnist", "digits"):
        GENERATORS[f"perf.cold-{_ds}-{_which}"] = lambda _ds=_ds, _quiet=_quiet: _cold_text(_ds, _quiet)
    GENERATORS[f"perf.cold-load-{_which}"] = lambda _quiet=_quiet: _load_range(
        [_cold(d, _quiet) for d in ("mnist", "digits")]
    )
GENERATORS["perf.cold-mnist-phases-quiet"] = lambda: _phases(_cold("mnist"))
GENERATORS["perf.cold-mnist-phases-loaded"] = lambda: _phases(_cold("mnist", quiet=False))
GENERATORS["perf.cold-mnist-answers"] = lambda: f"{_cold('mnist')['explorer']['http_200_s']:.1f} s"
GENERATORS["perf.cold-mnist-first-map"] = lambda: f"{_cold('mnist')['first_map']['first_map_s']:.1f} s"
GENERATORS["perf.cold-digits-answers"] = lambda: f"{_cold('digits')['explorer']['http_200_s']:.1f} s"


def _recipe_stats(dataset: str) -> dict[str, tuple[float, float]]:
    """Mean and sd over seeds of each recipe's 5-NN validation accuracy (%)."""
    from perf_common import mean_sd

    by: dict[str, list[float]] = {}
    for p in sorted((PERF / "generator" / dataset).glob("*.json")):
        r = json.loads(p.read_text())
        by.setdefault(r["recipe"], []).append(100 * r["knn5_val"])
    return {k: mean_sd(v) for k, v in by.items()}


@generator("perf.generator-digits")
def _() -> str:
    s = _recipe_stats("digits")
    other = [m for k, (m, _) in s.items() if k != "v1"]
    return f"{s['v1'][0]:.1f} +- {s['v1'][1]:.1f} % for v1 against {min(other):.1f}-{max(other):.1f} %"


@generator("perf.generator-mnist")
def _() -> str:
    s = _recipe_stats("mnist")
    fast = s["e5-b512-lr0.003-m1000-cos"]
    return f"{s['v1'][0]:.1f} % for v1 against {fast[0]:.1f} +- {fast[1]:.1f} %"


def _roof() -> dict:
    r = _one("roofline", threads=1)
    return r


def _roof_ratio(op: str) -> str:
    o = _roof()["ops"]
    return f"{o[op + '_before']['ratio_cpu']:.2f}x -> {o[op]['ratio_cpu']:.2f}x"


GENERATORS["perf.roofline-entropy"] = lambda: _roof_ratio("entropy")
GENERATORS["perf.roofline-verdict"] = lambda: (
    ("met" if _roof()["ops"]["entropy"]["ratio_cpu"] <= 1.3 else "missed") + f" at load {_load(_roof())}"
)
GENERATORS["perf.roofline-load"] = lambda: _load(_roof())


@generator("perf.roofline-work")
def _() -> str:
    r = _roof()
    macs = sum(r["macs_per_item"].values())
    return (
        f"{macs / 1e6:.2f} M per MNIST image = {r['flop_per_item'] / 1e6:.2f} MFLOP; "
        f"{r['n_scored'] / 1000:.0f}k LeNet forwards are {r['ops']['entropy']['flop'] / 1e9:.1f} GFLOP"
    )


@generator("perf.roofline-rates")
def _() -> str:
    ops = _roof()["ops"].values()
    wall = [o["rate"]["wall"] / 1e9 for o in ops]
    cpu = [o["rate"]["cpu"] / 1e9 for o in ops]
    return (
        f"the wall-clock rate of the matmul swung from {min(wall):.1f} to {max(wall):.1f} GFLOP/s with the load; "
        f"its CPU-time rate stayed at {min(cpu):.0f}-{max(cpu):.0f} GFLOP/s"
    )


def _baal() -> dict:
    r = _one("bald_vs_baal")
    return r


GENERATORS["perf.bald-ratio"] = lambda: f"{_baal()['ratio_cpu']:.2f}x"
GENERATORS["perf.bald-speedup"] = lambda: f"{1 / _baal()['ratio_cpu']:.0f}x"
GENERATORS["perf.bald-picks"] = lambda: f"{_baal()['picks_overlap']} of {_baal()['per_round']}"


def _million() -> dict:
    r = _one("million_pool", n=1_000_000)
    return r


# the quoted numbers of the million-item run, formatted from its one raw JSON (str.format's [key] lookups)
for _name, _text in {
    "perf.million-rounds": "{rounds[random][round_s]:.0f} s (random) and {rounds[snn][round_s]:.0f} s (snn)",
    "perf.million-propose": "{rounds[random][propose_s]:.2f} s (random) and {rounds[snn][propose_s]:.2f} s (snn), "
    "a Step of {steps} points {seconds[step_s]:.2f} s",
    "perf.million-memory": "peak anonymous memory {peak_anon_gib:.2f} GiB, below the {pool_file_gib:.2f} GiB pool "
    "file; peak RSS {peak_rss_gib:.2f} GiB",
}.items():
    GENERATORS[_name] = lambda _text=_text: _text.format_map(_million())


@generator("perf.million-time-v")
def _() -> str:
    (f,) = sorted((PERF / "million_pool").glob("*-time-v.txt"))
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read_text()).group(1))
    return f"{kib:,} KiB = {kib / 2**20:.2f} GiB"


GENERATORS["perf.million-load"] = lambda: _load(_million())


def _render(n: int, view: str) -> dict:
    v = _one("bigpool_render", n=n)["views"][view]
    return {k: np.asarray(v[k]) for k in ("zoom", "pan")} | {"server": v.get("server_raster_ms")}


@generator("perf.raster-1m")
def _() -> str:
    v = _render(1_000_000, "raster")
    return (
        f"{np.median(v['pan']):.0f} ms after a drag and {np.median(v['zoom']):.0f} ms after a wheel zoom "
        f"(max {v['zoom'].max():.0f} ms), the server's binning taking {v['server']:.0f} ms"
    )


@generator("perf.webgl-100k")
def _() -> str:
    v = _render(100_000, "webgl")
    return f"pans in {np.median(v['pan']):.0f} ms but takes {np.median(v['zoom']) / 1000:.1f} s per wheel zoom"


GENERATORS["perf.raster-load"] = lambda: _load(_one("bigpool_render", n=1_000_000))
GENERATORS["perf.raster-verdict"] = lambda: "met" if _render(1_000_000, "raster")["zoom"].max() < 500 else "missed"
GENERATORS["perf.bald-verdict"] = lambda: "met" if _baal()["ratio_cpu"] <= 1 else "missed"


@generator("perf.identity")
def _() -> str:
    hashes = {
        line.split()[1].rsplit("/", 1)[1]: line.split()[0]
        for line in (PERF / "identity" / "hashes.txt").read_text().splitlines()
    }
    same = len(set(hashes.values())) == 1
    return ("byte-identical" if same else "DIFFERENT") + f" (SHA-256 `{hashes['after-digits.csv'][:8]}...`)"


# SI probed where F is trained (benchmarks/results/vessels_probe/)

PROBE = RES / "vessels_probe"


@generator("vessels-probe.tables")
def _() -> str:
    text = _script("vessels_probe").table(PROBE)
    # its one line per invocation ("Run ... Command: ...") as a list, so Markdown does not join them
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if not line.startswith("Run "))
    return _printed("\n".join(["- " + line for line in lines[:n]] + ["", *lines[n:]]))


def _probe_diff(strategy: str, t: int) -> str:
    rows = read_results(PROBE / "test" / "results.csv")
    (d,) = [d for d in paired_differences(rows, "si") if d.strategy == strategy and d.round == t]
    return f"{signed(d.mean)} {interval(d)}"


def _probe_soft() -> str:
    return json.loads((PROBE / "choice.json").read_text())["chosen"]


GENERATORS["vessels-probe.soft-t4"] = lambda: _probe_diff(_probe_soft(), 4)
GENERATORS["vessels-probe.soft-t8"] = lambda: _probe_diff(_probe_soft(), 8)
GENERATORS["vessels-probe.ctl-t4"] = lambda: _probe_diff("si-random-dir", 4)
GENERATORS["vessels-probe.ctl-t8"] = lambda: _probe_diff("si-random-dir", 8)


@generator("vessels-probe.validation")
def _() -> str:
    c = json.loads((PROBE / "choice.json").read_text())
    parts = [
        f"{k.replace('si-soft ', '')} {v['score']:.3f}" + (" (chosen)" if k == c["chosen"] else "")
        for k, v in c["scores"].items()
    ]
    seeds = [x for v in c["scores"].values() for x in v["by_seed"].values()]
    return (
        "; ".join(parts).replace("si ", "raw ", 1) + f"; per-seed scores of all five {min(seeds):.2f}-{max(seeds):.2f}"
    )


@generator("vessels-probe.cosine")
def _() -> str:
    d = json.loads((PROBE / "diagnostics.json").read_text())
    cos = np.concatenate([np.asarray(v) for v in d["round1_cosine"].values()])
    return f"{np.median(cos):.2f} ({cos.size} steps)"


@generator("vessels-probe.train-mse")
def _() -> str:
    d = json.loads((PROBE / "diagnostics.json").read_text())["final_raw_model_mse_x1e3"]
    cols = list(next(iter(d.values())))
    v = np.array([[g[c] for c in cols] for g in d.values()])
    ratio = v[:, 1] / v[:, 0]
    return (
        f"{v[:, 0].min():.2f}-{v[:, 0].max():.2f} on x = prepare(G(z)), {v[:, 1].min():.2f}-{v[:, 1].max():.2f} on "
        f"G(z) (the raw probe's input: {ratio.min():.0f}-{ratio.max():.0f}x off) and "
        f"{v[:, 2].min():.2f}-{v[:, 2].max():.2f} on the surrogate"
    )


@generator("vessels-probe.runs")
def _() -> str:
    m = json.loads((PROBE / "meta.json").read_text())["invocations"]
    loads = [x for r in m for x in (r["load_start"][0], r["load_end"][0])]
    return (
        " and ".join(f"{r['wall_s'] / 60:.0f} min" for r in m)
        + f" wall, load average {min(loads):.0f}-{max(loads):.0f} at the starts and ends"
    )


@generator("vessels-probe.reproduces")
def _() -> str:
    return json.loads((PROBE / "meta.json").read_text())["reproduces"].split(": ", 1)[1]


# torch at both ends of its range (benchmarks/results/torch_bounds/)


@generator("torch-range.table")
def _() -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        _script("torch_bounds").table()
    return buf.getvalue()


@generator("torch-range.headline")
def _() -> str:
    recs = [json.loads(p.read_text()) for p in sorted((RES / "torch_bounds").glob("*.json"))]
    same = len({r["results_csv_sha256"] for r in recs}) == 1
    tests = sorted({r["pytest"]["summary"].split(" in ")[0] for r in recs})
    return f"{' and '.join(r['torch'] for r in recs)}: {', '.join(tests)}; digits results.csv " + (
        "identical" if same else "DIFFERS"
    )


# ----------------------------------------------------------------------------------------------
# the live explorer (benchmarks/results/bench_widgets*.json)


@generator("widgets.latency")
def _() -> str:
    d = json.loads((RES / "bench_widgets_final.json").read_text())
    lo, hi = min(d["load_before"][0], d["load_after"][0]), max(d["load_before"][0], d["load_after"][0])
    lines = header(
        "case",
        [
            "load avg (2 cores)",
            "Step, server (median / p90)",
            "of which `state.step`",
            "click-to-paint in the page (median / p90)",
            "click-to-redraw via Playwright (median / p90)",
            "first paint",
        ],
    )
    for key, label in (("digits", "digits, 1,500 pool items"), ("mnist", "MNIST, 60,000 pool items")):
        s, b = d[key], d["browser_" + key]
        lines.append(
            f"| {label} | {lo:.1f}-{hi:.1f} | {s['step_ms_median']:.1f} / {s['step_ms_p90']:.1f} ms | "
            f"{s['state_step_ms_median']:.1f} ms | {b['inpage_click_to_paint_ms_median']:.0f} / "
            f"{b['inpage_click_to_paint_ms_p90']:.0f} ms | {b['click_to_redraw_ms_median']:.0f} / "
            f"{b['click_to_redraw_ms_p90']:.0f} ms | {b['first_paint_s']:.1f} s |"
        )
    # the earlier run: server side and browser side were measured in two calls
    srv = json.loads((RES / "bench_widgets.json").read_text())
    brw = json.loads((RES / "bench_widgets_browser.json").read_text())
    loads = [x["load_before"][0] for x in (srv, brw)] + [x["load_after"][0] for x in (srv, brw)]
    for key, label in (("digits", "digits (earlier run)"), ("mnist", "MNIST (earlier run)")):
        s, b = srv[key], brw["browser_" + key]
        fp = sorted(x["browser_" + key]["first_paint_s"] for x in (srv, brw))
        lines.append(
            f"| {label} | {min(loads):.1f}-{max(loads):.1f} | {s['step_ms_median']:.1f} / {s['step_ms_p90']:.1f} ms | "
            f"{s['state_step_ms_median']:.1f} ms | {b['inpage_click_to_paint_ms_median']:.0f} / "
            f"{b['inpage_click_to_paint_ms_p90']:.0f} ms | {b['click_to_redraw_ms_median']:.0f} / "
            f"{b['click_to_redraw_ms_p90']:.0f} ms | {fp[0]:.1f}-{fp[1]:.1f} s |"
        )
    return block(lines)


def _step_ms(key: str) -> str:
    d = json.loads((RES / "bench_widgets_final.json").read_text())[key]
    return f"{d['step_ms_median']:.1f} ms"


GENERATORS["widgets.step-digits"] = lambda: _step_ms("digits")
GENERATORS["widgets.step-mnist"] = lambda: _step_ms("mnist")


# ----------------------------------------------------------------------------------------------
# the README's first command as it is now (benchmarks/first_command.py -> benchmarks/results/first_command/)

FIRST = ("first_command/a",)
FIRST_ORDER = [(s, s) for s in ("entropy", "random", "snn", "snn-random-dir")]


def _first_json(name: str) -> dict:
    return json.loads((RES / "first_command" / name).read_text())


@generator("readme.first")
def _() -> str:
    return block(mean_std_table(FIRST, FIRST_ORDER))


@generator("readme.first-diff")
def _() -> str:
    order = [(s, s) for s in ("snn", "snn-random-dir", "entropy")]
    rounds = sorted({r["round"] for r in test_rows(*FIRST)})
    return block(diff_table(FIRST, "random", order, [t for t in rounds if t >= 2], mean_col=True))


@generator("readme.first-verdict")
def _() -> str:
    from latentlab.stats import verdict

    return verdict(list(rows(*FIRST)))


@generator("readme.first-why")
def _() -> str:
    for line in (RES / "first_command" / "a" / "summary.md").read_text().splitlines():
        if line.startswith("Why (diagnostics below): "):
            return line.removeprefix("Why (diagnostics below): ")
    raise KeyError("no 'Why' line in first_command/a/summary.md")


@generator("readme.first-step")
def _() -> str:
    loop = _first_json("a/config.json")["loop"]
    grid = [a for a, _ in loop["alpha_grid"]]
    chosen = loop["step"] / loop["nn_spacing"]
    edge = " (the grid's longest: longer steps were not tried)" if np.isclose(chosen, max(grid)) else ""
    return (
        f"{chosen:g} nearest-neighbour spacings{edge} = {loop['step']:.2f} latent units, chosen from "
        f"{', '.join(f'{a:g}' for a in grid)} spacings (spacing {loop['nn_spacing']:.4f}; the paper's "
        f"0.2 is {0.2 / loop['nn_spacing']:.1f})"
    )


@generator("readme.first-snn-mean")
def _() -> str:
    dd = [d for d in paired_differences(list(rows(*FIRST)), "random") if d.strategy == "snn" and d.round >= 2]
    behind = [d.round for d in dd if d.excludes_zero and d.mean < 0]
    sig = (
        f"random significantly ahead at t={','.join(map(str, behind))}"
        if behind
        else "random never significantly ahead"
    )
    return f"{np.mean([d.mean for d in dd]):+.2f} points over t=2..{max(d.round for d in dd)}, {sig}"


@generator("readme.first-target")
def _() -> str:
    dd = [d for d in paired_differences(list(rows(*FIRST)), "random") if d.strategy == "snn" and d.round >= 2]
    ok = np.mean([d.mean for d in dd]) >= -1.0 and not any(d.excludes_zero and d.mean < 0 for d in dd)
    return "reached" if ok else "not reached"


@generator("readme.first-entropy-95")
def _() -> str:
    from latentlab.report import labels_to_reach

    r = labels_to_reach(list(rows(*FIRST)), 95.0)
    never = sorted(s for s, n in r.items() if n is None)
    got = ", ".join(f"{s} at {n}" for s, n in sorted(r.items()) if n is not None) or "none"
    return f"95 % reached by {got} labels" + (f"; {', '.join(never)} never reach it" if never else "")


def _machine_line(m: dict) -> str:
    """A machine.json as one line: CPU, cores, torch and its kernel level, numpy, Python."""
    cpu = f"{m['cpu_model']}, {m['cpu_count']} cores"
    return f"{cpu}, torch {m['torch']} (CPU capability {m['cpu_capability']}), numpy {m['numpy']}, Python {m['python']}"


def _wall_line(r: dict) -> str:
    return f"{r['wall_s']:.0f} s at load {r['loadavg_before'].split()[0]}-{r['loadavg_after'].split()[0]}"


GENERATORS["readme.first-machine"] = lambda: _machine_line(_first_json("a/machine.json"))
GENERATORS["readme.first-wall"] = lambda: _wall_line(_first_json("a/run.json"))


@generator("readme.first-determinism")
def _() -> str:
    d = _first_json("determinism.json")["pairs"]
    ab, ad = d["a-b"], d["a-default"]
    same = "byte-identical" if ab["byte_identical"] else f"NOT byte-identical ({ab['cells_differing']} cells differ)"
    if ad["byte_identical"]:
        other = "byte-identical too"
    else:
        other = (
            f"{ad['cells_differing']} of {ad['cells']} accuracy cells differ, by at most {ad['max_test_items']} "
            f"test items ({ad['max_abs_points']:.2f} points; {ad['mean_abs_points']:.2f} on average) from "
            f"t={ad['first_round_differing']}, a mean over seeds moves by at most "
            f"{ad['max_shift_of_a_seed_mean_points']:.2f} points, SNN - random over t=2..10 is "
            f"{ad['snn_minus_random_t2_10'][1]:+.2f} instead of {ad['snn_minus_random_t2_10'][0]:+.2f}"
            + ("" if ad["same_step"] else "; the grid chose another step")
        )
    return f"two runs on this machine: results.csv {same}; under `ATEN_CPU_CAPABILITY=default`: {other}"


# ----------------------------------------------------------------------------------------------
# the full-size lesson (benchmarks/lesson_time.py -> benchmarks/results/lesson_time/)

LESSON = RES / "lesson_time"


def _lesson_wall(run: str) -> str:
    r = json.loads((LESSON / f"{run}.json").read_text())
    m, s = divmod(round(r["wall_s"]), 60)
    return (
        (f"{m} min {s:02d} s" if m else f"{s} s") + f" wall ({r['user_s'] + r['sys_s']:.0f} s of CPU, "
        f"{r['max_rss_mib']:.0f} MiB; load {r['load_before'].split()[0]} before, {r['load_after'].split()[0]} after, "
        f"{r['cores']} cores; {r['started'][:10]}, commit {r['commit']})"
    )


GENERATORS["lesson.cold"] = lambda: _lesson_wall("cold")
GENERATORS["lesson.warm"] = lambda: _lesson_wall("warm")


def _lesson_tables():
    import pandas as pd

    from latentlab import lesson

    picks, results = pd.read_csv(LESSON / "picks.csv"), read_results(LESSON / "results.csv")
    return picks, results, lesson


def _frame_block(tab, first: str, fmt: str) -> str:
    """A DataFrame as a Markdown table: its index in the first column, every value ``fmt``-formatted."""
    lines = header(first, [str(c) for c in tab.columns])
    return block(lines + [f"| {i} | " + " | ".join(format(v, fmt) for v in row) + " |" for i, row in tab.iterrows()])


GENERATORS["lesson.race"] = lambda: _frame_block(_lesson_tables()[2].same_seed_table(_lesson_tables()[1]), "", ".2f")
GENERATORS["lesson.picks"] = lambda: _frame_block(
    _lesson_tables()[2].summarise_picks(_lesson_tables()[0]), "run", ".3f"
)


@generator("lesson.answers")
def _() -> str:
    picks, results, lesson = _lesson_tables()
    key = lesson.exercise_key(picks, results, seed=int(picks["seed"].min()))
    return ", ".join(f"{k}: `{v['expected']!r}`" for k, v in key.items())


@generator("lesson.vs-readme")
def _() -> str:
    _, results, lesson = _lesson_tables()
    t = max(r["round"] for r in results)
    here = lesson.same_seed_table(results).loc["mean"]
    readme = {s: values(test_rows(*FIRST), s, t).mean() for s in here.index}
    same = [s for s in here.index if f"{readme[s]:.2f}" == f"{here[s]:.2f}"]
    other = [s for s in here.index if s not in same]
    text = f"at t={t} " + " and ".join(f"{s} ({here[s]:.2f})" for s in same) + " equal the README's to the last digit"
    if other:
        text += "; " + ", ".join(f"{s} differs ({here[s]:.2f} here, {readme[s]:.2f} there)" for s in other)
    return text


# ----------------------------------------------------------------------------------------------
# the machinery


def doc_paths(root: Path = ROOT) -> list[Path]:
    out: list[Path] = []
    for pat in DOC_FILES:
        out += sorted(root.glob(pat))
    return out


def render(text: str, strict: bool = True) -> str:
    """``text`` with every marked block and inline number regenerated."""

    def gen(name: str) -> str:
        if name not in GENERATORS:
            if strict:
                raise KeyError(f"marker names unknown generator {name!r} (known: python benchmarks/tables.py --list)")
            return None
        return GENERATORS[name]()

    def sub_block(m: re.Match) -> str:
        out = gen(m.group(3))
        if out is None:
            return m.group(0)
        indent = m.group(1)
        body = "".join(indent + line if line.strip() else line for line in out.splitlines(True))
        return indent + m.group(2) + body + m.group(5)

    def sub_inline(m: re.Match) -> str:
        out = gen(m.group(2))
        return m.group(0) if out is None else m.group(1) + out + m.group(4)

    return INLINE.sub(sub_inline, BLOCK.sub(sub_block, text))


def used_names(paths: Iterable[Path]) -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for p in paths:
        text = p.read_text()
        for name in [m.group(3) for m in BLOCK.finditer(text)] + [m.group(2) for m in INLINE.finditer(text)]:
            where.setdefault(name, []).append(str(p.relative_to(ROOT)))
    return where


def check(paths: Iterable[Path]) -> list[str]:
    """Unified diffs of every file whose markers are out of date (empty: all current)."""
    out = []
    for p in paths:
        old = p.read_text()
        new = render(old)
        if new != old:
            rel = str(p.relative_to(ROOT))
            out.append(
                "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), rel, rel + " (generated)"))
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("names", nargs="*", help="generators to print")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="regenerate every marked block in place")
    g.add_argument("--check", action="store_true", help="exit 1 when a marked block differs from its generator")
    g.add_argument("--list", action="store_true", help="the generators and the files that use them")
    a = ap.parse_args(argv)
    paths = doc_paths()
    if a.list:
        where = used_names(paths)
        for name in sorted(GENERATORS):
            print(f"{name}: {', '.join(sorted(set(where.get(name, [])))) or 'unused'}")
        return 0
    if a.check:
        bad = check(paths)
        for d in bad:
            print(d)
        if bad:
            print("generated tables are out of date: run `python benchmarks/tables.py --write`", file=sys.stderr)
        return 1 if bad else 0
    if a.write:
        for p in paths:
            old = p.read_text()
            new = render(old)
            if new != old:
                p.write_text(new)
                print(f"rewrote {p.relative_to(ROOT)}")
        return 0
    for name in a.names or sorted(GENERATORS):
        if name not in GENERATORS:
            print(f"unknown generator {name!r}; --list shows them", file=sys.stderr)
            return 2
        print(f"== {name}\n{GENERATORS[name]()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
