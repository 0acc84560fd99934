"""bbbcore.augment transforms, Compose, presets and the dict wrapper."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bbbcore import augment as A
from bbbcore.augment import functional as F
from bbbcore.augment._program import Affine, AxisMap, compile_chain

from tests.conftest import HAS_CUDA


def _vol(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_single_sample_kinds_and_shapes():
    aug = A.Compose([A.Flip(axis=0, p=1.0), A.Resize((4, 5, 6))], seed=0)
    v = _vol((8, 10, 12)).numpy()
    out = aug(image=v)
    assert set(out) == {"image"} and isinstance(out["image"], np.ndarray) and out["image"].shape == (4, 5, 6)
    out = aug(image=torch.from_numpy(v)[None], mask=torch.zeros((8, 10, 12), dtype=torch.int64))
    assert isinstance(out["image"], torch.Tensor) and out["image"].shape == (1, 4, 5, 6)
    assert out["mask"].shape == (4, 5, 6) and out["mask"].dtype == torch.int64
    out = aug(image=(v * 255).astype(np.uint8), mask=v > 0.5)
    assert out["image"].dtype == np.float32 and out["mask"].dtype == np.bool_


def test_seed_reproduces_and_samples_differ(device):
    x = _vol((4, 1, 16, 20, 20)).to(device)
    x = x[:1].expand(4, -1, -1, -1, -1).contiguous()             # four identical samples
    aug = A.presets.heavy_augs((12, 16, 16))
    a = aug.batch(x, seed=5)
    b = aug.batch(x, seed=5)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.equal(a, aug.batch(x, seed=6))
    rot = A.Compose([A.Rotate(limit_deg=30, p=1.0), A.GaussianNoise(p=1.0)])
    y = rot.batch(x, seed=1)
    for i in range(1, 4):                                        # per-sample parameters
        assert not torch.equal(y[0], y[i])
    c1 = A.presets.heavy_augs((12, 16, 16), seed=11).batch(x)
    c2 = A.presets.heavy_augs((12, 16, 16), seed=11).batch(x)
    torch.testing.assert_close(c1, c2, atol=0, rtol=0)


def test_batch_is_the_drawn_programs(device):
    """batch(x, seed) = the parameters of default_rng(seed): the kernel seed first, then each
    sample's chain in order; the same chains through functional.run_programs give the same result."""
    x = _vol((3, 2, 10, 12, 14), 2).to(device)
    m = (_vol((3, 1, 10, 12, 14), 3) * 4).to(torch.uint8).to(device)
    aug = A.presets.heavy_augs((8, 8, 8))
    out, mo = aug.batch(x, m, seed=42)
    rng = np.random.default_rng(42)
    kseed = int(rng.integers(2**63 - 1))
    progs = [compile_chain(aug.draw_chain((10, 12, 14), rng), (10, 12, 14)) for _ in range(3)]
    ref, ref_m = F.run_programs(x, progs, mask=m, seed=kseed)
    torch.testing.assert_close(out, ref, atol=0, rtol=0)
    torch.testing.assert_close(mo, ref_m, atol=0, rtol=0)


def test_probabilities():
    rng = np.random.default_rng(0)
    aug = A.Compose([A.Flip(axis=0, p=0.3)])
    n = 4000
    fired = sum(bool(aug.draw_chain((4, 5, 6), rng)) for _ in range(n))
    assert abs(fired / n - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    assert not A.Compose([A.Flip(p=0.0)]).draw_chain((4, 5, 6))


def test_heavy_augs_is_the_papers_protocol():
    aug = A.presets.heavy_augs((96, 128, 128))
    names = [type(t).__name__ for t in aug.transforms]
    assert names == ["Rotate", "ElasticTransform", "RandomRotate90", "Flip", "Flip", "Flip", "GridDropout",
                     "GaussianNoise", "RandomGamma", "RandomCropFromBorders", "RandomDropPlane", "Resize"]
    assert [t.p for t in aug.transforms] == [0.3, 0.1, 0.5, 0.5, 0.5, 0.5, 0.1, 0.2, 0.2, 0.4, 0.5, 1.0]
    assert aug.transforms[0].limit_deg == (-10.0, 10.0) and aug.transforms[0].axes == (0,)
    assert [t.axis for t in aug.transforms[3:6]] == [(0,), (1,), (2,)]
    x = _vol((2, 1, 60, 66, 67))                                 # the paper's typical ROI size
    assert aug.batch(x, seed=0).shape == (2, 1, 96, 128, 128)


def test_tubenet_preset():
    aug = A.presets.tubenet((16, 24, 24), seed=0)
    x = _vol((2, 1, 20, 30, 30))
    assert aug.batch(x).shape == (2, 1, 16, 24, 24)
    t = aug.transforms[0]
    assert t.rotate_deg == (-30.0, 30.0) and t.scale == (1.0, 1.25) and t.flip_axes == (1, 2)


def test_no_half_voxel_shift_on_even_axes(device):
    """volumentations shifts even-sized volumes by half a voxel in rotate/elastic, so a 0°
    rotation changes values; here 0° and zero displacement are identities."""
    x = _vol((2, 1, 8, 10, 12), 4).to(device)
    for t in (A.Rotate(limit_deg=0.0, p=1.0), A.ElasticTransform(max_displacement=0.0, p=1.0),
              A.RandomScale(scale=1.0, p=1.0), A.RandomAffine(rotate_deg=0.0, scale=1.0, flip_axes=(), p=1.0)):
        torch.testing.assert_close(A.Compose([t]).batch(x, seed=0), x, atol=0, rtol=0)


def test_random_axis_flip_moves_image_and_mask_together(device):
    """volumentations' Flip(axis=None) flips image and mask along different axes; here the
    mask (a labelling of the voxel index) follows the image exactly."""
    shape = (6, 8, 10)
    idx = torch.arange(int(np.prod(shape)), dtype=torch.int64).reshape(1, 1, *shape)
    aug = A.Compose([A.Flip(axis=None, p=1.0), A.RandomRotate90(axes=[(0, 1), (1, 2), (0, 2)], p=1.0)])
    x = idx.float().expand(8, -1, -1, -1, -1).contiguous().to(device)
    m = idx.expand(8, -1, -1, -1, -1).contiguous().to(device)
    for seed in range(3):
        img, mo = aug.batch(x[:1], m[:1], seed=seed)
        torch.testing.assert_close(img, mo.float(), atol=0, rtol=0)


def test_resize_single_channel_and_3d(device):
    """volumentations' resize breaks on single-channel volumes."""
    aug = A.Compose([A.Resize((5, 6, 7))])
    assert aug(image=_vol((9, 9, 9)).to(device))["image"].shape == (5, 6, 7)
    assert aug(image=_vol((1, 9, 9, 9)).to(device))["image"].shape == (1, 5, 6, 7)
    assert aug.batch(_vol((3, 1, 9, 9, 9)).to(device)).shape == (3, 1, 5, 6, 7)


def test_channels_share_the_map_and_mask_aligned(device):
    v = _vol((1, 1, 12, 14, 16), 5)
    x = torch.cat([v, v], dim=1).to(device)
    lab = (v * 3).to(torch.int32).to(device)
    aug = A.Compose([A.Rotate(limit_deg=20, p=1.0), A.ElasticTransform(p=1.0), A.RandomDropPlane(p=1.0),
                     A.RandomCropFromBorders(p=1.0), A.Resize((10, 12, 12))], border_mode="nearest")
    out, mo = aug.batch(x, lab, seed=3)
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=0, rtol=0)
    # nearest-neighbour labels come from the same places: on this smooth-free random volume the
    # label at a voxel equals the label of the nearest input voxel, and most match the image's rounding
    assert mo.dtype == torch.int32 and set(mo.unique().tolist()) <= {0, 1, 2}


def test_crop_from_borders_and_drop_plane_shapes():
    rng = np.random.default_rng(1)
    one = A.RandomCropFromBorders(crop_fraction=0.25, sides="one", p=1.0)
    allc = A.RandomCropFromBorders(crop_fraction=0.25, sides="all", p=1.0)
    for _ in range(50):
        st, _ = one.draw(rng, (20, 20, 20), np.ones(3))
        assert len(st) == 1 and isinstance(st[0], AxisMap) and 15 <= st[0].table.size <= 19
        assert st[0].table[0] == 0 or st[0].table[-1] == 19          # one face only
        st, _ = allc.draw(rng, (20, 20, 20), np.ones(3))
        assert all(10 <= s.table.size <= 20 for s in st)
    drop = A.RandomDropPlane(drop_fraction=0.9, axes=(1,), p=1.0)
    for _ in range(50):
        st, _ = drop.draw(rng, (5, 6, 7), np.ones(3))
        assert st[0].axis == 1 and st[0].table.size >= 2 and np.all(np.diff(st[0].table) > 0)


def test_grid_dropout_hole_fraction(device):
    x = torch.ones((4, 1, 32, 32, 32), device=device)
    out = A.Compose([A.GridDropout(ratio=0.5, unit_size=(8, 8), p=1.0)]).batch(x, seed=0)
    assert abs((out == 0).float().mean().item() - 0.125) < 0.01


def test_rot90_batch_with_mixed_shapes_needs_resize():
    x = _vol((4, 1, 6, 8, 10))
    aug = A.Compose([A.RandomRotate90(axes=(1, 2), p=1.0)])
    with pytest.raises(ValueError, match=r"the chain must be to end in the same shape for every sample"):
        for s in range(10):
            aug.batch(x, seed=s)
    assert A.Compose([A.RandomRotate90(p=1.0), A.Resize((6, 8, 10))]).batch(x, seed=0).shape == x.shape


def test_spacing_makes_rotation_physical():
    aug = A.Compose([A.Rotate(limit_deg=(25, 25), axes=(1,), p=1.0)], spacing=(2.0, 1.0, 1.0))
    (st,) = aug.draw_chain((8, 9, 10))
    ref = F.centered_affine(F.rotation_3x3([25], [1]), (8, 9, 10), spacing_in=(2.0, 1.0, 1.0))
    np.testing.assert_allclose(st.matrix, ref)
    assert isinstance(st, Affine)


def test_dict_wrapper(device):
    img = _vol((1, 6, 7, 8), 6).numpy()
    lab = (img > 0.5).astype(np.uint8)
    d = {"image": img, "label": lab, "meta": {"id": 3}}
    t = A.AugmentDict(A.Compose([A.Flip(axis=2, p=1.0)]), keys="image", mask_keys="label")
    out = t(d)
    np.testing.assert_array_equal(out["image"], img[..., ::-1])
    np.testing.assert_array_equal(out["label"], lab[..., ::-1])
    assert out["meta"] is d["meta"] and d["image"] is img                # input dict untouched
    batch = {"image": torch.from_numpy(img)[None].to(device), "label": torch.from_numpy(lab)[None].to(device)}
    ob = t(batch)
    assert ob["image"].shape == (1, 1, 6, 7, 8) and ob["label"].dtype == torch.uint8
    with pytest.raises(ValueError, match=r"AugmentDict: data must be a dict with key 'label'"):
        t({"image": img})
    assert "label" not in A.AugmentDict(t.transform, "image", "label", allow_missing_keys=True)({"image": img})


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"Rotate: p must be a probability in \[0, 1\], got 1.5"):
        A.Rotate(p=1.5)
    with pytest.raises(ValueError, match=r"Flip: p must be a probability in \[0, 1\], got -0.1"):
        A.Flip(p=-0.1)
    with pytest.raises(ValueError, match=r"Resize: shape must be 3 positive sizes \(Z, Y, X\), got \(0, 4, 4\)"):
        A.Resize((0, 4, 4))
    with pytest.raises(ValueError, match=r"Resize: shape must be 3 positive sizes"):
        A.presets.heavy_augs((96, -1, 128))
    aug = A.Compose([A.Flip(p=1.0)])
    with pytest.raises(ValueError, match=r"Compose.batch: x must be of shape \(B, C, Z, Y, X\), got \(4, 5, 6\)"):
        aug.batch(torch.zeros((4, 5, 6)))
    with pytest.raises(ValueError, match="Compose.batch: image must be a float .*got torch.int32"):
        aug.batch(torch.zeros((1, 1, 4, 5, 6), dtype=torch.int32))
    with pytest.raises(ValueError, match=r"Compose: image must be of shape \(Z, Y, X\)"):
        aug(image=np.zeros((4, 5)))
    with pytest.raises(ValueError, match="Compose: image must be a float"):
        aug(image=np.zeros((4, 5, 6), np.int64))
    with pytest.raises(ValueError, match=r"Compose: mask must be of the image's spatial shape \(4, 5, 6\)"):
        aug(image=np.zeros((4, 5, 6), np.float32), mask=np.zeros((4, 5, 7)))
    with pytest.raises(ValueError, match="Compose: transforms\\[1\\] must be a bbbcore.augment transform"):
        A.Compose([A.Flip(), "flip"])
    with pytest.raises(ValueError, match=r"ElasticTransform: num_control_points must be ≥ 2"):
        A.ElasticTransform(num_control_points=1)
    with pytest.raises(ValueError, match=r"GridDropout: ratio must be in \(0, 1\), got 1.0"):
        A.GridDropout(ratio=1.0)
    with pytest.raises(ValueError, match=r"RandomGamma: gamma must be > 0"):
        A.RandomGamma(gamma=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"Compose: border_mode must be one of"):
        A.Compose([], border_mode="wrap")


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_same_seed_same_output_on_cpu_and_cuda():
    x = _vol((6, 2, 20, 24, 24), 7)
    m = (_vol((6, 1, 20, 24, 24), 8) * 3).to(torch.uint8)
    aug = A.presets.heavy_augs((16, 20, 20))
    a, am = aug.batch(x, m, seed=3)
    b, bm = aug.batch(x.cuda(), m.cuda(), seed=3)
    torch.testing.assert_close(b.cpu(), a, atol=0, rtol=0)
    torch.testing.assert_close(bm.cpu(), am, atol=0, rtol=0)


class _Vols(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return AUG(image=np.ones((6, 8, 8), np.float32) * 0.5)["image"]


AUG = A.Compose([A.GaussianNoise(std=0.1, relative=False, p=1.0)])


def test_dataloader_workers_draw_their_own_parameters():
    """Forked DataLoader workers would replay the parent's random stream; each worker gets its
    own (from the DataLoader's seed), so no two samples repeat."""
    dl = torch.utils.data.DataLoader(_Vols(), batch_size=1, num_workers=2,
                                     generator=torch.Generator().manual_seed(0))
    outs = [b[0] for b in dl]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(outs[i], outs[j])
