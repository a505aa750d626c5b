"""Solve the default ``vessels`` test set with latentlab's FEM solver; ship the labels in ``latentlab/vessels/labels/``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/ship_vessel_labels.py
    .venv/bin/python benchmarks/ship_vessel_labels.py --verify 20   # re-solve 20 shipped masks, compare

The masks are exactly the test set of ``load_dataset("vessels")`` (``vessel_masks(N_SLICES, 0)``,
the last ``N_TEST``); each label is what ``FEMLabeler()`` (the default solver settings, one
thread, a private empty cache, shipped labels off) returns. The bundle is named by the labeler's
label folder (``fem-<hash of scale, solver, settings, SOLVER_VERSION>``), so changed settings or a
new solver version never find it: bump ``SOLVER_VERSION`` and rerun this script. Its JSON sidecar
records the SHA-256 of the ``.npz``, the data set, and how it was made (seconds, machine, load).
``--verify N`` re-solves N shipped masks (evenly spread) and prints the largest difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import finish_meta, run_meta  # noqa: E402


def kernel_path() -> dict:
    """numpy, SciPy and the OpenBLAS kernel architecture: the solver's maps are bit-identical within
    one path (tests/test_fem.py pins them), and differ by round-off across paths."""
    import scipy
    from threadpoolctl import threadpool_info

    arch = [i["architecture"] for i in threadpool_info() if i.get("internal_api") == "openblas"]
    return {"numpy": np.__version__, "scipy": scipy.__version__, "openblas": arch}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--verify", type=int, default=0, metavar="N", help="re-solve N shipped masks and compare")
    a = ap.parse_args(argv)

    from latentlab import set_thread_policy
    from latentlab.storage import content_key, sha256_file
    from latentlab.vessels import FEMLabeler
    from latentlab.vessels.dataset import N_SLICES, N_TEST, vessel_masks
    from latentlab.vessels.fem import SOLVER_VERSION
    from latentlab.vessels.shipped import shipped_labels, shipped_labels_dir

    set_thread_policy(1)
    x = vessel_masks(N_SLICES, 0)[N_SLICES - N_TEST :]
    with tempfile.TemporaryDirectory() as tmp:
        lab = FEMLabeler(cache_dir=tmp, shipped=False, workers=1)
        name = lab.label_folder
        if a.verify:
            have = shipped_labels(name)
            pick = np.unique(np.linspace(0, len(x) - 1, a.verify).round().astype(int))
            res = lab.label(x[pick], progress=True)
            ref = np.stack([have[content_key(xi)] for xi in x[pick][res.ok]])
            d = np.abs(res.y - ref)
            print(
                f"{name}: re-solved {int(res.ok.sum())} of {len(pick)} shipped masks; max |diff| {d.max():.3g}, "
                f"identical bytes {int(sum(np.array_equal(u, v) for u, v in zip(res.y, ref)))}"
            )
            return
        meta = run_meta(script="benchmarks/ship_vessel_labels.py")
        t0 = time.perf_counter()
        res = lab.label(x, progress=True)
        seconds = time.perf_counter() - t0
        meta = finish_meta(meta)
    if not res.ok.all():
        sys.exit(f"the solver failed on {int((~res.ok).sum())} test masks: {res.errors}; nothing shipped")
    out = shipped_labels_dir()
    out.mkdir(exist_ok=True)
    npz = out / f"{name}.npz"
    keys = np.array([content_key(xi) for xi in x])
    np.savez_compressed(npz, keys=keys, labels=res.y.astype(np.float32))
    side = {
        "label_folder": name,
        "sha256": sha256_file(npz),
        "n": len(keys),
        "label_shape": list(res.y.shape[1:]),
        "dataset": {"name": "vessels", "n": N_SLICES, "n_test": N_TEST, "seed": 0, "items": "the test set"},
        "labeler": {"scale_kpa": lab.scale_kpa, "settings": lab.settings.key(), "solver_version": SOLVER_VERSION},
        "made_by": {
            "script": "benchmarks/ship_vessel_labels.py",
            "solve_seconds": round(seconds, 1),
            "kernel": kernel_path(),
            **{k: meta[k] for k in ("date", "machine", "python", "torch_threads", "load_before", "load_after")},
        },
    }
    npz.with_suffix(".json").write_text(json.dumps(side, indent=1, sort_keys=True) + "\n")
    print(f"{npz} ({npz.stat().st_size / 1e6:.2f} MB): {len(keys)} labels solved in {seconds:.0f} s")


if __name__ == "__main__":
    main()
