"""latentlab.notebook_helpers: the library side of the thin paper notebooks (no kernels here)."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab import ConfigError
from latentlab.cli import build_parser, config_from_args
from latentlab import notebook_helpers as nh


@pytest.mark.parametrize(
    "v, kind, out",
    [
        ([0, 1], int, (0, 1)),
        ("0, 1", int, (0, 1)),
        (3, int, (3,)),
        ("snn", str, ("snn",)),
        (("random", "snn"), str, ("random", "snn")),
    ],
)
def test_as_tuple_accepts_what_papermill_injects(v, kind, out):
    assert nh.as_tuple(v, kind) == out


def test_as_tuple_names_the_bad_value():
    with pytest.raises(ConfigError, match="list of int"):
        nh.as_tuple(["a"], int)


def test_experiment_config_is_what_latentlab_run_builds():
    """Same settings, same config: the basis of 'a sweep gives the numbers of latentlab run'."""
    a = build_parser().parse_args(
        [
            "run",
            "--dataset",
            "mnist",
            "--strategy",
            "random,snn",
            "--seeds",
            "0,1",
            "--rounds",
            "10",
            "--initial",
            "300",
            "--per-round",
            "300",
            "--n-test",
            "2000",
        ]
    )
    cli = config_from_args(a)
    nb = nh.experiment_config(
        dataset="mnist", strategies=["random", "snn"], seeds=[0, 1], rounds=10, initial=300, per_round=300, n_test=2000
    )
    assert nb.to_dict() == cli.to_dict()


def test_smoke_keeps_strategies_and_alpha_and_shrinks_the_rest():
    c = nh.experiment_config(strategies=["snn", "entropy"], seeds=[0, 1, 2], alpha=0.5, smoke=True)
    assert c.dataset == "digits" and c.strategies == ("snn", "entropy") and c.seeds == (0, 1)
    assert c.loop.alpha == 0.5 and c.loop.rounds == 2 and c.n_pool == 300


def test_table1_mean_and_sample_std_over_seeds():
    rows = [
        {"strategy": "snn", "seed": s, "round": 1, "n_labelled": 300, "value": v} for s, v in enumerate([90.0, 92.0])
    ]
    pretty, num = nh.table1(rows)
    assert num.loc[0, "mean"] == 91.0 and num.loc[0, "std"] == pytest.approx(np.sqrt(2.0))
    assert pretty.loc["snn", "t=1"] == "91.00 ± 1.41"


def test_start_items_are_seeded_distinct_and_avoid_the_labelled_set():
    a = nh.start_items(100, 8, seed=3, exclude=np.arange(50))
    assert len(set(a)) == 8 and a.min() >= 50
    assert np.array_equal(a, nh.start_items(100, 8, seed=3, exclude=np.arange(50)))
    with pytest.raises(ConfigError, match="lower n_trajectories"):
        nh.start_items(10, 8, seed=0, exclude=np.arange(5))


def test_figures_leave_the_backend_and_pyplot_alone(tmp_path):
    """Library figures are plain Figures: saved when given a path, returned, never a backend switch."""
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "import matplotlib.pyplot as plt; from matplotlib.figure import Figure; "
        "from latentlab import report; "
        "rows = [{'dataset': 'd', 'strategy': 's', 'seed': 0, 'round': 1, 'n_labelled': 10, 'metric': 'accuracy', "
        "'value': 50.0}]; "
        f"fig = report.plot_learning_curves(rows, {str(tmp_path / 'c.png')!r}, title='t'); "
        "assert isinstance(fig, Figure) and plt.get_fignums() == [], plt.get_fignums(); "
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend(); "
        "assert fig.axes[0].get_legend().get_texts()[0].get_text() == 's'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_no_library_module_sets_the_matplotlib_backend():
    import re
    from pathlib import Path

    root = Path(nh.__file__).parent
    for f in root.rglob("*.py"):
        assert not re.search(r"matplotlib\.use\(|pyplot\.switch_backend|plt\.subplots\(", f.read_text()), f


@pytest.mark.parametrize(
    "helper, old, new",
    [
        (nh.experiment_config, "n_rounds", "rounds"),
        (nh.experiment_config, "n_labelled", "initial"),
        (nh.profile_config, "n_rounds", "rounds"),
    ],
)
def test_old_parameter_names_are_refused_with_the_new_one(helper, old, new):
    with pytest.raises(ConfigError, match=f"'{old}' is now called '{new}'"):
        helper(**{old: 3})
    with pytest.raises(ConfigError, match="unknown setting.*roundz"):
        helper(roundz=3)


def test_notebook_values_take_the_declared_types():
    """papermill injects 10 for a float setting and a scalar for a list: the declaration converts them."""
    c = nh.experiment_config(strategies="snn", seeds=3, epochs=2, alpha=1, n_pool=0)
    assert c.strategies == ("snn",) and c.seeds == (3,) and c.loop.train.epochs == 2.0 and c.n_pool is None
    assert isinstance(c.loop.alpha, float) and isinstance(c.loop.train.epochs, float)


def test_notebooks_use_the_documented_names():
    """Every paper notebook's parameters are settings or their own knobs, never the old names."""
    import json
    from pathlib import Path

    from latentlab.config import RENAMED

    root = Path(__file__).resolve().parents[1] / "notebooks"
    for nb in sorted(root.glob("0[1-4]_*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        params = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
        names = {line.split(":")[0].split("=")[0].strip() for line in params.splitlines() if line.strip()}
        assert not names & set(RENAMED), (nb.name, names & set(RENAMED))
    for grid in sorted((root / "grids").glob("*.yaml")):
        assert not any(f"{old}:" in grid.read_text() for old in RENAMED), grid.name


def test_a_sweep_with_an_old_parameter_name_is_told_the_new_one(tmp_path):
    pytest.importorskip("papermill")
    from pathlib import Path

    from latentlab.sweep import sweep

    nb = Path(__file__).resolve().parents[1] / "notebooks" / "01_mnist.ipynb"
    with pytest.raises(ConfigError, match="'n_rounds' is now called 'rounds'"):
        sweep(nb, {"seeds": [0]}, tmp_path / "sw", fixed={"n_rounds": 2}, progress=False)
