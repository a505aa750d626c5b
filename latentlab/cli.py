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
    r.add_argument("--n-pool", type=int, default=None, help="use a seeded stratified subset of N pool items")
    r.add_argument("--n-test", type=int, default=None, help="use a seeded stratified subset of N test items")
    r.add_argument("--gen-kind", default="vae", help="generator: vae (MNIST, digits) or alphagan (CIFAR-10)")
    r.add_argument("--gen-hidden", type=int, default=None,
                   help="generator width: VAE hidden units (default 400), alpha-GAN base channels (default 64)")
    r.add_argument("--target-width", type=float, default=None, help="channel multiplier of the target model")
    r.add_argument("--profile", default=None, choices=["cpu", "paper"],
                   help="bundle of defaults for CIFAR-10 (alpha-GAN + VGG16); explicit flags override it")
    r.add_argument("--device", default=None, help="cpu, cuda, or auto (default: the profile's, else cpu)")
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


# ``latentlab run`` flag -> the ExperimentConfig field it sets (how --profile knows what the user chose)
FLAG_PATHS = {
    "dataset": "dataset", "strategy": "strategies", "seeds": "seeds", "rounds": "loop.rounds",
    "initial": "loop.initial", "per_round": "loop.per_round", "alpha": "loop.alpha", "epochs": "loop.train.epochs",
    "min_steps": "loop.train.min_steps", "batch_size": "loop.train.batch_size", "lr": "loop.train.lr",
    "cold_start": "loop.warm_start", "loss_on": "loop.loss_on", "target": "loop.target",
    "target_width": "loop.target_kwargs", "gen_epochs": "generator.epochs", "gen_min_steps": "generator.min_steps",
    "latent_dim": "generator.latent_dim", "gen_kind": "generator.kind", "gen_hidden": "generator.hidden",
    "gen_seed": "gen_seed", "budget": "loop.budget", "target_metric": "loop.target_metric",
    "candidates": "loop.candidates", "n_pool": "n_pool", "n_test": "n_test",
}


def explicit_flags(argv) -> set:
    """Destinations of the ``run`` flags present on the command line ``argv`` (not defaulted)."""
    p = build_parser()
    run = p._subparsers._group_actions[0].choices["run"]
    for act in run._actions:
        act.default = argparse.SUPPRESS
    run._defaults.clear()
    return set(vars(p.parse_args(list(argv))))


def _config_from_args(a, explicit=None):
    """ExperimentConfig from parsed ``run`` flags; with ``a.profile``, the profile replaces the defaults
    of every flag not in ``explicit`` (flag destinations, see :func:`explicit_flags`)."""
    from .experiment import ExperimentConfig
    from .generative import GeneratorConfig
    from .loop import LoopConfig
    from .training import TrainConfig

    loop = LoopConfig(rounds=a.rounds, initial=a.initial, per_round=a.per_round, alpha=a.alpha, loss_on=a.loss_on,
                      warm_start=not a.cold_start, target=a.target,
                      target_kwargs=(("width", a.target_width),) if getattr(a, "target_width", None) else (),
                      train=TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, min_steps=a.min_steps),
                      budget=a.budget, target_metric=a.target_metric, candidates=a.candidates)
    kind = getattr(a, "gen_kind", "vae")  # getattr: other sub-commands may reuse this with fewer flags
    hidden = getattr(a, "gen_hidden", None) or (64 if kind == "alphagan" else GeneratorConfig.hidden)
    gen = GeneratorConfig(kind=kind, latent_dim=a.latent_dim, hidden=hidden, epochs=a.gen_epochs,
                          min_steps=a.gen_min_steps)
    cfg = ExperimentConfig(dataset=a.dataset, strategies=a.strategy, seeds=a.seeds, loop=loop, generator=gen,
                           gen_seed=a.gen_seed, n_pool=a.n_pool, n_test=a.n_test)
    if getattr(a, "profile", None):
        from .profiles import apply_profile

        keep = {FLAG_PATHS[d] for d in (explicit or ()) if d in FLAG_PATHS}
        cfg = apply_profile(cfg, a.profile, keep=keep)
    return cfg


def _device_from_args(a):
    from .profiles import get_profile, resolve_device

    spec = a.device or (get_profile(a.profile).device if getattr(a, "profile", None) else "cpu")
    try:
        return resolve_device(spec)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def cmd_run(a) -> int:
    from .experiment import run_experiment

    explicit = explicit_flags(a.argv) if getattr(a, "argv", None) is not None else set()
    cfg = _config_from_args(a, explicit).validate()
    run_experiment(cfg, a.out, data_root=a.data_root, resume=a.resume, overwrite=a.overwrite, progress=not a.quiet,
                   device=_device_from_args(a))
    out = Path(a.out)
    print((out / "summary.md").read_text())
    print(f"wrote {out / 'results.csv'}, {out / 'summary.md'}, {out / 'learning_curves.png'}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)  # which flags were given (for --profile)
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
