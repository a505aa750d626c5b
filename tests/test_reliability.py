"""Fault injection: foreign folders, concurrent runs, corrupt files, kills at every atomic rename, bad flags.

Every case checks the promise to the user: one line naming the file or the flag (exit 2, no
traceback), nothing deleted that latentlab did not write, and a resumed run identical to an
uninterrupted one.
"""

import contextlib
import json
import os
import subprocess
import sys

import pytest

from latentlab.cli import main
from latentlab.storage import RunLock

from test_cli import QUICK  # the same quick digits run as the CLI tests


def run_cli(*args):
    return main(["run", *QUICK, *args])


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("latentlab: error:")]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


# ------------------------------------------------------------------ --overwrite and the run marker
def test_overwrite_refuses_a_foreign_folder(tmp_path, capsys):
    p = tmp_path / "P"
    (p / "src").mkdir(parents=True)
    (p / "config.json").write_text('{"name": "app"}')
    (p / "src" / "precious.py").write_text("x")
    assert run_cli("--strategy", "random", "--overwrite", "--out", str(p)) == 2
    one_line_error(capsys, "--overwrite refused", "nothing was deleted")
    assert (p / "src" / "precious.py").read_text() == "x" and (p / "config.json").exists()
    assert run_cli("--strategy", "random", "--resume", "--out", str(p)) == 2
    one_line_error(capsys, "not a latentlab run")


def test_overwrite_removes_only_what_latentlab_wrote(tmp_path, capsys):
    p = tmp_path / "run"
    assert run_cli("--strategy", "random", "--out", str(p)) == 0
    marker = json.loads((p / ".latentlab-run").read_text())
    assert marker == {"kind": "latentlab run", "format": 1}
    (p / "notes.txt").write_text("mine")
    (p / "runs" / "random-seed0" / "plot.svg").write_text("mine too")
    with pytest.warns(UserWarning, match="kept 2 file"):
        assert run_cli("--strategy", "random", "--alpha", "0.5", "--overwrite", "--out", str(p)) == 0
    assert (p / "notes.txt").read_text() == "mine" and (p / "runs" / "random-seed0" / "plot.svg").exists()
    assert json.loads((p / "config.json").read_text())["loop"]["alpha"] == 0.5


def test_failed_start_leaves_no_folder(tmp_path, capsys):
    p = tmp_path / "new"
    assert run_cli("--strategy", "random", "--initial", "301", "--out", str(p)) == 2
    assert not p.exists()


# ------------------------------------------------------------------ one run per folder
def test_second_run_on_a_folder_refuses_at_once(tmp_path, capsys):
    p = tmp_path / "run"
    p.mkdir()
    with RunLock(p):
        assert run_cli("--strategy", "random", "--out", str(p)) == 2
        one_line_error(capsys, f"another latentlab run (pid {os.getpid()})", "choose another --out")
    assert not (p / "config.json").exists()
    assert run_cli("--strategy", "random", "--out", str(p)) == 0  # released: the folder is free again


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    p = tmp_path / "run"
    p.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (p / RunLock.NAME).write_text(dead.stdout)  # a crashed run's lock file: nobody holds it
    assert run_cli("--strategy", "random", "--out", str(p)) == 0
    assert not (p / RunLock.NAME).exists()


def test_two_concurrent_runs_one_refuses_and_results_match_config(tmp_path):
    p = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LATENTLAB_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "latentlab.cli", "run", *QUICK, "--strategy", "random", "--out", str(p)]
    procs = [
        subprocess.Popen(cmd + ["--alpha", a], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for a in ("0.5", "0.2")
    ]
    outs = [pr.communicate(timeout=600) for pr in procs]
    codes = sorted(pr.returncode for pr in procs)
    errs = "".join(e for _, e in outs)
    assert codes in ([0, 2], [0, 0]), errs  # [0, 0]: the second started after the first had finished
    assert "Traceback" not in errs
    if codes == [0, 2]:
        assert "another latentlab run" in errs or "already holds a run" in errs
    alpha = json.loads((p / "config.json").read_text())["loop"]["alpha"]
    winner = [a for a, pr in zip(("0.5", "0.2"), procs) if pr.returncode == 0][0]
    assert alpha == float(winner)


# ------------------------------------------------------------------ every bad flag: one line, exit 2, before any work
BAD_FLAGS = [
    (["--seeds", "-1"], "seeds must be whole numbers >= 0"),
    (["--gen-seed", "-1"], "--gen-seed must be a whole number >= 0"),
    (["--batch-size", "0"], "--batch-size must be a whole number >= 1"),
    (["--batch-size", "-1"], "--batch-size must be a whole number >= 1"),
    (["--lr", "nan"], "--lr must be a finite number > 0"),
    (["--lr", "0"], "--lr must be a finite number > 0"),
    (["--epochs", "nan"], "--epochs must be a finite number >= 0"),
    (["--epochs", "inf"], "--epochs must be a finite number >= 0"),
    (["--gen-epochs", "nan"], "--gen-epochs must be a finite number >= 0"),
    (["--n-pool", "-5"], "--n-pool must be a whole number >= 1"),
    (["--n-test", "-1"], "--n-test must be a whole number >= 1"),
    (["--n-test", "0"], "--n-test must be a whole number >= 1"),
    (["--latent-dim", "0"], "--latent-dim must be a whole number >= 1"),
    (["--target-width", "-1"], "--target-width must be a finite number > 0"),
    (["--target-width", "nan"], "--target-width must be a finite number > 0"),
    (["--candidates", "-3"], "--candidates must be a whole number >= 1"),
    (["--gen-hidden", "0"], "--gen-hidden must be a whole number >= 1"),
    (["--budget", "0"], "--budget must be a whole number >= 1"),
    (["--budget", "10"], "--budget 10 is smaller than the initial set"),
    (["--min-steps", "-1"], "--min-steps must be a whole number >= 0"),
    (["--gen-min-steps", "-1"], "--gen-min-steps must be a whole number >= 0"),
    (["--rounds", "0"], "rounds must be >= 1"),
    (["--initial", "0"], "initial set size must be >= 1"),
    (["--per-round", "-2"], "per-round batch size must be >= 1"),
    (["--val", "-1"], "--val must be a whole number >= 0"),
    (["--target-metric", "nan"], "--target-metric must be a finite number"),
    (["--target", "resnet"], "unknown target model 'resnet'"),
    (["--gen-kind", "gan"], "unknown generator 'gan'"),
    (["--dataset", "mnst"], "unknown dataset 'mnst'"),
    (["--workers", "0"], "--workers must be a whole number >= 1"),
    (["--threads", "0"], "--threads must be a whole number >= 1"),
    (["--seeds", "a,b"], "expected comma-separated integers"),
    (["--alpha", "x"], "invalid float value"),
    (["--rounds", "1.5"], "invalid int value"),
    (["--loss-on", "both"], "invalid choice"),
    (["--resume", "--overwrite"], "not allowed with argument"),
]


@pytest.mark.parametrize("args, msg", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, args, msg):
    import latentlab.experiment as ex

    def no_data(*a, **k):
        raise AssertionError("data was loaded before the flags were checked")

    monkeypatch.setattr(ex, "load_dataset", no_data)
    with (
        pytest.raises(SystemExit)
        if msg
        in (
            "expected comma-separated integers",
            "invalid float value",
            "invalid int value",
            "invalid choice",
            "not allowed with argument",
        )
        else _nothing()
    ):
        code = run_cli(*args, "--out", str(tmp_path / "o"))
        assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_out_that_is_a_file_or_read_only_fails_before_any_work(tmp_path, capsys, monkeypatch):
    import latentlab.experiment as ex

    monkeypatch.setattr(ex, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    f = tmp_path / "file"
    f.write_text("x")
    assert run_cli("--out", str(f)) == 2
    one_line_error(capsys, "is a file, not a folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert run_cli("--out", str(ro / "run")) == 2
        one_line_error(capsys, "cannot write in")
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------ a kill at every atomic rename, then --resume
TINY = [
    "--dataset",
    "digits",
    "--n-pool",
    "200",
    "--n-test",
    "100",
    "--rounds",
    "2",
    "--initial",
    "20",
    "--per-round",
    "20",
    "--epochs",
    "1",
    "--min-steps",
    "30",
    "--gen-epochs",
    "1",
    "--gen-min-steps",
    "60",
    "--strategy",
    "snn",
    "--quiet",
]


class Killed(BaseException):
    """Stands for SIGKILL: nothing in latentlab catches it, and the temporary file stays behind."""


def tiny(out, *extra):
    return main(["run", *TINY, "--out", str(out), *extra])


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    def make(name):
        d = tmp_path / f"cache-{name}"
        monkeypatch.setenv("LATENTLAB_CACHE", str(d))
        return d

    return make


def count_renames(monkeypatch, fn):
    import latentlab.storage as st

    seen = []
    monkeypatch.setattr(st, "RENAME_HOOK", lambda tmp, path: seen.append(path.name))
    fn()
    monkeypatch.setattr(st, "RENAME_HOOK", None)
    return seen


@pytest.mark.slow
def test_kill_at_every_rename_resumes_identically(tmp_path, monkeypatch, fresh_cache, capsys):
    import latentlab.storage as st

    fresh_cache("ref")
    names = count_renames(monkeypatch, lambda: tiny(tmp_path / "ref"))
    ref = (tmp_path / "ref" / "results.csv").read_bytes()
    # the generator cache entry, the marker, config.json, every checkpoint file, the outputs
    assert {"config.json", ".latentlab-run", "state.json", "results.csv"} <= set(names)
    assert any(n.endswith(".pt") for n in names) and any(n.endswith(".npz") for n in names)
    identical = 0
    for k in range(len(names)):
        fresh_cache(f"k{k}")  # the generator's own cache writes are kill points too
        out = tmp_path / f"k{k}"
        calls = []

        def hook(tmp, path, k=k):
            calls.append(path.name)
            if len(calls) == k + 1:
                raise Killed(path.name)

        monkeypatch.setattr(st, "RENAME_HOOK", hook)
        with pytest.raises(Killed):
            tiny(out)
        monkeypatch.setattr(st, "RENAME_HOOK", None)
        assert tiny(out, "--resume") == 0, (k, names[k], capsys.readouterr().err)
        identical += (out / "results.csv").read_bytes() == ref
    assert identical == len(names)
    # a double kill: at a checkpoint, then again while resuming, then resume
    fresh_cache("double")
    out = tmp_path / "double"
    for at in (8, 3):
        calls = []
        monkeypatch.setattr(
            st,
            "RENAME_HOOK",
            lambda tmp, path, at=at: calls.append(1) or (len(calls) == at and (_ for _ in ()).throw(Killed(path.name))),
        )
        with pytest.raises(Killed):
            tiny(out, "--resume")
    monkeypatch.setattr(st, "RENAME_HOOK", None)
    assert tiny(out, "--resume") == 0 and (out / "results.csv").read_bytes() == ref


def test_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import latentlab.storage as st

    def full(tmp, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    # a full disk while writing: the temporary file's write fails; simulate it at the first write
    real = st.atomic_write

    def write(path, data):
        with st.atomic_path(path) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
        real(path, data)  # pragma: no cover

    monkeypatch.setattr(st, "atomic_write", write)
    import latentlab.run_folder as rf  # the run folder's first writes (marker, config.json)

    monkeypatch.setattr(rf, "atomic_write", write)
    assert tiny(tmp_path / "o") == 2
    one_line_error(capsys, "no space left on the device writing", "rerun")


# ------------------------------------------------------------------ corrupt files: detected, file named
def _truncate(p):
    b = p.read_bytes()
    p.write_bytes(b[: len(b) // 2])


def _garble(p):
    b = bytearray(p.read_bytes())
    mid = len(b) // 2
    for i in range(mid, min(mid + 16, len(b))):
        b[i] ^= 0x5A
    p.write_bytes(bytes(b))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("finished")
    old = os.environ.get("LATENTLAB_CACHE")
    os.environ["LATENTLAB_CACHE"] = str(d / "cache")
    try:
        assert tiny(d / "run") == 0
    finally:
        os.environ["LATENTLAB_CACHE"] = old
    return d


def _copy_run(finished_run, tmp_path):
    import shutil

    shutil.copytree(finished_run / "run", tmp_path / "run")
    return tmp_path / "run"


def _run_file(run, pattern):
    return next((run / "runs" / "snn-seed0").glob(pattern))


@pytest.mark.parametrize(
    "target, how",
    [
        ("state.json", _truncate),
        ("state.json", _garble),
        ("model-r*.pt", _truncate),
        ("model-r*.pt", _garble),
        ("arrays-r*.npz", _truncate),
        ("arrays-r*.npz", _garble),
        ("config.json", _truncate),
        ("config.json", _garble),
        ("model-r*.pt", "delete"),
        ("state.json", "records"),
        ("state.json", "nan"),
        ("state.json", "no-checksum-edited"),  # the checksum key removed and a metric edited (issue 23)
        ("state.json", "no-checksum"),
        ("state.json", "list"),
        ("state.json", "deep-nesting"),
        ("state.json", "binary"),
        ("state.json", "file-sums-dropped"),  # checksum recomputed by hand without the model's and arrays' sums
        ("config.json", "no-checksum"),
        ("config.json", "no-checksum-edited"),
        ("config.json", "list"),
        ("arrays-r*.npz", "delete"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_corrupt_run_file_is_one_line_naming_it(finished_run, tmp_path, capsys, monkeypatch, target, how):
    monkeypatch.setenv("LATENTLAB_CACHE", str(finished_run / "cache"))
    run = _copy_run(finished_run, tmp_path)
    p = run / "config.json" if target == "config.json" else _run_file(run, target)
    if how == "delete":
        p.unlink()
    elif how == "records":  # valid JSON, its record list cut short
        s = json.loads(p.read_text())
        s["records"] = s["records"][:1]
        p.write_text(json.dumps(s))
    elif how == "nan":
        s = json.loads(p.read_text())
        s["records"][0]["metric"] = float("nan")
        p.write_text(json.dumps(s))
    elif how in ("no-checksum", "no-checksum-edited"):
        s = json.loads(p.read_text())
        s.pop("checksum", None), s.pop("sha256", None)
        if how.endswith("edited"):
            if "records" in s:
                s["records"][-1]["metric"] = 0.99
            else:
                s["loop"]["alpha"] = 0.5
        p.write_text(json.dumps(s, indent=1))
    elif how == "list":
        p.write_text(json.dumps([json.loads(p.read_text())]))
    elif how == "deep-nesting":
        p.write_text("[" * 200_000 + "]" * 200_000)
    elif how == "binary":
        p.write_bytes(os.urandom(4000))
    elif how == "file-sums-dropped":
        from latentlab.storage import json_checksum

        s = json.loads(p.read_text())
        s["sha256"] = {}
        s["checksum"] = json_checksum(s, "checksum")
        p.write_text(json.dumps(s, indent=1))
    else:
        how(p)
    assert tiny(run, "--resume") == 2
    if how == "file-sums-dropped":  # state.json is intact; the files it names have no checksum left
        one_line_error(capsys, "arrays-r", "no checksum recorded")
    else:
        one_line_error(capsys, p.name)


@pytest.mark.parametrize(
    "how",
    [_truncate, _garble, "pickle", "no-checksum", "sidecar-garbled", "sidecar-list", "sidecar-deep"],
    ids=["truncated", "garbled", "malicious-pickle", "no-checksum", "sidecar-garbled", "sidecar-list", "sidecar-deep"],
)
def test_corrupt_generator_cache_is_retrained(finished_run, tmp_path, monkeypatch, capsys, how):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(finished_run / "cache", cache)
    monkeypatch.setenv("LATENTLAB_CACHE", str(cache))
    pt = next((cache / "generators").glob("*.pt"))
    if how == "pickle":
        import pickle

        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

        pt.write_bytes(pickle.dumps(Evil()))
    elif how == "no-checksum":  # an entry whose sidecar lost its checksum is not trusted (it used to be adopted)
        side = json.loads(pt.with_suffix(".json").read_text())
        del side["sha256"]
        pt.with_suffix(".json").write_text(json.dumps(side))
    elif how == "sidecar-garbled":
        _garble(pt.with_suffix(".json"))
    elif how == "sidecar-list":
        pt.with_suffix(".json").write_text("[]")
    elif how == "sidecar-deep":
        pt.with_suffix(".json").write_text("[" * 100_000 + "]" * 100_000)
    else:
        how(pt)
    with pytest.warns(UserWarning, match=pt.name):
        assert tiny(tmp_path / "again") == 0
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "again" / "results.csv").read_bytes() == (finished_run / "run" / "results.csv").read_bytes()


@pytest.mark.parametrize(
    "how", ["truncated", "garbled", "nan", "shape", "no-sidecar-nan", "no-sidecar", "sidecar-garbled"]
)
def test_corrupt_label_cache_entry_is_labelled_again(tmp_path, how):
    import numpy as np

    from latentlab.labeling import ToolLabeler

    lab = ToolLabeler(np.sqrt, cache_dir=tmp_path / "labels", out_shape="input")
    x = np.arange(8, dtype=np.float32).reshape(2, 4) + 1
    first = lab.label(x).y
    p = sorted((tmp_path / "labels").glob("*.npy"))[0]
    if how == "truncated":
        _truncate(p)
    elif how == "garbled":
        _garble(p)
    elif how in ("nan", "no-sidecar-nan"):
        np.save(p, np.full(4, np.nan, np.float32))
        if how == "no-sidecar-nan":
            p.with_name(p.name + ".sha256").unlink()
    elif how == "shape":
        np.save(p, np.ones(3, np.float32))
    elif how == "no-sidecar":  # a well-formed label without its checksum is not trusted
        p.with_name(p.name + ".sha256").unlink()
    elif how == "sidecar-garbled":
        _garble(p.with_name(p.name + ".sha256"))
    lab2 = ToolLabeler(np.sqrt, cache_dir=tmp_path / "labels", out_shape="input")
    with pytest.warns(UserWarning, match=p.name):
        res = lab2.label(x)
    assert lab2.n_calls == 1 and np.array_equal(res.y, first)
    lab3 = ToolLabeler(np.sqrt, cache_dir=tmp_path / "labels", out_shape="input")
    assert np.array_equal(lab3.label(x).y, first) and lab3.n_calls == 0  # the entry was rewritten


def test_label_cache_refuses_keys_that_are_not_content_hashes(tmp_path):
    from latentlab.exceptions import ConfigError
    from latentlab.storage import LabelCache

    c = LabelCache(tmp_path / "labels")
    for bad in ("../x", "/etc/passwd", "a" * 31, "G" * 32, "../" + "a" * 29):
        with pytest.raises(ConfigError, match="not a content hash"):
            c.load(bad)


@pytest.mark.parametrize("how", ["truncated", "not-gzip"])
def test_corrupt_mnist_file_is_one_line(tmp_path, capsys, how):
    import gzip

    import numpy as np

    d = tmp_path / "mnist"
    d.mkdir()
    for name, shape in [
        ("train-images-idx3-ubyte", (20, 28, 28)),
        ("train-labels-idx1-ubyte", (20,)),
        ("t10k-images-idx3-ubyte", (10, 28, 28)),
        ("t10k-labels-idx1-ubyte", (10,)),
    ]:
        head = bytes([0, 0, 8, len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape)
        data = gzip.compress(head + np.zeros(int(np.prod(shape)), np.uint8).tobytes())
        (d / (name + ".gz")).write_bytes(data)
    bad = d / "train-images-idx3-ubyte.gz"
    if how == "truncated":
        _truncate(bad)
    else:
        bad.write_bytes(b"this is not gzip data at all" * 10)
    assert main(["run", "--dataset", "mnist", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, bad.name, "re-download")


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_corrupt_cifar_batch_is_one_line(tmp_path, how):
    import pickle

    import numpy as np

    from latentlab.datasets import _read_cifar_batch
    from latentlab.exceptions import DatasetError

    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3]}))
    if how == "truncated":
        _truncate(p)
    else:
        p.write_bytes(os.urandom(2000))
    with pytest.raises(DatasetError, match="data_batch_1"):
        _read_cifar_batch(p)


# ------------------------------------------------------------------ thread policy
def test_thread_policy(monkeypatch):
    import torch

    from latentlab.exceptions import ConfigError
    from latentlab.threads import default_threads, set_thread_policy

    # the wait policy (PASSIVE, os.environ left unchanged) is tested in tests/test_install.py
    assert default_threads() == 1
    n = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert set_thread_policy() == 1 and torch.get_num_threads() == 1
        assert set_thread_policy(2) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("LATENTLAB_THREADS", "2")
        assert set_thread_policy() == 2
        with pytest.raises(ConfigError, match="--threads"):
            set_thread_policy(0)
        monkeypatch.setenv("LATENTLAB_THREAD_POLICY", "off")
        assert set_thread_policy() == torch.get_num_threads()
    finally:
        torch.set_num_threads(n)


# ------------------------------------------------------------------ explore and sweep inputs
def test_serve_address_checks():
    import socket

    from latentlab.exceptions import ConfigError
    from latentlab.netcheck import check_serve_address, websocket_origins

    port, origins = check_serve_address("127.0.0.1", 0)
    assert port > 0 and origins == [f"127.0.0.1:{port}", f"localhost:{port}"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {busy} on 127.0.0.1 is in use"):
            check_serve_address("127.0.0.1", busy)
    for bad in (-1, 70000):
        with pytest.raises(ConfigError, match="--port must be"):
            check_serve_address("127.0.0.1", bad)
    with pytest.raises(ConfigError, match="--address 'no.such.host.invalid'"):
        check_serve_address("no.such.host.invalid", 0)
    with pytest.warns(UserWarning, match="reachable from the network"):
        port, origins = check_serve_address("0.0.0.0", 0)
    assert f"localhost:{port}" in origins and len(origins) > 2  # this host's names and addresses too
    assert websocket_origins("10.1.2.3", 80) == ["10.1.2.3:80"]


def test_explore_bad_port_is_one_line(capsys):
    pytest.importorskip("panel")
    with pytest.raises(SystemExit):
        main(["explore", "--port", "x"])
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["explore", "--port", "99999"]) == 2
    one_line_error(capsys, "--port must be")


@pytest.mark.parametrize("case", ["notebook-not-json", "out-is-file", "scheduler-malformed", "scheduler-unreachable"])
def test_sweep_input_errors_are_one_line(tmp_path, capsys, case):
    pytest.importorskip("papermill")
    import time

    from pathlib import Path

    nb = Path(__file__).resolve().parents[1] / "notebooks" / "01_mnist.ipynb"
    grid = tmp_path / "g.yaml"
    grid.write_text("grid:\n  seed: [0]\n")
    out = tmp_path / "sw"
    extra = []
    if case == "notebook-not-json":
        nb = tmp_path / "bad.ipynb"
        nb.write_text("{not json")
    elif case == "out-is-file":
        out.write_text("x")
    elif case == "scheduler-malformed":
        extra = ["--scheduler", "nonsense"]
    else:
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        extra = ["--scheduler", f"tcp://127.0.0.1:{free}"]
    t0 = time.perf_counter()
    assert main(["sweep", str(nb), "--grid", str(grid), "--out", str(out), *extra]) == 2
    one_line_error(capsys)
    assert time.perf_counter() - t0 < 25


def test_vessels_labels_only_the_test_masks_used(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path))
    from latentlab.vessels import load_vessels
    from latentlab.vessels.dataset import load_vessels as loader

    ds = loader(n=40, n_test=12, n_test_used=2, workers=1, progress=False)
    assert len(ds.x_test) == 2 and len(ds.y_test) == 2
    labels = list((tmp_path / "labels").glob("*/*.npy"))
    assert len(labels) == 2  # the other 10 test masks were never solved
    full = load_vessels(n=40, n_test=12, workers=1, progress=False)
    assert (full.subset(None, 2, seed=0).x_test == ds.x_test).all()  # the same draw as --n-test 2


# ------------------------------------------------------------------ sweep: SIGKILL at random moments, then resume
def _sweep_killed_at(nb, out, seeds, k, count_file=None):
    """A sweep process that SIGKILLs itself at its k-th moment of writing: an atomic rename (params.json,
    done.json, failed.json, the gathered tables) or a line of a point's results table (None: never)."""
    import signal

    import latentlab.storage as st
    import test_sweep

    seen = [0]

    def tick(*_):
        seen[0] += 1
        if seen[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs: temporary files and torn tables stay

    st.RENAME_HOOK, test_sweep.TICK = tick, tick
    test_sweep.toy_sweep(nb, out, seeds)
    if count_file is not None:
        count_file.write_text(str(seen[0]))


def test_sweep_killed_at_random_moments_resumes_byte_identical(tmp_path, monkeypatch):
    """A sweep process is SIGKILLed at random moments, then rerun: the gathered results.csv, summary.md
    and failures.csv equal those of an uninterrupted sweep, byte for byte.

    The points run the real bookkeeping (run_point, _finished, gather) with papermill replaced by
    test_sweep.fake_execute, so a trial takes a fraction of a second. 12 trials kill at a random one of
    the sweep's moments of writing (every third is killed again while resuming: 16 kills, each surely
    mid-run, whatever the machine's load); 4 more kill after a random wall-clock delay.
    """
    pytest.importorskip("papermill")
    import multiprocessing as mp
    import random
    import signal
    import time

    from test_sweep import TOY_FAILS, toy_notebook, use_fake_papermill

    nb = toy_notebook(tmp_path / "toy.ipynb")
    use_fake_papermill(monkeypatch)  # the forked sweeps inherit it
    seeds = (0, 1, 2, TOY_FAILS, 5, 6)
    fork = mp.get_context("fork")

    def run(out, k=None, count_file=None):
        p = fork.Process(target=_sweep_killed_at, args=(nb, out, seeds, k, count_file))
        p.start()
        return p

    def files(out):
        return {
            n: (out / n).read_bytes().replace(str(out).encode(), b"<out>")
            for n in ("results.csv", "summary.md", "failures.csv")
        }

    t0 = time.perf_counter()
    ref = run(tmp_path / "ref", count_file=tmp_path / "moments")
    ref.join(60)
    took = time.perf_counter() - t0
    assert ref.exitcode == 0
    want = files(tmp_path / "ref")
    assert want["failures.csv"].count(b"\n") == 2 and b"seed 3 always fails" in want["summary.md"]
    moments = int((tmp_path / "moments").read_text())
    # sweep.json; per point params.json, done.json or failed.json, and 4 table lines (5 points); the 3 gathered files
    assert moments == 1 + 6 * 2 + 5 * 4 + 3

    rng = random.Random(23)  # seeded: the same kills on every run of the test
    killed, identical = 0, 0
    for trial in range(16):
        out = tmp_path / f"k{trial}"
        for _ in range(2 if trial % 3 == 0 and trial < 12 else 1):
            if trial < 12:
                p = run(out, k=rng.randint(1, moments))
            else:  # a wall-clock moment: anywhere, even between two writes (or after the end)
                p = run(out)
                time.sleep(rng.uniform(0, 1.1 * took))
                os.kill(p.pid, signal.SIGKILL)
            p.join(60)
            killed += p.exitcode == -signal.SIGKILL
        p = run(out)
        p.join(60)
        assert p.exitcode == 0, trial
        identical += files(out) == want
    assert identical == 16
    assert killed >= 16  # the 16 moment kills (the wall-clock ones may land after the end)


# ------------------------------------------------------------------ alpha-GAN training checkpoint (in the cache)
@pytest.fixture(scope="module")
def killed_alphagan(tmp_path_factory):
    """Straight 2-epoch training, and the checkpoint of the same training killed after epoch 1."""
    import torch

    from test_alphagan import CFG, SHAPE, TINY, AlphaGAN, fake_images

    x = fake_images(16)
    torch.manual_seed(0)
    straight = AlphaGAN(SHAPE, **TINY)
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    straight.fit_model(x, CFG, seed=3, progress=False)
    d = tmp_path_factory.mktemp("killed-gan")
    killed = AlphaGAN(SHAPE, **TINY)
    killed.load_state_dict(init)
    killed.fit_model(x, CFG, seed=3, progress=False, checkpoint_dir=d, max_epochs=1)
    return x, init, straight.state_dict(), d


@pytest.mark.parametrize("how", ["truncated", "garbled", "no-sidecar", "sidecar-garbled", "not-a-checkpoint"])
def test_corrupt_generator_training_checkpoint_trains_afresh(killed_alphagan, tmp_path, how):
    """A killed alpha-GAN training resumes from last.pt only when its checksum holds; else it trains from
    its first epoch (with one warning naming the file) and ends with the same weights as a straight run."""
    import shutil

    import torch

    from latentlab.storage import sidecar, write_sidecar
    from test_alphagan import CFG, SHAPE, TINY, AlphaGAN

    x, init, want, killed_dir = killed_alphagan
    shutil.copytree(killed_dir, tmp_path / "ckpt")
    ckpt = tmp_path / "ckpt" / "last.pt"
    if how == "truncated":
        _truncate(ckpt)
    elif how == "garbled":
        _garble(ckpt)
    elif how == "no-sidecar":
        sidecar(ckpt).unlink()
    elif how == "sidecar-garbled":
        _garble(sidecar(ckpt))
    else:  # plain tensors with a right checksum, but not a training checkpoint
        torch.save({"epoch": torch.tensor(1)}, ckpt)
        write_sidecar(ckpt)
    again = AlphaGAN(SHAPE, **TINY)
    again.load_state_dict(init)
    with pytest.warns(UserWarning, match="last.pt") as seen:
        h = again.fit_model(x, CFG, seed=3, progress=False, checkpoint_dir=ckpt.parent)
    assert len([w for w in seen if "last.pt" in str(w.message)]) == 1 and "\n" not in str(seen[0].message)
    assert [r["epoch"] for r in h] == [1, 2]  # from the first epoch
    for k, v in want.items():
        torch.testing.assert_close(again.state_dict()[k], v, rtol=0, atol=0)


def test_intact_generator_training_checkpoint_is_resumed(killed_alphagan, tmp_path):
    import shutil

    import torch

    from test_alphagan import CFG, SHAPE, TINY, AlphaGAN

    x, init, want, killed_dir = killed_alphagan
    shutil.copytree(killed_dir, tmp_path / "ckpt")
    again = AlphaGAN(SHAPE, **TINY)
    h = again.fit_model(x, CFG, seed=3, progress=False, checkpoint_dir=tmp_path / "ckpt")
    assert [r["epoch"] for r in h] == [1, 2]
    for k, v in want.items():
        torch.testing.assert_close(again.state_dict()[k], v, rtol=0, atol=0)


@pytest.mark.parametrize("where", ["marker", "config-flag"])
def test_json_nested_too_deeply_is_one_line(tmp_path, capsys, where):
    deep = "[" * 100_000 + "]" * 100_000
    out = tmp_path / "o"
    out.mkdir()
    if where == "marker":  # a run folder's marker: then it is not trusted as latentlab's
        (out / ".latentlab-run").write_text(deep)
        (out / "notes.txt").write_text("x")
        assert run_cli("--strategy", "random", "--resume", "--out", str(out)) == 2
        one_line_error(capsys, "not a latentlab run folder")
    else:
        (tmp_path / "deep.json").write_text(deep)
        assert run_cli("--strategy", "random", "--config", str(tmp_path / "deep.json"), "--out", str(out)) == 2
        one_line_error(capsys, "deep.json", "is not valid JSON")


# ------------------------------------------------------------------ workers die with their parent (issue 23)
def _cli(*args) -> list:
    return [sys.executable, "-m", "latentlab", *args]


def _env(cache) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "LATENTLAB_CACHE": str(cache), "PYTHONWARNINGS": "ignore"}


def _folder_files(d) -> dict:
    """Every file under ``d`` -> (size, mtime_ns): what a writer changes."""
    got = {}
    for p in d.rglob("*"):
        try:
            st = p.stat()
        except OSError:  # removed meanwhile: that is a change too
            got[p] = None
            continue
        if p.is_file():
            got[p] = (st.st_size, st.st_mtime_ns)
    return got


def _group_alive(pgid: int) -> list[int]:
    """PIDs of live (not zombie) processes in process group ``pgid`` (Linux /proc)."""
    alive = []
    for stat in __import__("pathlib").Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


ORPHAN_RUN = ["run", *TINY[:-2], "snn,random", "--rounds", "8", "--seeds", "0", "--workers", "2", "--quiet"]
TUNE_RUN = ["tune", *TINY[:-2], "snn", "--val", "40", "--grid", "alpha=0.5,1.0", "--workers", "2", "--quiet"]


def _checkpoint_rounds(out, pattern="runs/*/state.json") -> int:
    n = 0
    for f in out.glob(pattern):
        try:
            n += json.loads(f.read_text())["round"]
        except (OSError, ValueError, KeyError):
            pass
    return n


@pytest.fixture(scope="module")
def workers_ref(tmp_path_factory):
    """Uninterrupted 'run --workers 2' and 'tune --workers 2' of the kill tests (one shared cache)."""
    d = tmp_path_factory.mktemp("workers-ref")
    env = _env(d / "cache")
    subprocess.run(_cli(*ORPHAN_RUN, "--out", str(d / "run")), check=True, env=env, capture_output=True)
    subprocess.run(_cli(*TUNE_RUN, "--out", str(d / "tune")), check=True, env=env, capture_output=True)
    return d, env


def _tune_files(out) -> dict:
    return {n: (out / n).read_bytes() for n in ("tune.json", "tune.md", "point-0/results.csv", "point-1/results.csv")}


def _start(args, out, env):
    return subprocess.Popen(
        _cli(*args, "--out", str(out)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the test can tell which processes are its own
    )


def _wait_group_gone(pgid: int, seconds: float) -> list[int]:
    import time

    end = time.time() + seconds
    while _group_alive(pgid) and time.time() < end:
        time.sleep(0.05)
    return _group_alive(pgid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process groups from /proc")
def test_workers_die_with_their_killed_parent(workers_ref, tmp_path):
    """SIGKILL the parent of 'run --workers 2' mid-run: 2 s later no process of its group is alive and
    nothing in the run folder changes for 3 s more; --resume then gives the uninterrupted results."""
    import signal
    import time

    ref, env = workers_ref
    out = tmp_path / "killed"
    proc = _start(ORPHAN_RUN, out, env)
    deadline = time.time() + 300
    while _checkpoint_rounds(out) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers are not signalled
    proc.wait()
    time.sleep(2.0)
    alive = _group_alive(proc.pid)
    before = _folder_files(out)
    time.sleep(3.0)
    assert alive == [], f"processes of the killed run still alive 2 s after the kill: {alive}"
    assert _folder_files(out) == before, "the run folder changed after its parent was killed"
    assert not (out / "results.csv").exists() and _checkpoint_rounds(out) < 16
    subprocess.run(_cli(*ORPHAN_RUN, "--out", str(out), "--resume"), check=True, env=env, capture_output=True)
    assert (out / "results.csv").read_bytes() == (ref / "run" / "results.csv").read_bytes()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process groups from /proc")
@pytest.mark.parametrize("command", ["run", "tune"])
def test_killed_at_random_moments_resumes_byte_identical(workers_ref, tmp_path, command):
    """'run --workers 2' and 'tune --workers 2' SIGKILLed at random moments (seeded), then resumed: the
    outputs equal the uninterrupted ones byte for byte. A trial waits for a random number of finished
    rounds (0 = during start-up), then a random fraction of a second, and kills the parent alone or
    the whole process group (a machine that lost power). ('sweep': see the test above.)"""
    import random
    import signal
    import time

    ref, env = workers_ref
    rng = random.Random(2300 + len(command))
    args, pattern, total = (
        (ORPHAN_RUN, "runs/*/state.json", 16) if command == "run" else (TUNE_RUN, "point-*/runs/*/state.json", 4)
    )
    want = (ref / "run" / "results.csv").read_bytes() if command == "run" else _tune_files(ref / "tune")
    kills = identical = 0
    for trial in range(3):
        out = tmp_path / f"k{trial}"
        at, delay, group = rng.randrange(total), rng.uniform(0, 0.5), trial % 2 == 1
        proc = _start(args, out, env)
        deadline = time.time() + 300
        while _checkpoint_rounds(out, pattern) < at and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL) if group else os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        assert _wait_group_gone(proc.pid, 5) == [], trial
        again = subprocess.run(
            _cli(*args, "--out", str(out), *(["--resume"] if command == "run" else [])),
            env=env,
            capture_output=True,
            text=True,
        )
        assert again.returncode == 0, (trial, again.stderr[-2000:])
        got = (out / "results.csv").read_bytes() if command == "run" else _tune_files(out)
        identical += got == want
    assert identical == 3 and kills >= 2, (identical, kills)


def test_two_concurrent_tunes_one_refuses_with_the_lock_message(workers_ref, tmp_path):
    """Two 'tune --workers 2' into one --out: the loser is told another run is writing (never a
    missing temporary file); the winner's tune.json is the uninterrupted one."""
    ref, env = workers_ref
    out = tmp_path / "tune"
    procs = [_start(TUNE_RUN, out, env) for _ in range(2)]
    errs = [p.communicate(timeout=900)[1].decode() for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 2], [0, 0]), errs  # [0, 0]: the second started after the first had finished
    assert not any("Traceback" in e for e in errs), errs
    if codes == [0, 2]:
        loser = errs[[p.returncode for p in procs].index(2)]
        lines = [ln for ln in loser.splitlines() if ln.startswith("latentlab: error:")]
        assert len(lines) == 1 and "another latentlab run (pid" in lines[0] and "is writing to" in lines[0], loser
    assert _tune_files(out) == _tune_files(ref / "tune")


# ------------------------------------------------------------------ writability first; refused commands write nothing
@contextlib.contextmanager
def unwritable(folder):
    """``folder`` made unwritable for this process: read-only bits, or (as root, whom those do not stop)
    the immutable attribute; skipped where neither holds."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("root without chattr: no way to make a folder unwritable here")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o500)
        undo = None
    try:
        yield folder
    finally:
        if undo:
            subprocess.run(undo, check=True)
        else:
            folder.chmod(0o700)


def _snapshot(d) -> dict:
    """Every file under ``d`` with its bytes (a folder left as found has the same snapshot)."""
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_unwritable_cache_is_refused_before_the_generator_trains(tmp_path, capsys, monkeypatch):
    import latentlab.generative as gen

    trained = []
    real = gen.train_generator
    monkeypatch.setattr(gen, "train_generator", lambda *a, **k: trained.append(1) or real(*a, **k))
    cache = tmp_path / "cache"
    (cache / "generators").mkdir(parents=True)
    monkeypatch.setenv("LATENTLAB_CACHE", str(cache))
    with unwritable(cache / "generators"):
        assert tiny(tmp_path / "o") == 2
    one_line_error(capsys, "cache folder", "generators", "LATENTLAB_CACHE")
    assert trained == [] and not (tmp_path / "o").exists()
    with unwritable(cache):  # the cache root itself (generators/ not made yet)
        monkeypatch.setenv("LATENTLAB_CACHE", str(cache / "sub"))
        assert tiny(tmp_path / "o") == 2
    one_line_error(capsys, "cache folder", "it would be created in")
    assert trained == [] and not (tmp_path / "o").exists()


def test_unwritable_out_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import latentlab.experiment as ex

    monkeypatch.setattr(ex, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    with unwritable(tmp_path / "ro"):
        assert run_cli("--out", str(tmp_path / "ro" / "run")) == 2
        one_line_error(capsys, "--out", "cannot be written", "choose another --out")
        assert main(["tune", *QUICK, "--val", "30", "--grid", "alpha=0.5", "--out", str(tmp_path / "ro")]) == 2
        one_line_error(capsys, "cannot be written")


def test_overwrite_is_all_or_nothing(finished_run, tmp_path, capsys, monkeypatch):
    """A run folder with a subfolder the user cannot change: --overwrite deletes nothing and says which."""
    monkeypatch.setenv("LATENTLAB_CACHE", str(finished_run / "cache"))
    run = _copy_run(finished_run, tmp_path)
    before = _snapshot(run)
    with unwritable(run / "runs" / "snn-seed0"):
        assert tiny(run, "--overwrite", "--alpha", "0.5") == 2
        one_line_error(capsys, "--overwrite refused", "snn-seed0", "nothing was deleted")
    assert _snapshot(run) == before
    assert tiny(run, "--overwrite", "--alpha", "0.5") == 0  # writable again: the overwrite goes through
    assert json.loads((run / "config.json").read_text())["loop"]["alpha"] == 0.5
    assert not list(run.glob(".latentlab-overwritten-*"))


@pytest.mark.parametrize("how", ["loop-setting", "data-setting"])
def test_refused_resume_leaves_the_folder_as_it_found_it(finished_run, tmp_path, capsys, monkeypatch, how):
    """The issue's case: a killed 'tune --workers' leaves checkpoints without config.json; a mistaken
    'run --resume' with other settings is refused and must not write its config.json there."""
    monkeypatch.setenv("LATENTLAB_CACHE", str(finished_run / "cache"))
    run = _copy_run(finished_run, tmp_path)
    (run / "config.json").unlink()
    (run / "results.csv").unlink()
    before = _snapshot(run)
    other = ["--alpha", "0.7"] if how == "loop-setting" else ["--n-pool", "180"]  # the latter: the data fingerprint
    assert tiny(run, "--resume", *other) == 2
    one_line_error(capsys, "different run")
    assert _snapshot(run) == before
    assert tiny(run, "--resume") == 0  # the right settings still resume it
    assert (run / "results.csv").read_bytes() == (finished_run / "run" / "results.csv").read_bytes()


# ------------------------------------------------------------------ run and tune on a Dask cluster (issue 21)
def test_run_and_tune_on_a_dask_scheduler_match_local_workers(workers_ref, monkeypatch, capsys):
    """'run --scheduler' and 'tune --scheduler' on a loopback LocalCluster give the bytes of --workers 2."""
    distributed = pytest.importorskip("distributed")
    ref, env = workers_ref
    monkeypatch.setenv("LATENTLAB_CACHE", env["LATENTLAB_CACHE"])  # the cache is shared with the workers
    out = ref.parent / f"{ref.name}-dask"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        addr = cluster.scheduler_address
        run = [a for a in ORPHAN_RUN if a not in ("--workers", "2")]
        assert main([*run, "--scheduler", addr, "--out", str(out / "run")]) == 0
        tune = [a for a in TUNE_RUN if a not in ("--workers", "2")]
        assert main([*tune, "--scheduler", addr, "--out", str(out / "tune")]) == 0
    assert (out / "run" / "results.csv").read_bytes() == (ref / "run" / "results.csv").read_bytes()
    assert _tune_files(out / "tune") == _tune_files(ref / "tune")


@pytest.mark.parametrize("command", ["run", "tune"])
def test_unreachable_scheduler_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, command):
    pytest.importorskip("distributed")
    import socket

    import latentlab.experiment as ex

    monkeypatch.setattr(ex, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    extra = ["--val", "30", "--grid", "alpha=0.5"] if command == "tune" else []
    for addr, msg in ((f"tcp://127.0.0.1:{free}", "cannot reach the Dask scheduler"), ("nonsense", "not a scheduler")):
        assert main([command, *QUICK, *extra, "--scheduler", addr, "--out", str(tmp_path / "o")]) == 2
        one_line_error(capsys, msg)
    assert not (tmp_path / "o").exists()
