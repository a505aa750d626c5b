"""latentlab.sweep: grid parsing, one papermill run per point, process pool vs Dask vs `latentlab run`,
failures recorded with their cell, reruns skipping finished points.

Tiny settings (embedded digits, 2 rounds, a 30-step VAE shared through the session cache) keep the
whole file to a few notebook runs.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path

import pytest

pytest.importorskip("papermill")

from latentlab.exceptions import ConfigError  # noqa: E402
from latentlab.sweep import grid_points, load_grid, parse_grid, sweep  # noqa: E402

NB01 = Path(__file__).resolve().parents[1] / "notebooks" / "01_mnist.ipynb"
GRIDS = NB01.parent / "grids"

# the smoke sizes of notebook_helpers.SMOKE, spelled out so `latentlab run` can use them too
TINY = dict(
    dataset="digits",
    rounds=2,
    initial=20,
    per_round=10,
    epochs=1.0,
    min_steps=10,
    gen_epochs=1.0,
    gen_min_steps=30,
    n_pool=300,
    n_test=100,
)
RUN_ARGS = [
    "--dataset",
    "digits",
    "--rounds",
    "2",
    "--initial",
    "20",
    "--per-round",
    "10",
    "--epochs",
    "1",
    "--min-steps",
    "10",
    "--gen-epochs",
    "1",
    "--gen-min-steps",
    "30",
    "--n-pool",
    "300",
    "--n-test",
    "100",
]


def _values(rows):
    return {(r["strategy"], int(r["seed"]), int(r["round"])): (int(r["n_labelled"]), float(r["value"])) for r in rows}


# --------------------------------------------------------------------------- grid files (no notebook runs)
def test_grid_sections_and_flat_form():
    g, f = parse_grid({"grid": {"seeds": [0, 1], "alpha": [0.1, 0.2]}, "fixed": {"strategies": ["snn"], "rounds": 3}})
    assert g == {"seeds": [0, 1], "alpha": [0.1, 0.2]} and f == {"strategies": ["snn"], "rounds": 3}
    g2, f2 = parse_grid({"seeds": [0, 1], "rounds": 3})
    assert g2 == {"seeds": [0, 1]} and f2 == {"rounds": 3}
    pts = grid_points(g, f)
    assert len(pts) == 4 and len({p[0] for p in pts}) == 4
    assert pts[0][2] == {"strategies": ["snn"], "rounds": 3, "seeds": 0, "alpha": 0.1}
    assert [p[0] for p in grid_points(g, f)] == [p[0] for p in pts]  # ids are stable across calls
    assert grid_points(g, {**f, "n_rounds": 4})[0][0] != pts[0][0]  # ...and change with any parameter


@pytest.mark.parametrize(
    "doc, msg",
    [
        ({"grid": {"seeds": [0]}, "fixed": {"seeds": 1}}, "both swept and fixed"),
        ({"grid": {"seeds": []}}, "non-empty list"),
        ({"grid": {"seeds": [0]}, "out_dir": "x"}, "no other top-level keys"),
        ({"seeds": [0], "out_dir": "x"}, "set by the sweep"),
    ],
)
def test_grid_errors_name_the_fix(doc, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_grid(doc)


def test_example_grids_parse_and_name_real_parameters():
    import papermill as pm

    known = set(pm.inspect_notebook(str(NB01)))
    for f in ("smoke_digits.yaml", "mnist_table1.yaml", "mnist_alpha.yaml"):
        g, fx = load_grid(GRIDS / f)
        assert set(g) | set(fx) <= known, f


def test_unknown_parameter_is_refused_before_any_run(tmp_path):
    with pytest.raises(ConfigError, match="no parameter 'seed'.*valid:"):
        sweep(NB01, {"seed": [0, 1]}, tmp_path / "sw", fixed=TINY, progress=False)
    assert not (tmp_path / "sw").exists()


def test_cli_lists_sweep():
    from latentlab.cli import build_parser

    a = build_parser().parse_args(["sweep", str(NB01), "--grid", "g.yaml", "--out", "o", "--workers", "2"])
    assert a.workers == 2 and a.scheduler is None and a.threads == 1


# --------------------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """`OMP_NUM_THREADS=1 latentlab run` with the same settings (also caches the tiny VAE for the kernels)."""
    import os
    import subprocess
    import sys

    from latentlab.report import read_results

    out = tmp_path_factory.mktemp("run")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the sweep's default threads per run (torch sums depend on it)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "latentlab",
            "run",
            *RUN_ARGS,
            "--strategy",
            "random,snn",
            "--seeds",
            "0,1",
            "--out",
            str(out),
            "--quiet",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return read_results(out / "results.csv")


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory, reference):
    """2 seeds x alpha {0.2, -1}: the alpha=-1 points fail in the notebook's first code cell."""
    out = tmp_path_factory.mktemp("sweep") / "pool"
    return sweep(
        NB01,
        {"seeds": [0, 1], "alpha": [0.2, -1.0]},
        out,
        fixed={**TINY, "strategies": ["random", "snn"]},
        workers=2,
        progress=False,
    )


def test_sweep_gives_the_numbers_of_latentlab_run(pool_sweep, reference):
    ok = [r for r in pool_sweep.records if r["status"] == "ok"]
    assert len(ok) == 2
    assert _values(pool_sweep.rows) == _values(reference)
    with open(pool_sweep.out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["point", "param_seeds", "param_alpha"]
    assert _values(rows) == _values(reference)  # the file holds the same (repr-exact) numbers
    assert {r["param_seeds"] for r in rows} == {"0", "1"}
    for rec in ok:  # each point: its own executed notebook and out_dir
        d = pool_sweep.out / "runs" / rec["point"]
        assert (d / "notebook.ipynb").is_file() and (d / "out" / "fig3_left.png").is_file()
    md = (pool_sweep.out / "summary.md").read_text()
    assert "4 runs: 2 finished, 2 failed" in md and "| snn |" in md


def test_failing_points_are_recorded_and_the_others_finish(pool_sweep):
    assert [r["status"] for r in pool_sweep.records] == ["ok", "failed", "ok", "failed"]
    for bad in pool_sweep.failures:
        assert bad["ename"] == "ConfigError" and "alpha must be a finite number > 0" in bad["evalue"]
        assert isinstance(bad["cell_index"], int) and bad["cell_index"] >= 2  # after the (injected) parameters
        failed = json.loads((pool_sweep.out / "runs" / bad["point"] / "failed.json").read_text())
        assert failed["cell_index"] == bad["cell_index"]
    assert {r["param_alpha"] for r in pool_sweep.rows} == {0.2}
    with open(pool_sweep.out / "failures.csv", newline="") as f:
        fails = list(csv.DictReader(f))
    assert len(fails) == 2 and fails[0]["cell_index"] == str(pool_sweep.failures[0]["cell_index"])
    md = (pool_sweep.out / "summary.md").read_text()
    assert "## Failures" in md and "ConfigError" in md and "alpha must be" in md


def test_rerun_skips_finished_points_and_retries_failed_ones(pool_sweep, monkeypatch):
    import latentlab.sweep as sw

    retried = []
    monkeypatch.setattr(
        sw,
        "_execute",
        lambda nb, runs, todo, *a: (
            retried.extend(p for p, _ in todo) or [json.loads((runs / p / "failed.json").read_text()) for p, _ in todo]
        ),
    )
    again = sweep(
        NB01,
        {"seeds": [0, 1], "alpha": [0.2, -1.0]},
        pool_sweep.out,
        fixed={**TINY, "strategies": ["random", "snn"]},
        workers=2,
        progress=False,
    )
    assert sorted(retried) == sorted(r["point"] for r in pool_sweep.failures)  # only the failed points run again
    assert again.n_run == 2 and sum(bool(r.get("skipped")) for r in again.records) == 2
    assert _values(again.rows) == _values(pool_sweep.rows)


def test_dask_local_cluster_gives_the_numbers_of_the_process_pool(tmp_path, pool_sweep):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            host="127.0.0.1", dashboard_address=None, n_workers=2, threads_per_worker=1, processes=True
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = sweep(
            NB01,
            {"seeds": [0, 1], "alpha": [0.2]},
            tmp_path / "dask",
            fixed={**TINY, "strategies": ["random", "snn"]},
            client=client,
            progress=False,
        )
    assert not res.failures
    assert _values(res.rows) == _values(pool_sweep.rows)


# --------------------------------------------------------------------------- bookkeeping files: verified or rerun
# A stand-in for papermill (no kernel: milliseconds per point) drives the real run_point / _finished /
# gather code, so every damage to a point's files can be tried; the notebooks above cover the real runs.
def toy_notebook(path: Path) -> Path:
    """A notebook whose parameters cell defines ``seed`` and ``out_dir`` (the sweep checks names against it)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('seed = 0\nout_dir = "out"')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("# the toy run: see tests/test_sweep.py fake_execute")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


TOY_FAILS, TOY_GARBLES = 3, 4  # seed 3 fails in its second cell; seed 4 writes a table nobody can read
TICK = None  # called after each line fake_execute writes (the kill test counts these moments)


def fake_execute(input_path, output_path, parameters, **kw):
    """What the toy notebook does, without a kernel: a results.csv written line by line (a kill can tear it)."""
    import random
    import time

    from papermill.exceptions import PapermillExecutionError

    Path(output_path).write_text('{"cells": []}')
    out = Path(parameters["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    seed = parameters["seed"]
    if seed == TOY_FAILS:
        raise PapermillExecutionError(1, 1, "", "ValueError", f"seed {seed} always fails", [])
    rng = random.Random(seed)
    lines = ["dataset,strategy,seed,round,n_labelled,metric,value"]
    lines += [f"toy,random,{seed},{t},{10 * t},accuracy,{rng.random()!r}" for t in (1, 2, 3)]
    if seed == TOY_GARBLES:
        lines[2] = "toy,random,\x00\x00,garbage"
    with open(out / "results.csv", "w") as f:
        for ln in lines:
            f.write(ln + "\n")
            f.flush()
            if TICK is not None:
                TICK()
            time.sleep(0.002)


def use_fake_papermill(monkeypatch, executed: list | None = None) -> None:
    """papermill.execute_notebook -> fake_execute, and points run one after another in this process."""
    import papermill

    import latentlab.sweep as sw

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)

    def serial(notebook, runs, todo, kw, *rest):
        for pid, params in todo:
            if executed is not None:
                executed.append(pid)
            yield sw.run_point(notebook, runs / pid, params, **kw)

    monkeypatch.setattr(sw, "_execute", serial)


def toy_sweep(nb, out, seeds=(0, 1, 2)):
    return sweep(nb, {"seed": list(seeds)}, out, progress=False)


def _sweep_cli(nb, out, seeds, capsys):
    from latentlab.cli import main

    grid = out.parent / f"{out.name}-grid.yaml"
    grid.write_text(f"grid:\n  seed: {list(seeds)}\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code = main(["sweep", str(nb), "--grid", str(grid), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "latentlab: error" not in err, err
    lines = [str(w.message) for w in seen]
    assert all("\n" not in ln for ln in lines), lines
    return code, lines


def _flip(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x20
    p.write_bytes(bytes(b))


POINT_DAMAGE = {
    "done.json": {
        "garbled": _flip,
        "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "empty": lambda p: p.write_text(""),
        "binary": lambda p: p.write_bytes(bytes(range(256)) * 4),
        "list": lambda p: p.write_text(json.dumps([json.loads(p.read_text())])),
        "string": lambda p: p.write_text('"ok"'),
        "deep-nesting": lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
        "no-checksum": lambda p: p.write_text(
            json.dumps({k: v for k, v in json.loads(p.read_text()).items() if k != "sha256"})
        ),
        "status-edited": lambda p: p.write_text(p.read_text().replace('"status": "ok"', '"status": "ko"')),
        "other-point": lambda p: p.write_text(
            (
                p.parent.parent / sorted(x.name for x in p.parent.parent.iterdir() if x != p.parent)[0] / "done.json"
            ).read_text()
        ),
    },
    "params.json": {
        "garbled": _flip,
        "list": lambda p: p.write_text("[0]"),
        "missing": lambda p: p.unlink(),
        "edited": lambda p: p.write_text(p.read_text().replace('"seed": 1', '"seed": 7')),
    },
    "out/results.csv": {
        "garbled": _flip,
        "truncated": lambda p: p.write_bytes(p.read_bytes()[:40]),
        "deleted": lambda p: p.unlink(),
        "number-edited": lambda p: p.write_text(
            p.read_text().replace("toy,random,1,2,20,accuracy,0.", "toy,random,1,2,20,accuracy,1.")
        ),
        "nul-bytes": lambda p: p.write_bytes(p.read_bytes().replace(b"random", b"\x00\x00\x00\x00\x00\x00")),
    },
}
DAMAGE_CASES = [(f, how) for f, cases in POINT_DAMAGE.items() for how in cases]


@pytest.fixture(scope="module")
def toy_finished(tmp_path_factory):
    """A finished toy sweep of seeds 0, 1, 2 (copied by each test that damages it)."""
    mp = pytest.MonkeyPatch()
    try:
        d = tmp_path_factory.mktemp("toy")
        nb = toy_notebook(d / "toy.ipynb")
        use_fake_papermill(mp)
        res = toy_sweep(nb, d / "sweep")
        assert not res.failures and len(res.rows) == 9
        return nb, d / "sweep", res.records
    finally:
        mp.undo()


@pytest.mark.parametrize("target, how", DAMAGE_CASES, ids=[f"{f}-{h}" for f, h in DAMAGE_CASES])
def test_damaged_point_file_is_one_warning_and_that_point_reruns(
    toy_finished, tmp_path, monkeypatch, capsys, target, how
):
    import shutil

    nb, finished, records = toy_finished
    out = tmp_path / "sweep"
    shutil.copytree(finished, out)
    point = records[1]["point"]  # seed 1
    POINT_DAMAGE[target][how](out / "runs" / point / target)
    executed = []
    use_fake_papermill(monkeypatch, executed)
    code, lines = _sweep_cli(nb, out, (0, 1, 2), capsys)
    assert code == 0 and executed == [point], (executed, lines)
    assert len(lines) == 1 and lines[0].startswith("sweep: "), lines
    assert target.split("/")[-1] in lines[0] and f"running point {point} again" in lines[0], lines[0]
    assert (out / "results.csv").read_bytes() == (finished / "results.csv").read_bytes()
    executed.clear()
    assert _sweep_cli(nb, out, (0, 1, 2), capsys) == (0, []) and executed == []  # repaired: all skipped, silently


def test_unreadable_results_table_fails_that_point_not_the_gather(tmp_path, monkeypatch, capsys):
    nb = toy_notebook(tmp_path / "toy.ipynb")
    executed = []
    use_fake_papermill(monkeypatch, executed)
    code, lines = _sweep_cli(nb, tmp_path / "sw", (0, TOY_GARBLES), capsys)
    assert code == 1 and len(lines) == 1 and "results.csv" in lines[0] and "runs again on the next sweep" in lines[0]
    with open(tmp_path / "sw" / "failures.csv", newline="") as f:
        fails = list(csv.DictReader(f))
    assert [r["ename"] for r in fails] == ["CorruptResults"]
    point = fails[0]["point"]
    assert not (tmp_path / "sw" / "runs" / point / "done.json").exists()
    assert (tmp_path / "sw" / "runs" / point / "failed.json").exists()
    rows = list(csv.DictReader(open(tmp_path / "sw" / "results.csv", newline="")))
    assert {r["param_seed"] for r in rows} == {"0"}  # the readable point was gathered
    executed.clear()
    assert _sweep_cli(nb, tmp_path / "sw", (0, TOY_GARBLES), capsys)[0] == 1 and executed == [point]  # rerun


def test_grid_file_that_is_not_text_is_one_line(tmp_path):
    g = tmp_path / "g.yaml"
    for data in (b"\xff\xfe\x00garbage", b"grid: [\n  - {a: 1\n", b"[" * 5000):
        g.write_bytes(data)
        with pytest.raises(ConfigError) as e:
            load_grid(g)
        assert "\n" not in str(e.value) and str(g) in str(e.value)


def test_second_sweep_into_one_folder_is_refused_at_once(tmp_path, monkeypatch, capsys):
    """One sweep per folder: a second one (here: the lock held by this process) is one line naming the
    PID, and it changes nothing there."""
    from latentlab.cli import main
    from latentlab.storage import RunLock

    executed = []
    use_fake_papermill(monkeypatch, executed)
    nb = toy_notebook(tmp_path / "toy.ipynb")
    out = tmp_path / "sw"
    out.mkdir()
    grid = tmp_path / "g.yaml"
    grid.write_text("grid:\n  seed: [0, 1]\n")
    with RunLock(out):
        assert main(["sweep", str(nb), "--grid", str(grid), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"another latentlab run (pid {os.getpid()}) is writing to" in err, err
    assert executed == [] and [p.name for p in out.iterdir()] == []
    assert main(["sweep", str(nb), "--grid", str(grid), "--out", str(out), "--quiet"]) == 0  # free again
    assert len(executed) == 2
