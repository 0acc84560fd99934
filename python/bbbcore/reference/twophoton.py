"""Two-photon movie simulation in NumPy float64, written from the paper's equations.

Oracle for :func:`bbbcore.twophoton.simulate_movies` / ``bbbcore::simulate_2pm`` and the
"NumPy reference" peer of ``benchmarks/bench_twophoton.py``. Source: Kirkegaard et al.,
two-photon-diffusion-dle.md (``/work/shared/seeds``), section "Synthetic data generation":

- pixel (r, c) of an R×C image is recorded at ``t_rc = t0 + (rC + c)/v + τr`` (v: scan speed,
  1/v = pixel dwell; τ: line retrace), extended here with frames (``+ f·T_frame``) and
  bidirectional scanning (odd rows recorded right to left);
- each coordinate of a particle takes normally distributed steps of variance ``σ² = 2DΔt``;
- eq. (1): ``I_rc = I_bg + Σ_p A_p · exp(−((cΔx − x_p)² + (rΔx − y_p)²)/(2σxy²) − z_p²/(2σz²))``
  with ``A_p = I_qd/√(8π³σxy⁴σz²)`` (the normalisation is folded into the amplitude given here);
- then Poisson shot noise and Gaussian read noise.

Nothing here is optimised beyond vectorising over movies and particles: loops follow the scan.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pixel_times_ref", "render_static_ref", "simulate_2pm_ref"]

_BOUNDARIES = {"free": "free", "periodic": "periodic", "reflecting": "reflecting",
               0: "free", 1: "periodic", 2: "reflecting"}


def pixel_times_ref(frames: int, rows: int, cols: int, dwell_s: float, line_retrace_s: float,
                    frame_retrace_s: float, bidirectional: bool, t0_s: float = 0.0) -> np.ndarray:
    """Recording time of every pixel, by explicit loops over the paper's formula.

    ``t[f, r, c] = t0 + f·T_frame + (r·C + k)/v + τ·r`` (paper §2.3:
    ``t_rc = t0 + (rC + c)/v + τr``) with ``1/v = dwell_s``, ``τ = line_retrace_s``,
    ``T_frame = R·(C/v + τ) + frame_retrace_s`` and ``k = c`` (``k = C − 1 − c`` on odd rows of a
    bidirectional scan).

    Args:
        frames, rows, cols: movie shape (T, R, C).
        dwell_s: time per pixel 1/v [s].
        line_retrace_s: τ [s].
        frame_retrace_s: extra time after a frame's last line [s].
        bidirectional: odd rows scanned right to left.
        t0_s: time of pixel (0, 0) of frame 0 [s].

    Returns:
        float64 array ``(frames, rows, cols)`` [s].
    """
    T_frame = rows * (cols * dwell_s + line_retrace_s) + frame_retrace_s
    t = np.empty((frames, rows, cols), dtype=np.float64)
    for f in range(frames):
        for r in range(rows):
            for c in range(cols):
                k = cols - 1 - c if (bidirectional and r % 2 == 1) else c
                t[f, r, c] = t0_s + f * T_frame + (r * cols + k) * dwell_s + line_retrace_s * r
    return t


def _psf_sum(x, y, z, amplitude, sigma_xy, sigma_z, X, Y):
    """Σ_p A_p exp(−((X − x_p)² + (Y − y_p)²)/(2σxy²) − z_p²/(2σz²)) over the last axis of x, y, z.

    x, y, z, amplitude: [..., N]; sigma_xy, sigma_z: broadcastable to [..., 1]; X, Y: pixel
    centre coordinates broadcastable to [..., 1] [µm].
    """
    q = ((X - x) ** 2 + (Y - y) ** 2) / (2.0 * sigma_xy ** 2) + z ** 2 / (2.0 * sigma_z ** 2)
    return np.sum(amplitude * np.exp(-q), axis=-1)


def render_static_ref(positions_um, amplitude, sigma_um, rows: int, cols: int, pixel_size_um: float,
                      background: float) -> np.ndarray:
    """Expected image of static particles, paper eq. (1).

    ``I[b, r, c] = background + Σ_p A[b, p]·exp(−((c·Δx − x_p)² + (r·Δx − y_p)²)/(2 sxy²)
    − z_p²/(2 sz²))``; the focal plane is z = 0 and pixel (r, c) is centred at
    (y, x) = (r, c)·Δx.

    Args:
        positions_um: (z, y, x) positions ``(B, N, 3)`` [µm].
        amplitude: PSF peak counts A ``(B, N)`` (0 for an absent particle).
        sigma_um: ``(B, 2)``: (sxy, sz) of each movie's PSF [µm].
        rows, cols: image shape.
        pixel_size_um: Δx [µm].
        background: I_bg [counts].

    Returns:
        float64 array ``(B, rows, cols)`` of expected counts.
    """
    pos = np.asarray(positions_um, dtype=np.float64)
    amp = np.asarray(amplitude, dtype=np.float64)
    sig = np.asarray(sigma_um, dtype=np.float64)
    B = pos.shape[0]
    out = np.full((B, rows, cols), float(background), dtype=np.float64)
    if pos.shape[1] == 0:
        return out
    z, y, x = pos[..., 0], pos[..., 1], pos[..., 2]          # [B, N]
    sxy, sz = sig[:, 0:1], sig[:, 1:2]                        # [B, 1]
    for r in range(rows):
        for c in range(cols):
            out[:, r, c] += _psf_sum(x, y, z, amp, sxy, sz, c * pixel_size_um, r * pixel_size_um)
    return out


def _apply_boundary(x, lo, hi, boundary):
    """Wrap (periodic) or fold (reflecting) coordinates into [lo, hi]; lo, hi broadcast to x."""
    if boundary == "periodic":
        return lo + np.mod(x - lo, hi - lo)
    if boundary == "reflecting":
        L = hi - lo
        y = np.mod(x - lo, 2.0 * L)
        return lo + np.where(y > L, 2.0 * L - y, y)
    return x


def simulate_2pm_ref(pos0_um, n_particles, diffusivity_um2_s, drift_um_s, sigma_um, amplitude,
                     bleach_s, *, frames: int, rows: int, cols: int, pixel_size_um: float,
                     dwell_s: float, line_retrace_s: float, frame_retrace_s: float,
                     bidirectional: bool, box_um, boundary: str, background: float,
                     read_sigma: float, shot: bool, rng: np.random.Generator | None = None):
    """Exact per-pixel-time simulation of two-photon movies (the model of ``simulate_2pm``).

    Every particle is moved to every pixel time in scan order (no skipping): between consecutive
    pixel times t and t' each coordinate takes a step ``N(v·Δt, 2·D·Δt)`` with Δt = t' − t (the
    exact Brownian transition with drift), then is wrapped (``"periodic"``) or folded
    (``"reflecting"``) into ``box_um``. The pixel's expected count is eq. (1) of the paper summed
    over the particles that are present (slot < n_particles) and not yet bleached
    (pixel time < bleach time); then ``Poisson(I)`` when ``shot`` and ``+ N(0, read_sigma²)``.
    Times are relative to t0 (pixel (0, 0) of frame 0, where the particles are at ``pos0_um``).

    It uses NumPy's random numbers, so it agrees with the native kernel in distribution, not bit
    for bit. Folding a step into a reflecting box is the exact transition only without drift; with
    drift and ``"reflecting"`` this is the per-pixel-time folded walk, a discretisation.

    Args:
        pos0_um: (z, y, x) positions at t0 ``(B, N, 3)`` [µm].
        n_particles: particles used per movie ``(B,)`` (slots ≥ n_particles are padding: they
            neither move nor render).
        diffusivity_um2_s: per-axis D ``(B, 3)`` [µm²/s].
        drift_um_s: drift velocity ``(B, 3)`` [µm/s].
        sigma_um: ``(B, 2)``: PSF (σxy, σz) [µm].
        amplitude: PSF peak counts ``(B, N)``.
        bleach_s: time after t0 at which each particle goes dark ``(B, N)`` [s] (inf: never).
        frames, rows, cols: movie shape (T, R, C).
        pixel_size_um: pixel pitch Δx [µm].
        dwell_s, line_retrace_s, frame_retrace_s: scan timing [s] (see :func:`pixel_times_ref`).
        bidirectional: odd rows scanned right to left.
        box_um: ``(3, 2)`` ((z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi)) [µm].
        boundary: ``"free"``, ``"periodic"`` or ``"reflecting"`` (or the op's codes 0, 1, 2).
        background: I_bg [counts].
        read_sigma: SD of the Gaussian read noise [counts].
        shot: draw Poisson shot noise.
        rng: NumPy generator (default ``np.random.default_rng(0)``).

    Returns:
        ``(movies, trajectories)``: float64 ``(B, T, R, C)`` and the positions at each frame's
        first pixel time, float64 ``(B, N, T, 3)`` (unwrapped, continuous paths in a periodic box).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    if boundary not in _BOUNDARIES:
        raise ValueError("simulate_2pm_ref: boundary must be one of 'free', 'periodic', "
                         f"'reflecting', got {boundary!r}")
    boundary = _BOUNDARIES[boundary]
    x = np.array(pos0_um, dtype=np.float64)                   # [B, N, 3], copied
    B, N = x.shape[0], x.shape[1]
    counts = np.asarray(n_particles, dtype=np.int64).reshape(B)
    D = np.asarray(diffusivity_um2_s, dtype=np.float64).reshape(B, 1, 3)
    v = np.asarray(drift_um_s, dtype=np.float64).reshape(B, 1, 3)
    sig = np.asarray(sigma_um, dtype=np.float64).reshape(B, 2)
    amp = np.asarray(amplitude, dtype=np.float64).reshape(B, N)
    bleach = np.asarray(bleach_s, dtype=np.float64).reshape(B, N)
    box = np.asarray(box_um, dtype=np.float64).reshape(3, 2)
    lo, hi = box[:, 0], box[:, 1]

    present = np.arange(N)[None, :] < counts[:, None]          # [B, N]
    moves = present[..., None]                                 # [B, N, 1]
    sxy, sz = sig[:, 0:1], sig[:, 1:2]                         # [B, 1]
    T_line = cols * dwell_s + line_retrace_s
    T_frame = rows * T_line + frame_retrace_s

    movies = np.empty((B, frames, rows, cols), dtype=np.float64)
    traj = np.empty((B, N, frames, 3), dtype=np.float64)
    t_prev = 0.0
    unwrap = np.zeros_like(x)          # periodic box: displacement removed by wrapping [µm]
    for f in range(frames):
        noise = rng.standard_normal((rows, cols, B, N, 3))     # one step per pixel time
        for r in range(rows):
            for k in range(cols):                              # k: scan order within the row
                c = cols - 1 - k if (bidirectional and r % 2 == 1) else k
                t = f * T_frame + r * T_line + k * dwell_s      # t_rc − t0
                dt = t - t_prev
                if dt > 0.0:
                    step = v * dt + np.sqrt(2.0 * D * dt) * noise[r, k]
                    free = x + step
                    wrapped = _apply_boundary(free, lo, hi, boundary)
                    if boundary == "periodic":
                        unwrap = np.where(moves, unwrap + (free - wrapped), unwrap)
                    x = np.where(moves, wrapped, x)
                    t_prev = t
                if r == 0 and k == 0:
                    traj[:, :, f, :] = x + unwrap     # continuous path (periodic box)
                lit = np.where(present & (t < bleach), amp, 0.0)
                movies[:, f, r, c] = background + _psf_sum(
                    x[..., 2], x[..., 1], x[..., 0], lit, sxy, sz,
                    c * pixel_size_um, r * pixel_size_um)
    if shot:
        movies = rng.poisson(np.maximum(movies, 0.0)).astype(np.float64)
    if read_sigma > 0:
        movies = movies + rng.normal(0.0, read_sigma, size=movies.shape)
    return movies, traj
