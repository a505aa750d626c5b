"""The command line as a user runs it: outputs, determinism, resume after SIGKILL, clear errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentlab.cli import main
from latentlab.report import read_results

QUICK = [
    "--dataset",
    "digits",
    "--n-pool",
    "300",
    "--n-test",
    "150",
    "--rounds",
    "3",
    "--initial",
    "30",
    "--per-round",
    "20",
    "--epochs",
    "1",
    "--min-steps",
    "60",
    "--gen-epochs",
    "1",
    "--gen-min-steps",
    "200",
    "--quiet",
]


def run_cli(*args):
    return main(["run", *QUICK, *args])


def test_run_writes_all_outputs_and_is_deterministic(tmp_path, capsys):
    assert run_cli("--strategy", "random,snn,entropy", "--seeds", "0,1", "--out", str(tmp_path / "a")) == 0
    out = capsys.readouterr().out
    assert "| strategy | t=1 | t=2 | t=3 |" in out and "| snn |" in out
    a = tmp_path / "a"
    for f in ("results.csv", "summary.md", "learning_curves.png", "rounds.csv", "config.json"):
        assert (a / f).exists(), f
    rows = read_results(a / "results.csv")
    assert len(rows) == 3 * 2 * 3
    assert list(rows[0]) == ["dataset", "strategy", "seed", "round", "n_labelled", "metric", "value"]
    assert {r["n_labelled"] for r in rows} == {30, 50, 70}
    # all strategies of one seed share round 1
    r1 = {(r["strategy"], r["seed"]): r["value"] for r in rows if r["round"] == 1}
    assert r1[("random", 0)] == r1[("snn", 0)] == r1[("entropy", 0)]
    assert run_cli("--strategy", "random,snn,entropy", "--seeds", "0,1", "--out", str(tmp_path / "b")) == 0
    assert (a / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()


def test_existing_output_folder_needs_resume(tmp_path, capsys):
    assert run_cli("--strategy", "random", "--out", str(tmp_path)) == 0
    assert run_cli("--strategy", "random", "--out", str(tmp_path)) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert run_cli("--strategy", "random", "--alpha", "0.5", "--out", str(tmp_path), "--resume") == 2
    assert "settings differ in: loop" in capsys.readouterr().err
    assert run_cli("--strategy", "random", "--out", str(tmp_path), "--resume") == 0  # finished: read back
    assert run_cli("--strategy", "random", "--alpha", "0.5", "--out", str(tmp_path), "--overwrite") == 0


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--dataset", "mnst"], "unknown dataset 'mnst'; valid choices:"),
        (["--strategy", "random,snnn"], "unknown strategy 'snnn'; valid choices:"),
        (["--alpha", "0"], "alpha must be a finite number > 0"),
        (["--alpha", "-0.3"], "alpha must be a finite number > 0"),
        (["--per-round", "400"], "larger than the 270 unlabelled pool items"),
        (["--initial", "301"], "larger than the pool"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, capsys, args, msg):
    assert run_cli(*args, "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_missing_mnist_names_file_and_fix(tmp_path, capsys):
    assert main(["run", "--dataset", "mnist", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte" in err and str(tmp_path) in err and "--data-root" in err


def _state_round(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "state.json").read_text())["round"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-m",
        "latentlab",
        "run",
        *QUICK,
        "--rounds",
        "6",
        "--strategy",
        "random,snn",
        "--seeds",
        "0",
    ]
    subprocess.run([*args, "--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*args, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    run_dir = killed / "runs" / "snn-seed0"
    deadline = time.time() + 120
    while _state_round(run_dir) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "run finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.csv").exists()
    done_before = _state_round(run_dir)
    assert 3 <= done_before < 6
    subprocess.run([*args, "--out", str(killed), "--resume"], check=True, env=env, capture_output=True)
    assert (killed / "results.csv").read_bytes() == (tmp_path / "full" / "results.csv").read_bytes()
    rows = read_results(killed / "results.csv")
    assert sorted(r["round"] for r in rows if r["strategy"] == "snn") == [1, 2, 3, 4, 5, 6]
