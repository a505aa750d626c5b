"""Range checks of settings, shared by every config's ``validate`` (CLI, notebooks and explorer alike).

A setting's message names the flag a user types (``--batch-size``), what was wrong and what fits.
"""

from __future__ import annotations

import math
import numbers

from .exceptions import ConfigError

__all__ = ["flag", "check_int", "check_number"]


def flag(name: str) -> str:
    """The CLI flag of setting ``name`` (``batch_size`` -> ``--batch-size``; ``n_val`` -> ``--val``)."""
    return "--val" if name == "n_val" else "--" + name.replace("_", "-")


def check_int(name: str, v, lo: int, msg: str | None = None) -> int:
    """``v`` must be a whole number >= ``lo`` (bools are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ConfigError(msg + f", got {v!r}" if msg else f"{flag(name)} must be a whole number >= {lo}, got {v!r}")
    return int(v)


def check_number(name: str, v, lo: float | None = None, *, strict: bool = False) -> float:
    """``v`` must be a finite number (>= ``lo``, or > ``lo`` when ``strict``)."""
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if strict else v >= lo
    if not ok:
        rng = "" if lo is None else f" {'>' if strict else '>='} {lo:g}"
        raise ConfigError(f"{flag(name)} must be a finite number{rng}, got {v!r}")
    return float(v)
