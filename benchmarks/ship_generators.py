"""Train the generators latentlab ships for the data sets it knows, and put them in ``latentlab/weights/``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/ship_generators.py digits mnist vessels
    .venv/bin/python benchmarks/ship_generators.py --verify digits mnist   # retrain, compare with the shipped bytes

Each entry is exactly what ``get_generator(load_dataset(name), GeneratorConfig(), seed=0)`` trains
(one torch thread, as ``latentlab run`` and the benchmarks train), under the cache's own file name
(data fingerprint + settings + seed + torch version) with its JSON sidecar (fingerprint, settings,
seed, SHA-256 of the weights), plus how it was made (seconds, threads, machine, date).
:func:`latentlab.generative.get_generator` loads it on a cache miss for that exact generator.
``--verify`` trains again in a private cache and reports whether the bytes are the same (they are
on the machine that made them: CPU kernels are deterministic for one thread count and instruction set).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import DATA_ROOT, run_meta  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+", choices=("digits", "mnist", "vessels"))
    ap.add_argument("--data-root", default=str(DATA_ROOT))
    ap.add_argument("--verify", action="store_true", help="retrain and compare with the shipped file")
    a = ap.parse_args(argv)

    from latentlab import set_thread_policy
    from latentlab.datasets import load_dataset
    from latentlab.generative import GeneratorConfig, generator_key, get_generator, shipped_dir
    from latentlab.storage import sha256_file

    set_thread_policy(1)
    cfg = GeneratorConfig()
    for name in a.datasets:
        ds = load_dataset(name, root=a.data_root)
        stem = f"{ds.name}-{cfg.kind}-{generator_key(ds.fingerprint(), cfg, 0)}"
        with tempfile.TemporaryDirectory() as tmp:
            meta = run_meta(dataset=name)
            t0 = time.perf_counter()
            get_generator(ds, cfg, seed=0, root=tmp, shipped=False, retrain=True, progress=True)
            seconds = time.perf_counter() - t0
            pt = Path(tmp) / "generators" / f"{stem}.pt"
            if a.verify:
                shipped = shipped_dir() / f"{stem}.pt"
                same = shipped.exists() and sha256_file(shipped) == sha256_file(pt)
                print(f"{name}: retrained in {seconds:.0f} s; same bytes as the shipped {shipped.name}: {same}")
                continue
            side = json.loads(pt.with_suffix(".json").read_text())
            side["made_by"] = {
                "script": "benchmarks/ship_generators.py",
                "train_seconds": round(seconds, 1),
                **{k: meta[k] for k in ("date", "machine", "torch", "torch_threads", "load_before")},
            }
            out = shipped_dir()
            out.mkdir(exist_ok=True)
            shutil.copyfile(pt, out / pt.name)
            (out / f"{stem}.json").write_text(json.dumps(side, indent=1, sort_keys=True) + "\n")
            print(f"{name}: {out / pt.name} ({pt.stat().st_size / 1e6:.1f} MB), trained in {seconds:.0f} s")


if __name__ == "__main__":
    main()
