"""Tests of latentlab.vessels: generator, mask validation and post-processing."""

import numpy as np
import pytest
from scipy import ndimage

from latentlab.exceptions import ConfigError, LabelingError
from latentlab.vessels import (
    N_SLICES,
    N_TEST,
    VesselParams,
    generate_vessels,
    lumen_mask,
    postprocess_mask,
    postprocess_masks,
    validate_mask,
)


def ring(a=8.0, b=14.0, size=32, centre=None):
    c = size / 2 if centre is None else centre
    y, x = np.mgrid[0:size, 0:size] + 0.5
    r = np.hypot(x - c, y - c)
    return ((r >= a) & (r < b)).astype(np.uint8)


def test_paper_constants():
    assert (N_SLICES, N_TEST) == (1200, 210)


def test_same_seed_same_masks_and_generator_accepted():
    a = generate_vessels(5, seed=3)
    b = generate_vessels(5, seed=3)
    c = generate_vessels(5, seed=np.random.default_rng(3))
    assert a.dtype == np.uint8 and a.shape == (5, 64, 64)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, generate_vessels(5, seed=4))


def test_two_hundred_masks_are_valid_and_varied():
    masks, prm = generate_vessels(200, seed=0, return_params=True)
    assert set(np.unique(masks)) == {0, 1}
    for m in masks:
        validate_mask(m)
    area = masks.sum(axis=(1, 2))
    np.testing.assert_array_equal(area, prm["wall_area"])
    assert area.std() > 0.2 * area.mean()  # varied wall areas
    assert 0.55 < np.mean(prm["plaque_thickness"] > 0) < 0.85  # ~70 % with plaque
    # eccentricity: thickest/thinnest side of the wall differs a lot in some masks
    assert np.sum(prm["plaque_thickness"] > prm["wall_thickness"]) > 40
    # margin: no wall pixel within 2 px of the image edge
    assert masks[:, :2].sum() == masks[:, -2:].sum() == 0
    assert masks[:, :, :2].sum() == masks[:, :, -2:].sum() == 0
    assert len(np.unique(masks.reshape(200, -1), axis=0)) == 200


def test_other_sizes_and_bad_arguments():
    m = generate_vessels(3, seed=1, size=32)
    assert m.shape == (3, 32, 32)
    for x in m:
        validate_mask(x)
    with pytest.raises(ConfigError, match="n must be"):
        generate_vessels(-1, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        generate_vessels(2, seed="abc")
    with pytest.raises(ConfigError, match="size"):
        generate_vessels(2, seed=0, size=8)
    with pytest.raises(ConfigError, match="wall_thickness"):
        generate_vessels(2, seed=0, params=VesselParams(wall_thickness=(5.0, 1.0)))


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32, np.float64])
def test_validate_accepts_binary_dtypes(dtype):
    validate_mask(ring().astype(dtype))


def _two_rings():
    m = ring(3, 6, size=40, centre=10) | ring(3, 6, size=40, centre=28)
    return m


def _two_lumens():
    m = ring(8, 14, size=32).copy()
    m[4:28, 15:17] = 1  # a wall bar splitting the lumen in two
    return m


def _touching():
    m = ring(8, 14, size=32).copy()
    m[0, 10:20] = 1
    m[1, 10:20] = 1
    return m


@pytest.mark.parametrize(
    "mask, reason",
    [
        (np.zeros((4, 32, 32)), "2-D"),
        (np.zeros((3, 3)), "at least 5 x 5"),
        (ring().astype(complex), "dtype"),
        (np.where(ring() == 1, np.nan, 0.0), "NaN"),
        (ring() * 0.7, "threshold it first"),
        (ring() * 2, "threshold it first"),
        (np.zeros((32, 32)), "empty"),
        (_touching(), "border"),
        (_two_rings(), "2 wall components"),
        (ring(0, 10), "no enclosed lumen"),
        (_two_lumens(), "more than one lumen"),
    ],
)
def test_validate_rejects_with_reason(mask, reason):
    with pytest.raises(LabelingError, match=reason):
        validate_mask(mask)


def test_lumen_leaking_through_a_diagonal_gap_is_not_enclosed():
    m = np.zeros((12, 12), np.uint8)
    m[2:10, 2:10] = 1
    m[4:8, 4:8] = 0  # lumen
    m[8, 8] = m[9, 9] = 0  # corner-to-corner channel: lumen (7,7) -> (10,10) outside
    assert ndimage.label(m)[1] == 1  # the wall is still one 4-connected piece
    with pytest.raises(LabelingError, match="no enclosed lumen"):
        validate_mask(m)


def test_lumen_mask():
    m = ring()
    lum = lumen_mask(m)
    assert lum.sum() > 150 and not (lum & (m == 1)).any()


def test_postprocess_recovers_noisy_blurred_mask():
    rng = np.random.default_rng(0)
    for m in generate_vessels(10, seed=2):
        img = ndimage.gaussian_filter(m.astype(float), 0.8)
        img = np.clip(img + 0.15 * rng.standard_normal(m.shape), 0, 1)
        img[3, 3] = 1.0  # an isolated speck outside the vessel
        out = postprocess_mask(img)
        assert out is not None and out.dtype == np.uint8
        validate_mask(out)
        iou = (out & m).sum() / (out | m).sum()
        assert iou > 0.85


def test_postprocess_fills_small_wall_holes_and_clears_border():
    m = ring(8, 16, size=40).astype(float)
    m[20, 5] = 0.0  # a one-pixel hole in the wall
    m[0, :] = 1.0  # a stripe on the image border
    out = postprocess_mask(m)
    assert out is not None and out[20, 5] == 1 and out[0].sum() == 0
    validate_mask(out)


def test_postprocess_rejects_garbage():
    rng = np.random.default_rng(1)
    assert postprocess_mask(rng.random((64, 64))) is None
    assert postprocess_mask(np.zeros((64, 64))) is None
    assert postprocess_mask(ring(0, 10).astype(float)) is None  # a disk: no lumen
    masks, ok = postprocess_masks(np.stack([ring(8, 14, 32).astype(float), rng.random((32, 32))])[:, None])
    np.testing.assert_array_equal(ok, [True, False])
    assert masks[1].sum() == 0 and masks.shape == (2, 32, 32)
    with pytest.raises(LabelingError, match="NaN"):
        postprocess_mask(np.full((8, 8), np.nan))


# --------------------------------------------------------------------- the first load: shipped and lazy labels
def _counting_solver(monkeypatch):
    """Replace the built-in solver by a fast fake that counts its calls (the labeler's key is unchanged,
    so the caller must give the test its own empty cache)."""
    from latentlab.vessels import fem

    calls = []

    def fake(mask, **kw):
        calls.append(1)
        return np.asarray(mask, np.float64) * 50.0

    monkeypatch.setattr(fem, "stress_map", fake)
    return calls


def test_a_load_solves_the_test_set_only_never_the_pool(tmp_path, monkeypatch):
    """Pool labels are the external tool's answers, asked for as a strategy picks items: a load solves
    only the test masks, and each label is cached as it arrives (a second load solves nothing)."""
    from latentlab.vessels import load_vessels

    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path))
    calls = _counting_solver(monkeypatch)
    ds = load_vessels(n=30, n_test=4, workers=1, progress=False)
    assert ds.y_train is None and len(ds.x_train) == 26
    assert len(calls) == 4 and ds.y_test.shape == (4, 1, 64, 64)
    np.testing.assert_allclose(ds.y_test, ds.x_test * 50.0 / 200.0)
    assert len(list(tmp_path.glob("labels/fem-*/*.npy"))) == 4
    load_vessels(n=30, n_test=4, workers=1, progress=False)
    assert len(calls) == 4


def test_the_default_test_set_loads_from_the_shipped_labels_unless_turned_off(tmp_path, monkeypatch):
    from latentlab.vessels import load_vessels
    from latentlab.vessels.shipped import ENV

    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "a"))
    calls = _counting_solver(monkeypatch)
    ds = load_vessels(workers=1, progress=False)
    assert len(calls) == 0 and len(ds.y_test) == N_TEST  # an empty cache, nothing solved
    assert not np.allclose(ds.y_test, ds.x_test * 50.0 / 200.0)  # the shipped maps, not the fake's
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "b"))
    monkeypatch.setenv(ENV, "0")
    ds = load_vessels(workers=1, progress=False)
    assert len(calls) == N_TEST
    np.testing.assert_allclose(ds.y_test, ds.x_test * 50.0 / 200.0)


def test_shipped_labels_are_the_default_test_set_and_what_the_solver_gives():
    """The bundle is named by the default labeler's label folder (settings + SOLVER_VERSION), holds
    the default test set's masks in order, matches its SHA-256, and re-solving some of its masks
    gives its labels (a solver change without a SOLVER_VERSION bump fails here)."""
    import json

    from latentlab.storage import content_key, sha256_file
    from latentlab.vessels import FEMLabeler
    from latentlab.vessels.dataset import vessel_masks
    from latentlab.vessels.shipped import shipped_labels, shipped_labels_dir

    lab = FEMLabeler(cache_dir=None, shipped=False)
    npz = shipped_labels_dir() / f"{lab.label_folder}.npz"
    meta = json.loads(npz.with_suffix(".json").read_text())
    assert meta["label_folder"] == lab.label_folder and sha256_file(npz) == meta["sha256"]
    x = vessel_masks(N_SLICES, 0)[N_SLICES - N_TEST :]
    with np.load(npz, allow_pickle=False) as z:
        assert list(z["keys"]) == [content_key(xi) for xi in x]
    have = shipped_labels(lab.label_folder)
    pick = [0, N_TEST // 2, N_TEST - 1]
    res = lab.label(x[pick])
    assert res.ok.all() and lab.n_calls == 3
    ref = np.stack([have[content_key(x[i])] for i in pick])
    np.testing.assert_allclose(res.y, ref, rtol=0, atol=1e-5)  # labels are stress / 200 kPa: 2 Pa


def test_tampered_or_misnamed_shipped_labels_are_refused(tmp_path):
    import json
    import shutil

    from latentlab.vessels import FEMLabeler
    from latentlab.vessels.shipped import ShippedLabelCache, shipped_labels_dir

    name = FEMLabeler(cache_dir=None).label_folder
    with np.load(shipped_labels_dir() / f"{name}.npz", allow_pickle=False) as z:
        key = str(z["keys"][0])
    good = tmp_path / "good"
    good.mkdir()
    for ext in (".npz", ".json"):
        shutil.copyfile(shipped_labels_dir() / f"{name}{ext}", good / f"{name}{ext}")
    assert ShippedLabelCache(tmp_path / "c0", name, shipped_dir=good).load(key) is not None
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    data = bytearray((bad / f"{name}.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / f"{name}.npz").write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="shipped FEM labels .* not used .*corrupt"):
        assert ShippedLabelCache(tmp_path / "c1", name, shipped_dir=bad).load(key) is None
    other = tmp_path / "other"
    shutil.copytree(good, other)
    side = json.loads((other / f"{name}.json").read_text())
    (other / f"{name}.json").write_text(json.dumps({**side, "label_folder": "fem-000000000000"}))
    with pytest.warns(UserWarning, match="its sidecar names the label folder"):
        assert ShippedLabelCache(tmp_path / "c2", name, shipped_dir=other).load(key) is None
