"""The "classic" baseline: trackpy locate → link → MSD fit, with automatically tuned parameters.

The paper's classic estimator (SCIENCE.md, "Diffusion-coefficient estimation") locates particles
on every frame with trackpy's Crocker–Grier feature finder, links the localisations into tracks,
drops short tracks and fits a straight line to the ensemble mean-squared displacement (MSD).
With generic settings it does no better than guessing the prior mean; with settings tuned on a
separate, simulated calibration set it reaches L1 ≈ 0.11–0.19 µm²/s at low D. This module is
that pipeline, with two corrections to trackpy's own ``emsd``:

* the ensemble MSD averages only the displacements that exist (a gap left by ``memory`` or a
  track that ends is missing data, never a zero displacement; ``trackpy.emsd`` turns NaN into 0);
* it reports an uncertainty: a bootstrap over tracks (default) or the OLS standard error.

The model fitted in 2D (x, y) is ``MSD(τ) = 4·D·τ + offset`` over lags τ = 1..max_lag frames;
the offset absorbs the localisation error (+4σ²) and the motion blur of the raster scan (−).

trackpy is an optional dependency (extra ``classic``); it is imported inside the functions, so
``import bbbcore.diffusion.tracking`` works without it.

Convention:
    Movies are ``(T, Y, X)`` in detector counts; positions are (y, x) with pixel (r, c) centred
    at (y, x) = (r, c) px = (r, c)·pixel_size_um µm, as in :class:`bbbcore.twophoton.ScanConfig`.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Mapping, Sequence

import numpy as np

from bbbcore import _checks

__all__ = ["TrackpyParams", "track_movie", "estimate_trackpy", "ensemble_msd", "tune_trackpy",
           "default_grid"]

_IMPORT_MESSAGE = "trackpy is needed for bbbcore.diffusion.tracking: pip install 'bbbcore[classic]'"

# fields of TrackpyParams by the pipeline stage they affect (for caching while tuning)
_LOCATE_FIELDS = ("diameter_px", "separation_px", "percentile", "noise_size_px")
_LINK_FIELDS = ("minmass", "search_range_px", "memory_frames")
_FIT_FIELDS = ("min_track_frames", "max_lag_frames")

# linking: on a subnetwork too large to solve, retry with the search range shrunk by this factor
# down to this many pixels before giving up (trackpy's adaptive search)
_ADAPTIVE_STEP = 0.9
_ADAPTIVE_STOP_PX = 0.5


def _trackpy():
    try:
        import trackpy
    except ImportError as e:
        raise ImportError(_IMPORT_MESSAGE) from e
    return trackpy


@contextmanager
def _quiet():
    """Silence trackpy's per-frame INFO log and its warnings (e.g. "No maxima survived") for the
    duration of our calls only; the logger level is restored afterwards."""
    logger = logging.getLogger("trackpy")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class TrackpyParams:
    """Settings of the locate → link → MSD-fit pipeline.

    Args:
        diameter_px: feature diameter for ``trackpy.locate`` [px], an odd integer ≥ 3 (about
            4·σxy/pixel + 1 for a Gaussian spot; round up).
        minmass: minimum integrated brightness of a feature in the band-passed image [counts];
            the movie is rounded to integer counts first, so this is in detector counts.
        search_range_px: largest displacement linked between frames [px].
        memory_frames: frames a particle may vanish and still be linked to its track.
        min_track_frames: shortest track kept (``trackpy.filter_stubs`` threshold) [frames].
        max_lag_frames: largest lag of the MSD fit [frames], ≥ 2 (slope and offset).
        separation_px: minimum separation of features [px]; ``None`` is trackpy's
            ``diameter + 1``.
        percentile: features must have a peak brighter than this percentile of the frame.
        noise_size_px: SD of the Gaussian blur of the band pass [px].

    Raises:
        ValueError: for an invalid field (named in the message).

    Example:
        >>> p = TrackpyParams.generic(search_range_px=3.0)
        >>> p.diameter_px, p.search_range_px, p.max_lag_frames
        (5, 3.0, 100)
    """

    diameter_px: int = 5
    minmass: float = 100.0
    search_range_px: float = 5.0
    memory_frames: int = 3
    min_track_frames: int = 25
    max_lag_frames: int = 100
    separation_px: float | None = None
    percentile: float = 64.0
    noise_size_px: float = 1.0

    def __post_init__(self):
        fn = "TrackpyParams"
        d = self.diameter_px
        if isinstance(d, bool) or not isinstance(d, Integral) or d < 3 or d % 2 == 0:
            _checks.fail(fn, "diameter_px", "an odd integer >= 3 [px]", repr(d))
        _checks.non_negative(fn, "minmass", self.minmass, "counts")
        _checks.positive(fn, "search_range_px", self.search_range_px, "px")
        _checks.non_negative_int(fn, "memory_frames", self.memory_frames)
        m = self.min_track_frames
        if isinstance(m, bool) or not isinstance(m, Integral) or m < 2:
            _checks.fail(fn, "min_track_frames", "an integer >= 2 [frames]", repr(m))
        m = self.max_lag_frames
        if isinstance(m, bool) or not isinstance(m, Integral) or m < 2:
            _checks.fail(fn, "max_lag_frames", "an integer >= 2 [frames] (slope and offset)",
                         repr(m))
        if self.separation_px is not None:
            _checks.positive(fn, "separation_px", self.separation_px, "px")
        p = self.percentile
        if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p <= 100:
            _checks.fail(fn, "percentile", "a number in [0, 100]", repr(p))
        _checks.positive(fn, "noise_size_px", self.noise_size_px, "px")

    @classmethod
    def generic(cls, **kw) -> "TrackpyParams":
        """What a user would type without tuning: trackpy's documented defaults and walkthrough
        values (minmass 100 for integer images, search range 5 px, memory 3, stubs < 25
        frames dropped, lags up to 100 frames, as ``emsd``'s default) with a 5 px diameter for
        the ≈ 1 px PSF of the paper's 0.2 µm pixels."""
        base = dict(diameter_px=5, minmass=100.0, search_range_px=5.0, memory_frames=3,
                    min_track_frames=25, max_lag_frames=100, separation_px=None, percentile=64.0,
                    noise_size_px=1.0)
        return cls(**{**base, **kw})


# ----------------------------------------------------------------------------------- helpers
def _movie_counts(fn: str, movie) -> np.ndarray:
    """(T, Y, X) array-like → integer counts (uint16, or int64 beyond 65535), clipped at 0."""
    try:
        a = _checks.to_numpy(movie)
    except (TypeError, ValueError, RuntimeError):
        _checks.fail(fn, "movie", "a (T, Y, X) array of counts", type(movie).__name__)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        _checks.fail(fn, "movie", "a numeric (T, Y, X) array of counts", a.dtype)
    if a.ndim != 3 or 0 in a.shape:
        _checks.fail(fn, "movie", "of shape (T, Y, X) with T, Y, X >= 1", tuple(a.shape))
    a = a.astype(np.float64, copy=False)
    if not np.all(np.isfinite(a)):
        _checks.fail(fn, "movie", "finite", "non-finite values")
    a = np.clip(np.rint(a), 0.0, None)
    return a.astype(np.uint16 if a.max() <= 65535 else np.int64)


def _check_params(fn: str, params) -> "TrackpyParams":
    if not isinstance(params, TrackpyParams):
        _checks.fail(fn, "params", "a TrackpyParams", type(params).__name__)
    return params


def _locate(frames: np.ndarray, params: TrackpyParams):
    """Every feature with mass > 0 on every frame; the minmass cut is applied by the caller
    (trackpy applies it after refinement and per feature, so cutting later is identical)."""
    tp = _trackpy()
    import pandas as pd

    out = []
    with _quiet():
        for i, frame in enumerate(frames):
            f = tp.locate(frame, params.diameter_px, minmass=0.0, separation=params.separation_px,
                          percentile=params.percentile, noise_size=params.noise_size_px,
                          engine="python")
            if len(f):
                f = f.copy()
                f["frame"] = i
                out.append(f)
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in
                             ("y", "x", "mass", "size", "ecc", "signal", "raw_mass", "ep")}
                            ).assign(frame=pd.Series(dtype=np.int64))
    return pd.concat(out, ignore_index=True)


def _link(located, params: TrackpyParams):
    """minmass cut → link → filter_stubs. Returns (tracks, n_localisations, reason or None)."""
    tp = _trackpy()

    f = located.loc[located["mass"] > params.minmass].reset_index(drop=True)
    if len(f) == 0:
        return f.assign(particle=np.zeros(0, np.int64)), 0, (
            f"no features located (diameter_px={params.diameter_px}, minmass={params.minmass:g})")
    stop = _ADAPTIVE_STOP_PX if params.search_range_px > _ADAPTIVE_STOP_PX else None
    try:
        with _quiet():
            t = tp.link(f, params.search_range_px, memory=params.memory_frames,
                        adaptive_stop=stop, adaptive_step=_ADAPTIVE_STEP)
    except tp.SubnetOversizeException as e:
        return f.iloc[:0].assign(particle=np.zeros(0, np.int64)), len(f), (
            f"linking failed at search_range_px={params.search_range_px:g}: {e}")
    t = t.reset_index(drop=True)
    with _quiet():
        t = tp.filter_stubs(t, params.min_track_frames).reset_index(drop=True)
    if len(t) == 0:
        return t, len(f), (f"no track of >= {params.min_track_frames} frames among "
                           f"{len(f)} localisations")
    t["particle"] = t["particle"].astype(np.int64)
    t["frame"] = t["frame"].astype(np.int64)
    return t.sort_values(["particle", "frame"], kind="stable").reset_index(drop=True), len(f), None


def _lag_sums(tracks, max_lag: int, n_frames: int | None = None):
    """Per-track sums of squared displacements and their counts at lags 1..max_lag.

    Returns ``S, C``: float64 ``(P, max_lag)`` [px²] and int64 ``(P, max_lag)``; a pair of
    frames contributes only when the track has a position at both (gaps are missing data).
    """
    if len(tracks) == 0:
        return np.zeros((0, max_lag)), np.zeros((0, max_lag), np.int64)
    ids, p = np.unique(tracks["particle"].to_numpy(), return_inverse=True)
    fr = tracks["frame"].to_numpy().astype(np.int64)
    f0 = fr.min()
    T = int(fr.max() - f0 + 1) if n_frames is None else int(n_frames)
    pos = np.full((len(ids), T, 2), np.nan)
    pos[p, fr - f0, 0] = tracks["y"].to_numpy(dtype=np.float64)
    pos[p, fr - f0, 1] = tracks["x"].to_numpy(dtype=np.float64)
    S = np.zeros((len(ids), max_lag))
    C = np.zeros((len(ids), max_lag), np.int64)
    for k in range(1, min(max_lag, T - 1) + 1):
        d2 = ((pos[:, k:] - pos[:, :-k]) ** 2).sum(axis=2)   # NaN where either end is missing
        ok = np.isfinite(d2)
        S[:, k - 1] = np.where(ok, d2, 0.0).sum(axis=1)
        C[:, k - 1] = ok.sum(axis=1)
    return S, C


def ensemble_msd(tracks, max_lag_frames: int, *, pixel_size_um: float = 1.0):
    """NaN-safe ensemble mean-squared displacement of linked 2D tracks.

    The MSD at lag k is the mean of |r(f + k) − r(f)|² over every track and every frame f at
    which that track has a position at both f and f + k, so each existing displacement counts
    once and missing positions (gaps bridged by ``memory``, track ends) are left out, never
    counted as zero. Unlike ``trackpy.emsd`` no per-track MSD is averaged, so a lag that only
    some tracks reach is not diluted by zeros.

    Args:
        tracks: ``pandas.DataFrame`` with columns ``particle``, ``frame`` (int) and ``y``,
            ``x`` [px] (e.g. from :func:`track_movie`).
        max_lag_frames: largest lag L [frames], ≥ 1.
        pixel_size_um: pixel pitch [µm].

    Returns:
        ``(msd_um2, n_displacements)``: float64 ``(L,)`` [µm²] (NaN at lags without any
        displacement) and int64 ``(L,)``, for lags 1..L frames.

    Raises:
        ValueError: for missing columns or invalid numbers (named in the message).

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"particle": [0, 0, 0], "frame": [0, 1, 3],
        ...                   "y": [0.0, 1.0, 1.0], "x": [0.0, 0.0, 2.0]})
        >>> msd, n = ensemble_msd(t, 3)
        >>> msd.tolist(), n.tolist()
        ([1.0, 4.0, 5.0], [1, 1, 1])
    """
    fn = "ensemble_msd"
    cols = getattr(tracks, "columns", None)
    if cols is None or not {"particle", "frame", "y", "x"} <= set(cols):
        _checks.fail(fn, "tracks", "a DataFrame with columns particle, frame, y, x",
                     list(cols) if cols is not None else type(tracks).__name__)
    L = _checks.positive_int(fn, "max_lag_frames", max_lag_frames)
    px = _checks.positive(fn, "pixel_size_um", pixel_size_um, "µm")
    S, C = _lag_sums(tracks, L)
    n = C.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        msd = np.where(n > 0, S.sum(axis=0) / np.maximum(n, 1), np.nan) * px * px
    return msd, n


def _fit_lines(t: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Least squares y = a·t + b over the entries with w > 0, batched over leading dims.

    t ``(L,)``, y and w ``(..., L)``; returns (a, b, n) with NaN where fewer than 2 points."""
    w = (w > 0) & np.isfinite(y)
    y = np.where(w, y, 0.0)
    wf = w.astype(np.float64)
    n = wf.sum(-1)
    st, sy = (wf * t).sum(-1), y.sum(-1)
    stt, sty = (wf * t * t).sum(-1), (y * t).sum(-1)
    den = n * stt - st * st
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where((n >= 2) & (den > 0), (n * sty - st * sy) / den, np.nan)
        b = np.where(n >= 1, (sy - a * st) / np.maximum(n, 1), np.nan)
    return a, b, n


def _estimate_tracks(tracks, reason, params: TrackpyParams, pixel_size_um: float,
                     frame_period_s: float, *, se_method: str = "bootstrap", n_boot: int = 200,
                     seed: int = 0):
    """Fit MSD = 4·D·τ + offset to tracks. Returns (d_raw [µm²/s], se, info)."""
    L = params.max_lag_frames
    info = {"n_tracks": 0, "lags_s": frame_period_s * np.arange(1, L + 1, dtype=np.float64),
            "msd_um2": np.full(L, np.nan), "n_displacements": np.zeros(L, np.int64),
            "offset_um2": math.nan, "se_method": se_method, "reason": reason}
    if reason is not None:
        return math.nan, math.nan, info
    S, C = _lag_sums(tracks, L)
    S = S * pixel_size_um ** 2
    n = C.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        msd = np.where(n > 0, S.sum(axis=0) / np.maximum(n, 1), np.nan)
    info.update(n_tracks=int(S.shape[0]), msd_um2=msd, n_displacements=n)
    t = info["lags_s"]
    a, b, n_fit = _fit_lines(t, msd, n)
    if not n_fit >= 2:
        info["reason"] = f"fewer than 2 lags with displacements within {L} frames"
        return math.nan, math.nan, info
    d_raw, info["offset_um2"] = float(a) / 4.0, float(b)

    se = math.nan
    method = se_method
    if method == "bootstrap" and S.shape[0] < 2:
        method = "residuals"     # one track: every resample is the same track
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        P = S.shape[0]
        W = rng.multinomial(P, np.full(P, 1.0 / P), size=n_boot).astype(np.float64)  # (B, P)
        nb = W @ C
        with np.errstate(invalid="ignore", divide="ignore"):
            mb = (W @ S) / nb
        ab, _, _ = _fit_lines(t, mb, nb)
        ab = ab[np.isfinite(ab)]
        se = float(np.std(ab, ddof=1) / 4.0) if ab.size >= 2 else math.nan
    elif method == "residuals":
        ok = n > 0
        k = int(ok.sum())
        if k > 2:
            r = msd[ok] - (a * t[ok] + b)
            s2 = float((r * r).sum()) / (k - 2)
            sxx = float(((t[ok] - t[ok].mean()) ** 2).sum())
            se = math.sqrt(s2 / sxx) / 4.0
    info["se_method"] = method
    return d_raw, se, info


def _prior(fn: str, prior_um2_s):
    try:
        lo, hi = (float(v) for v in prior_um2_s)
    except (TypeError, ValueError):
        _checks.fail(fn, "prior_um2_s", "a (low, high) pair [µm²/s]", repr(prior_um2_s))
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
        _checks.fail(fn, "prior_um2_s", "a (low, high) pair with 0 <= low < high [µm²/s]",
                     repr(prior_um2_s))
    return lo, hi


def _report(d_raw, se, info, fallback, prior):
    """Clip D at 0 for reporting, or fall back to the prior's mean when there is no estimate."""
    info["d_raw_um2_s"] = d_raw
    info["fallback"] = False
    if math.isfinite(d_raw):
        return max(d_raw, 0.0), se, info
    if fallback == "prior_mean":
        lo, hi = prior
        info["fallback"] = True
        return 0.5 * (lo + hi), (hi - lo) / math.sqrt(12.0), info
    return math.nan, math.nan, info


# ---------------------------------------------------------------------------------- public API
def track_movie(movie, params: TrackpyParams | None = None, *, pixel_size_um: float,
                frame_period_s: float):
    """Locate particles on every frame, link them into tracks and drop short tracks.

    ``trackpy.locate`` runs on each frame (band pass, local maxima brighter than ``percentile``,
    centroid refinement, ``mass > minmass``), ``trackpy.link`` joins the localisations within
    ``search_range_px`` (bridging ``memory_frames`` missing frames; on an unsolvable subnetwork
    the search range shrinks adaptively) and ``trackpy.filter_stubs`` drops tracks shorter than
    ``min_track_frames``.

    Args:
        movie: ``(T, Y, X)`` NumPy array or torch tensor (any device) in detector counts; it is
            rounded to integer counts, clipped at 0, before locating (trackpy rescales float
            images per frame to 8 bits, which would make ``minmass`` depend on each frame).
        params: pipeline settings (default :meth:`TrackpyParams.generic`).
        pixel_size_um: pixel pitch [µm].
        frame_period_s: time between frames [s].

    Returns:
        ``pandas.DataFrame``, one row per linked localisation, sorted by particle then frame:
        ``particle``, ``frame`` (int64), ``y``, ``x`` [px], ``y_um``, ``x_um`` [µm], ``t_s``
        [s] (frame start) and trackpy's ``mass``, ``size``, ``ecc``, ``signal``,
        ``raw_mass``, ``ep``. Empty (same columns) when nothing is tracked.

    Raises:
        ValueError: for an invalid argument (named in the message).
        ImportError: without trackpy (``pip install 'bbbcore[classic]'``).

    Example:
        >>> import numpy as np
        >>> t = track_movie(np.full((3, 16, 16), 100.0), pixel_size_um=0.2, frame_period_s=0.06)
        >>> len(t), "y_um" in t.columns
        (0, True)
    """
    fn = "track_movie"
    params = TrackpyParams.generic() if params is None else _check_params(fn, params)
    px = _checks.positive(fn, "pixel_size_um", pixel_size_um, "µm")
    dt = _checks.positive(fn, "frame_period_s", frame_period_s, "s")
    frames = _movie_counts(fn, movie)
    _trackpy()
    tracks, _, _ = _link(_locate(frames, params), params)
    return _finish_tracks(tracks, px, dt)


def _finish_tracks(tracks, px: float, dt: float):
    t = tracks.copy()
    if "particle" not in t.columns:
        t["particle"] = np.zeros(len(t), np.int64)
    t["particle"] = t["particle"].astype(np.int64)
    t["frame"] = t["frame"].astype(np.int64)
    t["y_um"] = t["y"] * px
    t["x_um"] = t["x"] * px
    t["t_s"] = t["frame"] * dt
    first = ["particle", "frame", "y", "x", "y_um", "x_um", "t_s"]
    return t[first + [c for c in t.columns if c not in first]]


def estimate_trackpy(movie, params: TrackpyParams | None = None, *, pixel_size_um: float,
                     frame_period_s: float, fallback: str = "nan", prior_um2_s=(0.0, 1.5),
                     se_method: str = "bootstrap", n_boot: int = 200, seed: int = 0):
    """Diffusion coefficient of a movie by trackpy tracking and an ensemble-MSD fit.

    The linked tracks of :func:`track_movie` give the ensemble MSD of :func:`ensemble_msd`
    (only existing displacements are averaged), and ordinary least squares fits
    ``MSD(τ) = 4·D·τ + offset`` over the lags τ = 1..``max_lag_frames`` that have at least one
    displacement (2D: the in-plane x and y). The fitted D may be negative; it is clipped at 0
    only in the returned value (``info["d_raw_um2_s"]`` keeps it).

    Uncertainty (``se_method``):

    * ``"bootstrap"`` (default): SD of the fitted D over ``n_boot`` resamples of the tracks with
      replacement (each resample's ensemble MSD pools the chosen tracks' displacements). It
      includes the correlation between lags and between tracks' shared frames; with a single
      track it falls back to ``"residuals"``.
    * ``"residuals"``: the OLS standard error of the slope from the fit residuals. It treats the
      MSD at different lags as independent, which they are not, so it underestimates; NaN
      when only 2 lags have displacements (no residual degrees of freedom).

    Args:
        movie: ``(T, Y, X)`` NumPy array or torch tensor in detector counts.
        params: pipeline settings (default :meth:`TrackpyParams.generic`; see
            :func:`tune_trackpy`).
        pixel_size_um: pixel pitch [µm].
        frame_period_s: time between frames [s].
        fallback: with no estimate (nothing located, no track long enough, fewer than 2 lags),
            ``"nan"`` returns D = SE = NaN; ``"prior_mean"`` returns the mean of the uniform
            prior ``prior_um2_s`` with its SD, (high − low)/√12, as the SE (the zero-knowledge
            guess used when scoring against the paper's Table 1). ``info["reason"]`` says why.
        prior_um2_s: (low, high) of the uniform prior of D [µm²/s], for ``"prior_mean"``.
        se_method: ``"bootstrap"`` or ``"residuals"``.
        n_boot: bootstrap resamples (≥ 2).
        seed: seed of the bootstrap.

    Returns:
        ``(D, se, info)``: D and its standard error [µm²/s] as floats, and a dict with
        ``reason`` (None or why there is no estimate), ``fallback`` (bool), ``d_raw_um2_s``,
        ``offset_um2``, ``n_localisations``, ``n_tracks``, ``lags_s`` ``(L,)``, ``msd_um2``
        ``(L,)`` (NaN where no displacement), ``n_displacements`` ``(L,)``, ``se_method`` and
        ``tracks`` (the DataFrame of :func:`track_movie`).

    Raises:
        ValueError: for an invalid argument (named in the message).
        ImportError: without trackpy (``pip install 'bbbcore[classic]'``).

    Example:
        >>> import numpy as np
        >>> movie = np.full((4, 16, 16), 100.0)
        >>> D, se, info = estimate_trackpy(movie, pixel_size_um=0.2, frame_period_s=0.06)
        >>> D, info["reason"]
        (nan, 'no features located (diameter_px=5, minmass=100)')
        >>> estimate_trackpy(movie, pixel_size_um=0.2, frame_period_s=0.06,
        ...                  fallback="prior_mean")[0]
        0.75
    """
    fn = "estimate_trackpy"
    params = TrackpyParams.generic() if params is None else _check_params(fn, params)
    px = _checks.positive(fn, "pixel_size_um", pixel_size_um, "µm")
    dt = _checks.positive(fn, "frame_period_s", frame_period_s, "s")
    _checks.choice(fn, "fallback", fallback, ("nan", "prior_mean"))
    prior = _prior(fn, prior_um2_s)
    _checks.choice(fn, "se_method", se_method, ("bootstrap", "residuals"))
    n_boot = _checks.positive_int(fn, "n_boot", n_boot)
    if n_boot < 2:
        _checks.fail(fn, "n_boot", "an integer >= 2", n_boot)
    seed = _checks.seed(fn, seed)
    frames = _movie_counts(fn, movie)
    _trackpy()
    tracks, n_loc, reason = _link(_locate(frames, params), params)
    d_raw, se, info = _estimate_tracks(tracks, reason, params, px, dt, se_method=se_method,
                                       n_boot=n_boot, seed=seed)
    info["n_localisations"] = n_loc
    info["tracks"] = _finish_tracks(tracks, px, dt)
    return _report(d_raw, se, info, fallback, prior)


# -------------------------------------------------------------------------------------- tuning
def default_grid(scan, psf=None, noise=None, d_range_um2_s=(0.0, 1.5)) -> dict:
    """The search grid of :func:`tune_trackpy`, scaled to the acquisition.

    With σ = σxy/pixel [px], m₀ = peak·2π·σ² the integrated counts of an in-focus spot
    (``psf.peak(noise.brightness, …)``) and s = √(2·D_high·frame_period)/pixel the per-axis
    step SD at the top of the D range [px]:

    ============================  =============================================
    ``diameter_px``               d₀ − 2, d₀, d₀ + 2 (≥ 3) with d₀ = 2·⌈2σ⌉ + 1
    ``minmass``                   m₀ × (0.05, 0.15, 0.3, 0.5) [counts]
    ``search_range_px``           max(1, s·k) for k = 1.5, 2.5, 3.5, ≤ half the frame
    ``memory_frames``             0, 3
    ``min_track_frames``          5, 15
    ``max_lag_frames``            4, 10, 25
    ============================  =============================================

    Args:
        scan, psf, noise: the acquisition (:class:`bbbcore.twophoton.ScanConfig`,
            ``PSFConfig``, ``NoiseConfig``; defaults for ``None``).
        d_range_um2_s: (low, high) range of D [µm²/s].

    Returns:
        dict from :class:`TrackpyParams` field name to a tuple of values (432 combinations).

    Example:
        >>> from bbbcore.twophoton import ScanConfig
        >>> g = default_grid(ScanConfig.paper())
        >>> g["diameter_px"], g["memory_frames"]
        ((3, 5, 7), (0, 3))
    """
    from bbbcore.twophoton.config import NoiseConfig, PSFConfig, ScanConfig

    if not isinstance(scan, ScanConfig):
        _checks.fail("default_grid", "scan", "a ScanConfig", type(scan).__name__)
    psf = PSFConfig() if psf is None else psf
    noise = NoiseConfig() if noise is None else noise
    sigma_px = psf.sigma_xy_um / scan.pixel_size_um
    d0 = 2 * math.ceil(2.0 * sigma_px) + 1
    diam = tuple(sorted({max(3, d0 - 2), d0, d0 + 2}))
    peak = float(psf.peak(noise.brightness, psf.sigma_xy_um, psf.sigma_z_um))
    m0 = peak * 2.0 * math.pi * sigma_px ** 2
    step_px = math.sqrt(2.0 * d_range_um2_s[1] * scan.frame_period_s) / scan.pixel_size_um
    cap = max(1.0, 0.5 * min(scan.rows, scan.cols))
    sr = tuple(sorted({round(min(cap, max(1.0, step_px * k)), 1) for k in (1.5, 2.5, 3.5)}))
    return {"diameter_px": diam,
            "minmass": tuple(round(m0 * f, 1) for f in (0.05, 0.15, 0.3, 0.5)),
            "search_range_px": sr,
            "memory_frames": (0, 3),
            "min_track_frames": (5, 15),
            "max_lag_frames": (4, 10, 25)}


def _candidates(fn: str, base: TrackpyParams, grid: Mapping, max_candidates, rng):
    fields = {f.name for f in dataclasses.fields(TrackpyParams)}
    if not isinstance(grid, Mapping) or not grid:
        _checks.fail(fn, "grid", "a non-empty dict from TrackpyParams field to values",
                     type(grid).__name__)
    names = list(grid)
    for k in names:
        if k not in fields:
            _checks.fail(fn, "grid", f"keyed by TrackpyParams fields ({', '.join(sorted(fields))})",
                         repr(k))
        v = grid[k]
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
            _checks.fail(fn, f"grid[{k!r}]", "a non-empty sequence of values", repr(v))
    combos = list(itertools.product(*(grid[k] for k in names)))
    if max_candidates is not None and max_candidates < len(combos):
        pick = np.sort(rng.choice(len(combos), size=max_candidates, replace=False))
        combos = [combos[i] for i in pick]
    out = [base]
    for c in combos:
        try:
            p = dataclasses.replace(base, **dict(zip(names, c)))
        except ValueError as e:
            raise ValueError(f"{fn}: grid value invalid: {e}") from None
        if p not in out:
            out.append(p)
    return out


def tune_trackpy(scan, psf=None, noise=None, *, d_range_um2_s=(0.0, 1.5), n_movies: int = 16,
                 density_per_um3: float = 0.05, seed: int = 20_241_001, grid: Mapping | None = None,
                 base: TrackpyParams | None = None, max_candidates: int | None = None,
                 simulate_kw: Mapping | None = None, device="cpu", progress: bool = True,
                 return_table: bool = False):
    """Choose trackpy settings on a simulated calibration set (the paper's tuned baseline).

    ``n_movies`` movies are simulated with the given scan, PSF and noise (the settings of the
    movies to be analysed) and D stratified uniformly over ``d_range_um2_s``
    (Dᵢ = low + (i + uᵢ)/n·(high − low)); every candidate of the grid (or a random subset of
    ``max_candidates`` of it) runs :func:`estimate_trackpy` on each, and the candidate with the
    smallest mean L1 error |D̂ − D| wins. A movie without an estimate scores as the prior-mean
    guess (``fallback="prior_mean"``), so a candidate cannot win by failing. ``base`` is
    scored too, first, and ties keep the earlier candidate, so the result is never worse than
    ``base`` on the calibration set. Localisations are cached per locate setting and tracks per
    link setting, so the cost is mostly one locate pass per diameter.

    Use a ``seed`` different from that of any evaluation set: the calibration movies must be
    independent of the movies the tuned settings are scored on.

    Args:
        scan: :class:`bbbcore.twophoton.ScanConfig` of the movies (frames, size, timing).
        psf: :class:`bbbcore.twophoton.PSFConfig` (default ``PSFConfig()``).
        noise: :class:`bbbcore.twophoton.NoiseConfig` (default ``NoiseConfig()``).
        d_range_um2_s: (low, high) range of D [µm²/s], also the prior of the fallback.
        n_movies: calibration movies (≥ 1).
        density_per_um3: particle density of the calibration movies [µm⁻³].
        seed: seed of the calibration set (and of the random subset).
        grid: dict from :class:`TrackpyParams` field to candidate values; default
            :func:`default_grid` (scan, psf, noise, d_range_um2_s).
        base: settings the grid's values replace (default :meth:`TrackpyParams.generic`).
        max_candidates: score a random subset of this many grid points (random search).
        simulate_kw: further keyword arguments of :func:`bbbcore.twophoton.simulate_movies`
            (e.g. ``n_particles``, ``box_um``, ``boundary``).
        device: device of the simulation.
        progress: show a tqdm progress bar.
        return_table: also return a ``pandas.DataFrame`` with one row per candidate (its
            fields, ``l1_um2_s`` and ``n_no_estimate``; row 0 is ``base``), with the
            calibration set's D values in ``table.attrs["calibration_d_um2_s"]``.

    Returns:
        The best :class:`TrackpyParams`, or ``(params, table)`` with ``return_table``.

    Raises:
        ValueError: for an invalid argument (named in the message).
        ImportError: without trackpy (``pip install 'bbbcore[classic]'``).

    Example:
        >>> from bbbcore.twophoton import ScanConfig
        >>> best = tune_trackpy(ScanConfig(frames=10, rows=16, cols=16), n_movies=2,
        ...                     grid={"search_range_px": (2.0, 4.0)}, progress=False)
        >>> best.search_range_px in (2.0, 4.0, TrackpyParams.generic().search_range_px)
        True
    """
    fn = "tune_trackpy"
    from tqdm.auto import tqdm

    from bbbcore.twophoton.config import NoiseConfig, PSFConfig, ScanConfig
    from bbbcore.twophoton.simulate import simulate_movies

    if not isinstance(scan, ScanConfig):
        _checks.fail(fn, "scan", "a ScanConfig", type(scan).__name__)
    psf = PSFConfig() if psf is None else psf
    noise = NoiseConfig() if noise is None else noise
    if not isinstance(psf, PSFConfig):
        _checks.fail(fn, "psf", "a PSFConfig", type(psf).__name__)
    if not isinstance(noise, NoiseConfig):
        _checks.fail(fn, "noise", "a NoiseConfig", type(noise).__name__)
    try:
        lo, hi = (float(v) for v in d_range_um2_s)
    except (TypeError, ValueError):
        _checks.fail(fn, "d_range_um2_s", "a (low, high) pair [µm²/s]", repr(d_range_um2_s))
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
        _checks.fail(fn, "d_range_um2_s", "a (low, high) pair with 0 <= low < high [µm²/s]",
                     repr(d_range_um2_s))
    n_movies = _checks.positive_int(fn, "n_movies", n_movies)
    density = _checks.non_negative(fn, "density_per_um3", density_per_um3, "µm⁻³")
    seed = _checks.seed(fn, seed)
    base = TrackpyParams.generic() if base is None else base
    if not isinstance(base, TrackpyParams):
        _checks.fail(fn, "base", "a TrackpyParams", type(base).__name__)
    if max_candidates is not None:
        max_candidates = _checks.positive_int(fn, "max_candidates", max_candidates)
    kw = dict(simulate_kw or {})
    if not {"n_particles", "positions_um", "density_per_um3"} & set(kw):
        kw["density_per_um3"] = density
    grid = default_grid(scan, psf, noise, (lo, hi)) if grid is None else grid
    rng = np.random.default_rng(seed)
    cands = _candidates(fn, base, grid, max_candidates, rng)
    _trackpy()

    D = lo + (np.arange(n_movies) + rng.random(n_movies)) / n_movies * (hi - lo)
    movies, _ = simulate_movies(n_movies, D[:, None], scan=scan, psf=psf, noise=noise, seed=seed,
                                device=device, **kw)
    frames = [_movie_counts(fn, m) for m in movies.cpu().numpy()]
    px, dt, prior = scan.pixel_size_um, scan.frame_period_s, (lo, hi)

    def key(p, names):
        return tuple(getattr(p, n) for n in names)

    groups: dict = {}          # candidates grouped by locate setting, in order of appearance
    for i, p in enumerate(cands):
        groups.setdefault(key(p, _LOCATE_FIELDS), []).append(i)
    order = [i for g in groups.values() for i in g]
    located, linked, rows = {}, {}, []
    best, best_l1 = None, math.inf
    for i in tqdm(order, desc=fn, disable=not progress):
        p = cands[i]
        lk = key(p, _LOCATE_FIELDS)
        if lk not in located:
            located = {lk: [_locate(f, p) for f in frames]}   # keep one locate setting at a time
            linked = {}
        kk = key(p, _LINK_FIELDS)
        if kk not in linked:
            linked[kk] = [_link(loc, dataclasses.replace(p, min_track_frames=2))
                          for loc in located[lk]]
        err, n_none = 0.0, 0
        for j, (tracks, _, reason) in enumerate(linked[kk]):
            if reason is None:   # filter_stubs at this min_track_frames (linking used 2)
                tracks = tracks[tracks.groupby("particle")["frame"].transform("size")
                                >= p.min_track_frames]
                if len(tracks) == 0:
                    reason = f"no track of >= {p.min_track_frames} frames"
            d_raw, se, info = _estimate_tracks(tracks, reason, p, px, dt, se_method="none")
            d, _, info = _report(d_raw, se, info, "prior_mean", prior)
            n_none += info["fallback"]
            err += abs(d - D[j])
        l1 = err / n_movies
        rows.append({**dataclasses.asdict(p), "l1_um2_s": l1, "n_no_estimate": n_none, "_i": i})
        if best is None or l1 < best_l1 or (l1 == best_l1 and i < best[0]):
            best, best_l1 = (i, p), l1
    if not return_table:
        return best[1]
    import pandas as pd

    table = pd.DataFrame(rows).sort_values("_i").drop(columns="_i").reset_index(drop=True)
    table.attrs["calibration_d_um2_s"] = D.tolist()
    return best[1], table
