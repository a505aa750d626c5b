"""Command line: ``latentlab run`` (an experiment), ``tune`` (settings chosen on the validation set),
``compare`` (paired differences between strategies), and sub-commands that live in their own modules.

Errors latentlab raises on purpose (bad settings, missing files, a foreign output folder)
print as one line naming the fix and exit with status 2, never as a traceback.

Adding a sub-command: write a module with ``configure_parser(parser)`` (its arguments and
``parser.set_defaults(func=...)``) and add one line to :data:`COMMANDS`. The module is imported
only when its sub-command is used, so ``latentlab run`` never loads Panel or Bokeh.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from pathlib import Path

from ._version import __version__
from .exceptions import ConfigError, LatentLabError

__all__ = [
    "main",
    "build_parser",
    "add_run_arguments",
    "add_threads_argument",
    "check_common",
    "config_from_args",
    "load_choice",
    "COMMANDS",
]

# sub-command -> (module, one-line help); the module is imported when the sub-command is parsed
COMMANDS = {
    "sweep": (
        "latentlab.sweep",
        "run a notebook once per grid point (papermill), locally or on Dask; gather one tidy table",
    ),
    "explore": ("latentlab.widgets.app", "serve the live 2-D latent explorer in a browser (Panel app)"),
    "notebooks": ("latentlab.resources", "copy the paper notebooks and sweep grids into DIR (no DIR: list them)"),
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose arguments may come from a module imported on first use."""

    def __init__(self, *args, lazy_module: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy_module = lazy_module

    def _configure(self):
        if self._lazy_module is None:
            return
        name, self._lazy_module = self._lazy_module, None
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise ConfigError(
                f"'{self.prog}' needs {e.name}: pip install 'latentlab-sampling[dev]' (or the extra that provides it)"
            ) from None
        mod.configure_parser(self)

    def parse_known_args(self, args=None, namespace=None):
        self._configure()
        return super().parse_known_args(args, namespace)

    def error(self, message):
        """A bad flag is one line (and exit 2), like every other input error."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def format_help(self):
        self._configure()
        return super().format_help()


def add_run_arguments(r) -> None:
    """The flags of ``latentlab run`` (shared with ``latentlab tune``): one per setting of
    :data:`latentlab.config.RUN_SETTINGS`, then the flags that are not settings. Every setting defaults
    to None = "not given": the config's default, the data set's, the profile's or the ``--config``
    file's value applies (see :func:`config_from_args`)."""
    from .config import RUN_SETTINGS
    from .profiles import PROFILES

    for setting in RUN_SETTINGS:
        setting.add_to(r)
    r.add_argument("--data-root", help="folder holding the data set's files (or its usual sub-folder)")
    r.add_argument(
        "--config", help="JSON file of chosen settings (as written by 'latentlab tune'); explicit flags override it"
    )
    r.add_argument(
        "--profile",
        choices=list(PROFILES),
        help="bundle of defaults for CIFAR-10 (alpha-GAN + VGG16); explicit flags override it",
    )
    r.add_argument("--device", help="cpu, cuda, or auto (default: the profile's, else cpu)")
    r.add_argument("--out", help="output folder (default runs/latest; runs/tune for tune)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out (same settings)")
    g.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run the (strategy, seed) jobs on N processes, one torch thread each (default 1)",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="send the (strategy, seed) jobs to this Dask scheduler (tcp://host:8786) instead of local "
        "processes; the cache and --out must be shared with its workers (same paths)",
    )
    add_threads_argument(r)


def add_threads_argument(p) -> None:
    """``--threads N``: torch threads of this process (default: the measured policy, see latentlab.threads)."""
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of this process (default 1, with passive OpenMP waiting: fastest on a "
        "busy machine, and the same numbers as --workers; see BENCHMARKS.md)",
    )


def check_common(a) -> None:
    """Checks of flags that are not settings (--workers, --threads, --out), before any work."""
    from .checks import check_int
    from .run_folder import check_writable

    if getattr(a, "workers", None) is not None:
        check_int("workers", a.workers, 1)
    if getattr(a, "threads", None) is not None:
        check_int("threads", a.threads, 1)
    if getattr(a, "out", None):
        check_writable(a.out)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="latentlab", description="Adaptive latent-space sampling experiments.")
    p.add_argument("--version", action="version", version=f"latentlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run strategies x seeds on one data set; write results.csv, summary.md, curves")
    add_run_arguments(r)
    r.add_argument(
        "--retrain-generator",
        action="store_true",
        help="train the generator afresh even if the cache or latentlab's shipped weights have it",
    )
    r.set_defaults(func=cmd_run)
    t = sub.add_parser(
        "tune",
        help="choose settings on the validation set: run a grid for a few rounds over seeds, "
        "pick by the validation metric, write tune.json for 'run --config'",
    )
    add_run_arguments(t)
    t.add_argument(
        "--grid",
        nargs="+",
        required=True,
        metavar="KEY=V1,V2",
        help="settings to try, e.g. alpha=0.1,0.2,0.5 loss_on=decoded,real (flag names or dotted "
        "config paths such as loop.train.min_steps)",
    )
    t.set_defaults(func=cmd_tune)
    c = sub.add_parser(
        "compare",
        help="paired differences of every strategy against a baseline, with 95%% CIs, from one or more run folders",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    c.add_argument("runs", nargs="+", help="run folder(s) holding results.csv (several are merged)")
    c.add_argument("--baseline", default="random", help="strategy every other one is compared with")
    c.add_argument(
        "--metric",
        default=None,
        help="metric rows to compare (default: the test metric; e.g. val_accuracy for the validation set)",
    )
    c.add_argument(
        "--method",
        default="t",
        choices=["t", "bootstrap"],
        help="paired t interval, or a percentile bootstrap over seeds",
    )
    c.set_defaults(func=cmd_compare)
    for name, (module, help_) in COMMANDS.items():
        sub.add_parser(
            name,
            help=help_,
            description=help_,
            lazy_module=module,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
    return p


def load_choice(path) -> dict:
    """``{"dotted.path": value}`` chosen settings from a ``tune.json`` (its ``choice``) or a plain JSON object."""
    import json

    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file; give the tune.json written by 'latentlab tune'") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ConfigError(
            f"--config {path} is not valid JSON ({e}); give the tune.json written by 'latentlab tune'"
        ) from None
    choice = d.get("choice", d) if isinstance(d, dict) else None
    if not isinstance(choice, dict):
        raise ConfigError(f'--config {path}: expected a JSON object of settings like {{"loop.alpha": 0.5}}')
    return choice


def config_from_args(a):
    """ExperimentConfig from parsed ``run``/``tune`` flags: the flags given (not None) win over the
    ``--config`` file, which wins over the profile, which wins over the defaults
    (:func:`latentlab.config.config_from_settings`)."""
    from .config import SETTINGS, config_from_settings

    given = {k: getattr(a, k, None) for k in SETTINGS}
    cfg = config_from_settings(given, profile=getattr(a, "profile", None))
    if getattr(a, "config", None):
        explicit = {SETTINGS[k] for k, v in given.items() if v is not None and (k != "cold_start" or v)}
        cfg = cfg.override({k: v for k, v in load_choice(a.config).items() if k not in explicit})
    return cfg


@contextlib.contextmanager
def _scheduler_client(a):
    """The Dask client of ``--scheduler`` (None without it), reached before any work, closed afterwards."""
    if not getattr(a, "scheduler", None):
        yield None
        return
    from .executor import connect_scheduler

    client = connect_scheduler(a.scheduler)
    try:
        yield client
    finally:
        client.close()


def _job_kwargs(a) -> dict:
    """What ``run`` and ``tune`` pass on from their shared flags."""
    return dict(
        data_root=a.data_root,
        overwrite=a.overwrite,
        progress=not a.quiet,
        device=_device_from_args(a),
        workers=a.workers,
    )


def _device_from_args(a):
    from .profiles import get_profile, resolve_device

    spec = a.device or (get_profile(a.profile).device if getattr(a, "profile", None) else "cpu")
    try:
        return resolve_device(spec)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def cmd_run(a) -> int:
    from .experiment import run_experiment
    from .threads import set_thread_policy

    a.out = a.out or "runs/latest"
    cfg = config_from_args(a).validate()
    check_common(a)
    set_thread_policy(a.threads)
    if getattr(a, "retrain_generator", False):  # once, here: every worker then finds the new weights in the cache
        from .experiment import prepare

        prepare(cfg, a.data_root, progress=not a.quiet, device=_device_from_args(a), retrain_generator=True)
    with _scheduler_client(a) as client:
        run_experiment(cfg, a.out, resume=a.resume, client=client, **_job_kwargs(a))
    out = Path(a.out)
    print((out / "summary.md").read_text())
    print(f"wrote {out / 'results.csv'}, {out / 'summary.md'}, {out / 'learning_curves.png'}")
    return 0


def cmd_tune(a) -> int:
    from .threads import set_thread_policy
    from .tune import parse_grid, tune

    a.out = a.out or "runs/tune"
    cfg = config_from_args(a).validate()
    check_common(a)
    set_thread_policy(a.threads)
    grid = parse_grid(a.grid, cfg)
    with _scheduler_client(a) as client:
        result = tune(cfg, grid, a.out, client=client, **_job_kwargs(a))
    print(result.markdown())
    print(f"wrote {result.path}; use it with: latentlab run --config {result.path} ...")
    return 0


def cmd_compare(a) -> int:
    from .report import read_results, summary_table
    from .stats import differences_table, paired_differences

    rows, seen = [], {}
    for d in a.runs:
        f = Path(d) / "results.csv" if Path(d).is_dir() else Path(d)
        if not f.is_file():
            raise ConfigError(f"{d}: no results.csv there; give a folder written by 'latentlab run'")
        for r in read_results(f):
            key = (r["strategy"], r["seed"], r["round"], r["metric"])
            if key in seen and seen[key] != r["value"]:
                raise ConfigError(
                    f"{f} and another folder both hold {key[0]} seed {key[1]} round {key[2]} with "
                    "different values; compare runs of distinct seeds or strategies"
                )
            if key not in seen:
                seen[key] = r["value"]
                rows.append(r)
    import warnings

    from .machine import kernel_path_warnings

    for w in kernel_path_warnings([Path(d) if Path(d).is_dir() else Path(d).parent for d in a.runs]):
        warnings.warn(w, stacklevel=1)
    metric = a.metric
    print(summary_table(rows, metric=metric))
    diffs = paired_differences(rows, a.baseline, metric=metric, method=a.method)
    print(differences_table(diffs, metric=metric or "", method=a.method))
    return 0


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"latentlab: warning: {message}\n"


def main(argv=None) -> int:
    import warnings

    fmt, warnings.formatwarning = warnings.formatwarning, _warning_line  # one line, like errors
    try:
        a = build_parser().parse_args(argv)
        return a.func(a)
    except LatentLabError as e:
        print(f"latentlab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the machine, not latentlab: a folder not writable, a device gone, ...
        import errno

        hint = (
            "free some space, then rerun with --resume"
            if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", 0))
            else "check the path and its permissions"
        )
        print(
            f"latentlab: error: {e.strerror or e} ({getattr(e, 'filename', None) or 'file'}); {hint}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("latentlab: interrupted; rerun with --resume to continue from the last complete round", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = fmt


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
