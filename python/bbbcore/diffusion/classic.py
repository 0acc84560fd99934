"""Classic estimators of a diffusion coefficient from trajectories: MSD-OLS and CVE.

What trackpy lacks: the covariance-based estimator (CVE) of Vestergaard, Blainey & Flyvbjerg
(2014), an MSD fit with the optimal number of lags and a localisation-error offset (Michalet 2010,
Michalet & Berglund 2012), a standard error for each, and missing localisations handled as
missing (trackpy's ``emsd`` turns NaN into 0, i.e. into zero displacements).

Model (per axis, frames Δt apart): the observed position is the particle position averaged over
the frame with a normalised "shutter" weight, plus Gaussian localisation noise of variance σ².
For Brownian motion with diffusion coefficient D the one-frame steps Δx_n then form a Gaussian
MA(1) sequence (Berglund 2010, PRE 82, 011917):

    ⟨Δx_n²⟩ = 2DΔt + 2σ² − 4RDΔt,   ⟨Δx_n Δx_{n+1}⟩ = −σ² + 2RDΔt,   ⟨Δx_n Δx_{n+k}⟩ = 0 (k ≥ 2),

with the motion-blur coefficient R = (1/Δt)∫₀^Δt S(t)(1 − S(t)) dt ∈ [0, 1/4] (S the cumulative
shutter function; R = 0 for instantaneous samples, 1/6 for uniform exposure over the whole frame).
The MSD at lag n is MSD(n) = 2·d·D·n·Δt + 2·d·(σ² − 2RDΔt) for d axes.

Both estimators return D unbiased whatever R and σ are; R only enters the recovered localisation
variance σ̂² (and is only needed for that).

Missing localisations: a position with a NaN in any selected axis is missing. Steps and
displacements are formed only between two present positions, CVE covariance pairs only where
both steps exist; nothing is zero-filled.

References:
    H. Qian, M. P. Sheetz & E. L. Elson (1991), Biophys. J. 60, 910.
    X. Michalet (2010), Phys. Rev. E 82, 041914.
    A. J. Berglund (2010), Phys. Rev. E 82, 011917.
    X. Michalet & A. J. Berglund (2012), Phys. Rev. E 85, 061916.
    C. L. Vestergaard, P. C. Blainey & H. Flyvbjerg (2014), Phys. Rev. E 89, 022726.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from bbbcore import _checks
from bbbcore.twophoton.config import ScanConfig

__all__ = ["DiffusionEstimate", "cve", "frame_interval_s", "msd_ols", "raster_blur_coefficient"]

_SHAPES = "(B, N, T, 3), (N, T, 3), (T, 3) or a list of (T_i, 3) arrays [µm]"


@dataclass(frozen=True)
class DiffusionEstimate:
    """A diffusion coefficient with its standard error.

    Attributes:
        d_um2_s: estimated diffusion coefficient D̂ [µm²/s] (per axis, averaged over ``dims``;
            can be slightly negative for D ≈ 0).
        se_um2_s: standard error of D̂ [µm²/s].
        n_steps: number of one-frame displacements between two present localisations, over all
            trajectories.
        method: ``"msd_ols"`` or ``"cve"``.
        n_trajectories: trajectories holding at least one step.
        loc_var_um2: estimated localisation variance σ̂² per axis [µm²] (unbiased, can be < 0).
        loc_error_um: √max(σ̂², 0) [µm].
        n_lags: MSD lags used in the fit (``msd_ols``); ``None`` for ``cve``.
        blur_R: motion-blur coefficient R used for σ̂².
        dt_s: time between localisations Δt [s].
        dims: axes used, indices into (z, y, x).
    """

    d_um2_s: float
    se_um2_s: float
    n_steps: int
    method: str
    n_trajectories: int = 0
    loc_var_um2: float = float("nan")
    loc_error_um: float = float("nan")
    n_lags: int | None = None
    blur_R: float = 0.0
    dt_s: float = float("nan")
    dims: tuple[int, ...] = (1, 2)

    def __str__(self) -> str:
        se = self.se_um2_s
        if math.isfinite(se) and se > 0:
            decimals = min(12, max(0, 1 - math.floor(math.log10(se))))
            body = f"{self.d_um2_s:.{decimals}f} ± {se:.{decimals}f}"
        else:
            body = f"{self.d_um2_s:.4g} ± {se:.2g}"
        return f"D = {body} µm²/s ({self.method}, {self.n_steps} steps)"


# ----------------------------------------------------------------------------- input checks


def _dims(fn: str, dims) -> tuple[int, ...]:
    if isinstance(dims, Integral) and not isinstance(dims, bool):
        dims = (dims,)
    try:
        out = tuple(dims)
    except TypeError:
        _checks.fail(fn, "dims", "distinct axis indices in (0, 1, 2) = (z, y, x)", repr(dims))
    if (not out or len(set(out)) != len(out)
            or any(isinstance(a, bool) or not isinstance(a, Integral) or not 0 <= a <= 2
                   for a in out)):
        _checks.fail(fn, "dims", "distinct axis indices in (0, 1, 2) = (z, y, x)", repr(dims))
    return tuple(int(a) for a in out)


def _numeric(fn: str, a: np.ndarray, got) -> np.ndarray:
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        _checks.fail(fn, "trajectories", f"real numbers in {_SHAPES}", got)
    return a.astype(np.float64, copy=False)


def _trajectories(fn: str, trajectories, dims: tuple[int, ...]):
    """Any accepted layout → positions (M, T, len(dims)) float64 with NaN = missing, and the
    presence mask (M, T) bool."""
    if isinstance(trajectories, (list, tuple)):
        if not trajectories:
            _checks.fail(fn, "trajectories", f"non-empty: {_SHAPES}", "an empty list")
        items = []
        for k, tr in enumerate(trajectories):
            try:
                a = _checks.to_numpy(tr)
            except (TypeError, ValueError, RuntimeError):
                _checks.fail(fn, f"trajectories[{k}]", "a (T_i, 3) array [µm]", type(tr).__name__)
            if a.ndim != 2 or a.shape[1] != 3:
                _checks.fail(fn, f"trajectories[{k}]", "a (T_i, 3) array [µm]", tuple(a.shape))
            items.append(_numeric(fn, a, f"dtype {a.dtype} in trajectories[{k}]"))
        T = max(a.shape[0] for a in items)
        x = np.full((len(items), T, 3), np.nan)
        for k, a in enumerate(items):
            x[k, :a.shape[0]] = a
    else:
        try:
            a = _checks.to_numpy(trajectories)
        except (TypeError, ValueError, RuntimeError):
            _checks.fail(fn, "trajectories", _SHAPES, type(trajectories).__name__)
        if a.ndim not in (2, 3, 4) or a.shape[-1] != 3:
            _checks.fail(fn, "trajectories", f"of shape {_SHAPES}", tuple(a.shape))
        x = _numeric(fn, a, f"dtype {a.dtype}").reshape(-1, a.shape[-2], 3)
    x = x[..., list(dims)]
    if np.isinf(x).any():
        _checks.fail(fn, "trajectories", "finite or NaN (NaN = missing localisation) [µm]", "inf")
    present = ~np.isnan(x).any(axis=-1)
    return x, present


def _blur(fn: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= float(value) <= 0.25:
        _checks.fail(fn, "blur_R", "a number in [0, 1/4]", repr(value))
    return float(value)


def _no_steps(fn: str, what: str) -> None:
    _checks.fail(fn, "trajectories", what, "none (all positions NaN or isolated)")


# ----------------------------------------------------------------------------- CVE


def cve(trajectories, dt_s: float, *, dims=(1, 2), blur_R: float = 0.0) -> DiffusionEstimate:
    """Covariance-based estimator (CVE) of the diffusion coefficient and the localisation error.

    Per axis (Vestergaard, Blainey & Flyvbjerg 2014), with steps Δx_n pooled over
    all trajectories:

        D̂ = ⟨Δx_n²⟩/(2Δt) + ⟨Δx_n Δx_{n+1}⟩/Δt,    σ̂² = R⟨Δx_n²⟩ + (2R − 1)⟨Δx_n Δx_{n+1}⟩,

    then averaged over ``dims``. ⟨Δx²⟩ runs over the K steps between two present positions,
    ⟨Δx_n Δx_{n+1}⟩ over the P pairs of consecutive steps that both exist. D̂ is unbiased for
    any σ and R; R only enters σ̂².

    Variance: for the Gaussian MA(1) steps (γ₀ = ⟨Δx²⟩, γ₁ = ⟨Δx_n Δx_{n+1}⟩, plugged in from the
    data per axis) the exact variance of this estimator is

        Var D̂ = [(2Kγ₀² + 4Pγ₁²)/(4K²) + (P(γ₀² + γ₁²) + 2Qγ₁²)/P² + 4γ₀γ₁/K] / Δt²,

    with Q the number of runs of three consecutive steps. For one complete trajectory of N steps
    this is the paper's Var D̂ = D²[(6 + 4ε + 2ε²)/N + O(1/N²)], ε = σ²/(DΔt) − 2R;
    axes are combined as independent, Var = Σ_axes Var_a / d².

    Args:
        trajectories: positions (z, y, x) [µm]: NumPy or torch array ``(B, N, T, 3)``,
            ``(N, T, 3)`` or ``(T, 3)``, or a list of ``(T_i, 3)`` arrays of any lengths. NaN marks
            a missing localisation. Consecutive rows are ``dt_s`` apart.
        dt_s: time between localisations Δt [s] (a 2PM movie: :func:`frame_interval_s`).
        dims: axes to use, indices into (z, y, x); default lateral (y, x).
        blur_R: motion-blur coefficient R ∈ [0, 1/4] (0: instantaneous positions; a 2PM raster:
            :func:`raster_blur_coefficient`). Used for σ̂² only.

    Returns:
        :class:`DiffusionEstimate` with ``method="cve"`` and the localisation error.

    Raises:
        ValueError: bad ``trajectories`` (shape, dtype, inf, no three consecutive present
            positions), ``dt_s``, ``dims`` or ``blur_R``; the message names the argument.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> D, dt = 0.5, 0.1
        >>> walk = np.cumsum(rng.normal(0.0, np.sqrt(2 * D * dt), (200, 100, 3)), axis=1)
        >>> est = cve(walk + rng.normal(0.0, 0.05, walk.shape), dt)
        >>> print(est)
        D = 0.5009 ± 0.0063 µm²/s (cve, 19800 steps)
        >>> round(est.loc_error_um, 3)
        0.051
    """
    fn = "cve"
    dims = _dims(fn, dims)
    dt = _checks.positive(fn, "dt_s", dt_s, "s")
    R = _blur(fn, blur_R)
    x, present = _trajectories(fn, trajectories, dims)
    step_ok = present[:, 1:] & present[:, :-1]                       # (M, T-1)
    pair_ok = step_ok[:, 1:] & step_ok[:, :-1]                       # (M, T-2)
    K, P = int(step_ok.sum()), int(pair_ok.sum())
    if P == 0:
        _no_steps(fn, "holding at least three consecutive present (non-NaN) positions")
    Q = int((pair_ok[:, 1:] & pair_ok[:, :-1]).sum())
    steps = np.where(step_ok[..., None], np.diff(x, axis=1), 0.0)    # (M, T-1, d)
    g0 = np.einsum("mtd,mtd->d", steps, steps) / K
    g1 = np.einsum("mtd,mtd->d", steps[:, 1:], steps[:, :-1]) / P    # zero steps drop out
    d_axis = g0 / (2.0 * dt) + g1 / dt
    s2_axis = R * g0 + (2.0 * R - 1.0) * g1
    var_axis = ((2.0 * K * g0**2 + 4.0 * P * g1**2) / (4.0 * K**2)
                + (P * (g0**2 + g1**2) + 2.0 * Q * g1**2) / P**2
                + 4.0 * g0 * g1 / K) / dt**2
    var = float(np.sum(np.maximum(var_axis, 0.0))) / len(dims) ** 2
    s2 = float(np.mean(s2_axis))
    return DiffusionEstimate(
        d_um2_s=float(np.mean(d_axis)), se_um2_s=math.sqrt(var), n_steps=K, method="cve",
        n_trajectories=int(step_ok.any(axis=1).sum()), loc_var_um2=s2,
        loc_error_um=math.sqrt(max(s2, 0.0)), n_lags=None, blur_R=R, dt_s=dt, dims=dims)


# ----------------------------------------------------------------------------- MSD-OLS


def _pairs(present: np.ndarray, n: int) -> np.ndarray:
    """w_n[m, t] = 1 where positions t and t+n are both present (t ≤ T−1−n), else 0: (M, T)."""
    M, T = present.shape
    w = np.zeros((M, T))
    if n < T:
        w[:, :T - n] = present[:, n:] & present[:, :T - n]
    return w


def _shift(a: np.ndarray, n: int, length: int | None = None) -> np.ndarray:
    """out[..., j] = a[..., j − n] (0 where j < n), last axis of the given length."""
    L = a.shape[-1] if length is None else length
    out = np.zeros(a.shape[:-1] + (L,))
    if n < L:
        k = min(L - n, a.shape[-1])
        out[..., n:n + k] = a[..., :k]
    return out


def _quadratic_form_norms(present: np.ndarray, kappa: np.ndarray) -> tuple[float, float, float]:
    """Norms of the quadratic form b = Σ_n κ_n Σ_t w_{t,n}(x_{t+n} − x_t)² of one axis.

    With A the symmetric (T, T) matrix of that form for each trajectory (banded, width p =
    len(kappa)) and L the (T, T−1) map from steps to positions (x_t = Σ_{k<t} s_k), returns the
    squared Frobenius norms summed over trajectories: (‖A‖², ‖AL‖², ‖LᵀAL‖²). For positions
    with structure function V(k) = β|k| + α (k ≥ 1), Var b = 2(β²‖LᵀAL‖² + αβ‖AL‖² + α²‖A‖²/4)
    per axis. O(p·M·T) with banded sums, no (T, T) matrix.
    """
    M, T = present.shape
    p = kappa.shape[0]
    L = T + p
    diag = np.zeros((M, T))
    off = 0.0
    g_acc = np.zeros((M, T))     # (AL)_{j, j−δ} = Σ_{n≥δ} κ_n w_n[j−n]
    h_acc = np.zeros((M, T))     # (AL)_{j, j+δ−1} = −Σ_{n≥δ} κ_n w_n[j]
    p_acc = np.zeros((M, T))     # Σ_{n>δ} κ_n S_n[k]
    q_acc = np.zeros((M, L))     # Σ_{n>δ} κ_n S_n[j − n]
    n_al = n_m = 0.0
    for n in range(p, 0, -1):
        kn = float(kappa[n - 1])
        w = _pairs(present, n)
        w_shift = _shift(w, n)
        diag += kn * (w + w_shift)
        off += 2.0 * kn**2 * float(w.sum())
        g_acc += kn * w_shift
        h_acc += kn * w
        n_al += float(np.sum(g_acc**2) + np.sum(h_acc**2))
        s = np.cumsum(w, axis=1)
        s_ext = np.concatenate([s, np.repeat(s[:, -1:], p, axis=1)], axis=1)
        p_acc += kn * s
        q_acc += kn * _shift(s_ext, n)
        delta = n - 1                # the accumulators now hold Σ_{n' > delta}
        m_delta = p_acc[:, :T - 1] - q_acc[:, delta:delta + T - 1]
        n_m += (1.0 if delta == 0 else 2.0) * float(np.sum(m_delta**2))
    n_a = float(np.sum(diag**2)) + off
    return n_a, n_al, n_m


def _michalet_lags(x: float, n_points: float) -> int:
    """Optimal number of MSD points for the slope (Michalet & Berglund 2012, fit to the exact
    optimum of Michalet 2010): p = ⌊f·L/(f³ + L³)^{1/3}⌋ with f = 2 + 1.35·x^0.6 and
    L = 0.8 + 0.564·N, at most ⌊L⌋ (the limit x → ∞), at least 2."""
    lim = 0.8 + 0.564 * n_points
    if not math.isfinite(x):
        p = math.floor(lim)
    else:
        f = 2.0 + 1.35 * max(x, 0.0) ** 0.6
        p = min(math.floor(lim), math.floor(f * lim / (f**3 + lim**3) ** (1.0 / 3.0)))
    return max(2, p)


def msd_ols(trajectories, dt_s: float, *, dims=(1, 2), n_lags="optimal",
            blur_R: float = 0.0) -> DiffusionEstimate:
    """Diffusion coefficient from an unweighted fit of the ensemble MSD over the first lags.

    The ensemble MSD ρ̂(n) (summed over ``dims``, averaged over every pair of present positions
    n frames apart in every trajectory) is fitted by ordinary least squares over n = 1..p with
    ρ(n) = 2·d·D·n·Δt + a, where the offset a = 2d(σ² − 2RDΔt) absorbs localisation error and
    motion blur (Michalet 2010; Berglund 2010), so D̂ = slope/(2dΔt) and σ̂² = a/(2d) + 2RD̂Δt.

    Number of lags (``n_lags="optimal"``): the rule of Michalet (2010) / Michalet & Berglund (2012)
    for the slope, p = ⌊f·L/(f³ + L³)^{1/3}⌋, f = 2 + 1.35·x^0.6, L = 0.8 + 0.564·N (N = mean
    number of present positions per trajectory), from the reduced localisation error
    x = a/slope = σ²/(DΔt) − 2R (Michalet's x = σ²/(DΔt) when R = 0): fit with p = 2, estimate x,
    choose p(x), refit, until p repeats.

    Standard error: the exact variance of the OLS slope under the fitted model (Brownian motion
    + Gaussian localisation noise + blur, i.e. the covariance of the MSD points of Qian, Sheetz &
    Elson 1991 and Michalet 2010), generalised to pooled trajectories with gaps. The slope
    is a quadratic form b = Σ_m xᵀA_m x in each trajectory's positions, so
    Var b = 2·d·Σ_m tr(A_m Σ A_m Σ) with Σ from the structure function V(k) = (slope·k + a)/d
    (plugged in, clipped to a valid covariance).

    Args:
        trajectories: positions (z, y, x) [µm]: NumPy or torch array ``(B, N, T, 3)``,
            ``(N, T, 3)`` or ``(T, 3)``, or a list of ``(T_i, 3)`` arrays of any lengths. NaN marks
            a missing localisation. Consecutive rows are ``dt_s`` apart.
        dt_s: time between localisations Δt [s] (a 2PM movie: :func:`frame_interval_s`).
        dims: axes to use, indices into (z, y, x); default lateral (y, x).
        n_lags: ``"optimal"`` or the number of lags p ≥ 2 to fit.
        blur_R: motion-blur coefficient R ∈ [0, 1/4]; used for σ̂² only.

    Returns:
        :class:`DiffusionEstimate` with ``method="msd_ols"``, ``n_lags`` = p and σ̂.

    Raises:
        ValueError: bad ``trajectories`` (shape, dtype, inf, no present positions at lags 1..p),
            ``dt_s``, ``dims``, ``n_lags`` or ``blur_R``; the message names the argument.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> D, dt = 0.5, 0.1
        >>> walk = np.cumsum(rng.normal(0.0, np.sqrt(2 * D * dt), (200, 100, 3)), axis=1)
        >>> est = msd_ols(walk + rng.normal(0.0, 0.05, walk.shape), dt)
        >>> print(est)
        D = 0.5015 ± 0.0063 µm²/s (msd_ols, 19800 steps)
        >>> est.n_lags
        2
    """
    fn = "msd_ols"
    dims = _dims(fn, dims)
    dt = _checks.positive(fn, "dt_s", dt_s, "s")
    R = _blur(fn, blur_R)
    if not (isinstance(n_lags, str) and n_lags == "optimal") and (
            isinstance(n_lags, bool) or not isinstance(n_lags, Integral) or n_lags < 2):
        _checks.fail(fn, "n_lags", "'optimal' or an integer >= 2", repr(n_lags))
    x, present = _trajectories(fn, trajectories, dims)
    d = len(dims)
    T = x.shape[1]
    xs = np.where(present[..., None], x, 0.0)

    rho: list[float] = []       # ρ̂(n) for n = 1..len(rho)
    counts: list[int] = []

    def available(p: int) -> bool:
        """Compute ρ̂ up to lag p; False if some lag ≤ p has no pair of present positions."""
        while len(rho) < p:
            n = len(rho) + 1
            if n >= T:
                return False
            ok = present[:, n:] & present[:, :T - n]
            W = int(ok.sum())
            if W == 0:
                return False
            diff = xs[:, n:] - xs[:, :T - n]
            rho.append(float(np.einsum("mt,mtd,mtd->", ok, diff, diff)) / W)
            counts.append(W)
        return True

    if not available(2):
        _no_steps(fn, "holding pairs of present (non-NaN) positions at lags 1 and 2")

    def fit(p: int):
        n = np.arange(1, p + 1, dtype=np.float64)
        c = (n - n.mean()) / np.sum((n - n.mean()) ** 2)
        slope = float(c @ np.asarray(rho[:p]))
        return slope, float(np.mean(rho[:p])) - slope * n.mean(), c

    if isinstance(n_lags, str):
        per_traj = present.sum(axis=1)
        n_points = float(per_traj[per_traj >= 2].mean())
        p, seen = 2, {2}
        while True:
            slope, offset, _ = fit(p)
            xr = max(offset / slope, 0.0) if slope > 0 else math.inf
            q = _michalet_lags(xr, n_points)
            while q > p and not available(q):
                q -= 1
            if q == p:
                break
            p = q
            if q in seen:
                break
            seen.add(q)
    else:
        p = int(n_lags)
        if not available(p):
            _checks.fail(fn, "n_lags", f"at most the longest run of lags with data ({len(rho)})", p)

    slope, offset, c = fit(p)
    kappa = c / np.asarray(counts[:p], dtype=np.float64)
    n_a, n_al, n_m = _quadratic_form_norms(present, kappa)
    beta = max(slope, 0.0) / d                  # per-axis V(k) = β·k + α for k ≥ 1
    alpha = max(offset / d, -0.5 * beta)        # α ≥ −β/2 keeps the MA(1) steps valid
    var_slope = 2.0 * d * (beta**2 * n_m + alpha * beta * n_al + 0.25 * alpha**2 * n_a)
    D = slope / (2.0 * d * dt)
    s2 = offset / (2.0 * d) + 2.0 * R * D * dt
    return DiffusionEstimate(
        d_um2_s=D, se_um2_s=math.sqrt(max(var_slope, 0.0)) / (2.0 * d * dt), n_steps=counts[0],
        method="msd_ols", n_trajectories=int((present[:, 1:] & present[:, :-1]).any(axis=1).sum()),
        loc_var_um2=s2, loc_error_um=math.sqrt(max(s2, 0.0)), n_lags=p, blur_R=R, dt_s=dt,
        dims=dims)


# ----------------------------------------------------------------------------- 2PM raster timing


def frame_interval_s(scan: ScanConfig) -> float:
    """Time between two localisations of a particle in a raster-scanned movie, Δt = T_frame [s].

    Example:
        >>> round(frame_interval_s(ScanConfig.paper()) * 1e3, 2)
        63.16
    """
    if not isinstance(scan, ScanConfig):
        _checks.fail("frame_interval_s", "scan", "a ScanConfig", type(scan).__name__)
    return float(scan.frame_period_s)


def _blur_grid(scan: ScanConfig, sigma_um: float, y_um: np.ndarray, x_um: np.ndarray) -> np.ndarray:
    """R of a particle at each (y, x) of the grid y_um × x_um: array (len(y_um), len(x_um)).

    Pixel (r, c) records the particle with weight G(r·h − y)·G(c·h − x) at its pixel time; the
    normalised cumulative weight S(t) is a step function, constant for a dwell after each pixel
    and for the line retrace after a line's last pixel. Within line r, S = A_r + B_r·f_k with A_r
    the weight of the earlier lines, B_r that of line r and f_k the cumulative x weight of the
    line's first k+1 pixels in scan order, so Σ_k S(1 − S) = C·(A_r − A_r²) + B_r(1 − 2A_r)·Σf
    − B_r²·Σf², with Σf and Σf² depending on x and on the row's direction only.
    """
    h = scan.pixel_size_um
    rows = np.arange(scan.rows)
    wy = np.exp(-0.5 * ((rows[None, :] * h - y_um[:, None]) / sigma_um) ** 2)      # (Y, rows)
    wx = np.exp(-0.5 * ((np.arange(scan.cols)[None, :] * h - x_um[:, None]) / sigma_um) ** 2)
    wy = wy / wy.sum(axis=1, keepdims=True)                                    # B_r
    wx = wx / wx.sum(axis=1, keepdims=True)
    after = np.minimum(np.cumsum(wy, axis=1), 1.0)                             # S after line r
    before = after - wy                                                        # A_r
    total = scan.dwell_s * scan.cols * np.sum(before - before**2, axis=1)[:, None] \
        + scan.line_retrace_ms * 1e-3 * np.sum(after * (1.0 - after), axis=1)[:, None]
    total = np.broadcast_to(total, (y_um.shape[0], x_um.shape[0])).copy()
    reverse = (rows % 2 == 1) & scan.bidirectional
    for rev in (False, True):
        sel = reverse == rev
        if not sel.any():
            continue
        f = np.minimum(np.cumsum(wx[:, ::-1] if rev else wx, axis=1), 1.0)    # (X, cols)
        B, A = wy[:, sel], before[:, sel]
        u = np.sum(B * (1.0 - 2.0 * A), axis=1)                                # (Y,)
        v = np.sum(B**2, axis=1)
        total += scan.dwell_s * (u[:, None] * f.sum(axis=1)[None, :]
                                 - v[:, None] * (f**2).sum(axis=1)[None, :])
    return total / scan.frame_period_s


def raster_blur_coefficient(scan: ScanConfig, sigma_xy_um: float = 0.2) -> float:
    """Motion-blur coefficient R of a particle localised in a raster-scanned (2PM) frame.

    R = (1/Δt)∫₀^Δt S(t)(1 − S(t)) dt (Berglund 2010) with Δt = T_frame and S the cumulative
    normalised shutter function. In a raster scan a particle at (y, x) is recorded by pixel
    (r, c) at that pixel's time (:func:`~bbbcore.twophoton.pixel_times_s`) with the PSF weight
    exp(−((r·h − y)² + (c·h − x)²)/(2σ²)): the lines near the particle dominate, so the
    particle is effectively exposed for a Gaussian window of ≈ σ/h line periods. R is averaged
    over particle positions uniform over the field of view (the pixel area), on a grid of 8
    positions per pixel and axis (at most 1024 per axis). A continuous Gaussian exposure of SD
    τ = (σ/h)·T_line would give R = τ/(√π·Δt); the discrete lines and the image edges (a
    particle near the first or last row sees a one-sided window) make the exact value smaller.

    Values at σ = 0.2 µm: ``ScanConfig.paper()`` (h = 0.2 µm, T_line = 1.508 ms, Δt = 63.16 ms)
    gives R = 0.0122: 0.0129 for a particle away from the edges (the continuous-Gaussian value
    τ/(√π·Δt) = 0.0135 less ≈ 4% for the discrete lines), less near the first and last rows
    (SCIENCE.md quotes ≈ 0.013, the interior/continuous value). ``ScanConfig.paper_code()``
    (h = 0.15 µm, T_line = 1.492 ms, Δt = 61.652 ms) gives R = 0.0167 (interior 0.0179,
    continuous 0.0183).

    This is the blur of an intensity-weighted localisation. R matters for σ̂² only: the CVE
    and MSD-OLS D̂ are unbiased whatever R.

    Args:
        scan: the raster scan.
        sigma_xy_um: lateral PSF SD σ [µm].

    Returns:
        R, dimensionless, in [0, 1/4).

    Raises:
        ValueError: ``scan`` not a :class:`ScanConfig` or ``sigma_xy_um`` not > 0.

    Example:
        >>> round(raster_blur_coefficient(ScanConfig.paper()), 4)
        0.0122
    """
    fn = "raster_blur_coefficient"
    if not isinstance(scan, ScanConfig):
        _checks.fail(fn, "scan", "a ScanConfig", type(scan).__name__)
    sigma = _checks.positive(fn, "sigma_xy_um", sigma_xy_um, "µm")
    h = scan.pixel_size_um
    ny, nx = min(8 * scan.rows, 1024), min(8 * scan.cols, 1024)
    y = (np.arange(ny) + 0.5) / ny * scan.rows * h - 0.5 * h
    x = (np.arange(nx) + 0.5) / nx * scan.cols * h - 0.5 * h
    return float(np.mean(_blur_grid(scan, sigma, y, x)))
