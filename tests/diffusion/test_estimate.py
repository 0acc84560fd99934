"""Estimation on whole movies by crops and their inverse-variance combination (diffusion.estimate)."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch

from bbbcore.diffusion.dle import DLE, DLEConfig, load_dle, save_dle, shipped_weights_path
from bbbcore.diffusion.estimate import (MovieEstimate, combine_estimates, crop_origins, crop_scan,
                                        estimate_diffusion, plot_crop_map)
from bbbcore.twophoton import ScanConfig, simulate_movies


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = DLE(DLEConfig.small()).eval()
    m.metadata = {"task": "low", "scan": dataclasses.asdict(ScanConfig.paper(frames=16))}
    return m


@pytest.fixture(scope="module")
def movie():
    m, _ = simulate_movies(1, 0.8, scan=ScanConfig.paper(frames=16, rows=40, cols=40), density_per_um3=0.08,
                           seed=11)
    return m[0]


# ----------------------------------------------------------------------------- combination


def test_combine_estimates_equals_formula():
    g = np.random.default_rng(3)
    d = g.uniform(0, 1.5, 37)
    s = g.uniform(0.02, 0.5, 37)
    D, S = combine_estimates(d, s)
    w = 1 / s ** 2
    assert D == pytest.approx(np.sum(w * d) / np.sum(w), rel=1e-13)
    assert S == pytest.approx(np.sum(w) ** -0.5, rel=1e-13)
    # torch input, any shape
    D2, S2 = combine_estimates(torch.tensor(d).reshape(37, 1), torch.tensor(s).reshape(37, 1))
    assert (D2, S2) == pytest.approx((D, S), rel=1e-13)


def test_combine_estimates_limits():
    # equal errors: plain mean and σ/√n; one estimate: itself
    D, S = combine_estimates([0.2, 0.4, 0.9, 0.5], [0.1] * 4)
    assert D == pytest.approx(0.5) and S == pytest.approx(0.05)
    assert combine_estimates([0.7], [0.03]) == pytest.approx((0.7, 0.03))
    # paper Fig. 3E: 0.332 ± 0.024 and 0.343 ± 0.020 → 0.338 ± 0.015
    D, S = combine_estimates([0.332, 0.343], [0.024, 0.020])
    assert round(D, 3) == 0.338 and round(S, 3) == 0.015


@pytest.mark.parametrize("d, s, match", [
    ([], [], "combine_estimates: d must be non-empty"),
    ([1.0, 2.0], [1.0], "combine_estimates: sigma must be of the shape of d"),
    ([1.0, float("nan")], [1.0, 1.0], "combine_estimates: d must be finite"),
    ([1.0, 2.0], [1.0, 0.0], "combine_estimates: sigma must be finite and > 0"),
    ([1.0, 2.0], [1.0, float("inf")], "combine_estimates: sigma must be finite and > 0"),
])
def test_combine_estimates_bad_input(d, s, match):
    with pytest.raises(ValueError, match=match):
        combine_estimates(d, s)


def test_crop_origins_cover_axis():
    assert crop_origins(40, 20, 10) == [0, 10, 20]
    assert crop_origins(45, 20, 10) == [0, 10, 20, 25]
    assert crop_origins(20, 20, 10) == [0]
    assert crop_origins(33, 20, 20) == [0, 13]


# ----------------------------------------------------------------------------- estimation


def test_estimate_on_simulated_movie(net, movie):
    est = estimate_diffusion(movie, model=net, return_map=True)
    assert isinstance(est, MovieEstimate)
    d, sigma = est
    assert math.isfinite(d) and d >= 0 and sigma > 0
    assert est.n_crops == 9 and est.crop == 20 and est.stride == 10 and est.movie_shape == (16, 40, 40)
    assert est.crop_map.shape == (3, 3, 2) and est.origins.shape == (3, 3, 2)
    assert est.origins[2, 1].tolist() == [20, 10]
    # the combination is the inverse-variance formula over the map
    assert (d, sigma) == pytest.approx(combine_estimates(est.crop_map[..., 0], est.crop_map[..., 1]))
    # overlap factor: 9 crops of 400 px² cover 1600 px²
    assert est.overlap_factor == pytest.approx(9 * 400 / 1600)
    assert est.sigma_conservative_um2_s == pytest.approx(sigma * 1.5)


def test_each_crop_is_the_model_on_that_window(net, movie):
    est = estimate_diffusion(movie, model=net, return_map=True, batch_size=4)
    with torch.no_grad():
        d, s = net(movie[None, :, 20:40, 10:30])
    np.testing.assert_allclose(est.crop_map[2, 1], [float(d), float(s)], rtol=1e-5)


def test_non_overlapping_crops_have_overlap_one(net, movie):
    est = estimate_diffusion(movie, model=net, stride=20)
    assert est.n_crops == 4 and est.overlap_factor == 1.0
    assert est.sigma_conservative_um2_s == est.sigma_um2_s
    assert est.crop_map is None and est.origins is None


def test_ragged_movie_size(net):
    g = torch.Generator().manual_seed(0)
    mov = 100 + 5 * torch.rand(6, 45, 33, generator=g)
    est = estimate_diffusion(mov, model=net, return_map=True)
    assert est.crop_map.shape == (4, 3, 2)
    assert est.origins[-1, -1].tolist() == [25, 13]


def test_input_types_agree(net, movie, tmp_path):
    from bbbcore.io import write_tiff
    a = estimate_diffusion(movie, model=net)
    b = estimate_diffusion(movie.numpy(), model=net)
    p = write_tiff(tmp_path / "m.tif", movie.numpy(), axes="TYX")
    c = estimate_diffusion(str(p), model=net)
    d = estimate_diffusion(movie.numpy().astype(np.float64), model=net)
    assert tuple(a) == tuple(b) == tuple(c)
    assert tuple(d) == pytest.approx(tuple(a), rel=1e-6)


def test_model_from_checkpoint_path(net, movie, tmp_path):
    p = save_dle(tmp_path / "m.pt", net)
    assert tuple(estimate_diffusion(movie, model=str(p))) == tuple(estimate_diffusion(movie, model=net))


def test_shipped_model_missing_is_explained(movie):
    if shipped_weights_path("low").exists():
        assert isinstance(load_dle("low"), DLE)
        return
    with pytest.raises(FileNotFoundError, match="train_dle"):
        estimate_diffusion(movie, model="low")


@pytest.mark.parametrize("mov, match", [
    (np.zeros((40, 40)), r"estimate_diffusion: movie must be 3-D \(T, Y, X\), got shape \(40, 40\)"),
    (np.zeros((1, 4, 40, 40)), "estimate_diffusion: movie must be 3-D"),
    (np.zeros((5, 19, 40)), r"estimate_diffusion: movie must be \(T ≥ 1, Y ≥ 20, X ≥ 20\)"),
    (np.zeros((0, 40, 40)), r"estimate_diffusion: movie must be \(T ≥ 1"),
    (np.full((5, 40, 40), np.nan), r"estimate_diffusion: movie must be finite"),
    (np.array([["a"]]), "estimate_diffusion: movie must be a numeric array"),
    (np.zeros((5, 40, 40), dtype=np.complex64), "estimate_diffusion: movie must be real-valued"),
])
def test_bad_movie(net, mov, match):
    with pytest.raises(ValueError, match=match):
        estimate_diffusion(mov, model=net)


def test_bad_arguments(net, movie, tmp_path):
    with pytest.raises(ValueError, match="estimate_diffusion: crop must be the model's training frame size 20 px"):
        estimate_diffusion(movie, model=net, crop=16)
    with pytest.raises(ValueError, match="estimate_diffusion: stride must be an integer >= 1"):
        estimate_diffusion(movie, model=net, stride=0)
    with pytest.raises(ValueError, match="estimate_diffusion: model must be a DLE"):
        estimate_diffusion(movie, model=3)
    with pytest.raises(ValueError, match="estimate_diffusion: on_scan_mismatch must be one of"):
        estimate_diffusion(movie, model=net, on_scan_mismatch="ignore")
    with pytest.raises(FileNotFoundError, match="estimate_diffusion: no movie at"):
        estimate_diffusion(str(tmp_path / "none.tif"), model=net)
    with pytest.raises(ValueError, match="estimate_diffusion: scan must be a ScanConfig"):
        estimate_diffusion(movie, scan="paper", model=net)


def test_scan_timing_checked(net, movie):
    # a 40×40 acquisition has a longer line and frame period than the 20×20 training scan
    full = ScanConfig.paper(rows=40, cols=40)
    with pytest.warns(UserWarning, match="estimate_diffusion: scan must match the model's training scan"):
        estimate_diffusion(movie, scan=full, model=net)
    with pytest.raises(ValueError, match=r"line_period_s .* \(trained"):
        estimate_diffusion(movie, scan=full, model=net, on_scan_mismatch="raise")
    with pytest.raises(ValueError, match="pixel_size_um"):
        estimate_diffusion(movie, scan=ScanConfig.paper_code(), model=net, on_scan_mismatch="raise")
    with pytest.raises(ValueError, match="bidirectional"):
        estimate_diffusion(movie, scan=ScanConfig.paper(bidirectional=True), model=net, on_scan_mismatch="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_diffusion(movie, scan=ScanConfig.paper(frames=999), model=net)  # frames do not matter


def test_crop_scan_matches_a_crop_of_the_acquisition(net, movie):
    full = ScanConfig.paper(rows=40, cols=40, frames=16)
    sub = crop_scan(full, 20)
    assert (sub.rows, sub.cols, sub.dwell_us) == (20, 20, full.dwell_us)
    assert sub.line_period_s == pytest.approx(full.line_period_s, rel=1e-12)
    assert sub.frame_period_s == pytest.approx(full.frame_period_s, rel=1e-12)
    # a model trained on crop_scan(full) accepts the full acquisition without a warning
    m = DLE(net.config).eval()
    m.load_state_dict(net.state_dict())
    m.metadata = {"scan": dataclasses.asdict(sub)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_diffusion(movie, scan=full, model=m)
    with pytest.raises(ValueError, match="crop_scan: crop must be ≤ the scan's rows and cols"):
        crop_scan(ScanConfig.paper(), 24)


def test_pixel_times_of_a_crop_equal_the_acquisition(movie):
    from bbbcore.twophoton import pixel_times_s
    full = ScanConfig.paper(rows=40, cols=40, frames=3)
    sub = crop_scan(full, 20)
    tf = np.asarray(pixel_times_s(full), dtype=np.float64)[:, 10:30, 5:25]
    ts = np.asarray(pixel_times_s(sub), dtype=np.float64)
    np.testing.assert_allclose(tf - tf[0, 0, 0], ts - ts[0, 0, 0], atol=1e-9)


def test_no_training_scan_warns(movie):
    m = DLE(DLEConfig.small()).eval()
    with pytest.warns(UserWarning, match="the model carries no training scan"):
        estimate_diffusion(movie, scan=ScanConfig.paper(), model=m)


def test_plot_crop_map(net, movie, tmp_path):
    est = estimate_diffusion(movie, model=net, return_map=True)
    p = plot_crop_map(est, tmp_path / "map.png", title="test")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        plot_crop_map(est, p)
    with pytest.raises(ValueError, match="plot_crop_map: result must be a MovieEstimate with a crop map"):
        plot_crop_map(estimate_diffusion(movie, model=net), tmp_path / "x.png")


@pytest.mark.cuda
def test_estimate_on_cuda_matches_cpu(net, movie):
    a = estimate_diffusion(movie, model=net, device="cpu")
    c = estimate_diffusion(movie, model=net, device="cuda")
    assert tuple(c) == pytest.approx(tuple(a), rel=1e-2)  # TF32 convolutions on the GPU
    assert next(net.parameters()).device.type == "cpu"  # the caller's model was not moved
    d = estimate_diffusion(movie.cuda(), model=net, device="cuda")
    assert tuple(d) == tuple(c)


@pytest.mark.parametrize("name, d_true", [("low", 0.6), ("high", 20.0)])
def test_shipped_weights_load_and_estimate(name, d_true):
    """The package's own weights load offline and give a finite, positive-σ estimate."""
    from bbbcore.diffusion import load_dle
    from bbbcore.diffusion.dle import shipped_weights_path
    from bbbcore.twophoton import ScanConfig, simulate_movies

    if not shipped_weights_path(name).exists():
        pytest.fail(f"shipped weights {shipped_weights_path(name)} are missing from the package")
    model = load_dle(name)
    assert model.metadata["task"] == name and model.metadata["scan_preset"] == "paper"
    movie, _ = simulate_movies(1, d_true, scan=ScanConfig.paper(frames=100), density_per_um3=0.05,
                               seed=3)
    d, sigma = estimate_diffusion(movie[0], ScanConfig.paper(frames=100), model=model)
    assert np.isfinite(d) and sigma > 0
    assert 0 <= d <= 1.2 * model.metadata["d_range_um2_s"][1]
