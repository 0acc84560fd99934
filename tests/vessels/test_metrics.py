"""bbbcore.vessels.metrics against hand-made cases, scikit-learn and MONAI."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from bbbcore.vessels import metrics as M
from bbbcore.vessels.analysis import skeletonize


def box(shape, *slices):
    m = np.zeros(shape, bool)
    m[tuple(slices)] = True
    return m


# ------------------------------------------------------------------ overlap

def test_dice_two_boxes_by_hand():
    a = box((12, 12, 14), slice(2, 8), slice(2, 8), slice(2, 8))      # 216 voxels
    b = box((12, 12, 14), slice(2, 8), slice(2, 8), slice(4, 10))     # shifted 2 in x: 144 shared
    assert M.dice(a, b) == pytest.approx(2 * 144 / 432)
    r = M.evaluate(a, b)
    assert r["precision"] == pytest.approx(144 / 216)
    assert r["recall"] == pytest.approx(144 / 216)
    assert r["threshold"] is None and r["threshold_source"] == "binary input"
    # valid: count only x < 6 -> pred 6*6*4 = 144, truth 6*6*2 = 72, shared 72
    valid = box(a.shape, slice(None), slice(None), slice(0, 6))
    assert M.dice(a, b, valid=valid) == pytest.approx(2 * 72 / 216)


def test_empty_masks_give_documented_nan_without_warnings():
    t = box((8, 8, 8), slice(2, 5), slice(2, 5), slice(2, 5))
    e = np.zeros_like(t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = M.evaluate(e, t)
        both = M.evaluate(e, e)
    assert r["dice"] == 0.0 and r["recall"] == 0.0 and r["cldice"] == 0.0
    assert math.isnan(r["precision"]) and math.isnan(r["hausdorff95"])
    assert math.isnan(r["centreline_precision"]) and r["centreline_sensitivity"] == 0.0
    for k in ("dice", "precision", "recall", "cldice", "hausdorff95", "auroc", "ap"):
        assert math.isnan(both[k]), k


# ------------------------------------------------------------------ clDice

def test_cldice_tube_vs_itself_thinner_and_shifted():
    shape = (11, 11, 34)
    tube = box(shape, slice(3, 8), slice(3, 8), slice(2, 32))        # 5x5 cross-section
    thin = box(shape, slice(4, 7), slice(4, 7), slice(2, 32))        # 3x3, same axis
    assert M.cldice(tube, tube) == 1.0
    # the centreline of each lies inside the other -> 1, though Dice = 2*270/(750+270)
    assert M.cldice(thin, tube) == 1.0
    assert M.dice(thin, tube) == pytest.approx(540 / 1020)
    # shifted by one voxel: centrelines still inside each other -> 1; Dice = 2*600/1500
    shifted = np.roll(tube, 1, axis=1)
    assert M.cldice(shifted, tube) == 1.0
    assert M.dice(shifted, tube) == pytest.approx(0.8)
    # shifted past each other: no centreline voxel inside the other mask -> 0
    far = box(shape, slice(3, 8), slice(3, 8), slice(2, 32))
    far = np.roll(far, 3, axis=1) & ~tube
    s = M.centreline_scores(far, tube)
    assert s["cldice"] == 0.0 and s["centreline_precision"] == 0.0


def test_centreline_sensitivity_of_a_broken_line_by_hand():
    line = box((5, 5, 30), slice(2, 3), slice(2, 3), slice(0, 30))   # its own centreline
    broken = line.copy()
    broken[2, 2, 12:18] = False                                       # 6 of 30 voxels missing
    s = M.centreline_scores(broken, line)
    assert s["centreline_sensitivity"] == pytest.approx(24 / 30)
    assert s["centreline_precision"] == 1.0
    assert s["cldice"] == pytest.approx(2 * 0.8 / 1.8)


def test_centreline_sensitivity_of_a_broken_tube():
    tube = box((9, 9, 40), slice(3, 6), slice(3, 6), slice(0, 40))    # 3x3 bar along x
    sk = skeletonize(tube)
    zyx = np.argwhere(sk)
    # by hand: the centreline of a 3x3 bar is its axis (z = y = 4), one run of voxels along x
    assert (zyx[:, 0] == 4).all() and (zyx[:, 1] == 4).all()
    xs = zyx[:, 2]
    assert np.array_equal(xs, np.arange(xs.min(), xs.max() + 1)) and xs.size >= 34
    broken = tube.copy()
    broken[:, :, 15:21] = False                                       # a 6-voxel gap
    s = M.centreline_scores(broken, tube)
    assert s["centreline_sensitivity"] == pytest.approx((xs.size - 6) / xs.size)
    assert s["centreline_precision"] == 1.0


# ------------------------------------------------------------------ Hausdorff

def test_hausdorff_hand_cases():
    a = box((3, 3, 30), slice(1, 2), slice(1, 2), slice(5, 6))
    b = box((3, 3, 30), slice(1, 2), slice(1, 2), slice(8, 9))
    assert M.hausdorff(a, b, voxel_size_um=(1.0, 1.0, 0.5)) == pytest.approx(1.5)
    # MONAI convention: max of the directed percentiles, linear interpolation.
    # pred = truth point + a point 10 voxels away: pred->truth {0, 10}, truth->pred {0}
    c = a.copy()
    c[1, 1, 15] = True
    assert M.hausdorff(c, a, 95) == pytest.approx(9.5)
    assert M.hausdorff(c, a, 100) == pytest.approx(10.0)
    assert M.hausdorff(c, a, 50) == pytest.approx(5.0)
    # two boxes offset by 3 voxels along x (0.7 µm voxels): the full Hausdorff distance is 2.1 µm
    t = box((16, 16, 24), slice(3, 11), slice(3, 11), slice(4, 12))
    p = box((16, 16, 24), slice(3, 11), slice(3, 11), slice(7, 15))
    assert M.hausdorff(p, t, 100, voxel_size_um=(2.0, 1.0, 0.7)) == pytest.approx(2.1)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # MONAI's own deprecation notice
def test_hausdorff95_matches_monai():
    monai_metrics = pytest.importorskip("monai.metrics")
    t = box((16, 18, 24), slice(3, 11), slice(4, 12), slice(4, 12))
    p = box((16, 18, 24), slice(4, 12), slice(4, 14), slice(7, 15))
    p[8, 6, 18:22] = True                                             # an outlying spur
    sp = (2.0, 1.0, 0.7)
    ref = monai_metrics.compute_hausdorff_distance(
        torch.from_numpy(p)[None, None].float(), torch.from_numpy(t)[None, None].float(),
        include_background=True, percentile=95, spacing=sp)
    ours = M.hausdorff(p, t, 95, voxel_size_um=sp)
    assert ours == pytest.approx(float(ref), rel=1e-5)
    assert M.evaluate(p, t, voxel_size_um=sp)["hausdorff95"] == pytest.approx(ours)


# ------------------------------------------------------------------ ROC / PR

@pytest.fixture
def tied_scores():
    rng = np.random.default_rng(7)
    y = rng.random((10, 20, 25)) < 0.3
    s = np.clip(0.35 * y + rng.normal(0.35, 0.2, y.shape), 0, 1)
    return np.round(s * 20) / 20, y                                  # 21 levels -> many ties


def test_auroc_ap_match_sklearn_with_ties(tied_scores):
    skm = pytest.importorskip("sklearn.metrics")
    s, y = tied_scores
    assert M.auroc(s, y) == pytest.approx(skm.roc_auc_score(y.ravel(), s.ravel()), abs=1e-12)
    assert M.average_precision(s, y) == pytest.approx(
        skm.average_precision_score(y.ravel(), s.ravel()), abs=1e-12)
    fpr, tpr, thr = M.roc_curve(s, y)
    rf, rt, rthr = skm.roc_curve(y.ravel(), s.ravel(), drop_intermediate=False)
    np.testing.assert_allclose(fpr, rf)
    np.testing.assert_allclose(tpr, rt)
    np.testing.assert_allclose(thr[1:], rthr[1:])
    v = np.zeros_like(y)
    v[:, :12] = True
    assert M.auroc(s, y, valid=v) == pytest.approx(skm.roc_auc_score(y[v], s[v]), abs=1e-12)
    e = M.evaluate(s.astype(np.float32), y, valid=v)
    assert e["auroc"] == pytest.approx(skm.roc_auc_score(y[v], s[v]), abs=1e-6)
    assert e["ap"] == pytest.approx(skm.average_precision_score(y[v], s[v]), abs=1e-6)
    assert e["n_voxels"] == int(v.sum())


def test_pr_curve_matches_sklearn(tied_scores):
    skm = pytest.importorskip("sklearn.metrics")
    s, y = tied_scores
    p, r, thr = M.pr_curve(s, y)
    rp, rr, rthr = skm.precision_recall_curve(y.ravel(), s.ravel())
    # sklearn: thresholds ascending, stops at full recall, appends (1, 0)
    n = rthr.size
    np.testing.assert_allclose(p[:n][::-1], rp[:-1])
    np.testing.assert_allclose(r[:n][::-1], rr[:-1])
    np.testing.assert_allclose(thr[:n][::-1], rthr)


def test_histogram_fallback_within_1e3(monkeypatch):
    rng = np.random.default_rng(3)
    y = rng.random(1_000_000) < 0.05
    s = 1.0 / (1.0 + np.exp(-(rng.normal(0, 1.5, y.size) + 3.0 * y - 1.0)))
    exact = M.auroc(s, y, method="exact"), M.average_precision(s, y, method="exact")
    hist = M.auroc(s, y, method="histogram"), M.average_precision(s, y, method="histogram")
    assert abs(hist[0] - exact[0]) < 1e-3 and abs(hist[1] - exact[1]) < 1e-3
    assert hist[0] != exact[0]                                        # it did bin
    monkeypatch.setattr(M, "EXACT_MAX_VOXELS", 1000)                  # "auto" switches over
    assert M.auroc(s, y) == hist[0]


def test_single_class_truth_gives_nan_auroc():
    s = np.linspace(0, 1, 64).reshape(8, 8)
    assert math.isnan(M.auroc(s, np.zeros((8, 8), bool)))
    assert math.isnan(M.average_precision(s, np.zeros((8, 8), bool)))
    assert M.average_precision(s, np.ones((8, 8), bool)) == 1.0


# ------------------------------------------------------------------ thresholds

def test_choose_threshold_separable_case():
    rng = np.random.default_rng(0)
    y = rng.random((16, 16, 16)) < 0.2
    s = np.where(y, rng.uniform(0.55, 1.0, y.shape), rng.uniform(0.0, 0.45, y.shape))
    t = M.choose_threshold(s, y)
    assert s[~y].max() < t <= s[y].min()
    assert M.dice(s >= t, y) == 1.0


@pytest.mark.parametrize("criterion", ["dice", "youden"])
def test_choose_threshold_is_the_brute_force_optimum(criterion):
    rng = np.random.default_rng(1)
    y = rng.random((12, 12, 12)) < 0.25
    s = np.round(np.clip(0.3 * y + rng.normal(0.4, 0.2, y.shape), 0, 1), 3)

    def score(t):
        p = s >= t
        tp, fp = np.sum(p & y), np.sum(p & ~y)
        if criterion == "dice":
            return 2 * tp / (p.sum() + y.sum())
        return tp / y.sum() - fp / (~y).sum()

    best = max(score(u) for u in np.unique(s))                         # independent loop
    t = M.choose_threshold(s, y, criterion=criterion)
    assert score(t) == pytest.approx(best, abs=1e-12)
    assert not np.any(s == t)                                          # a midpoint, not a datum


def test_evaluate_never_chooses_its_threshold_from_the_data():
    rng = np.random.default_rng(2)
    y = rng.random((10, 10, 10)) < 0.3
    s = np.clip(np.where(y, 0.35, 0.15) + rng.normal(0, 0.03, y.shape), 0, 1).astype(np.float32)
    t_val = M.choose_threshold(s, y)                                   # optimum is near 0.25
    assert 0.15 < t_val < 0.35
    r = M.evaluate(s, y)
    assert r["threshold"] == 0.5 and r["threshold_source"] == "default 0.5"
    assert r["dice"] == pytest.approx(M.dice(s >= 0.5, y))            # (no voxel >= 0.5: 0.0)
    g = M.evaluate(s, y, threshold=0.3)
    assert g["threshold"] == 0.3 and g["threshold_source"] == "given"
    assert g["dice"] == pytest.approx(M.dice(s >= 0.3, y))


def test_evaluate_keys_and_input_types(tmp_path):
    zarr = pytest.importorskip("zarr")
    t = box((10, 12, 20), slice(3, 7), slice(4, 8), slice(2, 18))
    rng = np.random.default_rng(4)
    prob = np.clip(np.where(t, 0.8, 0.2) + rng.normal(0, 0.15, t.shape), 0, 1).astype(np.float32)
    ref = M.evaluate(prob, t, voxel_size_um=(2.0, 1.0, 1.0))
    keys = {"auroc", "ap", "dice", "cldice", "centreline_sensitivity", "centreline_precision",
            "hausdorff95", "precision", "recall", "threshold", "threshold_source", "n_voxels",
            "n_vessel_voxels"}
    assert keys <= set(ref)
    assert ref["n_voxels"] == t.size and ref["n_vessel_voxels"] == int(t.sum())
    z = zarr.create_array(store=str(tmp_path / "p.zarr"), shape=prob.shape, chunks=(5, 6, 10),
                          dtype="float32")
    z[...] = prob
    for other in (M.evaluate(torch.from_numpy(prob), torch.from_numpy(t), voxel_size_um=(2, 1, 1)),
                  M.evaluate(z, t.astype(np.uint8), voxel_size_um=(2, 1, 1))):
        for k in keys - {"threshold_source"}:
            assert other[k] == pytest.approx(ref[k], nan_ok=True), k
    r2 = M.evaluate(prob[5], t[5])                                     # 2D
    assert 0.5 < r2["dice"] <= 1.0 and r2["hausdorff95"] >= 0


def test_bad_input_messages():
    t = box((6, 6, 6), slice(1, 4), slice(1, 4), slice(1, 4))
    p = t.astype(np.float32)
    with pytest.raises(ValueError, match=r"evaluate: truth must be of the prediction's shape"):
        M.evaluate(p, t[:5])
    with pytest.raises(ValueError, match=r"evaluate: truth must be binary .*got values in \[0, 2\]"):
        M.evaluate(p, t * 2)
    with pytest.raises(ValueError, match=r"evaluate: prob_or_mask must be probabilities in \[0, 1\]"):
        M.evaluate(p * 3, t)
    with pytest.raises(ValueError, match=r"evaluate: threshold must be a number in \[0, 1\], got 1.5"):
        M.evaluate(p, t, threshold=1.5)
    with pytest.raises(ValueError, match=r"evaluate: threshold must be None for a binary prediction"):
        M.evaluate(t, t, threshold=0.5)
    with pytest.raises(ValueError, match=r"evaluate: voxel_size_um must be a number > 0 or 3 numbers"):
        M.evaluate(p, t, voxel_size_um=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"evaluate: prob_or_mask must be a 2D \(Y, X\) or 3D"):
        M.evaluate(p[0, 0], t[0, 0])
    with pytest.raises(ValueError, match=r"hausdorff: percentile must be a number in \[0, 100\]"):
        M.hausdorff(t, t, 101)
    with pytest.raises(ValueError, match=r"auroc: method must be one of 'auto', 'exact'"):
        M.auroc(p, t, method="fast")
    with pytest.raises(ValueError, match=r"choose_threshold: truth_val must be validation labels"):
        M.choose_threshold(p, np.zeros_like(t))
    with pytest.raises(ValueError, match=r"choose_threshold: criterion must be one of 'dice'"):
        M.choose_threshold(p, t, criterion="f1")
    with pytest.raises(ValueError, match=r"dice: valid must be of the prediction's shape"):
        M.dice(t, t, valid=t[1:])


# ------------------------------------------------------------------ plot

def test_plot_curves_writes_png_and_refuses_to_overwrite(tmp_path, tied_scores):
    s, y = tied_scores
    out = tmp_path / "curves.png"
    fig = M.plot_curves(s, y, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "AUROC" in fig.axes[0].get_legend().get_texts()[0].get_text()
    before = out.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="curves.png exists"):
        M.plot_curves(s, y, out)
    assert out.stat().st_mtime_ns == before
    M.plot_curves(s, y, out, overwrite=True)
    assert not list(tmp_path.glob(".*partial"))
