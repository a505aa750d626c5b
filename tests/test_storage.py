"""The storage room: atomic writes, the registry helper, and cache keys pinned byte for byte.

A changed cache key silently retrains a generator or re-solves every FEM label, so the keys of
the data fingerprint, the generator cache and the label caches are compared with values recorded
before the code that computes them was moved.
"""

import json
import os

import numpy as np
import pytest

from latentlab.datasets import Dataset, load_dataset
from latentlab.exceptions import ConfigError, ResumeError
from latentlab.generative import GeneratorConfig, generator_key
from latentlab.registry import Registry
from latentlab.storage import (
    LabelCache,
    RunLock,
    WriteLock,
    atomic_path,
    atomic_write,
    checked_json,
    content_key,
    json_checksum,
    json_key,
    load_checked_json,
    load_state,
    read_verified,
    save_state,
    sha256_bytes,
    sidecar,
    verify_file,
    write_sidecar,
)


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


# --------------------------------------------------------------------------- integrity: a missing checksum fails
def _one_line(e, *fragments):
    msg = str(e.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


CHECKED_JSON_CASES = {
    "missing": lambda p: p.unlink(),
    "not-json": lambda p: p.write_text("{not json"),
    "binary": lambda p: p.write_bytes(b"\xff\xfe\x00\x81" * 50),
    "empty": lambda p: p.write_text(""),
    "deep-nesting": lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
    "list": lambda p: p.write_text("[1, 2]"),
    "string": lambda p: p.write_text('"x"'),
    "null": lambda p: p.write_text("null"),
    "no-checksum": lambda p: p.write_text(json.dumps({"a": 1, "b": [1, 2]})),
    "no-checksum-edited": lambda p: p.write_text(json.dumps({"a": 2, "b": [1, 2]})),
    "edited": lambda p: p.write_text(p.read_text().replace('"a": 1', '"a": 2')),
    "checksum-not-a-string": lambda p: p.write_text(json.dumps({"a": 1, "b": [1, 2], "sha256": 5})),
    "checksum-of-other-content": lambda p: p.write_text(checked_json({"a": 3}).replace("}", ', "b": [1, 2]}')),
}


@pytest.mark.parametrize("how", CHECKED_JSON_CASES)
def test_checked_json_refuses_every_damage_in_one_line(tmp_path, how):
    p = tmp_path / "state.json"
    p.write_text(checked_json({"a": 1, "b": [1, 2]}, indent=1))
    assert load_checked_json(p, "fix it") == {"a": 1, "b": [1, 2]}
    CHECKED_JSON_CASES[how](p)
    with pytest.raises(ResumeError) as e:
        load_checked_json(p, "delete it and rerun", what="a thing")
    _one_line(e, str(p), "delete it and rerun")


def test_checked_json_key_and_canonical_form():
    """The checksum is over sorted-key JSON without the key: the form state.json and config.json always used."""
    import hashlib

    d = {"b": 1, "a": [1.5, None]}
    want = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
    assert json_checksum(d) == want == json_checksum({**d, "sha256": "x"})
    assert json.loads(checked_json(d, key="checksum"))["checksum"] == want


@pytest.mark.parametrize("recorded", [None, "", "0" * 64])
def test_verify_file_treats_a_missing_checksum_as_a_failure(tmp_path, recorded):
    p = tmp_path / "a.bin"
    p.write_bytes(b"abc")
    with pytest.raises(ResumeError) as e:
        verify_file(p, recorded, "redo it")
    _one_line(e, str(p), "redo it", "no checksum" if not recorded else "corrupt")
    verify_file(p, sha256_bytes(b"abc"), "redo it")  # the right one passes


@pytest.mark.parametrize("how", ["no-sidecar", "empty-sidecar", "garbled-data", "garbled-sidecar", "missing"])
def test_read_verified(tmp_path, how):
    p = tmp_path / "x.npy"
    p.write_bytes(b"data" * 10)
    write_sidecar(p)
    assert read_verified(p, "fix") == b"data" * 10
    if how == "no-sidecar":
        sidecar(p).unlink()
    elif how == "empty-sidecar":
        sidecar(p).write_text("")
    elif how == "garbled-data":
        p.write_bytes(b"dat4" * 10)
    elif how == "garbled-sidecar":
        sidecar(p).write_bytes(b"\xff" * 64)
    else:
        p.unlink()
    with pytest.raises(ResumeError) as e:
        read_verified(p, "compute it again")
    _one_line(e, p.name, "compute it again")


def test_load_state_needs_a_recorded_checksum(tmp_path):
    import torch

    m = torch.nn.Linear(2, 2)
    digest = save_state(m, tmp_path / "plain.pt")  # no sidecar: the caller keeps the checksum
    with pytest.raises(ResumeError) as e:
        load_state(torch.nn.Linear(2, 2), tmp_path / "plain.pt")
    _one_line(e, "plain.pt", "no checksum")
    load_state(torch.nn.Linear(2, 2), tmp_path / "plain.pt", sha256=digest)
    save_state(m, tmp_path / "meta.pt", meta={"a": 1})  # the .json sidecar holds it
    load_state(torch.nn.Linear(2, 2), tmp_path / "meta.pt")
    side = json.loads((tmp_path / "meta.json").read_text())
    del side["sha256"]
    (tmp_path / "meta.json").write_text(json.dumps(side))
    with pytest.raises(ResumeError, match="no checksum"):
        load_state(torch.nn.Linear(2, 2), tmp_path / "meta.pt")


def test_a_checksummed_pickle_is_still_refused(tmp_path):
    """The checksum says the bytes are as written, not that they are safe: weights_only still refuses code."""
    import pickle

    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"weight": Evil()}, protocol=2))
    write_sidecar(p)
    with pytest.raises(ResumeError) as e:
        load_state(torch.nn.Linear(2, 2), p)
    _one_line(e, "evil.pt", "not a readable latentlab checkpoint")
    assert not (tmp_path / "pwned").exists()


# --------------------------------------------------------------------------- locks (filelock underneath)
def test_write_lock_refuses_a_second_writer_naming_the_pid(tmp_path):
    target = tmp_path / "tune.json"
    with WriteLock(target) as lock:
        assert lock.path == tmp_path / ".tune.json.lock" and lock.path.read_text().strip() == str(os.getpid())
        with pytest.raises(ResumeError) as e:
            WriteLock(target).acquire()
        _one_line(e, f"another latentlab run (pid {os.getpid()}) is writing to {target}", "choose another --out")
    assert not lock.path.exists()  # released: removed
    with WriteLock(target):  # and free again
        pass


def test_run_lock_held_by_another_process(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, time; from latentlab.storage import RunLock; "
        f"l = RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ResumeError) as e:
            RunLock(tmp_path).acquire()
        _one_line(e, f"(pid {holder.pid})", str(tmp_path))
    finally:
        holder.kill()  # SIGKILL: no release runs; the kernel drops the flock
        holder.wait()
    assert (tmp_path / RunLock.NAME).exists()  # the dead holder's file stays ...
    with RunLock(tmp_path) as lock:  # ... and is taken over
        assert lock.path.read_text().strip() == str(os.getpid())


def test_lock_on_a_file_system_without_flock_uses_a_pid_marker(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with RunLock(tmp_path) as lock:
        assert str(os.getpid()) in lock.path.read_text()
        with pytest.raises(ResumeError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / RunLock.NAME).exists()


def test_fuzzed_state_json_is_refused_or_unchanged(tmp_path):
    """300 random edits of a checkpoint's state.json: each is refused in one line, or parses to the same content."""
    state = {
        "round": 2,
        "records": [{"round": t, "metric": 0.5 + t / 10, "n_labelled": 20 * t} for t in (1, 2)],
        "sha256": {"model": "ab" * 32, "arrays": "cd" * 32},
        "config": {"loop": {"alpha": 0.2}},
    }
    good = checked_json(state, key="checksum", indent=1).encode()
    rng = np.random.default_rng(0)
    p = tmp_path / "state.json"
    refused = same = 0
    for _ in range(300):
        b = bytearray(good)
        for i in rng.integers(0, len(b), rng.integers(1, 4)):
            b[i] = int(rng.integers(0, 256))
        p.write_bytes(bytes(b))
        try:
            got = load_checked_json(p, "delete it", key="checksum")
        except ResumeError as e:
            assert "\n" not in str(e) and "state.json" in str(e)
            refused += 1
        else:
            assert got == state  # an edit of white space only
            same += 1
    assert refused > 250 and refused + same == 300
