"""One path from settings to a config: dotted overrides, None = not given, data-set defaults, lazy CLI."""

import subprocess
import sys

import pytest

from latentlab import ConfigError, ExperimentConfig
from latentlab.cli import build_parser, config_from_args
from latentlab.experiment import config_from_settings


def test_override_dotted_paths_and_names_a_bad_one():
    cfg = ExperimentConfig().override({"loop.train.epochs": 2.0, "loop.per_round": 7, "n_pool": 50})
    assert (cfg.loop.train.epochs, cfg.loop.per_round, cfg.n_pool) == (2.0, 7, 50)
    assert cfg.get("loop.per_round") == 7 and ExperimentConfig().loop.per_round == 100
    with pytest.raises(ConfigError, match="'loop.perround'"):
        ExperimentConfig().override({"loop.perround": 3})


def test_none_means_not_given_and_defaults_come_from_the_config():
    assert config_from_settings() == ExperimentConfig()
    assert config_from_settings(rounds=None, alpha=None) == ExperimentConfig()
    assert config_from_args(build_parser().parse_args(["run"])) == ExperimentConfig()
    with pytest.raises(ConfigError, match="unknown setting"):
        config_from_settings(roundz=3)


def test_a_data_set_names_its_default_target():
    """`latentlab run --dataset vessels` used to stop with 'use --target s6' where the explorer chose s6."""
    a = build_parser().parse_args(["run", "--dataset", "vessels", "--strategy", "random,si"])
    assert config_from_args(a).loop.target == "s6"
    assert config_from_settings(dataset="vessels", target="lenet").loop.target == "lenet"  # explicit wins


def test_alphagan_width_default_and_profile():
    assert config_from_settings(gen_kind="alphagan").generator.hidden == 64
    assert config_from_settings(gen_kind="alphagan", gen_hidden=8).generator.hidden == 8
    assert config_from_settings(profile="cpu").generator.hidden == 16


def test_run_does_not_import_the_view():
    code = (
        "import sys; from latentlab.cli import build_parser; p = build_parser(); "
        "p.parse_args(['run', '--rounds', '2']); p.format_help(); "
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('panel', 'bokeh') "
        "or m.startswith(('widgets', 'latentlab.widgets'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_run_help_lists_every_strategy_and_the_defaults():
    from latentlab.strategies import STRATEGIES

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    helps = {a.dest: a.help for a in run._actions}
    assert ", ".join(sorted(STRATEGIES)) in helps["strategy"] and "si" in STRATEGIES
    assert "(default 100)" in helps["per_round"] and "J" in helps["per_round"]


def test_generator_options_checked_and_round_trip():
    from latentlab.exceptions import ConfigError
    from latentlab.experiment import ExperimentConfig

    cfg = ExperimentConfig(dataset="cifar10").override(
        {"generator.kind": "alphagan", "generator.options": [["warmup_epochs", 3]]}
    )
    assert cfg.validate().generator.options == (("warmup_epochs", 3),)
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    assert "options" not in ExperimentConfig().to_dict()["generator"]  # config files without options unchanged
    with pytest.raises(ConfigError, match="valid: code_hidden, rec_weight, warmup_epochs"):
        cfg.override({"generator.options": (("warmup", 3),)}).validate()
    with pytest.raises(ConfigError, match=r"valid: \(none\)"):
        ExperimentConfig().override({"generator.options": (("warmup_epochs", 3),)}).validate()


def test_every_setting_is_declared_once_and_has_its_flag():
    """The flags of `latentlab run` are built from RUN_SETTINGS: one flag per setting, left off = None."""
    from latentlab.config import RUN_SETTINGS, SETTINGS

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    dests = {a.dest: a for a in run._actions}
    assert len({s.name for s in RUN_SETTINGS}) == len(RUN_SETTINGS) == len(SETTINGS)
    for s in RUN_SETTINGS:
        assert s.name in dests and s.flag in dests[s.name].option_strings, s.name
        assert dests[s.name].default is None and "(default " in dests[s.name].help, s.name
        ExperimentConfig().get(s.path)  # the path exists
    a = build_parser().parse_args(["run"])
    assert all(getattr(a, s.name) is None for s in RUN_SETTINGS)


def test_help_reads_defaults_from_the_config_dataclasses():
    from latentlab.loop_config import LoopConfig

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    helps = {a.dest: a.help for a in run._actions}
    assert (
        f"(default {LoopConfig.alpha})" in helps["alpha"]
        and f"(default {LoopConfig.mc_samples})" in helps["mc_samples"]
    )


def test_generator_config_validates_itself():
    from latentlab import GeneratorConfig

    assert GeneratorConfig().validate() == GeneratorConfig()
    for bad, msg in [
        (dict(latent_dim=0), "--latent-dim"),
        (dict(lr=0.0), "--gen-lr"),
        (dict(epochs=0, min_steps=0), "needs --gen-epochs"),
        (dict(options=(("nope", 1),)), "not a setting of the 'vae' generator"),
        (dict(kind="gann"), "unknown generator"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            GeneratorConfig(**bad).validate()


def test_higher_is_better_is_the_tasks_word():
    from latentlab.tasks import Classification, Regression, higher_is_better, task_of_metric

    assert higher_is_better("accuracy") and higher_is_better("val_accuracy")
    assert not higher_is_better("mse") and not higher_is_better("val_mse")
    assert task_of_metric("val_mse") is Regression and task_of_metric("accuracy") is Classification
    with pytest.raises(ConfigError, match="give higher_is_better explicitly"):
        higher_is_better("mse_loss")  # no substring guessing
