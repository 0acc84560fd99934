"""The trackpy baseline: tracking, the NaN-safe ensemble MSD, the fit, fallbacks and tuning.

Movies are simulated with a fixed seed, so every test is deterministic. The recovery test uses a
sparse, bright scene (3 particles kept within ±0.3 µm of the focal plane, background 10) where
tracking is easy; its tolerance is stated at the assertion.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("trackpy", reason="optional extra 'classic'")

from bbbcore.diffusion import tracking  # noqa: E402
from bbbcore.diffusion.tracking import (  # noqa: E402
    TrackpyParams, ensemble_msd, estimate_trackpy, track_movie, tune_trackpy)
from bbbcore.twophoton import NoiseConfig, PSFConfig, ScanConfig, simulate_movies  # noqa: E402

SCAN = ScanConfig(frames=100, rows=32, cols=32)
PSF = PSFConfig(jitter_xy_um=0.0, jitter_z_um=0.0)
BRIGHT = NoiseConfig(background=10.0, brightness=4 * NoiseConfig().brightness)  # peak ≈ 200 counts
# hand-set for BRIGHT at D ≈ 0.5 µm²/s: per-axis step SD √(2·D·T_frame) ≈ 1.5 px
HAND = TrackpyParams(diameter_px=5, minmass=200.0, search_range_px=6.0, memory_frames=0,
                     min_track_frames=10, max_lag_frames=5)


def _sparse_kw(scan: ScanConfig) -> dict:
    """Three particles near the focal plane; the periodic box extends 0.5 µm past the field of
    view, so a particle wrapping round leaves the image rather than jumping inside it."""
    fy, fx = scan.fov_um
    return dict(n_particles=3, boundary="periodic",
                box_um=[[-0.3, 0.3], [-0.5, fy + 0.5], [-0.5, fx + 0.5]])


@pytest.fixture(scope="module")
def sparse_movie():
    movies, truth = simulate_movies(1, 0.5, scan=SCAN, psf=PSF, noise=BRIGHT, seed=0,
                                    **_sparse_kw(SCAN))
    return movies[0]


# ----------------------------------------------------------------------------------- tracking
def test_track_movie_columns_and_units(sparse_movie):
    t = track_movie(sparse_movie, HAND, pixel_size_um=SCAN.pixel_size_um,
                    frame_period_s=SCAN.frame_period_s)
    assert isinstance(t, pd.DataFrame) and len(t) > 100
    for col in ("particle", "frame", "y", "x", "y_um", "x_um", "t_s", "mass", "size", "ecc",
                "signal", "raw_mass", "ep"):
        assert col in t.columns, col
    assert t["particle"].dtype == np.int64 and t["frame"].dtype == np.int64
    np.testing.assert_allclose(t["y_um"], t["y"] * SCAN.pixel_size_um)
    np.testing.assert_allclose(t["x_um"], t["x"] * SCAN.pixel_size_um)
    np.testing.assert_allclose(t["t_s"], t["frame"] * SCAN.frame_period_s)
    assert (t["mass"] > HAND.minmass).all()
    assert t.groupby("particle").size().min() >= HAND.min_track_frames
    assert not t.duplicated(["particle", "frame"]).any()
    assert t["frame"].between(0, SCAN.frames - 1).all()
    assert t["y"].between(0, SCAN.rows - 1).all() and t["x"].between(0, SCAN.cols - 1).all()


def test_track_movie_accepts_numpy_and_torch(sparse_movie):
    kw = dict(pixel_size_um=0.2, frame_period_s=0.05)
    a = track_movie(sparse_movie[:30], HAND, **kw)
    b = track_movie(sparse_movie[:30].numpy().astype(np.float64), HAND, **kw)
    pd.testing.assert_frame_equal(a, b)


def test_recovers_d_on_sparse_bright_movie(sparse_movie):
    D, se, info = estimate_trackpy(sparse_movie, HAND, pixel_size_um=SCAN.pixel_size_um,
                                   frame_period_s=SCAN.frame_period_s)
    assert info["reason"] is None and not info["fallback"]
    assert info["n_tracks"] >= 1 and info["n_displacements"][0] > 100
    assert info["se_method"] == "bootstrap" and 0 < se < 0.25
    # generous: ±40 % of D = 0.5 µm²/s, and within 3 of its own SEs (on 16 such movies the
    # bootstrap SE matched the SD of D̂ within 5 %)
    assert abs(D - 0.5) < 0.2, D
    assert abs(D - 0.5) < 3 * se, (D, se)
    # the reported fit is the line through the ensemble MSD
    slope, offset = np.polyfit(info["lags_s"], info["msd_um2"], 1)
    assert slope / 4 == pytest.approx(info["d_raw_um2_s"], rel=1e-9)
    assert offset == pytest.approx(info["offset_um2"], abs=1e-12)


def test_residual_se_and_bootstrap_are_seeded(sparse_movie):
    kw = dict(pixel_size_um=SCAN.pixel_size_um, frame_period_s=SCAN.frame_period_s)
    m = sparse_movie[:60]
    D1, se1, _ = estimate_trackpy(m, HAND, seed=3, **kw)
    D2, se2, _ = estimate_trackpy(m, HAND, seed=3, **kw)
    assert (D1, se1) == (D2, se2)
    D3, se3, info = estimate_trackpy(m, HAND, se_method="residuals", **kw)
    assert D3 == D1 and info["se_method"] == "residuals" and se3 > 0


# ------------------------------------------------------------------------- NaN-safe ensemble MSD
def test_ensemble_msd_skips_gaps_by_hand():
    # track 0 is missing frame 2 (a gap bridged by memory); track 1 is short
    t = pd.DataFrame({
        "particle": [0, 0, 0, 0, 1, 1],
        "frame": [0, 1, 3, 4, 0, 1],
        "y": [0.0, 1.0, 1.0, 4.0, 5.0, 5.0],
        "x": [0.0, 0.0, 2.0, 2.0, 5.0, 7.0],
    })
    msd, n = ensemble_msd(t, 4, pixel_size_um=0.5)
    # lag 1: (0→1) 1, (3→4) 9, track 1 (0→1) 4            → 14/3
    # lag 2: (1→3) 4                                       → 4
    # lag 3: (0→3) 1+4 = 5, (1→4) 9+4 = 13                 → 9
    # lag 4: (0→4) 16+4 = 20                               → 20
    np.testing.assert_array_equal(n, [3, 1, 2, 1])
    np.testing.assert_allclose(msd, np.array([14 / 3, 4.0, 9.0, 20.0]) * 0.25, rtol=1e-12)
    # zero-filling the gap (what trackpy.emsd does to NaN) would pull lag 2 towards 0
    assert msd[1] > 0
    # a lag no pair reaches is NaN, not 0
    msd6, n6 = ensemble_msd(t, 6)
    assert n6[-1] == 0 and math.isnan(msd6[-1])


def test_gap_does_not_bias_the_fit():
    """A straight walk r(f) = (f, 0) has MSD(k) = k²; removing frames must not change it."""
    f = np.arange(20)
    full = pd.DataFrame({"particle": 0, "frame": f, "y": f.astype(float), "x": 0.0})
    gappy = full[~full["frame"].isin([3, 4, 9, 15])]
    m_full, _ = ensemble_msd(full, 5)
    m_gap, n_gap = ensemble_msd(gappy, 5)
    np.testing.assert_allclose(m_full, np.arange(1, 6) ** 2.0)
    np.testing.assert_allclose(m_gap, m_full)
    assert n_gap[0] < 19


# --------------------------------------------------------------------------------- no estimate
@pytest.fixture(scope="module")
def empty_movie():
    movies, truth = simulate_movies(1, 0.5, scan=ScanConfig(frames=40, rows=20, cols=20),
                                    n_particles=0, seed=5)
    assert float(movies.std()) > 1.0          # shot and read noise, not an all-zero input
    return movies[0]


def test_empty_movie_gives_nan_with_reason(empty_movie):
    D, se, info = estimate_trackpy(empty_movie, pixel_size_um=0.2, frame_period_s=0.063)
    assert math.isnan(D) and math.isnan(se)
    assert isinstance(info["reason"], str) and info["reason"]
    assert info["fallback"] is False and info["n_tracks"] == 0
    assert len(info["tracks"]) == 0 and "particle" in info["tracks"].columns


def test_empty_movie_prior_mean_fallback(empty_movie):
    D, se, info = estimate_trackpy(empty_movie, pixel_size_um=0.2, frame_period_s=0.063,
                                   fallback="prior_mean", prior_um2_s=(0.0, 1.5))
    assert D == pytest.approx(0.75) and se == pytest.approx(1.5 / math.sqrt(12))
    assert info["fallback"] is True and info["reason"]
    D, _, _ = estimate_trackpy(empty_movie, pixel_size_um=0.2, frame_period_s=0.063,
                               fallback="prior_mean", prior_um2_s=(0.0, 50.0))
    assert D == pytest.approx(25.0)


def test_reason_names_the_failing_stage(sparse_movie):
    kw = dict(pixel_size_um=SCAN.pixel_size_um, frame_period_s=SCAN.frame_period_s)
    _, _, info = estimate_trackpy(sparse_movie, dataclasses.replace(HAND, minmass=1e9), **kw)
    assert "no features located" in info["reason"]
    _, _, info = estimate_trackpy(sparse_movie[:20], dataclasses.replace(HAND, min_track_frames=50),
                                  **kw)
    assert "no track of >= 50 frames" in info["reason"]


def test_d_clipped_at_zero_only_when_reported(monkeypatch, sparse_movie):
    def decreasing(tracks, reason, params, px, dt, **kw):
        return -0.1, 0.05, {"reason": None}
    monkeypatch.setattr(tracking, "_estimate_tracks", decreasing)
    D, se, info = estimate_trackpy(sparse_movie[:10], HAND, pixel_size_um=0.2, frame_period_s=0.06)
    assert D == 0.0 and info["d_raw_um2_s"] == -0.1 and se == 0.05


# -------------------------------------------------------------------------------------- tuning
def test_tune_improves_on_generic_and_matches_direct_pipeline():
    scan = ScanConfig(frames=50, rows=32, cols=32)
    kw = _sparse_kw(scan)
    grid = {"search_range_px": (3.0, 6.0), "minmass": (100.0, 200.0), "memory_frames": (0, 2),
            "min_track_frames": (10,), "max_lag_frames": (5,)}
    best, table = tune_trackpy(scan, PSF, BRIGHT, d_range_um2_s=(0.0, 1.5), n_movies=4, seed=11,
                               grid=grid, simulate_kw=kw, progress=False, return_table=True)
    generic = TrackpyParams.generic()
    assert len(table) == 1 + 8 and table.loc[0, "search_range_px"] == generic.search_range_px
    # the result is the generic base with values from the grid (or the base itself)
    if best != generic:
        for k, v in grid.items():
            assert getattr(best, k) in v
        assert dataclasses.replace(best, **{k: getattr(generic, k) for k in grid}) == generic
    l1_best = table["l1_um2_s"].min()
    l1_generic = table.loc[0, "l1_um2_s"]
    assert l1_best <= l1_generic and l1_best < 0.375      # better than guessing the mean

    # the cached tuning scores equal the direct pipeline on the same calibration movies
    D_cal = np.asarray(table.attrs["calibration_d_um2_s"])
    assert D_cal.shape == (4,) and np.all((D_cal >= 0) & (D_cal <= 1.5))
    movies, truth = simulate_movies(4, D_cal, scan=scan, psf=PSF, noise=BRIGHT, seed=11, **kw)
    for params, l1 in ((generic, l1_generic), (best, l1_best)):
        est = [estimate_trackpy(m, params, pixel_size_um=scan.pixel_size_um,
                                frame_period_s=scan.frame_period_s, fallback="prior_mean")[0]
               for m in movies]
        assert np.mean(np.abs(np.asarray(est) - D_cal)) == pytest.approx(l1, abs=1e-12)


def test_tune_random_subset_and_default_grid():
    scan = ScanConfig(frames=20, rows=20, cols=20)
    grid = tracking.default_grid(scan, PSF, BRIGHT, (0.0, 1.5))
    assert grid["diameter_px"] == (3, 5, 7)
    assert all(g % 2 == 1 for g in grid["diameter_px"])
    best, table = tune_trackpy(scan, PSF, BRIGHT, n_movies=2, seed=2, max_candidates=3,
                               simulate_kw=_sparse_kw(scan), progress=False, return_table=True)
    assert len(table) == 4 and isinstance(best, TrackpyParams)


# ---------------------------------------------------------------------------------- bad input
def test_params_bad_input():
    with pytest.raises(ValueError, match=r"TrackpyParams: diameter_px must be an odd integer >= 3"):
        TrackpyParams(diameter_px=4)
    with pytest.raises(ValueError, match=r"TrackpyParams: search_range_px must be a finite number > 0"):
        TrackpyParams(search_range_px=0.0)
    with pytest.raises(ValueError, match=r"TrackpyParams: max_lag_frames must be an integer >= 2"):
        TrackpyParams(max_lag_frames=1)
    with pytest.raises(ValueError, match=r"TrackpyParams: percentile must be a number in \[0, 100\]"):
        TrackpyParams(percentile=101)
    with pytest.raises(ValueError, match=r"TrackpyParams: minmass must be a finite number >= 0"):
        TrackpyParams(minmass=-1.0)


def test_estimate_bad_input(sparse_movie):
    kw = dict(pixel_size_um=0.2, frame_period_s=0.06)
    with pytest.raises(ValueError, match=r"estimate_trackpy: movie must be of shape \(T, Y, X\)"):
        estimate_trackpy(np.zeros((8, 8)), **kw)
    with pytest.raises(ValueError, match=r"estimate_trackpy: movie must be finite"):
        estimate_trackpy(np.full((2, 8, 8), np.nan), **kw)
    with pytest.raises(ValueError, match=r"estimate_trackpy: pixel_size_um must be a finite number > 0 µm"):
        estimate_trackpy(sparse_movie, pixel_size_um=0.0, frame_period_s=0.06)
    with pytest.raises(ValueError, match=r"estimate_trackpy: frame_period_s must be"):
        estimate_trackpy(sparse_movie, pixel_size_um=0.2, frame_period_s=-1.0)
    with pytest.raises(ValueError, match=r"estimate_trackpy: fallback must be one of 'nan', 'prior_mean'"):
        estimate_trackpy(sparse_movie, fallback="zero", **kw)
    with pytest.raises(ValueError, match=r"estimate_trackpy: prior_um2_s must be"):
        estimate_trackpy(sparse_movie, fallback="prior_mean", prior_um2_s=(1.0, 0.5), **kw)
    with pytest.raises(ValueError, match=r"estimate_trackpy: se_method must be one of"):
        estimate_trackpy(sparse_movie, se_method="jackknife", **kw)
    with pytest.raises(ValueError, match=r"estimate_trackpy: params must be a TrackpyParams"):
        estimate_trackpy(sparse_movie, {"diameter_px": 5}, **kw)
    with pytest.raises(ValueError, match=r"track_movie: movie must be a numeric"):
        track_movie(np.array([[["a"]]]), **kw)
    with pytest.raises(ValueError, match=r"ensemble_msd: tracks must be a DataFrame with columns"):
        ensemble_msd(pd.DataFrame({"frame": [0]}), 3)


def test_tune_bad_input():
    scan = ScanConfig(frames=10, rows=16, cols=16)
    with pytest.raises(ValueError, match=r"tune_trackpy: scan must be a ScanConfig"):
        tune_trackpy({"rows": 16}, progress=False)
    with pytest.raises(ValueError, match=r"tune_trackpy: d_range_um2_s must be a \(low, high\) pair"):
        tune_trackpy(scan, d_range_um2_s=(1.0, 1.0), progress=False)
    with pytest.raises(ValueError, match=r"tune_trackpy: grid must be keyed by TrackpyParams fields"):
        tune_trackpy(scan, grid={"diameter": (5,)}, progress=False)
    with pytest.raises(ValueError, match=r"tune_trackpy: grid\['minmass'\] must be a non-empty sequence"):
        tune_trackpy(scan, grid={"minmass": ()}, progress=False)
    with pytest.raises(ValueError, match=r"tune_trackpy: grid value invalid: TrackpyParams: diameter_px"):
        tune_trackpy(scan, grid={"diameter_px": (5, 6)}, progress=False)
    with pytest.raises(ValueError, match=r"tune_trackpy: n_movies must be an integer >= 1"):
        tune_trackpy(scan, n_movies=0, progress=False)


def test_import_without_trackpy_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_trackpy(name, *args, **kwargs):
        if name == "trackpy" or name.startswith("trackpy."):
            raise ImportError("No module named 'trackpy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_trackpy)
    with pytest.raises(ImportError, match=r"pip install 'bbbcore\[classic\]'"):
        estimate_trackpy(np.zeros((2, 8, 8)), pixel_size_um=0.2, frame_period_s=0.06)


def test_tune_grid_may_mix_none_and_numbers():
    scan = ScanConfig(frames=10, rows=16, cols=16)
    best, table = tune_trackpy(scan, PSF, BRIGHT, n_movies=1, seed=4, progress=False,
                               grid={"separation_px": (None, 4.0), "diameter_px": (3, 5)},
                               simulate_kw=_sparse_kw(scan), return_table=True)
    assert len(table) == 4      # the generic base equals (None, 5)
    assert best.separation_px in (None, 4.0) and best.diameter_px in (3, 5)


def test_docstring_examples():
    import doctest

    result = doctest.testmod(tracking, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
