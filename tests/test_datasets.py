import dataclasses
import gzip
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from latentlab import ConfigError, DatasetError, DatasetNotFoundError, load_dataset
from latentlab.data_files import CIFAR10_CLASSES, read_idx
from latentlab.datasets import Dataset


def write_idx(path, arr, gz=True):
    arr = np.asarray(arr)
    code = {np.uint8: 0x08}[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "i" * arr.ndim, *arr.shape)
    data = head + arr.tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def fake_mnist(folder, n_train=20, n_test=10, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, a in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), a, gz=gz)
    return arrays


def test_digits_is_embedded_and_split(digits):
    assert digits.x_train.shape == (1500, 1, 8, 8) and digits.x_test.shape == (297, 1, 8, 8)
    assert digits.x_train.dtype == np.float32 and 0 <= digits.x_train.min() and digits.x_train.max() <= 1
    assert set(np.unique(digits.y_test)) == set(range(10))


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown dataset 'mnst'.*cifar10.*digits.*mnist"):
        load_dataset("mnst")


@pytest.mark.parametrize("layout", ["", "mnist", "MNIST/raw"])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_layouts(tmp_path, layout, gz):
    arrays = fake_mnist(tmp_path / layout if layout else tmp_path, gz=gz)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_allclose(ds.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"], atol=1e-3)


def test_mnist_missing_file_says_what_where_and_how(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("mnist", root=tmp_path)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg and str(tmp_path) in msg and "--data-root" in msg


def test_mnist_without_root_names_the_option(monkeypatch):
    monkeypatch.delenv("LATENTLAB_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        load_dataset("mnist")


def test_bad_idx_magic(tmp_path):
    p = tmp_path / "x.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x01\x02\x03\x04rubbish")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(p)


def test_truncated_idx(tmp_path):
    p = tmp_path / "x"
    write_idx(p, np.zeros((5, 3, 3), np.uint8), gz=False)
    p.write_bytes(p.read_bytes()[:-4])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(p)


def _fake_cifar_batches(folder, n=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    truth = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        truth[name] = (data, labels)
    return truth


def test_cifar_official_batches(tmp_path):
    truth = _fake_cifar_batches(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    np.testing.assert_allclose(ds.x_train[0].ravel() * 255, truth["data_batch_1"][0][0], atol=1e-3)
    assert ds.y_test.tolist() == truth["test_batch"][1]
    assert ds.classes == CIFAR10_CLASSES


def test_cifar_batches_refuse_foreign_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _fake_cifar_batches(folder)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [1]}, f)
    with pytest.raises(DatasetError, match="refusing to unpickle"):
        load_dataset("cifar10", root=tmp_path)


def _jpeg_bytes(rgb):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _fake_cifar_jpeg_tar(path, per_class=2, seed=0):
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tf:
        for split in ("train", "test"):
            for c in CIFAR10_CLASSES:
                for i in range(per_class):
                    b = _jpeg_bytes(np.full((32, 32, 3), rng.integers(0, 256, 3), np.uint8))
                    ti = tarfile.TarInfo(f"cifar10-jpeg/{split}/{c}/{i:04d}.jpg")
                    ti.size = len(b)
                    tf.addfile(ti, io.BytesIO(b))


def test_cifar_jpeg_tar_and_its_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))
    _fake_cifar_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz")
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (20, 3, 32, 32)
    assert sorted(np.bincount(ds.y_train).tolist()) == [2] * 10
    assert list((tmp_path / "cache" / "datasets").glob("*.npz"))
    ds2 = load_dataset("cifar10", root=tmp_path)  # from the npz cache
    np.testing.assert_array_equal(ds.x_train, ds2.x_train)
    np.testing.assert_array_equal(ds.y_test, ds2.y_test)


def test_cifar_missing_lists_places(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py.*cifar10-jpeg.tar.gz"):
        load_dataset("cifar10", root=tmp_path)


def test_nan_in_data_is_refused(digits):
    x = digits.x_train.copy()
    x[3, 0, 2, 2] = np.nan
    bad = Dataset("bad", x, digits.y_train, digits.x_test, digits.y_test, classes=digits.classes)
    with pytest.raises(DatasetError, match="NaN"):
        bad.validate()


def test_subset_is_seeded(digits):
    a, b = digits.subset(100, 50, seed=3), digits.subset(100, 50, seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.fingerprint() == b.fingerprint() != digits.subset(100, 50, seed=4).fingerprint()


def test_fingerprint_hashes_the_pool_in_place(digits, tmp_path):
    """The same value as a SHA-1 of the whole pool's bytes (caches keep their keys), with no copy of a
    memory-mapped pool and a block at a time of a non-contiguous one."""
    import hashlib
    import tracemalloc

    path = tmp_path / "pool.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(20_000, 1, 16, 16))  # 20 MB
    big[:] = np.resize(digits.x_train, big.shape)
    big.flush()
    mm = np.load(path, mmap_mode="r")
    ds = Dataset("mm", mm, np.resize(digits.y_train, len(mm)), digits.x_test, digits.y_test, classes=digits.classes)
    h = hashlib.sha1()
    for part in (b"mm", str(mm.shape).encode(), np.asarray(mm).tobytes(), ds.y_train.tobytes()):
        h.update(part)
    tracemalloc.start()
    got = ds.fingerprint()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got == h.hexdigest()[:16]
    assert peak < 2**20  # no copy of the 20 MB pool (tobytes() made one)
    strided = dataclasses.replace(ds, x_train=np.asarray(mm)[:, :, ::2])  # not contiguous: copied by blocks
    h = hashlib.sha1()
    for part in (b"mm", str(strided.x_train.shape).encode(), strided.x_train.tobytes(), ds.y_train.tobytes()):
        h.update(part)
    assert strided.fingerprint() == h.hexdigest()[:16]


def test_real_mnist_canonical_order(shared_data):
    ds = load_dataset("mnist", root=shared_data)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.y_train[:5].tolist() == [5, 0, 4, 1, 9] and ds.y_test[:5].tolist() == [7, 2, 1, 0, 4]


def test_unknown_pool_labels_need_a_labeler(digits):
    lazy = Dataset("lazy", digits.x_train, None, digits.x_test, digits.y_test, classes=digits.classes)
    with pytest.raises(DatasetError, match="labeler is the oracle"):
        lazy.validate()
    ok = Dataset("lazy", digits.x_train, None, digits.x_test, digits.y_test, labeler="fem").validate()
    sub = ok.subset(50, 20, seed=1)
    assert sub.y_train is None and len(sub.x_train) == 50
    assert ok.fingerprint() != digits.fingerprint()


# --------------------------------------------------------------------------- splits that cannot be biased
# Every loader layout, fed a small fake data set stored *in class order* (as image folders are),
# must give subsets and validation sets whose class counts are proportional within +-1.
def _class_ordered(n_per_class, n_classes=10):
    return np.repeat(np.arange(n_classes), n_per_class)


def _write_mnist_class_ordered(root, per_class):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, k in (("train", per_class), ("t10k", per_class // 2)):
        y = _class_ordered(k).astype(np.uint8)
        write_idx(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", y)


def _write_cifar_batches_class_ordered(root, per_class):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    y = _class_ordered(per_class)  # all five train batches together in class order
    chunks = np.array_split(np.arange(len(y)), 5)
    for i, c in enumerate(chunks, start=1):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (len(c), 3072), dtype=np.uint8), b"labels": y[c].tolist()}, f)
    yt = _class_ordered(per_class // 2)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": rng.integers(0, 256, (len(yt), 3072), dtype=np.uint8), b"labels": yt.tolist()}, f)


def _write_cifar_jpeg_tree(root, per_class):
    rng = np.random.default_rng(0)
    for split, k in (("train", per_class), ("test", per_class // 2)):
        for c in CIFAR10_CLASSES:
            d = root / "cifar10-jpeg" / split / c
            d.mkdir(parents=True)
            for i in range(k):
                (d / f"{i:04d}.jpg").write_bytes(_jpeg_bytes(np.full((32, 32, 3), rng.integers(0, 256, 3), np.uint8)))


def _write_cifar_jpeg_tar(root, per_class):
    root.mkdir(parents=True, exist_ok=True)
    _fake_cifar_jpeg_tar(root / "cifar10-jpeg.tar.gz", per_class=per_class)


def _assert_proportional(sub_y, full_y, n_classes=10):
    got = np.bincount(sub_y, minlength=n_classes)
    want = np.bincount(full_y, minlength=n_classes) * len(sub_y) / len(full_y)
    assert np.all(np.abs(got - want) <= 1), (got.tolist(), want.tolist())
    assert got.sum() == len(sub_y)


@pytest.mark.parametrize(
    "layout, name",
    [
        (_write_mnist_class_ordered, "mnist"),
        (_write_cifar_batches_class_ordered, "cifar10"),
        (_write_cifar_jpeg_tree, "cifar10"),
        (_write_cifar_jpeg_tar, "cifar10"),
    ],
)
def test_subsets_of_class_ordered_files_are_stratified(tmp_path, monkeypatch, layout, name):
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))
    layout(tmp_path / "data", 20)
    ds = load_dataset(name, root=tmp_path / "data")
    # the loader really returns class-ordered items: a first-n split would hold only classes 0 and 1
    assert np.all(np.diff(ds.y_test) >= 0) and np.all(np.diff(ds.y_train) >= 0)
    for seed in (0, 1):
        for n_pool, n_test in ((37, 23), (100, 20), (11, 9)):
            sub = ds.subset(n_pool, n_test, seed=seed)
            assert len(sub.y_train) == n_pool and len(sub.y_test) == n_test
            _assert_proportional(sub.y_train, ds.y_train)
            _assert_proportional(sub.y_test, ds.y_test)
        val = ds.subset(150, None, seed=seed).with_validation(30, seed=seed)
        assert len(val.y_val) == 30 and len(val.y_train) == 120
        _assert_proportional(val.y_val, ds.y_train)
        _assert_proportional(val.y_train, ds.y_train)


def test_first_n_split_would_fail_the_check():
    """The guard: the check above is not vacuous; today's defect (first n of class-ordered items) fails it."""
    y = _class_ordered(100)
    with pytest.raises(AssertionError):
        _assert_proportional(y[:200], y)


def test_validation_set_is_disjoint_seeded_and_checked(digits):
    a = digits.with_validation(100, seed=5)
    b = digits.with_validation(100, seed=5)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, digits.with_validation(100, seed=6).x_val)
    assert len(a.x_train) + len(a.x_val) == len(digits.x_train)
    # no validation image is left in the pool
    pool = {x.tobytes() for x in a.x_train}
    dup = {x.tobytes() for x in digits.x_train}
    assert len(dup) == len(digits.x_train)  # (digits has no duplicate images, so the check below is exact)
    assert not any(x.tobytes() in pool for x in a.x_val)
    assert a.histogram("val").sum() == 100 and a.histogram("test").tolist() == digits.histogram("test").tolist()
    with pytest.raises(ConfigError, match="--val"):
        digits.with_validation(len(digits.x_train))


def test_subset_of_unknown_labels_is_seeded_random():
    x = np.zeros((50, 1, 4, 4), np.float32)
    x[:, 0, 0, 0] = np.arange(50)
    ds = Dataset("lazy", x, None, x[:10], np.zeros((10, 1, 4, 4), np.float32), task="regression", labeler="fem")
    sub = ds.subset(20, 5, seed=0)
    assert not np.array_equal(sub.x_train[:, 0, 0, 0], np.arange(20))  # not the first 20
    assert sub.with_validation(5).y_val is None and sub.with_validation(5).n_val == 5


def test_balanced_indices_give_equal_class_counts():
    from latentlab.datasets import balanced_indices

    y = np.repeat(np.arange(10), [500, 50, 300, 20, 900, 100, 100, 100, 3, 400])
    idx = balanced_indices(y, 20, np.random.default_rng(0))
    assert len(np.unique(idx)) == 20
    np.testing.assert_array_equal(np.bincount(y[idx], minlength=10), np.full(10, 2))
    idx = balanced_indices(y, 43, np.random.default_rng(1))  # 4 each, 3 classes get 5; class 8 has 3
    counts = np.bincount(y[idx], minlength=10)
    assert len(np.unique(idx)) == 43 and counts[8] == 3 and counts.min() == 3 and counts.max() <= 6
    np.testing.assert_array_equal(idx, balanced_indices(y, 43, np.random.default_rng(1)))


# --------------------------------------------------------------------------- crafted files: checked before decoding
def _one_line(e, *fragments):
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


def _resize_sof(jpeg: bytes, w: int, h: int) -> bytes:
    """A JPEG whose header (SOF0) declares w x h pixels; the compressed data stay those of a 32x32 image."""
    i = jpeg.index(b"\xff\xc0")
    b = bytearray(jpeg)
    b[i + 5 : i + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def _img(w=32, h=32, fmt="JPEG", seed=0):
    from PIL import Image

    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


def _member(name, data=b"", kind=tarfile.REGTYPE, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.size = kind, linkname, len(data) if kind == tarfile.REGTYPE else 0
    return ti, data


def _good_members(top="cifar10-jpeg/"):
    return [
        _member(f"{top}{s}/{c}/0000.jpg", _img(seed=i)) for i, (s, c) in enumerate((("train", "cat"), ("test", "dog")))
    ]


def _write_tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    return path


JPEG = _img()
CRAFTED_TARS = {
    # name: (extra members, fragment of the one-line error)
    "bomb-60000x60000": ([_member("cifar10-jpeg/train/cat/0001.jpg", _resize_sof(JPEG, 60000, 60000))], "bomb"),
    "bomb-10000x10000": ([_member("cifar10-jpeg/train/cat/0001.jpg", _resize_sof(JPEG, 10000, 10000))], "bomb"),
    "big-4000x4000": ([_member("cifar10-jpeg/train/cat/0001.jpg", _resize_sof(JPEG, 4000, 4000))], "4000x4000"),
    "wrong-size-31x32": ([_member("cifar10-jpeg/train/cat/0001.jpg", _img(31, 32))], "31x32 image"),
    "wrong-size-png": ([_member("cifar10-jpeg/test/cat/0001.png", _img(64, 64, "PNG"))], "64x64 image"),
    "traversal": ([_member("../train/cat/0001.jpg", JPEG)], "'..'"),
    "traversal-inside": ([_member("cifar10-jpeg/train/../test/cat/0001.jpg", JPEG)], "'..'"),
    "absolute": ([_member("/cifar10-jpeg/train/cat/0001.jpg", JPEG)], "absolute"),
    "windows-drive": ([_member("C:/cifar10-jpeg/train/cat/0001.jpg", JPEG)], "absolute"),
    "backslash": ([_member("cifar10-jpeg\\train\\cat\\0001.jpg", JPEG)], "backslash"),
    "symlink": ([_member("cifar10-jpeg/train/cat/0001.jpg", kind=tarfile.SYMTYPE, linkname="/etc/passwd")], "symbolic"),
    "hardlink": (
        [_member("cifar10-jpeg/train/cat/0001.jpg", kind=tarfile.LNKTYPE, linkname="cifar10-jpeg/train/cat/0000.jpg")],
        "hard link",
    ),
    "device": ([_member("cifar10-jpeg/train/cat/0001.jpg", kind=tarfile.CHRTYPE)], "device"),
    "fifo": ([_member("cifar10-jpeg/train/cat/0001.jpg", kind=tarfile.FIFOTYPE)], "FIFO"),
    "stray-file": ([_member("cifar10-jpeg/README.txt", b"hello")], "not in the documented layout"),
    "unknown-class": ([_member("cifar10-jpeg/train/unicorn/0001.jpg", JPEG)], "not in the documented layout"),
    "nested": ([_member("cifar10-jpeg/train/cat/more/0001.jpg", JPEG)], "not in the documented layout"),
    "wrong-extension": ([_member("cifar10-jpeg/train/cat/0001.exe", JPEG)], "not in the documented layout"),
    "two-tops": ([_member("other/train/cat/0001.jpg", JPEG)], "more than one top folder"),
    "duplicate": ([_member("cifar10-jpeg/train/cat/0000.jpg", JPEG)], "appears twice"),
    "duplicate-dot": ([_member("./cifar10-jpeg/train/cat/0000.jpg", JPEG)], "appears twice"),
    "oversized": ([_member("cifar10-jpeg/train/cat/0001.jpg", b"\xff\xd8" + bytes(2 << 20))], "2,097,154 bytes"),
    "garbage": ([_member("cifar10-jpeg/train/cat/0001.jpg", os.urandom(900))], "not a readable JPEG or PNG"),
    "truncated-jpeg": ([_member("cifar10-jpeg/train/cat/0001.jpg", JPEG[: len(JPEG) // 2])], "0001.jpg"),
    "gif-named-jpg": ([_member("cifar10-jpeg/train/cat/0001.jpg", _img(fmt="GIF"))], "not a readable JPEG or PNG"),
    "empty-file": ([_member("cifar10-jpeg/train/cat/0001.jpg", b"")], "not a readable JPEG or PNG"),
}


@pytest.mark.parametrize("case", CRAFTED_TARS)
def test_crafted_cifar_tar_is_one_line_naming_the_member(tmp_path, monkeypatch, case):
    from PIL import ImageFile

    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))
    extra, fragment = CRAFTED_TARS[case]
    _write_tar(tmp_path / "cifar10-jpeg.tar.gz", _good_members() + extra)
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decoded.append(im.size) or real_load(im))
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root=tmp_path)
    _one_line(e, "cifar10-jpeg.tar.gz", fragment)
    assert all(size == (32, 32) for size in decoded), decoded  # nothing of another size was ever decoded
    assert not list((tmp_path / "cache").rglob("*.npz"))  # and nothing was cached


def test_crafted_archive_through_the_cli_is_one_line(tmp_path, capsys, monkeypatch):
    from latentlab.cli import main

    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))
    _write_tar(tmp_path / "cifar10-jpeg.tar.gz", _good_members() + CRAFTED_TARS["bomb-60000x60000"][0])
    assert main(["run", "--dataset", "cifar10", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "decompression bomb" in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("how", ["truncated", "not-a-tar", "empty"])
def test_broken_tar_is_one_line(tmp_path, how):
    p = _write_tar(tmp_path / "cifar10-jpeg.tar.gz", _good_members())
    if how == "truncated":
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif how == "not-a-tar":
        p.write_bytes(os.urandom(3000))
    else:
        p.write_bytes(b"")
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root=tmp_path, cache=False)
    _one_line(e, "cifar10-jpeg.tar.gz", "re-download")


def test_tar_layout_variants_that_are_fine(tmp_path):
    """A root entry "./", directory entries, no top folder: all the documented layout."""
    members = [_member(".", kind=tarfile.DIRTYPE), _member("./train", kind=tarfile.DIRTYPE)]
    members += [_member("./train/cat", kind=tarfile.DIRTYPE), _member("./train/cat/0000.jpg", JPEG)]
    members += [_member("./test/dog/0000.png", _img(fmt="PNG"))]
    _write_tar(tmp_path / "cifar10-jpeg.tar.gz", members, mode="w")  # also: an uncompressed tar
    ds = load_dataset("cifar10", root=tmp_path, cache=False)
    assert ds.x_train.shape == (1, 3, 32, 32) and ds.y_test.tolist() == [CIFAR10_CLASSES.index("dog")]


@pytest.mark.parametrize("bound", ["decoded", "archive"])
def test_tar_size_bounds_stop_before_reading_on(tmp_path, monkeypatch, bound):
    import latentlab.data_files as dsm  # the bounds are read where the readers live

    members = [_member(f"cifar10-jpeg/train/cat/{i:04d}.jpg", JPEG) for i in range(20)] + _good_members()
    _write_tar(tmp_path / "cifar10-jpeg.tar.gz", members)
    if bound == "decoded":
        monkeypatch.setattr(dsm, "MAX_DECODED_BYTES", 10 * dsm._ImageFolder.PER_IMAGE)
    else:
        monkeypatch.setattr(dsm, "MAX_ARCHIVE_BYTES", 5 * len(JPEG))
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root=tmp_path, cache=False)
    _one_line(e, "more images than latentlab decodes at once")


@pytest.mark.parametrize("case", ["symlink-file", "symlink-class", "symlink-split", "stray-file", "fifo", "wrong-size"])
def test_crafted_cifar_tree_is_one_line(tmp_path, case):
    root = tmp_path / "data"
    _write_cifar_jpeg_tree(root, 2)
    tree = root / "cifar10-jpeg"
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.jpg").write_bytes(JPEG)
    if case == "symlink-file":
        (tree / "train" / "cat" / "0009.jpg").symlink_to(tmp_path / "outside" / "x.jpg")
    elif case == "symlink-class":
        import shutil

        shutil.rmtree(tree / "train" / "cat")
        (tree / "train" / "cat").symlink_to(tmp_path / "outside", target_is_directory=True)
    elif case == "symlink-split":
        (tree / "test").rename(tmp_path / "test-elsewhere")
        (tree / "test").symlink_to(tmp_path / "test-elsewhere", target_is_directory=True)
    elif case == "stray-file":
        (tree / "train" / "notes.txt").write_text("mine")
    elif case == "fifo":
        os.mkfifo(tree / "train" / "cat" / "0009.jpg")
    else:
        (tree / "train" / "cat" / "0000.jpg").write_bytes(_img(32, 31))
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root=root)
    _one_line(
        e,
        str(tree),
        {"wrong-size": "32x31", "stray-file": "notes.txt", "fifo": "not a regular file"}.get(case, "symbolic link"),
    )


def _mnist_variant(folder, case):
    import gzip as gz

    fake_mnist(folder)
    f = folder / "train-images-idx3-ubyte.gz"
    lab = folder / "train-labels-idx1-ubyte.gz"
    if case == "header-cut":
        f.write_bytes(gz.compress(b"\x00\x00\x08\x03\x00\x00"))
    elif case == "magic-only":
        f.write_bytes(gz.compress(b"\x00\x00\x08"))
    elif case == "huge-declared":  # a few bytes declaring 2^20 x 2^12 x 28 pixels (> 1 GiB)
        f.write_bytes(gz.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 1 << 20, 1 << 12, 28) + bytes(100)))
    elif case == "gzip-bomb":  # declares 20 images, then 64 MB more of zeros (a few KB compressed)
        head = bytes([0, 0, 8, 3]) + struct.pack(">III", 20, 28, 28)
        f.write_bytes(gz.compress(head + bytes(20 * 28 * 28 + (64 << 20)), compresslevel=1))
    elif case == "trailing-raw":
        f.unlink()
        write_idx(folder / "train-images-idx3-ubyte", np.zeros((20, 28, 28), np.uint8), gz=False)
        with open(folder / "train-images-idx3-ubyte", "ab") as fh:
            fh.write(b"extra")
    elif case == "truncated-raw":
        f.unlink()
        write_idx(folder / "train-images-idx3-ubyte", np.zeros((20, 28, 28), np.uint8), gz=False)
        raw = folder / "train-images-idx3-ubyte"
        raw.write_bytes(raw.read_bytes()[:-100])
    elif case == "ndim-0":
        f.write_bytes(gz.compress(b"\x00\x00\x08\x00"))
    elif case == "bad-dtype-code":
        f.write_bytes(gz.compress(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00"))
    elif case == "labels-out-of-range":
        write_idx(lab, np.full(20, 200, np.uint8))
    elif case == "labels-2d":
        write_idx(lab, np.zeros((20, 2), np.uint8))
    elif case == "images-27x27":
        write_idx(f, np.zeros((20, 27, 27), np.uint8))
    elif case == "count-mismatch":
        write_idx(lab, np.zeros(19, np.uint8))
    elif case == "int16-images":
        head = bytes([0, 0, 0x0B, 3]) + struct.pack(">III", 20, 28, 28)
        f.write_bytes(gz.compress(head + bytes(20 * 28 * 28 * 2)))
    return f if "raw" not in case else folder / "train-images-idx3-ubyte"


MNIST_CASES = {
    "header-cut": "truncated",
    "magic-only": "not an IDX file",
    "huge-declared": "declares a 1048576x4096x28 array",
    "gzip-bomb": "more data than its header declares",
    "trailing-raw": "longer than its header declares",
    "truncated-raw": "truncated",
    "ndim-0": "not an IDX file",
    "bad-dtype-code": "not an IDX file",
    "labels-out-of-range": "values up to 200",
    "labels-2d": "MNIST labels",
    "images-27x27": "20x27x27",
    "count-mismatch": "20 images but",
    "int16-images": "int16",
}


@pytest.mark.parametrize("case", MNIST_CASES)
def test_crafted_mnist_is_one_line(tmp_path, capsys, case):
    from latentlab.cli import main

    _mnist_variant(tmp_path / "mnist", case)
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", root=tmp_path)
    _one_line(e, "idx", MNIST_CASES[case])
    assert main(["run", "--dataset", "mnist", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and MNIST_CASES[case] in err, err


def test_real_mnist_files_pass_the_header_checks(shared_data):
    for stem in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        a = read_idx(shared_data / "mnist" / f"{stem}.gz")
        assert a.dtype == np.uint8 and len(a) in (60000, 10000)


CIFAR_BATCH_CASES = {
    "float-data": ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0, 1, 2, 3]}, "float32"),
    "short-rows": ({b"data": np.zeros((4, 3000), np.uint8), b"labels": [0, 1, 2, 3]}, "(4, 3000)"),
    "flat-data": ({b"data": np.zeros(4 * 3072, np.uint8), b"labels": [0, 1, 2, 3]}, "uint8 rows of 3072"),
    "list-data": ({b"data": [[0] * 3072] * 4, b"labels": [0, 1, 2, 3]}, "'data' is list"),
    "label-10": ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]}, "labels"),
    "label-negative": ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, -1]}, "labels"),
    "label-strings": ({b"data": np.zeros((4, 3072), np.uint8), b"labels": ["a", "b", "c", "d"]}, "labels"),
    "label-count": ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]}, "4 images but 3 labels"),
    "not-a-dict": ([1, 2, 3], "no 'data'/'labels'"),
}


@pytest.mark.parametrize("case", [*CIFAR_BATCH_CASES, "oversized"])
def test_crafted_cifar_batch_is_one_line(tmp_path, case):
    from latentlab.data_files import _read_cifar_batch

    p = tmp_path / "data_batch_1"
    if case == "oversized":  # a sparse file: 300 MB on paper, nothing on disk
        with open(p, "wb") as f:
            f.truncate(300 << 20)
        fragment = "more than a CIFAR-10 batch"
    else:
        obj, fragment = CIFAR_BATCH_CASES[case]
        p.write_bytes(pickle.dumps(obj))
    with pytest.raises(DatasetError) as e:
        _read_cifar_batch(p)
    _one_line(e, "data_batch_1", fragment)


# --------------------------------------------------------------------------- fuzzing: DatasetError or a valid result
def _mutations(data: bytes, n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        b = bytearray(data)
        kind = rng.integers(3)
        if kind == 0:  # flip a few bytes
            for i in rng.integers(0, len(b), rng.integers(1, 6)):
                b[i] ^= int(rng.integers(1, 256))
        elif kind == 1:  # truncate
            b = b[: int(rng.integers(0, len(b)))]
        else:  # overwrite a run with random bytes
            i = int(rng.integers(0, len(b)))
            b[i : i + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        yield bytes(b)


def test_fuzzed_images_decode_or_are_one_line():
    from latentlab.data_files import _decode_image

    outcomes = {"ok": 0, "refused": 0}
    for fmt in ("JPEG", "PNG"):
        for b in _mutations(_img(fmt=fmt), 150, seed=len(fmt)):
            try:
                a = _decode_image(b, "member 'x.jpg'")
            except DatasetError as e:
                assert "\n" not in str(e) and "x.jpg" in str(e)
                outcomes["refused"] += 1
            else:
                assert a.shape == (32, 32, 3) and a.dtype == np.uint8
                outcomes["ok"] += 1
    assert outcomes["refused"] > 100 and sum(outcomes.values()) == 300, outcomes


def test_fuzzed_idx_files_read_or_are_one_line(tmp_path):
    good = struct.pack(">BBBBIII", 0, 0, 8, 3, 5, 28, 28) + bytes(5 * 28 * 28)
    n_ok = n_bad = 0
    for i, b in enumerate(_mutations(good, 100, seed=1)):
        for gzipped in (False, True):
            p = tmp_path / (f"f{i}.gz" if gzipped else f"f{i}")
            p.write_bytes(gzip.compress(b) if gzipped else b)
            try:
                a = read_idx(p)
            except DatasetError as e:
                assert "\n" not in str(e) and p.name in str(e)
                n_bad += 1
            else:
                assert 4 + 4 * a.ndim + a.nbytes == len(b)  # the header agreed with the size
                n_ok += 1
    assert n_bad > 40 and n_ok > 40 and n_ok + n_bad == 200  # both outcomes occur: the check is not vacuous


def test_fuzzed_cifar_batches_read_or_are_one_line(tmp_path):
    from latentlab.data_files import _read_cifar_batch

    good = pickle.dumps({b"data": np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072), b"labels": [3, 7]})
    n_bad = 0
    for i, b in enumerate(_mutations(good, 200, seed=2)):
        p = tmp_path / f"data_batch_{i}"
        p.write_bytes(b)
        try:
            x, y = _read_cifar_batch(p)
        except DatasetError as e:
            assert "\n" not in str(e) and p.name in str(e)
            n_bad += 1
        else:
            assert x.shape[1:] == (3, 32, 32) and x.dtype == np.uint8 and len(x) == len(y) and set(y) <= set(range(10))
    assert n_bad > 50


def test_fuzzed_tars_load_or_are_one_line(tmp_path):
    good = _write_tar(tmp_path / "good.tar", _good_members(), mode="w").read_bytes()
    n_bad = 0
    for i, b in enumerate(_mutations(good, 120, seed=3)):
        d = tmp_path / f"t{i}"
        d.mkdir()
        (d / "cifar10-jpeg.tar.gz").write_bytes(b)
        try:
            ds = load_dataset("cifar10", root=d, cache=False)
        except (DatasetError, DatasetNotFoundError) as e:
            assert "\n" not in str(e)
            n_bad += 1
        else:
            assert ds.x_train.shape[1:] == (3, 32, 32)
    assert n_bad > 30


@pytest.mark.parametrize("how", ["no-sidecar", "garbled-npz", "garbled-sidecar"])
def test_corrupt_decoded_cache_is_decoded_again(tmp_path, monkeypatch, how):
    from latentlab.storage import sidecar

    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))
    _fake_cifar_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz")
    first = load_dataset("cifar10", root=tmp_path)
    npz = next((tmp_path / "cache" / "datasets").glob("*.npz"))
    if how == "no-sidecar":
        sidecar(npz).unlink()
    elif how == "garbled-npz":
        b = bytearray(npz.read_bytes())
        b[len(b) // 2] ^= 0xFF
        npz.write_bytes(bytes(b))
    else:
        sidecar(npz).write_text("nonsense")
    with pytest.warns(UserWarning, match=npz.name):
        again = load_dataset("cifar10", root=tmp_path)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert sidecar(npz).read_text().strip()  # rewritten: the next load trusts it again


# --------------------------------------------------------------------------- your own arrays (issue 21)
def _digits_arrays(digits):
    return np.concatenate([digits.x_train, digits.x_test]), np.concatenate([digits.y_train, digits.y_test])


def test_from_arrays_converts_uint8_channels_last_and_says_so(digits, caplog):
    x, y = _digits_arrays(digits)
    raw = np.round(x * 255).astype(np.uint8).transpose(0, 2, 3, 1)  # (n, 8, 8, 1) 0-255, as images load
    with caplog.at_level("WARNING", logger="latentlab.data_arrays"):
        ds = Dataset.from_arrays(raw, y, name="mine", test_size=300, seed=1)
    said = caplog.text
    assert "channels-last" in said and "divided by 255" in said
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape[1:] == (1, 8, 8)
    assert len(ds.x_test) == 300 and len(ds.x_train) == len(x) - 300
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    np.testing.assert_allclose(np.sort(np.concatenate([ds.x_train, ds.x_test]).ravel()), np.sort((raw / 255).ravel()))
    assert ds.classes == tuple(str(i) for i in range(10))
    again = Dataset.from_arrays(raw, y, name="mine", test_size=300, seed=1)
    assert again.fingerprint() == ds.fingerprint()  # the split is seeded


def test_from_arrays_float64_cast_and_string_labels(digits, caplog):
    x, y = _digits_arrays(digits)
    names = np.array(["cat", "dog"])[(y % 2)]
    with caplog.at_level("WARNING", logger="latentlab.data_arrays"):
        ds = Dataset.from_arrays(x.astype(np.float64), names, x_test=x[:50].astype(np.float64), y_test=names[:50])
    assert "float64 images: cast to float32" in caplog.text
    assert ds.x_train.dtype == np.float32 and ds.classes == ("cat", "dog")
    assert set(np.unique(ds.y_train)) == {0, 1} and ds.y_train.dtype == np.int64


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda x: x * 4.0, r"values span \[0, 4\].*x / 255"),  # the scale is not guessed
        (lambda x: x - 0.5, r"values span \[-0.5, 0.5\].*x.min\(\)"),
        (lambda x: x.reshape(len(x), -1), r"reshape flat images first"),
        (lambda x: (x * 16).astype(np.int32), r"int32 integers; give uint8"),
    ],
)
def test_from_arrays_refuses_what_it_cannot_convert(digits, make, match):
    x, y = _digits_arrays(digits)
    with pytest.raises(DatasetError, match=match):
        Dataset.from_arrays(make(x), y)


def test_from_arrays_refuses_labels_outside_the_classes(digits):
    x, y = _digits_arrays(digits)
    with pytest.raises(DatasetError, match=r"labels 1..10 but there are 10 classes.*np.unique"):
        Dataset.from_arrays(x, y + 1, classes=[str(i) for i in range(10)])


def test_validate_enforces_the_documented_layout(digits):
    """validate() converts nothing: uint8, float64, channels-last and out-of-range images are refused."""
    cases = {
        "uint8": (np.round(digits.x_train * 255).astype(np.uint8), r"uint8, expected float32.*from_arrays"),
        "float64": (digits.x_train.astype(np.float64), r"float64, expected float32"),
        "range": (digits.x_train * 16, r"values span \[0, 16\], expected \[0, 1\]"),
        "layout": (digits.x_train[:, 0], r"expected \(n, channels, height, width\)"),
    }
    for x, match in cases.values():
        bad = Dataset("bad", x, digits.y_train, digits.x_test, digits.y_test, classes=digits.classes)
        with pytest.raises(DatasetError, match=match):
            bad.validate()


def test_from_torch_reads_a_dataset_and_a_loader(digits):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.from_numpy(digits.x_train[:200]), torch.from_numpy(digits.y_train[:200])
    tx, ty = torch.from_numpy(digits.x_test[:40]), torch.from_numpy(digits.y_test[:40])
    a = Dataset.from_torch(TensorDataset(x, y), TensorDataset(tx, ty), name="t")
    b = Dataset.from_torch(DataLoader(TensorDataset(x, y), batch_size=64), DataLoader(TensorDataset(tx, ty)), name="t")
    np.testing.assert_array_equal(a.x_train, digits.x_train[:200])
    np.testing.assert_array_equal(a.y_train, digits.y_train[:200])
    assert a.fingerprint() == b.fingerprint() and len(a.x_test) == 40
