"""Fault injection: foreign folders, concurrent runs, corrupt files, kills at every atomic rename, bad flags.

Every case checks the promise to the user: one line naming the file or the flag (exit 2, no
traceback), nothing deleted that latentlab did not write, and a resumed run identical to an
uninterrupted one.
"""

import json
import os
import subprocess
import sys

import pytest

from latentlab.cli import main
from latentlab.storage import RunLock

QUICK = ["--dataset", "digits", "--n-pool", "300", "--n-test", "150", "--rounds", "3", "--initial", "30",
         "--per-round", "20", "--epochs", "1", "--min-steps", "60", "--gen-epochs", "1", "--gen-min-steps", "200",
         "--quiet"]


def run_cli(*args):
    return main(["run", *QUICK, *args])


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("latentlab: error:")]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


# ------------------------------------------------------------------ --overwrite and the run marker
def test_overwrite_refuses_a_foreign_folder(tmp_path, capsys):
    p = tmp_path / "P"
    (p / "src").mkdir(parents=True)
    (p / "config.json").write_text('{"name": "app"}')
    (p / "src" / "precious.py").write_text("x")
    assert run_cli("--strategy", "random", "--overwrite", "--out", str(p)) == 2
    one_line_error(capsys, "--overwrite refused", "nothing was deleted")
    assert (p / "src" / "precious.py").read_text() == "x" and (p / "config.json").exists()
    assert run_cli("--strategy", "random", "--resume", "--out", str(p)) == 2
    one_line_error(capsys, "not a latentlab run")


def test_overwrite_removes_only_what_latentlab_wrote(tmp_path, capsys):
    p = tmp_path / "run"
    assert run_cli("--strategy", "random", "--out", str(p)) == 0
    marker = json.loads((p / ".latentlab-run").read_text())
    assert marker == {"kind": "latentlab run", "format": 1}
    (p / "notes.txt").write_text("mine")
    (p / "runs" / "random-seed0" / "plot.svg").write_text("mine too")
    with pytest.warns(UserWarning, match="kept 2 file"):
        assert run_cli("--strategy", "random", "--alpha", "0.5", "--overwrite", "--out", str(p)) == 0
    assert (p / "notes.txt").read_text() == "mine" and (p / "runs" / "random-seed0" / "plot.svg").exists()
    assert json.loads((p / "config.json").read_text())["loop"]["alpha"] == 0.5


def test_failed_start_leaves_no_folder(tmp_path, capsys):
    p = tmp_path / "new"
    assert run_cli("--strategy", "random", "--initial", "301", "--out", str(p)) == 2
    assert not p.exists()


# ------------------------------------------------------------------ one run per folder
def test_second_run_on_a_folder_refuses_at_once(tmp_path, capsys):
    p = tmp_path / "run"
    p.mkdir()
    with RunLock(p):
        assert run_cli("--strategy", "random", "--out", str(p)) == 2
        one_line_error(capsys, f"another latentlab run (pid {os.getpid()})", "choose another --out")
    assert not (p / "config.json").exists()
    assert run_cli("--strategy", "random", "--out", str(p)) == 0  # released: the folder is free again


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    p = tmp_path / "run"
    p.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (p / RunLock.NAME).write_text(dead.stdout)  # a crashed run's lock file: nobody holds it
    assert run_cli("--strategy", "random", "--out", str(p)) == 0
    assert not (p / RunLock.NAME).exists()


def test_two_concurrent_runs_one_refuses_and_results_match_config(tmp_path):
    p = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LATENTLAB_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "latentlab.cli", "run", *QUICK, "--strategy", "random", "--out", str(p)]
    procs = [subprocess.Popen(cmd + ["--alpha", a], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for a in ("0.5", "0.2")]
    outs = [pr.communicate(timeout=600) for pr in procs]
    codes = sorted(pr.returncode for pr in procs)
    errs = "".join(e for _, e in outs)
    assert codes in ([0, 2], [0, 0]), errs  # [0, 0]: the second started after the first had finished
    assert "Traceback" not in errs
    if codes == [0, 2]:
        assert "another latentlab run" in errs or "already holds a run" in errs
    alpha = json.loads((p / "config.json").read_text())["loop"]["alpha"]
    winner = [a for a, pr in zip(("0.5", "0.2"), procs) if pr.returncode == 0][0]
    assert alpha == float(winner)
