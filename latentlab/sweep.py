"""Batch execution: run one notebook per grid point with papermill, then gather one tidy table.

``latentlab sweep NOTEBOOK --grid grid.yaml --out DIR [--workers N] [--scheduler ADDRESS]``

A grid file holds papermill parameters. Lists under ``grid:`` are swept (cartesian product);
values under ``fixed:`` go to every point as they are (a list there is passed as a list)::

    grid:                 # every combination: 5 x 2 = 10 runs
      seeds: [0, 1, 2, 3, 4]
      strategies: [random, snn]
    fixed:
      dataset: mnist
      rounds: 10

(A file without ``grid:``/``fixed:`` sections is read as one flat mapping: lists are swept,
scalars are fixed.) Every point runs in its own folder ``DIR/runs/<point-id>/``: the executed
``notebook.ipynb``, ``params.json``, the notebook's own ``out_dir`` (``out/``) and a status file
(``done.json`` or ``failed.json``). The point id is a readable slug of the swept values plus a
hash of all parameters, so it is stable across reruns: a rerun skips points with ``done.json``
(same parameters) and retries failed ones.

``done.json`` carries its own checksum and those of ``params.json`` and ``out/results.csv`` as
they were when the point finished. A rerun trusts a finished point only when all three match: a
status file that is missing its checksum, hand-edited, garbled or of the wrong JSON type, or a
results table changed since, is reported in one warning line naming the file, and that point runs
again. A point whose notebook wrote a results table that cannot be read is recorded as failed
(and rerun next time) instead of stopping the gather.

Runs go to a local process pool (``workers`` processes, each driving one papermill kernel with
``threads`` OpenMP threads, default 1, so the numbers do not depend on the backend) or,
given a ``dask.distributed.Client`` or a scheduler address, to a Dask cluster; nothing else
changes. The output folder must be visible to the workers at the same path (a shared disk).
A failing run is recorded with papermill's error (cell index, execution count, exception name
and message) and never stops or loses the others.

After the runs, every run's ``out/results.csv`` (the tidy table of
:func:`latentlab.run_experiment`) is concatenated, with the point id and the swept parameters as
extra columns, into ``DIR/results.csv``; ``DIR/summary.md`` holds a Table-1-style pivot per
combination of the non-seed, non-strategy swept parameters, and the failures table, which is
also written to ``DIR/failures.csv``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import ConfigError, ResumeError
from .executor import connect_scheduler  # noqa: F401  (sweep.connect_scheduler, as before)
from .storage import atomic_write, checked_json, load_checked_json, sha256_file, verify_file

__all__ = [
    "HELP",
    "configure_parser",
    "load_grid",
    "grid_points",
    "point_id",
    "run_point",
    "sweep",
    "SweepResult",
    "gather",
]

HELP = "run a notebook once per grid point (papermill), locally or on Dask; gather one tidy table"  # see cli.COMMANDS

OUT_SUBDIR = "out"  # the notebook's out_dir inside each point folder
SEED_KEYS = ("seed", "seeds")
STRATEGY_KEYS = ("strategy", "strategies")


# --------------------------------------------------------------------------- the grid
def load_grid(path) -> tuple[dict, dict]:
    """Read a grid YAML file -> ``(grid, fixed)``: ``{name: [values]}``, ``{name: value}``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"grid file {path} not found; write a YAML file with 'grid:' (lists to sweep) and "
            "'fixed:' (values for every run), see notebooks/grids/"
        )
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        msg = " ".join(str(e).split())[:200]
        raise ConfigError(f"grid file {path} is not valid YAML ({msg}); fix it, see notebooks/grids/") from None
    except (ValueError, RecursionError) as e:  # bytes that are not UTF-8 text; nesting too deep to parse
        raise ConfigError(
            f"grid file {path} is not a YAML text file ({e.__class__.__name__}); see notebooks/grids/"
        ) from None
    return parse_grid(doc, str(path))


def parse_grid(doc: dict, where: str = "grid") -> tuple[dict, dict]:
    """Split a mapping into swept lists and fixed values (see the module docstring)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping of parameter names, got {type(doc).__name__}")
    unknown = set(doc) - {"grid", "fixed"}
    if "grid" in doc or "fixed" in doc:
        if unknown:
            raise ConfigError(
                f"{where}: with 'grid:'/'fixed:' sections, no other top-level keys are allowed; "
                f"move {', '.join(sorted(unknown))} under one of them"
            )
        grid, fixed = dict(doc.get("grid") or {}), dict(doc.get("fixed") or {})
    else:
        grid = {k: v for k, v in doc.items() if isinstance(v, list)}
        fixed = {k: v for k, v in doc.items() if not isinstance(v, list)}
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}: grid parameter {k!r} must be a non-empty list, got {v!r}")
    both = set(grid) & set(fixed)
    if both:
        raise ConfigError(f"{where}: {', '.join(sorted(both))} is both swept and fixed; keep one")
    reserved = {"out_dir"} & (set(grid) | set(fixed))
    if reserved:
        raise ConfigError(f"{where}: 'out_dir' is set by the sweep (each run writes into its own folder); remove it")
    return grid, fixed


def _slug(v) -> str:
    s = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
    return re.sub(r"[^A-Za-z0-9.+-]+", "", s)[:24] or "x"


def point_id(swept: dict, params: dict) -> str:
    """Stable folder name: ``name-value_..._<hash of all parameters>``."""
    h = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
    slug = "_".join(f"{k}-{_slug(v)}" for k, v in swept.items())
    return f"{slug}_{h}" if slug else h


def grid_points(grid: dict, fixed: dict) -> list[tuple[str, dict, dict]]:
    """Cartesian product -> ``[(point_id, swept_values, all_params), ...]`` in a fixed order."""
    names = list(grid)
    pts = []
    for combo in itertools.product(*(grid[k] for k in names)):
        swept = dict(zip(names, combo))
        params = {**fixed, **swept}
        pts.append((point_id(swept, params), swept, params))
    ids = [p[0] for p in pts]
    if len(set(ids)) != len(ids):
        raise ConfigError("grid has repeated points; remove duplicate values from its lists")
    return pts


# --------------------------------------------------------------------------- one run
def _write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1, default=str))


def run_point(
    notebook,
    point_dir,
    params: dict,
    *,
    kernel_name: str | None = None,
    cwd=None,
    execution_timeout: float | None = None,
    threads: int | None = 1,
) -> dict:
    """Execute ``notebook`` with ``params`` (+ ``out_dir``) into ``point_dir``; never raises.

    Returns the status record (also written to ``done.json`` or ``failed.json``): ``status``
    ("ok"/"failed"), ``seconds`` and, for a failure, ``cell_index``, ``exec_count``, ``ename``,
    ``evalue`` (papermill's :class:`~papermill.exceptions.PapermillExecutionError`; a failure
    outside a cell, e.g. a kernel that would not start, has ``cell_index`` None).

    ``threads`` sets ``OMP_NUM_THREADS`` (and MKL/OpenBLAS) for the kernel, in this process's
    environment, which the kernel inherits (None: leave the environment alone). See :func:`sweep`.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if threads is not None:
        _limit_threads(int(threads))
    point_dir = Path(point_dir)
    point_dir.mkdir(parents=True, exist_ok=True)
    for f in ("done.json", "failed.json"):
        (point_dir / f).unlink(missing_ok=True)
    _write_json(point_dir / "params.json", params)
    out_nb = point_dir / "notebook.ipynb"
    all_params = {**params, "out_dir": str((point_dir / OUT_SUBDIR).resolve())}
    t0 = time.perf_counter()
    rec = {"point": point_dir.name, "notebook": str(out_nb)}
    try:
        pm.execute_notebook(
            str(notebook),
            str(out_nb),
            parameters=all_params,
            kernel_name=kernel_name,
            progress_bar=False,
            cwd=str(cwd) if cwd else None,
            execution_timeout=execution_timeout,
        )
    except PapermillExecutionError as e:
        rec.update(
            status="failed", cell_index=e.cell_index, exec_count=e.exec_count, ename=e.ename, evalue=str(e.evalue)
        )
    except Exception as e:  # noqa: BLE001 - a run that cannot start is recorded, never allowed to stop the sweep
        rec.update(status="failed", cell_index=None, exec_count=None, ename=type(e).__name__, evalue=str(e)[:2000])
    else:
        rec["status"] = "ok"
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    if rec["status"] == "ok":
        _write_done(point_dir, rec)
    else:
        _write_json(point_dir / "failed.json", rec)
    return rec


def _write_done(point_dir: Path, rec: dict) -> None:
    """``done.json``: the status record, the checksums of ``params.json`` and ``out/results.csv`` as the
    point finished (None: the notebook wrote no table) and its own checksum over all of it."""
    res = point_dir / OUT_SUBDIR / "results.csv"
    rec["params_sha256"] = sha256_file(point_dir / "params.json")
    rec["results_sha256"] = sha256_file(res) if res.is_file() else None
    atomic_write(point_dir / "done.json", checked_json(rec, indent=1))


def _finished(point_dir: Path, params: dict) -> dict | None:
    """The status record of a point that finished with ``params``, or None: run it (again).

    Trusted only when ``done.json`` (its checksum), ``params.json`` and ``out/results.csv`` (the
    checksums in ``done.json``) are as the point left them; anything else is one warning naming the
    file, and the point runs again.
    """
    done = point_dir / "done.json"
    if not done.is_file():
        return None
    pf = point_dir / "params.json"
    res = point_dir / OUT_SUBDIR / "results.csv"
    fix = f"running point {point_dir.name} again"
    try:
        rec = load_checked_json(done, fix, what="a sweep status record")
        if rec.get("status") != "ok" or rec.get("point") != point_dir.name:
            raise ResumeError(f"{done} is not the status record of a finished point {point_dir.name}; {fix}")
        verify_file(pf, rec.get("params_sha256"), fix)
        stored = json.loads(pf.read_text())
        if rec.get("results_sha256") is not None or res.exists():
            verify_file(res, rec.get("results_sha256"), fix)
    except (ResumeError, OSError, ValueError) as e:
        warnings.warn(f"sweep: {e}", stacklevel=3)
        return None
    if stored != json.loads(json.dumps(params, default=str)):
        return None
    rec["skipped"] = True
    return rec


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    """What a sweep did: one status record per point, the gathered rows, the output paths."""

    out: Path
    records: list = field(default_factory=list)  # one dict per point: point, status, seconds, skipped, ...
    rows: list = field(default_factory=list)  # gathered tidy rows (results.csv)
    seconds: float = 0.0

    @property
    def failures(self) -> list:
        return [r for r in self.records if r["status"] != "ok"]

    @property
    def n_run(self) -> int:
        return sum(1 for r in self.records if not r.get("skipped"))


def sweep(
    notebook,
    grid,
    out,
    *,
    fixed: dict | None = None,
    workers: int = 1,
    client=None,
    scheduler=None,
    kernel_name: str | None = None,
    execution_timeout: float | None = None,
    threads: int | None = 1,
    progress: bool = True,
    log=print,
) -> SweepResult:
    """Run ``notebook`` once per point of ``grid`` and gather the results.

    Parameters
    ----------
    notebook : path
    grid : path or dict
        A grid YAML file, or ``{name: [values]}`` (with ``fixed``).
    out : path
        Sweep folder (created; an existing one is continued: finished points are skipped).
    workers : int
        Local processes running notebooks at once (ignored with a Dask client/scheduler).
    client : dask.distributed.Client, optional
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``); a client is made for the sweep.
    threads : int or None, default 1
        ``OMP_NUM_THREADS`` of every run's kernel, whatever the backend and the number of workers,
        so the numbers do not depend on them: torch's float sums depend on its thread count (on
        MNIST, 2 threads vs 1 changed test accuracies in the second decimal). It also keeps N
        workers from oversubscribing the cores: on this 2-core machine under load, kernels with 2
        spinning OpenMP threads ran ~10x slower than with 1. A sweep's numbers equal
        ``OMP_NUM_THREADS=<threads> latentlab run`` with the same settings. None: inherit.
    """
    t0 = time.perf_counter()
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise ConfigError(f"notebook {notebook} not found")
    if isinstance(grid, (str, os.PathLike)):
        g, f = load_grid(grid)
        f = {**f, **(fixed or {})}
    else:
        g, f = parse_grid({"grid": dict(grid), "fixed": dict(fixed or {})})
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads must be an integer >= 1 (or None to inherit), got {threads!r}")
    _check_params(notebook, {**g, **f})
    from .run_folder import check_writable

    out = check_writable(Path(out).resolve())
    own = None
    if client is None and scheduler:  # reach the scheduler now, not after the first run was submitted
        client = own = connect_scheduler(scheduler)
    from .storage import RunLock

    try:
        out.mkdir(parents=True, exist_ok=True)
        with RunLock(out):  # one sweep per folder: a second one is refused at once, naming the PID
            return _sweep(
                notebook, g, f, out, t0, workers, client, kernel_name, execution_timeout, threads, progress, log
            )
    finally:
        if own is not None:
            own.close()


def _sweep(notebook, g, f, out, t0, workers, client, kernel_name, execution_timeout, threads, progress, log):
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    points = grid_points(g, f)
    _write_json(out / "sweep.json", {"notebook": str(notebook), "grid": g, "fixed": f})
    records, todo = {}, []
    for pid, swept, params in points:
        rec = _finished(runs / pid, params)
        if rec is not None:
            records[pid] = rec
        else:
            todo.append((pid, params))
    if progress and records:
        log(f"sweep: {len(records)} of {len(points)} runs already finished in {out}; skipping them")
    cwd = os.getcwd()
    kw = dict(kernel_name=kernel_name, cwd=cwd, execution_timeout=execution_timeout, threads=threads)
    if todo:
        for rec in _execute(notebook, runs, todo, kw, workers, client, None):
            records[rec["point"]] = rec
            if progress:
                msg = "ok" if rec["status"] == "ok" else f"FAILED in cell {rec['cell_index']}: {rec['ename']}"
                log(f"sweep: [{len(records)}/{len(points)}] {rec['point']}: {msg} ({rec['seconds']:.0f} s)")
    ordered = [records[pid] for pid, _, _ in points]
    rows = gather(out, points, ordered)
    return SweepResult(out=out, records=ordered, rows=rows, seconds=time.perf_counter() - t0)


def _check_params(notebook: Path, params: dict) -> None:
    """Names that the notebook's parameters cell does not define are an error (typos would be silent)."""
    import papermill as pm

    try:
        known = pm.inspect_notebook(str(notebook))
    except Exception as e:  # nbformat raises several kinds (NotJSONError, ValidationError, KeyError, ...)
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        raise ConfigError(
            f"{notebook} is not a readable Jupyter notebook ({e.__class__.__name__}: {msg}); give an .ipynb file"
        ) from None
    if not known:
        raise ConfigError(f"{notebook.name} has no cell tagged 'parameters'; papermill cannot parameterise it")
    bad = sorted(set(params) - set(known))
    if bad:
        from .config import RENAMED

        hint = "".join(f"; {k!r} is now called {RENAMED[k]!r}" for k in bad if RENAMED.get(k) in known)
        raise ConfigError(
            f"{notebook.name} has no parameter {', '.join(map(repr, bad))}{hint}; valid: {', '.join(sorted(known))}"
        )


def _limit_threads(n: int) -> None:
    """Kernels started from this process use ``n`` BLAS/OpenMP (torch intra-op) threads."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)


def _execute(notebook, runs, todo, kw, workers, client, scheduler):
    """Yield status records as runs finish, from a Dask cluster or a local process pool (executor.py)."""
    from .executor import as_finished

    # a pool also for 1 worker: each run's environment (threads) is set in a process of its own
    jobs = [(notebook, runs / pid, params) for pid, params in todo]
    for _, rec in as_finished(run_point, jobs, processes=workers, client=client or scheduler, kwargs=kw):
        yield rec


# --------------------------------------------------------------------------- gathering
def _cell(v):
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def gather(out, points, records) -> list[dict]:
    """Concatenate every finished run's ``out/results.csv`` into ``out/results.csv`` (+ swept columns);
    write ``failures.csv`` and ``summary.md``. Returns the gathered rows."""
    from .report import RESULT_COLUMNS, read_results, summary_table, write_csv

    out = Path(out)
    swept_names = list(points[0][1]) if points else []
    rows = []
    no_results = []
    for (pid, swept, _), rec in zip(points, records):
        if rec["status"] != "ok":
            continue
        f = out / "runs" / pid / OUT_SUBDIR / "results.csv"
        if not f.is_file():
            no_results.append(pid)
            continue
        try:
            got = read_results(f)
        except ResumeError as e:  # the notebook wrote a table nobody can read: that point failed, not the gather
            warnings.warn(f"sweep: point {pid} failed and runs again on the next sweep: {e}", stacklevel=2)
            _mark_failed(out / "runs" / pid, rec, "CorruptResults", str(e))
            continue
        for r in got:
            rows.append({"point": pid, **{f"param_{k}": _cell(v) for k, v in swept.items()}, **r})
    cols = ["point", *(f"param_{k}" for k in swept_names), *RESULT_COLUMNS]
    write_csv(out / "results.csv", rows, columns=cols)
    fails = [r for r in records if r["status"] != "ok"]
    fcols = ["point", "cell_index", "exec_count", "ename", "evalue", "notebook"]
    write_csv(out / "failures.csv", [{k: r.get(k) for k in fcols} for r in fails], columns=fcols)

    md = io.StringIO()
    n_ok = sum(r["status"] == "ok" for r in records)
    md.write(f"# Sweep\n\n{len(records)} runs: {n_ok} finished, {len(fails)} failed.\n\n")
    group_keys = [k for k in swept_names if k not in SEED_KEYS + STRATEGY_KEYS]
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[f"param_{k}"] for k in group_keys), []).append(r)
    for key, rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        title = ", ".join(f"{k}={v}" for k, v in zip(group_keys, key)) or "all runs"
        datasets = sorted({r["dataset"] for r in rs})
        md.write(f"## {title} ({', '.join(datasets)})\n\n{summary_table(rs)}\n")
    if no_results:
        md.write(f"Runs without a results.csv (figures only): {', '.join(no_results)}\n\n")
    if fails:
        md.write("## Failures\n\n| point | cell | error | message |\n|---|---|---|---|\n")
        for r in fails:
            msg = str(r.get("evalue", "")).replace("|", "/").replace("\n", " ")[:300]
            md.write(f"| {r['point']} | {r.get('cell_index')} | {r.get('ename')} | {msg} |\n")
    atomic_write(out / "summary.md", md.getvalue())
    return rows


def _mark_failed(point_dir: Path, rec: dict, ename: str, evalue: str) -> None:
    """Turn a finished point into a failed one (``failed.json``, no ``done.json``): the next sweep reruns it."""
    rec.update(status="failed", cell_index=None, exec_count=None, ename=ename, evalue=evalue)
    rec.pop("skipped", None)
    _write_json(point_dir / "failed.json", rec)
    (point_dir / "done.json").unlink(missing_ok=True)


# --------------------------------------------------------------------------- CLI
def configure_parser(p) -> None:
    p.add_argument("notebook", help="notebook with a 'parameters' cell, e.g. notebooks/01_mnist.ipynb")
    p.add_argument("--grid", required=True, help="YAML: 'grid:' lists to sweep, 'fixed:' values for every run")
    p.add_argument("--out", required=True, help="sweep folder (rerun to continue: finished runs are skipped)")
    p.add_argument("--workers", type=int, default=1, help="local processes running notebooks at once")
    p.add_argument(
        "--scheduler", default=None, help="Dask scheduler address (tcp://host:8786) instead of local processes"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of every run (numbers then match OMP_NUM_THREADS=N latentlab run)",
    )
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell (default: none)")
    p.add_argument("--quiet", action="store_true", help="no per-run lines")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(a) -> int:
    from .threads import set_thread_policy

    set_thread_policy()  # this process; each run's kernel gets --threads (default 1)
    from .resources import packaged_or_given  # a paper notebook/grid named but not here: the installed one

    res = sweep(
        packaged_or_given(a.notebook, "notebook"),
        packaged_or_given(a.grid, "grid"),
        a.out,
        workers=a.workers,
        scheduler=a.scheduler,
        kernel_name=a.kernel,
        execution_timeout=a.timeout,
        threads=a.threads,
        progress=not a.quiet,
    )
    print((res.out / "summary.md").read_text())
    print(
        f"wrote {res.out / 'results.csv'}, {res.out / 'summary.md'}, {res.out / 'failures.csv'} "
        f"({res.n_run} run, {len(res.records) - res.n_run} skipped, {len(res.failures)} failed, {res.seconds:.0f} s)"
    )
    return 1 if res.failures else 0
