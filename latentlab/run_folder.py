"""The run folder: what latentlab writes in ``--out`` and what it refuses to touch.

Every folder latentlab creates or fills holds a marker (:data:`RUN_MARKER`) written first, so
``--overwrite`` never deletes a folder it did not write, and only the files latentlab writes
(:func:`remove_run_files`). :func:`check_writable` refuses an ``--out`` that cannot be written before any
work; :func:`check_out` decides between a fresh start, ``--resume`` (same settings only) and
``--overwrite``; ``config.json`` carries the settings and their SHA-256 (:func:`write_config`,
:func:`read_config`). A run holds the folder's :class:`~latentlab.storage.RunLock` meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from .config import ExperimentConfig
from .exceptions import ConfigError, LatentLabError, ResumeError
from .storage import RunLock, atomic_write, load_checked_json, sha256_bytes

__all__ = [
    "RUN_MARKER",
    "RUN_FORMAT",
    "check_writable",
    "check_out",
    "marker",
    "write_marker",
    "write_config",
    "read_config",
    "remove_run_files",
    "RunLock",
]

# The run folder's marker: written first into every run folder latentlab creates or fills, so that
# --overwrite never deletes a folder it did not write. Bump RUN_FORMAT when the folder layout changes.
RUN_MARKER = ".latentlab-run"
RUN_FORMAT = 1
# what latentlab writes in a run folder; --overwrite removes these and nothing else
_TOP_FILES = ("config.json", "results.csv", "rounds.csv", "summary.md", "machine.json", "learning_curves.png")
_RUN_GLOBS = ("state.json", "model-r*.pt", "model-r*.json", "arrays-r*.npz")
_SCRATCH_GLOBS = ("*.tmp", "*.tmp.npz", "*.tmp.png")


def _scratch(p: Path) -> bool:
    return p.name == RunLock.NAME or any(p.match(g) for g in _SCRATCH_GLOBS)


def check_writable(out) -> Path:
    """Refuse an ``--out`` that is a file or lies in a folder this process cannot write, before any work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; choose another --out")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"--out {out}: {probe} is a file, not a folder; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: cannot write in {probe} (read-only or not yours); choose another --out")
    return out


def marker(out: Path) -> dict | None:
    """The run folder's marker, or None when ``out`` is not marked as latentlab's."""
    try:
        m = json.loads((out / RUN_MARKER).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(m, dict) or m.get("kind") != "latentlab run" or not isinstance(m.get("format"), int):
        return None
    return m


def write_marker(out: Path) -> None:
    """Mark ``out`` as a latentlab run folder (refusing one written by a newer format)."""
    m = marker(out)
    if m is not None and m["format"] > RUN_FORMAT:
        raise ResumeError(
            f"{out} was written by a newer latentlab (run folder format {m['format']}, this one "
            f"reads {RUN_FORMAT}); upgrade latentlab or choose another --out"
        )
    if m is None:
        atomic_write(out / RUN_MARKER, json.dumps({"kind": "latentlab run", "format": RUN_FORMAT}) + "\n")


def write_config(out: Path, config: ExperimentConfig) -> None:
    """``config.json``: the run's settings plus the SHA-256 of their canonical JSON (checked on resume)."""
    d = config.to_dict()
    d["sha256"] = sha256_bytes(json.dumps(d, sort_keys=True).encode())
    atomic_write(out / "config.json", json.dumps(d, indent=1))


def read_config(out) -> dict:
    """The settings in ``out/config.json`` (checksum checked); a corrupt file raises one line naming it."""
    fix = "rerun with --overwrite to start that run again, or choose another --out"
    return load_checked_json(Path(out) / "config.json", fix, what="a latentlab config")  # a missing checksum fails


def _legacy_run(out: Path) -> bool:
    """A run folder written before markers existed: its config.json is a latentlab config."""
    try:
        ExperimentConfig.from_dict(read_config(out))
        return True
    except (LatentLabError, KeyError, TypeError, ValueError, AttributeError):
        return False


def remove_run_files(out) -> list[Path]:
    """Delete the files latentlab writes in run folder ``out`` (and folders left empty); return what
    else is there (left untouched)."""
    out = Path(out)
    for name in _TOP_FILES:
        (out / name).unlink(missing_ok=True)
    runs = out / "runs"
    if runs.is_dir():
        for sub in runs.iterdir():
            if sub.is_dir():
                for g in (*_RUN_GLOBS, *_SCRATCH_GLOBS):
                    for f in sub.glob(g):
                        if f.is_file():
                            f.unlink()
                with contextlib.suppress(OSError):
                    sub.rmdir()
        with contextlib.suppress(OSError):
            runs.rmdir()
    for g in _SCRATCH_GLOBS:
        for f in out.glob(g):
            if f.is_file():
                f.unlink()
    left = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in (RUN_MARKER,) and not _scratch(p))
    return left


def check_out(out, config: ExperimentConfig, resume: bool, overwrite: bool) -> None:
    """Decide what to do with an existing ``out`` (hold its :class:`~latentlab.storage.RunLock` first).

    A fresh or empty folder: start. A latentlab run: ``resume`` with the same settings, or ``overwrite``
    (deleting only what latentlab wrote). Anything else is refused with one line naming the fix."""
    out = Path(out)
    if not out.is_dir():
        return
    cfg_file = out / "config.json"
    ours = marker(out) is not None or (cfg_file.exists() and _legacy_run(out))
    started = cfg_file.exists() or (out / "runs").is_dir()
    if not started:  # empty, or killed before config.json was in place: a fresh start
        others = [p for p in out.iterdir() if p.name != RUN_MARKER and not _scratch(p)]
        if resume and others and not ours:
            raise ResumeError(f"--resume: {out} has files but no config.json, so it is not a latentlab run folder")
        return
    if overwrite:
        if not ours:
            raise ResumeError(
                f"--overwrite refused: {out} is not a folder latentlab marked as its own "
                f"(no {RUN_MARKER}); nothing was deleted. Remove it yourself, or choose another --out"
            )
        left = remove_run_files(out)
        if left:
            import warnings

            warnings.warn(
                f"--overwrite: kept {len(left)} file(s) in {out} that latentlab did not write (e.g. {left[0]})",
                stacklevel=2,
            )
        return
    if not ours:
        raise ResumeError(f"output folder {out} holds files that are not a latentlab run; choose another --out")
    if not resume:
        raise ResumeError(
            f"output folder {out} already holds a run; pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if not cfg_file.exists():  # checkpoints but no config.json: written by 'tune --workers' or a kill
        return
    old, new = read_config(out), config.to_dict()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        raise ResumeError(
            f"output folder {out} holds a different run (settings differ in: {', '.join(diff)}); "
            "resume with the same settings, or choose another --out"
        )
