"""Physics, statistics, reproducibility and argument checking of :func:`simulate_movies`.

Statistical checks compare an estimate with its expectation within 5 standard errors (stated at
each assertion); the inputs are seeded, so each test is deterministic.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import bbbcore._native
from bbbcore.ops import twophoton as op2pm
from bbbcore.reference import pixel_times_ref, render_static_ref, simulate_2pm_ref
from bbbcore.twophoton import NoiseConfig, PSFConfig, ScanConfig, simulate_movies

NO_JITTER = PSFConfig(jitter_xy_um=0.0, jitter_z_um=0.0)


def _static_scene(scan: ScanConfig, N: int, seed: int) -> torch.Tensor:
    """N particles near the focal plane over the field of view, (N, 3) float64 [µm]."""
    g = torch.Generator().manual_seed(seed)
    fy, fx = scan.fov_um
    pos = torch.rand(N, 3, generator=g, dtype=torch.float64)
    pos[:, 0] = (pos[:, 0] - 0.5) * 1.0
    pos[:, 1] = pos[:, 1] * fy
    pos[:, 2] = pos[:, 2] * fx
    return pos


def _expected_image(truth, psf: PSFConfig, noise: NoiseConfig, scan: ScanConfig) -> np.ndarray:
    sxy, sz = truth["sigma_xy_um"].cpu().numpy(), truth["sigma_z_um"].cpu().numpy()
    amp = psf.peak(noise.brightness, sxy, sz)[:, None] * truth["brightness"].cpu().numpy()
    return render_static_ref(truth["positions0_um"].cpu().double().numpy(), amp,
                             np.stack([sxy, sz], axis=1), scan.rows, scan.cols, scan.pixel_size_um,
                             noise.background)


# ------------------------------------------------------------------------------ random walk
@pytest.mark.parametrize("D,drift,render_tol", [
    (0.8, 0.0, 1e-4),                                       # isotropic, skipping renderer
    ((0.2, 0.5, 1.0), (0.0, 3.0, -2.0), 0.0),               # anisotropic with drift, every pixel
    ((0.0, 0.5, 1.5), (0.0, -4.0, 0.0), 1e-4),
])
def test_msd_equals_2Dt_and_mean_displacement_equals_vt(D, drift, render_tol):
    scan = ScanConfig(frames=16, rows=4, cols=4)
    B, N = 4, 3000
    movies, truth = simulate_movies(
        B, np.asarray(D, dtype=np.float64).reshape(1, -1) if np.ndim(D) else D, drift_um_s=(
            np.asarray(drift, dtype=np.float64).reshape(1, -1) if np.ndim(drift) else drift),
        scan=scan, n_particles=N, boundary="free", noise=NoiseConfig.expected(),
        render_tol=render_tol, return_trajectories=True, seed=21)
    Dv = np.broadcast_to(np.asarray(D, dtype=np.float64), (3,))
    vv = np.broadcast_to(np.asarray(drift, dtype=np.float64), (3,))
    assert tuple(truth["diffusivity_um2_s"].shape) == ((B,) if np.ndim(D) == 0 else (B, 3))
    traj = truth["trajectories_um"].double().numpy()
    assert traj.shape == (B, N, scan.frames, 3)
    np.testing.assert_array_equal(traj[:, :, 0], truth["positions0_um"].double().numpy())
    disp = (traj - traj[:, :, :1]).reshape(B * N, scan.frames, 3)
    n = B * N
    times = np.arange(scan.frames) * scan.frame_period_s
    for f in (1, 4, scan.frames - 1):
        t = times[f]
        d = disp[:, f]
        for a in range(3):
            if Dv[a] == 0:
                np.testing.assert_allclose(d[:, a], vv[a] * t, rtol=1e-4, atol=1e-5)
                continue
            var = 2 * Dv[a] * t
            mean = d[:, a].mean()
            assert abs(mean - vv[a] * t) < 5 * math.sqrt(var / n), (f, a, mean, vv[a] * t)
            msd = np.mean((d[:, a] - vv[a] * t) ** 2)          # SE of a Gaussian MSD: var·√(2/n)
            assert abs(msd / var - 1) < 5 * math.sqrt(2 / n), (f, a, msd, var)
    # frame-to-frame increments are iid N(v·T, 2·D·T): pooled over particles and frames the
    # variance is pinned to 5·√(2/m) ≈ 1.7 % (m = n·(T−1) increments)
    inc = np.diff(disp, axis=1)
    T_f = scan.frame_period_s
    m = inc.shape[0] * inc.shape[1]
    for a in range(3):
        if Dv[a] == 0:
            continue
        var = 2 * Dv[a] * T_f
        assert abs(inc[..., a].mean() - vv[a] * T_f) < 5 * math.sqrt(var / m)
        assert abs(np.mean((inc[..., a] - vv[a] * T_f) ** 2) / var - 1) < 5 * math.sqrt(2 / m)
    # increments over disjoint frame intervals are uncorrelated (Markov walk)
    corr = np.corrcoef(inc[:, 3, 2], inc[:, 8, 2])[0, 1]
    assert abs(corr) < 5 / math.sqrt(n)


@pytest.mark.parametrize("boundary", ["periodic", "reflecting"])
def test_box_boundaries_keep_particles_inside(boundary, device):
    scan = ScanConfig(frames=12, rows=4, cols=4)
    box = np.array([[-1.0, 1.0], [-0.5, 1.1], [-0.5, 1.1]])
    B, N = 2, 2000
    drift = (0.0, 40.0, -40.0) if boundary == "periodic" else 0.0
    _, truth = simulate_movies(B, 20.0, drift_um_s=drift, scan=scan, n_particles=N, box_um=box,
                               boundary=boundary, noise=NoiseConfig.expected(),
                               return_trajectories=True, seed=2, device=device)
    traj = truth["trajectories_um"].cpu().double().numpy()
    lo, hi = box[:, 0], box[:, 1]
    if boundary == "periodic":
        # trajectories are the unwrapped, continuous paths: increments are the free walk's
        # (drift·T, 2·D·T per axis), and wrapping them gives the positions inside the box
        T = scan.frame_period_s
        inc = np.diff(traj, axis=2).reshape(-1, 3)
        assert np.allclose(inc.mean(0), np.array(drift) * T, atol=5 * math.sqrt(2 * 20.0 * T / len(inc)))
        assert np.allclose(inc.var(0), 2 * 20.0 * T, rtol=0.05)
        assert np.mean((traj < lo) | (traj > hi)) > 0.2
        traj = lo + np.mod(traj - lo, hi - lo)
    assert np.all(traj >= lo - 1e-6) and np.all(traj <= hi + 1e-6)
    # uniform is the stationary distribution in either box: quarters hold 1/4 each
    last = traj[:, :, -1].reshape(-1, 3)
    n = last.shape[0]
    q = np.floor(4 * (last - lo) / (hi - lo)).clip(0, 3)
    for a in range(3):
        frac = np.bincount(q[:, a].astype(int), minlength=4) / n
        assert np.all(np.abs(frac - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n)), (a, frac)
    # the same walk without a box leaves it: the check above is not vacuous
    _, free = simulate_movies(B, 20.0, scan=scan, n_particles=N, box_um=box, boundary="free",
                              noise=NoiseConfig.expected(), return_trajectories=True, seed=2)
    ft = free["trajectories_um"].double().numpy()
    assert np.mean((ft < lo) | (ft > hi)) > 0.2


@pytest.mark.parametrize("boundary,drift", [("periodic", (0.0, 10.0, -10.0)),
                                            ("reflecting", (0.0, 0.0, 0.0))])
def test_kernel_matches_numpy_reference_statistically(boundary, drift):
    """Native fused kernel vs :func:`simulate_2pm_ref` (exact per-pixel-time walk) on the same
    inputs: per-pixel mean images and per-frame displacement moments agree within 5 SE."""
    scan = ScanConfig(frames=4, rows=6, cols=6, dwell_us=20.0, frame_retrace_ms=5.0,
                      bidirectional=True)
    psf = NO_JITTER
    noise = NoiseConfig(read_sigma=2.0)
    B, N = 400, 4
    pos = _static_scene(scan, N, seed=4).expand(B, N, 3)
    D, drift = np.array([[0.3, 0.5, 0.8]]), np.array([drift])
    box = [[-2.0, 2.0], [-0.5, 1.5], [-0.5, 1.5]]        # small: the walkers meet its walls
    movies, truth = simulate_movies(B, D, drift_um_s=drift, scan=scan, psf=psf, noise=noise,
                                    positions_um=pos, box_um=box, boundary=boundary,
                                    bleach_rate_per_s=3.0,
                                    return_trajectories=True, seed=6)
    sxy, sz = truth["sigma_xy_um"].numpy(), truth["sigma_z_um"].numpy()
    ref_movies, ref_traj = simulate_2pm_ref(
        truth["positions0_um"].double().numpy(), truth["n_particles"].numpy(), np.repeat(D, B, 0),
        np.repeat(drift, B, 0), np.stack([sxy, sz], 1),
        psf.peak(noise.brightness, sxy, sz)[:, None] * truth["brightness"].numpy(),
        truth["bleach_time_s"].numpy(), frames=scan.frames, rows=scan.rows, cols=scan.cols,
        pixel_size_um=scan.pixel_size_um, dwell_s=scan.dwell_s,
        line_retrace_s=scan.line_retrace_ms * 1e-3, frame_retrace_s=scan.frame_retrace_ms * 1e-3,
        bidirectional=scan.bidirectional, box_um=truth["box_um"], boundary=boundary,
        background=noise.background, read_sigma=noise.read_sigma, shot=noise.shot,
        rng=np.random.default_rng(6))
    k = movies.double().numpy()
    se = np.sqrt((k.var(0, ddof=1) + ref_movies.var(0, ddof=1)) / B)
    z = (k.mean(0) - ref_movies.mean(0)) / se
    assert np.abs(z).max() < 5, np.abs(z).max()
    assert ref_movies.mean() > noise.background + 1              # the scene is visible
    kt = truth["trajectories_um"].double().numpy()
    for f in range(1, scan.frames):
        a_ = (kt[:, :, f] - kt[:, :, 0]).reshape(-1, 3)
        b_ = (ref_traj[:, :, f] - ref_traj[:, :, 0]).reshape(-1, 3)
        n = a_.shape[0]
        zm = (a_.mean(0) - b_.mean(0)) / np.sqrt((a_.var(0) + b_.var(0)) / n)
        assert np.abs(zm).max() < 5, (f, zm)
        # SE of a sample variance from the fourth central moment
        se_v = np.sqrt((np.mean((a_ - a_.mean(0)) ** 4, 0) - a_.var(0) ** 2) / n
                       + (np.mean((b_ - b_.mean(0)) ** 4, 0) - b_.var(0) ** 2) / n)
        assert np.all(np.abs(a_.var(0) - b_.var(0)) < 5 * se_v), (f, a_.var(0), b_.var(0))


def test_numpy_reference_static_scene_is_eq1():
    """The reference simulator with D = 0 and no noise renders paper eq. (1) at every frame."""
    scan = ScanConfig(frames=2, rows=5, cols=4, bidirectional=True)
    pos = _static_scene(scan, 6, seed=1)[None].numpy()
    amp = np.full((1, 6), 30.0)
    sig = np.array([[0.22, 1.3]])
    movies, traj = simulate_2pm_ref(
        pos, [6], np.zeros((1, 3)), np.zeros((1, 3)), sig, amp, np.full((1, 6), np.inf),
        frames=2, rows=5, cols=4, pixel_size_um=0.2, dwell_s=8e-6, line_retrace_s=1e-3,
        frame_retrace_s=1e-2, bidirectional=True, box_um=[[-5, 5], [-5, 5], [-5, 5]],
        boundary="periodic", background=10.0, read_sigma=0.0, shot=False)
    static = render_static_ref(pos, amp, sig, 5, 4, 0.2, 10.0)
    for f in range(2):
        np.testing.assert_allclose(movies[:, f], static, rtol=1e-12)
        np.testing.assert_allclose(traj[:, :, f], pos, rtol=1e-12)
    assert static.max() > 20


# --------------------------------------------------------------------------- reproducibility
def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equality where NaN (padded trajectory slots) equals NaN."""
    return a.shape == b.shape and bool(torch.equal(torch.isnan(a), torch.isnan(b))) and torch.equal(
        torch.nan_to_num(a, nan=0.0), torch.nan_to_num(b, nan=0.0))


def test_padded_trajectory_slots_are_nan():
    _, truth = simulate_movies(4, 0.5, scan=ScanConfig(frames=3, rows=6, cols=6), density_per_um3=0.05,
                               return_trajectories=True, seed=8)
    counts, traj = truth["n_particles"], truth["trajectories_um"]
    assert int(counts.min()) < traj.shape[1]                     # some movie has padding
    for b in range(4):
        assert torch.isfinite(traj[b, :counts[b]]).all() and torch.isnan(traj[b, counts[b]:]).all()


def test_same_seed_same_movies_different_seed_different(device):
    kw = dict(scan=ScanConfig(frames=6, rows=8, cols=8), return_trajectories=True, device=device,
              brightness_cv=0.2, bleach_rate_per_s=1.0)
    a, ta = simulate_movies(3, 0.7, seed=99, **kw)
    b, tb = simulate_movies(3, 0.7, seed=99, **kw)
    assert torch.equal(a, b)
    for key in ("trajectories_um", "positions0_um", "n_particles", "sigma_xy_um", "brightness"):
        assert _same(ta[key], tb[key]), key
    c, tc = simulate_movies(3, 0.7, seed=100, **kw)
    assert c.shape == a.shape
    assert (c != a).double().mean() > 0.9
    assert not torch.equal(tc["sigma_xy_um"], ta["sigma_xy_um"])


def test_movie_offset_chunks_are_bitwise_identical(device):
    kw = dict(scan=ScanConfig(frames=5, rows=7, cols=7), return_trajectories=True, device=device,
              brightness_cv=0.3, bleach_rate_per_s=2.0, seed=1234)
    D = np.array([0.2, 0.6, 1.0, 1.4])
    full, tf = simulate_movies(4, D, **kw)
    first, t1 = simulate_movies(2, D[:2], movie_offset=0, **kw)
    second, t2 = simulate_movies(2, D[2:], movie_offset=2, **kw)
    assert torch.equal(torch.cat([first, second]), full)
    counts = tf["n_particles"].cpu()
    assert torch.equal(torch.cat([t1["n_particles"], t2["n_particles"]]).cpu(), counts)
    for b, (tc, i) in enumerate([(t1, 0), (t1, 1), (t2, 0), (t2, 1)]):
        n = int(counts[b])
        for key in ("trajectories_um", "positions0_um", "brightness", "bleach_time_s"):
            assert torch.equal(tc[key][i, :n], tf[key][b, :n]), (b, key)
        assert torch.equal(tc["sigma_xy_um"][i], tf["sigma_xy_um"][b])
    # a different offset is a different movie
    shifted, _ = simulate_movies(2, D[:2], movie_offset=1, **kw)
    assert not torch.equal(shifted, first)


# ------------------------------------------------------------------------------ detector noise
def _repeated_static(B, scan, noise, seed, psf=NO_JITTER, N=5):
    pos = _static_scene(scan, N, seed=seed).expand(B, N, 3)
    return simulate_movies(B, 0.0, scan=scan, psf=psf, noise=noise, positions_um=pos, seed=seed)


def test_shot_noise_is_poisson_around_the_expected_image():
    scan = ScanConfig(frames=50, rows=6, cols=6)
    B = 20
    noise = NoiseConfig(read_sigma=0.0, shot=True)
    movies, truth = _repeated_static(B, scan, noise, seed=3)
    lam = _expected_image(truth, NO_JITTER, noise, scan)
    assert np.allclose(lam, lam[0])                     # the same scene in every movie
    assert lam.max() > noise.background + 20
    lam = lam[0]
    x = movies.double().numpy().reshape(-1, scan.rows, scan.cols)          # B·T draws per pixel
    n = x.shape[0]
    assert np.all(x == np.round(x)) and np.all(x >= 0)
    mean, var = x.mean(0), x.var(0, ddof=1)
    assert np.abs((mean - lam) / np.sqrt(lam / n)).max() < 5
    assert np.abs((var - lam) / np.sqrt((2 * lam ** 2 + lam) / n)).max() < 5
    # pooled dispersion index Σvar/Σλ = 1
    se = math.sqrt(float(np.sum((2 * lam ** 2 + lam) / n))) / lam.sum()
    assert abs(var.sum() / lam.sum() - 1) < 5 * se


@pytest.mark.parametrize("shot", [False, True])
def test_read_noise_adds_read_sigma_squared(shot):
    scan = ScanConfig(frames=50, rows=6, cols=6)
    B, sigma = 20, 3.0
    noise = NoiseConfig(read_sigma=sigma, shot=shot)
    movies, truth = _repeated_static(B, scan, noise, seed=8)
    lam = _expected_image(truth, NO_JITTER, noise, scan)[0]
    x = movies.double().numpy().reshape(-1, scan.rows, scan.cols)
    n = x.shape[0]
    want = sigma ** 2 + (lam if shot else np.zeros_like(lam))  # per-pixel variance
    mean, var = x.mean(0), x.var(0, ddof=1)
    assert np.abs((mean - lam) / np.sqrt(want / n)).max() < 5
    # pooled over pixels: Σvar = Σ(λ·shot + σ²), SE from Var(s²) ≈ (2·v² + λ·shot)/n
    se = math.sqrt(float(np.sum((2 * want ** 2 + (lam if shot else 0.0)) / n)))
    assert abs(var.sum() - want.sum()) < 5 * se
    if not shot:
        assert not np.all(x == np.round(x))                    # Gaussian, not counts
        resid = (x - lam).reshape(-1)
        kurt = np.mean(resid ** 4) / np.mean(resid ** 2) ** 2 - 3
        assert abs(kurt) < 5 * math.sqrt(24 / resid.size)


# --------------------------------------------------------------------------- render skipping
def test_render_tol_skipping_is_statistically_invisible():
    """Mean images of render_tol = 1e-4 (skipping) and 0 (every pixel) agree within 5 SE + the
    skipping bound N·render_tol (paired by seed: same initial scene, independent walks after the
    first skipped draw)."""
    scan = ScanConfig(frames=10, rows=8, cols=8)
    B = 400
    res = {}
    for tol in (1e-4, 0.0):
        m, truth = simulate_movies(B, 0.5, scan=scan, noise=NoiseConfig.expected(),
                                   render_tol=tol, seed=4)
        res[tol] = m.double().mean(1).numpy()                    # per-movie mean image
    d = res[1e-4] - res[0.0]
    se = d.std(0, ddof=1) / math.sqrt(B)
    bound = 5 * se + float(truth["n_particles"].max()) * 1e-4
    assert np.all(np.abs(d.mean(0)) < bound), np.abs(d.mean(0) / se).max()
    assert res[0.0].mean() > 100.5                               # particles are seen


# ------------------------------------------------------------------------------- bleaching
def test_bleaching_decays_as_exp_minus_kt():
    scan = ScanConfig(frames=10, rows=5, cols=5)
    B, k = 2000, 5.0
    noise = NoiseConfig.expected()
    pos = torch.tensor([[[0.0, 0.4, 0.4]]], dtype=torch.float64).expand(B, 1, 3)
    movies, truth = simulate_movies(B, 0.0, scan=scan, psf=NO_JITTER, noise=noise, positions_um=pos,
                                    bleach_rate_per_s=k, seed=12)
    tb = truth["bleach_time_s"].numpy()[:, 0]
    assert abs(tb.mean() * k - 1) < 5 / math.sqrt(B)             # Exp(k): mean 1/k, SD 1/k
    excess = movies.double().numpy() - noise.background
    static = _expected_image(truth, NO_JITTER, noise, scan)[0] - noise.background
    t = pixel_times_ref(scan.frames, scan.rows, scan.cols, scan.dwell_s,
                        scan.line_retrace_ms * 1e-3, scan.frame_retrace_ms * 1e-3,
                        scan.bidirectional)
    seen = static > 1.0
    assert seen.sum() >= 5
    frac = excess.mean(0)[:, seen] / static[seen]                 # fraction still bright
    p = np.exp(-k * t[:, seen])
    assert np.all(np.abs(frac - p) < 5 * np.sqrt(p * (1 - p) / B) + 1e-4)
    assert p[-1].max() < 0.25                                    # decayed well within the movie
    # each movie: bright (static image) before its bleach time, background after
    on = t[None] < tb[:, None, None, None]
    np.testing.assert_allclose(excess, np.where(on, static[None, None], 0.0), rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------- brightness
@pytest.mark.parametrize("cv", [0.3, 1.0])
def test_brightness_cv(cv):
    n_per, B = 20_000, 2
    _, truth = simulate_movies(B, 0.0, scan=ScanConfig(frames=1, rows=1, cols=1), n_particles=n_per,
                               brightness_cv=cv, noise=NoiseConfig.expected(), seed=5)
    b = truth["brightness"].numpy().reshape(-1)
    n = b.size
    assert abs(b.mean() - 1) < 5 * cv / math.sqrt(n)
    s2 = math.log1p(cv ** 2)                                     # log-normal: log b ~ N(−s²/2, s²)
    lb = np.log(b)
    assert abs(lb.mean() + s2 / 2) < 5 * math.sqrt(s2 / n)
    assert abs(lb.var() / s2 - 1) < 5 * math.sqrt(2 / n)
    se_var = math.sqrt((np.mean((b - b.mean()) ** 4) - b.var() ** 2) / n)
    assert abs(b.var() - cv ** 2) < 5 * se_var
    assert abs(b.std() / b.mean() - cv) < 0.05 * cv


def test_no_brightness_cv_gives_unit_brightness():
    _, truth = simulate_movies(2, 0.0, scan=ScanConfig(frames=1, rows=2, cols=2),
                               n_particles=[3, 1], seed=0)
    assert truth["brightness"].tolist() == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


# ------------------------------------------------------------------------------ bad inputs
SMALL = ScanConfig(frames=2, rows=3, cols=3)


def _fails(arg, expected="", **kwargs):
    kwargs.setdefault("batch", 1)
    kwargs.setdefault("diffusivity_um2_s", 0.1)
    return kwargs, f"simulate_movies: {arg} must be {expected}"


@pytest.mark.parametrize("kwargs,match", [
    _fails("diffusivity_um2_s", "≥ 0", diffusivity_um2_s=-0.1),
    _fails("diffusivity_um2_s", "finite", batch=2, diffusivity_um2_s=[0.1, float("nan")]),
    _fails("diffusivity_um2_s", "unambiguous for batch=3", batch=3,
           diffusivity_um2_s=np.array([0.1, 0.2, 0.3])),
    _fails("diffusivity_um2_s", "a scalar", batch=2, diffusivity_um2_s=np.ones((2, 2))),
    _fails("positions_um", "of shape", positions_um=torch.zeros(1, 5, 2)),
    _fails("positions_um", "of shape", batch=2, positions_um=torch.zeros(1, 5, 3)),
    _fails("positions_um", "inside box_um", positions_um=torch.full((1, 2, 3), 50.0)),
    _fails("positions_um", "given without", positions_um=torch.zeros(1, 2, 3), n_particles=2),
    _fails("n_particles", "given without density_per_um3", n_particles=3, density_per_um3=0.1),
    _fails("n_particles", batch=2, n_particles=[1, -1]),
    _fails("density_per_um3", density_per_um3=-1.0),
    _fails("boundary", "one of", boundary="absorbing"),
    _fails("seed", seed=-1),
    _fails("seed", seed=2**63),
    _fails("seed", seed=1.5),
    _fails("seed", seed=True),
    _fails("movie_offset", movie_offset=-2),
    _fails("batch", batch=-1),
    _fails("box_um", box_um=[[0, 1], [1, 0], [0, 1]]),
    _fails("render_tol", render_tol=-1e-3),
    _fails("brightness_cv", brightness_cv=-0.1),
    _fails("bleach_rate_per_s", bleach_rate_per_s=float("inf")),
    _fails("drift_um_s", drift_um_s=[1.0, 2.0]),
    _fails("scan", "a ScanConfig", scan={"frames": 2}),
    _fails("device", device="tpu"),
])
def test_bad_input(kwargs, match):
    kwargs.setdefault("scan", SMALL)
    with pytest.raises(ValueError, match=match):
        simulate_movies(**kwargs)


@pytest.mark.parametrize("make,match", [
    (lambda: ScanConfig(dwell_us=0), "ScanConfig: dwell_us must be a finite number > 0"),
    (lambda: ScanConfig(rows=0), "ScanConfig: rows must be an integer >= 1"),
    (lambda: ScanConfig(frames=2**20, rows=2**10, cols=2**10),
     r"ScanConfig: frames·rows·\(cols\+1\) must be"),
    (lambda: PSFConfig(sigma_xy_um=-0.2), "PSFConfig: sigma_xy_um must be"),
    (lambda: PSFConfig(normalization="4d"), "PSFConfig: normalization must be one of"),
    (lambda: NoiseConfig(read_sigma=-1.0), "NoiseConfig: read_sigma must be"),
])
def test_bad_config(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_cuda_device_on_a_cpu_only_build(monkeypatch):
    class CpuOnly:
        def __init__(self, real):
            self._real = real

        def build_info(self):
            return {**self._real.build_info(), "with_cuda": False}

        def __getattr__(self, name):
            return getattr(self._real, name)

    monkeypatch.setattr(bbbcore._native, "_C", CpuOnly(bbbcore._native._C))
    with pytest.raises(ValueError, match="simulate_movies: bbbcore was built without CUDA kernels"):
        simulate_movies(1, 0.1, scan=SMALL, device="cuda")


# ------------------------------------------------------------------------------ the raw op
def _op_args(seed=3, return_trajectories=True, device="cpu"):
    g = torch.Generator().manual_seed(0)
    B, N = 2, 5
    pos = (torch.rand(B, N, 3, generator=g) * 2 - 0.5).to(device)
    return (pos, torch.tensor([5, 3], dtype=torch.int32, device=device),
            torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.2, 0.3]], device=device),
            torch.zeros(B, 3, device=device),
            torch.tensor([[0.2, 1.4], [0.25, 1.2]], device=device),
            torch.full((B, N), 40.0, device=device),
            torch.full((B, N), float("inf"), dtype=torch.float64, device=device),
            2, 4, 5, 0.2, 8e-6, 1.348e-3, 33e-3, False, [-2.0, 2.0, -1.0, 2.0, -1.0, 2.0],
            op2pm.BOUNDARIES["periodic"], 100.0, 2.0, True, 1e-4, seed, 0, return_trajectories)


@pytest.mark.parametrize("return_trajectories", [True, False])
def test_opcheck(return_trajectories):
    torch.library.opcheck(torch.ops.bbbcore.simulate_2pm.default,
                          _op_args(return_trajectories=return_trajectories))


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_torch_compile_fullgraph_matches_eager():
    def f(*args):
        movies, traj = torch.ops.bbbcore.simulate_2pm(*args)
        return movies - 100.0, traj

    compiled = torch.compile(f, fullgraph=True)
    eager = f(*_op_args())
    out = compiled(*_op_args())
    assert torch.equal(out[0], eager[0]) and torch.equal(out[1], eager[1])
    assert out[0].shape == (2, 2, 4, 5) and out[1].shape == (2, 5, 2, 3)


def test_raw_op_non_contiguous_inputs():
    args = list(_op_args())
    pos = args[0]
    args_nc = list(args)
    args_nc[0] = pos.transpose(0, 1).contiguous().transpose(0, 1)      # same values, other layout
    args_nc[5] = args[5].t().contiguous().t()
    assert not args_nc[0].is_contiguous() and torch.equal(args_nc[0], pos)
    out, out_nc = torch.ops.bbbcore.simulate_2pm(*args), torch.ops.bbbcore.simulate_2pm(*args_nc)
    assert torch.equal(out[0], out_nc[0]) and torch.equal(out[1], out_nc[1])


# ------------------------------------------------------------------------------ CPU vs CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("boundary,bidirectional,render_tol", [
    ("periodic", False, 1e-4), ("reflecting", True, 0.0), ("free", False, 1e-4)])
def test_cuda_matches_cpu_bitwise(boundary, bidirectional, render_tol):
    kw = dict(scan=ScanConfig(frames=8, rows=10, cols=12, bidirectional=bidirectional),
              boundary=boundary, render_tol=render_tol,
              drift_um_s=0.0 if boundary == "reflecting" else (0.0, 2.0, -1.0),
              brightness_cv=0.3, bleach_rate_per_s=1.0, return_trajectories=True, seed=77,
              movie_offset=5)
    D = np.array([0.0, 0.5, 2.0, 10.0])
    cpu, tc = simulate_movies(4, D, device="cpu", **kw)
    gpu, tg = simulate_movies(4, D, device="cuda", **kw)
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu.cpu(), cpu)
    assert _same(tg["trajectories_um"].cpu(), tc["trajectories_um"])


@pytest.mark.cuda
def test_cuda_two_streams_give_the_same_result():
    kw = dict(scan=ScanConfig(frames=6, rows=16, cols=16), return_trajectories=True, seed=5,
              device="cuda")
    ref, tref = simulate_movies(8, 0.8, **kw)
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    with torch.cuda.stream(s1):
        a, ta = simulate_movies(8, 0.8, **kw)
    with torch.cuda.stream(s2):
        b, tb = simulate_movies(8, 0.8, **kw)
    torch.cuda.synchronize()
    assert torch.equal(a, ref) and torch.equal(b, ref)
    assert _same(ta["trajectories_um"], tref["trajectories_um"])
    assert _same(tb["trajectories_um"], tref["trajectories_um"])


@pytest.mark.cuda
def test_cuda_raw_op_matches_cpu():
    cpu = torch.ops.bbbcore.simulate_2pm(*_op_args())
    gpu = torch.ops.bbbcore.simulate_2pm(*_op_args(device="cuda"))
    assert torch.equal(gpu[0].cpu(), cpu[0]) and torch.equal(gpu[1].cpu(), cpu[1])
    torch.library.opcheck(torch.ops.bbbcore.simulate_2pm.default, _op_args(device="cuda"))
