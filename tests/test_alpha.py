"""SNN's step measured by the map: --alpha-unit nn and --alpha auto (latentlab.alpha)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab import alpha as A
from latentlab import ActiveLoop, ConfigError, LoopConfig, TrainConfig, get_strategy
from latentlab.cli import build_parser, config_from_args
from latentlab.experiment import ExperimentConfig, run_experiment

FAST = dict(rounds=3, initial=20, per_round=10, train=TrainConfig(epochs=1, batch_size=32, min_steps=20))


def test_nn_spacing_is_the_median_nearest_neighbour_distance():
    z = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 0.5]])  # nearest: 1, 1, 0.5, 0.5
    assert A.nn_spacing(z) == pytest.approx(0.75)
    with pytest.raises(ConfigError, match="two pool items"):
        A.nn_spacing(z[:1])


def test_flags_parse_auto_and_units():
    cfg = config_from_args(build_parser().parse_args(["run", "--alpha", "auto", "--alpha-unit", "nn"]))
    assert (cfg.loop.alpha, cfg.loop.alpha_unit) == ("auto", "nn") and A.needs_resolution(cfg)
    cfg = config_from_args(build_parser().parse_args(["run", "--alpha", "0.3"]))
    assert cfg.loop.alpha == 0.3 and not A.needs_resolution(cfg)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--alpha", "fast"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--alpha-unit", "miles"])
    with pytest.raises(ConfigError, match="alpha-unit"):
        LoopConfig(alpha_unit="miles").validate()


def test_default_config_json_has_no_new_keys_and_resolved_ones_round_trip():
    d = LoopConfig().to_dict()
    assert not {"alpha_unit", "step", "nn_spacing", "alpha_grid"} & set(d)
    lc = LoopConfig(alpha="auto", alpha_unit="nn", step=0.1, nn_spacing=0.02, alpha_grid=((2.0, 80.0), (5.0, 81.5)))
    assert LoopConfig.from_dict(json.loads(json.dumps(lc.to_dict()))) == lc


def test_an_unresolved_alpha_refuses_to_step(small_digits, latent):
    with pytest.raises(ConfigError, match="resolve_alpha"):
        LoopConfig(alpha=3.0, alpha_unit="nn").step_length
    c = LoopConfig(alpha=3.0, alpha_unit="nn", step=0.07, **FAST)
    loop = ActiveLoop(small_digits, get_strategy("snn"), c, seed=0, latent=latent, progress=False)
    assert loop.context().alpha == 0.07


def test_nn_unit_run_records_step_and_spacing(small_digits, latent, tmp_path):
    cfg = ExperimentConfig(strategies=("random", "snn"), loop=LoopConfig(alpha=4.0, alpha_unit="nn", **FAST))
    run_experiment(cfg, tmp_path / "run", prepared=(small_digits, latent), progress=False)
    spacing = A.nn_spacing(latent.embeddings)
    loop = json.loads((tmp_path / "run" / "config.json").read_text())["loop"]
    assert loop["nn_spacing"] == pytest.approx(spacing) and loop["step"] == pytest.approx(4.0 * spacing)
    md = (tmp_path / "run" / "summary.md").read_text()
    assert "alpha = 4 nearest-neighbour spacings" in md and f"{4 * spacing:.4g} in latent units" in md
    # the same run in absolute units gives the same numbers
    absolute = ExperimentConfig(strategies=("random", "snn"), loop=LoopConfig(alpha=4.0 * spacing, **FAST))
    run_experiment(absolute, tmp_path / "abs", prepared=(small_digits, latent), progress=False)
    assert (tmp_path / "run" / "results.csv").read_bytes() == (tmp_path / "abs" / "results.csv").read_bytes()


def test_auto_runs_a_cached_validation_grid(small_digits, latent, tmp_path, monkeypatch):
    monkeypatch.setattr(A, "AUTO_GRID", {"nn": (1.0, 30.0), "latent": (0.1,)})
    monkeypatch.setattr(A, "AUTO_SEEDS", (0,))
    monkeypatch.setattr(A, "AUTO_ROUNDS", 2)
    cfg = ExperimentConfig(
        strategies=("random", "snn", "snn-random-dir"), loop=LoopConfig(alpha="auto", alpha_unit="nn", **FAST)
    )
    calls = []

    def run(c, folder, data):
        calls.append(c)
        ds, lat = data
        assert ds.x_val is not None and len(ds.x_train) == len(small_digits.x_train) - ds.n_val  # carved, not test
        assert len(lat.embeddings) == len(ds.x_train)
        return run_experiment(c, folder, resume=True, prepared=data, progress=False)

    got, _ = A.resolve_alpha(cfg, lambda: (small_digits, latent), run)
    assert [c.strategies for c in calls] == [("snn",), ("snn",)]
    assert [a for a, _ in got.loop.alpha_grid] == [1.0, 30.0]
    scores = dict(got.loop.alpha_grid)
    chosen = max(scores, key=scores.get)
    assert got.loop.step == pytest.approx(chosen * A.nn_spacing(latent.embeddings))
    again, _ = A.resolve_alpha(cfg, lambda: (small_digits, latent), run)
    assert len(calls) == 2 and again == got  # read back from the cache, no grid run
    md = A.alpha_section(got.loop.to_dict())
    assert "Validation grid of --alpha auto" in md and md.count("**chosen**") == 1


def test_auto_without_a_stepping_strategy_is_refused(small_digits):
    cfg = ExperimentConfig(strategies=("random",), loop=LoopConfig(alpha="auto"))
    with pytest.raises(ConfigError, match="none of random takes one"):
        A.resolve_alpha(cfg, lambda: (small_digits, None), None)
