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


# ------------------------------------------------------------------ every bad flag: one line, exit 2, before any work
BAD_FLAGS = [
    (["--seeds", "-1"], "seeds must be whole numbers >= 0"),
    (["--gen-seed", "-1"], "--gen-seed must be a whole number >= 0"),
    (["--batch-size", "0"], "--batch-size must be a whole number >= 1"),
    (["--batch-size", "-1"], "--batch-size must be a whole number >= 1"),
    (["--lr", "nan"], "--lr must be a finite number > 0"),
    (["--lr", "0"], "--lr must be a finite number > 0"),
    (["--epochs", "nan"], "--epochs must be a finite number >= 0"),
    (["--epochs", "inf"], "--epochs must be a finite number >= 0"),
    (["--gen-epochs", "nan"], "--gen-epochs must be a finite number >= 0"),
    (["--n-pool", "-5"], "--n-pool must be a whole number >= 1"),
    (["--n-test", "-1"], "--n-test must be a whole number >= 1"),
    (["--n-test", "0"], "--n-test must be a whole number >= 1"),
    (["--latent-dim", "0"], "--latent-dim must be a whole number >= 1"),
    (["--target-width", "-1"], "--target-width must be a finite number > 0"),
    (["--target-width", "nan"], "--target-width must be a finite number > 0"),
    (["--candidates", "-3"], "--candidates must be a whole number >= 1"),
    (["--gen-hidden", "0"], "--gen-hidden must be a whole number >= 1"),
    (["--budget", "0"], "--budget must be a whole number >= 1"),
    (["--budget", "10"], "--budget 10 is smaller than the initial set"),
    (["--min-steps", "-1"], "--min-steps must be a whole number >= 0"),
    (["--gen-min-steps", "-1"], "--gen-min-steps must be a whole number >= 0"),
    (["--rounds", "0"], "rounds must be >= 1"),
    (["--initial", "0"], "initial set size must be >= 1"),
    (["--per-round", "-2"], "per-round batch size must be >= 1"),
    (["--val", "-1"], "--val must be a whole number >= 0"),
    (["--target-metric", "nan"], "--target-metric must be a finite number"),
    (["--target", "resnet"], "unknown target model 'resnet'"),
    (["--gen-kind", "gan"], "unknown generator 'gan'"),
    (["--dataset", "mnst"], "unknown dataset 'mnst'"),
    (["--workers", "0"], "--workers must be a whole number >= 1"),
    (["--threads", "0"], "--threads must be a whole number >= 1"),
    (["--seeds", "a,b"], "expected comma-separated integers"),
    (["--alpha", "x"], "invalid float value"),
    (["--rounds", "1.5"], "invalid int value"),
    (["--loss-on", "both"], "invalid choice"),
    (["--resume", "--overwrite"], "not allowed with argument"),
]


@pytest.mark.parametrize("args, msg", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, args, msg):
    import latentlab.experiment as ex

    def no_data(*a, **k):
        raise AssertionError("data was loaded before the flags were checked")

    monkeypatch.setattr(ex, "load_dataset", no_data)
    with pytest.raises(SystemExit) if msg in ("expected comma-separated integers", "invalid float value",
                                             "invalid int value", "invalid choice", "not allowed with argument") \
            else _nothing():
        code = run_cli(*args, "--out", str(tmp_path / "o"))
        assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_out_that_is_a_file_or_read_only_fails_before_any_work(tmp_path, capsys, monkeypatch):
    import latentlab.experiment as ex

    monkeypatch.setattr(ex, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    f = tmp_path / "file"
    f.write_text("x")
    assert run_cli("--out", str(f)) == 2
    one_line_error(capsys, "is a file, not a folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert run_cli("--out", str(ro / "run")) == 2
        one_line_error(capsys, "cannot write in")
    finally:
        ro.chmod(0o700)
