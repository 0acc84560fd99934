"""bbbcore.vessels.analysis on synthetic tubes with known radius, length and branching."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from bbbcore.vessels import analysis as A
from skimage.measure import euler_number, label


def cylinder(shape, r_um, voxel_um, axis_zy_um):
    """Voxels whose centres lie within r_um of the line {(z, y) = axis_zy_um} along x."""
    z = np.arange(shape[0])[:, None, None] * voxel_um[0]
    y = np.arange(shape[1])[None, :, None] * voxel_um[1]
    d2 = (z - axis_zy_um[0]) ** 2 + (y - axis_zy_um[1]) ** 2
    return np.broadcast_to(d2 <= r_um ** 2, shape).copy()


def tube(shape, a, b, r, voxel_um=1.0):
    """Capsule: voxels within r [µm] of the segment a-b (points in µm)."""
    sp = np.broadcast_to(np.asarray(voxel_um, float), (len(shape),))
    g = np.indices(shape).reshape(len(shape), -1).T * sp
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.clip(((g - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    return (np.linalg.norm(g - (a + t[:, None] * (b - a)), axis=1) <= r).reshape(shape)


def central_radius(stats, lo_um, hi_um):
    x = np.argwhere(stats.skeleton)[:, -1] * stats.voxel_size_um[-1]
    keep = (x > lo_um) & (x < hi_um)
    assert keep.sum() >= 10
    return float(stats.radius_um[keep].mean())


# ------------------------------------------------------------------ radius

@pytest.mark.parametrize("r", [3, 5])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.5, 0.5), (0.5, 0.0), (0.3, 0.2)])
def test_cylinder_radius_within_half_a_voxel(r, offset):
    n = 2 * r + 9
    c = (n - 1) / 2
    m = cylinder((n, n, 40), r, (1.0, 1.0, 1.0), (c + offset[0], c + offset[1]))
    s = A.vessel_stats(m)
    assert s.n_segments == 1 and s.n_end_points == 2
    assert abs(central_radius(s, r + 2, 40 - r - 2) - r) < 0.5


@pytest.mark.parametrize("voxel, r_um", [((2.0, 1.0, 1.0), 5.0), ((1.5, 0.75, 0.75), 4.0)])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.5, 0.5), (0.3, 0.2)])
def test_cylinder_radius_anisotropic_voxels(voxel, r_um, offset):
    shape = (int(2 * r_um / voxel[0]) + 6, int(2 * r_um / voxel[1]) + 8, 44)
    cz = ((shape[0] - 1) / 2 + offset[0]) * voxel[0]
    cy = ((shape[1] - 1) / 2 + offset[1]) * voxel[1]
    s = A.vessel_stats(cylinder(shape, r_um, voxel, (cz, cy)), voxel_size_um=voxel)
    length = 44 * voxel[2]
    # half of the lateral voxel side
    assert abs(central_radius(s, r_um + 2, length - r_um - 2) - r_um) < 0.5 * voxel[1]


# ------------------------------------------------------------------ length and graph

def test_straight_tube_length():
    # capsule with its axis from x = 8 to x = 40 voxels: 32 voxels = 16 µm at 0.5 µm
    m = tube((16, 16, 48), (3.75, 3.75, 4.0), (3.75, 3.75, 20.0), 1.5, voxel_um=0.5)
    s = A.vessel_stats(m, voxel_size_um=0.5)
    assert s.n_segments == 1 and s.n_branch_points == 0 and s.n_end_points == 2
    assert abs(s.total_length_um - 16.0) <= 1.0                      # tips within 1 voxel each
    # the same tube at 45° in the (y, x) plane: sqrt(2) * 21 voxels
    d = A.vessel_stats(tube((12, 40, 40), (6, 5, 5), (6, 26, 26), 2.5))
    assert d.n_segments == 1
    assert abs(d.total_length_um - 21 * np.sqrt(2)) <= 2.0
    # lengths are in µm: halving the x voxel size halves a tube along x
    half = A.vessel_stats(m, voxel_size_um=(0.5, 0.5, 0.25))
    assert half.total_length_um == pytest.approx(s.total_length_um / 2)


def test_y_shaped_tube_graph():
    vs = (1.0, 0.8, 0.8)
    shape = (14, 50, 50)
    c = np.array([7.0, 20.0, 20.0])
    m = np.zeros(shape, bool)
    for ang in (90, 210, 330):
        end = c + np.array([0, 14 * np.sin(np.radians(ang)), 14 * np.cos(np.radians(ang))])
        m |= tube(shape, c, end, 2.5, vs)
    s = A.vessel_stats(m, voxel_size_um=vs)
    assert (s.n_branch_points, s.n_end_points, s.n_segments) == (1, 3, 3)
    g = s.graph
    assert g.number_of_nodes() == 4 and g.number_of_edges() == 3
    kinds = sorted(d["kind"] for _, d in g.nodes(data=True))
    assert kinds == ["end", "end", "end", "junction"]
    (j,) = [n for n, d in g.nodes(data=True) if d["kind"] == "junction"]
    assert g.degree(j) == 3
    np.testing.assert_allclose(g.nodes[j]["coord_um"], c, atol=1.7)
    lengths = [d["length_um"] for *_, d in g.edges(data=True)]
    assert sum(lengths) == pytest.approx(s.total_length_um)
    for length in lengths:                                           # arms of 14 µm, tips ~r short
        assert 10.0 < length < 15.5
    seg = s.segments
    assert {"branch_distance", "mean_radius_um", "in_junction", "node_src"} <= set(seg.columns)
    assert np.all(np.abs(seg["mean_radius_um"] - 2.5) < 0.6)
    assert s.mean_radius_um == pytest.approx(s.radius_um.mean())
    counts, edges = s.radius_histogram
    assert counts.sum() == s.skeleton.sum() and edges.size == 21


def test_prune_removes_short_spur():
    m = tube((14, 14, 50), (7, 7, 5), (7, 7, 45), 2.5) | tube((14, 14, 50), (7, 7, 25), (7, 12.5, 25), 1.0)
    s = A.vessel_stats(m)
    assert (s.n_branch_points, s.n_segments) == (1, 3)
    p = A.vessel_stats(m, prune_um=6.0)
    assert (p.n_branch_points, p.n_end_points, p.n_segments) == (0, 2, 1)
    assert p.total_length_um == pytest.approx(40.0, abs=1.5)


def test_two_dimensional_y():
    c = np.array([22.0, 22.0])
    m = np.zeros((44, 44), bool)
    for ang in (90, 210, 330):
        m |= tube(m.shape, c, c + 18 * np.array([np.sin(np.radians(ang)), np.cos(np.radians(ang))]), 2.5)
    s = A.vessel_stats(torch.from_numpy(m))
    assert (s.n_branch_points, s.n_end_points, s.n_segments) == (1, 3, 3)


# ------------------------------------------------------------------ empty and bad input

def test_empty_mask_and_specks():
    s = A.vessel_stats(np.zeros((8, 9, 10), bool), voxel_size_um=(2, 1, 1))
    assert s.skeleton.shape == (8, 9, 10) and not s.skeleton.any()
    assert (s.total_length_um, s.n_branch_points, s.n_end_points, s.n_segments) == (0.0, 0, 0, 0)
    assert len(s.segments) == 0 and "mean_radius_um" in s.segments.columns
    assert s.graph.number_of_nodes() == 0 and s.radius_um.size == 0
    assert s.volume_fraction == 0.0 and np.isnan(s.mean_radius_um)
    assert s.radius_histogram[0].sum() == 0
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["mean_radius_um"] is None and d["voxel_size_um"] == [2.0, 1.0, 1.0]
    specks = np.zeros((10, 10, 10), np.uint8)
    specks[2, 2, 2] = specks[6, 6, 6] = 1
    t = A.vessel_stats(specks)
    assert t.n_segments == 0 and t.skeleton.sum() == 2 and t.volume_fraction == pytest.approx(0.002)


def test_to_dict_is_json():
    m = tube((10, 10, 30), (5, 5, 4), (5, 5, 26), 2.0)
    d = json.loads(json.dumps(A.vessel_stats(m, bins=5).to_dict(), allow_nan=False))
    assert d["n_segments"] == 1 and len(d["radius_histogram"]["counts"]) == 5
    assert len(d["radius_histogram"]["edges_um"]) == 6 and d["total_length_um"] > 15


def test_bad_input_messages():
    m = np.zeros((6, 6, 6), np.uint8)
    with pytest.raises(ValueError, match=r"vessel_stats: mask must be binary .*values in \[0, 3\]"):
        A.vessel_stats(m + 3 * (np.arange(6) == 2))
    with pytest.raises(ValueError, match=r"vessel_stats: mask must be a 2D \(Y, X\) or 3D \(Z, Y, X\)"):
        A.vessel_stats(np.zeros((2, 3, 4, 5), bool))
    with pytest.raises(ValueError, match=r"vessel_stats: voxel_size_um must be a finite number > 0 µm"):
        A.vessel_stats(m, voxel_size_um=-1.0)
    with pytest.raises(ValueError, match=r"vessel_stats: voxel_size_um must be a number > 0 or 3 numbers"):
        A.vessel_stats(m, voxel_size_um=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"vessel_stats: bins must be an integer >= 1, got 0"):
        A.vessel_stats(m, bins=0)
    with pytest.raises(ValueError, match=r"vessel_stats: prune_um must be a finite number >= 0 µm"):
        A.vessel_stats(m, prune_um=-2)
    with pytest.raises(ValueError, match=r"plot_vessel_stats: stats must be a VesselStats, got dict"):
        A.plot_vessel_stats({})


# ------------------------------------------------------------------ skeletonize

@pytest.mark.parametrize("cross_section", [(2, 1), (2, 2), (4, 4)])
def test_even_width_bars_keep_their_centreline(cross_section):
    # scikit-image 0.26's 3D thinning deletes these entirely (issue #3757)
    m = np.zeros((8, 8, 24), bool)
    m[2:2 + cross_section[0], 2:2 + cross_section[1], 2:22] = True
    sk = A.skeletonize(m)
    xs = np.unique(np.argwhere(sk)[:, 2])
    assert xs.min() <= 4 and xs.max() >= 19


def test_skeletonize_preserves_topology_and_is_thin():
    from skimage.data import binary_blobs

    for seed in range(3):
        b = binary_blobs(40, blob_size_fraction=0.25, n_dim=3, volume_fraction=0.3, rng=seed)
        sk = A.skeletonize(b)
        assert not (sk & ~b).any()
        assert label(sk, connectivity=3).max() == label(b, connectivity=3).max()
        assert euler_number(sk, connectivity=3) == euler_number(b, connectivity=3)
        assert np.array_equal(A.skeletonize(sk), sk)                  # nothing left to thin
        assert sk.sum() < 0.05 * b.sum()


# ------------------------------------------------------------------ plot

def test_plot_vessel_stats_writes_png_and_refuses_to_overwrite(tmp_path):
    s = A.vessel_stats(tube((10, 16, 30), (5, 8, 4), (5, 8, 26), 2.5), voxel_size_um=(2.0, 0.5, 0.5))
    out = tmp_path / "stats.png"
    fig = A.plot_vessel_stats(s, out)
    assert len(fig.axes) >= 4
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError, match="stats.png exists"):
        A.plot_vessel_stats(s, out)
    A.plot_vessel_stats(s, out, overwrite=True)
    A.plot_vessel_stats(A.vessel_stats(np.zeros((5, 6), bool)), tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        A.plot_vessel_stats(s, tmp_path / "missing" / "x.png")
