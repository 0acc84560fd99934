"""Batched, seeded simulation of two-photon movies of diffusing particles (paper §2.3).

Model: 3D random walkers with per-axis N(v·Δt, 2·D·Δt) steps, observed at each pixel's own time
(pixel-timed raster scan, so motion blurs within a frame), through a 3D Gaussian PSF jittered per
movie, then Poisson shot noise and Gaussian read noise. One fused native kernel does the walk and
the rendering (``bbbcore::simulate_2pm``); everything random is keyed by (seed, movie index), so
a movie is the same whatever batch it was simulated in, on the CPU or the GPU.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.ops import random as _rand
from bbbcore.ops import twophoton as _op
from bbbcore.twophoton.config import NoiseConfig, PSFConfig, ScanConfig

# Philox sub-streams of the per-movie draws (the walk uses sub = particle index < 2^30, the
# detector noise 0x80000000 + i).
_SUB_COUNT, _SUB_PSF, _SUB_POS, _SUB_BRIGHT, _SUB_BLEACH = (0xC0000000 + i for i in range(5))
_MAX_PARTICLES = 2**24


def default_box_um(scan: ScanConfig, psf: PSFConfig) -> np.ndarray:
    """Default simulation box ((z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi)) [µm].

    The field of view plus a margin of max(2 µm, 8·σxy) on each side laterally, and
    ±5·σz axially around the focal plane z = 0. At the nominal PSF a particle on the box edge
    adds exp(−12.5) ≈ 4e-6 of its peak (≈ 2e-4 counts for a 49-count peak) to any pixel, so the
    edge is invisible under shot noise; a jittered σz up to +3 SD (2.0 µm) raises that to ≈ 0.1
    counts on the axial faces.
    """
    pad = max(2.0, 8.0 * psf.sigma_xy_um)
    zh = 5.0 * psf.sigma_z_um
    fy, fx = scan.fov_um
    return np.array([[-zh, zh], [-pad, fy + pad], [-pad, fx + pad]], dtype=np.float64)


def _words(seed: int, sub: int, streams: np.ndarray, n_index: int) -> np.ndarray:
    """Philox blocks at counters (index, sub, stream) for every stream × index: uint32 [S, I, 4]."""
    S = streams.shape[0]
    idx = np.arange(n_index, dtype=np.int64)
    ctr = np.zeros((S, n_index, 4), dtype=np.int64)
    ctr[..., 0] = idx[None, :]
    ctr[..., 1] = sub
    ctr[..., 2] = (streams & 0xFFFFFFFF)[:, None]
    ctr[..., 3] = (streams >> 32)[:, None]
    key = np.zeros((S * n_index, 2), dtype=np.int64)
    key[:, 0] = seed & 0xFFFFFFFF
    key[:, 1] = seed >> 32
    out = _rand.philox(torch.from_numpy(ctr.reshape(-1, 4)), torch.from_numpy(key))
    return out.numpy().reshape(S, n_index, 4)


def _unit(w: np.ndarray) -> np.ndarray:
    """uint32 words → uniforms in (0, 1), float64."""
    return (w.astype(np.float64) + 0.5) / 2.0**32


def _std_normal(w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """Box–Muller in float64 on the CPU (device-independent)."""
    return np.sqrt(-2.0 * np.log(_unit(w0))) * np.cos(2.0 * np.pi * _unit(w1))


def _poisson_inverse(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson(lam) by inversion of its CDF at uniforms u (vectorised, float64)."""
    kmax = int(np.max(lam) + 12.0 * math.sqrt(float(np.max(lam))) + 30.0) if lam.size else 0
    k = np.zeros(lam.shape, dtype=np.int64)
    logp = -lam
    cdf = np.exp(logp)
    for j in range(1, kmax + 1):
        below = u > cdf
        if not below.any():
            break
        k += below
        logp = logp + np.log(lam) - math.log(j)
        cdf = cdf + np.exp(logp)
    return k


def _per_movie(fn, name, value, batch, unit):
    """Scalar, (B,), (B, 1), (3,), (1, 3) or (B, 3) → float64 numpy (B, 3) in (z, y, x)."""
    a = _checks.to_numpy(value)
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        _checks.fail(fn, name, f"numeric {unit}", repr(value))
    shapes = f"a scalar, ({batch},), ({batch}, 1), (3,), (1, 3) or ({batch}, 3) {unit}"
    if a.ndim == 1 and a.shape[0] == 3 and batch == 3:
        _checks.fail(fn, name, f"unambiguous for batch=3: ({batch}, 1) per movie or (1, 3) per axis",
                     tuple(a.shape))
    if a.ndim == 0:
        a = np.full((batch, 3), float(a))
    elif a.ndim == 1 and a.shape[0] == batch:
        a = np.repeat(a[:, None], 3, axis=1)
    elif a.ndim == 1 and a.shape[0] == 3:
        a = np.repeat(a[None, :], batch, axis=0)
    elif a.ndim == 2 and a.shape in ((batch, 1), (1, 3), (batch, 3)):
        a = np.broadcast_to(a, (batch, 3)).copy()
    else:
        _checks.fail(fn, name, shapes, tuple(a.shape))
    if not np.all(np.isfinite(a)):
        _checks.fail(fn, name, f"finite {unit}", float(a[~np.isfinite(a)][0]))
    return a


def simulate_movies(batch: int, diffusivity_um2_s, *, scan: ScanConfig | None = None,
                    psf: PSFConfig | None = None, noise: NoiseConfig | None = None,
                    n_particles=None, density_per_um3: float | None = None, positions_um=None,
                    boundary: str = "periodic", box_um=None, drift_um_s=0.0,
                    brightness_cv: float = 0.0, bleach_rate_per_s: float = 0.0,
                    render_tol: float = 1e-4, seed: int = 0, device="cpu",
                    return_trajectories: bool = False, movie_offset: int = 0):
    """Simulate a batch of two-photon movies of diffusing particles.

    Each movie has its own diffusivity, PSF jitter, particle count and initial positions; the
    particles random-walk (Brownian, optional drift) in a box larger than the field of view and
    are rendered at each pixel's recording time (:func:`pixel_times_s`), then Poisson and
    Gaussian noise are added.

    Args:
        batch: number of movies B.
        diffusivity_um2_s: D [µm²/s]: scalar, ``(B,)``/``(B, 1)`` per movie, ``(3,)``/``(1, 3)``
            per axis or ``(B, 3)``, axes in (z, y, x) order (anisotropic diffusion). With
            ``batch=3`` a ``(3,)`` array is ambiguous and refused.
        scan: raster scan (default :class:`ScanConfig` ()).
        psf: point-spread function (default :class:`PSFConfig` ()).
        noise: background, brightness and detector noise (default :class:`NoiseConfig` ()).
        n_particles: particles per movie: int or ``(B,)`` ints. Exclusive with
            ``density_per_um3``; with neither, the density is 0.05 µm⁻³.
        density_per_um3: particle density [µm⁻³]; each movie draws Poisson(density·box volume).
        positions_um: initial (z, y, x) positions ``(B, N, 3)`` [µm] (overrides the counts). With
            D = 0 and :meth:`NoiseConfig.expected` the movie is the exact PSF sum.
        boundary: ``"periodic"``, ``"reflecting"`` or ``"free"`` (walkers start in the box and
            may leave it).
        box_um: ((z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi)) [µm]; default :func:`default_box_um`.
        drift_um_s: drift velocity (z, y, x) [µm/s], shaped like ``diffusivity_um2_s``; not
            with ``boundary="reflecting"`` (folding is exact only for pure diffusion).
        brightness_cv: coefficient of variation of a per-particle log-normal brightness factor
            (mean 1).
        bleach_rate_per_s: photobleaching rate k [1/s]: each particle goes dark at an Exp(k)
            time, so the mean intensity decays as exp(−k·t).
        render_tol: PSF contributions below this many expected counts are not drawn; the walk
            stays exact (see ``csrc/include/bbbcore/twophoton/movie.h``). 0 draws every pixel.
        seed: 64-bit seed (0 ≤ seed < 2^63).
        device: ``"cpu"`` or ``"cuda"``; results are bit-identical across devices.
        return_trajectories: also return each particle's position at each frame's first pixel.
        movie_offset: global index of movie 0 (simulate a large set in chunks with one seed).

    Returns:
        ``(movies, truth)``: movies float32 ``(B, T, rows, cols)`` on ``device``; truth a dict of
        tensors on ``device``: ``diffusivity_um2_s`` ``(B,)`` (isotropic) or ``(B, 3)``,
        ``n_particles`` ``(B,)``, ``sigma_xy_um`` and ``sigma_z_um`` ``(B,)``, ``brightness``
        ``(B, N)``, ``bleach_time_s`` ``(B, N)``, ``positions0_um`` ``(B, N, 3)`` and, when
        asked, ``trajectories_um`` ``(B, N, T, 3)`` (continuous, unwrapped paths in a periodic
        box, so MSDs can be taken from them directly; folded positions in a reflecting box; NaN
        for the padded slots ``p >= n_particles[b]``);
        plus floats ``pixel_size_um``,
        ``frame_period_s``, ``box_um``.

    Raises:
        ValueError: for any invalid argument (named in the message), or a CUDA device on a
            CPU-only build.

    Example:
        >>> movies, truth = simulate_movies(2, 0.5, scan=ScanConfig(frames=5, rows=8, cols=8), seed=1)
        >>> tuple(movies.shape), truth["n_particles"].shape[0]
        ((2, 5, 8, 8), 2)
    """
    fn = "simulate_movies"
    B = _checks.non_negative_int(fn, "batch", batch)
    scan = ScanConfig() if scan is None else scan
    psf = PSFConfig() if psf is None else psf
    noise = NoiseConfig() if noise is None else noise
    for name, obj, cls in (("scan", scan, ScanConfig), ("psf", psf, PSFConfig), ("noise", noise, NoiseConfig)):
        if not isinstance(obj, cls):
            _checks.fail(fn, name, f"a {cls.__name__}", type(obj).__name__)
    seed = _checks.seed(fn, seed)
    offset = _checks.non_negative_int(fn, "movie_offset", movie_offset)
    dev = _checks.as_device(fn, device)
    _checks.choice(fn, "boundary", boundary, tuple(_op.BOUNDARIES))
    brightness_cv = _checks.non_negative(fn, "brightness_cv", brightness_cv)
    bleach_rate = _checks.non_negative(fn, "bleach_rate_per_s", bleach_rate_per_s, "1/s")
    render_tol = _checks.non_negative(fn, "render_tol", render_tol, "counts")

    D = _per_movie(fn, "diffusivity_um2_s", diffusivity_um2_s, B, "[µm²/s]")
    if np.any(D < 0):
        _checks.fail(fn, "diffusivity_um2_s", "≥ 0 µm²/s", float(D[D < 0][0]))
    isotropic = bool(np.all(D == D[:, :1]))
    drift = _per_movie(fn, "drift_um_s", drift_um_s, B, "[µm/s]")
    if boundary == "reflecting" and np.any(drift != 0):
        # Folding a free step is the exact reflected transition only without drift (with drift the
        # reflected process piles up at the wall, density ∝ exp(v·x/D)); refuse rather than
        # return an approximation that also depends on render_tol.
        _checks.fail(fn, "drift_um_s", "0 with boundary='reflecting' (use 'periodic' or 'free' with drift)",
                     drift[np.nonzero(np.any(drift != 0, axis=1))[0][0]].tolist())

    if box_um is None:
        box = default_box_um(scan, psf)
    else:
        box = np.asarray(box_um, dtype=np.float64)
        if box.shape != (3, 2) or not np.all(np.isfinite(box)) or np.any(box[:, 1] <= box[:, 0]):
            _checks.fail(fn, "box_um", "((z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi)) with lo < hi [µm]",
                         box.tolist() if box.size <= 12 else box.shape)
    volume = float(np.prod(box[:, 1] - box[:, 0]))
    streams = offset + np.arange(B, dtype=np.int64)

    # ---- particle counts and initial positions
    if positions_um is not None:
        if n_particles is not None or density_per_um3 is not None:
            _checks.fail(fn, "positions_um", "given without n_particles and density_per_um3",
                         "all of them")
        try:
            pos = np.asarray(_checks.to_numpy(positions_um), dtype=np.float64)
        except (TypeError, ValueError):
            _checks.fail(fn, "positions_um", f"a numeric array of shape ({B}, N, 3)", type(positions_um).__name__)
        if pos.ndim != 3 or pos.shape[0] != B or pos.shape[2] != 3:
            _checks.fail(fn, "positions_um", f"of shape ({B}, N, 3)", tuple(pos.shape))
        if not np.all(np.isfinite(pos)):
            _checks.fail(fn, "positions_um", "finite [µm]", "non-finite values")
        if boundary != "free" and np.any((pos < box[:, 0]) | (pos > box[:, 1])):
            _checks.fail(fn, "positions_um", f"inside box_um {box.tolist()} for boundary={boundary!r}",
                         "positions outside")
        counts = np.full(B, pos.shape[1], dtype=np.int64)
    else:
        if n_particles is not None and density_per_um3 is not None:
            _checks.fail(fn, "n_particles", "given without density_per_um3", "both")
        if n_particles is not None:
            counts = _checks.to_numpy(n_particles)
            if counts.ndim == 0:
                counts = np.full(B, counts)
            if counts.shape != (B,) or not np.issubdtype(counts.dtype, np.integer) or np.any(counts < 0):
                _checks.fail(fn, "n_particles", f"an int >= 0 or ({B},) ints >= 0",
                             counts.tolist() if counts.size < 8 else counts.shape)
            counts = counts.astype(np.int64)
        else:
            dens = 0.05 if density_per_um3 is None else _checks.non_negative(
                fn, "density_per_um3", density_per_um3, "µm⁻³")
            lam = np.full(B, dens * volume)
            counts = _poisson_inverse(lam, _unit(_words(seed, _SUB_COUNT, streams, 1)[:, 0, 0]))
        n_max = int(counts.max()) if B else 0
        if n_max > _MAX_PARTICLES:
            _checks.fail(fn, "n_particles", f"≤ {_MAX_PARTICLES} per movie", n_max)
        w = _words(seed, _SUB_POS, streams, n_max) if n_max else np.zeros((B, 0, 4), np.uint32)
        pos = box[:, 0] + _unit(w[..., :3]) * (box[:, 1] - box[:, 0])
    N = pos.shape[1]
    if N > _MAX_PARTICLES:
        _checks.fail(fn, "positions_um", f"≤ {_MAX_PARTICLES} particles per movie", N)

    # ---- per-movie PSF jitter
    wp = _words(seed, _SUB_PSF, streams, 1)[:, 0]
    z1 = _std_normal(wp[:, 0], wp[:, 1])
    z2 = _std_normal(wp[:, 2], wp[:, 3])
    sxy = np.maximum(psf.sigma_xy_um + psf.jitter_xy_um * z1, 0.25 * psf.sigma_xy_um)
    sz = np.maximum(psf.sigma_z_um + psf.jitter_z_um * z2, 0.25 * psf.sigma_z_um)

    # ---- per-particle brightness and bleaching
    bright = np.ones((B, N))
    if brightness_cv > 0 and N:
        wb = _words(seed, _SUB_BRIGHT, streams, N)
        s2 = math.log1p(brightness_cv ** 2)
        bright = np.exp(math.sqrt(s2) * _std_normal(wb[..., 0], wb[..., 1]) - 0.5 * s2)
    bleach = np.full((B, N), np.inf)
    if bleach_rate > 0 and N:
        wl = _words(seed, _SUB_BLEACH, streams, N)
        bleach = -np.log(_unit(wl[..., 0])) / bleach_rate
    slot = np.arange(N)[None, :] < counts[:, None]
    amp = np.where(slot, bright * psf.peak(noise.brightness, sxy, sz)[:, None], 0.0)

    def t(a, dtype):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype).to(dev)

    movies, traj = torch.ops.bbbcore.simulate_2pm(
        t(pos, torch.float32), t(counts, torch.int32), t(D, torch.float32), t(drift, torch.float32),
        t(np.stack([sxy, sz], axis=1), torch.float32), t(amp, torch.float32), t(bleach, torch.float64),
        scan.frames, scan.rows, scan.cols, float(scan.pixel_size_um), scan.dwell_s,
        scan.line_retrace_ms * 1e-3, scan.frame_retrace_ms * 1e-3, bool(scan.bidirectional),
        [float(v) for v in box.reshape(-1)], _op.BOUNDARIES[boundary], float(noise.background),
        float(noise.read_sigma), bool(noise.shot), float(render_tol), seed, offset,
        bool(return_trajectories))

    truth = {
        "diffusivity_um2_s": t(D[:, 0] if isotropic else D, torch.float64),
        "n_particles": t(counts, torch.int64),
        "sigma_xy_um": t(sxy, torch.float64),
        "sigma_z_um": t(sz, torch.float64),
        "brightness": t(np.where(slot, bright, 0.0), torch.float64),
        "bleach_time_s": t(np.where(slot, bleach, np.inf), torch.float64),
        "positions0_um": t(pos, torch.float32),
        "pixel_size_um": float(scan.pixel_size_um),
        "frame_period_s": float(scan.frame_period_s),
        "box_um": box.tolist(),
    }
    if return_trajectories:
        # padded slots are no particles: NaN, so NaN-aware estimators (bbbcore.diffusion) skip them
        truth["trajectories_um"] = traj.masked_fill(~t(slot, torch.bool)[:, :, None, None], float("nan"))
    return movies, truth
