"""The storage room: atomic writes, the registry helper, and cache keys pinned byte for byte.

A changed cache key silently retrains a generator or re-solves every FEM label, so the keys of
the data fingerprint, the generator cache and the label caches are compared with values recorded
before the code that computes them was moved.
"""

import numpy as np
import pytest

from latentlab.datasets import Dataset, load_dataset
from latentlab.exceptions import ConfigError
from latentlab.generative import GeneratorConfig, generator_key
from latentlab.registry import Registry
from latentlab.storage import LabelCache, atomic_path, atomic_write, content_key, json_key


def test_atomic_write_and_failure_leave_no_half_file(tmp_path):
    f = tmp_path / "a.txt"
    atomic_write(f, "one")
    with pytest.raises(RuntimeError):
        with atomic_path(f) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert f.read_text() == "one" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    atomic_write(f, b"two")
    assert f.read_bytes() == b"two"


def test_label_cache_round_trip(tmp_path):
    c = LabelCache(tmp_path / "labels")
    x = np.ones((1, 4, 4), np.float32)
    assert c.get(x) is None and len(c) == 0
    c.put(x, np.arange(3))
    assert np.array_equal(c.get(x), np.arange(3)) and x in c and len(c) == 1


def test_registry_lists_valid_names():
    r = Registry("widget")
    r.register("b")(int)

    @r.register()
    class A:
        name = "a"

    assert r.resolve("a") is A and r.resolve("b") is int
    with pytest.raises(ConfigError, match="unknown widget 'c'; valid choices: a, b"):
        r.resolve("c")


def test_cache_keys_unchanged():
    ds = load_dataset("digits")
    assert ds.fingerprint() == "0052e630092423e6"
    assert ds.subset(600, 200).fingerprint() == "1d7307dfafb1d31b"
    assert generator_key(ds.fingerprint(), GeneratorConfig(), 0) == "8033a177edd541ed"
    assert (
        generator_key("abc", GeneratorConfig(kind="alphagan", hidden=16, epochs=3, latent_dim=2), 1)
        == "03ab27f605b8e824"
    )
    assert content_key(np.arange(12, dtype=np.float32).reshape(1, 3, 4)) == "632fd6764811f8b95053a6f7817dfda1"
    assert json_key({"a": 1}, 8) == json_key({"a": 1})[:8]


def test_fem_and_vessel_keys_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path))
    from latentlab.vessels import FEMLabeler
    from latentlab.vessels import generate_vessels
    from latentlab.vessels.fem import SOLVER_VERSION

    # each border change moved the maps by ~5 %, so each solver version gets its own label folder
    # (version 1: fem-f1e7cd9e6f38 / fem-a60286b94168; version 2: fem-e7df7cc6b08d / fem-53e8acd3aa62);
    # bump SOLVER_VERSION whenever the maps change again
    assert SOLVER_VERSION == 3
    assert FEMLabeler().cache.folder.name == "fem-13d499372df4"
    assert FEMLabeler(refine=1).cache.folder.name == "fem-f69c6dcbfff9"
    assert FEMLabeler(pressure_kpa=10.0).cache.folder.name == "fem-bc3e05214c45"
    assert FEMLabeler(pressure_kpa=16).cache.folder.name == "fem-f37299529d28"  # an int stays an int in the key
    assert FEMLabeler(boundary="area", smooth_passes=5).cache.folder.name == "fem-55bd95f94666"
    assert FEMLabeler(scale_kpa=100.0).cache.folder.name == "fem-fec7b4dac559"
    from latentlab.vessels.fem import MooneyRivlin

    assert FEMLabeler(material=MooneyRivlin(kappa_ratio=1e4)).cache.folder.name == "fem-1d526e510d07"
    # the folder is named by the settings that differ from the defaults (FEMSettings.key): a default
    # passed by name shares the default folder (it was "fem-2ab9753fdbf5" for refine=0 before)
    assert FEMLabeler(refine=0).cache.folder.name == "fem-13d499372df4"
    # a solver of one's own is keyed by its name, not by the built-in solver's version
    assert FEMLabeler(solver=len).cache.folder.name != FEMLabeler(solver=sum).cache.folder.name
    m = generate_vessels(5, seed=0).astype(np.float32)[:, None]
    assert (
        Dataset("vessels", m[:3], None, m[3:], None, task="regression", labeler="fem").fingerprint()
        == "8722b8fe9e0ac336"
    )


def test_concurrent_writers_of_one_cache_entry_do_not_collide(tmp_path):
    """Two processes filling the same entry at once (seen on a fresh GPU machine: one worker's rename
    took the other's temporary file away) each write their own temporary file."""
    import multiprocessing as mp

    from latentlab.storage import atomic_path

    target = tmp_path / "entry.npz"
    with atomic_path(target, suffix=".tmp.npz") as a, atomic_path(target, suffix=".tmp.npz") as b:
        assert a != b and a.name.endswith(".tmp.npz") and b.name.endswith(".tmp.npz")
        np.savez(a, x=np.arange(3))
        np.savez(b, x=np.arange(3))
    assert target.exists() and not list(tmp_path.glob("*.tmp.npz"))
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_write_entry, [str(target)] * 8)
    with np.load(target) as z:
        np.testing.assert_array_equal(z["x"], np.arange(1000))
    assert not list(tmp_path.glob("*.tmp*"))


def _write_entry(path):
    from latentlab.storage import atomic_path

    with atomic_path(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, x=np.arange(1000))
