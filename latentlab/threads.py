"""The thread policy of ``latentlab run``, ``tune``, ``explore``, ``sweep`` and the notebooks.

Measured on the 2-core reference machine (BENCHMARKS.md, "Thread policy"): torch's OpenMP threads
*spin* while they wait for work, by default; beside other busy processes the spinning threads
steal the cores their own siblings need, and a run gets many times slower than its share of the
CPU explains (a LeNet step: 47 ms with 1 thread, 836 ms with torch's default 2 threads, at load
~8). Passive waiting (``OMP_WAIT_POLICY=PASSIVE``) removes most of that (72 ms with 2 threads),
and on a loaded machine one thread is still the fastest. Two threads win only on an idle machine
(32 vs 44 ms), and torch's sums depend on the thread count, so a policy that followed the load
would make ``results.csv`` depend on it. So:

* OpenMP waits passively unless ``OMP_WAIT_POLICY`` is already set. An OpenMP runtime reads the
  variable once, when it is loaded (torch's libgomp on ``import torch``, scikit-learn's bundled
  copy on ``import sklearn``), so ``import latentlab`` sets ``OMP_WAIT_POLICY=PASSIVE`` while it
  imports torch and scikit-learn (:func:`apply_wait_policy`) and removes it again.
  The policy holds for this process; ``os.environ`` is left as it was, so child processes (a
  labeling tool, a shell command) inherit the user's environment, not ours; latentlab's own
  worker processes and sweep kernels import latentlab and apply it themselves. A process that
  imported torch *before* latentlab keeps OpenMP's default. :func:`wait_policy` says which policy
  this process got. The wait policy changes speed only, never a number.
* :func:`set_thread_policy` sets torch's thread count: ``threads`` if given (``--threads``), else
  ``$LATENTLAB_THREADS``, else ``$OMP_NUM_THREADS``, else **1**: the fastest choice on a busy
  machine, and the one ``--workers`` processes and ``latentlab sweep`` kernels use, so
  ``run``, ``run --workers N`` and ``sweep`` give the same numbers. Use both cores of an idle
  machine with ``--workers 2`` (seeds and strategies in parallel) or ``--threads 2``.

``LATENTLAB_THREAD_POLICY=off`` disables both (torch's own defaults apply). Worker processes
(``--workers``, ``sweep``) keep one thread each, as before.

Notebooks: put ``import latentlab; latentlab.set_thread_policy()`` in the first code cell, before
anything imports torch.
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "apply_wait_policy",
    "wait_policy",
    "set_thread_policy",
    "default_threads",
    "policy_enabled",
]

_WAIT_POLICY: str | None = None  # what apply_wait_policy arranged for this process (see wait_policy)


def policy_enabled() -> bool:
    return os.environ.get("LATENTLAB_THREAD_POLICY", "").strip().lower() not in ("off", "0", "none", "false")


def apply_wait_policy() -> bool:
    """Load torch and scikit-learn with ``OMP_WAIT_POLICY=PASSIVE``, then remove the variable again.

    Each OpenMP runtime reads the variable once, when it is loaded (torch's libgomp, and the copy
    scikit-learn bundles), and keeps the passive policy for the life of the process; with the
    variable removed afterwards, ``os.environ`` is as it was. Returns True when this call applied
    the policy; does nothing with ``LATENTLAB_THREAD_POLICY=off``, when the user set
    ``OMP_WAIT_POLICY`` (their value applies), or when torch was imported before (too late).

    Returns
    -------
    bool
        Whether this call applied the policy.
    """
    global _WAIT_POLICY
    if not policy_enabled() or "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import sklearn  # noqa: F401  (both are core dependencies that `import latentlab` loads anyway)
        import torch  # noqa: F401
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    _WAIT_POLICY = "PASSIVE"
    return True


def wait_policy() -> str | None:
    """The OpenMP wait policy latentlab gave this process (``"PASSIVE"``), or the user's
    ``$OMP_WAIT_POLICY``, or None (OpenMP's default: torch was loaded before latentlab, or the
    policy is off)."""
    return _WAIT_POLICY or os.environ.get("OMP_WAIT_POLICY")


def default_threads() -> int:
    """The thread count when nothing is asked for: 1 (see the module docstring for the measurements)."""
    return 1


def set_thread_policy(threads: int | None = None) -> int:
    """Apply the thread policy to this process; returns torch's thread count.

    Parameters
    ----------
    threads : int, optional
        An explicit count (``--threads``); None: ``$LATENTLAB_THREADS``, ``$OMP_NUM_THREADS`` or
        :func:`default_threads` (1). With ``LATENTLAB_THREAD_POLICY=off`` and no ``threads``,
        nothing is changed.

    Returns
    -------
    int
        The thread count torch uses now.
    """
    from .exceptions import ConfigError

    apply_wait_policy()
    import torch

    if threads is None:
        if not policy_enabled():
            return torch.get_num_threads()
        env = os.environ.get("LATENTLAB_THREADS") or os.environ.get("OMP_NUM_THREADS")  # a user's choice wins
        try:
            threads = int(env) if env else default_threads()
        except ValueError:
            raise ConfigError(f"LATENTLAB_THREADS/OMP_NUM_THREADS must be a whole number, got {env!r}") from None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"--threads must be a whole number >= 1, got {threads!r}")
    torch.set_num_threads(threads)
    return threads
