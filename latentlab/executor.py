"""One fan-out for every batch of independent jobs: in this process, on local processes, or on Dask.

The labeling tools (one FEM solve per input), ``latentlab sweep`` (one notebook per grid point) and
``latentlab run --workers N`` (one run per strategy and seed) all hand :func:`as_finished` a function
and its argument tuples and get ``(position, result)`` back as each job finishes, with one progress
bar. A job that raises re-raises here (callers that must not stop, like the sweep, catch inside
the job).

Local worker processes die with the process that started them: a parent killed outright (SIGKILL,
the out-of-memory killer) would otherwise leave its workers running, still writing checkpoints into
the run folder beside a ``--resume``. Each worker asks Linux for a parent-death signal
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``) and, on every platform, runs a watchdog thread that ends the
worker as soon as its parent process is gone (:func:`_worker_init`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
from typing import Callable, Iterator, Sequence

__all__ = ["as_finished", "connect_scheduler"]


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


# how often a worker's watchdog looks for its parent (seconds); the parent-death signal, where the
# platform has one, is immediate
WATCHDOG_PERIOD = 0.2
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _worker_init(parent: int, pdeathsig: bool) -> None:
    """Make this worker die with process ``parent`` (the one that started the pool).

    ``pdeathsig``: also ask the kernel (Linux) to SIGKILL this worker when the thread that spawned
    it exits; only asked for when that thread is the parent's main thread, which lives as long as
    the parent. The watchdog covers every platform and the moment before the ``prctl`` took effect."""
    if pdeathsig and sys.platform.startswith("linux"):
        import ctypes

        try:  # hand-written binding of prctl(2): the standard library has none
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if not _alive(parent):
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="latentlab-parent-watchdog", daemon=True).start()


def _alive(parent: int) -> bool:
    """The parent is alive while it is still this process's parent (a dead one's children are re-parented)."""
    return os.getppid() == parent


def _watch_parent(parent: int) -> None:
    import time

    while _alive(parent):
        time.sleep(WATCHDOG_PERIOD)
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))  # no cleanup: nothing more is written


def _processes(fn, jobs, kwargs, processes: int, spawn: bool):
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn") if spawn else None
    pdeathsig = threading.current_thread() is threading.main_thread()
    with ProcessPoolExecutor(
        max_workers=processes, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(), pdeathsig)
    ) as ex:
        futs = {ex.submit(fn, *job, **kwargs): i for i, job in enumerate(jobs)}
        try:
            for f in as_completed(futs):
                yield futs[f], f.result()
        except BaseException:  # a job failed (or the caller stopped): the jobs not yet started never start
            for f in futs:
                f.cancel()
            raise


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


def connect_scheduler(address: str, timeout: float = 10.0):
    """A ``dask.distributed.Client`` for scheduler ``address``, or one line saying why not (within ``timeout`` s).

    ``--scheduler`` of ``latentlab run``, ``tune`` and ``sweep``: reached before any work starts."""
    from .exceptions import ConfigError

    if not isinstance(address, str) or "://" not in address and ":" not in address:
        raise ConfigError(f"--scheduler {address!r} is not a scheduler address; expected e.g. tcp://host:8786")
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError(
            "--scheduler needs dask and distributed: pip install 'latentlab-sampling[notebooks]'"
        ) from None
    try:
        return Client(address, timeout=f"{timeout}s")
    except (OSError, ValueError, TypeError, TimeoutError) as e:
        msg = str(e).splitlines()[0][:200] if str(e) else e.__class__.__name__
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({msg}); check the "
            "address and that the scheduler runs"
        ) from None
