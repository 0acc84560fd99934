"""bbbcore.vessels.data: out-of-core patch sampling biased towards vessel (tUbe net)."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from bbbcore.vessels import data as D
from bbbcore.vessels import volumes

P = 16                                    # patch side used in most tests (4096 voxels)


def _phantom(shape=(48, 64, 64)):
    """Sparse hand-placed tubes: one along X, one along Y (radius 1.5 → 9 voxels per section),
    one along Z (radius 1 → 5 voxels per section), and a noisy image brighter in the tubes."""
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    lab = ((z - 12) ** 2 + (y - 20) ** 2 <= 2.25) | ((z - 36) ** 2 + (x - 44) ** 2 <= 2.25) \
        | ((y - 48) ** 2 + (x - 12) ** 2 <= 1.0)
    lab = np.broadcast_to(lab, shape).astype(np.uint8)
    img = (np.random.default_rng(0).normal(100.0, 10.0, shape) + 200.0 * lab).astype(np.float32)
    return img, lab


def _box_counts(lab, p):
    """Vessel voxels of every patch origin (independent reference: summed-area table)."""
    c = np.pad(lab.astype(np.int64), ((1, 0), (1, 0), (1, 0))).cumsum(0).cumsum(1).cumsum(2)
    return (c[p:, p:, p:] - c[:-p, p:, p:] - c[p:, :-p, p:] - c[p:, p:, :-p]
            + c[:-p, :-p, p:] + c[:-p, p:, :-p] + c[p:, :-p, :-p] - c[:-p, :-p, :-p])


def _sampler(pairs, **kw):
    kw.setdefault("patch", P)
    kw.setdefault("progress", False)
    return D.PatchSampler(pairs, **kw)


def _within(n, p, k, sigmas=4.0):
    """|k - n p| within `sigmas` binomial standard deviations."""
    return abs(k - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1


# ----------------------------------------------------------------------------------------------
# vessel bias


def test_biased_samples_hold_min_fraction_and_match_the_array():
    img, lab = _phantom()
    pair = D.VolumePair(img, lab)
    lo, hi = pair.intensity
    s = _sampler(pair, p_vessel=1.0, min_vessel_fraction=0.02, seed=3)
    need = int(np.ceil(0.02 * P ** 3))
    ref = _box_counts(lab, P)
    assert (ref >= need).mean() < 0.3                     # the phantom is sparse: bias is needed
    for _ in range(60):
        d = s.sample()
        z, y, x = d["origin"]
        sl = np.s_[z:z + P, y:y + P, x:x + P]
        assert d["label"].shape == (1, P, P, P) and d["label"].dtype == np.uint8
        assert d["image"].dtype == np.float32 and d["valid"] is None and not d["fallback"]
        np.testing.assert_array_equal(d["label"][0], lab[sl])
        np.testing.assert_allclose(d["image"][0], (img[sl] - lo) / (hi - lo), rtol=1e-6)
        assert d["vessel_fraction"] == ref[z, y, x] / P ** 3 >= 0.02
    st = s.stats
    assert st["draws"] == [60] and st["vessel_draws"] == [60] and st["fallbacks"] == [0]
    assert st["mean_tries"] >= 1.0 and st["mean_vessel_fraction"] >= 0.02


def test_default_fraction_is_the_papers_and_every_biased_patch_holds_vessel():
    img, lab = _phantom()
    s = _sampler(D.VolumePair(img, lab), p_vessel=1.0, seed=0)
    assert s.min_vessel_fraction == 0.001 and s.max_tries == 20 and s.p_vessel == 1.0
    fr = [s.sample()["vessel_fraction"] for _ in range(60)]
    assert min(fr) >= 0.001


def test_uniform_draws_match_uniform_sampling():
    img, lab = _phantom()
    s = _sampler(D.VolumePair(img, lab, normalize=None), p_vessel=0.0, min_vessel_fraction=0.01, seed=5)
    ref = _box_counts(lab, P)
    p_ref = float((ref >= np.ceil(0.01 * P ** 3)).mean())
    n = 500
    draws = [s.sample() for _ in range(n)]
    hits = sum(d["vessel_fraction"] >= 0.01 for d in draws)
    assert _within(n, p_ref, hits)
    origins = np.array([d["origin"] for d in draws])
    for ax, m in enumerate(np.array(lab.shape) - P):      # origins uniform on [0, n - P]
        sd = np.sqrt(((m + 1) ** 2 - 1) / 12 / n)
        assert abs(origins[:, ax].mean() - m / 2) < 4 * sd
        assert origins[:, ax].min() >= 0 and origins[:, ax].max() <= m
    assert s.stats["vessel_draws"] == [0] and np.isnan(s.stats["mean_tries"])
    assert not any(d["fallback"] for d in draws)


def test_p_vessel_mixes_biased_and_uniform_draws():
    img, lab = _phantom()
    s = _sampler(D.VolumePair(img, lab), p_vessel=0.7, seed=2)
    n = 400
    for _ in range(n):
        s.sample()
    assert _within(n, 0.7, s.stats["vessel_draws"][0])


def test_fallback_is_counted_and_warned_once_naming_the_dataset():
    lab = np.zeros((24, 24, 24), np.uint8)
    lab[10, 11, 12] = 1
    good_img, good_lab = _phantom((24, 32, 32))
    s = _sampler([D.VolumePair(lab * 1.0, lab, name="lonely"), D.VolumePair(good_img, good_lab, name="ok")],
                 patch=8, p_vessel=1.0, min_vessel_fraction=0.5, max_tries=3, weights=[1, 0], seed=0)
    with pytest.warns(RuntimeWarning, match=r"dataset 0 \('lonely'\).*best one seen"):
        d = s.sample()
    assert d["fallback"] and d["vessel_fraction"] == 1 / 512     # the best patch holds the voxel
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # no second warning
        ds = [s.sample() for _ in range(4)]
    assert all(d["fallback"] and d["vessel_fraction"] == 1 / 512 for d in ds)
    st = s.stats
    assert st["fallbacks"] == [5, 0] and st["vessel_draws"] == [5, 0] and st["mean_tries"] == 3.0
    s.reset_stats()
    assert s.stats["fallbacks"] == [0, 0] and s.stats["draws"] == [0, 0]


def test_dataset_without_vessel_falls_back_not_silently():
    img, lab = _phantom((24, 32, 32))
    empty = np.zeros((24, 32, 32), bool)
    s = _sampler([D.VolumePair(img, lab, name="a"), D.VolumePair(img, empty, name="empty")],
                 patch=8, p_vessel=1.0, weights=[0, 1])
    with pytest.warns(RuntimeWarning, match=r"dataset 1 \('empty'\)"):
        d = s.sample()
    assert d["fallback"] and d["vessel_fraction"] == 0.0 and d["dataset"] == 1
    assert s.stats["fallbacks"] == [0, 1]


# ----------------------------------------------------------------------------------------------
# several datasets


def test_every_dataset_is_sampled_in_proportion_to_its_size():
    img_a, lab_a = _phantom((32, 32, 32))
    img_b, lab_b = _phantom((64, 32, 32))
    pairs = [D.VolumePair(img_a, lab_a, name="a"), D.VolumePair(img_b, lab_b, name="b")]
    s = _sampler(pairs, patch=8, p_vessel=0.5, seed=4)
    np.testing.assert_allclose(s.probabilities, [1 / 3, 2 / 3])
    assert s.sampleable_voxels == [32 ** 3, 2 * 32 ** 3]
    n = 900
    ks = [s.sample()["dataset"] for _ in range(n)]
    assert s.stats["draws"] == [ks.count(0), ks.count(1)]
    assert _within(n, 1 / 3, ks.count(0))
    # explicit weights
    s = _sampler(pairs, patch=8, p_vessel=0.5, weights=[3, 1], seed=4)
    ks = [s.sample()["dataset"] for _ in range(n)]
    assert _within(n, 0.75, ks.count(0))
    s = _sampler(pairs, patch=8, weights=[0, 2])
    assert {s.sample()["dataset"] for _ in range(50)} == {1}


def test_default_weights_use_region_and_labelled_voxels():
    img, lab = _phantom((32, 32, 32))
    valid = np.zeros(lab.shape, bool)
    valid[:8] = True
    pairs = [D.VolumePair(img, lab, region=(slice(0, 16), None, None)), D.VolumePair(img, lab, valid=valid)]
    s = _sampler(pairs, patch=8)
    assert s.sampleable_voxels == [16 * 32 * 32, 8 * 32 * 32]
    np.testing.assert_allclose(s.probabilities, [2 / 3, 1 / 3])


# ----------------------------------------------------------------------------------------------
# files, memory, reproducibility


def _stream(s, n=25):
    return [s.sample() for _ in range(n)]


def _same(a, b):
    for da, db in zip(a, b, strict=True):
        assert da["origin"] == db["origin"] and da["dataset"] == db["dataset"]
        np.testing.assert_array_equal(da["label"], db["label"])
        np.testing.assert_array_equal(da["image"], db["image"])


def test_files_give_the_same_patches_as_arrays(tmp_path):
    import tifffile
    import zarr

    img, lab = _phantom()
    img = np.round(img).astype(np.uint16)
    ref = _stream(_sampler(D.VolumePair(img, lab), seed=7, p_vessel=0.8))
    np.save(tmp_path / "i.npy", img)
    np.save(tmp_path / "l.npy", lab)
    tifffile.imwrite(tmp_path / "i.tif", img)
    tifffile.imwrite(tmp_path / "l.tif", lab * 255)                     # ImageJ-style 0/255 mask
    tifffile.imwrite(tmp_path / "ic.tif", img, compression="zlib")       # decoded through Zarr
    for name, a in (("i", img), ("l", lab)):
        z = zarr.create_array(store=str(tmp_path / f"{name}.zarr"), shape=a.shape, chunks=(16, 16, 16),
                              dtype=a.dtype)
        z[:] = a
    for i, l in (("i.npy", "l.npy"), ("i.tif", "l.tif"), ("ic.tif", "l.zarr"), ("i.zarr", "l.zarr")):
        pair = D.VolumePair(tmp_path / i, str(tmp_path / l))
        assert pair.name == i
        _same(ref, _stream(_sampler(pair, seed=7, p_vessel=0.8)))
    # pickling (DataLoader workers started by spawn) reopens the files instead of copying them
    pair = D.VolumePair(tmp_path / "ic.tif", tmp_path / "l.zarr")
    state = pair.__getstate__()
    assert state["image"] is None and state["label"] is None
    _same(ref, _stream(_sampler(pickle.loads(pickle.dumps(pair)), seed=7, p_vessel=0.8)))


class _Recorder:
    """Array wrapper recording the number of voxels of every read."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim = a, a.shape, a.dtype, a.ndim
        self.reads: list[int] = []

    def __getitem__(self, key):
        out = np.asarray(self.a[key])
        self.reads.append(out.size)
        return out


def test_volumes_are_never_read_whole():
    img, lab = _phantom()
    valid = np.ones(lab.shape, bool)
    ri, rl, rv = _Recorder(img), _Recorder(lab), _Recorder(valid)
    pair = D.VolumePair(ri, rl, valid=rv, normalize=(100.0, 300.0))
    chunk = 4096
    s = _sampler(pair, p_vessel=0.5, chunk_voxels=chunk)
    for _ in range(30):
        s.sample()
    s.batch(4)
    n = img.size
    for r in (ri, rl, rv):
        assert r.reads and max(r.reads) <= max(chunk, P ** 3) < n
    assert len(ri.reads) == 34                       # the image: one patch per draw, nothing else
    assert sum(rl.reads) >= n                        # the occupancy scan saw every label voxel


def test_seed_reproduces_and_state_dict_resumes():
    img, lab = _phantom()
    pair = D.VolumePair(img, lab)
    a, b = _sampler(pair, seed=11), _sampler(pair, seed=11)
    _same(_stream(a, 10), _stream(b, 10))
    c = _sampler(pair, seed=12)
    assert [d["origin"] for d in _stream(c, 10)] != [d["origin"] for d in _stream(a, 10)]
    state = a.state_dict()
    first = _stream(a, 10)
    a.load_state_dict(pickle.loads(pickle.dumps(state)))
    _same(first, _stream(a, 10))
    fresh = _sampler(pair, seed=0)
    fresh.load_state_dict(state)                     # a new sampler resumes the same stream
    _same(first, _stream(fresh, 10))


def test_batch_tensors():
    img, lab = _phantom()
    s = _sampler(D.VolumePair(img, lab), seed=1)
    x, y, v = s.batch(3, device="cpu")
    assert x.shape == y.shape == (3, 1, P, P, P) and x.dtype == y.dtype == torch.float32
    assert v is None and set(torch.unique(y).tolist()) <= {0.0, 1.0}
    ref = _sampler(D.VolumePair(img, lab), seed=1)
    for i in range(3):
        d = ref.sample()
        np.testing.assert_array_equal(x[i].numpy(), d["image"])
        np.testing.assert_array_equal(y[i].numpy(), d["label"])
    # a dataset with a mask and one without: valid is returned, ones for the unmasked samples
    valid = np.zeros(lab.shape, bool)
    valid[:, :32] = True
    s = _sampler([D.VolumePair(img, lab), D.VolumePair(img, lab, valid=valid)], seed=1, p_vessel=0.5)
    x, y, v = s.batch(12)
    assert v is not None and v.dtype == torch.float32 and v.shape == x.shape
    assert torch.all(y <= v)                         # no vessel where the label is unknown


# ----------------------------------------------------------------------------------------------
# regions, masks, padding


def test_region_restricts_sampling():
    img, lab = _phantom()
    reg = (slice(8, 40), slice(0, 64), slice(16, 48))
    s = _sampler(D.VolumePair(img, lab, region=reg), p_vessel=0.5, seed=9)
    for _ in range(80):
        d = s.sample()
        z, y, x = d["origin"]
        assert all(r.start <= o and o + P <= r.stop for o, r in zip(d["origin"], reg))
        np.testing.assert_array_equal(d["label"][0], lab[z:z + P, y:y + P, x:x + P])
    # (start, stop) pairs are the same region
    assert D.VolumePair(img, lab, region=((8, 40), (0, 64), (16, 48))).region == reg


def test_split_region_and_pair_split_never_overlap():
    tr, va = D.split_region((48, 64, 64), 0.25)
    assert tr == (slice(0, 36), slice(0, 64), slice(0, 64))
    assert va == (slice(36, 48), slice(0, 64), slice(0, 64))
    tr, va = D.split_region((10, 20, 30), 0.5, axis=-1)
    assert tr[2] == slice(0, 15) and va[2] == slice(15, 30) and tr[:2] == va[:2]
    assert D.split_region((2, 5, 5), 0.01)[1][0] == slice(1, 2)       # at least one plane each
    assert D.split_region((2, 5, 5), 0.99)[0][0] == slice(0, 1)
    img, lab = _phantom()
    pair = D.VolumePair(img, lab, region=(slice(0, 48), slice(8, 64), None))
    train, val = pair.split(0.5, axis=1)
    assert train.region[1] == slice(8, 36) and val.region[1] == slice(36, 64)
    assert train.intensity == val.intensity == pair.intensity
    st, sv = _sampler(train, patch=8, seed=1), _sampler(val, patch=8, seed=1)
    ys_t = [st.sample()["origin"][1] for _ in range(40)]
    ys_v = [sv.sample()["origin"][1] for _ in range(40)]
    assert max(ys_t) + 8 <= 36 <= min(ys_v)


def test_valid_mask_hides_unknown_labels():
    img, lab = _phantom()
    valid = np.zeros(lab.shape, bool)
    valid[:24] = True                                  # only the top half is labelled
    s = _sampler(D.VolumePair(img, lab, valid=valid), p_vessel=0.5, seed=3)
    for _ in range(40):
        d = s.sample()
        z, y, x = d["origin"]
        v = valid[z:z + P, y:y + P, x:x + P]
        np.testing.assert_array_equal(d["valid"][0], v)
        np.testing.assert_array_equal(d["label"][0], lab[z:z + P, y:y + P, x:x + P] & v)
        assert v.any()                                 # every patch holds labelled voxels
        assert d["vessel_fraction"] == (d["label"].sum() / P ** 3)


def test_small_volumes_are_padded():
    rng = np.random.default_rng(1)
    img = rng.random((5, 20, 1)).astype(np.float32)
    lab = np.zeros(img.shape, np.uint8)
    lab[2, 5:15, 0] = 1
    s = _sampler(D.VolumePair(img, lab, normalize=(0.0, 1.0)), patch=(8, 8, 4), p_vessel=0.5, seed=0)
    for _ in range(20):
        d = s.sample()
        z, y, x = d["origin"]
        assert z == -1 and x == -1 and 0 <= y <= 12      # pads: z (1, 2), x (1, 2), centred
        pads = ((1, 2), (0, 0), (1, 2))
        np.testing.assert_array_equal(d["image"][0], np.pad(img[:, y:y + 8], pads, mode="reflect"))
        np.testing.assert_array_equal(d["label"][0], np.pad(lab[:, y:y + 8], pads))
        np.testing.assert_array_equal(d["valid"][0], np.pad(np.ones((5, 8, 1), np.uint8), pads))
        assert d["image"].shape == d["label"].shape == d["valid"].shape == (1, 8, 8, 4)


# ----------------------------------------------------------------------------------------------
# DataLoader workers


def test_patch_dataset_workers_draw_different_streams(monkeypatch):
    img, lab = _phantom()
    s = _sampler(D.VolumePair(img, lab), seed=5)
    ds = D.PatchDataset(s, 7)
    items = list(ds)                                     # main process: the sampler's own stream
    assert len(items) == 7 and len(ds) == 7
    x, y, v = items[0]
    assert x.shape == y.shape == v.shape == (1, P, P, P) and torch.all(v == 1)

    class Info:
        def __init__(self, wid, seed):
            self.id, self.num_workers, self.seed = wid, 2, seed

    out = {}
    for wid in (0, 1):
        import copy

        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda wid=wid: Info(wid, 1000 + wid))
        ds_w = D.PatchDataset(copy.deepcopy(s), 7)
        out[wid] = list(ds_w)
        again = list(D.PatchDataset(copy.deepcopy(s), 7))  # reproducible for the same worker seed
        assert all(torch.equal(a[0], b[0]) for a, b in zip(out[wid], again, strict=True))
        nxt = list(ds_w)                                   # a persistent worker's next pass continues
        assert not torch.equal(nxt[0][0], out[wid][0][0])
    assert len(out[0]) == 4 and len(out[1]) == 3
    assert not torch.equal(out[0][0][0], out[1][0][0])


def test_dataloader_with_two_workers():
    img, lab = _phantom((24, 32, 32))
    ds = D.PatchDataset(_sampler(D.VolumePair(img, lab), patch=8, seed=0), 8)
    g = torch.Generator().manual_seed(0)
    batches = list(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, generator=g))
    x = torch.cat([b[0] for b in batches])
    assert x.shape == (8, 1, 8, 8, 8)
    assert len({tuple(xi.flatten()[:20].tolist()) for xi in x}) == 8    # no duplicate patch


# ----------------------------------------------------------------------------------------------
# input checks


def test_label_values():
    img, _ = _phantom((16, 16, 16))
    lab = np.zeros(img.shape, np.uint8)
    lab[4:6, 4:6, :] = 1
    D.VolumePair(img, lab.astype(np.float32))          # float 0/1 is fine
    D.VolumePair(img, lab.astype(bool))
    D.VolumePair(img, lab * 255)                        # 0/255 (ImageJ)
    with pytest.raises(ValueError, match=r"VolumePair: label must be binary \(0 and one positive value.*"
                                         r"got non-zero values \[1, 2\]"):
        D.VolumePair(img, lab + lab * (np.arange(16) % 2))
    with pytest.raises(ValueError, match=r"VolumePair: label must be binary \(a float label may hold only "
                                         r"0 and 1\), got values such as"):
        D.VolumePair(img, img / img.max())               # an image passed as label
    with pytest.raises(ValueError, match="float label may hold only 0 and 1"):
        D.VolumePair(img, lab * 0.5)
    with pytest.raises(ValueError, match="label must be binary"):
        D.VolumePair(img, -lab.astype(np.int8))
    # a stray value missed by the cheap check is caught by the occupancy scan
    img, lab = _phantom((64, 64, 64))
    lab[20, 20, 20] = 3                                 # outside the 27 checked blocks
    pair = D.VolumePair(img, lab)
    with pytest.raises(ValueError, match=r"label must be binary.*\[1, 3\] in the block"):
        _sampler(pair)


def test_bad_input(tmp_path):
    img, lab = _phantom((16, 16, 16))
    with pytest.raises(ValueError, match=r"VolumePair: label must be the image's shape \(16, 16, 16\), "
                                         r"got shape \(16, 16, 15\)"):
        D.VolumePair(img, lab[..., :15])
    with pytest.raises(ValueError, match=r"valid must be the image's shape"):
        D.VolumePair(img, lab, valid=np.ones((16, 16, 8), bool))
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        D.VolumePair(tmp_path / "nope.npy", lab)
    with pytest.raises(FileNotFoundError, match="lab.tif"):
        D.VolumePair(img, tmp_path / "lab.tif")
    with pytest.raises(ValueError, match="open_volume: image must be a 3D volume"):
        D.VolumePair(img[0], lab[0])
    with pytest.raises(ValueError, match=r"region must be a non-empty box inside the volume"):
        D.VolumePair(img, lab, region=(slice(0, 20), None, None))
    with pytest.raises(ValueError, match=r"region must be a non-empty box"):
        D.VolumePair(img, lab, region=((4, 4), None, None))
    with pytest.raises(ValueError, match=r"region must be slices with step 1"):
        D.VolumePair(img, lab, region=(slice(0, 8, 2), None, None))
    with pytest.raises(ValueError, match=r"region must be 3 slices"):
        D.VolumePair(img, lab, region=(slice(0, 8),))
    with pytest.raises(ValueError, match=r"normalize must be one of 'percentile'"):
        D.VolumePair(img, lab, normalize="zscore")
    with pytest.raises(ValueError, match=r"normalize must be 'percentile', None or \(lo, hi\)"):
        D.VolumePair(img, lab, normalize=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"spacing_um must be three finite numbers > 0"):
        D.VolumePair(img, lab, spacing_um=(1.0, -1.0, 1.0))
    pair = D.VolumePair(img, lab, spacing_um=(2, 1, 1))
    assert pair.spacing_um == (2.0, 1.0, 1.0)
    bad = [({"pairs": []}, "pairs must be a VolumePair or a non-empty sequence"),
           ({"pairs": [img]}, r"pairs must be a VolumePair.*, got \[ndarray\]"),
           ({"pairs": "x.npy"}, r"pairs must be a VolumePair.*, got str"),
           ({"patch": (0, 8, 8)}, r"patch must be three integers >= 1"),
           ({"patch": (8, 8)}, r"patch must be three integers >= 1"),
           ({"min_vessel_fraction": 0.0}, r"min_vessel_fraction must be a number in \(0, 1\]"),
           ({"min_vessel_fraction": 1.5}, r"min_vessel_fraction must be a number in \(0, 1\]"),
           ({"p_vessel": 1.2}, r"p_vessel must be a probability in \[0, 1\], got 1.2"),
           ({"max_tries": 0}, "max_tries must be an integer >= 1"),
           ({"weights": [1, 2]}, "weights must be 1 finite numbers >= 0, not all 0"),
           ({"weights": [0]}, "weights must be 1 finite numbers"),
           ({"weights": [-1]}, "weights must be 1 finite numbers"),
           ({"seed": -1}, "seed must be an integer"),
           ({"chunk_voxels": 0}, "chunk_voxels must be an integer >= 1")]
    for kw, msg in bad:
        kw = {"pairs": pair, **kw}
        with pytest.raises(ValueError, match="PatchSampler: " + msg):
            _sampler(kw.pop("pairs"), patch=kw.pop("patch", 8), **kw)
    with pytest.raises(ValueError, match=r"PatchSampler: pairs must be datasets whose region holds labelled "
                                         r"voxels, got no voxel of dataset 'array'"):
        _sampler(D.VolumePair(img, lab, valid=np.zeros(img.shape, bool)), patch=8)
    s = _sampler(pair, patch=8)
    with pytest.raises(ValueError, match="PatchSampler.batch: n must be an integer >= 1"):
        s.batch(0)
    with pytest.raises(ValueError, match="PatchSampler.load_state_dict: state must be a dict from"):
        s.load_state_dict({"seed": 1})
    with pytest.raises(ValueError, match="PatchDataset: sampler must be a PatchSampler"):
        D.PatchDataset(pair, 4)
    with pytest.raises(ValueError, match=r"split_region: fraction must be a number in \(0, 1\)"):
        D.split_region((10, 10, 10), 1.0)
    with pytest.raises(ValueError, match="split_region: shape must be at least 2 voxels along axis 0"):
        D.split_region((1, 10, 10))
    with pytest.raises(ValueError, match=r"split_region: axis must be an integer in \[-3, 2\]"):
        D.split_region((10, 10, 10), axis=3)


def test_percentile_normalisation_is_the_volumes_one():
    img, lab = _phantom()
    pair = D.VolumePair(img, lab)
    assert pair.intensity == volumes.intensity_range(img)
    d = _sampler(pair, seed=0).sample()
    assert 0.0 <= np.median(d["image"]) <= 1.0
