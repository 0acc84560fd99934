"""Vessel phantoms: exact rasterisation, network geometry (radii, Murray's law, density),
reproducibility and the contrast of every rendering style."""
from __future__ import annotations

import numpy as np
import pytest
from bbbcore.vessels import phantoms as P
from bbbcore.vessels.phantoms import (
    MODALITIES,
    random_modality_phantoms,
    vessel_phantom,
)
from scipy import ndimage

SHAPE = (32, 48, 48)


def _grid_um(shape, vs):
    vs = np.broadcast_to(np.asarray(vs, dtype=np.float64), (3,))
    return np.meshgrid(*(np.arange(n) * v for n, v in zip(shape, vs)), indexing="ij")


# ------------------------------------------------------------------------------ rasterisation
def test_axis_aligned_capsule_equals_analytic_set():
    # cylinder z in [5, 15] µm around (y, x) = (10.5, 9) with radius 3.3, plus two end spheres
    shape, r = (24, 20, 20), 3.3
    mask = P._rasterise_capsules(shape, [[5.0, 10.5, 9.0, 15.0, 10.5, 9.0, r, r]], 1.0)
    z, y, x = _grid_um(shape, 1.0)
    rho2 = (y - 10.5) ** 2 + (x - 9.0) ** 2
    ref = ((z >= 5) & (z <= 15) & (rho2 <= r * r)) | ((z - 5) ** 2 + rho2 <= r * r) \
        | ((z - 15) ** 2 + rho2 <= r * r)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    np.testing.assert_array_equal(mask, ref.astype(np.uint8))


def test_oblique_tapered_capsule_matches_brute_force():
    shape, vs = (20, 26, 30), (1.0, 0.8, 0.7)
    a, b, r0, r1 = np.array([3.2, 4.1, 5.3]), np.array([15.7, 16.2, 17.9]), 2.1, 3.7
    mask = P._rasterise_capsules(shape, [[*a, *b, r0, r1]], vs)
    p = np.stack(_grid_um(shape, vs), axis=-1)
    u = (b - a) / np.linalg.norm(b - a)
    s = (p - a) @ u                                     # arc length of the projection
    t = np.clip(s / np.linalg.norm(b - a), 0.0, 1.0)
    closest = a + t[..., None] * (b - a)
    dist = np.linalg.norm(p - closest, axis=-1)
    ref = dist <= r0 + t * (r1 - r0)
    assert ref.sum() > 200
    np.testing.assert_array_equal(mask.astype(bool), ref)


def test_voxel_centre_convention():
    # a sphere (degenerate segment) at (6, 4, 5) µm with radius 0.5: only the voxel centred there
    for vs, voxel in [(1.0, (6, 4, 5)), ((2.0, 1.0, 1.0), (3, 4, 5))]:
        mask = P._rasterise_capsules((10, 10, 10), [[6.0, 4.0, 5.0, 6.0, 4.0, 5.0, 0.5, 0.5]], vs)
        assert mask.sum() == 1 and mask[voxel] == 1


def test_anisotropic_voxels_keep_tubes_round_in_um():
    # a tube along X of radius 4.3 µm: its extent along Z and along Y is 2 r in µm, to within a
    # voxel, whatever the voxel size of each axis
    r = 4.3
    for vs in [(2.0, 0.5, 1.0), (0.5, 2.0, 1.0), (1.0, 1.0, 1.0)]:
        shape = tuple(int(np.ceil(30.0 / v)) for v in vs)
        mask = P._rasterise_capsules(shape, [[15.0, 15.0, 5.0, 15.0, 15.0, 25.0, r, r]], vs)
        for axis in (0, 1):
            idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
            extent_um = (idx[-1] - idx[0]) * vs[axis]
            assert 2 * r - 2 * vs[axis] <= extent_um <= 2 * r, (vs, axis, extent_um)


def test_network_volume_is_independent_of_the_grid():
    # the same segments rasterised on an isotropic and on an anisotropic grid of the same
    # physical box occupy the same volume in µm³ (to within the sampling error)
    _, _, info = vessel_phantom((24, 40, 40), 2, "ct", return_info=True)
    s = info["segments"]
    seg = np.column_stack([s["p0_um"], s["p1_um"], s["r0_um"], s["r1_um"]])
    vols = []
    for vs in [(0.5, 0.5, 0.5), (1.0, 0.5, 0.75)]:
        shape = tuple(round(e / v) + 1 for e, v in zip((23.0, 39.0, 39.0), vs))
        vols.append(P._rasterise_capsules(shape, seg, vs).sum() * np.prod(vs))
    assert vols[0] > 500
    assert abs(vols[1] - vols[0]) / vols[0] < 0.03


# ------------------------------------------------------------------------------ geometry
def test_reproducible_and_seed_dependent():
    a_img, a_mask = vessel_phantom(SHAPE, 7, "twophoton")
    b_img, b_mask = vessel_phantom(SHAPE, 7, "twophoton")
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_mask, b_mask)
    _, c_mask = vessel_phantom(SHAPE, 8, "twophoton")
    assert (a_mask != c_mask).mean() > 0.01


def test_mask_does_not_depend_on_modality():
    masks = [vessel_phantom(SHAPE, 4, m)[1] for m in MODALITIES]
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])


def test_mask_is_the_rasterised_network():
    _, mask, info = vessel_phantom(SHAPE, 3, "ct", voxel_size_um=(2.0, 1.0, 1.0), return_info=True)
    s = info["segments"]
    seg = np.column_stack([s["p0_um"], s["p1_um"], s["r0_um"], s["r1_um"]])
    np.testing.assert_array_equal(P._rasterise_capsules(SHAPE, seg, (2.0, 1.0, 1.0)), mask)
    assert info["volume_fraction"] == pytest.approx(mask.mean())


def test_volume_fraction_plausible_and_controlled_by_density():
    fracs = {0.5: [], 1.0: [], 2.0: []}
    for seed in range(5):
        for d, values in fracs.items():
            _, mask = vessel_phantom(SHAPE, seed, "ct", density=d)
            assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
            values.append(mask.mean())
    assert all(0.005 <= f <= 0.15 for f in fracs[1.0]), fracs[1.0]
    assert np.mean(fracs[0.5]) < np.mean(fracs[1.0]) < np.mean(fracs[2.0])


def test_default_volume_fraction_and_radii():
    # default size, 1 µm voxels: blood-volume-like fraction, capillaries up to arterioles
    _, mask, info = vessel_phantom(seed=0, modality="ct", return_info=True)
    assert mask.shape == (64, 128, 128)
    assert 0.02 <= mask.mean() <= 0.08
    r = np.concatenate([info["segments"]["r0_um"], info["segments"]["r1_um"]])
    assert r.min() >= 2.0 and r.max() <= 10.0
    assert np.mean(r < 3.0) > 0.3 and r.max() > 5.0
    assert info["n_trees"] >= 1 and len(info["bifurcations"]["parent_branch"]) > 0


@pytest.mark.parametrize("radius_range_um", [None, (1.5, 4.0)])
def test_radii_in_range_and_murray_at_bifurcations(radius_range_um):
    lo, hi = radius_range_um or P.DEFAULT_RADIUS_RANGE_UM
    n_bif = 0
    for seed in range(4):
        _, _, info = vessel_phantom(SHAPE, seed, "ct", radius_range_um=radius_range_um,
                                    return_info=True)
        s, bif = info["segments"], info["bifurcations"]
        assert np.all((s["r0_um"] >= lo) & (s["r0_um"] <= hi))
        assert np.all((s["r1_um"] >= lo) & (s["r1_um"] <= hi))
        br = s["branch"]
        for k, parent in enumerate(bif["parent_branch"]):
            last = np.flatnonzero(br == parent)[-1]
            firsts = [np.flatnonzero(br == c)[0] for c in bif["child_branches"][k]]
            rp, rc = s["r1_um"][last], s["r0_um"][firsts]
            assert rp ** 3 == pytest.approx(np.sum(rc ** 3), rel=1e-9)      # Murray's law
            assert rc.max() < rp                                             # both thinner
            for f in firsts:                                                 # joined
                np.testing.assert_allclose(s["p0_um"][f], s["p1_um"][last], atol=1e-12)
            np.testing.assert_allclose(bif["parent_radius_um"][k], rp)
            np.testing.assert_allclose(np.sort(bif["child_radius_um"][k]), np.sort(rc))
            assert info["branch_parent"][bif["child_branches"][k]].tolist() == [parent, parent]
            n_bif += 1
    assert n_bif >= 4


# ------------------------------------------------------------------------------ rendering
def _noise_sd(img, far):
    """Noise SD from neighbour differences along X in the background far from vessels."""
    d = (img[:, :, 1:] - img[:, :, :-1])[far[:, :, 1:] & far[:, :, :-1]]
    return float(d.std() / np.sqrt(2.0))


@pytest.mark.parametrize("modality", MODALITIES)
def test_vessels_brighter_than_background_by_several_noise_sd(modality):
    # documented contrast: vessels brighter in every modality
    for seed, vs in [(0, 1.0), (1, (2.0, 1.0, 1.0)), (2, 0.8)]:
        img, mask = vessel_phantom(SHAPE, seed, modality, voxel_size_um=vs)
        assert img.dtype == np.float32 and img.shape == SHAPE and np.isfinite(img).all()
        assert img.min() >= 0.0 and img.max() <= 1.0
        inside = mask.astype(bool)
        far = ~ndimage.binary_dilation(inside, iterations=2)
        diff = img[inside].mean() - img[~inside].mean()
        assert diff > 3.0 * _noise_sd(img, far), (seed, diff, _noise_sd(img, far))
        assert diff > 2.0 * img[far].std()


def test_twophoton_deeper_planes_darker():
    # 2 µm z-steps over 64 µm: attenuation exp(-z/L), L = 60–150 µm. Vessel brightness varies
    # from vessel to vessel, so the comparison is pooled over seeds.
    diffs, bg = [], []
    for seed in range(8):
        img, mask = vessel_phantom(SHAPE, seed, "twophoton", voxel_size_um=(2.0, 1.0, 1.0))
        m = mask.astype(bool)
        top, bottom = (slice(0, 8), slice(-8, None))
        if m[top].sum() > 50 and m[bottom].sum() > 50:
            diffs.append(img[top][m[top]].mean() - img[bottom][m[bottom]].mean())
        bg.append(img[top][~m[top]].mean() - img[bottom][~m[bottom]].mean())
    assert len(diffs) >= 4 and np.mean(diffs) > 0.1
    assert np.mean(bg) > 0 and np.mean(np.array(bg) > 0) >= 0.75


def test_hrem_glow_is_one_sided_along_plus_z():
    # plane k collects light from the planes beneath it (k + j): the background just before a
    # vessel (3 planes above it) is brighter than just after it (3 planes below it)
    for seed in range(3):
        img, mask = vessel_phantom(SHAPE, seed, "hrem")
        m = mask.astype(bool)
        before = ~m[:-3] & m[3:]
        after = ~m[3:] & m[:-3]
        assert img[:-3][before].mean() > img[3:][after].mean() + 0.02


def test_info_contents():
    *_, info = vessel_phantom(SHAPE, 1, "lightsheet", voxel_size_um=(2, 1, 1), return_info=True)
    assert info["modality"] == "lightsheet" and info["voxel_size_um"] == (2.0, 1.0, 1.0)
    assert info["render"]["illumination_axis"] in (1, 2)
    assert len(info["branch_parent"]) == len(info["branch_structure"]) == info["segments"][
        "branch"].max() + 1
    assert info["n_trees"] + info["n_internal"] == len(info["structure_kind"])
    br = info["segments"]["branch"]                 # segments of a branch are contiguous
    assert len(np.unique(br)) == np.count_nonzero(np.r_[True, br[1:] != br[:-1]])


def test_random_modality_phantoms_balanced_and_reproducible():
    shape = (16, 24, 24)
    items = list(random_modality_phantoms(6, shape, seed=5, modalities=("ct", "hrem", "twophoton")))
    again = list(random_modality_phantoms(6, shape, seed=5, modalities=("ct", "hrem", "twophoton")))
    mods = [m for _, _, m in items]
    assert sorted(mods) == ["ct", "ct", "hrem", "hrem", "twophoton", "twophoton"]
    for (i1, m1, s1), (i2, m2, s2) in zip(items, again):
        assert s1 == s2
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(m1, m2)
    for img, mask, _ in items:
        assert img.shape == mask.shape == shape and img.dtype == np.float32
        assert mask.dtype == np.uint8
    assert list(random_modality_phantoms(0, shape, seed=0)) == []


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, match", [
    ({"shape": (16, 16)}, r"vessel_phantom: shape must be 3 integers >= 8 \(Z, Y, X\), got \(16, 16\)"),
    ({"shape": (16, 16, 4)}, r"vessel_phantom: shape must be 3 integers >= 8"),
    ({"shape": (16.0, 16, 16)}, r"vessel_phantom: shape must be 3 integers >= 8"),
    ({"modality": "mri"}, (r"vessel_phantom: modality must be one of 'twophoton', 'ct', 'hrem', "
                           r"'lightsheet', got 'mri'")),
    ({"seed": -1}, r"vessel_phantom: seed must be an integer in \[0, 2\^63\), got -1"),
    ({"voxel_size_um": 0.0}, (r"vessel_phantom: voxel_size_um must be a finite number > 0 µm or 3 "
                              r"of them \(Z, Y, X\), got 0.0")),
    ({"voxel_size_um": (1.0, 1.0)}, r"voxel_size_um must be a finite number > 0 µm"),
    ({"voxel_size_um": (1.0, float("nan"), 1.0)}, r"voxel_size_um must be a finite number > 0"),
    ({"density": 0.0}, r"vessel_phantom: density must be a finite number in \(0, 4\], got 0.0"),
    ({"density": 5.0}, r"density must be a finite number in \(0, 4\], got 5.0"),
    ({"density": True}, r"density must be a finite number in \(0, 4\], got True"),
    ({"radius_range_um": (3.0, 2.0)}, (r"vessel_phantom: radius_range_um must be None or "
                                       r"\(min, max\) with 0 < min <= max µm, got \(3.0, 2.0\)")),
    ({"radius_range_um": (0.0, 2.0)}, r"radius_range_um must be None or \(min, max\)"),
    ({"radius_range_um": 5.0}, r"radius_range_um must be None or \(min, max\)"),
])
def test_bad_input(kwargs, match):
    args = {"shape": (16, 16, 16), "seed": 0, "modality": "ct"} | kwargs
    with pytest.raises(ValueError, match=match):
        vessel_phantom(**args)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": -1}, r"random_modality_phantoms: n must be an integer >= 0, got -1"),
    ({"modalities": ("ct", "mri")}, (r"random_modality_phantoms: modalities must be a non-empty "
                                     r"sequence of 'twophoton', 'ct', 'hrem', 'lightsheet'")),
    ({"modalities": ()}, r"modalities must be a non-empty sequence"),
    ({"shape": (4, 16, 16)}, r"random_modality_phantoms: shape must be 3 integers >= 8"),
    ({"density_range": (2.0, 1.0)}, (r"random_modality_phantoms: density_range must be "
                                     r"\(min, max\) with 0 < min <= max <= 4, got \(2.0, 1.0\)")),
])
def test_random_modality_phantoms_bad_input(kwargs, match):
    args = {"n": 2, "shape": (16, 16, 16), "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        random_modality_phantoms(**args)        # raised at the call, not at the first item
