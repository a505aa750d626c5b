"""All exceptions raised on purpose by latentlab live here (one module, as papermill does).

Every message names what was wrong *and* the fix, so a user never has to read a traceback
from deep inside torch to know what to do.
"""

from __future__ import annotations

__all__ = [
    "LatentLabError",
    "ConfigError",
    "DatasetError",
    "DatasetNotFoundError",
    "LabelingError",
    "ResumeError",
    "StorageError",
    "unknown_choice",
]


class LatentLabError(Exception):
    """Base class of every error latentlab raises on purpose."""


class ConfigError(LatentLabError, ValueError):
    """A parameter is out of range or of the wrong kind (alpha <= 0, unknown strategy, ...)."""


class DatasetError(LatentLabError, ValueError):
    """A data set exists but cannot be used as it is (NaN values, wrong shape, corrupt file)."""


class DatasetNotFoundError(LatentLabError, FileNotFoundError):
    """The files of a data set are not where we looked; the message says where and how to get them."""


class LabelingError(LatentLabError, RuntimeError):
    """A labeling tool could not label an input (invalid mask, solver did not converge, ...)."""


class ResumeError(LatentLabError, RuntimeError):
    """An output folder holds a different run, or a checkpoint does not match the configuration."""


class StorageError(LatentLabError, OSError):
    """A file could not be written (full disk, read-only folder) or read as latentlab wrote it."""


def unknown_choice(kind: str, name: object, valid) -> ConfigError:
    """Build the error for a registry miss: it lists the valid names.

    Examples
    --------
    >>> raise unknown_choice("strategy", "snnn", ["random", "snn"])  # doctest: +SKIP
    ConfigError: unknown strategy 'snnn'; valid choices: random, snn
    """
    valid = sorted(valid)
    return ConfigError(f"unknown {kind} {name!r}; valid choices: {', '.join(valid)}")
