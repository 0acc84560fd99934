"""bbbcore.augment.functional against NumPy / SciPy / torch on random inputs (float32 kernel vs
float64 references: tolerance 1e-5 of values in [0, 1]; flips and rot90 exact)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from bbbcore.augment import functional as F

TOL = 1e-5


def _vol(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64).numpy()


def _on(device, a):
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32).to(device)


@pytest.mark.parametrize("shape", [(6, 7, 8), (5, 6, 6), (1, 4, 9)])
def test_flip_exact(device, shape):
    v = _vol((2, *shape)).astype(np.float32)
    for axes in [(0,), (1,), (2,), (0, 2), (0, 1, 2)]:
        out = F.flip(_on(device, v), axes=axes)
        np.testing.assert_array_equal(out.cpu().numpy(), np.flip(v, [a + 1 for a in axes]))


@pytest.mark.parametrize("shape", [(6, 7, 8), (4, 6, 6)])
def test_rot90_exact(device, shape):
    v = _vol(shape, 1).astype(np.float32)
    for plane in [(0, 1), (1, 2), (2, 0), (1, 0)]:
        for k in range(-1, 5):
            out = F.rot90(_on(device, v), k, plane).cpu().numpy()
            np.testing.assert_array_equal(out, np.rot90(v, k, plane))


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_affine_matches_scipy(device, mode):
    v = _vol((9, 10, 11), 2)
    rng = np.random.default_rng(3)
    for _ in range(3):
        M = F.centered_affine(F.rotation_3x3(rng.uniform(-40, 40, 3), (0, 1, 2)), v.shape)
        M[:, :3] *= rng.uniform(0.8, 1.25, (3, 1))
        M[:, 3] += rng.uniform(-2, 2, 3)
        out = F.affine(_on(device, v), M, border_mode=mode).cpu().numpy()
        ref = ndi.affine_transform(v, M[:, :3], M[:, 3], order=1, mode=mode)
        np.testing.assert_allclose(out, ref, atol=TOL)


def test_affine_out_shape_matches_scipy(device):
    v = _vol((7, 8, 9), 4)
    M = F.centered_affine(F.rotation_3x3([12], [1]), v.shape, (5, 10, 6))
    out = F.affine(_on(device, v), M, out_shape=(5, 10, 6), border_mode="nearest").cpu().numpy()
    ref = ndi.affine_transform(v, M[:, :3], M[:, 3], output_shape=(5, 10, 6), order=1, mode="nearest")
    np.testing.assert_allclose(out, ref, atol=TOL)


def test_constant_border_convention(device):
    """'constant': the volume occupies [-0.5, n - 0.5]; outside it → fill, inside it the edge
    half-voxels take the edge value (no blending with the fill)."""
    v = np.ones((4, 5, 6), np.float32)
    M = F.identity_matrix()
    M[2, 3] = -0.4                                       # x shifted by 0.4 voxel: still inside
    out = F.affine(_on(device, v), M, fill=7.0).cpu().numpy()
    np.testing.assert_array_equal(out, 1.0)
    M[2, 3] = -0.6                                       # column x=0 now samples x=-0.6: outside
    out = F.affine(_on(device, v), M, fill=7.0).cpu().numpy()
    np.testing.assert_array_equal(out[..., 0], 7.0)
    np.testing.assert_array_equal(out[..., 1:], 1.0)


def test_rotate_convention_matches_scipy_rotate(device):
    """Rotation about axis 0 by θ = scipy.ndimage.rotate(vol, θ, axes=(1, 2)); about axis 1 =
    axes (0, 2); about axis 2 = axes (0, 1) (scipy orders the axes of the plane)."""
    v = _vol((8, 9, 10), 5)
    for axis, plane in [(0, (1, 2)), (1, (0, 2)), (2, (0, 1))]:
        out = F.rotate(_on(device, v), 23.0, axis=axis, border_mode="nearest").cpu().numpy()
        ref = ndi.rotate(v, 23.0, axes=plane, reshape=False, order=1, mode="nearest")
        np.testing.assert_allclose(out, ref, atol=TOL)


def test_rotate_anisotropic_spacing_is_physical(device):
    """With spacing (2, 1, 1) a rotation about axis 1 (the Z-X plane) is a physical rotation:
    it equals rotating an isotropic resampling of the stack."""
    iso = _vol((16, 5, 16), 6)
    M = F.centered_affine(F.rotation_3x3([30], [1]), (8, 5, 16), spacing_in=(2.0, 1.0, 1.0))
    # the same physical map, written for the isotropic grid and sampled at the coarse grid
    L_iso = np.linalg.inv(F.rotation_3x3([30], [1]))
    np.testing.assert_allclose(M[:, :3], np.diag([0.5, 1, 1]) @ L_iso @ np.diag([2.0, 1, 1]), atol=1e-12)
    out = F.rotate(_on(device, iso[::2]), 30.0, axis=1, spacing=(2.0, 1.0, 1.0))
    assert out.shape == (8, 5, 16)


@pytest.mark.parametrize("out_shape", [(9, 5, 11), (3, 12, 4), (6, 7, 8)])
def test_resize_matches_torch_interpolate(device, out_shape):
    v = _vol((2, 6, 7, 8), 7).astype(np.float32)
    out = F.resize(_on(device, v), out_shape).cpu()
    ref = torch.nn.functional.interpolate(torch.from_numpy(v)[None], size=out_shape, mode="trilinear",
                                          align_corners=False)[0]
    torch.testing.assert_close(out, ref, atol=TOL, rtol=0)


def test_crop_exact(device):
    v = _vol((6, 7, 8), 8).astype(np.float32)
    out = F.crop(_on(device, v), (1, 0, 2), (5, 7, 6)).cpu().numpy()
    np.testing.assert_array_equal(out, v[1:5, 0:7, 2:6])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_drop_planes_is_delete_then_resize(device, axis):
    v = _vol((9, 10, 11), 9)
    keep = np.array([0, 2, 3, 6, 7], dtype=np.int64)
    out = F.drop_planes(_on(device, v), keep, axis=axis, out_shape=v.shape).cpu()
    kept = np.take(v, keep, axis=axis)
    ref = torch.nn.functional.interpolate(torch.from_numpy(kept)[None, None], size=v.shape,
                                          mode="trilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(out.double(), ref, atol=TOL, rtol=0)


def test_crop_then_resize_is_crop_then_interpolate(device):
    v = _vol((9, 10, 11), 10)
    chain = F.crop_stages((2, 0, 1), (9, 10, 9), v.shape) + \
        [F.Affine(F.resize_matrix((7, 10, 8), v.shape), v.shape)]
    out = F.apply(_on(device, v), chain).cpu()
    ref = torch.nn.functional.interpolate(torch.from_numpy(v[2:9, 0:10, 1:9])[None, None], size=v.shape,
                                          mode="trilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(out.double(), ref, atol=TOL, rtol=0)


def test_elastic_matches_bspline_map_coordinates(device):
    """Elastic = cubic B-spline of the control grid (scipy map_coordinates order 3 without
    prefilter, edge coefficients repeated) + linear map_coordinates of the image."""
    v = _vol((9, 10, 11), 11)
    rng = np.random.default_rng(12)
    ctrl = rng.uniform(-2.5, 2.5, (3, 5, 4, 6))
    out = F.elastic(_on(device, v), ctrl, border_mode="nearest").cpu().numpy()
    g, n = np.array(ctrl.shape[1:]), np.array(v.shape)
    p = np.stack(np.meshgrid(*[np.arange(s) for s in v.shape], indexing="ij")).reshape(3, -1).astype(float)
    u = p * ((g - 1) / (n - 1))[:, None]
    d = np.stack([ndi.map_coordinates(ctrl[a], u, order=3, prefilter=False, mode="nearest") for a in range(3)])
    ref = ndi.map_coordinates(v, p + d, order=1, mode="nearest").reshape(v.shape)
    np.testing.assert_allclose(out, ref, atol=TOL)


def test_grid_dropout_pattern(device):
    v = _vol((8, 9, 10), 13).astype(np.float32) + 1.0
    out = F.grid_dropout(_on(device, v), unit=(4, 3, 5), hole=(2, 1, 3), offset=(1, 0, 2), fill=-1.0)
    out = out.cpu().numpy()
    i = np.stack(np.meshgrid(*[np.arange(s) for s in v.shape], indexing="ij"))
    hole = ((i[0] - 1) % 4 < 2) & ((i[1] - 0) % 3 < 1) & ((i[2] - 2) % 5 < 3)
    np.testing.assert_array_equal(out[hole], -1.0)
    np.testing.assert_array_equal(out[~hole], v[~hole])


def test_gamma_and_noise(device):
    v = _vol((6, 7, 8), 14).astype(np.float32)
    lo, hi = v.min(), v.max()
    out = F.gamma(_on(device, v), 1.7).cpu().numpy()
    np.testing.assert_allclose(out, lo + (hi - lo) * ((v - lo) / (hi - lo)) ** 1.7, atol=TOL)
    big = np.zeros((64, 64, 64), np.float32)
    n = F.gaussian_noise(_on(device, big), std=0.5, mean=0.25, seed=3).cpu().numpy()
    assert abs(n.mean() - 0.25) < 5 * 0.5 / 512 and abs(n.std() - 0.5) < 0.01
    n2 = F.gaussian_noise(_on(device, big), std=0.5, mean=0.25, seed=3).cpu().numpy()
    np.testing.assert_array_equal(n, n2)
    n3 = F.gaussian_noise(_on(device, big), std=0.5, mean=0.25, seed=4).cpu().numpy()
    assert not np.array_equal(n, n3)


@pytest.mark.parametrize("dtype,scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_images_convert_inside(device, dtype, scale):
    v = (_vol((5, 6, 7), 15) * scale).astype(dtype)
    M = F.centered_affine(F.rotation_3x3([20], [0]), v.shape)
    out = F.affine(torch.from_numpy(v).to(device), M, border_mode="nearest")
    assert out.dtype == torch.float32
    ref = F.affine(torch.from_numpy(v.astype(np.float32)).to(device), M, border_mode="nearest")
    torch.testing.assert_close(out, ref, atol=0, rtol=0)


def test_identity_parameters_give_input_back(device):
    v = _vol((2, 6, 7, 8), 16).astype(np.float32)
    x = _on(device, v)
    ident = [
        [F.Affine(F.identity_matrix())],
        [F.Affine(F.centered_affine(F.rotation_3x3([0.0], [0]), v.shape[1:]))],
        [F.Affine(F.resize_matrix(v.shape[1:], v.shape[1:]), v.shape[1:])],
        [F.Elastic(np.zeros((3, 4, 4, 4)))],
        [F.AxisMap(1, np.arange(7))],
        [F.Gamma(1.0)],
        [F.Noise(0.0)],
        [],
    ]
    for chain in ident:
        torch.testing.assert_close(F.apply(x, chain), x, atol=0, rtol=0)


def test_image_and_mask_stay_aligned(device):
    """A mask equal to (a labelling of) the image's voxel index is moved exactly like the image
    under maps that hit voxel centres."""
    shape = (6, 8, 10)
    idx = np.arange(np.prod(shape), dtype=np.int64).reshape(shape)
    chain = [F.Affine(F.flip_matrix(shape, [0, 2])), F.Affine(*F.rot90_matrix(shape, 1, (1, 2))),
             F.Affine(F.crop_matrix((1, 2, 0)), (5, 6, 8)), F.AxisMap(0, np.array([0, 1, 3, 4]))]
    img, m = F.apply(torch.from_numpy(idx.astype(np.float32)).to(device), chain,
                     mask=torch.from_numpy(idx).to(device))
    np.testing.assert_array_equal(img.cpu().numpy(), m.cpu().numpy().astype(np.float32))


def test_numpy_in_numpy_out_and_ranks():
    v = _vol((3, 4, 5)).astype(np.float32)
    assert isinstance(F.flip(v, (0,)), np.ndarray)
    assert F.flip(v[None], (0,)).shape == (1, 3, 4, 5)
    assert F.flip(v[None, None], (0,)).shape == (1, 1, 3, 4, 5)
    assert F.flip(v.astype(np.float64), (0,)).dtype == np.float32


def test_non_contiguous_input(device):
    v = _vol((8, 9, 10), 17).astype(np.float32)
    x = _on(device, v).permute(2, 1, 0)                  # non-contiguous view (X, Y, Z)
    out = F.flip(x, (1,))
    np.testing.assert_array_equal(out.cpu().numpy(), np.flip(v.transpose(2, 1, 0), 1))


def test_bad_input_messages():
    v = np.zeros((4, 5, 6), np.float32)
    with pytest.raises(ValueError, match=r"flip: image must be of shape \(Z, Y, X\)"):
        F.flip(np.zeros((4, 5)), (0,))
    with pytest.raises(ValueError, match="apply: image must be a float .* uint8 or uint16 array, got torch.int32"):
        F.flip(torch.zeros((4, 5, 6), dtype=torch.int32), (0,))
    with pytest.raises(ValueError, match=r"resize: shape must be 3 positive sizes"):
        F.resize(v, (0, 4, 4))
    with pytest.raises(ValueError, match=r"crop: lo, hi must be 0 ≤ lo < hi ≤ 6 on axis 2"):
        F.crop(v, (0, 0, 3), (4, 5, 7))
    with pytest.raises(ValueError, match=r"stage 0 \(AxisMap\) table must be planes in \[0, 4\)"):
        F.apply(v, [F.AxisMap(0, np.array([0, 4]))])
    with pytest.raises(ValueError, match=r"stage 0 \(Affine\) must be a finite \(3, 4\) matrix"):
        F.apply(v, [F.Affine(np.full((3, 4), np.nan))])
    with pytest.raises(ValueError, match="border_mode must be one of"):
        F.flip(v, (0,), border_mode="wrap")
    with pytest.raises(ValueError, match=r"rot90_matrix: axes must be two distinct axes"):
        F.rot90(v, 1, (1, 1))
    with pytest.raises(ValueError, match=r"stage 0 \(Gamma\) gamma must be finite and > 0"):
        F.gamma(v, -1.0)
