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


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``latentlab run`` (shared with ``latentlab tune``)."""
    p.add_argument("--dataset", default="digits", help="digits (embedded), mnist, cifar10, ...")
    p.add_argument("--data-root", default=None, help="folder holding the data set's files (or its usual sub-folder)")
    p.add_argument("--strategy", type=_str_list, default=("random", "snn"),
                   help="comma-separated: random, snn, snn-random-dir, entropy")
    p.add_argument("--rounds", type=int, default=10, help="rounds t = 1..N")
    p.add_argument("--initial", type=int, default=100, help="size of the random initial set T(1)")
    p.add_argument("--per-round", type=int, default=100, help="items labelled per round (J)")
    p.add_argument("--seeds", type=_int_list, default=(0,), help="comma-separated seeds")
    p.add_argument("--alpha", type=float, default=0.2, help="latent step length of Eq. 2 (prior std 1)")
    p.add_argument("--epochs", type=float, default=10, help="target-model epochs per round")
    p.add_argument("--min-steps", type=int, default=300, help="floor on target-model optimiser steps per round")
    p.add_argument("--batch-size", type=int, default=64, help="target-model minibatch")
    p.add_argument("--lr", type=float, default=1e-3, help="target-model Adam learning rate")
    p.add_argument("--cold-start", action="store_true", help="retrain the target model from scratch each round")
    p.add_argument("--loss-on", default="decoded", choices=["decoded", "real"], help="see latent_gradient")
    p.add_argument("--target", default="lenet", help="target model")
    p.add_argument("--gen-epochs", type=float, default=30, help="generator (VAE) training epochs")
    p.add_argument("--gen-min-steps", type=int, default=3000, help="floor on generator optimiser steps")
    p.add_argument("--latent-dim", type=int, default=2, help="latent dimension")
    p.add_argument("--gen-seed", type=int, default=0, help="generator seed (one generator shared by all run seeds)")
    p.add_argument("--budget", type=int, default=None, help="stop before exceeding this many labels")
    p.add_argument("--target-metric", type=float, default=None, help="stop once the test metric reaches this")
    p.add_argument("--candidates", type=int, default=None, help="entropy: score this many random unlabelled items")
    p.add_argument("--n-pool", type=int, default=None, help="use a seeded stratified subset of N pool items")
    p.add_argument("--n-test", type=int, default=None, help="use a seeded stratified subset of N test items")
    p.add_argument("--val", dest="n_val", type=int, default=0,
                   help="hold out N pool items as a labelled validation set (never trained on); choose settings on it")
    p.add_argument("--config", default=None,
                   help="JSON file of chosen settings (as written by 'latentlab tune'); explicit flags override it")
    p.add_argument("--gen-kind", default="vae", help="generator: vae (MNIST, digits) or alphagan (CIFAR-10)")
    p.add_argument("--gen-hidden", type=int, default=None,
                   help="generator width: VAE hidden units (default 400), alpha-GAN base channels (default 64)")
    p.add_argument("--target-width", type=float, default=None, help="channel multiplier of the target model")
    p.add_argument("--profile", default=None, choices=["cpu", "paper"],
                   help="bundle of defaults for CIFAR-10 (alpha-GAN + VGG16); explicit flags override it")
    p.add_argument("--device", default=None, help="cpu, cuda, or auto (default: the profile's, else cpu)")
    p.add_argument("--out", default=None, help="output folder (default runs/latest; runs/tune for tune)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out (same settings)")
    g.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--workers", type=int, default=1,
                   help="run the (strategy, seed) jobs on N processes, one torch thread each")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentlab", description="Adaptive latent-space sampling experiments.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run strategies x seeds on one data set; write results.csv, summary.md, curves",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(r)
    r.set_defaults(func=cmd_run)
    t = sub.add_parser("tune", help="choose settings on the validation set: run a grid for a few rounds over seeds, "
                                    "pick by the validation metric, write tune.json for 'run --config'",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(t)
    t.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                   help="settings to try, e.g. alpha=0.1,0.2,0.5 loss_on=decoded,real (flag names or dotted "
                        "config paths such as loop.train.min_steps)")
    t.set_defaults(func=cmd_tune)
    c = sub.add_parser("compare", help="paired differences of every strategy against a baseline, with 95%% CIs, "
                                       "from one or more run folders")
    c.add_argument("runs", nargs="+", help="run folder(s) holding results.csv (several are merged)")
    c.add_argument("--baseline", default="random", help="strategy every other one is compared with")
    c.add_argument("--metric", default=None, help="metric rows to compare (default: the test metric; e.g. "
                                                  "val_accuracy for the validation set)")
    c.add_argument("--method", default="t", choices=["t", "bootstrap"],
                   help="paired t interval, or a percentile bootstrap over seeds")
    c.set_defaults(func=cmd_compare)
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
    "candidates": "loop.candidates", "n_pool": "n_pool", "n_test": "n_test", "n_val": "n_val",
}


def explicit_flags(argv, command: str = "run") -> set:
    """Destinations of the ``command`` flags present on the command line ``argv`` (not defaulted)."""
    p = build_parser()
    run = p._subparsers._group_actions[0].choices[command]
    for act in run._actions:
        act.default = argparse.SUPPRESS
    run._defaults.clear()
    return set(vars(p.parse_args(list(argv))))


def load_choice(path) -> dict:
    """``{"dotted.path": value}`` chosen settings from a ``tune.json`` (its ``choice``) or a plain JSON object."""
    import json

    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file; give the tune.json written by 'latentlab tune'") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path} is not valid JSON ({e}); give the tune.json written by "
                          "'latentlab tune'") from None
    choice = d.get("choice", d) if isinstance(d, dict) else None
    if not isinstance(choice, dict):
        raise ConfigError(f"--config {path}: expected a JSON object of settings like {{\"loop.alpha\": 0.5}}")
    return choice


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
                           gen_seed=a.gen_seed, n_pool=a.n_pool, n_test=a.n_test, n_val=getattr(a, "n_val", 0))
    keep = {FLAG_PATHS[d] for d in (explicit or ()) if d in FLAG_PATHS}
    if getattr(a, "profile", None):
        from .profiles import apply_profile

        cfg = apply_profile(cfg, a.profile, keep=keep)
    if getattr(a, "config", None):
        from .experiment import apply_overrides

        cfg = apply_overrides(cfg, {k: v for k, v in load_choice(a.config).items() if k not in keep})
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
    a.out = a.out or "runs/latest"
    run_experiment(cfg, a.out, data_root=a.data_root, resume=a.resume, overwrite=a.overwrite, progress=not a.quiet,
                   device=_device_from_args(a), workers=a.workers)
    out = Path(a.out)
    print((out / "summary.md").read_text())
    print(f"wrote {out / 'results.csv'}, {out / 'summary.md'}, {out / 'learning_curves.png'}")
    return 0


def cmd_tune(a) -> int:
    from .tune import parse_grid, tune

    explicit = explicit_flags(a.argv, "tune") if getattr(a, "argv", None) is not None else set()
    cfg = _config_from_args(a, explicit).validate()
    result = tune(cfg, parse_grid(a.grid, cfg), a.out or "runs/tune", data_root=a.data_root,
                  overwrite=a.overwrite, progress=not a.quiet, device=_device_from_args(a), workers=a.workers)
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
                raise ConfigError(f"{f} and another folder both hold {key[0]} seed {key[1]} round {key[2]} with "
                                  "different values; compare runs of distinct seeds or strategies")
            if key not in seen:
                seen[key] = r["value"]
                rows.append(r)
    metric = a.metric
    print(summary_table(rows, metric=metric))
    diffs = paired_differences(rows, a.baseline, metric=metric, method=a.method)
    print(differences_table(diffs, metric=metric or "", method=a.method))
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
