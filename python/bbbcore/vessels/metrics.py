"""Segmentation metrics of the tUbe net paper, computed without peeking at the test labels.

The paper reports AUROC, average precision (AP), Dice, precision/recall and (in our port, as the
literature on vessel segmentation recommends) the topology-aware clDice / centreline sensitivity
and the 95th-percentile Hausdorff distance:

- **AUROC, AP** are threshold-free: exact and tie-aware by sorting the scores once and taking
  cumulative sums over groups of equal scores (the trapezoid rule for the ROC, the step-wise
  ``Σ (R_k - R_{k-1}) P_k`` of scikit-learn for AP; both match ``sklearn.metrics``). Above
  :data:`EXACT_MAX_VOXELS` voxels the scores are binned into 2^16 bins on [0, 1] instead (memory
  O(2^16), one pass; see :func:`roc_curve` for the error).
- **Dice, precision, recall, clDice, HD95** need a binary prediction, ``prob >= threshold``.
  The public tUbe net code picked the threshold that maximised Dice *on the test set*, which
  inflates the reported Dice. Here :func:`evaluate` never looks at the evaluated data to set a
  threshold: it uses the one it is given (chosen beforehand on validation data with
  :func:`choose_threshold`) or 0.5, and says which in ``threshold_source``.
- **clDice** (Shit et al., CVPR 2021): with S(·) the centreline (:func:`bbbcore.vessels.analysis.
  skeletonize`) and V(·) the mask, ``Tprec = |S(P) ∩ V(L)| / |S(P)|`` (centreline precision),
  ``Tsens = |S(L) ∩ V(P)| / |S(L)|`` (centreline sensitivity), clDice = their harmonic mean.
- **Hausdorff** follows MONAI's ``compute_hausdorff_distance``: surface voxels are mask voxels
  removed by a binary erosion (6-connected structuring element, outside the array counts as
  background); distances from each surface voxel of one mask to the nearest surface voxel of the
  other (exact Euclidean distance transform with the voxel size); the percentile (linear
  interpolation) of each directed set; the larger of the two.

Undefined values are NaN (never a RuntimeWarning): Dice when both masks are empty (0/0),
precision with an empty prediction, recall with an empty truth, AUROC when the truth holds one
class only, AP without positives, Hausdorff when either mask is empty (no surface to measure from),
centreline precision/sensitivity with an empty prediction/truth centreline; clDice is 0 when one
of its parts is 0 (a vessel missed entirely, or predicted where there is none) and NaN when
both masks are empty.

``valid`` (unlabelled regions excluded) restricts every voxel count. Centrelines and distance
transforms are computed on the whole arrays -- a vessel crossing the edge of the valid region is
not cut into pieces -- and only voxels inside ``valid`` are counted; for the Hausdorff distance both
surfaces are restricted to ``valid`` (MONAI's ``mask`` convention).
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
from scipy import ndimage as ndi

from bbbcore import _checks
from bbbcore.vessels.analysis import (
    _array,
    _binary,
    _save_figure,
    _spacing,
    skeletonize,
)

EXACT_MAX_VOXELS = 20_000_000
"""Above this many scored voxels, ROC/PR use the 2^16-bin histogram instead of a full sort."""

HISTOGRAM_BINS = 2 ** 16
_CHUNK = 1 << 22
_METHODS = ("auto", "exact", "histogram")


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------

def _valid(fn: str, valid, shape, spatial: bool = True) -> np.ndarray | None:
    if valid is None:
        return None
    v = _binary(fn, "valid", valid, spatial)
    if v.shape != tuple(shape):
        _checks.fail(fn, "valid", f"of the prediction's shape {tuple(shape)}", f"shape {v.shape}")
    return v


def _pair(fn: str, pred, truth, valid):
    """Binary prediction and truth of one shape, and the optional valid mask."""
    p = _binary(fn, "pred", pred)
    t = _binary(fn, "truth", truth)
    if p.shape != t.shape:
        _checks.fail(fn, "truth", f"of the prediction's shape {p.shape}", f"shape {t.shape}")
    return p, t, _valid(fn, valid, p.shape)


def _scores(fn: str, arg: str, x, spatial: bool = True) -> np.ndarray:
    """Probability array-like → float array with values in [0, 1] (bool/int 0/1 → float)."""
    a = _array(fn, arg, x, spatial)
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        return _binary(fn, arg, a, spatial).astype(np.float32)
    if a.size:
        lo, hi = np.min(a), np.max(a)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 1:
            _checks.fail(fn, arg, "probabilities in [0, 1]",
                         f"values in [{float(lo):g}, {float(hi):g}]")
    return a


def _scored(fn: str, prob, truth, valid):
    """Flattened scores and labels (restricted to ``valid``); any number of dimensions."""
    s = _scores(fn, "prob", prob, spatial=False)
    t = _binary(fn, "truth", truth, spatial=False)
    if s.shape != t.shape:
        _checks.fail(fn, "truth", f"of the prediction's shape {s.shape}", f"shape {t.shape}")
    v = _valid(fn, valid, s.shape, spatial=False)
    if v is not None:
        return s[v], t[v]
    return s.reshape(-1), t.reshape(-1)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


# --------------------------------------------------------------------------------------------
# ROC / PR
# --------------------------------------------------------------------------------------------

def _counts(fn: str, s: np.ndarray, y: np.ndarray, method: str):
    """Cumulative (tp, fp) at every distinct threshold, thresholds descending.

    Prediction rule: positive iff score >= threshold. Exact: one stable sort, group equal scores.
    Histogram: bin b = floor(score * 2^16) (clipped to 2^16 - 1); threshold b / 2^16 reproduces
    the bin split exactly (multiplying by a power of two is exact in floating point).
    """
    method = _checks.choice(fn, "method", method, _METHODS)
    if method == "auto":
        method = "histogram" if s.size > EXACT_MAX_VOXELS else "exact"
    if s.size == 0:
        z = np.zeros(0, np.int64)
        return np.zeros(0), z, z
    if method == "exact":
        order = np.argsort(s, kind="stable")[::-1]
        ss = s[order]
        yy = y[order]
        del order
        last = np.flatnonzero(ss[1:] != ss[:-1])
        last = np.concatenate([last, [ss.size - 1]])
        tps = np.cumsum(yy, dtype=np.int64)[last]
        fps = (last + 1) - tps
        return ss[last].astype(np.float64), tps, fps
    nb = HISTOGRAM_BINS
    pos = np.zeros(nb, np.int64)
    tot = np.zeros(nb, np.int64)
    for i in range(0, s.size, _CHUNK):
        b = np.minimum((s[i:i + _CHUNK].astype(np.float64) * nb).astype(np.int64), nb - 1)
        tot += np.bincount(b, minlength=nb)
        pos += np.bincount(b[y[i:i + _CHUNK]], minlength=nb)
    keep = np.flatnonzero(tot)[::-1]
    tps = np.cumsum(pos[keep])
    fps = np.cumsum(tot[keep]) - tps
    return keep.astype(np.float64) / nb, tps, fps


def roc_curve(prob, truth, *, valid=None, method: str = "auto"):
    """ROC curve at every distinct score (tie-aware), thresholds descending.

    Same points as ``sklearn.metrics.roc_curve(drop_intermediate=False)``: starts at
    (0, 0) with threshold +inf; a voxel is positive when ``prob >= threshold``.

    Histogram method (``method="histogram"``, or ``"auto"`` above :data:`EXACT_MAX_VOXELS`
    voxels): scores are binned into 2^16 bins over [0, 1] and each bin is treated as one tied
    score. The curve is exact at the bin edges; the AUROC differs from the exact value only through
    positive/negative pairs sharing a bin, by at most ``Σ_b pos_b·neg_b / (2·P·N)`` (≈ 2^-17 for
    smooth score densities; the tests check < 1e-3).

    Args:
        prob: probabilities in [0, 1] (float array-like; bool/0-1 ints are taken as scores).
        truth: binary array-like of the same shape.
        valid: optional binary mask; only voxels where it is True count.
        method: ``"auto"``, ``"exact"`` or ``"histogram"``.

    Returns:
        (fpr, tpr, thresholds): float64 arrays of equal length. With no positives (negatives)
        ``tpr`` (``fpr``) is NaN.

    Raises:
        ValueError: on shapes, non-binary truth, probabilities outside [0, 1], unknown method.

    Example:
        >>> fpr, tpr, thr = roc_curve([[0.1, 0.4], [0.35, 0.8]], [[0, 0], [1, 1]])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    s, y = _scored("roc_curve", prob, truth, valid)
    thr, tps, fps = _counts("roc_curve", s, y, method)
    P = int(tps[-1]) if tps.size else 0
    N = int(fps[-1]) if fps.size else 0
    tpr = np.concatenate([[0.0], tps / P]) if P else np.full(tps.size + 1, np.nan)
    fpr = np.concatenate([[0.0], fps / N]) if N else np.full(fps.size + 1, np.nan)
    return fpr, tpr, np.concatenate([[np.inf], thr])


def pr_curve(prob, truth, *, valid=None, method: str = "auto"):
    """Precision-recall curve at every distinct score (tie-aware), thresholds descending.

    Point k predicts ``prob >= thresholds[k]``; recall rises with k. There is no artificial
    (recall 0, precision 1) point (scikit-learn appends one; it carries no weight in AP).

    Args:
        prob, truth, valid, method: as in :func:`roc_curve`.

    Returns:
        (precision, recall, thresholds): float64 arrays of equal length; recall is NaN without
        positives.

    Example:
        >>> p, r, t = pr_curve([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
        >>> [round(float(v), 3) for v in p], r.tolist()
        ([1.0, 0.5, 0.667, 0.5], [0.5, 0.5, 1.0, 1.0])
    """
    s, y = _scored("pr_curve", prob, truth, valid)
    thr, tps, fps = _counts("pr_curve", s, y, method)
    P = int(tps[-1]) if tps.size else 0
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / P if P else np.full(tps.size, np.nan)
    return precision.astype(np.float64), recall.astype(np.float64), thr


def _auc(tps, fps) -> float:
    P, N = (int(tps[-1]), int(fps[-1])) if tps.size else (0, 0)
    if P == 0 or N == 0:
        return float("nan")
    t = np.concatenate([[0], tps]).astype(np.float64)
    f = np.concatenate([[0], fps]).astype(np.float64)
    return float(np.sum(np.diff(f) * (t[1:] + t[:-1])) / (2.0 * P * N))


def _ap(tps, fps) -> float:
    P = int(tps[-1]) if tps.size else 0
    if P == 0:
        return float("nan")
    prec = tps / (tps + fps)
    return float(np.sum(np.diff(np.concatenate([[0], tps])) * prec) / P)


def auroc(prob, truth, *, valid=None, method: str = "auto") -> float:
    """Area under the ROC curve (exact, ties counted as half), = ``sklearn roc_auc_score``.

    Args:
        prob, truth, valid, method: as in :func:`roc_curve`.

    Returns:
        float in [0, 1]; NaN when the (valid) truth holds only one class.

    Example:
        >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    s, y = _scored("auroc", prob, truth, valid)
    _, tps, fps = _counts("auroc", s, y, method)
    return _auc(tps, fps)


def average_precision(prob, truth, *, valid=None, method: str = "auto") -> float:
    """Average precision ``Σ_k (R_k - R_{k-1}) P_k`` over distinct thresholds (scikit-learn's).

    Args:
        prob, truth, valid, method: as in :func:`roc_curve`.

    Returns:
        float in [0, 1]; NaN without positives.

    Example:
        >>> round(average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 4)
        0.8333
    """
    s, y = _scored("average_precision", prob, truth, valid)
    _, tps, fps = _counts("average_precision", s, y, method)
    return _ap(tps, fps)


def choose_threshold(prob_val, truth_val, *, criterion: str = "dice", valid=None,
                     method: str = "auto") -> float:
    """Threshold maximising Dice (or Youden's J) on VALIDATION data, exactly.

    Every distinct probability is a candidate (``prob >= t``); the counts at all of them come
    from one sort and cumulative sums, so the optimum is exact, not a grid search. The value
    returned is the midpoint between the optimal score and the next lower distinct score, so it
    reproduces the optimal split of the validation voxels while not sitting on a data value. Ties
    go to the highest threshold. With the histogram method the threshold is a bin edge k/2^16
    (exact at that resolution). Use the result as ``evaluate(..., threshold=t)`` on test data.

    Args:
        prob_val: validation probabilities in [0, 1].
        truth_val: validation labels (binary), same shape.
        criterion: ``"dice"`` (2TP / (2TP + FP + FN)) or ``"youden"`` (TPR - FPR).
        valid: optional binary mask of labelled voxels.
        method: ``"auto"``, ``"exact"`` or ``"histogram"`` (see :func:`roc_curve`).

    Returns:
        float threshold in [0, 1].

    Raises:
        ValueError: if the validation truth holds no vessel voxel (or, for Youden, no background
            voxel), or on bad input.

    Example:
        >>> round(choose_threshold([0.2, 0.3, 0.6, 0.7], [0, 0, 1, 1]), 6)   # between 0.3 and 0.6
        0.45
    """
    fn = "choose_threshold"
    criterion = _checks.choice(fn, "criterion", criterion, ("dice", "youden"))
    s, y = _scored(fn, prob_val, truth_val, valid)
    thr, tps, fps = _counts(fn, s, y, method)
    P = int(tps[-1]) if tps.size else 0
    N = int(fps[-1]) if fps.size else 0
    if P == 0:
        _checks.fail(fn, "truth_val", "validation labels with at least one vessel voxel",
                     "no vessel voxel")
    if criterion == "dice":
        score = 2.0 * tps / (tps + fps + P)
    else:
        if N == 0:
            _checks.fail(fn, "truth_val", "validation labels with background voxels for 'youden'",
                         "no background voxel")
        score = tps / P - fps / N
    k = int(np.argmax(score))
    t = float(thr[k])
    exact = _checks.choice(fn, "method", method, _METHODS) == "exact" or (
        method == "auto" and s.size <= EXACT_MAX_VOXELS)
    if exact and k + 1 < thr.size:
        mid = 0.5 * (t + float(thr[k + 1]))
        if float(thr[k + 1]) < mid <= t:
            t = mid
    return t


# --------------------------------------------------------------------------------------------
# overlap and topology
# --------------------------------------------------------------------------------------------

def dice(pred, truth, *, valid=None) -> float:
    """Dice = 2|P ∩ L| / (|P| + |L|) of two binary masks (NaN when both are empty).

    Example:
        >>> import numpy as np
        >>> a = np.zeros((10, 10, 10), bool); a[0:4] = True
        >>> b = np.zeros((10, 10, 10), bool); b[2:6] = True
        >>> dice(a, b)   # 2*200 / (400 + 400)
        0.5
    """
    p, t, v = _pair("dice", pred, truth, valid)
    if v is not None:
        p, t = p & v, t & v
    inter = int(np.count_nonzero(p & t))
    return _ratio(2 * inter, int(np.count_nonzero(p)) + int(np.count_nonzero(t)))


def centreline_scores(pred, truth, *, valid=None) -> dict:
    """clDice and its two parts, from the centrelines of both masks (Shit et al. 2021).

    Args:
        pred, truth: binary masks of one shape (2D or 3D).
        valid: optional binary mask; centreline voxels outside it are not counted.

    Returns:
        dict with ``centreline_precision`` (Tprec = |S(P) ∩ V(L)| / |S(P)|),
        ``centreline_sensitivity`` (Tsens = |S(L) ∩ V(P)| / |S(L)|) and ``cldice``
        (2·Tprec·Tsens / (Tprec + Tsens)); NaN/0 rules in the module docstring.

    Example:
        >>> import numpy as np
        >>> line = np.zeros((5, 5, 30), bool); line[2, 2, 0:30] = True
        >>> broken = line.copy(); broken[2, 2, 12:18] = False                 # 6 of 30 missing
        >>> s = centreline_scores(broken, line)
        >>> s["centreline_sensitivity"], s["centreline_precision"]
        (0.8, 1.0)
    """
    p, t, v = _pair("centreline_scores", pred, truth, valid)
    return _centreline(p, t, v)


def _centreline(p, t, v) -> dict:
    sp = skeletonize(p) if p.any() else np.zeros(p.shape, bool)
    st = skeletonize(t) if t.any() else np.zeros(t.shape, bool)
    if v is not None:
        sp, st = sp & v, st & v
    tprec = _ratio(np.count_nonzero(sp & t), np.count_nonzero(sp))
    tsens = _ratio(np.count_nonzero(st & p), np.count_nonzero(st))
    if tprec == 0.0 or tsens == 0.0:
        cl = 0.0
    elif math.isnan(tprec) or math.isnan(tsens):
        cl = float("nan")
    else:
        cl = 2.0 * tprec * tsens / (tprec + tsens)
    return {"cldice": cl, "centreline_precision": tprec, "centreline_sensitivity": tsens}


def cldice(pred, truth, *, valid=None) -> float:
    """clDice of two binary masks (see :func:`centreline_scores`).

    Example:
        >>> import numpy as np
        >>> tube = np.zeros((9, 9, 30), bool); tube[3:6, 3:6, 2:28] = True
        >>> cldice(tube, tube)
        1.0
    """
    p, t, v = _pair("cldice", pred, truth, valid)
    return _centreline(p, t, v)["cldice"]


def _surface(m: np.ndarray) -> np.ndarray:
    st = ndi.generate_binary_structure(m.ndim, 1)
    return m & ~ndi.binary_erosion(m, structure=st, border_value=0)


def hausdorff(pred, truth, percentile: float = 95.0, *, voxel_size_um=1.0, valid=None) -> float:
    """Percentile Hausdorff distance between two masks' surfaces [µm], MONAI's convention.

    ``max(q(d(∂P → ∂L)), q(d(∂L → ∂P)))`` with q the ``percentile`` (linear interpolation) of the
    directed surface-to-surface distances; surfaces are the voxels a 6-connected erosion removes
    (outside the array is background). Equals ``monai.metrics.compute_hausdorff_distance(...,
    percentile=percentile, spacing=voxel_size_um)``.

    Args:
        pred, truth: binary masks of one shape, (Z, Y, X) or (Y, X).
        percentile: in [0, 100]; 100 gives the classical Hausdorff distance.
        voxel_size_um: a number or one per axis [µm].
        valid: optional binary mask; surface voxels outside it are ignored.

    Returns:
        float [µm]; NaN when either mask (or its surface inside ``valid``) is empty.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((1, 1, 20), bool); a[0, 0, 5] = True
        >>> b = np.zeros((1, 1, 20), bool); b[0, 0, 8] = True
        >>> hausdorff(a, b, voxel_size_um=(1.0, 1.0, 0.5))
        1.5
    """
    fn = "hausdorff"
    p, t, v = _pair(fn, pred, truth, valid)
    if (isinstance(percentile, bool) or not isinstance(percentile, Real)
            or not 0 <= percentile <= 100):
        _checks.fail(fn, "percentile", "a number in [0, 100]", repr(percentile))
    spacing = _spacing(fn, voxel_size_um, p.ndim)
    return _hausdorff(p, t, v, float(percentile), spacing)


def _hausdorff(p, t, v, q, spacing) -> float:
    if not p.any() or not t.any():
        return float("nan")
    union = p | t
    lo = [int(np.flatnonzero(union.any(axis=tuple(j for j in range(p.ndim) if j != i)))[0])
          for i in range(p.ndim)]
    hi = [int(np.flatnonzero(union.any(axis=tuple(j for j in range(p.ndim) if j != i)))[-1])
          for i in range(p.ndim)]
    box = tuple(slice(max(a - 1, 0), min(b + 2, n)) for a, b, n in zip(lo, hi, p.shape))
    ep, et = _surface(p[box]), _surface(t[box])
    if v is not None:
        ep, et = ep & v[box], et & v[box]
    if not ep.any() or not et.any():
        return float("nan")
    d_pt = ndi.distance_transform_edt(~et, sampling=spacing)[ep]
    d_tp = ndi.distance_transform_edt(~ep, sampling=spacing)[et]
    return float(max(np.percentile(d_pt, q), np.percentile(d_tp, q)))


# --------------------------------------------------------------------------------------------
# all at once
# --------------------------------------------------------------------------------------------

def evaluate(prob_or_mask, truth, threshold=None, *, voxel_size_um=1.0, valid=None,
             hd_percentile: float = 95.0, method: str = "auto") -> dict:
    """All metrics of a prediction against the truth, at a threshold fixed in advance.

    The threshold is never chosen on the evaluated data: give the one chosen on validation data
    (:func:`choose_threshold`), or leave None for 0.5. A binary prediction (bool or integer 0/1)
    is used as is.

    Args:
        prob_or_mask: probabilities in [0, 1] (float) or a binary mask (bool/int), shape (Z, Y, X)
            or (Y, X); NumPy, torch, zarr or other array-likes.
        truth: binary labels of the same shape.
        threshold: in [0, 1]; a voxel is a vessel when ``prob >= threshold``. None → 0.5 for
            probabilities; must be None for a binary prediction.
        voxel_size_um: a number or one per axis [µm] (Hausdorff distance).
        valid: optional binary mask of labelled voxels; all metrics count only these.
        hd_percentile: percentile of the Hausdorff distance (key ``hausdorff95`` for 95, else
            ``hausdorff<p>``).
        method: ROC/PR method (``"auto"``, ``"exact"``, ``"histogram"``), see :func:`roc_curve`.

    Returns:
        dict with ``auroc``, ``ap`` (threshold-free, from the probabilities), ``dice``,
        ``precision``, ``recall``, ``cldice``, ``centreline_sensitivity``,
        ``centreline_precision``, ``hausdorff95`` [µm], ``threshold`` (float, None for a binary
        prediction), ``threshold_source`` (``"given"``, ``"default 0.5"`` or ``"binary input"``),
        ``n_voxels`` (voxels evaluated) and ``n_vessel_voxels`` (true vessel voxels among them).
        NaN where a metric is undefined (module docstring).

    Raises:
        ValueError: on mismatched shapes, non-binary truth/valid, probabilities outside [0, 1],
            a bad threshold, a threshold given with a binary prediction.

    Example:
        >>> import numpy as np
        >>> truth = np.zeros((8, 8, 24), bool); truth[3:6, 3:6, 2:22] = True
        >>> prob = np.where(truth, 0.9, 0.1).astype(np.float32)
        >>> r = evaluate(prob, truth)
        >>> r["dice"], r["auroc"], r["threshold"], r["threshold_source"]
        (1.0, 1.0, 0.5, 'default 0.5')
    """
    fn = "evaluate"
    a = _array(fn, "prob_or_mask", prob_or_mask)
    t = _binary(fn, "truth", truth)
    if a.shape != t.shape:
        _checks.fail(fn, "truth", f"of the prediction's shape {a.shape}", f"shape {t.shape}")
    v = _valid(fn, valid, a.shape)
    spacing = _spacing(fn, voxel_size_um, a.ndim)
    if (isinstance(hd_percentile, bool) or not isinstance(hd_percentile, Real)
            or not 0 <= hd_percentile <= 100):
        _checks.fail(fn, "hd_percentile", "a number in [0, 100]", repr(hd_percentile))
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        if threshold is not None:
            _checks.fail(fn, "threshold", "None for a binary prediction (bool/integer input)",
                         repr(threshold))
        pred = _binary(fn, "prob_or_mask", a)
        scores = pred
        thr, source = None, "binary input"
    else:
        scores = _scores(fn, "prob_or_mask", a)
        if threshold is None:
            thr, source = 0.5, "default 0.5"
        else:
            if (isinstance(threshold, bool) or not isinstance(threshold, Real)
                    or not 0 <= threshold <= 1):
                _checks.fail(fn, "threshold", "a number in [0, 1]", repr(threshold))
            thr, source = float(threshold), "given"
        pred = scores >= thr
    s_flat = scores[v] if v is not None else scores.reshape(-1)
    t_flat = t[v] if v is not None else t.reshape(-1)
    _, tps, fps = _counts(fn, s_flat, t_flat, method)
    pv, tv = (pred & v, t & v) if v is not None else (pred, t)
    tp = int(np.count_nonzero(pv & tv))
    n_p, n_t = int(np.count_nonzero(pv)), int(np.count_nonzero(tv))
    out = {
        "auroc": _auc(tps, fps),
        "ap": _ap(tps, fps),
        "dice": _ratio(2 * tp, n_p + n_t),
        "precision": _ratio(tp, n_p),
        "recall": _ratio(tp, n_t),
    }
    out.update(_centreline(pred, t, v))
    key = "hausdorff95" if float(hd_percentile) == 95.0 else f"hausdorff{float(hd_percentile):g}"
    out[key] = _hausdorff(pred, t, v, float(hd_percentile), spacing)
    out.update({"threshold": thr, "threshold_source": source,
                "n_voxels": int(s_flat.size), "n_vessel_voxels": n_t})
    return out


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------

def plot_curves(prob, truth, path=None, *, valid=None, method: str = "auto",
                overwrite: bool = False):
    """Figure with the ROC curve (AUROC in the legend) and the precision-recall curve (AP).

    Args:
        prob, truth, valid, method: as in :func:`roc_curve`.
        path: optional file to save to (format from the suffix, PNG when none).
        overwrite: replace an existing ``path``.

    Returns:
        ``matplotlib.figure.Figure`` (no pyplot state, no backend needed).

    Raises:
        ValueError: on bad input (see :func:`roc_curve`) or an unknown image suffix.
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
        FileNotFoundError: if the directory of ``path`` does not exist.

    Example:
        >>> fig = plot_curves([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        >>> [ax.get_title() for ax in fig.axes]
        ['ROC', 'precision-recall']
    """
    fn = "plot_curves"
    s, y = _scored(fn, prob, truth, valid)
    _, tps, fps = _counts(fn, s, y, method)
    P = int(tps[-1]) if tps.size else 0
    N = int(fps[-1]) if fps.size else 0
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    if P and N:
        ax1.plot(np.concatenate([[0], fps / N]), np.concatenate([[0], tps / P]),
                 label=f"AUROC = {_auc(tps, fps):.4f}")
    ax1.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="chance")
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC",
            xlim=(0, 1), ylim=(0, 1.01))
    ax1.legend(loc="lower right")
    if P:
        prec = tps / (tps + fps)
        ax2.step(np.concatenate([[0], tps / P]), np.concatenate([[prec[0]], prec]), where="pre",
                 label=f"AP = {_ap(tps, fps):.4f}")
        ax2.axhline(P / (P + N), ls="--", color="0.6", lw=1, label="prevalence")
    ax2.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1),
            ylim=(0, 1.01))
    ax2.legend(loc="lower left")
    if path is not None:
        _save_figure(fig, path, overwrite=overwrite, fn=fn)
    return fig
