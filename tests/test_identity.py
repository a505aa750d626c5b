"""Refactors keep every output byte-identical: same seed, same results.csv, summary.md, config.json.

The hashes below were recorded on the code *before* the loop, the experiment runner and the
settings were split into rooms (issue 24), on torch 2.13.0 (CPU build) with one torch thread. A
change that moves code without changing the algorithm keeps them; a hash that moves means a
number, a line of summary.md or a setting in config.json moved. Only a change that means to move
results may update them, and its commit must say what moved and why.

Float results depend on the platform's kernels: on another CPU family or torch build the run
hashes may differ from the start. Regenerate them there from the commit before the change
(``python tests/test_identity.py``), never from the changed code.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from unittest import mock


# argv of `latentlab run` -> sha256 of the canonical config.json they give (no training)
CONFIGS = {
    "defaults": [],
    "mnist-table1": ["--dataset", "mnist", "--strategy", "random,snn,entropy", "--seeds", "0,1,2", "--initial", "300",
                     "--per-round", "300", "--alpha", "0.2"],
    "cpu-profile": ["--profile", "cpu", "--strategy", "random,snn,entropy", "--alpha", "0.5", "--val", "1000"],
    "paper-profile": ["--profile", "paper", "--rounds", "5", "--latent-dim", "16"],
    "vessels": ["--dataset", "vessels", "--strategy", "random,si", "--epochs", "3"],
    "alphagan": ["--dataset", "cifar10", "--gen-kind", "alphagan", "--target", "vgg16", "--target-width", "0.25"],
    "batchbald": ["--strategy", "random,bald,batchbald", "--balanced-initial", "--initial", "20", "--mc-samples", "30",
                  "--target", "lenet-dropout", "--candidates", "500", "--cold-start", "--budget", "300"],
    "recipe": ["--augment", "shift-rotate", "--schedule", "cosine", "--optimizer", "sgd", "--weight-decay", "0.0005",
               "--lr", "0.05", "--batch-size", "32", "--min-steps", "50", "--loss-on", "real", "--target-metric",
               "90", "--gen-seed", "3", "--gen-hidden", "200", "--gen-epochs", "5", "--gen-min-steps", "100",
               "--n-pool", "500", "--n-test", "100", "--val", "50"],
}  # fmt: skip

QUICK = ["--dataset", "digits", "--n-pool", "300", "--n-test", "100", "--val", "40", "--rounds", "3", "--initial", "20",
         "--per-round", "10", "--epochs", "1", "--min-steps", "20", "--gen-epochs", "1", "--gen-min-steps", "60",
         "--quiet", "--threads", "1"]  # fmt: skip
RUN = ["--strategy", "random,snn,entropy", "--seeds", "0,1"]
TUNE = ["--strategy", "snn", "--seeds", "0", "--rounds", "2", "--grid", "alpha=0.1,0.5"]

GOLDEN = {
    "defaults": "efd232f5b83388956e90c1ce61e17a095f4451c51b7c5079211ba83058d0155b",
    "mnist-table1": "e1f034befb8d7975a3c2220afa33f53b179e34d80380e455110e10a341ee976b",
    "cpu-profile": "cef62e04596b2d5deff758f94eaf186c4558e62cd506ab2e9e4eb4ca1f0f91e5",
    "paper-profile": "a3e44720e81be23ce00f18f450b686e5f065335a57f5c16cd36988a1516e78f0",
    "vessels": "f73eb2f2e6100a11a62e13ebe010d6704524e20a9a4b2000524faebd4b94fcc0",
    "alphagan": "19bd04c3d1f1cd6147f48cc82560535c993ecabfd08e3962a758a635a0ade62c",
    "batchbald": "b25221797d507941e3692fb1db5019545c62c1f59693cdc67d557eec6539bac3",
    "recipe": "64e04e60c841f705d42842adf04124051b4ac4330d38330d82ab3ff50b1eebc5",
    "nb01": "ef7b2806c20200d5ae58cf02e67815f03cffc7d1895c6bcc4a06aff452af2222",
    "nb01-smoke": "14a0156b5e0c5f9668509fdee62ecbfccb2c52d137178bbee39c407d22bacfca",
    "nb04": "9b63a9cf71fd62a93fd3298001d9d973b58dc7bbcac08d41269c93a2fbebeefe",
    "nb02": "55a568dda54898137778a0e7677f63b3c7033ed21de34a50206fca22da32f911",
    "nb02-paper": "38d32c2f11ecf3b3088fbcf5fc3a9c156f0e1883dc54bcd6ce04d79c7a266297",
    "nb02-smoke": "044d76719c3a84bc1fe59e2cc46f7355c9cfe18362eacac3a3ce8c31ceb086c5",
    "nb03": "d30a3e6226b863bb0ed97d36cd8cb324961de3d14b25ade9c39f429d8f4fc44c",
    "nb03-smoke": "d0294e94ab51d9bd65c58f1cf947bc0cc44279a939b4a43ad35317bcd5b431c7",
    "run/results.csv": "4e8c22834822f1c9a60425e697cc860d662641f959248512bdc89f078aef4b32",
    "run/summary.md": "4a5ffc7de6b301e4c538204b756b68fc4d4b16bfdcdd8f6e6511a75150ad10f4",
    "run/config.json": "5138a7afa83975de8b48281c10ad1edb9a95d1ab7adc0f3e9a4dfc5f4712bb2f",
    "tune/tune.json": "c7807af2af4e97f8adb6dc59df54dbca6c68e2dd60998f47bfcc6e5bf1e26cd3",
    "tune/point-1/results.csv": "b193bfaba01ac6824ec98e6db2ceea423353c7e1bded5cc814443cb39fd35425",
}


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def config_hashes() -> dict:
    from latentlab.cli import build_parser, config_from_args

    out = {}
    for name, argv in CONFIGS.items():
        cfg = config_from_args(build_parser().parse_args(["run", *argv]))
        out[name] = _sha(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    return out


def helper_hashes() -> dict:
    """The configs the notebook helpers build (notebooks 01, 02, 04 and their smoke modes)."""
    from latentlab import notebook_helpers as nh

    cfgs = {
        "nb01": nh.experiment_config(dataset="mnist", strategies=["random", "snn", "entropy"], seeds=[0, 1, 2, 3, 4],
                                     rounds=10, initial=300, per_round=300),
        "nb01-smoke": nh.experiment_config(strategies=["random", "snn"], seeds=[0, 1, 2], smoke=True),
        "nb04": nh.experiment_config(dataset="mnist", strategies=["snn"], seeds=[0], rounds=1, initial=300),
        "nb02": nh.profile_config("cpu", strategies=["random", "snn"], seeds=[0, 1, 2], alpha=0.5, min_steps=150,
                                  n_val=1000),
        "nb02-paper": nh.profile_config("paper", rounds=3, latent_dim=16),
        "nb02-smoke": nh.profile_config("cpu", seeds=[0, 1, 2], n_val=100, smoke=True),
    }  # fmt: skip
    with mock.patch("latentlab.experiment.prepare", lambda *a, **k: None):  # the config only, no FEM labels
        cfgs["nb03"] = nh.vessels_setup(strategies=["random", "si"], seeds=[0, 1], rounds=5, initial=50)[0]
        cfgs["nb03-smoke"] = nh.vessels_setup(seeds=[0, 1], smoke=True)[0]
    return {k: _sha(json.dumps(c.to_dict(), sort_keys=True).encode()) for k, c in cfgs.items()}


def run_hashes(tmp: Path) -> dict:
    import torch

    from latentlab.cli import main

    n = torch.get_num_threads()
    try:
        assert main(["run", *QUICK, *RUN, "--out", str(tmp / "run")]) == 0
        assert main(["tune", *QUICK, *TUNE, "--out", str(tmp / "tune")]) == 0
    finally:
        torch.set_num_threads(n)
    tune = json.loads((tmp / "tune" / "tune.json").read_text())
    return {
        **{f"run/{f}": _sha((tmp / "run" / f).read_bytes()) for f in ("results.csv", "summary.md", "config.json")},
        "tune/tune.json": _sha(json.dumps(tune, sort_keys=True).encode()),
        "tune/point-1/results.csv": _sha((tmp / "tune" / "point-1" / "results.csv").read_bytes()),
    }


def test_configs_are_byte_identical():
    assert config_hashes() == {k: v for k, v in GOLDEN.items() if k in CONFIGS}


def test_notebook_helper_configs_are_byte_identical():
    got = helper_hashes()
    assert got == {k: v for k, v in GOLDEN.items() if k in got}


def test_run_and_tune_outputs_are_byte_identical(tmp_path):
    got = run_hashes(tmp_path)
    assert got == {k: v for k, v in GOLDEN.items() if k in got}


if __name__ == "__main__":  # print GOLDEN for this platform (run it on the commit before a change)
    import contextlib
    import io
    import os
    import tempfile

    os.environ.setdefault("LATENTLAB_CACHE", tempfile.mkdtemp())
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        g = {**config_hashes(), **helper_hashes(), **run_hashes(Path(d))}
    json.dump(g, sys.stdout, indent=4)
    print()
