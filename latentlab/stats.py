"""Statistics that say what a run's numbers say: paired differences with confidence intervals.

Every strategy of one seed starts from the same initial set and trains with the same per-round
seeds, so the fair comparison of strategy S against a baseline B is *paired*: for each seed,
``d = S - B`` at the same round, then the mean of ``d`` over seeds with a 95% interval. A paired
t interval is the default (few seeds, differences close to normal); a percentile bootstrap over
seeds is available as a check (it needs no normality but is too narrow with 3-5 seeds).

``summary.md``, ``latentlab compare RUN_DIR`` and BENCHMARKS.md all quote :func:`paired_differences`,
so a number in the docs is reproducible from a ``results.csv`` by one command.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "PairedDifference",
    "paired_differences",
    "differences_table",
    "protocol_checks",
    "test_metric_rows",
    "verdict",
    "stepping_with_control",
]


@dataclass(frozen=True)
class PairedDifference:
    """Strategy minus baseline at one round, over the seeds both have."""

    strategy: str
    baseline: str
    round: int
    n_labelled: float
    n_seeds: int
    mean: float  # mean over seeds of (strategy - baseline)
    ci_low: float  # 95% interval of the mean difference (nan with one seed)
    ci_high: float
    n_ahead: int  # seeds where the strategy is better than the baseline (direction-aware)
    higher_is_better: bool = True

    @property
    def excludes_zero(self) -> bool:
        return bool(np.isfinite(self.ci_low) and (self.ci_low > 0 or self.ci_high < 0))


def test_metric_rows(rows: list[dict]) -> list[dict]:
    """The rows of the test metric (results.csv also holds ``val_*`` rows when a run has a validation set)."""
    return [r for r in rows if not str(r["metric"]).startswith("val_")]


def _interval(d: np.ndarray, method: str, level: float, seed: int) -> tuple[float, float]:
    n = d.size
    if n < 2:
        return float("nan"), float("nan")
    if method == "t":
        from scipy import stats

        half = stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
        return float(d.mean() - half), float(d.mean() + half)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, n, (10_000, n))].mean(1)
        lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
        return float(lo), float(hi)
    raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")


def paired_differences(
    rows: list[dict],
    baseline: str = "random",
    *,
    metric: str | None = None,
    higher_is_better: bool | None = None,
    method: str = "t",
    level: float = 0.95,
    seed: int = 0,
) -> list[PairedDifference]:
    """Per (strategy, round): mean of strategy - baseline over the seeds both ran, with a ``level`` interval.

    Parameters
    ----------
    rows : tidy rows (``report.read_results`` / ``run_experiment``'s return value)
    baseline : the strategy every other one is compared with
    metric : which metric's rows (default: the test metric, the first non-``val_`` metric)
    higher_is_better : default: what the task reporting ``metric`` says (:func:`latentlab.tasks.higher_is_better`)
    method : ``"t"`` (paired t interval) or ``"bootstrap"`` (percentile bootstrap over seeds, seeded)
    """
    if metric is None:
        test = test_metric_rows(rows)
        metric = test[0]["metric"] if test else None
    sel = [r for r in rows if r["metric"] == metric]
    if higher_is_better is None and metric is not None:
        from .tasks import higher_is_better as task_says

        higher_is_better = task_says(str(metric))
    table: dict = {}
    for r in sel:
        table.setdefault(r["strategy"], {}).setdefault(r["round"], {})[r["seed"]] = (r["value"], r["n_labelled"])
    if baseline not in table:
        from .exceptions import ConfigError

        raise ConfigError(
            f"baseline strategy {baseline!r} is not in the results (strategies: "
            f"{', '.join(sorted(table)) or 'none'}); pass --baseline with one of them"
        )
    out = []
    for s in sorted(table):
        if s == baseline:
            continue
        for t in sorted(table[s]):
            base = table[baseline].get(t, {})
            seeds = sorted(set(table[s][t]) & set(base))
            if not seeds:
                continue
            d = np.array([table[s][t][k][0] - base[k][0] for k in seeds])
            lo, hi = _interval(d, method, level, seed)
            ahead = int(np.sum(d > 0) if higher_is_better else np.sum(d < 0))
            out.append(
                PairedDifference(
                    s,
                    baseline,
                    int(t),
                    float(np.mean([table[s][t][k][1] for k in seeds])),
                    len(seeds),
                    float(d.mean()),
                    lo,
                    hi,
                    ahead,
                    higher_is_better,
                )
            )
    return out


def differences_table(diffs: list[PairedDifference], digits: int = 2, metric: str = "", method: str = "t") -> str:
    """Markdown: one row per strategy, one column per round, ``mean [low, high] k/n`` per cell."""
    if not diffs:
        return "(no paired differences: one strategy, or no seeds in common)\n"
    rounds = sorted({d.round for d in diffs})
    base = diffs[0].baseline
    lines = [
        "| strategy - " + base + " | " + " | ".join(f"t={t}" for t in rounds) + " |",
        "|---|" + "---|" * len(rounds),
    ]
    for s in sorted({d.strategy for d in diffs}):
        cells = []
        by_t = {d.round: d for d in diffs if d.strategy == s}
        for t in rounds:
            d = by_t.get(t)
            if d is None:
                cells.append("")
                continue
            ci = f" [{d.ci_low:+.{digits}f}, {d.ci_high:+.{digits}f}]" if np.isfinite(d.ci_low) else ""
            star = "*" if d.excludes_zero else ""
            cells.append(f"{d.mean:+.{digits}f}{ci}{star} {d.n_ahead}/{d.n_seeds}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    better = "higher" if diffs[0].higher_is_better else "lower"
    kind = "paired-t" if method == "t" else "bootstrap"
    return (
        f"Paired differences{' of ' + metric if metric else ''} (strategy - {base}, same seed = same initial "
        f"set), mean over seeds [95% {kind} interval]; * = the interval excludes 0; k/n = seeds where the "
        f"strategy is better ({better} is better).\n\n" + "\n".join(lines) + "\n"
    )


def protocol_checks(
    rows: list[dict],
    *,
    n_classes: int = 0,
    test_counts=None,
    source_test_counts=None,
    shared_initial: set | None = None,
    higher_is_better: bool = True,
    constant_error: float | None = None,
) -> list[tuple[bool, str]]:
    """Run-time invariants a broken protocol cannot pass; ``[(ok, message), ...]``.

    ``constant_error`` (regression): the test metric of predicting the test set's mean target for
    every item, the regression analogue of chance; the t=1 error must be below it.

    * every strategy of one seed that starts from the shared random initial set has the same t=1 value;
    * (classification) no class is missing from the test set, and its class counts are proportional
      (within 1) to those of the full test set it was drawn from;
    * (classification) the t=1 accuracy is clearly above chance (the majority-class rate of the test set).
    """
    checks: list[tuple[bool, str]] = []
    test = test_metric_rows(rows)
    first_values = [r["value"] for r in test if r["round"] == 1]
    if constant_error is not None and first_values and not higher_is_better:
        worst = max(first_values)
        checks.append(
            (
                worst < constant_error,
                f"t=1 error below a constant prediction (the test set's mean target): highest {worst:.3g} vs "
                f"{constant_error:.3g}"
                + ("" if worst < constant_error else "; the target is undertrained at t=1: more steps per round"),
            )
        )
    t1: dict = {}
    for r in test:
        if r["round"] == 1 and (shared_initial is None or r["strategy"] in shared_initial):
            t1.setdefault(r["seed"], {})[r["strategy"]] = r["value"]
    multi = {k: v for k, v in t1.items() if len(v) > 1}
    if multi:
        bad = {k: v for k, v in multi.items() if len(set(v.values())) > 1}
        checks.append(
            (
                not bad,
                "same t=1 result for every strategy of a seed (shared initial set): "
                + ("yes" if not bad else "NO, differs for seed(s) " + ", ".join(map(str, sorted(bad)))),
            )
        )
    if n_classes and test_counts is not None:
        counts = np.asarray(test_counts)
        missing = [i for i in range(n_classes) if counts[i] == 0]
        checks.append(
            (
                not missing,
                "every class present in the test set: "
                + ("yes" if not missing else f"NO, missing class(es) {missing}"),
            )
        )
        if source_test_counts is not None:
            src = np.asarray(source_test_counts, float)
            want = src * counts.sum() / src.sum()
            dev = float(np.max(np.abs(counts - want)))
            checks.append(
                (
                    dev <= 1.0 + 1e-9,
                    f"test class counts proportional to the full test set (max deviation {dev:.1f} items)",
                )
            )
        chance = 100.0 * counts.max() / max(counts.sum(), 1)
        first = [r["value"] for r in test if r["round"] == 1]
        if first and higher_is_better:
            worst = min(first)
            # "clearly above": at least half-way from chance to a perfect score, or 1.5 x chance, whichever is lower
            need = min(chance + (100.0 - chance) / 2, 1.5 * chance)
            checks.append(
                (
                    worst >= need,
                    f"t=1 accuracy above chance: lowest {worst:.1f}% vs chance "
                    f"(majority class) {chance:.1f}%, required >= {need:.1f}%",
                )
            )
    return checks


CONTROL_SUFFIX = "-random-dir"  # a stepping strategy's control: the same step length in a random direction


def _rounds_text(ts: list[int]) -> str:
    return "t=" + ",".join(map(str, ts))


def _mean_and_significant(diffs: list[PairedDifference], first_round: int) -> tuple[float, list[int], list[int]]:
    """Mean difference over rounds >= ``first_round``; rounds where the strategy / the other is significantly ahead."""
    ds = [d for d in diffs if d.round >= first_round]
    if not ds:
        return float("nan"), [], []
    sign = 1 if ds[0].higher_is_better else -1
    ahead = [d.round for d in ds if d.excludes_zero and sign * d.mean > 0]
    behind = [d.round for d in ds if d.excludes_zero and sign * d.mean < 0]
    return float(np.mean([d.mean for d in ds])), ahead, behind


def stepping_with_control(rows: list[dict], baseline: str = "random") -> str | None:
    """The first strategy ``S`` of ``rows`` run beside its control ``S-random-dir`` and ``baseline``."""
    strategies = {r["strategy"] for r in test_metric_rows(rows)}
    pairs = [s for s in sorted(strategies) if s + CONTROL_SUFFIX in strategies]
    return pairs[0] if pairs and baseline in strategies else None


def verdict(rows: list[dict], baseline: str = "random", first_round: int = 2) -> str | None:
    """One line saying what a run's paired statistics show about its stepping strategy.

    Needs a strategy ``S`` and its control ``S-random-dir`` (and ``baseline``) in ``rows``: ``S`` is
    compared with ``baseline`` and with the control by :func:`paired_differences` (t intervals,
    95 %) over rounds ``first_round``.. (t=1 is the shared initial set). None when the run has no
    such pair."""
    s = stepping_with_control(rows, baseline)
    if s is None:
        return None
    control = s + CONTROL_SUFFIX
    last = max(r["round"] for r in rows)
    span = f"t={first_round}..{last}"
    vs_base = [d for d in paired_differences(rows, baseline) if d.strategy == s]
    vs_ctl = [d for d in paired_differences(rows, control) if d.strategy == s]
    m_b, ahead_b, behind_b = _mean_and_significant(vs_base, first_round)
    m_c, ahead_c, behind_c = _mean_and_significant(vs_ctl, first_round)
    unit = "points" if vs_base and vs_base[0].higher_is_better else "(metric units)"
    line = f"Verdict: {s} vs {baseline} {m_b:+.2f} {unit} on average over {span}, "
    line += (
        f"{baseline} significantly ahead at {_rounds_text(behind_b)}"
        if behind_b
        else f"{baseline} significantly ahead at no round"
    )
    if ahead_b:
        line += f", {s} significantly ahead at {_rounds_text(ahead_b)}"
    line += f"; {s} vs its random-direction control {m_c:+.2f}: "
    if not ahead_c and not behind_c:
        line += "no significant difference in any round, so on this map the gradient adds nothing "
        line += "over a step of the same length."
    elif ahead_c and not behind_c:
        line += (
            f"ahead at {_rounds_text(ahead_c)}, so the gradient adds something over a random step of the same length."
        )
    elif behind_c and not ahead_c:
        line += f"behind at {_rounds_text(behind_c)}, so the gradient leads to worse picks than a random step."
    else:
        line += f"ahead at {_rounds_text(ahead_c)} and behind at {_rounds_text(behind_c)}: "
        line += "no consistent effect of the gradient."
    return line + " (paired 95 % t intervals over seeds)"
