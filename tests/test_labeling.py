"""Tests of latentlab.labeling: the label cache, parallel tool labeling, per-item failures, registry."""

import numpy as np
import pytest
from scipy import ndimage

from latentlab.exceptions import ConfigError, LabelingError
from latentlab.labeling import LABELERS, OracleLabeler, ToolLabeler, make_labeler
from latentlab.storage import LabelCache, content_key
from latentlab.vessels import FEMLabeler, validate_mask


def annulus(a, b, size=24):
    y, x = np.mgrid[0:size, 0:size] + 0.5
    r = np.hypot(x - size / 2, y - size / 2)
    return ((r >= a) & (r < b)).astype(np.float32)


def fake_stress(mask, **kw):
    """Fast stand-in for the FEM solver (kPa): distance to the background, 0 outside the wall."""
    validate_mask(mask)
    return ndimage.distance_transform_edt(mask) * 20.0


class Crash(BaseException):
    """Simulates a kill (not an Exception, so the labeler does not turn it into an item failure)."""


def test_cache_written_per_label_no_resolve_and_duplicates_once(tmp_path):
    calls = []

    def fn(x):
        calls.append(1)
        return x * 2

    lab = ToolLabeler(fn, cache_dir=tmp_path)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[3] = x[0]  # duplicate input: solved once
    r = lab.label(x)
    assert r.ok.all() and len(calls) == 3 and len(LabelCache(tmp_path)) == 3
    np.testing.assert_array_equal(r.y, x * 2)
    r2 = ToolLabeler(fn, cache_dir=tmp_path).label(x[::-1])  # a rerun solves nothing
    assert len(calls) == 3
    np.testing.assert_array_equal(r2.y, x[::-1] * 2)
    assert LabelCache(tmp_path).get(x[1]) is not None and content_key(x[1]) != content_key(x[2])


def test_crash_loses_nothing_already_labelled(tmp_path):
    n_done = []

    def crashing(x):
        if len(n_done) == 2:
            raise Crash
        n_done.append(1)
        return -x

    x = np.arange(10, dtype=np.float64).reshape(5, 2)
    with pytest.raises(Crash):
        ToolLabeler(crashing, cache_dir=tmp_path).label(x)
    assert len(LabelCache(tmp_path)) == 2  # written as each label arrived
    again = ToolLabeler(lambda v: -v, cache_dir=tmp_path)
    r = again.label(x)
    assert again.n_calls == 3 and r.ok.all()
    np.testing.assert_array_equal(r.y, -x)


def test_per_item_failures_keep_the_rest(tmp_path):
    good = [annulus(4, 8), annulus(5, 9)]
    x = np.stack([good[0], np.zeros_like(good[0]), good[1], np.full_like(good[0], np.nan)])[:, None]
    lab = FEMLabeler(solver=fake_stress, cache_dir=tmp_path)
    r = lab.label(x)
    assert r.ok.tolist() == [True, False, True, False] and r.n_failed == 2
    assert "empty" in r.errors[1] and "NaN" in r.errors[3]
    assert r.y.shape == (2, 1, 24, 24) and r.y.dtype == np.float32
    np.testing.assert_allclose(r.y[1, 0], np.clip(fake_stress(good[1]) / lab.scale_kpa, 0, 1), rtol=1e-6)
    assert len(LabelCache(tmp_path)) == 2  # failures are not cached: a fixed tool retries them
    empty = lab.label(x[[1]])
    assert empty.y.shape == (0, 1, 24, 24)


@pytest.fixture(scope="module")
def batch_and_sequential():
    """Three small annuli and an empty mask, labelled by the real solver in this process."""
    x = np.stack([annulus(4, 8), annulus(5, 10), np.zeros((24, 24), np.float32), annulus(3, 7)])[:, None]
    return x, FEMLabeler(cache_dir=None).label(x)


def test_process_pool_matches_sequential_with_the_real_solver(batch_and_sequential):
    x, seq = batch_and_sequential
    par = FEMLabeler(cache_dir=None, workers=2).label(x, progress=True)
    assert seq.ok.tolist() == [True, True, False, True] and par.ok.tolist() == seq.ok.tolist()
    np.testing.assert_array_equal(par.y, seq.y)
    assert par.errors == seq.errors


@pytest.mark.slow  # ~10-30 s: two spawned Dask workers import latentlab (and torch)
def test_dask_cluster_matches_sequential(batch_and_sequential):
    distributed = pytest.importorskip("distributed")
    x, seq = batch_and_sequential
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dk = FEMLabeler(cache_dir=None, client=client).label(x)
        by_address = FEMLabeler(cache_dir=None, client=cluster.scheduler_address).label(x[:2])
    np.testing.assert_array_equal(dk.y, seq.y)
    assert dk.errors == seq.errors
    np.testing.assert_array_equal(by_address.y, seq.y[:2])


def test_fem_labeler_prepare_and_settings_keyed_cache():
    lab = FEMLabeler(solver=fake_stress)
    ring = annulus(6, 11, 32)
    img = np.stack([ndimage.gaussian_filter(ring, 0.7), np.random.default_rng(0).random((32, 32))])[:, None]
    masks, acc = lab.prepare(img)
    assert acc.tolist() == [True, False] and masks.shape == (1, 1, 32, 32) and masks.dtype == np.float32
    validate_mask(masks[0, 0])
    assert FEMLabeler(pressure_kpa=10.0).cache.folder != FEMLabeler().cache.folder
    assert FEMLabeler(solver=fake_stress).cache.folder != FEMLabeler().cache.folder
    assert lab.can_label_synthetic


def test_registry_and_errors(small_digits):
    assert {"oracle", "fem"} <= set(LABELERS)
    with pytest.raises(ConfigError, match="valid choices: fem, oracle"):
        make_labeler("vasfem", small_digits)
    assert isinstance(make_labeler("oracle", small_digits), OracleLabeler)
    with pytest.raises(ConfigError, match="labels pool items only"):
        OracleLabeler(small_digits.y_train).prepare(small_digits.x_train[:2])
    with pytest.raises(ConfigError, match="workers"):
        ToolLabeler(abs, workers=0)
    with pytest.raises(ConfigError, match="scale_kpa"):
        FEMLabeler(scale_kpa=-1.0)
    with pytest.raises(LabelingError):
        fake_stress(np.zeros((8, 8)))
