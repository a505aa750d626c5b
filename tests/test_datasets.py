import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from latentlab import ConfigError, DatasetError, DatasetNotFoundError, load_dataset
from latentlab.datasets import CIFAR10_CLASSES, Dataset, read_idx


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
