"""Rendering of ``simulate_movies`` against paper eq. (1) (:func:`render_static_ref`).

With D = 0, no drift and :meth:`NoiseConfig.expected`, every frame of a movie is the static PSF
sum of eq. (1). Tolerances (float32 kernel vs float64 reference): rtol = 1e-5 (float32 rounding
of ~N additions onto a background of ~100 counts) and atol = 1e-3 counts + N·render_tol (each
skipped contribution is below render_tol expected counts).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bbbcore.reference import render_static_ref, simulate_2pm_ref
from bbbcore.twophoton import NoiseConfig, PSFConfig, ScanConfig, default_box_um, simulate_movies

RTOL, ATOL = 1e-5, 1e-3


def _positions(scan: ScanConfig, psf: PSFConfig, B: int, N: int, n_focus: int, seed: int):
    """Random positions in the default box, the first ``n_focus`` of each movie in focus over
    the field of view (so the movie is not just background)."""
    g = torch.Generator().manual_seed(seed)
    box = torch.as_tensor(default_box_um(scan, psf))
    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    pos = box[:, 0] + rand(B, N, 3) * (box[:, 1] - box[:, 0])
    fy, fx = scan.fov_um
    pos[:, :n_focus, 0] = (rand(B, n_focus) - 0.5) * psf.sigma_z_um
    pos[:, :n_focus, 1] = rand(B, n_focus) * fy
    pos[:, :n_focus, 2] = rand(B, n_focus) * fx
    return pos


def _expected(truth, psf: PSFConfig, noise: NoiseConfig, scan: ScanConfig) -> np.ndarray:
    """render_static_ref of the particles the simulator reports (float32 positions as used)."""
    sxy = truth["sigma_xy_um"].cpu().numpy()
    sz = truth["sigma_z_um"].cpu().numpy()
    amp = psf.peak(noise.brightness, sxy, sz)[:, None] * truth["brightness"].cpu().numpy()
    return render_static_ref(truth["positions0_um"].cpu().double().numpy(), amp,
                             np.stack([sxy, sz], axis=1), scan.rows, scan.cols, scan.pixel_size_um,
                             noise.background)


def _assert_static(movies: torch.Tensor, expected: np.ndarray, atol: float):
    m = movies.cpu().double().numpy()
    assert m.shape[0] == expected.shape[0] and m.shape[2:] == expected.shape[1:]
    for f in range(m.shape[1]):
        np.testing.assert_allclose(m[:, f], expected, rtol=RTOL, atol=atol, err_msg=f"frame {f}")


@pytest.mark.parametrize("render_tol", [1e-4, 0.0])
@pytest.mark.parametrize("normalization,bidirectional,brightness_cv", [
    ("3d", False, 0.0), ("2d", False, 0.0), ("3d", True, 0.3), ("2d", True, 0.0)])
def test_static_movie_matches_reference(normalization, bidirectional, brightness_cv, render_tol,
                                        device):
    scan = ScanConfig(frames=3, rows=9, cols=11, pixel_size_um=0.2, bidirectional=bidirectional)
    psf = PSFConfig(normalization=normalization)
    preset = NoiseConfig.paper if normalization == "3d" else NoiseConfig.paper_code
    noise = preset(shot=False, read_sigma=0.0)
    B, N = 3, 40
    pos = _positions(scan, psf, B, N, n_focus=8, seed=17)
    movies, truth = simulate_movies(B, 0.0, scan=scan, psf=psf, noise=noise, positions_um=pos,
                                    brightness_cv=brightness_cv, render_tol=render_tol, seed=5,
                                    device=device)
    assert movies.shape == (B, 3, 9, 11) and movies.dtype == torch.float32
    assert movies.device.type == device
    expected = _expected(truth, psf, noise, scan)
    assert expected.max() > noise.background + 20          # particles in focus are visible
    _assert_static(movies, expected, ATOL + N * render_tol)


def _drift_reference(truth, scan, psf, noise, drift, boundary, bidirectional):
    B = truth["n_particles"].shape[0]
    sxy, sz = truth["sigma_xy_um"].cpu().numpy(), truth["sigma_z_um"].cpu().numpy()
    return simulate_2pm_ref(
        truth["positions0_um"].cpu().double().numpy(), truth["n_particles"].cpu().numpy(),
        np.zeros((B, 3)), np.repeat(drift, B, 0), np.stack([sxy, sz], 1),
        psf.peak(noise.brightness, sxy, sz)[:, None] * truth["brightness"].cpu().numpy(),
        truth["bleach_time_s"].cpu().numpy(), frames=scan.frames, rows=scan.rows, cols=scan.cols,
        pixel_size_um=scan.pixel_size_um, dwell_s=scan.dwell_s,
        line_retrace_s=scan.line_retrace_ms * 1e-3, frame_retrace_s=scan.frame_retrace_ms * 1e-3,
        bidirectional=bidirectional, box_um=truth["box_um"], boundary=boundary,
        background=noise.background, read_sigma=0.0, shot=False)


@pytest.mark.parametrize("render_tol", [1e-4, 0.0])
@pytest.mark.parametrize("boundary", ["free", "periodic"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_drifting_scene_matches_reference(bidirectional, boundary, render_tol, device):
    """D = 0 with a fast drift is deterministic: each pixel sees the particles where they are at
    that pixel's own time (motion blur, scan direction). Kernel vs :func:`simulate_2pm_ref`;
    tolerances: float32 accumulation of ~10³ steps (trajectories 1e-4 µm, movies 0.02 counts
    + N·render_tol)."""
    scan = ScanConfig(frames=4, rows=8, cols=8, dwell_us=500.0, bidirectional=bidirectional)
    psf, noise = PSFConfig(), NoiseConfig.expected()
    B, N = 3, 12
    pos = _positions(scan, psf, B, N, n_focus=6, seed=3)
    drift = np.array([[0.0, 5.0, 50.0]])           # 0.2 µm along x during one 8-pixel row
    movies, truth = simulate_movies(B, 0.0, drift_um_s=drift, scan=scan, psf=psf, noise=noise,
                                    positions_um=pos, boundary=boundary, render_tol=render_tol,
                                    return_trajectories=True, seed=1, device=device)
    ref, ref_traj = _drift_reference(truth, scan, psf, noise, drift, boundary, bidirectional)
    np.testing.assert_allclose(truth["trajectories_um"].cpu().double().numpy(), ref_traj,
                               rtol=0, atol=1e-4)
    np.testing.assert_allclose(movies.cpu().double().numpy(), ref, rtol=RTOL,
                               atol=0.02 + N * render_tol)
    # the scan direction matters here, so the comparison above checks it
    other, _ = _drift_reference(truth, scan, psf, noise, drift, boundary, not bidirectional)
    assert np.abs(other - ref).max() > 5.0


def test_reflecting_box_refuses_drift():
    """Folding a step into a reflecting box is exact only without drift: refused, not approximated."""
    scan = ScanConfig(frames=2, rows=4, cols=4)
    with pytest.raises(ValueError, match="simulate_movies: drift_um_s must be 0 with boundary='reflecting'"):
        simulate_movies(1, 0.1, drift_um_s=(0.0, 0.0, 5.0), scan=scan, boundary="reflecting")
    movies, _ = simulate_movies(1, 0.1, drift_um_s=0.0, scan=scan, boundary="reflecting")
    assert movies.shape == (1, 2, 4, 4)


def test_reference_is_sensitive_to_the_psf_normalisation():
    """Guard: the two normalisations give different movies, so the test above tells them apart."""
    scan = ScanConfig(frames=1, rows=6, cols=6)
    pos = _positions(scan, PSFConfig(), 2, 10, n_focus=4, seed=1)
    noise = NoiseConfig.expected()
    m3, t3 = simulate_movies(2, 0.0, scan=scan, psf=PSFConfig(normalization="3d"), noise=noise,
                             positions_um=pos)
    expected_2d = _expected(t3, PSFConfig(normalization="2d"), noise, scan)
    assert np.abs(m3[:, 0].double().numpy() - expected_2d).max() > 1.0


def test_padded_particles_do_not_render(device):
    """Movies with fewer particles than the padded width N: the empty slots add nothing."""
    scan = ScanConfig(frames=2, rows=8, cols=8)
    psf = PSFConfig()
    noise = NoiseConfig.expected()
    # a thin box around the field of view: every slot, padded or not, is visible when rendered
    box = [[-0.3, 0.3], [-0.2, 1.6], [-0.2, 1.6]]
    movies, truth = simulate_movies(6, 0.0, scan=scan, psf=psf, noise=noise, density_per_um3=3.0,
                                    box_um=box, boundary="periodic", seed=3, device=device)
    counts = truth["n_particles"].cpu().numpy()
    N = truth["positions0_um"].shape[1]
    assert counts.min() < N, counts                        # some movies are padded
    slot = np.arange(N)[None, :] < counts[:, None]
    assert np.all(truth["brightness"].cpu().numpy()[~slot] == 0)
    expected = _expected(truth, psf, noise, scan)
    _assert_static(movies, expected, ATOL + N * 1e-4)
    # the same scene with the padded slots drawn differs: the check above can fail
    everyone = dict(truth, brightness=torch.ones_like(truth["brightness"]))
    assert np.abs(_expected(everyone, psf, noise, scan) - expected).max() > 1.0


def test_explicit_particle_counts_pad_and_render(device):
    scan = ScanConfig(frames=1, rows=7, cols=7)
    noise = NoiseConfig.expected()
    movies, truth = simulate_movies(3, 0.0, scan=scan, noise=noise, n_particles=[0, 5, 2],
                                    box_um=[[-0.5, 0.5], [0, 1.2], [0, 1.2]], seed=8, device=device)
    assert truth["n_particles"].tolist() == [0, 5, 2]
    assert truth["positions0_um"].shape == (3, 5, 3)
    expected = _expected(truth, PSFConfig(), noise, scan)
    _assert_static(movies, expected, ATOL + 5 * 1e-4)
    assert torch.all(movies[0] == noise.background)


def test_empty_batch(device):
    movies, truth = simulate_movies(0, 0.5, scan=ScanConfig(frames=2, rows=3, cols=4),
                                    device=device, return_trajectories=True)
    assert movies.shape == (0, 2, 3, 4) and movies.device.type == device
    assert truth["n_particles"].shape == (0,) and truth["trajectories_um"].shape[0] == 0


def test_size_one_movie(device):
    scan = ScanConfig(frames=1, rows=1, cols=1)
    noise = NoiseConfig.expected()
    pos = torch.tensor([[[0.1, 0.05, -0.1], [0.0, 3.0, 0.0]]], dtype=torch.float64)
    movies, truth = simulate_movies(1, 0.0, scan=scan, noise=noise, positions_um=pos,
                                    box_um=[[-5, 5], [-5, 5], [-5, 5]], device=device)
    assert movies.shape == (1, 1, 1, 1)
    expected = _expected(truth, PSFConfig(), noise, scan)
    assert expected[0, 0, 0] > noise.background + 10
    np.testing.assert_allclose(movies[0, 0].cpu().double().numpy(), expected[0],
                               rtol=RTOL, atol=ATOL)
    # with noise a size-1 movie is still a draw around the expected value
    noisy, _ = simulate_movies(1, 0.0, scan=scan, positions_um=pos, box_um=[[-5, 5]] * 3,
                               device=device)
    assert noisy.shape == (1, 1, 1, 1) and torch.isfinite(noisy).all()


@pytest.mark.parametrize("D", [0.0, 1.0])
def test_zero_particles_give_background(D, device):
    noise = NoiseConfig.expected(background=37.5)
    movies, truth = simulate_movies(2, D, scan=ScanConfig(frames=3, rows=4, cols=5), noise=noise,
                                    n_particles=0, device=device, return_trajectories=True)
    assert movies.shape == (2, 3, 4, 5)
    assert torch.all(movies == 37.5)
    assert truth["trajectories_um"].shape == (2, 0, 3, 3)
