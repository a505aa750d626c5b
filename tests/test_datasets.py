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
    with pytest.raises(DatasetError, match="names no labeler"):
        lazy.validate()
    ok = Dataset("lazy", digits.x_train, None, digits.x_test, digits.y_test, meta={"labeler": "fem"}).validate()
    sub = ok.subset(50, 20, seed=1)
    assert sub.y_train is None and len(sub.x_train) == 50
    assert ok.fingerprint() != digits.fingerprint()
