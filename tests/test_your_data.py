"""Your data, your model, your strategy: the public API for a researcher's own problem (issue 21).

Registries refuse to replace a name unless asked; in-memory objects given to ``run_experiment``
run without registering a name, give the same results on 1 and 2 worker processes, and
``config.json`` says what actually ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from latentlab.exceptions import ConfigError
from latentlab.registry import Registry


# ------------------------------------------------------------------ registries
def test_registry_refuses_a_taken_name_unless_replace():
    r = Registry("widget")
    r.add("a", int)
    with pytest.raises(ConfigError, match=r"widget name 'a' is already registered \(by builtins.int\).*replace=True"):
        r.add("a", float)
    assert r["a"] is int  # the refused registration changed nothing
    r.add("a", float, replace=True)
    assert r["a"] is float
    r.add("a", float)  # the very same object again (a reloaded module) is no replacement


def test_builtin_strategy_name_is_protected():
    from latentlab.strategies import STRATEGIES, Strategy, register_strategy

    before = STRATEGIES["random"]
    with pytest.raises(ConfigError, match="strategy name 'random' is already registered"):

        @register_strategy
        class Mine(Strategy):
            name = "random"

    assert STRATEGIES["random"] is before


def test_scoped_registration_restores_what_was_there():
    r = Registry("widget")
    r.add("a", int, note=1)
    with r.scoped({"a": float, "b": str}):
        assert r["a"] is float and r["b"] is str
    assert r["a"] is int and "b" not in r and r.info["a"] == {"note": 1}


# ------------------------------------------------------------------ your objects in run_experiment
import json  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from latentlab import Dataset, LoopConfig  # noqa: E402
from latentlab.experiment import ExperimentConfig, run_experiment  # noqa: E402
from latentlab.strategies import Proposal, Strategy  # noqa: E402
from latentlab.training import TrainConfig  # noqa: E402


class TinyCNN(nn.Module):
    """A target of the user's own (not registered)."""

    def __init__(self, image_shape, n_outputs):
        super().__init__()
        c, h, w = image_shape
        self.net = nn.Sequential(
            nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * h * w, n_outputs)
        )

    def forward(self, x):
        return self.net(x)


class Margin(Strategy):
    """A strategy of the user's own: smallest gap between the two most probable classes."""

    name = "my-margin"

    def propose(self, ctx, per_round, rng):
        free = ctx.pool.unlabelled_indices()
        with torch.no_grad():
            p = torch.softmax(ctx.target(torch.as_tensor(ctx.x_pool[free])), 1).numpy()
        top = np.sort(p, 1)
        return Proposal(indices=free[np.argsort(top[:, -1] - top[:, -2], kind="stable")[:per_round]])


def pretrained_pair(image_shape=(1, 8, 8), dim=3):
    """A seeded 'pretrained' linear encoder/decoder pair (stands in for the user's own autoencoder)."""
    torch.manual_seed(0)
    n = int(np.prod(image_shape))
    enc = nn.Sequential(nn.Flatten(), nn.Linear(n, dim))
    dec = nn.Sequential(nn.Linear(dim, n), nn.Sigmoid(), nn.Unflatten(1, image_shape))
    return enc, dec


def label_by_ink(x_item):
    """A labeling function of the user's own (a 'tool'): 1 when the image holds more ink than average."""
    return int(x_item.mean() > 0.3)


@pytest.fixture(scope="module")
def mine():
    from sklearn.datasets import load_digits

    d = load_digits()
    return Dataset.from_arrays((d.images * 255 / 16).astype(np.uint8), d.target, name="not-registered", test_size=200)


QUICK = ExperimentConfig(
    seeds=(0, 1),
    n_pool=300,
    loop=LoopConfig(initial=20, per_round=10, rounds=2, train=TrainConfig(epochs=1, min_steps=10)),
)


def _run(out, workers, **objects):
    run_experiment(QUICK, out, workers=workers, progress=False, **objects)
    return (out / "results.csv").read_bytes(), json.loads((out / "config.json").read_text())


def test_own_data_target_strategy_same_on_one_and_two_workers(mine, tmp_path):
    """Objects nobody registered run on worker processes as they do here: results.csv byte-identical."""
    objects = dict(dataset=mine, target=TinyCNN, strategies=["random", Margin()])
    one, cfg = _run(tmp_path / "w1", 1, **objects)
    two, cfg2 = _run(tmp_path / "w2", 2, **objects)
    assert one == two
    assert b"my-margin" in one and b"not-registered" in one
    assert cfg == cfg2
    given = cfg["given"]
    assert cfg["dataset"] == "not-registered" and given["dataset"]["fingerprint"] == mine.fingerprint()
    assert cfg["loop"]["target"] == "TinyCNN" and given["target"]["class"].endswith("test_your_data.TinyCNN")
    assert given["strategies"]["my-margin"]["class"].endswith("test_your_data.Margin")
    assert cfg["generator"] is None  # neither strategy used a generator: no VAE is claimed
    from latentlab.strategies import STRATEGIES

    assert "my-margin" not in STRATEGIES  # nothing was registered for good


def test_pretrained_encoder_decoder_reaches_the_workers(mine, tmp_path):
    """SNN in the user's latent space on 2 workers equals 1 worker, and config.json names that space
    (before, workers trained a default VAE and config.json claimed one)."""
    objects = dict(dataset=mine, target=TinyCNN, strategies=["snn"], generator=pretrained_pair())
    one, cfg = _run(tmp_path / "w1", 1, **objects)
    two, _ = _run(tmp_path / "w2", 2, **objects)
    assert one == two
    assert cfg["generator"] == {"given": "latentlab.generative.EncoderDecoder"}
    gen = cfg["given"]["generator"]
    assert gen["decoder"] is True and gen["encoder"] == "torch.nn.modules.container.Sequential"


@pytest.mark.filterwarnings("ignore:PROTOCOL CHECK")  # toy training: the check's warning is not the point here
def test_snn_without_decoder_is_refused_before_anything_runs(mine, tmp_path):
    enc, _ = pretrained_pair()
    with pytest.raises(ConfigError, match=r"'snn' decodes latent points.*generator=\(encoder, decoder\)"):
        run_experiment(QUICK, tmp_path / "o", dataset=mine, strategies=["snn"], generator=(enc, None))
    assert not (tmp_path / "o").exists()
    # a strategy that only reads the codes runs without one
    run_experiment(
        QUICK, tmp_path / "ok", dataset=mine, strategies=["latent-coreset"], generator=(enc, None), progress=False
    )
    assert (tmp_path / "ok" / "results.csv").exists()


def test_prepared_data_is_not_looked_up_by_name(mine, tmp_path):
    """prepared=(dataset, latent) of an unregistered data set runs (it used to fail after the generator trained)."""
    from latentlab.generative import EncoderDecoder
    from latentlab.latent import LatentSpace

    ds = mine.subset(300)
    latent = LatentSpace.from_generator(EncoderDecoder(*pretrained_pair()), ds.x_train)
    cfg = ExperimentConfig(strategies=("random", "snn"), seeds=(0,), loop=QUICK.loop)
    one = run_experiment(cfg, tmp_path / "w1", prepared=(ds, latent), progress=False)
    two = run_experiment(cfg, tmp_path / "w2", prepared=(ds, latent), progress=False, workers=2)
    assert one == two
    assert (tmp_path / "w1" / "results.csv").read_bytes() == (tmp_path / "w2" / "results.csv").read_bytes()
    rec = json.loads((tmp_path / "w2" / "config.json").read_text())
    assert rec["generator"] == {"given": "latentlab.generative.EncoderDecoder"}
    assert rec["given"]["dataset"]["source"] == "prepared"


@pytest.mark.filterwarnings("ignore:PROTOCOL CHECK")
def test_own_labeling_function(mine, tmp_path):
    """Pool labels unknown in advance: the user's function labels each chosen item."""
    ink = np.array([label_by_ink(x) for x in mine.x_test])
    lazy = Dataset.from_arrays(mine.x_train, None, mine.x_test, ink, name="ink", classes=["light", "dark"])
    assert lazy.labeler == "given"
    with pytest.raises(ConfigError, match="pass labeler=your_function"):
        run_experiment(QUICK, tmp_path / "none", dataset=lazy, strategies=["random"], progress=False)
    rows = run_experiment(
        QUICK, tmp_path / "o", dataset=lazy, strategies=["random"], labeler=label_by_ink, progress=False
    )
    assert rows and json.loads((tmp_path / "o" / "config.json").read_text())["given"]["labeler"].endswith(
        "label_by_ink"
    )


def test_bad_objects_are_refused_with_the_fix(mine, tmp_path):
    class Nameless(Strategy):
        pass

    class Impostor(Strategy):
        name = "random"

    cases = [
        (dict(strategies=[Nameless()]), "needs a name"),
        (dict(strategies=[Impostor()]), r"named 'random', which is latentlab's RandomStrategy"),
        (dict(target=lambda a: None), r"callable as .*\(\) or .*\(image_shape, n_outputs\)"),
        (dict(dataset=np.zeros((3, 1, 8, 8))), r"Dataset.from_arrays"),
        (dict(generator=object()), r"encode\(\)/decode\(\)"),
    ]
    for objects, match in cases:
        with pytest.raises(ConfigError, match=match):
            run_experiment(QUICK, tmp_path / "o", dataset=objects.pop("dataset", mine), **objects)
    assert not (tmp_path / "o").exists()


def test_objects_that_cannot_reach_workers_get_the_fix(mine, tmp_path, monkeypatch):
    import sys

    class Local(Strategy):  # defined in a function: plain pickle cannot import it by name
        name = "local"

        def propose(self, ctx, per_round, rng):
            return Proposal(indices=ctx.pool.unlabelled_indices()[:per_round])

    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # as where cloudpickle is not installed
    with pytest.raises(ConfigError, match=r"cannot reach the worker processes.*define it in a module.*cloudpickle"):
        run_experiment(QUICK, tmp_path / "o", dataset=mine, strategies=[Local()], workers=2, progress=False)


SCRIPT_WITHOUT_GUARD = """
import numpy as np
from latentlab import Dataset, LoopConfig
from latentlab.experiment import ExperimentConfig, run_experiment
from latentlab.training import TrainConfig
rng = np.random.default_rng(0)
data = Dataset.from_arrays(rng.random((120, 1, 8, 8), dtype=np.float32), np.arange(120) % 2, test_size=20)
cfg = ExperimentConfig(strategies=("random", "entropy"), loop=LoopConfig(initial=10, per_round=5, rounds=2,
                       train=TrainConfig(epochs=1, min_steps=1)))
run_experiment(cfg, {out!r}, dataset=data, workers=2, progress=False)
"""


def test_script_without_main_guard_gets_the_fix(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "myscript.py"
    script.write_text(SCRIPT_WITHOUT_GUARD.format(out=str(tmp_path / "out")))
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert 'if __name__ == "__main__":' in last and "ConfigError" in last


# ------------------------------------------------------------------ the README example and notebook 05
ROOT = Path(__file__).resolve().parents[1]
TOY = {  # the README's sizes -> seconds (the code is otherwise run as printed)
    "rounds=5": "rounds=2",
    "ll.LoopConfig(": "ll.LoopConfig(train=ll.TrainConfig(epochs=1, min_steps=20), ",
}


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _run_script(code: str, cwd: Path) -> None:
    import subprocess
    import sys

    (cwd / "example.py").write_text(code)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "example.py"], cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert res.returncode == 0, res.stderr[-2000:]


def test_readme_example_runs_and_two_workers_equal_one(tmp_path):
    code = readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 20  # the target, blank lines aside
    assert "workers=2" in code and 'if __name__ == "__main__":' in code
    for a, b in TOY.items():
        assert a in code, a
        code = code.replace(a, b)
    (tmp_path / "two").mkdir()
    (tmp_path / "one").mkdir()
    _run_script(code, tmp_path / "two")
    _run_script(code.replace("workers=2", "workers=1"), tmp_path / "one")
    two = (tmp_path / "two" / "runs" / "mine" / "results.csv").read_bytes()
    assert two == (tmp_path / "one" / "runs" / "mine" / "results.csv").read_bytes()
    assert b"my-margin" in two and b"my-digits" in two


def test_notebook_05_smoke_and_two_workers_equal_one(tmp_path, monkeypatch):
    """Classes defined in the notebook (its __main__) reach the worker processes: workers=2 == workers=1."""
    pm = pytest.importorskip("papermill")
    nbformat = pytest.importorskip("nbformat")
    path = ROOT / "notebooks" / "05_your_data.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert "parameters" in nb.cells[1].metadata.get("tags", [])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for workers in (2, 1):
        pm.execute_notebook(
            str(path),
            str(tmp_path / f"executed-{workers}.ipynb"),
            parameters={"smoke": True, "out_dir": str(tmp_path / f"w{workers}"), "workers": workers},
            progress_bar=False,
        )
    two = (tmp_path / "w2" / "results.csv").read_bytes()
    assert two == (tmp_path / "w1" / "results.csv").read_bytes()
    assert {b"random", b"snn", b"my-margin"} <= set(two.replace(b"\n", b",").split(b","))
    given = json.loads((tmp_path / "w2" / "config.json").read_text())["given"]
    assert given["target"]["class"] == "__main__.Net"
    assert given["strategies"]["my-margin"]["class"] == "__main__.MyMargin"


def test_notebook_05_ships_with_the_package(tmp_path):
    """The wheel carries every notebooks/*.ipynb (package data); `latentlab notebooks DIR` copies 05 out."""
    from latentlab.resources import copy_notebooks, paper_files

    assert Path("05_your_data.ipynb") in paper_files()
    assert (tmp_path / "05_your_data.ipynb") in copy_notebooks(tmp_path)


class OtherCNN(TinyCNN):
    """Another target of the user's own."""


def test_resume_with_other_objects_is_refused(mine, tmp_path):
    from latentlab.exceptions import ResumeError

    run_experiment(QUICK, tmp_path / "o", dataset=mine, target=TinyCNN, strategies=["random"], progress=False)
    with pytest.raises(ResumeError, match="holds a different run"):
        run_experiment(
            QUICK, tmp_path / "o", dataset=mine, target=OtherCNN, strategies=["random"], progress=False, resume=True
        )
    again = run_experiment(
        QUICK, tmp_path / "o", dataset=mine, target=TinyCNN, strategies=["random"], progress=False, resume=True
    )
    assert again


def test_own_target_on_a_data_set_that_names_its_targets(mine, tmp_path):
    """A data set's list of fitting targets (vessels: s6) binds names, not a target object of your own."""
    import dataclasses

    picky = dataclasses.replace(mine, targets=("lenet",))
    rows = run_experiment(QUICK, tmp_path / "o", dataset=picky, target=TinyCNN, strategies=["random"], progress=False)
    assert rows
