"""Command line: ``latentlab run`` (an experiment), more sub-commands as they land.

Errors latentlab raises on purpose (bad settings, missing files, a foreign output folder)
print as one line naming the fix and exit with status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .exceptions import ConfigError, LatentLabError

__all__ = ["main", "build_parser"]


def _int_list(s: str) -> tuple:
    try:
        return tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got {s!r}") from None


def _str_list(s: str) -> tuple:
    return tuple(v.strip() for v in s.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentlab", description="Adaptive latent-space sampling experiments.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run strategies x seeds on one data set; write results.csv, summary.md, curves",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--dataset", default="digits", help="digits (embedded), mnist, cifar10, ...")
    r.add_argument("--data-root", default=None, help="folder holding the data set's files (or its usual sub-folder)")
    r.add_argument("--strategy", type=_str_list, default=("random", "snn"),
                   help="comma-separated: random, snn, snn-random-dir, entropy")
    r.add_argument("--rounds", type=int, default=10, help="rounds t = 1..N")
    r.add_argument("--initial", type=int, default=100, help="size of the random initial set T(1)")
    r.add_argument("--per-round", type=int, default=100, help="items labelled per round (J)")
    r.add_argument("--seeds", type=_int_list, default=(0,), help="comma-separated seeds")
    r.add_argument("--alpha", type=float, default=0.2, help="latent step length of Eq. 2 (prior std 1)")
    r.add_argument("--epochs", type=float, default=10, help="target-model epochs per round")
    r.add_argument("--min-steps", type=int, default=300, help="floor on target-model optimiser steps per round")
    r.add_argument("--batch-size", type=int, default=64, help="target-model minibatch")
    r.add_argument("--lr", type=float, default=1e-3, help="target-model Adam learning rate")
    r.add_argument("--cold-start", action="store_true", help="retrain the target model from scratch each round")
    r.add_argument("--loss-on", default="decoded", choices=["decoded", "real"], help="see latent_gradient")
    r.add_argument("--target", default="lenet", help="target model")
    r.add_argument("--gen-epochs", type=float, default=30, help="generator (VAE) training epochs")
    r.add_argument("--gen-min-steps", type=int, default=3000, help="floor on generator optimiser steps")
    r.add_argument("--latent-dim", type=int, default=2, help="latent dimension")
    r.add_argument("--gen-seed", type=int, default=0, help="generator seed (one generator shared by all run seeds)")
    r.add_argument("--budget", type=int, default=None, help="stop before exceeding this many labels")
    r.add_argument("--target-metric", type=float, default=None, help="stop once the test metric reaches this")
    r.add_argument("--candidates", type=int, default=None, help="entropy: score this many random unlabelled items")
    r.add_argument("--n-pool", type=int, default=None, help="use a seeded random subset of the pool")
    r.add_argument("--n-test", type=int, default=None, help="use the first N test items")
    r.add_argument("--out", default="runs/latest", help="output folder")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out (same settings)")
    g.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)
    # Sub-commands that live in their own modules: each module defines
    # ``configure_parser(parser)`` (adding its arguments and ``set_defaults(func=...)``) and a help line
    # ``HELP``. A module whose optional dependencies are missing is listed with the install hint.
    import importlib

    for name, module in PLUGIN_COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name in (module, module.split(".")[0] + "." + module.split(".")[1]):
                continue  # the module itself is absent (not built yet): no sub-command
            sp = sub.add_parser(name, help=f"(unavailable: {e.name} is not installed)")
            sp.set_defaults(func=_missing(name, e))
            continue
        sp = sub.add_parser(name, help=mod.HELP, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        mod.configure_parser(sp)
    return p


# sub-command -> module; modules that do not exist yet are skipped silently
PLUGIN_COMMANDS = {"sweep": "latentlab.sweep", "explore": "widgets.app"}


def _missing(name, err):
    def f(a):
        raise ConfigError(f"'latentlab {name}' needs {err.name}: pip install 'latentlab[dev]' "
                          "(or the extra that provides it)")
    return f


def _config_from_args(a):
    from .experiment import ExperimentConfig
    from .generative import GeneratorConfig
    from .loop import LoopConfig
    from .training import TrainConfig

    loop = LoopConfig(rounds=a.rounds, initial=a.initial, per_round=a.per_round, alpha=a.alpha, loss_on=a.loss_on,
                      warm_start=not a.cold_start, target=a.target,
                      train=TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, min_steps=a.min_steps),
                      budget=a.budget, target_metric=a.target_metric, candidates=a.candidates)
    gen = GeneratorConfig(latent_dim=a.latent_dim, epochs=a.gen_epochs, min_steps=a.gen_min_steps)
    return ExperimentConfig(dataset=a.dataset, strategies=a.strategy, seeds=a.seeds, loop=loop, generator=gen,
                            gen_seed=a.gen_seed, n_pool=a.n_pool, n_test=a.n_test)


def cmd_run(a) -> int:
    from .experiment import run_experiment

    cfg = _config_from_args(a).validate()
    run_experiment(cfg, a.out, data_root=a.data_root, resume=a.resume, overwrite=a.overwrite, progress=not a.quiet)
    out = Path(a.out)
    print((out / "summary.md").read_text())
    print(f"wrote {out / 'results.csv'}, {out / 'summary.md'}, {out / 'learning_curves.png'}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return a.func(a)
    except LatentLabError as e:
        print(f"latentlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentlab: interrupted; rerun with --resume to continue from the last complete round", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
