"""Command line: ``latentlab run`` (an experiment) and sub-commands that live in their own modules.

Errors latentlab raises on purpose (bad settings, missing files, a foreign output folder)
print as one line naming the fix and exit with status 2, never as a traceback.

Adding a sub-command: write a module with ``configure_parser(parser)`` (its arguments and
``parser.set_defaults(func=...)``) and add one line to :data:`COMMANDS`. The module is imported
only when its sub-command is used, so ``latentlab run`` never loads Panel or Bokeh.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .exceptions import ConfigError, LatentLabError

__all__ = ["main", "build_parser", "config_from_args", "COMMANDS"]

# sub-command -> (module, one-line help); the module is imported when the sub-command is parsed
COMMANDS = {
    "sweep": ("latentlab.sweep", "run a notebook once per grid point (papermill), locally or on Dask; "
                                 "gather one tidy table"),
    "explore": ("widgets.app", "serve the live 2-D latent explorer in a browser (Panel app)"),
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
            raise ConfigError(f"'{self.prog}' needs {e.name}: pip install 'latentlab[dev]' "
                              "(or the extra that provides it)") from None
        mod.configure_parser(self)

    def parse_known_args(self, args=None, namespace=None):
        self._configure()
        return super().parse_known_args(args, namespace)

    def format_help(self):
        self._configure()
        return super().format_help()


def _int_list(s: str) -> tuple:
    try:
        return tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got {s!r}") from None


def _str_list(s: str) -> tuple:
    return tuple(v.strip() for v in s.split(",") if v.strip())


def _default(name: str) -> str:
    """The ExperimentConfig default behind setting ``name``, for help texts (flags default to None)."""
    from .experiment import SETTINGS, ExperimentConfig

    v = ExperimentConfig().get(SETTINGS[name])
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v) or "none"
    return "none" if v is None else str(v)


def _add_run_arguments(r) -> None:
    """``latentlab run``'s flags. Every setting defaults to None = "not given": the config's default,
    the data set's or the profile's value applies (see :func:`latentlab.experiment.config_from_settings`)."""
    from .strategies import STRATEGIES

    d = _default
    r.add_argument("--dataset", help=f"digits (embedded), mnist, cifar10, vessels (default {d('dataset')})")
    r.add_argument("--data-root", help="folder holding the data set's files (or its usual sub-folder)")
    r.add_argument("--strategy", type=_str_list,
                   help=f"comma-separated: {', '.join(sorted(STRATEGIES))} (si: vessels) (default {d('strategy')})")
    r.add_argument("--rounds", type=int, help=f"rounds t = 1..N (default {d('rounds')})")
    r.add_argument("--initial", type=int, help=f"size of the random initial set T(1) (default {d('initial')})")
    r.add_argument("--per-round", type=int,
                   help=f"items labelled per round (the paper's J) (default {d('per_round')})")
    r.add_argument("--seeds", type=_int_list, help=f"comma-separated seeds (default {d('seeds')})")
    r.add_argument("--alpha", type=float, help=f"latent step length of Eq. 2 (prior std 1) (default {d('alpha')})")
    r.add_argument("--epochs", type=float, help=f"target-model epochs per round (default {d('epochs')})")
    r.add_argument("--min-steps", type=int,
                   help=f"floor on target-model optimiser steps per round (default {d('min_steps')})")
    r.add_argument("--batch-size", type=int, help=f"target-model minibatch (default {d('batch_size')})")
    r.add_argument("--lr", type=float, help=f"target-model Adam learning rate (default {d('lr')})")
    r.add_argument("--cold-start", action="store_true", default=None,
                   help="retrain the target model from scratch each round (default: warm start)")
    r.add_argument("--loss-on", choices=["decoded", "real"], help=f"see latent_gradient (default {d('loss_on')})")
    r.add_argument("--target", help=f"target model (default {d('target')}; the data set's own, e.g. s6 for vessels)")
    r.add_argument("--gen-epochs", type=float, help=f"generator training epochs (default {d('gen_epochs')})")
    r.add_argument("--gen-min-steps", type=int,
                   help=f"floor on generator optimiser steps (default {d('gen_min_steps')})")
    r.add_argument("--latent-dim", type=int, help=f"latent dimension (default {d('latent_dim')})")
    r.add_argument("--gen-seed", type=int,
                   help=f"generator seed (one generator shared by all run seeds) (default {d('gen_seed')})")
    r.add_argument("--budget", type=int, help="stop before exceeding this many labels (default none)")
    r.add_argument("--target-metric", type=float, help="stop once the test metric reaches this (default none)")
    r.add_argument("--candidates", type=int,
                   help="entropy: score this many random unlabelled items (default all)")
    r.add_argument("--n-pool", type=int, help="use a seeded stratified subset of N pool items (default all)")
    r.add_argument("--n-test", type=int, help="use a seeded stratified subset of N test items (default all)")
    r.add_argument("--gen-kind", help=f"generator: vae (MNIST, digits) or alphagan (CIFAR-10) (default {d('gen_kind')})")
    r.add_argument("--gen-hidden", type=int,
                   help="generator width: VAE hidden units (default 400), alpha-GAN base channels (default 64)")
    r.add_argument("--target-width", type=float, help="channel multiplier of the target model (default 1)")
    r.add_argument("--profile", choices=["cpu", "paper"],
                   help="bundle of defaults for CIFAR-10 (alpha-GAN + VGG16); explicit flags override it")
    r.add_argument("--device", help="cpu, cuda, or auto (default: the profile's, else cpu)")
    r.add_argument("--out", default="runs/latest", help="output folder (default runs/latest)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out (same settings)")
    g.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="latentlab", description="Adaptive latent-space sampling experiments.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run strategies x seeds on one data set; write results.csv, summary.md, curves")
    _add_run_arguments(r)
    for name, (module, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, description=help_, lazy_module=module,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    return p


def config_from_args(a):
    """ExperimentConfig from parsed ``run`` flags: the flags given (not None) over the profile's values
    over the defaults (:func:`latentlab.experiment.config_from_settings`)."""
    from .experiment import SETTINGS, config_from_settings

    return config_from_settings({k: getattr(a, k, None) for k in SETTINGS}, profile=getattr(a, "profile", None))


def _device_from_args(a):
    from .profiles import get_profile, resolve_device

    spec = a.device or (get_profile(a.profile).device if getattr(a, "profile", None) else "cpu")
    try:
        return resolve_device(spec)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def cmd_run(a) -> int:
    from .experiment import run_experiment

    cfg = config_from_args(a).validate()
    run_experiment(cfg, a.out, data_root=a.data_root, resume=a.resume, overwrite=a.overwrite, progress=not a.quiet,
                   device=_device_from_args(a))
    out = Path(a.out)
    print((out / "summary.md").read_text())
    print(f"wrote {out / 'results.csv'}, {out / 'summary.md'}, {out / 'learning_curves.png'}")
    return 0


def main(argv=None) -> int:
    try:
        a = build_parser().parse_args(argv)
        return a.func(a)
    except LatentLabError as e:
        print(f"latentlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentlab: interrupted; rerun with --resume to continue from the last complete round", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
