"""Profiles (latentlab/profiles.py) and ``latentlab run --profile``: overrides and flag precedence."""

from __future__ import annotations

import pytest

from latentlab import ExperimentConfig
from latentlab.cli import build_parser, config_from_args
from latentlab.exceptions import LatentLabError
from latentlab.profiles import PROFILES, apply_profile, get_profile, resolve_device


def test_profiles_set_models_and_sizes():
    cpu = apply_profile(ExperimentConfig(), "cpu")
    assert cpu.dataset == "cifar10" and cpu.n_pool == 10_000 and cpu.n_test == 2_000
    assert (cpu.generator.kind, cpu.generator.hidden, cpu.generator.latent_dim) == ("alphagan", 16, 2)
    assert cpu.loop.target == "vgg16" and dict(cpu.loop.target_kwargs) == {"width": 0.125}
    paper = apply_profile(ExperimentConfig(), "paper")
    assert paper.n_pool is None and paper.generator.hidden == 64 and dict(paper.loop.target_kwargs) == {"width": 1.0}
    assert PROFILES["paper"].device == "auto" and PROFILES["cpu"].device == "cpu"
    cpu.validate(), paper.validate()


def test_keep_and_unknown():
    cfg = apply_profile(ExperimentConfig(n_pool=123), "cpu", keep={"n_pool"})
    assert cfg.n_pool == 123 and cfg.loop.target == "vgg16"
    with pytest.raises(LatentLabError, match="paper"):
        get_profile("gpu")


def test_device():
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="auto"):
        resolve_device("tpu")


def config(argv):
    a = build_parser().parse_args(argv)
    return config_from_args(a)


def test_explicit_flags_beat_the_profile():
    cfg = config(
        [
            "run",
            "--profile",
            "cpu",
            "--rounds",
            "3",
            "--n-pool",
            "500",
            "--target-width",
            "0.25",
            "--gen-hidden",
            "8",
            "--dataset",
            "digits",
            "--epochs",
            "10",
        ]
    )
    assert (cfg.loop.rounds, cfg.n_pool, cfg.generator.hidden, cfg.dataset) == (3, 500, 8, "digits")
    assert dict(cfg.loop.target_kwargs) == {"width": 0.25} and cfg.loop.train.epochs == 10.0
    assert cfg.loop.initial == 200 and cfg.generator.kind == "alphagan"  # the rest from the profile
    # a flag given with its built-in default value still counts as the user's choice
    assert config(["run", "--profile", "cpu", "--initial", "100"]).loop.initial == 100


def test_no_profile_keeps_old_defaults():
    cfg = config(["run"])
    assert cfg == config_from_args(build_parser().parse_args(["run"]))
    assert cfg.dataset == "digits" and cfg.generator.kind == "vae" and cfg.loop.target == "lenet"


def test_profile_generator_options_follow_its_generator_kind():
    cfg = config(["run", "--profile", "cpu"])
    assert dict(cfg.generator.options) == {"warmup_epochs": 3, "rec_weight": 100.0} and cfg.generator.epochs == 2.0
    # another generator kind chosen by the user: the alpha-GAN's options are not carried over
    cfg = config(["run", "--profile", "cpu", "--gen-kind", "vae", "--dataset", "digits"])
    assert cfg.generator.kind == "vae" and cfg.generator.options == () and cfg.validate()


def test_paper_profile_runs_end_to_end_at_toy_sizes(tmp_path):
    """The paper profile's code path (64-channel-style alpha-GAN options, full-width VGG16-BN, its recipe)
    on the CPU at toy sizes: no GPU run is needed to know it works."""
    import csv

    import torch

    from latentlab import notebook_helpers as nh
    from latentlab.experiment import run_experiment

    cfg = nh.profile_config("paper", strategies=("random", "snn"), seeds=(0,), smoke=True)
    assert dict(cfg.loop.target_kwargs) == {"width": 1.0} and cfg.loop.train.augment == "crop-flip"
    run_experiment(cfg, tmp_path / "run", progress=False, device=torch.device("cpu"))
    rows = list(csv.DictReader(open(tmp_path / "run" / "results.csv")))
    assert {r["strategy"] for r in rows} == {"random", "snn"}
    assert all(0.0 <= float(r["value"]) <= 100.0 for r in rows)
