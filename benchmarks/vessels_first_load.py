"""Where the explorer's first load of ``vessels`` goes, from an empty cache (phase timers, cProfile).

    .venv/bin/python benchmarks/vessels_first_load.py                 # phases of load_resources("vessels")
    .venv/bin/python benchmarks/vessels_first_load.py --profile P     # also a cProfile dump to P
    .venv/bin/python benchmarks/vessels_first_load.py --round         # and the explorer's first round

Runs what the explorer's load runs (:func:`latentlab.explorer_run.load_resources`, the thread
policy of every latentlab command) in this process with a fresh, empty ``LATENTLAB_CACHE`` and
times each phase by wrapping the functions that do it: the masks (``generate_vessels``), the FEM
labels (``ToolLabeler.label``: how many masks, how many came from the cache or the shipped
labels), the generator (``get_generator``), encoding and indexing the pool
(``LatentSpace.from_generator``). ``--round`` then times the explorer's first Run round (the
initial set's FEM labels, training F, the test evaluation). Prints one JSON line; with ``--out``
writes it (``benchmarks/results/perf/vessels_first_load/<date>-<tag>.json``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import RESULTS, finish_meta, run_meta  # noqa: E402

OUT = RESULTS / "vessels_first_load"


def _timed(owner, name: str, phases: list, phase: str, count=None):
    real = getattr(owner, name)

    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            phases.append({"phase": phase, "s": time.perf_counter() - t0, **(count(a, k) if count else {})})

    setattr(owner, name, wrapper)


def measure(do_round: bool, profile: str | None) -> dict:
    t_start = time.perf_counter()
    import latentlab

    latentlab.set_thread_policy()
    from latentlab import explorer_run, labeling, latent
    from latentlab.vessels import dataset as vdataset

    phases: list = []
    _timed(vdataset, "generate_vessels", phases, "masks")
    _timed(
        labeling.ToolLabeler,
        "label",
        phases,
        "fem labels",
        lambda a, k: {"n": len(a[1]), "labeler": type(a[0]).__name__},
    )
    import latentlab.experiment as experiment

    _timed(experiment, "get_generator", phases, "generator")  # prepare's own name of it
    _timed(latent.LatentSpace, "from_generator", phases, "encode + index")
    t_import = time.perf_counter() - t_start
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    ds, space = explorer_run.load_resources("vessels")
    t_load = time.perf_counter() - t0
    out = {"import_s": t_import, "load_s": t_load, "n_pool": len(ds.x_train), "n_test": len(ds.x_test)}
    if do_round:
        from latentlab.explorer_state import ExplorerState

        st = ExplorerState(dataset="vessels", progress=False)
        t1 = time.perf_counter()
        st.load()
        out["state_load_s"] = time.perf_counter() - t1
        n_before = len(phases)
        t1 = time.perf_counter()
        st.run_round()
        out["first_round_s"] = time.perf_counter() - t1
        out["first_round_phases"] = phases[n_before:]
        out["round_error"] = st.error
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    out["phases"] = phases
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", help="write a cProfile dump here")
    ap.add_argument("--round", action="store_true", help="also time the explorer's first Run round")
    ap.add_argument("--tag", default="now", help="name of the raw file (with --out)")
    ap.add_argument("--out", help="write the raw JSON under this folder (default: print only)")
    ap.add_argument("--keep-cache", action="store_true", help="use $LATENTLAB_CACHE as it is (a warm load)")
    a = ap.parse_args(argv)
    meta = run_meta(tag=a.tag)
    with tempfile.TemporaryDirectory() as tmp:
        if not a.keep_cache:
            os.environ["LATENTLAB_CACHE"] = str(Path(tmp) / "cache")
        res = finish_meta({**meta, **measure(a.round, a.profile)})
    print(json.dumps(res))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{res['date'][:10]}-{a.tag}.json").write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
