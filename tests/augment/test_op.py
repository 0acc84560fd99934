"""bbbcore::augment_resample: the raw op against the NumPy float64 reference on random programs,
opcheck, torch.compile, dtypes, empty and size-1 inputs, CPU/CUDA agreement."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bbbcore
from bbbcore import augment as A
from bbbcore.augment import functional as F
from bbbcore.augment._program import compile_chain, pack
from bbbcore.reference.augment import augment_ref

from tests.conftest import HAS_CUDA

IN_SHAPE = (12, 14, 16)


def _random_chains(n, seed, out_shape=(10, 12, 12), extra=()):
    """Heavy-augs chains plus every transform forced on now and then (elastic, dropout, noise,
    gamma, drop-plane, crop), so branch stages, dropouts and epilogues all occur."""
    rng = np.random.default_rng(seed)
    heavy = A.presets.heavy_augs(out_shape)
    forced = A.Compose([
        A.Rotate(limit_deg=20, axes=(0, 1), p=0.7),
        A.GaussianNoise(std=(0.05, 0.1), p=0.5),
        A.ElasticTransform(max_displacement=2.0, num_control_points=(4, 5, 6), p=0.5),
        A.GridDropout(ratio=0.5, unit_size=(3, 6), mask_fill=9, p=0.5),
        A.RandomGamma(p=0.5),
        A.RandomCropFromBorders(crop_fraction=0.2, sides="all", p=0.5),
        A.RandomDropPlane(drop_fraction=0.3, axes=(0, 1, 2), p=0.8),
        A.RandomScale(p=0.5),
        *extra,
        A.Resize(out_shape),
    ])
    return [(heavy if i % 2 else forced).draw_chain(IN_SHAPE, rng) for i in range(n)]


def _inputs(B=4, C=2, seed=0, mask_dtype=torch.int64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((B, C, *IN_SHAPE), generator=g)
    m = (torch.rand((B, 1, *IN_SHAPE), generator=g) * 5).to(mask_dtype)
    return x, m


@pytest.mark.parametrize("border", ["constant", "nearest", "reflect"])
@pytest.mark.parametrize("push", [True, False])
def test_matches_reference_on_random_chains(device, border, push):
    x, m = _inputs()
    for trial in range(4):
        chains = _random_chains(4, 10 * trial + (border == "nearest") + 3 * push)
        progs = [compile_chain(c, IN_SHAPE, push_tables=push) for c in chains]
        out, mo = F.run_programs(x.to(device), progs, mask=m.to(device), border_mode=border,
                                 fill=0.25, mask_fill=7, seed=123)
        for b in range(4):
            ref, ref_m = augment_ref(x[b].numpy(), progs[b], mask=m[b].numpy(), border=border,
                                     fill=0.25, mask_fill=7, seed=123, sample=b)
            np.testing.assert_allclose(out[b].cpu().numpy(), ref, atol=2e-5, rtol=0)
            np.testing.assert_array_equal(mo[b].cpu().numpy(), ref_m)


@pytest.mark.parametrize("border", ["constant", "reflect"])
def test_dropout_between_axis_aligned_stages_matches_reference(device, border):
    """Grid dropouts among drop-plane tables, rot90, flips, crops and resizes (the CPU's separable
    row path with per-axis hole tables): image, hole fills and mask fills as the reference."""
    x, m = _inputs(B=4, C=2, seed=3)
    aug = A.Compose([
        A.RandomDropPlane(drop_fraction=0.3, axes=(0, 2), p=0.7),
        A.RandomRotate90(axes=(0, 2), p=0.8),
        A.Flip(axis=0, p=0.5), A.Flip(axis=2, p=0.5),
        A.GridDropout(ratio=0.5, unit_size=(2, 5), fill=-1.0, mask_fill=9, p=1.0),
        A.RandomCropFromBorders(crop_fraction=0.2, sides="all", p=0.7),
        A.GridDropout(ratio=0.4, unit_size=(3, 6), fill=2.0, p=1.0),
        A.GaussianNoise(std=(0.05, 0.1), p=0.5),
        A.Resize((10, 12, 12)),
    ])  # a drop-plane table after a dropout would be a branch stage (the generic path)
    rng = np.random.default_rng(4)
    for trial in range(3):
        progs = [compile_chain(aug.draw_chain(IN_SHAPE, rng), IN_SHAPE) for _ in range(4)]
        assert all(p.n_branch == 0 for p in progs)
        out, mo = F.run_programs(x.to(device), progs, mask=m.to(device), border_mode=border,
                                 fill=0.25, mask_fill=7, seed=5)
        holes = 0
        for b in range(4):
            ref, ref_m = augment_ref(x[b].numpy(), progs[b], mask=m[b].numpy(), border=border,
                                     fill=0.25, mask_fill=7, seed=5, sample=b)
            np.testing.assert_allclose(out[b].cpu().numpy(), ref, atol=2e-5, rtol=0)
            np.testing.assert_array_equal(mo[b].cpu().numpy(), ref_m)
            holes += int((ref_m == 9).sum())
        assert holes > 0  # the mask fills occurred


def _branch_row_path(prog):
    """The CPU row path of a program with drop-plane branches (resample_cpu.cpp,
    plane_branch_stage): the output axis (0, 1, 2) that its one table follows behind axis-aligned
    affines, else "generic"."""
    if prog.n_branch != 1:
        return "generic" if prog.n_branch else None
    src = [0, 1, 2]
    for st in prog.stages:
        if st[0] == "axismap":
            return src[st[1]]
        m = np.asarray(st[1])[:3, :3] if st[0] == "affine" else None
        if m is None or any(np.count_nonzero(m[r]) != 1 for r in range(3)):
            return "generic"
        src = [src[int(np.flatnonzero(m[r])[0])] for r in range(3)]
    return "generic"


@pytest.mark.parametrize("border", ["constant", "nearest", "reflect"])
def test_row_paths_match_reference(device, border):
    """The CPU's row paths against the reference: a rotation about Z at the input's size (one input
    plane per output row), an elastic field after an axis-aligned map (its columns once per row),
    an elastic field after a rotation (no fixed axes along a row: per-voxel columns), one
    drop-plane table behind axis-aligned maps following output z, y or x (branch rows kept across
    rows, or kept planes shared along a row), and two tables (generic branches)."""
    x, m = _inputs(B=4, C=2, seed=6)
    el = A.ElasticTransform(max_displacement=2.0, num_control_points=(4, 5, 6), p=1.0)
    chains = {
        "z rotation": A.Compose([A.Rotate(limit_deg=25, axes=(0,), p=1.0)]),
        "elastic, axis-aligned": A.Compose([el, A.RandomRotate90(axes=(1, 2), p=0.5),
                                            A.Flip(axis=2, p=0.5), A.Resize((10, 12, 12))]),
        "elastic then rotation": A.Compose([el, A.Rotate(limit_deg=25, axes=(0, 1), p=1.0)]),
        "elastic, drop plane": A.Compose([el, A.RandomDropPlane(drop_fraction=0.3, axes=(0,), p=1.0),
                                          A.Resize((10, 12, 12))]),
        # one drop-plane table that follows output z: branch rows kept across z (row_plane_branch)
        "dropout, flips, drop plane": A.Compose([
            A.GridDropout(ratio=0.5, unit_size=(2, 5), fill=-1.0, mask_fill=9, p=1.0),
            A.GaussianNoise(std=(0.05, 0.1), p=0.5), A.RandomRotate90(axes=(1, 2), p=0.5),
            A.Flip(axis=0, p=0.5), A.RandomDropPlane(drop_fraction=0.3, axes=(0,), p=1.0),
            A.Resize((13, 12, 12))]),
        "rotation, drop plane": A.Compose([A.Rotate(limit_deg=25, axes=(0, 1), p=1.0),
                                           A.RandomDropPlane(drop_fraction=0.3, axes=(0,), p=1.0),
                                           A.Resize((7, 12, 12))]),
        # ... that follows output y (branch rows kept across y)
        "drop plane y": A.Compose([A.Rotate(limit_deg=25, axes=(0, 1), p=1.0),
                                   A.RandomDropPlane(drop_fraction=0.3, axes=(1,), p=1.0),
                                   A.Resize((10, 12, 12))]),
        "drop plane, rot90 zy": A.Compose([A.Rotate(limit_deg=25, axes=(1,), p=1.0),
                                           A.RandomDropPlane(drop_fraction=0.3, axes=(0,), p=1.0),
                                           A.RandomRotate90(axes=(0, 1), p=1.0), A.Resize((10, 12, 12))]),
        # ... that follows output x (each kept plane of a row evaluated once: row_table_x)
        "drop plane x": A.Compose([A.Rotate(limit_deg=25, axes=(0, 1), p=1.0),
                                   A.GridDropout(ratio=0.5, unit_size=(2, 5), mask_fill=9, p=1.0),
                                   A.RandomDropPlane(drop_fraction=0.3, axes=(2,), p=1.0),
                                   A.Resize((10, 12, 21))]),
        "drop plane, rot90 yx": A.Compose([A.ElasticTransform(max_displacement=2.0,
                                                                            num_control_points=4, p=1.0),
                                           A.RandomDropPlane(drop_fraction=0.4, axes=(1,), p=1.0),
                                           A.RandomRotate90(axes=(1, 2), p=1.0), A.Resize((10, 5, 9))]),
        # two tables behind a rotation: four branches (row_generic)
        "two drop planes": A.Compose([A.Rotate(limit_deg=25, axes=(0, 1), p=1.0),
                                      A.RandomDropPlane(drop_fraction=0.3, axes=(0,), p=1.0),
                                      A.RandomDropPlane(drop_fraction=0.3, axes=(2,), p=1.0),
                                      A.Resize((10, 12, 12))]),
    }
    expected = {"elastic, drop plane": 0, "dropout, flips, drop plane": 0, "rotation, drop plane": 0,
                "drop plane y": 1, "drop plane, rot90 zy": 1, "drop plane x": 2,
                "drop plane, rot90 yx": 2, "two drop planes": "generic"}
    rng = np.random.default_rng(7)
    for name, aug in chains.items():
        progs = [compile_chain(aug.draw_chain(IN_SHAPE, rng), IN_SHAPE) for _ in range(4)]
        if name in expected:  # the row path meant is taken by at least one sample
            assert expected[name] in [_branch_row_path(p) for p in progs], name
        out, mo = F.run_programs(x.to(device), progs, mask=m.to(device), border_mode=border,
                                 fill=0.25, mask_fill=7, seed=5)
        for b in range(4):
            ref, ref_m = augment_ref(x[b].numpy(), progs[b], mask=m[b].numpy(), border=border,
                                     fill=0.25, mask_fill=7, seed=5, sample=b)
            np.testing.assert_allclose(out[b].cpu().numpy(), ref, atol=2e-5, rtol=0, err_msg=name)
            np.testing.assert_array_equal(mo[b].cpu().numpy(), ref_m, err_msg=name)


@pytest.mark.skipif(bbbcore.build_info()["cpu_isa"] != "avx2", reason="needs a CPU with AVX2")
@pytest.mark.parametrize("image_dtype", [torch.float32, torch.uint8, torch.uint16])
@pytest.mark.parametrize("border", ["constant", "nearest", "reflect"])
def test_cpu_isas_agree_bit_for_bit(border, image_dtype):
    """The baseline (SSE2) and AVX2 copies of the CPU row loops give the same bits: every stage
    kind, noise and gamma, rows whose length is no multiple of the vector width (odd X)."""
    in_shape, out_shape = (9, 11, 37), (8, 10, 29)
    rng = np.random.default_rng(11)
    heavy = A.presets.heavy_augs(out_shape)
    forced = A.Compose([
        A.Rotate(limit_deg=20, axes=(0, 1), p=0.7),
        A.ElasticTransform(max_displacement=2.0, num_control_points=(4, 5, 6), p=0.6),
        A.GridDropout(ratio=0.5, unit_size=(3, 6), mask_fill=9, p=0.5),
        A.GaussianNoise(std=(0.05, 0.1), p=0.6),
        A.RandomGamma(p=0.6),
        A.RandomDropPlane(drop_fraction=0.3, axes=(0, 1, 2), p=0.8),
        A.Resize(out_shape),
    ])
    progs = [compile_chain((heavy if i % 3 == 0 else forced).draw_chain(in_shape, rng), in_shape)
             for i in range(12)]
    g = torch.Generator().manual_seed(2)
    x = torch.rand((12, 2, *in_shape), generator=g)
    if image_dtype != torch.float32:
        x = (x * (255 if image_dtype == torch.uint8 else 4000)).to(image_dtype)
    m = (torch.rand((12, 1, *in_shape), generator=g) * 5).to(torch.int64)
    runs = {}
    for isa in ("baseline", "avx2"):
        with bbbcore.use_cpu_isa(isa):
            runs[isa] = F.run_programs(x, progs, mask=m, border_mode=border, fill=0.25, mask_fill=7,
                                       seed=9)
    assert torch.equal(runs["baseline"][0], runs["avx2"][0])
    assert torch.equal(runs["baseline"][1], runs["avx2"][1])
    assert runs["avx2"][0].std() > 0


def test_crop_behind_flip_and_elastic_is_an_affine(device):
    """A crop that cannot reach the gather (an elastic field on its input side) is composed into
    the map as an affine, reversed too (a flip in between): no branch, and the crop of the full
    result."""
    x, _ = _inputs(B=1, C=1, seed=8)
    ctrl = np.random.default_rng(9).normal(0.0, 1.0, (3, 4, 4, 4))
    flip = F.Affine(F.flip_matrix(IN_SHAPE, (1,)))
    lo, hi = (0, 3, 0), (12, 11, 16)
    full = [F.Elastic(ctrl), flip]
    cropped = full + F.crop_stages(lo, hi, IN_SHAPE)
    prog = compile_chain(cropped, IN_SHAPE)
    assert prog.n_branch == 0 and all(s[0] != "axismap" for s in prog.stages)
    a = F.apply(x.to(device), cropped, border_mode="nearest")
    b = F.apply(x.to(device), full, border_mode="nearest")[..., lo[1]:hi[1], :]
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_branch_path_equals_pushed_tables_inside(device):
    """A drop-plane table folded into the gather and the same table evaluated as two branches give
    the same image away from the borders."""
    x, _ = _inputs(B=1, C=1)
    keep = np.array([0, 1, 3, 4, 6, 8, 9, 11])
    rot = F.centered_affine(F.rotation_3x3([9.0], [0]), IN_SHAPE)
    chain = [F.Affine(rot), F.AxisMap(0, keep), F.Affine(F.resize_matrix((8, 14, 16), IN_SHAPE), IN_SHAPE)]
    a = F.apply(x.to(device), chain, push_tables=True, border_mode="nearest")
    b = F.apply(x.to(device), chain, push_tables=False, border_mode="nearest")
    assert compile_chain(chain, IN_SHAPE, push_tables=False).n_branch == 1
    assert compile_chain(chain, IN_SHAPE).n_branch == 0
    torch.testing.assert_close(a[..., 1:-1, :, :], b[..., 1:-1, :, :], atol=1e-5, rtol=0)


@pytest.mark.parametrize("mask_dtype", [torch.uint8, torch.int32, torch.int64, torch.float32])
@pytest.mark.parametrize("image_dtype", [torch.float32, torch.uint8, torch.uint16])
def test_dtypes(device, image_dtype, mask_dtype):
    x, m = _inputs(B=2, C=1, mask_dtype=mask_dtype)
    xi = (x * 200).to(image_dtype) if image_dtype != torch.float32 else x
    progs = [compile_chain(c, IN_SHAPE) for c in _random_chains(2, 5)]
    out, mo = F.run_programs(xi.to(device), progs, mask=m.to(device), seed=1)
    assert out.dtype == torch.float32 and mo.dtype == mask_dtype
    for b in range(2):
        ref, ref_m = augment_ref(xi[b].float().numpy(), progs[b], mask=m[b].numpy(), seed=1, sample=b)
        np.testing.assert_allclose(out[b].cpu().numpy(), ref, atol=2e-5 * 200, rtol=0)
        np.testing.assert_array_equal(mo[b].cpu().numpy(), ref_m)


def _raw_args(device, B=2, C=1, shape=(5, 6, 7), out_shape=(4, 4, 4)):
    x = torch.rand((B, C, *shape), device=device)
    chain = [F.Affine(F.centered_affine(F.rotation_3x3([10], [0]), shape, out_shape), out_shape),
             F.Noise(0.1)]
    prog, tab, ctrl = pack([compile_chain(chain, shape)] * B)
    return x, torch.from_numpy(prog).to(device), torch.from_numpy(tab).to(device), \
        torch.from_numpy(ctrl).to(device)


def test_opcheck(device):
    x, prog, tab, ctrl = _raw_args(device)
    m = torch.randint(0, 3, x.shape, dtype=torch.uint8, device=device)
    torch.library.opcheck(torch.ops.bbbcore.augment_resample.default,
                          (x, m, prog, tab, ctrl, None, [4, 4, 4], 0, 0.0, 0.0, 5))
    torch.library.opcheck(torch.ops.bbbcore.augment_resample.default,
                          (x, None, prog, tab, ctrl, None, [4, 4, 4], 2, 0.0, 0.0, 5))


def test_torch_compile_fullgraph(device):
    x, prog, tab, ctrl = _raw_args(device)

    def f(x, prog, tab, ctrl):
        out, _ = torch.ops.bbbcore.augment_resample(x, None, prog, tab, ctrl, None, [4, 4, 4], 0, 0.0,
                                                    0.0, 5)
        return out * 2.0

    got = torch.compile(f, fullgraph=True, backend="aot_eager")(x, prog, tab, ctrl)
    torch.testing.assert_close(got, f(x, prog, tab, ctrl))


def test_empty_and_size_one(device):
    x, prog, tab, ctrl = _raw_args(device, B=0)
    out, mo = torch.ops.bbbcore.augment_resample(x, None, prog, tab, ctrl, None, [4, 4, 4], 0, 0.0, 0.0, 0)
    assert out.shape == (0, 1, 4, 4, 4) and mo.shape == (0,)
    v = torch.rand((1, 1, 1, 1, 1), device=device)
    np.testing.assert_array_equal(F.resize(v, (2, 3, 1)).cpu().numpy(), np.full((1, 1, 2, 3, 1), v.item(),
                                                                                   np.float32))
    np.testing.assert_array_equal(F.flip(v, (0, 1, 2)).cpu().numpy(), v.cpu().numpy())


def test_raw_op_bad_input():
    x, prog, tab, ctrl = _raw_args("cpu")
    op = torch.ops.bbbcore.augment_resample
    with pytest.raises(ValueError, match=r"augment_resample: image must be of shape \(B, C, Z, Y, X\)"):
        op(x[0], None, prog, tab, ctrl, None, [4, 4, 4], 0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match="augment_resample: image must be of dtype float32, uint8 or uint16"):
        op(x.double(), None, prog, tab, ctrl, None, [4, 4, 4], 0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match=r"augment_resample: program must be of shape \(2, 248\)"):
        op(x, None, prog[:, :10], tab, ctrl, None, [4, 4, 4], 0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match=r"augment_resample: out_shape must be 3 sizes ≥ 1, got \(4, 0, 4\)"):
        op(x, None, prog, tab, ctrl, None, [4, 0, 4], 0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match="augment_resample: border must be 0 .constant., 1"):
        op(x, None, prog, tab, ctrl, None, [4, 4, 4], 5, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match="augment_resample: mask must be of dtype uint8, int32, int64 or float32"):
        op(x, torch.zeros(x.shape, dtype=torch.int16), prog, tab, ctrl, None, [4, 4, 4], 0, 0.0, 0.0, 0)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cpu_and_cuda_agree_bit_for_bit():
    x, m = _inputs(B=6, C=2)
    progs = [compile_chain(c, IN_SHAPE) for c in _random_chains(6, 77)]
    for border in ("constant", "nearest", "reflect"):
        a, am = F.run_programs(x, progs, mask=m, border_mode=border, seed=9)
        b, bm = F.run_programs(x.cuda(), progs, mask=m.cuda(), border_mode=border, seed=9)
        torch.testing.assert_close(b.cpu(), a, atol=0, rtol=0)
        torch.testing.assert_close(bm.cpu(), am, atol=0, rtol=0)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_two_streams():
    x, _ = _inputs(B=4, C=1)
    progs = [compile_chain(c, IN_SHAPE) for c in _random_chains(4, 3)]
    ref, _ = F.run_programs(x.cuda(), progs, seed=2)
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    with torch.cuda.stream(s1):
        a, _ = F.run_programs(x.cuda(), progs, seed=2)
    with torch.cuda.stream(s2):
        b, _ = F.run_programs(x.cuda(), progs, seed=2)
    torch.cuda.synchronize()
    torch.testing.assert_close(a, ref, atol=0, rtol=0)
    torch.testing.assert_close(b, ref, atol=0, rtol=0)
