"""The synthetic benchmark of diffusion estimators (diffusion.evaluate): metrics against hand
computations, the mean-guess formula, visible-transition counting, the test set, the method
wrappers, the failure fallback, the report and the end-to-end run on a tiny set.

All movies are simulated with fixed seeds; tolerances are stated at the assertions.
"""
from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest
import torch
from bbbcore.diffusion import DLE, DLEConfig
from bbbcore.diffusion import evaluate as ev
from bbbcore.diffusion.evaluate import (
    PAPER_TABLE1,
    DiffusionTestSet,
    compute_metrics,
    count_visible_transitions,
    dle_method,
    evaluate_methods,
    format_table,
    make_test_set,
    mean_guess,
    plot_l1_vs_transitions,
    run_evaluation,
)
from bbbcore.twophoton import NoiseConfig, PSFConfig, ScanConfig, simulate_movies

SCAN = ScanConfig.paper(frames=6)
BOX = [[-7.0, 7.0], [-2.0, 5.8], [-2.0, 5.8]]      # default_box_um(ScanConfig.paper(), PSF)


@pytest.fixture(scope="module")
def small_set():
    return make_test_set("low", 5, scan=SCAN, seed=3, chunk=2)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DLE(DLEConfig.small()).eval()


# ------------------------------------------------------------------------------------ metrics
def test_metrics_match_hand_computation():
    d = np.array([0.0, 0.5, 1.0, 1.5])
    dh = np.array([0.1, 0.5, 0.7, 1.9])
    s = np.array([0.2, 0.1, 0.5, 0.3])
    m = compute_metrics(d, dh, s)
    a = m["all"]
    err = [0.1, 0.0, -0.3, 0.4]
    assert a["n"] == 4
    assert a["l1"] == pytest.approx((0.1 + 0.0 + 0.3 + 0.4) / 4, rel=1e-12)
    assert a["l2"] == pytest.approx((0.01 + 0.0 + 0.09 + 0.16) / 4, rel=1e-12)
    nll = np.mean([e * e / (2 * si * si) + math.log(si) for e, si in zip(err, s)])
    assert a["nll"] == pytest.approx(nll, rel=1e-12)
    assert a["bias"] == pytest.approx(0.05, rel=1e-12)
    # OLS slope = cov(D, D̂)/var(D): D − mean = (−.75, −.25, .25, .75), D̂ − mean = (−.7, −.3, −.1, 1.1)
    slope = (0.525 + 0.075 - 0.025 + 0.825) / (0.5625 + 0.0625 + 0.0625 + 0.5625)
    assert a["slope"] == pytest.approx(slope, rel=1e-12)
    assert a["intercept"] == pytest.approx(np.mean(dh) - slope * np.mean(d), abs=1e-12)
    # |err| ≤ σ̂: 0.1≤0.2 yes, 0≤0.1 yes, 0.3≤0.5 yes, 0.4≤0.3 no; ≤ 2σ̂: all
    assert a["coverage_1sigma"] == 0.75 and a["coverage_2sigma"] == 1.0
    assert a["mean_sigma"] == pytest.approx(0.275)
    # best half by σ̂: σ̂ = 0.1 (movie 1) and 0.2 (movie 0)
    assert m["best_index"].tolist() == [0, 1]
    b = m["best"]
    assert b["n"] == 2 and b["l1"] == pytest.approx(0.05) and b["l2"] == pytest.approx(0.005)
    assert b["nll"] == pytest.approx(np.mean([0.01 / 0.08 + math.log(0.2), math.log(0.1)]))
    assert b["coverage_1sigma"] == 1.0 and b["slope"] == pytest.approx(0.8)


def test_best_fraction_rounds_up_and_ties_keep_index_order():
    d = np.arange(5, dtype=float)
    m = compute_metrics(d, d + 1.0, [0.3, 0.1, 0.3, 0.1, 0.5])
    assert m["best_index"].tolist() == [0, 1, 3]           # ⌈5/2⌉ = 3; the tie 0.3 keeps movie 0
    assert compute_metrics(d, d, [0.2] * 5)["best"] is None  # equal σ̂: no ranking (paper "/")
    assert compute_metrics(d, d + 1.0, np.linspace(1, 2, 5), best_fraction=0.2)["best"]["n"] == 1


@pytest.mark.parametrize("task", ["low", "high"])
def test_mean_guess_reproduces_the_paper_baseline(task):
    """Formula check: guessing the prior mean on D ~ U(0, D_max) gives L1 = D_max/4,
    L2 = D_max²/12, NLL = ½ + log(D_max/√12), the paper's Baseline row (0.375, 0.187, −0.33 /
    12.5, 208, 3.17) within its rounding. 200,000 draws: SE of L1 ≈ 0.0013·D_max."""
    d_max = {"low": 1.5, "high": 50.0}[task]
    d = np.random.default_rng(0).uniform(0.0, d_max, 200_000)
    dh, s = mean_guess(task)(torch.zeros(d.size, 1, 1, 1))
    m = compute_metrics(d, dh, s)
    assert m["best"] is None
    a = m["all"]
    assert a["l1"] == pytest.approx(d_max / 4, rel=0.01)
    assert a["l2"] == pytest.approx(d_max ** 2 / 12, rel=0.01)
    assert a["nll"] == pytest.approx(0.5 + math.log(d_max / math.sqrt(12)), abs=0.01)
    paper = PAPER_TABLE1[task]["mean"]["all"]
    assert a["l1"] == pytest.approx(paper["l1"], rel=0.01)
    assert a["l2"] == pytest.approx(paper["l2"], rel=0.01)
    assert a["nll"] == pytest.approx(paper["nll"], abs=0.01)
    assert a["coverage_1sigma"] == pytest.approx(1 / math.sqrt(3), abs=0.01)   # √3 SD ↔ half-width


def test_paper_table_difference_row_is_reproduced():
    """The paper's "Difference (%)" row is 100·(ref − DLE)/DLE with ref the better of the mean
    guess and the classic method; format_table computes ours that way."""
    for task, rows in PAPER_TABLE1.items():
        for block in ("all", "best"):
            for metric in ("l1", "l2"):
                ref = min(rows["classic"][block][metric], rows["mean"]["all"][metric])
                dle = rows["dle"][block][metric]
                assert 100 * (ref - dle) / dle == pytest.approx(
                    ev.PAPER_DIFFERENCE_PCT[task][block][metric], rel=0.02, abs=1.0)


# -------------------------------------------------------------------------- visible transitions
def test_count_visible_transitions_by_hand():
    """Image: y, x ∈ [−0.1, 3.9) µm (20 px of 0.2 µm); in focus: |z| ≤ σz; box BOX, periodic."""
    tr = np.zeros((2, 3, 4, 3))
    tr[0, 0] = [[0.0, 1.0, 1.0],           # visible
                [1.4, 1.0, 1.0],           # |z| = σz: visible
                [1.5, 1.0, 1.0],           # out of focus
                [15.0, 1.0, 1.0]]          # z wraps to 1.0: visible
    tr[0, 1] = [[0.0, -0.05, 3.85],        # just inside the lower y and upper x edges: visible
                [0.0, 3.95, 1.0],          # y past the upper edge: outside
                [0.0, 9.0, 1.0],           # y wraps to 1.2: visible
                [0.0, 6.8, 1.0]]           # y wraps to −1.0: outside
    tr[0, 2] = [[0.0, 1.0, 1.0]] * 4       # padding slot (n_particles[0] = 2): never counted
    tr[1, :, :, 2] = -0.5                  # movie 1: x outside the image
    per = count_visible_transitions(tr, np.array([2, 3]), [1.4, 1.4], BOX, ScanConfig.paper(),
                                    per_frame=True)
    assert per.tolist() == [[2, 1, 1, 1], [0, 0, 0, 0]]
    tot = count_visible_transitions(torch.tensor(tr), np.array([2, 3]), 1.4, BOX, ScanConfig.paper())
    assert tot.tolist() == [5, 0] and tot.dtype == np.int64
    # σz per movie: 0.2 µm keeps only the z = 0 positions of movie 0 (frame 0 of particle 0,
    # frames 0 and 2 of particle 1)
    assert count_visible_transitions(tr, np.array([2, 3]), [0.2, 1.4], BOX,
                                     ScanConfig.paper()).tolist() == [3, 0]


def test_visible_transitions_of_immobile_particles_are_constant_per_frame():
    """D = 0: every frame sees the same particles, and they are the ones placed in view."""
    _, truth = simulate_movies(2, 0.0, scan=SCAN, n_particles=np.array([40, 60]), seed=5,
                                    return_trajectories=True)
    per = count_visible_transitions(truth["trajectories_um"], truth["n_particles"],
                                    truth["sigma_z_um"], truth["box_um"], SCAN, per_frame=True)
    assert (per == per[:, :1]).all() and per[:, 0].sum() > 0
    p0 = truth["positions0_um"].double().numpy()
    h = SCAN.pixel_size_um
    for b in range(2):
        n = int(truth["n_particles"][b])
        z, y, x = p0[b, :n, 0], p0[b, :n, 1], p0[b, :n, 2]
        inside = (np.abs(z) <= float(truth["sigma_z_um"][b])) & (y >= -h / 2) & (y < 19.5 * h) \
            & (x >= -h / 2) & (x < 19.5 * h)
        assert per[b, 0] == inside.sum()


# ----------------------------------------------------------------------------------- test set
def test_make_test_set_shapes_and_ranges(small_set):
    ts = small_set
    assert isinstance(ts, DiffusionTestSet) and ts.n_movies == 5
    assert tuple(ts.movies.shape) == (5, 6, 20, 20) and ts.movies.dtype == torch.float32
    for a in (ts.d_um2_s, ts.n_particles, ts.density_per_um3, ts.sigma_z_um, ts.transitions):
        assert a.shape == (5,)
    assert ((ts.d_um2_s >= 0) & (ts.d_um2_s <= 1.5)).all() and np.ptp(ts.d_um2_s) > 0
    assert ((ts.density_per_um3 >= 0.005) & (ts.density_per_um3 <= 0.12)).all()
    assert (ts.transitions >= 0).all() and ts.transitions.dtype == np.int64
    assert ts.transitions.max() > 0
    assert ts.sim_seed == ev.derived_seed(3, ev.TEST_STREAM) and ts.prior_um2_s == (0.0, 1.5)
    hi = make_test_set("high", 3, scan=ScanConfig.paper(frames=2), seed=3)
    assert ((hi.d_um2_s >= 0) & (hi.d_um2_s <= 50)).all() and hi.d_um2_s.max() > 1.5
    json.dumps(ts.summary())


def test_test_set_is_nested_and_resimulated_identically(small_set):
    sub = make_test_set("low", 3, scan=SCAN, seed=3, chunk=3, keep_movies=False)
    assert sub.movies is None
    np.testing.assert_array_equal(sub.d_um2_s, small_set.d_um2_s[:3])
    np.testing.assert_array_equal(sub.n_particles, small_set.n_particles[:3])
    np.testing.assert_array_equal(sub.transitions, small_set.transitions[:3])
    again = torch.cat([m for _, _, m in sub.iter_chunks(2)])
    assert torch.equal(again, small_set.movies[:3])


# ------------------------------------------------------------------------------- evaluation
class _Flaky:
    """D̂ = D + 0.1 except: movie 0 fails (NaN), movie 1 has σ̂ = 0 (invalid)."""

    def __init__(self, d):
        self.d, self.i = d, 0
        self.failure_reasons = {"made up": 1}

    def __call__(self, movies):
        B = movies.shape[0]
        idx = np.arange(self.i, self.i + B)
        self.i += B
        dh = self.d[idx] + 0.1
        s = np.full(B, 0.2)
        dh[idx == 0] = np.nan
        s[idx == 1] = 0.0
        return torch.tensor(dh), s


def test_evaluate_methods_falls_back_to_the_prior(small_set):
    ts = small_set
    res = evaluate_methods(ts, {"mean": mean_guess("low"), "flaky": _Flaky(ts.d_um2_s)},
                           progress=False)
    r = res["methods"]["flaky"]
    assert r["n_failed"] == 1 and r["n_sigma_fallback"] == 1
    assert r["failed"].tolist() == [True, False, False, False, False]
    assert r["d_hat"][0] == 0.75 and r["sigma_hat"][0] == pytest.approx(1.5 / math.sqrt(12))
    assert r["d_hat"][1] == pytest.approx(ts.d_um2_s[1] + 0.1)
    assert r["sigma_hat"][1] == pytest.approx(1.5 / math.sqrt(12))
    assert math.isnan(r["d_hat_raw"][0]) and r["failure_reasons"] == {"made up": 1}
    expect = compute_metrics(ts.d_um2_s, r["d_hat"], r["sigma_hat"])
    assert r["all"] == expect["all"] and r["best"] == expect["best"]
    # best half (3 of 5) are the three movies with σ̂ = 0.2
    assert r["best_index"].tolist() == [2, 3, 4]
    assert r["estimated_only"]["n"] == 4 and r["estimated_only"]["l1"] == pytest.approx(0.1)
    m = res["methods"]["mean"]
    assert m["all"]["l1"] == pytest.approx(np.mean(np.abs(ts.d_um2_s - 0.75)))
    assert m["best"] is None and m["n_failed"] == 0
    table = format_table(res)
    assert "[0.375]" in table and "flaky" in table and "made up" in table


def test_dle_method_matches_the_network(small_set, net):
    d, s = dle_method(net)(small_set.movies)
    with torch.no_grad():
        d0, s0 = net(small_set.movies)
    np.testing.assert_allclose(d, d0.double().numpy(), rtol=1e-6)
    np.testing.assert_allclose(s, s0.double().numpy(), rtol=1e-6)
    # larger frames go through estimate_diffusion (crops, inverse-variance combination)
    big, _ = simulate_movies(1, 0.5, scan=ScanConfig.paper(frames=6, rows=30, cols=30), seed=2)
    d1, s1 = dle_method(net)(big)
    from bbbcore.diffusion import estimate_diffusion
    ref = estimate_diffusion(big[0], model=net)
    assert (d1[0], s1[0]) == pytest.approx((ref.d_um2_s, ref.sigma_um2_s), rel=1e-6)


def test_cve_method_recovers_d_on_an_easy_movie():
    """Three bright particles near the focal plane (as test_tracking's sparse scene), D = 0.5:
    the CVE of the trackpy tracks is within 30 % (≈ 3 SE for ~250 steps) and reuses the tracks of
    a trackpy_method on the same movies."""
    pytest.importorskip("trackpy")
    from bbbcore.diffusion.tracking import TrackpyParams

    scan = ScanConfig(frames=100, rows=32, cols=32)
    fy, fx = scan.fov_um
    noise = NoiseConfig(background=10.0, brightness=4 * NoiseConfig().brightness)
    movies, _ = simulate_movies(1, 0.5, scan=scan, psf=PSFConfig(jitter_xy_um=0, jitter_z_um=0),
                                noise=noise, n_particles=3, seed=0,
                                box_um=[[-0.3, 0.3], [-0.5, fy + 0.5], [-0.5, fx + 0.5]])
    params = TrackpyParams(diameter_px=5, minmass=200.0, search_range_px=6.0, memory_frames=0,
                           min_track_frames=10, max_lag_frames=5)
    tp = ev.trackpy_method(params, scan, n_boot=20)
    cv = ev.cve_method(params, scan, tracks_from=tp)
    dt, st = tp(movies)
    dc, sc = cv(movies)
    assert tp._last[0] is movies                       # tracked once
    assert dc[0] == pytest.approx(0.5, rel=0.3) and 0 < sc[0] < 0.2
    assert dt[0] == pytest.approx(0.5, rel=0.4) and st[0] > 0
    dc2, _ = ev.cve_method(params, scan)(movies)       # tracking on its own: the same
    assert dc2[0] == dc[0]


def test_tracks_to_trajectories():
    pd = pytest.importorskip("pandas")
    t = pd.DataFrame({"particle": [7, 7, 3], "frame": [0, 2, 1], "y_um": [0.2, 0.4, 1.0],
                      "x_um": [0.0, 0.6, 2.0]})
    tr = ev.tracks_to_trajectories(t, 3)
    assert tr.shape == (2, 3, 3)
    np.testing.assert_array_equal(tr[1, [0, 2], 1:], [[0.2, 0.0], [0.4, 0.6]])
    assert np.isnan(tr[1, 1]).all() and tr[0, 1].tolist() == [0.0, 1.0, 2.0]


# ----------------------------------------------------------------------------- end to end
def test_run_evaluation_tiny(tmp_path, net):
    """6 movies × 40 frames, the untrained small DLE, trackpy tuned on 2 calibration movies over
    a 2-point grid: writes the JSON and the PNG, returns finite numbers."""
    pytest.importorskip("trackpy")
    scan = ScanConfig.paper(frames=40)
    kw = {"scan": scan, "tune_movies": 2, "seed": 1, "progress": False, "verbose": False,
          "tune_grid": {"minmass": (20.0, 60.0), "min_track_frames": (5,)}}
    res = run_evaluation("low", 6, model=net, out_dir=tmp_path / "out", **kw)
    assert list(res["methods"]) == ["mean", "trackpy", "cve", "dle"]
    for k, r in res["methods"].items():
        for block in ("all", "best", "estimated_only"):
            if r[block] is None:     # mean: no ranking; trackpy/cve: may fail on all 6
                assert k != "dle" and (block != "all")
                continue
            for metric in ("l1", "l2", "nll", "bias", "coverage_1sigma", "coverage_2sigma"):
                assert math.isfinite(r[block][metric]), (k, block, metric)
        assert 0 <= r["n_failed"] <= 6
    assert res["tuning"]["n_movies"] == 2 and res["tuning"]["n_candidates"] == 3
    assert res["methods"]["mean"]["all"]["l1"] == pytest.approx(np.mean(np.abs(res["d_true"] - 0.75)))
    js = tmp_path / "out" / "eval_diffusion_low_n6_seed1.json"
    png = tmp_path / "out" / "eval_diffusion_low_n6_seed1.png"
    assert js.exists() and png.exists() and png.stat().st_size > 1000
    data = json.loads(js.read_text())
    assert data["task"] == "low" and len(data["methods"]["dle"]["d_hat"]) == 6
    assert data["paper_table1"]["dle"]["all"]["l1"] == 0.109 and "table" in data
    with pytest.raises(FileExistsError, match="overwrite"):
        run_evaluation("low", 6, model=net, out_dir=tmp_path / "out", **kw)


def test_run_evaluation_without_trackpy_and_plot(tmp_path, net, small_set):
    res = run_evaluation("low", 4, ("dle", "mean"), net, scan=ScanConfig.paper(frames=8),
                         seed=2, progress=False, verbose=False, keep_movies=False)
    assert list(res["methods"]) == ["dle", "mean"] and res["trackpy_params"] is None
    assert math.isfinite(res["methods"]["dle"]["all"]["nll"])
    res5 = evaluate_methods(small_set, {"mean": mean_guess("low"), "dle": dle_method(net)},
                            progress=False)
    p = plot_l1_vs_transitions(small_set, res5, tmp_path / "f.png", window=2)
    assert p.exists()
    with pytest.raises(FileExistsError):
        plot_l1_vs_transitions(small_set, res5, tmp_path / "f.png")


def test_seed_collision_with_training_streams_is_refused(net):
    m = DLE(DLEConfig.small())
    m.metadata = {"seed": ev.derived_seed(5, ev.TEST_STREAM)}
    with pytest.raises(ValueError, match="run_evaluation: seed must be"):
        run_evaluation("low", 2, ("dle",), m, seed=5, scan=SCAN, progress=False, verbose=False)


# ----------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, match", [
    (lambda: make_test_set("mid", 2), "make_test_set: task must be one of 'low', 'high'"),
    (lambda: make_test_set("low", 0), "make_test_set: n_movies must be an integer >= 1"),
    (lambda: make_test_set("low", 2, density_range_per_um3=(0.0, 1.0)),
     "make_test_set: density_range_per_um3 must be"),
    (lambda: make_test_set("low", 2, scan="paper"), "make_test_set: scan must be a ScanConfig"),
    (lambda: make_test_set("low", 2, chunk=0), "make_test_set: chunk must be"),
    (lambda: make_test_set("low", 2, seed=-1), "make_test_set: seed must be"),
    (lambda: compute_metrics([0.1, 0.2], [0.1, 0.2], [0.1, 0.0]),
     "compute_metrics: sigma_hat must be finite and > 0"),
    (lambda: compute_metrics([0.1, 0.2], [0.1], [0.1, 0.1]), "compute_metrics: d_hat must be of length 2"),
    (lambda: compute_metrics([0.1], [np.nan], [0.1]), "compute_metrics: d_hat must be finite"),
    (lambda: compute_metrics([0.1], [0.1], [0.1], best_fraction=0), "compute_metrics: best_fraction"),
    (lambda: count_visible_transitions(np.zeros((1, 2, 3)), [1], 1.4, BOX, SCAN),
     "count_visible_transitions: trajectories_um must be of shape"),
    (lambda: count_visible_transitions(np.zeros((1, 2, 3, 3)), [3], 1.4, BOX, SCAN),
     "count_visible_transitions: n_particles must be"),
    (lambda: count_visible_transitions(np.zeros((1, 2, 3, 3)), [1], 0.0, BOX, SCAN),
     "count_visible_transitions: sigma_z_um must be"),
    (lambda: count_visible_transitions(np.zeros((1, 2, 3, 3)), [1], 1.4, [[0, 1]], SCAN),
     "count_visible_transitions: box_um must be"),
    (lambda: mean_guess("medium"), "mean_guess: task must be"),
    (lambda: dle_method(3), "dle_method: model must be a DLE"),
    (lambda: dle_method(DLE(DLEConfig.small()), batch_size=0), "dle_method: batch_size must be"),
    (lambda: evaluate_methods("set", {"m": mean_guess()}), "evaluate_methods: test_set must be"),
    (lambda: run_evaluation("low", 2, ("mean", "magic")), "run_evaluation: methods must be"),
    (lambda: run_evaluation("low", 2, "mean"), "run_evaluation: methods must be"),
    (lambda: run_evaluation("high", -1), "run_evaluation: n_movies must be"),
    (lambda: run_evaluation("low", 2, ("mean",), tune_movies=0), "run_evaluation: tune_movies"),
    (lambda: run_evaluation("low", 2, ("mean",), trackpy_params={}),
     "run_evaluation: trackpy_params must be a TrackpyParams"),
    (lambda: format_table({"task": "low"}), "format_table: results must be"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_methods_and_results(small_set):
    with pytest.raises(ValueError, match="evaluate_methods: methods must be a non-empty dict"):
        evaluate_methods(small_set, {})
    with pytest.raises(ValueError, match=r"evaluate_methods: methods\['short'\] must be a callable "
                                         r"returning \(D̂, σ̂\) of shape \(2,\)"):
        evaluate_methods(small_set, {"short": lambda m: (np.zeros(1), np.ones(1))}, progress=False)
    res = evaluate_methods(small_set, {"mean": mean_guess("low")}, progress=False)
    with pytest.raises(ValueError, match="format_table: task must be the results' task 'low'"):
        format_table(res, "high")
    other = make_test_set("low", 2, scan=SCAN, seed=4)
    with pytest.raises(ValueError, match="plot_l1_vs_transitions: results must be an evaluation"):
        plot_l1_vs_transitions(other, res, "/nonexistent/x.png")


def test_docstring_examples():
    result = doctest.testmod(ev, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
