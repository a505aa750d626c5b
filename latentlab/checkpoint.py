"""A run's checkpoint: the state after a round, written atomically, read back only if it is the same run.

A checkpoint folder holds ``model-rNNN.pt`` (the target model), ``arrays-rNNN.npz`` (the
:class:`~latentlab.label_store.LabelStore`'s arrays and every round's proposal arrays) and
``state.json``. The round-numbered files are written first; ``state.json``, written last by an atomic
rename, is the commit point that names them (with their SHA-256). A crash at any moment leaves the
previous complete checkpoint in force, and a corrupt or foreign checkpoint is refused with one line
naming the fix.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import ResumeError
from .storage import (
    atomic_path,
    atomic_write,
    load_checked_json,
    load_state,
    save_state,
    sha256_bytes,
    sha256_file,
    verify_file,
)

__all__ = ["Restored", "run_identity", "save_checkpoint", "load_checkpoint", "state_checksum"]


@dataclass
class Restored:
    """What :func:`load_checkpoint` gives back: round records (as dicts), proposals, model, finished."""

    records: list
    proposals: list
    model: object
    finished: bool


def run_identity(dataset, strategy: str, seed: int, config) -> dict:
    """What makes a run this run: data set (name and content fingerprint), strategy, seed, loop settings."""
    return {
        "dataset": dataset.name,
        "fingerprint": dataset.fingerprint(),
        "strategy": strategy,
        "seed": seed,
        "config": config.to_dict(),
    }


def save_checkpoint(d, *, identity: dict, model, store, records: list, proposals: list, finished: bool) -> None:
    """Write the state after round ``len(records)`` into folder ``d`` (see the module docstring).

    ``identity``: what makes the run this run (data set, strategy, seed, config); a checkpoint is
    resumed only by a run with the same identity. ``store``: the run's
    :class:`~latentlab.label_store.LabelStore`."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    t = len(records)
    model_f, arr_f = f"model-r{t:03d}.pt", f"arrays-r{t:03d}.npz"
    model_sha = save_state(model, d / model_f)
    arrays = store.arrays()
    for r, pa in enumerate(proposals, start=1):
        for k, v in pa.items():
            arrays[f"r{r:03d}/{k}"] = np.asarray(v)
    with atomic_path(d / arr_f, suffix=".tmp.npz") as tmp:
        np.savez(tmp, **arrays)
        arr_sha = sha256_file(tmp)
    state = {
        **identity,
        "round": t,
        "finished": finished,
        "model": model_f,
        "arrays": arr_f,
        "sha256": {"model": model_sha, "arrays": arr_sha},
        "records": [dataclasses.asdict(r) for r in records],
    }
    state["checksum"] = state_checksum(state)
    atomic_write(d / "state.json", json.dumps(state, indent=1))
    for f in d.iterdir():  # drop superseded round files
        if f.name.startswith(("model-r", "arrays-r")) and f.name not in (model_f, arr_f):
            f.unlink()


def load_checkpoint(d, *, identity: dict, store, new_model) -> Restored:
    """Read the checkpoint in ``d`` back into ``store``; ``new_model()`` builds the model its weights load into.

    Refuses (``ResumeError``, one line naming the fix) an unreadable or corrupt ``state.json``, files
    whose SHA-256 does not match, and a checkpoint of another run (another ``identity``)."""
    d = Path(d)
    f = d / "state.json"
    fix = (
        f"delete {d} to run this strategy and seed again from round 1 (the other runs resume), "
        "or rerun with --overwrite"
    )
    state = _read_state(f, fix)
    diff = [k for k in identity if state.get(k) != identity[k]]
    if diff:
        raise ResumeError(
            f"checkpoint in {d} belongs to a different run (differs in: {', '.join(diff)}); "
            "use another output folder, or the settings it was started with"
        )
    sums = state.get("sha256") or {}
    verify_file(d / state["arrays"], sums.get("arrays"), fix)
    try:
        with np.load(d / state["arrays"], allow_pickle=False) as z:
            store.restore(z)
            proposals = []
            for r in range(1, state["round"] + 1):
                pre = f"r{r:03d}/"
                proposals.append({k[len(pre) :]: z[k] for k in z.files if k.startswith(pre)})
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ResumeError(f"{d / state['arrays']} is unreadable or corrupt ({e.__class__.__name__}); {fix}") from None
    model = load_state(new_model(), d / state["model"], sha256=sums.get("model"), fix=fix)
    return Restored(state["records"], proposals, model, bool(state["finished"]))


def _read_state(f: Path, fix: str) -> dict:
    """``state.json`` as a dict, after checking it is whole (JSON object, checksum, one record per round)."""
    state = load_checked_json(f, fix, key="checksum", what="a latentlab checkpoint")  # a missing checksum fails
    try:
        n_rec, rnd = len(state["records"]), int(state["round"])
    except (KeyError, TypeError, ValueError):
        raise ResumeError(f"{f} lacks the fields of a latentlab checkpoint; {fix}") from None
    if n_rec != rnd:
        raise ResumeError(f"{f} is corrupt ({n_rec} round records for round {rnd}); {fix}")
    return state


def state_checksum(state: dict) -> str:
    """SHA-256 of a checkpoint's ``state.json`` contents (without the checksum itself), canonical JSON."""
    return sha256_bytes(json.dumps({k: v for k, v in state.items() if k != "checksum"}, sort_keys=True).encode())
