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
from typing import Callable

from .config import ExperimentConfig
from .exceptions import LatentLabError, ResumeError
from .storage import RunLock, atomic_write, check_folder_writable, load_checked_json, sha256_bytes

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
    "undo_start",
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
_ASIDE = ".latentlab-overwritten-"  # --overwrite moves the old run here first, then deletes it


def _scratch(p: Path) -> bool:
    return p.name == RunLock.NAME or p.name.startswith(_ASIDE) or any(p.match(g) for g in _SCRATCH_GLOBS)


def check_writable(out) -> Path:
    """Refuse an ``--out`` that is a file or cannot be written (checked by writing a probe file), before any work."""
    return check_folder_writable(out, "--out", "choose another --out")


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


def _run_files(out: Path) -> list[Path]:
    """The files latentlab wrote in run folder ``out`` (what ``--overwrite`` removes); symbolic links to
    folders are not followed (a link is removed as a link, never what it points to)."""
    found = [out / n for n in _TOP_FILES if (out / n).is_file() or (out / n).is_symlink()]
    runs = out / "runs"
    if runs.is_dir() and not runs.is_symlink():
        for sub in sorted(runs.iterdir()):
            if sub.is_dir() and not sub.is_symlink():
                for g in (*_RUN_GLOBS, *_SCRATCH_GLOBS, RunLock.NAME):
                    found += [f for f in sorted(sub.glob(g)) if f.is_file() or f.is_symlink()]
    for g in _SCRATCH_GLOBS:
        found += [f for f in sorted(out.glob(g)) if f.is_file() or f.is_symlink()]
    return list(dict.fromkeys(found))


def remove_run_files(out) -> list[Path]:
    """Delete the files latentlab writes in run folder ``out`` (and folders left empty); return what
    else is there (left untouched).

    All or nothing: every file is first moved aside (renamed into one folder inside ``out``), and only
    when all moved is that folder deleted; a file that cannot be moved (a folder the user cannot
    write) moves the others back and raises :class:`ResumeError` naming it, with nothing deleted."""
    import shutil

    out = Path(out)
    for stale in out.glob(_ASIDE + "*"):  # an earlier --overwrite killed between moving aside and deleting
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    files = _run_files(out)
    aside = out / f"{_ASIDE}{os.getpid()}"
    moved: list[tuple[Path, Path]] = []
    try:
        for f in files:
            dest = aside / f.relative_to(out)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(f, dest)
            moved.append((f, dest))
    except OSError as e:
        for f, dest in reversed(moved):
            with contextlib.suppress(OSError):
                os.rename(dest, f)
        shutil.rmtree(aside, ignore_errors=True)
        where = Path(e.filename) if getattr(e, "filename", None) else out
        raise ResumeError(
            f"--overwrite refused: cannot remove {where} ({(e.strerror or 'not writable').lower()}); nothing was "
            f"deleted. Make {where.parent} writable (chmod u+w), or choose another --out"
        ) from None
    shutil.rmtree(aside, ignore_errors=True)
    runs = out / "runs"
    if runs.is_dir() and not runs.is_symlink():
        for sub in runs.iterdir():
            if sub.is_dir() and not sub.is_symlink():
                with contextlib.suppress(OSError):
                    sub.rmdir()
        with contextlib.suppress(OSError):
            runs.rmdir()
    left = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in (RUN_MARKER,) and not _scratch(p))
    return left


def undo_start(out) -> Callable[[], None]:
    """Remember what a command about to start in ``out`` has not written yet (``config.json``, the marker);
    the returned function removes those again, for a command refused after it started, so that the
    folder is left as the command found it (e.g. a mistaken ``--resume`` with other settings must not
    leave its config.json behind, which would then refuse the right settings)."""
    out = Path(out)
    new = [out / n for n in ("config.json", RUN_MARKER) if not (out / n).exists()]

    def undo() -> None:
        for f in new:
            if f.name == RUN_MARKER and (out / "runs").is_dir():
                continue  # checkpoints were written under it: keep the folder marked as latentlab's
            f.unlink(missing_ok=True)

    return undo


def _check_checkpoints(out: Path, config: ExperimentConfig) -> None:
    """``--resume`` of a folder with checkpoints but no ``config.json`` (a killed 'tune --workers' or a kill
    before config.json): refuse, before anything is written or trained, checkpoints of other settings."""
    want = json.loads(json.dumps(config.loop.to_dict()))
    for state in sorted((out / "runs").glob("*/state.json")):
        try:
            got = json.loads(state.read_text()).get("config")
        except (OSError, ValueError, RecursionError, AttributeError):
            continue  # unreadable: refused with its own message when that run is resumed
        if got is not None and got != want:
            diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k)) if isinstance(got, dict) else []
            raise ResumeError(
                f"output folder {out} holds a different run (checkpoint {state.parent.name} differs in: "
                f"{', '.join(diff) or 'its settings'}); resume with the same settings, or choose another --out"
            )


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
        _check_checkpoints(out, config)
        return
    old, new = read_config(out), config.to_dict()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        raise ResumeError(
            f"output folder {out} holds a different run (settings differ in: {', '.join(diff)}); "
            "resume with the same settings, or choose another --out"
        )
