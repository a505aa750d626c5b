"""One fan-out for every batch of independent jobs: in this process, on local processes, or on Dask.

The labeling tools (one FEM solve per input), ``latentlab sweep`` (one notebook per grid point) and
``latentlab run --workers N`` (one run per strategy and seed) all hand :func:`as_finished` a function
and its argument tuples and get ``(position, result)`` back as each job finishes, with one progress
bar. A job that raises re-raises here (callers that must not stop, like the sweep, catch inside
the job).
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Callable, Iterator, Sequence

__all__ = ["as_finished"]


def as_finished(
    fn: Callable,
    jobs: Sequence[tuple],
    *,
    processes: int = 0,
    client=None,
    spawn: bool = True,
    kwargs: dict | None = None,
    progress: bool = False,
    desc: str | None = None,
    leave: bool = True,
) -> Iterator[tuple[int, object]]:
    """Run ``fn(*job, **kwargs)`` for every job; yield ``(position in jobs, result)`` as each finishes.

    Parameters
    ----------
    processes : int
        0: one after another in this process. N >= 1: a pool of N local processes (a pool also for
        N = 1: each job then runs in a process of its own, with the environment this one set).
    client : dask.distributed.Client or str, optional
        A Dask client, or a scheduler address to connect to for these jobs; wins over ``processes``.
        The function and its arguments must pickle; files must be visible to the workers.
    spawn : bool
        Local processes are started fresh (``spawn``: torch threads and CUDA state are not
        inherited); False forks them (the platform default, faster to start).
    progress, desc, leave : a tqdm bar over the jobs.
    """
    from tqdm.auto import tqdm

    kwargs = dict(kwargs or {})
    with tqdm(total=len(jobs), desc=desc, disable=not progress, leave=leave) as bar:
        if client is not None:
            results = _dask(fn, jobs, kwargs, client)
        elif processes:
            results = _processes(fn, jobs, kwargs, processes, spawn)
        else:
            results = ((i, fn(*job, **kwargs)) for i, job in enumerate(jobs))
        for i, res in results:
            bar.update(1)
            yield i, res


def _processes(fn, jobs, kwargs, processes: int, spawn: bool):
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn") if spawn else None
    with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as ex:
        futs = {ex.submit(fn, *job, **kwargs): i for i, job in enumerate(jobs)}
        for f in as_completed(futs):
            yield futs[f], f.result()


def _dask(fn, jobs, kwargs, client):
    from dask.distributed import Client, as_completed

    own = isinstance(client, str)
    client = Client(client) if own else client
    try:
        futs = [client.submit(fn, *job, pure=False, **kwargs) for job in jobs]
        pos = {f.key: i for i, f in enumerate(futs)}
        for f in as_completed(futs):
            yield pos[f.key], f.result()
    finally:
        if own:
            client.close()
