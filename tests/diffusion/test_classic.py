"""Classic diffusion estimators on trajectories: MSD-OLS, CVE and the 2PM raster blur coefficient.

Trajectories are simulated here with NumPy (seeded), as exact Brownian walks with known D and Δt,
optionally with Gaussian localisation noise and with motion blur (each position the mean of K
samples of a finer walk over an exposure window), and with :func:`simulate_movies`.
"""
from __future__ import annotations

import dataclasses
import doctest
import math

import numpy as np
import pytest
import torch

import bbbcore.diffusion.classic as classic_module
from bbbcore.diffusion.classic import (DiffusionEstimate, cve, frame_interval_s, msd_ols,
                                       raster_blur_coefficient)
from bbbcore.twophoton import NoiseConfig, ScanConfig, pixel_times_s, simulate_movies

D_TRUE, DT = 0.5, 0.05
ESTIMATORS = [pytest.param(msd_ols, id="msd_ols"), pytest.param(cve, id="cve")]


def _walk(rng, n, T, *, D=D_TRUE, dt=DT, sigma=0.0, substeps=1, exposure=1.0):
    """(n, T, 3) positions [µm] of Brownian walkers sampled every dt.

    With substeps K > 1 each position is the mean of the walk at K instants k·exposure·dt/K,
    k = 0..K−1, of its frame (motion blur with R = exposure·(K² − 1)/(6K²), → exposure/6).
    """
    if substeps == 1:
        x = np.cumsum(rng.normal(0.0, math.sqrt(2 * D * dt), (n, T, 3)), axis=1)
    else:
        sub = exposure * dt / substeps
        gaps = np.full(substeps, sub)
        gaps[0] = dt - (substeps - 1) * sub          # previous frame's last sample → first
        scale = np.sqrt(2 * D * np.tile(gaps, T))[None, :, None]
        fine = np.cumsum(rng.normal(0.0, 1.0, (n, T * substeps, 3)) * scale, axis=1)
        x = fine.reshape(n, T, substeps, 3).mean(axis=2)
    return x + rng.normal(0.0, sigma, x.shape) if sigma > 0 else x


def _blur_R(substeps, exposure=1.0):
    return exposure * (substeps**2 - 1) / (6 * substeps**2)


def _same(a, b):
    assert a.n_steps == b.n_steps and a.n_lags == b.n_lags
    np.testing.assert_allclose([a.d_um2_s, a.se_um2_s, a.loc_var_um2],
                               [b.d_um2_s, b.se_um2_s, b.loc_var_um2], rtol=1e-12)


def _z(est, d_true=D_TRUE):
    return (est.d_um2_s - d_true) / est.se_um2_s


# ----------------------------------------------------------------------------- unbiasedness


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("dims", [(1, 2), (0, 1, 2), (2,)])
def test_brownian_unbiased(estimator, dims):
    rng = np.random.default_rng(1)
    x = _walk(rng, 400, 100)
    est = estimator(x, DT, dims=dims)
    assert abs(_z(est)) < 4
    # without noise Var D̂ = 6D²/K per axis (K steps), averaged over d independent axes
    se_theory = math.sqrt(6 * D_TRUE**2 / est.n_steps / len(dims))
    assert 0.9 < est.se_um2_s / se_theory < 1.3
    assert est.n_steps == 400 * 99 and est.n_trajectories == 400 and est.dims == dims
    assert abs(est.loc_var_um2) < 5e-4                       # no localisation error


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_localisation_noise(estimator):
    rng = np.random.default_rng(2)
    x = _walk(rng, 400, 100, sigma=0.05)
    est = estimator(x, DT)
    assert abs(_z(est)) < 4
    assert est.loc_error_um == pytest.approx(0.05, rel=0.05)
    assert est.loc_var_um2 == pytest.approx(0.05**2, rel=0.1)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_motion_blur_enters_sigma_only(estimator):
    """Blur (R = 0.165 here) leaves D̂ unbiased with or without R; R is needed for σ̂², which
    R = 0 underestimates by 2RDΔt."""
    rng = np.random.default_rng(3)
    K, sigma = 10, 0.05
    R = _blur_R(K)
    x = _walk(rng, 400, 100, sigma=sigma, substeps=K)
    right = estimator(x, DT, blur_R=R)
    none = estimator(x, DT, blur_R=0.0)
    assert abs(_z(right)) < 4 and abs(_z(none)) < 4
    assert right.d_um2_s == pytest.approx(none.d_um2_s, rel=1e-12)
    assert right.loc_var_um2 == pytest.approx(sigma**2, abs=4e-4)
    bias = 2 * R * D_TRUE * DT                                # 8.25e-3 µm², 3.3·σ²
    assert none.loc_var_um2 == pytest.approx(sigma**2 - bias, abs=4e-4)
    assert none.loc_var_um2 < 0 and none.loc_error_um == 0.0


def test_blur_formula_of_the_walk():
    """The walk's blur matches the model: ⟨Δx²⟩ = 2DΔt(1 − 2R), ⟨Δx_n Δx_{n+1}⟩ = 2RDΔt."""
    rng = np.random.default_rng(4)
    for K, f in ((10, 1.0), (8, 0.5)):
        R = _blur_R(K, f)
        s = np.diff(_walk(rng, 400, 200, substeps=K, exposure=f), axis=1)
        g0, g1 = np.mean(s**2), np.mean(s[:, 1:] * s[:, :-1])
        assert g0 == pytest.approx(2 * D_TRUE * DT * (1 - 2 * R), rel=0.02)
        assert g1 == pytest.approx(2 * R * D_TRUE * DT, rel=0.06)


def test_simulate_movies_trajectories():
    scan = ScanConfig(frames=150, rows=8, cols=8)
    D = [0.3, 1.0, 3.0]
    _, truth = simulate_movies(3, np.array(D)[:, None], scan=scan, noise=NoiseConfig.expected(),
                               n_particles=50,
                               boundary="free", return_trajectories=True, seed=11)
    traj = truth["trajectories_um"]                           # (B, N, T, 3), instantaneous
    dt = frame_interval_s(scan)
    for b, d_true in enumerate(D):
        for estimator in (msd_ols, cve):
            for dims in ((1, 2), (0, 1, 2)):
                est = estimator(traj[b], dt, dims=dims)
                assert abs(_z(est, d_true)) < 4, (estimator.__name__, d_true, dims, str(est))


# ----------------------------------------------------------------------------- standard errors


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("case", ["noise", "gaps_ragged", "high_noise"])
def test_coverage(estimator, case):
    """Over 200 small datasets the ±1 SE interval holds D about 68% of the time (±2 SE: 95%)."""
    rng = np.random.default_rng({"noise": 5, "gaps_ragged": 6, "high_noise": 7}[case])
    inside1 = inside2 = 0
    for _ in range(200):
        if case == "noise":
            data = _walk(rng, 5, 40, sigma=0.05)
        elif case == "high_noise":                           # x = σ²/(DΔt) = 3.2
            data = _walk(rng, 5, 40, sigma=0.2)
        else:
            x = _walk(rng, 8, 60, sigma=0.05)
            x[rng.random(x.shape[:2]) < 0.2] = np.nan
            data = [x[i, :rng.integers(20, 61)] for i in range(8)]
        z = abs(_z(estimator(data, DT)))
        inside1 += z < 1
        inside2 += z < 2
    assert 0.55 <= inside1 / 200 <= 0.80
    assert 0.88 <= inside2 / 200 <= 0.99


def test_cve_variance_is_the_papers():
    """One complete trajectory: SE² = D²[(6 + 4ε + 2ε²)/N + 4(1 + ε)²/N²]/d to O(1/N²),
    ε = σ²/(DΔt) − 2R (Vestergaard et al. 2014), at the estimated D and σ²."""
    rng = np.random.default_rng(8)
    x = _walk(rng, 1, 20001, sigma=0.1, substeps=4)
    for R in (0.0, _blur_R(4)):
        est = cve(x[0], DT, dims=(2,), blur_R=R)
        D, N = est.d_um2_s, est.n_steps
        eps = est.loc_var_um2 / (D * DT) - 2 * R
        var = D**2 * ((6 + 4 * eps + 2 * eps**2) / N + 4 * (1 + eps) ** 2 / N**2)
        assert est.se_um2_s**2 == pytest.approx(var, rel=1e-3)


def test_msd_variance_matches_dense_quadratic_form():
    """The banded norms behind the MSD-OLS SE equal Var b = 2·tr(AΣAΣ) built densely, for
    trajectories with gaps (A the quadratic form of the slope, Σ from V(k) = β|k| + α)."""
    rng = np.random.default_rng(9)
    M, T, p = 6, 17, 5
    present = rng.random((M, T)) > 0.3
    kappa = rng.normal(size=p)
    n_a, n_al, n_m = classic_module._quadratic_form_norms(present, kappa)
    beta, alpha = 0.7, 0.3
    k = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    sigma = -0.5 * np.where(k > 0, beta * k + alpha, 0.0)      # covariance up to constants
    L = np.tril(np.ones((T, T - 1)), -1)                         # steps → positions
    ref = np.zeros(3)
    trace = 0.0
    for m in range(M):
        A = np.zeros((T, T))
        for n in range(1, p + 1):
            for t in range(T - n):
                if present[m, t] and present[m, t + n]:
                    e = np.zeros(T)
                    e[t], e[t + n] = -1.0, 1.0
                    A += kappa[n - 1] * np.outer(e, e)
        ref += [np.sum(A**2), np.sum((A @ L) ** 2), np.sum((L.T @ A @ L) ** 2)]
        trace += np.trace(A @ sigma @ A @ sigma)
    np.testing.assert_allclose([n_a, n_al, n_m], ref, rtol=1e-12)
    var_over_2 = beta**2 * n_m + alpha * beta * n_al + alpha**2 * n_a / 4
    assert var_over_2 == pytest.approx(trace, rel=1e-12)


def test_optimal_number_of_lags():
    rng = np.random.default_rng(10)
    assert msd_ols(_walk(rng, 200, 100), DT).n_lags == 2                 # x ≈ 0
    x_red = 0.3**2 / (D_TRUE * DT)                                      # x = 3.6
    est = msd_ols(_walk(rng, 200, 100, sigma=0.3), DT)
    assert abs(est.n_lags - classic_module._michalet_lags(x_red, 100)) <= 1
    assert est.n_lags > 2 and abs(_z(est)) < 4
    assert msd_ols(_walk(rng, 50, 100), DT, n_lags=7).n_lags == 7
    # Michalet & Berglund (2012): p grows with x, is 2 at x = 0, and ⌊0.8 + 0.564·N⌋ at x = ∞
    ps = [classic_module._michalet_lags(x, 100) for x in (0.0, 1.0, 10.0, 100.0, math.inf)]
    assert ps[0] == 2 and ps == sorted(ps) and ps[-1] == 57


# ----------------------------------------------------------------------------- missing data


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_missing_localisations(estimator):
    rng = np.random.default_rng(12)
    x = _walk(rng, 400, 100, sigma=0.05)
    full = estimator(x, DT)
    gappy = x.copy()
    gappy[rng.random(x.shape[:2]) < 0.25] = np.nan                    # missing frames
    est = estimator(gappy, DT)
    assert abs(_z(est)) < 4 and est.se_um2_s > full.se_um2_s
    assert est.n_steps == int(np.sum(~np.isnan(gappy[:, 1:, 0]) & ~np.isnan(gappy[:, :-1, 0])))
    # trackpy's emsd treats NaN as 0; that is the bias avoided here
    assert abs(estimator(np.nan_to_num(gappy), DT).d_um2_s - D_TRUE) > 10 * est.se_um2_s
    # a NaN on an axis that is not used does not remove the localisation
    z_only = x.copy()
    z_only[rng.random(x.shape[:2]) < 0.25, 0] = np.nan
    assert estimator(z_only, DT) == full


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_all_nan_raises(estimator):
    name = estimator.__name__
    with pytest.raises(ValueError, match=f"{name}: trajectories must .*got none"):
        estimator(np.full((4, 20, 3), np.nan), DT)
    isolated = np.full((4, 20, 3), np.nan)
    isolated[:, ::2] = 1.0                                   # no two consecutive positions
    with pytest.raises(ValueError, match=f"{name}: trajectories must"):
        estimator(isolated, DT)


# ----------------------------------------------------------------------------- input handling


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_layouts_agree(estimator, device):
    rng = np.random.default_rng(13)
    x = _walk(rng, 24, 50, sigma=0.05).reshape(2, 12, 50, 3)
    ref = estimator(x, DT)
    assert estimator(x.reshape(24, 50, 3), DT) == ref
    assert estimator(list(x.reshape(24, 50, 3)), DT) == ref
    _same(estimator(torch.as_tensor(x, device=device), DT), ref)
    x32 = x.astype(np.float32)
    _same(estimator(torch.from_numpy(x32), DT), estimator(x32, DT))
    one = estimator(x[0, 0], DT)
    assert one.n_trajectories == 1 and one.n_steps == 49
    # ragged list = NaN-padded array
    ragged = [x[0, i, :20 + i] for i in range(12)]
    padded = np.full((12, 50, 3), np.nan)
    for i, tr in enumerate(ragged):
        padded[i, :len(tr)] = tr
    _same(estimator(ragged, DT), estimator(padded, DT))


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kwargs, match", [
    (dict(dt_s=-0.1), r"dt_s must be a finite number > 0 s, got -0.1"),
    (dict(dt_s=float("nan")), r"dt_s must be a finite number > 0 s"),
    (dict(trajectories=np.zeros((10, 50, 2))),
     r"trajectories must be of shape .*got \(10, 50, 2\)"),
    (dict(trajectories=np.zeros(30)), r"trajectories must be of shape .*got \(30,\)"),
    (dict(trajectories=np.zeros((2, 2, 2, 10, 3))), r"trajectories must be of shape"),
    (dict(trajectories=[]), r"trajectories must be non-empty"),
    (dict(trajectories=[np.zeros((5, 3)), np.zeros(5)]),
     r"trajectories\[1\] must be a \(T_i, 3\) array"),
    (dict(trajectories=np.array([["a"] * 3] * 5)), r"trajectories must be real numbers"),
    (dict(trajectories=np.full((3, 5, 3), np.inf)), r"trajectories must be finite or NaN"),
    (dict(dims=(3,)),
     r"dims must be distinct axis indices in \(0, 1, 2\) = \(z, y, x\), got \(3,\)"),
    (dict(dims=(1, 1)), r"dims must be distinct axis indices"),
    (dict(dims=()), r"dims must be distinct axis indices"),
    (dict(blur_R=0.3), r"blur_R must be a number in \[0, 1/4\], got 0.3"),
    (dict(blur_R=-0.01), r"blur_R must be a number in \[0, 1/4\]"),
])
def test_bad_input(estimator, kwargs, match):
    args = dict(trajectories=np.cumsum(np.ones((3, 10, 3)), axis=1), dt_s=DT)
    args.update(kwargs)
    trajectories, dt = args.pop("trajectories"), args.pop("dt_s")
    with pytest.raises(ValueError, match=f"{estimator.__name__}: {match}"):
        estimator(trajectories, dt, **args)


@pytest.mark.parametrize("n_lags, match", [
    (1, r"n_lags must be 'optimal' or an integer >= 2, got 1"),
    ("best", r"n_lags must be 'optimal' or an integer >= 2, got 'best'"),
    (2.0, r"n_lags must be 'optimal' or an integer >= 2"),
    (40, r"n_lags must be at most the longest run of lags with data \(9\), got 40"),
])
def test_bad_n_lags(n_lags, match):
    x = np.cumsum(np.random.default_rng(0).normal(size=(3, 10, 3)), axis=1)
    with pytest.raises(ValueError, match=f"msd_ols: {match}"):
        msd_ols(x, DT, n_lags=n_lags)


# ----------------------------------------------------------------------------- raster blur


def _blur_brute_force(scan, sigma, y, x):
    """R of one particle at (y, x) from the sorted pixel times of one frame."""
    t = pixel_times_s(dataclasses.replace(scan, frames=1))[0]
    r, c = np.meshgrid(np.arange(scan.rows), np.arange(scan.cols), indexing="ij")
    h = scan.pixel_size_um
    w = np.exp(-((r * h - y) ** 2 + (c * h - x) ** 2) / (2 * sigma**2)).ravel()
    order = np.argsort(t.ravel())
    S = np.cumsum(w[order]) / w.sum()
    gaps = np.diff(np.append(t.ravel()[order], scan.t0_s + scan.frame_period_s))
    return float(np.sum(gaps * S * (1 - S)) / scan.frame_period_s)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_raster_blur_matches_brute_force(bidirectional):
    scan = ScanConfig(frames=3, rows=7, cols=5, pixel_size_um=0.2, dwell_us=40.0,
                      line_retrace_ms=0.3, frame_retrace_ms=2.0, bidirectional=bidirectional)
    y, x = np.array([-0.05, 0.37, 1.2]), np.array([0.0, 0.51, 0.83])
    grid = classic_module._blur_grid(scan, 0.25, y, x)
    ref = [[_blur_brute_force(scan, 0.25, yy, xx) for xx in x] for yy in y]
    np.testing.assert_allclose(grid, ref, rtol=1e-10)


def test_raster_blur_paper_scan():
    for scan, value, interior in ((ScanConfig.paper(), 0.0122, 0.0129),
                                  (ScanConfig.paper_code(), 0.0167, 0.0179)):
        R = raster_blur_coefficient(scan)
        assert 0 < R <= 1 / 6
        assert R == pytest.approx(value, abs=1e-4)
        # away from the edges: the continuous Gaussian window τ/(√π Δt) less the discrete lines
        h = scan.pixel_size_um
        mid = classic_module._blur_grid(scan, 0.2, np.array([9.5 * h]), np.array([9.5 * h]))
        assert mid[0, 0] == pytest.approx(interior, abs=1e-4)
        cont = (0.2 / h) * scan.line_period_s / (math.sqrt(math.pi) * scan.frame_period_s)
        assert 0.9 * cont < mid[0, 0] < cont


def test_raster_blur_grows_with_line_period():
    Rs = [raster_blur_coefficient(ScanConfig.paper(line_retrace_ms=t)) for t in (0.2, 1.348, 3.0)]
    assert Rs[0] < Rs[1] < Rs[2] <= 1 / 6
    # a PSF wider than the field: every line weighs the same, R → (rows-long exposure)/(6·Δt)
    scan = ScanConfig.paper(frame_retrace_ms=0.0)
    assert raster_blur_coefficient(scan, sigma_xy_um=1e3) == pytest.approx(1 / 6, rel=0.1)


def test_raster_blur_bad_input():
    fn = "raster_blur_coefficient"
    with pytest.raises(ValueError, match=f"{fn}: scan must be a ScanConfig, got dict"):
        raster_blur_coefficient({})
    with pytest.raises(ValueError, match=f"{fn}: sigma_xy_um must be a finite number > 0 µm"):
        raster_blur_coefficient(ScanConfig.paper(), sigma_xy_um=0.0)
    with pytest.raises(ValueError, match="frame_interval_s: scan must be a ScanConfig"):
        frame_interval_s(0.06)


def test_frame_interval():
    scan = ScanConfig.paper()
    assert frame_interval_s(scan) == scan.frame_period_s == pytest.approx(0.06316)


# ----------------------------------------------------------------------------- result type


def test_estimate_str_and_frozen():
    est = DiffusionEstimate(d_um2_s=0.5123, se_um2_s=0.0314, n_steps=1234, method="cve")
    assert str(est) == "D = 0.512 ± 0.031 µm²/s (cve, 1234 steps)"
    assert str(dataclasses.replace(est, d_um2_s=12.34, se_um2_s=1.2)) == \
        "D = 12.3 ± 1.2 µm²/s (cve, 1234 steps)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.d_um2_s = 1.0


def test_docstring_examples():
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(classic_module, optionflags=flags)
    assert result.attempted > 0 and result.failed == 0
