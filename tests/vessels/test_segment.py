"""segment: MONAI-identical blended sliding windows, out of core, Zarr output, flip TTA."""
from __future__ import annotations

import math
import tempfile

import numpy as np
import pytest
import torch
import zarr
from bbbcore.vessels import inference, volumes
from bbbcore.vessels.inference import FLIPS, segment

monai_inferers = pytest.importorskip("monai.inferers")

SHAPE = (40, 52, 47)
PATCH = (16, 16, 16)


def _net(seed: int = 0, out_channels: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Conv3d(1, out_channels, 3, padding=1)


def _volume(shape=SHAPE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (100 + 50 * rng.random(shape)).astype(np.float32)   # raw intensities, not in [0, 1]


def _monai(net, vol_norm, patch, overlap, mode="gaussian", channel=None, weight_map=None):
    """MONAI's blend of the vessel probability (predictor = sigmoid or softmax ∘ net)."""
    def predictor(x):
        y = net(x)
        return torch.sigmoid(y) if channel is None else torch.softmax(y, 1)[:, channel:channel + 1]

    with torch.no_grad():
        y = monai_inferers.sliding_window_inference(
            torch.from_numpy(np.ascontiguousarray(vol_norm))[None, None], roi_size=patch, sw_batch_size=3,
            predictor=predictor, overlap=overlap, mode=mode, sigma_scale=0.125, padding_mode="constant",
            cval=0.0, roi_weight_map=weight_map)
    return y[0, 0].numpy()


class _Recording:
    """Array-like that records the number of voxels of every read."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim, self.reads = a, a.shape, a.dtype, a.ndim, []

    def __getitem__(self, key):
        r = self.a[key]
        self.reads.append(r.size)
        return r


@pytest.mark.parametrize("shape, patch, overlap, block, batch_size", [
    (SHAPE, PATCH, 0.25, (24, 24, 24), 4),
    (SHAPE, (15, 17, 13), 0.5, (20, 28, 16), 3),
    ((30, 33, 28), (15, 17, 13), 0.5, (8, 10, 12), 4),   # blocks smaller than the patch and a stride
])
def test_matches_monai_in_memory(shape, patch, overlap, block, batch_size):
    net, vol = _net(), _volume(shape)
    lo, hi = 100.0, 150.0
    prob = segment(net, vol, patch=patch, overlap=overlap, block=block, batch_size=batch_size,
                   normalize=(lo, hi), progress=False)
    assert prob.shape == shape and prob.dtype == np.float32
    ref = _monai(net, volumes.normalize(vol, lo, hi), patch, overlap)
    np.testing.assert_allclose(prob, ref, rtol=0, atol=1e-5)
    assert prob.std() > 1e-3                                   # not a trivial constant output


def test_matches_monai_from_zarr_path_percentile_two_channel(tmp_path):
    net, vol = _net(1, out_channels=2), _volume(seed=1)
    path = tmp_path / "vol.zarr"
    z = zarr.create_array(store=str(path), shape=vol.shape, chunks=(16, 16, 16), dtype="float32")
    z[:] = vol
    prob = segment(net, str(path), block=(24, 24, 24), patch=PATCH, progress=False)
    lo, hi = volumes.intensity_range(vol)
    ref = _monai(net, volumes.normalize(vol, lo, hi), PATCH, 0.25, channel=1)
    np.testing.assert_allclose(prob, ref, rtol=0, atol=1e-5)


def test_hamming_blend_equals_monai_with_hand_weight_map():
    net, vol = _net(2), _volume((30, 33, 28), seed=2)
    patch = (16, 12, 14)
    w = np.einsum("i,j,k->ijk", *(np.hamming(p) for p in patch))
    w = np.maximum(w, max(w.min(), 1e-3)).astype(np.float32)  # MONAI's clamp of small weights
    prob = segment(net, vol, patch=patch, block=(20, 20, 20), blend="hamming", normalize=None,
                   progress=False)
    ref = _monai(net, vol, patch, 0.25, weight_map=torch.from_numpy(w))
    np.testing.assert_allclose(prob, ref, rtol=0, atol=1e-5)
    gauss = segment(net, vol, patch=patch, block=(20, 20, 20), normalize=None, progress=False)
    assert np.abs(prob - gauss).max() > 1e-4                  # the option does change the blend


def test_volume_smaller_than_patch_padded_like_monai():
    net, vol = _net(3), _volume((10, 30, 13), seed=3)
    prob = segment(net, torch.from_numpy(vol), patch=PATCH, block=(8, 12, 8), normalize=(100, 150),
                   progress=False)
    assert prob.shape == (10, 30, 13)
    ref = _monai(net, volumes.normalize(vol, 100, 150), PATCH, 0.25)
    np.testing.assert_allclose(prob, ref, rtol=0, atol=1e-5)


def test_reads_only_block_regions_and_removes_spill(tmp_path, monkeypatch):
    spill_root = tmp_path / "tmp"
    spill_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_root))
    net, vol = _net(4), _volume(seed=4)
    seen = []

    class Spy(torch.nn.Module):                 # counts spill files present while the model runs
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            seen.append(len(list(spill_root.rglob("*.npy"))))
            return self.net(x)

    block = (24, 24, 24)
    rec = _Recording(vol)
    prob = segment(Spy(), rec, patch=PATCH, block=block, normalize=(100, 150), progress=False)
    bound = math.prod(b + p for b, p in zip(block, PATCH))
    assert max(rec.reads) <= bound < vol.size
    assert sum(rec.reads) >= vol.size                         # every voxel was read
    assert max(seen) > 0                                      # overhang went through the disk store
    assert list(spill_root.iterdir()) == []                   # and the store is gone
    ref = segment(net, vol, patch=PATCH, normalize=(100, 150), progress=False)   # one block
    np.testing.assert_allclose(prob, ref, rtol=0, atol=1e-6)


def test_zarr_output_attrs_refusal_and_overwrite(tmp_path):
    net, vol = _net(5), _volume(seed=5)
    net.config = {"name": "tiny", "channels": 4}
    out = tmp_path / "seg.zarr"
    kw = {"patch": PATCH, "block": (24, 24, 24), "normalize": (100, 150), "progress": False}
    g = segment(net, vol, out, tta=2, dtype="float16", **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.zarr"]    # no .partial, no spill
    assert sorted(g.array_keys()) == ["prob", "uncertainty"]
    assert g["prob"].dtype == np.float16 and g["prob"].shape == SHAPE
    assert g["prob"].chunks == (24, 24, 24)
    a = dict(g.attrs)
    assert a["complete"] is True and a["patch"] == [16, 16, 16] and a["overlap"] == 0.25
    assert a["blend"] == "gaussian" and a["threshold"] is None and a["tta"] == 2
    assert a["normalization"] == {"mode": "range", "range": [100.0, 150.0]}
    assert a["model_config"] == {"name": "tiny", "channels": 4} and a["source_shape"] == list(SHAPE)
    prob, unc = segment(net, vol, tta=2, **kw)
    np.testing.assert_allclose(g["prob"][:], prob, rtol=0, atol=1e-3)    # float16 rounding
    np.testing.assert_allclose(g["uncertainty"][:], unc, rtol=0, atol=1e-3)

    with pytest.raises(FileExistsError, match="seg.zarr' exists .*overwrite=True"):
        segment(net, vol, out, **kw)
    g = segment(net, vol, out, threshold=0.5, overwrite=True, **kw)
    assert list(g.array_keys()) == ["mask"] and g.attrs["threshold"] == 0.5
    np.testing.assert_array_equal(g["mask"][:], (segment(net, vol, **kw) > 0.5).astype(np.uint8))

    stale = tmp_path / "other.zarr.partial"
    stale.mkdir()
    with pytest.raises(FileExistsError, match=r"other.zarr.partial' exists .*interrupted"):
        segment(net, vol, tmp_path / "other.zarr", **kw)
    segment(net, vol, tmp_path / "other.zarr", overwrite=True, **kw)
    assert not stale.exists() and (tmp_path / "other.zarr").exists()


def test_exception_mid_run_leaves_no_output(tmp_path):
    net, vol = _net(6), _volume(seed=6)

    class Boom(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.calls = net, 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 5:
                raise RuntimeError("boom")
            return self.net(x)

    out = tmp_path / "seg.zarr"
    boom = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        segment(boom, vol, out, patch=PATCH, block=(24, 24, 24), normalize=None, progress=False)
    assert boom.calls == 6 and boom.training                  # the training flag is restored
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "seg.zarr.partial"] == []


def test_threaded_pipeline_same_result_and_errors_propagate(tmp_path, monkeypatch):
    """The CUDA path's reader/writer threads, exercised on the CPU."""
    net, vol = _net(12), _volume(seed=12)
    kw = {"patch": PATCH, "block": (24, 24, 24), "normalize": (100, 150), "progress": False}
    plain, plain_unc = segment(net, vol, tta=2, **kw)
    run_blocks = inference._run_blocks
    monkeypatch.setattr(inference, "_run_blocks", lambda *a, **k: run_blocks(*a, **{**k, "pipelined": True}))
    g = segment(net, vol, tmp_path / "seg.zarr", tta=2, **kw)
    np.testing.assert_array_equal(g["prob"][:], plain)
    np.testing.assert_array_equal(g["uncertainty"][:], plain_unc)

    class Failing(_Recording):
        def __getitem__(self, key):
            if len(self.reads) == 3:
                raise OSError("disk gone")
            return super().__getitem__(key)

    with pytest.raises(OSError, match="disk gone"):
        segment(net, Failing(vol), tmp_path / "bad.zarr", **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.zarr"]


def _symmetric_net() -> torch.nn.Module:
    net = torch.nn.Conv3d(1, 1, 3, padding=1)
    d = torch.tensor([1.0, 0.0, 1.0])
    r = d[:, None, None] + 2 * d[None, :, None] + 3 * d[None, None, :]   # even in each axis
    with torch.no_grad():
        net.weight.copy_((0.3 * r - 0.5)[None, None])
        net.bias.fill_(0.1)
    return net


def test_tta_uncertainty_zero_for_flip_equivariant_positive_otherwise():
    vol = _volume((30, 36, 33), seed=7)
    kw = {"patch": PATCH, "block": (24, 24, 24), "normalize": (100, 150), "progress": False}
    prob, unc = segment(_symmetric_net(), vol, tta=True, **kw)
    assert unc.shape == vol.shape and unc.max() < 1e-5
    np.testing.assert_allclose(prob, segment(_symmetric_net(), vol, **kw), rtol=0, atol=1e-5)
    _, unc = segment(_net(7), vol, tta=True, **kw)
    assert unc.min() >= 0 and np.median(unc) > 1e-3


def test_tta_mean_and_std_by_hand():
    net, vol = _net(8), _volume((16, 16, 16), seed=8)          # one window: unc = std over flips
    kw = {"patch": PATCH, "normalize": (100, 150), "progress": False}
    per_flip = []
    for axes in FLIPS[:5]:
        dims = [a + 2 for a in axes]
        flipped = _Flipped(net, dims)
        per_flip.append(segment(flipped, vol, **kw))
    per_flip = np.stack(per_flip)
    prob, unc = segment(net, vol, tta=5, **kw)
    np.testing.assert_allclose(prob, per_flip.mean(0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(unc, per_flip.std(0), rtol=0, atol=1e-5)
    # several overlapping windows: the mean over flips of the blended flip predictions
    vol = _volume((28, 30, 26), seed=9)
    blended = np.mean([segment(_Flipped(net, [a + 2 for a in axes]), vol, block=12, **kw)
                       for axes in FLIPS[:3]], axis=0)
    prob, _ = segment(net, vol, tta=3, block=12, **kw)
    np.testing.assert_allclose(prob, blended, rtol=0, atol=1e-6)


class _Flipped(torch.nn.Module):
    def __init__(self, net, dims):
        super().__init__()
        self.net, self.dims = net, dims

    def forward(self, x):
        if not self.dims:
            return self.net(x)
        return torch.flip(self.net(torch.flip(x, self.dims)), self.dims)


def test_threshold_mask_equals_prob_above_threshold():
    net, vol = _net(10), _volume((24, 30, 28), seed=10)
    kw = {"patch": PATCH, "block": (16, 16, 16), "normalize": (100, 150), "progress": False}
    prob = segment(net, vol, **kw)
    t = float(np.median(prob))
    mask = segment(net, vol, threshold=t, **kw)
    assert mask.dtype == np.uint8 and 0 < mask.mean() < 1
    np.testing.assert_array_equal(mask, (prob > t).astype(np.uint8))


@pytest.mark.parametrize("kwargs, match", [
    ({"patch": (16, 16)}, r"segment: patch must be 3 positive ints"),
    ({"patch": (16, 0, 16)}, r"segment: patch must be 3 positive ints"),
    ({"overlap": 1.0}, r"segment: overlap must be a number with 0 <= overlap < 1, got 1.0"),
    ({"overlap": -0.1}, r"segment: overlap must be a number with 0 <= overlap < 1"),
    ({"batch_size": 0}, r"segment: batch_size must be an integer >= 1, got 0"),
    ({"threshold": 1.0}, r"segment: threshold must be None or a number in \(0, 1\), got 1.0"),
    ({"blend": "cosine"}, r"segment: blend must be one of 'gaussian', 'hamming', 'constant'"),
    ({"dtype": "float64"}, r"segment: dtype must be one of 'float32', 'float16', got 'float64'"),
    ({"tta": 9}, r"segment: tta must be a bool or an int in 0..8"),
    ({"block": (8, 8)}, r"segment: block must be 3 positive ints"),
    ({"normalize": "minmax"}, r"segment: normalize must be one of 'percentile'"),
    ({"normalize": (1.0, 1.0)}, r"segment: normalize must be 'percentile', None or a finite range"),
    ({"device": "tpu"}, r"segment: device must be"),
    ({"amp": "yes"}, r"segment: amp must be None, True or False"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        segment(_net(), _volume((20, 20, 20)), progress=False, **{"patch": PATCH, **kwargs})


def test_bad_model_and_source(tmp_path):
    vol = _volume((20, 20, 20))
    with pytest.raises(ValueError, match=r"segment: the model output must be logits of shape "
                                         r"\(B, K, pz, py, px\) = \(4, 1 or 2, 16, 16, 16\), got \(4, 3, "):
        segment(torch.nn.Conv3d(1, 3, 3, padding=1), vol, patch=PATCH, progress=False)
    with pytest.raises(ValueError, match=r"got \(4, 1, 14, 14, 14\)"):
        segment(torch.nn.Conv3d(1, 1, 3), vol, patch=PATCH, progress=False)
    with pytest.raises(ValueError, match="segment: model must be a torch.nn.Module, .foundation. or a model file, got function"):
        segment(lambda x: x, vol, patch=PATCH, progress=False)
    with pytest.raises(ValueError, match="open_volume: source must be a 3D volume"):
        segment(_net(), vol[0], patch=PATCH, progress=False)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        segment(_net(), tmp_path / "missing.npy", patch=PATCH, progress=False)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    net, vol = _net(11), _volume(seed=11)
    kw = {"patch": PATCH, "block": (24, 24, 24), "normalize": (100, 150), "progress": False}
    cpu = segment(net, vol, **kw)
    gpu = segment(net, vol, device="cuda", amp=False, **kw)
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=1e-5)
    bf16, _unc = segment(net, vol, device="cuda", tta=True, **kw)       # bfloat16 autocast by default
    np.testing.assert_allclose(bf16, cpu, rtol=0, atol=2e-2)
