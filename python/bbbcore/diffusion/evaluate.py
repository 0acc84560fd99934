"""Benchmark of diffusion-coefficient estimators on simulated movies (paper Table 1, Fig. 3A).

A **test set** (:func:`make_test_set`) is drawn from the training distribution of the DLE
(:func:`bbbcore.diffusion.train.draw_movie_parameters`): per movie D ~ U(0, D_max) with
D_max = 1.5 µm²/s (``task="low"``) or 50 µm²/s (``"high"``), a log-uniform particle density, a
Poisson particle count in the default simulation box and the PSF jitter, simulated with the same
scan, PSF and noise presets as training. Movie ``i`` depends only on ``(seed, i)``, never on the
size of the set or on the chunking. The simulation seed is the sub-stream
``derived_seed(seed, 3)`` (training uses sub-streams 0–2 of its own seed, the trackpy
calibration set of :func:`run_evaluation` sub-stream 4), so a test set never repeats the movies a
model was trained or validated on when the two seeds are equal.

Each movie also carries the paper's number of **possibly visible transitions** (§3, Fig. 3AB):
for every frame, the particles whose lateral position is inside the image and whose axial
position is within one σz (that movie's jittered PSF) of the focal plane, summed over frames
(:func:`count_visible_transitions`).

**Methods** are callables ``movies (B, T, H, W) → (D̂ (B,), σ̂ (B,))`` [µm²/s];
:func:`mean_guess`, :func:`trackpy_method`, :func:`cve_method` and :func:`dle_method` build the
four of the benchmark. :func:`evaluate_methods` scores them all on every movie and on the best
half of the movies by each method's own σ̂ (the paper's "top 50%"): L1 = mean|D̂ − D|,
L2 = mean (D̂ − D)², the Gaussian NLL of eq. 2, mean[(D̂ − D)²/(2σ̂²) + log σ̂] (D in µm²/s, as
the paper's Table 1: its mean-guess row, 0.5 + log(D_max/√12), is −0.33 and 3.17), the bias
mean(D̂ − D), the OLS line D̂ = intercept + slope·D and the coverage of ±1σ̂ and ±2σ̂ (68.3 % and
95.4 % for calibrated Gaussian errors).

**Failures.** A movie on which a method gives no estimate (D̂ not finite: trackpy found no track
long enough, the CVE had no three consecutive localisations, …) is scored as the zero-knowledge
guess, D̂ = D_max/2 with σ̂ = D_max/√12 (the prior's mean and SD), as the paper's tuned classic
baseline is scored; a finite D̂ with a σ̂ that is not finite and > 0 keeps its D̂ and gets the
prior SD. Both are counted (``n_failed``, ``n_sigma_fallback``), their reasons tallied, and the
metrics on the movies with an estimate only are reported as well (``estimated_only``). A failed
movie's σ̂ is the prior SD, so it lands in the worse half unless the method's own σ̂ are larger.

**Best half.** The ⌈n/2⌉ movies with the smallest σ̂ (ties in index order). A method whose σ̂ is
the same for every movie (the mean guess) cannot rank its movies: its best-half metrics are
``None``, as the paper's "/".

Example:
    >>> ts = make_test_set("low", 4, scan=ScanConfig.paper(frames=8), seed=1)
    >>> ts.movies.shape, bool(((ts.d_um2_s >= 0) & (ts.d_um2_s <= 1.5)).all())
    (torch.Size([4, 8, 20, 20]), True)
    >>> res = evaluate_methods(ts, {"mean": mean_guess("low")}, progress=False)
    >>> l1 = res["methods"]["mean"]["all"]["l1"]
    >>> bool(np.isclose(l1, np.mean(np.abs(ts.d_um2_s - 0.75))))
    True
"""
from __future__ import annotations

import abc
import collections
import dataclasses
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.diffusion.dle import DLE, TASK_D_MAX_UM2_S, load_dle
from bbbcore.diffusion.train import derived_seed, draw_movie_parameters
from bbbcore.twophoton.config import NoiseConfig, PSFConfig, ScanConfig
from bbbcore.twophoton.simulate import default_box_um, simulate_movies

__all__ = [
    "METHODS",
    "PAPER_DIFFERENCE_PCT",
    "PAPER_TABLE1",
    "DiffusionTestSet",
    "compute_metrics",
    "count_visible_transitions",
    "cve_method",
    "dle_method",
    "evaluate_methods",
    "format_table",
    "make_test_set",
    "mean_guess",
    "plot_l1_vs_transitions",
    "run_evaluation",
    "trackpy_method",
    "tracks_to_trajectories",
]

# sub-streams of the user's seed (train_dle uses 0 = predictor, 1 = pre-training, 2 = validation)
TEST_STREAM = 3
CALIBRATION_STREAM = 4
METHODS = ("mean", "trackpy", "cve", "dle")
# movies kept in memory by run_evaluation(keep_movies=None) up to this many bytes
_KEEP_BYTES = 1 << 30

# --------------------------------------------------------------------------------- paper values
PAPER_TABLE1: dict = {
    "low": {
        "mean": {"all": {"l1": 0.375, "l2": 0.187, "nll": -0.33}, "best": None},
        "classic": {"all": {"l1": 0.163, "l2": 0.0588, "nll": -1.33},
                    "best": {"l1": 0.0860, "l2": 0.0138, "nll": -1.71}},
        "dle": {"all": {"l1": 0.109, "l2": 0.0351, "nll": -2.12},
                "best": {"l1": 0.0368, "l2": 0.0023, "nll": -2.82}},
    },
    "high": {
        "mean": {"all": {"l1": 12.5, "l2": 208.0, "nll": 3.17}, "best": None},
        "classic": {"all": {"l1": 13.4, "l2": 301.0, "nll": 56.3},
                    "best": {"l1": 12.3, "l2": 294.0, "nll": 106.0}},
        "dle": {"all": {"l1": 5.72, "l2": 64.9, "nll": 1.82},
                "best": {"l1": 2.91, "l2": 18.6, "nll": 1.12}},
    },
}
"""Table 1 of Kirkegaard, Kutuzov et al.: L1 [µm²/s], L2 [(µm²/s)²] and the NLL of eq. 2 on
all movies (``"all"``) and on the best 50 % by the method's own σ̂ (``"best"``; ``None`` = the
paper's "/"). ``"classic"`` is trackpy locate → link → MSD fit with tuned settings. The
mean-guess row is the prior's: L1 = D_max/4, L2 = D_max²/12, NLL = 0.5 + log(D_max/√12)."""

PAPER_DIFFERENCE_PCT: dict = {
    "low": {"all": {"l1": 50.0, "l2": 67.0}, "best": {"l1": 134.0, "l2": 500.0}},
    "high": {"all": {"l1": 118.0, "l2": 220.0}, "best": {"l1": 322.0, "l2": 1020.0}},
}
"""Table 1's "Difference (%)" row, 100·(ref − DLE)/DLE. The numbers fit ref = the better of the
mean guess and the classic method in each column (low D: classic everywhere; high D: the mean
guess in three columns, where the classic method is worse than guessing, and the classic in the
best-half L1), although the text calls them improvements over the classic estimator;
:func:`format_table` computes ours the same way."""

_PAPER_ROW = {"mean": "mean", "trackpy": "classic", "dle": "dle"}


# ------------------------------------------------------------------------------------ helpers
def _task(fn: str, task) -> float:
    _checks.choice(fn, "task", task, tuple(TASK_D_MAX_UM2_S))
    return float(TASK_D_MAX_UM2_S[task])


def _prior(task: str) -> tuple[float, float]:
    """(mean, SD) of the task's prior U(0, D_max) [µm²/s]."""
    d_max = float(TASK_D_MAX_UM2_S[task])
    return 0.5 * d_max, d_max / math.sqrt(12.0)


def _density_range(fn: str, dr) -> tuple[float, float]:
    ok = isinstance(dr, (tuple, list)) and len(dr) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in dr)
    if not ok or not 0 < dr[0] <= dr[1]:
        _checks.fail(fn, "density_range_per_um3", "(lo, hi) with 0 < lo ≤ hi [µm⁻³]", repr(dr))
    return float(dr[0]), float(dr[1])


def _configs(fn: str, scan, psf, noise):
    scan = ScanConfig.paper() if scan is None else scan
    psf = PSFConfig.paper() if psf is None else psf
    noise = NoiseConfig.paper() if noise is None else noise
    for name, obj, cls in (("scan", scan, ScanConfig), ("psf", psf, PSFConfig),
                           ("noise", noise, NoiseConfig)):
        if not isinstance(obj, cls):
            _checks.fail(fn, name, f"a {cls.__name__}", type(obj).__name__)
    return scan, psf, noise


def _vector(fn: str, arg: str, x, n: int | None = None) -> np.ndarray:
    try:
        a = np.asarray(_checks.to_numpy(x), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        _checks.fail(fn, arg, "a 1-D array of numbers", type(x).__name__)
    if a.ndim != 1 or a.size == 0:
        _checks.fail(fn, arg, "a non-empty 1-D array", f"shape {a.shape}")
    if n is not None and a.size != n:
        _checks.fail(fn, arg, f"of length {n} (that of d_true)", a.size)
    return a


# ----------------------------------------------------------------------------------- test set
@dataclass
class DiffusionTestSet:
    """Simulated movies with their ground truth; see :func:`make_test_set`.

    Attributes:
        task: ``"low"`` or ``"high"``.
        scan, psf, noise: the simulator presets.
        density_range_per_um3: (lo, hi) of the log-uniform density [µm⁻³].
        seed: the user's seed; sim_seed: the simulation's (``derived_seed(seed, 3)``).
        d_um2_s: true D per movie, float64 ``(n,)`` [µm²/s].
        n_particles: particles in the simulation box, int64 ``(n,)``.
        density_per_um3: drawn density, float64 ``(n,)`` [µm⁻³].
        sigma_xy_um, sigma_z_um: the movie's jittered PSF SDs, float64 ``(n,)`` [µm].
        transitions: possibly visible transitions, int64 ``(n,)``
            (:func:`count_visible_transitions`).
        movies: float32 ``(n, T, rows, cols)`` [counts] on ``device``, or ``None`` when not
            kept (:meth:`iter_chunks` re-simulates them, bit-identically).
        device: where the movies are simulated.
        chunk: movies per simulation call.
        box_um: simulation box ((z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi)) [µm].
    """

    task: str
    scan: ScanConfig
    psf: PSFConfig
    noise: NoiseConfig
    density_range_per_um3: tuple
    seed: int
    sim_seed: int
    d_um2_s: np.ndarray
    n_particles: np.ndarray
    density_per_um3: np.ndarray
    sigma_xy_um: np.ndarray
    sigma_z_um: np.ndarray
    transitions: np.ndarray
    movies: torch.Tensor | None
    device: torch.device
    chunk: int
    box_um: list = field(default_factory=list)

    @property
    def n_movies(self) -> int:
        return int(self.d_um2_s.shape[0])

    @property
    def prior_um2_s(self) -> tuple[float, float]:
        """(low, high) of the prior U(0, D_max) [µm²/s]."""
        return 0.0, float(TASK_D_MAX_UM2_S[self.task])

    def simulate(self, start: int, stop: int) -> torch.Tensor:
        """Movies ``start … stop − 1`` (re-simulated; identical to the kept ones)."""
        n = stop - start
        movies, _ = simulate_movies(n, self.d_um2_s[start:stop, None], scan=self.scan, psf=self.psf,
                                    noise=self.noise, n_particles=self.n_particles[start:stop],
                                    seed=self.sim_seed, device=self.device, movie_offset=start)
        return movies

    def iter_chunks(self, chunk: int | None = None) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield ``(start, stop, movies[start:stop])`` over the set, ``chunk`` movies at a time."""
        chunk = self.chunk if chunk is None else _checks.positive_int(
            "DiffusionTestSet.iter_chunks", "chunk", chunk)
        for s in range(0, self.n_movies, chunk):
            e = min(s + chunk, self.n_movies)
            yield s, e, (self.movies[s:e] if self.movies is not None else self.simulate(s, e))

    def summary(self) -> dict:
        """JSON-able description (no per-movie arrays)."""
        return {"task": self.task, "n_movies": self.n_movies, "seed": self.seed,
                "sim_seed": self.sim_seed, "test_stream": TEST_STREAM,
                "prior_um2_s": list(self.prior_um2_s),
                "density_range_per_um3": list(self.density_range_per_um3),
                "scan": dataclasses.asdict(self.scan), "psf": dataclasses.asdict(self.psf),
                "noise": dataclasses.asdict(self.noise), "box_um": self.box_um,
                "transitions_median": float(np.median(self.transitions)),
                "transitions_range": [int(self.transitions.min()), int(self.transitions.max())],
                "n_particles_range": [int(self.n_particles.min()), int(self.n_particles.max())]}


def count_visible_transitions(trajectories_um, n_particles, sigma_z_um, box_um, scan: ScanConfig,
                              *, per_frame: bool = False) -> np.ndarray:
    """Number of possibly visible particle transitions per movie (paper §3, Fig. 3AB).

    For each frame, the particles (of the first ``n_particles[b]`` slots) whose position,
    wrapped into the periodic box, has (y, x) inside the image and |z| ≤ σz of the movie; summed
    over the frames. The image is the area of its pixels, y ∈ [−h/2, (rows − ½)·h) and
    x ∈ [−h/2, (cols − ½)·h) with pixel (r, c) centred at (r, c)·h; the focal plane is z = 0.

    Args:
        trajectories_um: (z, y, x) positions ``(B, N, T, 3)`` [µm], as
            ``simulate_movies(..., return_trajectories=True)`` returns them (unwrapped paths in a
            periodic box; already-folded positions are left as they are).
        n_particles: particles per movie ``(B,)`` (slots beyond are padding).
        sigma_z_um: axial PSF SD per movie ``(B,)`` [µm] (a scalar is broadcast).
        box_um: ((z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi)) [µm] (``truth["box_um"]``).
        scan: the raster scan (image size and pixel size).
        per_frame: return the counts per frame ``(B, T)`` instead of their sum.

    Returns:
        int64 ``(B,)`` (or ``(B, T)``).

    Raises:
        ValueError: for inputs of the wrong shape or values (named in the message).

    Example:
        >>> tr = np.zeros((1, 2, 3, 3))                 # 2 particles, 3 frames
        >>> tr[0, 1, :, 0] = [0.0, 2.0, 0.5]            # particle 1 leaves focus in frame 1
        >>> count_visible_transitions(tr, [2], [1.4], [[-7, 7], [-2, 5.8], [-2, 5.8]],
        ...                           ScanConfig.paper()).tolist()
        [5]
    """
    fn = "count_visible_transitions"
    if not isinstance(scan, ScanConfig):
        _checks.fail(fn, "scan", "a ScanConfig", type(scan).__name__)
    try:
        tr = np.asarray(_checks.to_numpy(trajectories_um), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        _checks.fail(fn, "trajectories_um", "a (B, N, T, 3) array [µm]", type(trajectories_um).__name__)
    if tr.ndim != 4 or tr.shape[-1] != 3:
        _checks.fail(fn, "trajectories_um", "of shape (B, N, T, 3) [µm]", tr.shape)
    B, N = tr.shape[:2]
    counts = np.asarray(_checks.to_numpy(n_particles))
    if counts.shape != (B,) or not np.issubdtype(counts.dtype, np.integer) \
            or np.any(counts < 0) or np.any(counts > N):
        _checks.fail(fn, "n_particles", f"({B},) integers in [0, {N}]",
                     counts.tolist() if counts.size <= 8 else counts.shape)
    sz = np.asarray(_checks.to_numpy(sigma_z_um), dtype=np.float64)
    if sz.ndim == 0:
        sz = np.full(B, float(sz))
    if sz.shape != (B,) or not np.all(np.isfinite(sz)) or np.any(sz <= 0):
        _checks.fail(fn, "sigma_z_um", f"a number or ({B},) numbers > 0 [µm]",
                     sz.tolist() if sz.size <= 8 else sz.shape)
    box = np.asarray(box_um, dtype=np.float64)
    if box.shape != (3, 2) or not np.all(np.isfinite(box)) or np.any(box[:, 1] <= box[:, 0]):
        _checks.fail(fn, "box_um", "((z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi)) with lo < hi [µm]",
                     box.tolist() if box.size <= 12 else box.shape)
    slot = np.arange(N)[None, :] < counts[:, None]                       # (B, N) real particles
    if not np.all(np.isfinite(tr[slot])):
        _checks.fail(fn, "trajectories_um", "finite [µm] for the particles (padded slots may be NaN)",
                     "non-finite values")
    lo, size = box[:, 0], box[:, 1] - box[:, 0]
    tr = np.where(slot[:, :, None, None], tr, lo)                        # padding: ignored below
    inside = (tr >= lo) & (tr < lo + size)
    pos = np.where(inside, tr, lo + np.mod(tr - lo, size))     # wrap (in-box values untouched)
    h = scan.pixel_size_um
    z, y, x = pos[..., 0], pos[..., 1], pos[..., 2]
    vis = ((np.abs(z) <= sz[:, None, None])
           & (y >= -0.5 * h) & (y < (scan.rows - 0.5) * h)
           & (x >= -0.5 * h) & (x < (scan.cols - 0.5) * h))
    vis &= slot[:, :, None]
    per = vis.sum(axis=1).astype(np.int64)                                 # (B, T)
    return per if per_frame else per.sum(axis=1)


def make_test_set(task: str = "low", n_movies: int = 1000, *, scan: ScanConfig | None = None,
                  psf: PSFConfig | None = None, noise: NoiseConfig | None = None,
                  density_range_per_um3=(0.005, 0.12), seed: int = 2024, device="cpu",
                  chunk: int = 64, keep_movies: bool = True,
                  progress: bool = False) -> DiffusionTestSet:
    """Simulate a fresh test set from the DLE's training distribution.

    Movie ``i``: D, density and particle count from
    ``draw_movie_parameters(sim_seed, i, 1, D_max, density_range_per_um3, box volume)`` (D ~
    U(0, D_max), log-uniform density, Poisson count in :func:`default_box_um`), rendered by
    :func:`~bbbcore.twophoton.simulate_movies` with ``movie_offset=i`` and
    ``sim_seed = derived_seed(seed, 3)``, so the set is nested: the first k movies of a larger
    set are a smaller set. The trajectories are used for the visible transitions, then dropped.

    Args:
        task: ``"low"`` (D ~ U(0, 1.5) µm²/s) or ``"high"`` (D ~ U(0, 50) µm²/s).
        n_movies: number of movies (paper: 25,000 per task).
        scan, psf, noise: simulator presets (default the paper's, as ``train_dle``).
        density_range_per_um3: (lo, hi) of the log-uniform density [µm⁻³] (training default).
        seed: seed of the set (0 ≤ seed < 2^63).
        device: where to simulate (and keep) the movies.
        chunk: movies per simulation call (memory of the trajectories ∝ chunk·N·T).
        keep_movies: keep the movies (n·T·rows·cols float32); ``False`` keeps only the truth
            and :meth:`DiffusionTestSet.iter_chunks` re-simulates them.
        progress: show a tqdm progress bar.

    Returns:
        :class:`DiffusionTestSet`.

    Raises:
        ValueError: for an invalid argument (named in the message).

    Example:
        >>> ts = make_test_set("high", 3, scan=ScanConfig.paper(frames=5), seed=7)
        >>> ts.d_um2_s.shape, ts.transitions.dtype, ts.prior_um2_s
        ((3,), dtype('int64'), (0.0, 50.0))
    """
    fn = "make_test_set"
    d_max = _task(fn, task)
    n = _checks.positive_int(fn, "n_movies", n_movies)
    scan, psf, noise = _configs(fn, scan, psf, noise)
    dr = _density_range(fn, density_range_per_um3)
    seed = _checks.seed(fn, seed)
    dev = _checks.as_device(fn, device)
    chunk = _checks.positive_int(fn, "chunk", chunk)
    if not isinstance(keep_movies, bool):
        _checks.fail(fn, "keep_movies", "a bool", repr(keep_movies))
    sim_seed = derived_seed(seed, TEST_STREAM)
    box = default_box_um(scan, psf)
    volume = float(np.prod(box[:, 1] - box[:, 0]))
    draws = [draw_movie_parameters(sim_seed, i, 1, d_max, dr, volume) for i in range(n)]
    d = np.concatenate([x[0] for x in draws])
    counts = np.concatenate([x[1] for x in draws])
    dens = np.concatenate([x[2] for x in draws])

    from tqdm.auto import tqdm

    sxy, sz, trans, kept = np.zeros(n), np.zeros(n), np.zeros(n, np.int64), []
    with tqdm(total=n, desc=f"{fn} ({task})", disable=not progress, unit="movie") as bar:
        for s in range(0, n, chunk):
            e = min(s + chunk, n)
            movies, truth = simulate_movies(e - s, d[s:e, None], scan=scan, psf=psf, noise=noise,
                                            n_particles=counts[s:e], seed=sim_seed, device=dev,
                                            movie_offset=s, return_trajectories=True)
            sxy[s:e] = truth["sigma_xy_um"].cpu().numpy()
            sz[s:e] = truth["sigma_z_um"].cpu().numpy()
            trans[s:e] = count_visible_transitions(truth["trajectories_um"], counts[s:e],
                                                   sz[s:e], truth["box_um"], scan)
            if keep_movies:
                kept.append(movies)
            del truth
            bar.update(e - s)
    return DiffusionTestSet(
        task=task, scan=scan, psf=psf, noise=noise, density_range_per_um3=dr, seed=seed,
        sim_seed=sim_seed, d_um2_s=d, n_particles=counts, density_per_um3=dens, sigma_xy_um=sxy,
        sigma_z_um=sz, transitions=trans, movies=torch.cat(kept) if keep_movies else None,
        device=dev, chunk=chunk, box_um=box.tolist())


# ------------------------------------------------------------------------------------ metrics
def _block(d: np.ndarray, dh: np.ndarray, s: np.ndarray) -> dict:
    err = dh - d
    with np.errstate(invalid="ignore", divide="ignore"):
        if d.size >= 2 and np.ptp(d) > 0:
            slope, intercept = np.polyfit(d, dh, 1)
        else:
            slope = intercept = math.nan
    return {"n": int(d.size), "l1": float(np.mean(np.abs(err))), "l2": float(np.mean(err ** 2)),
            "nll": float(np.mean(err ** 2 / (2.0 * s ** 2) + np.log(s))),
            "bias": float(np.mean(err)), "slope": float(slope), "intercept": float(intercept),
            "coverage_1sigma": float(np.mean(np.abs(err) <= s)),
            "coverage_2sigma": float(np.mean(np.abs(err) <= 2.0 * s)),
            "mean_sigma": float(np.mean(s))}


def compute_metrics(d_true, d_hat, sigma_hat, *, best_fraction: float = 0.5) -> dict:
    """Scores of estimates D̂ ± σ̂ against the true D, on all movies and on the best fraction.

    On a set of movies: ``l1`` = mean|D̂ − D|, ``l2`` = mean (D̂ − D)², ``nll`` = mean[(D̂ − D)²/
    (2σ̂²) + log σ̂] (paper eq. 2, in the unit of D), ``bias`` = mean(D̂ − D), ``slope`` and
    ``intercept`` of the OLS line D̂ = intercept + slope·D (NaN when D is constant),
    ``coverage_1sigma`` / ``coverage_2sigma`` = fraction with |D̂ − D| ≤ σ̂ / 2σ̂, ``mean_sigma``
    and ``n``. The best fraction is the ⌈best_fraction·n⌉ movies of smallest σ̂ (stable sort: ties
    in index order); it is ``None`` when all σ̂ are equal (no ranking).

    Args:
        d_true, d_hat, sigma_hat: 1-D arrays of one length, finite, σ̂ > 0 (replace failures
            first; :func:`evaluate_methods` does).
        best_fraction: fraction in (0, 1] kept by σ̂.

    Returns:
        ``{"all": {...}, "best": {...} | None, "best_fraction": f, "best_index": indices | None}``.

    Raises:
        ValueError: for arrays of other shapes, non-finite values or σ̂ ≤ 0 (named).

    Example:
        >>> m = compute_metrics([0.0, 1.0], [0.5, 1.0], [0.25, 0.5])
        >>> m["all"]["l1"], m["best"]["n"], m["best"]["coverage_2sigma"]
        (0.25, 1, 1.0)
    """
    fn = "compute_metrics"
    d = _vector(fn, "d_true", d_true)
    dh = _vector(fn, "d_hat", d_hat, d.size)
    s = _vector(fn, "sigma_hat", sigma_hat, d.size)
    for name, a in (("d_true", d), ("d_hat", dh)):
        if not np.all(np.isfinite(a)):
            _checks.fail(fn, name, "finite [µm²/s]", "non-finite values")
    if not np.all(np.isfinite(s) & (s > 0)):
        _checks.fail(fn, "sigma_hat", "finite and > 0 [µm²/s]", float(s[~(np.isfinite(s) & (s > 0))][0]))
    if isinstance(best_fraction, bool) or not isinstance(best_fraction, (int, float)) \
            or not 0 < best_fraction <= 1:
        _checks.fail(fn, "best_fraction", "a number in (0, 1]", repr(best_fraction))
    out = {"all": _block(d, dh, s), "best": None, "best_fraction": float(best_fraction),
           "best_index": None}
    if np.ptp(s) > 0:
        k = max(1, math.ceil(best_fraction * d.size - 1e-9))
        idx = np.sort(np.argsort(s, kind="stable")[:k])
        out["best"] = _block(d[idx], dh[idx], s[idx])
        out["best_index"] = idx
    return out


# ------------------------------------------------------------------------------------ methods
class _Method(abc.ABC):
    """A benchmark method: ``movies (B, T, H, W) → (D̂ (B,), σ̂ (B,))`` [µm²/s] as NumPy float64;
    ``failure_reasons`` tallies why movies got no estimate."""

    name = "method"

    def __init__(self):
        self.failure_reasons: collections.Counter = collections.Counter()

    def __repr__(self) -> str:
        return f"<{self.name} method>"

    @abc.abstractmethod
    def estimate(self, movies: torch.Tensor):
        """(D̂, σ̂) for a batch of movies; NaN where a movie gets no estimate."""

    def __call__(self, movies):
        if not isinstance(movies, torch.Tensor) or movies.dim() != 4:
            _checks.fail(f"{self.name} method", "movies", "a torch.Tensor (B, T, H, W)",
                         tuple(movies.shape) if isinstance(movies, torch.Tensor) else type(movies).__name__)
        return self.estimate(movies)


class _MeanGuess(_Method):
    name = "mean"

    def __init__(self, task: str):
        super().__init__()
        self.task = task
        self.mean, self.sd = _prior(task)

    def estimate(self, movies):
        B = movies.shape[0]
        return np.full(B, self.mean), np.full(B, self.sd)


def mean_guess(task: str = "low") -> Callable:
    """The zero-knowledge baseline: D̂ = D_max/2 and σ̂ = D_max/√12 (the prior's mean and SD).

    Expected scores on U(0, D_max): L1 = D_max/4 (0.375 / 12.5), L2 = D_max²/12 (0.1875 / 208.3),
    NLL = 0.5 + log(D_max/√12) (−0.337 / 3.17): the paper's "Baseline" row.

    Example:
        >>> mean_guess("low")(torch.zeros(2, 3, 20, 20))[0].tolist()
        [0.75, 0.75]
    """
    _task("mean_guess", task)
    return _MeanGuess(task)


def _scan(fn: str, scan) -> ScanConfig:
    scan = ScanConfig.paper() if scan is None else scan
    if not isinstance(scan, ScanConfig):
        _checks.fail(fn, "scan", "a ScanConfig", type(scan).__name__)
    return scan


def _params(fn: str, params, arg: str = "params"):
    from bbbcore.diffusion.tracking import TrackpyParams

    params = TrackpyParams.generic() if params is None else params
    if not isinstance(params, TrackpyParams):
        _checks.fail(fn, arg, "a TrackpyParams", type(params).__name__)
    return params


class _Trackpy(_Method):
    name = "trackpy"

    def __init__(self, params, scan, n_boot, se_method, seed):
        super().__init__()
        self.params, self.scan = params, scan
        self.n_boot, self.se_method, self.seed = n_boot, se_method, seed
        self._last = (None, None)     # (movies object, per-movie (D, se, tracks)) for cve_method

    def run(self, movies) -> list:
        """Per movie (D, se, tracks or None, reason or None); cached for the last movies object."""
        if self._last[0] is movies:
            return self._last[1]
        from bbbcore.diffusion.tracking import estimate_trackpy

        out = []
        for m in movies.detach().cpu():
            try:
                D, se, info = estimate_trackpy(
                    m, self.params, pixel_size_um=self.scan.pixel_size_um,
                    frame_period_s=self.scan.frame_period_s, fallback="nan",
                    se_method=self.se_method, n_boot=self.n_boot, seed=self.seed)
                out.append((D, se, info["tracks"], info["reason"]))
            except ImportError:
                raise
            except Exception as e:  # noqa: BLE001 - trackpy/numba errors count as failures
                out.append((math.nan, math.nan, None, f"{type(e).__name__}: {e}"))
        self._last = (movies, out)
        return out

    def estimate(self, movies):
        res = self.run(movies)
        for D, _, _, reason in res:
            if not math.isfinite(D):
                self.failure_reasons[_short(reason)] += 1
        return np.array([r[0] for r in res], float), np.array([r[1] for r in res], float)


def _short(reason) -> str:
    """A failure reason without its numbers, so that reasons tally."""
    import re

    if reason is None:
        return "no estimate"
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", str(reason))[:120]


def trackpy_method(params=None, scan: ScanConfig | None = None, *, n_boot: int = 200,
                   se_method: str = "bootstrap", seed: int = 0) -> Callable:
    """The paper's classic estimator: trackpy locate → link → MSD fit, per movie.

    :func:`bbbcore.diffusion.tracking.estimate_trackpy` on each movie; σ̂ is its bootstrap (or
    residual) standard error. D̂ is NaN (a failure, scored as the mean guess) when nothing is
    tracked; an exception inside trackpy is a failure too (reason recorded).

    Args:
        params: :class:`~bbbcore.diffusion.tracking.TrackpyParams` (default generic; tune them
            with :func:`~bbbcore.diffusion.tracking.tune_trackpy` on a calibration set).
        scan: the movies' raster scan (pixel size, frame period); default ``ScanConfig.paper()``.
        n_boot, se_method, seed: of :func:`~bbbcore.diffusion.tracking.estimate_trackpy`.

    Returns:
        A callable ``movies (B, T, H, W) → (D̂, σ̂)`` with ``failure_reasons``.
    """
    fn = "trackpy_method"
    params = _params(fn, params)
    scan = _scan(fn, scan)
    n_boot = _checks.positive_int(fn, "n_boot", n_boot)
    _checks.choice(fn, "se_method", se_method, ("bootstrap", "residuals"))
    return _Trackpy(params, scan, n_boot, se_method, _checks.seed(fn, seed))


def tracks_to_trajectories(tracks, n_frames: int) -> np.ndarray:
    """Linked tracks (DataFrame with ``particle``, ``frame``, ``y_um``, ``x_um``) → positions
    ``(P, n_frames, 3)`` (z = 0, y, x) [µm] with NaN where a track has no localisation."""
    ids, p = np.unique(tracks["particle"].to_numpy(), return_inverse=True)
    fr = tracks["frame"].to_numpy().astype(np.int64)
    out = np.full((len(ids), n_frames, 3), np.nan)
    out[p, fr, 0] = 0.0
    out[p, fr, 1] = tracks["y_um"].to_numpy(dtype=np.float64)
    out[p, fr, 2] = tracks["x_um"].to_numpy(dtype=np.float64)
    return out


class _CVE(_Method):
    name = "cve"

    def __init__(self, params, scan, blur_R, clip, tracks_from):
        super().__init__()
        self.params, self.scan, self.blur_R, self.clip = params, scan, blur_R, clip
        self.tracks_from = tracks_from

    def _tracks(self, movies) -> list:
        if self.tracks_from is not None:
            return [(t, r) for _, _, t, r in self.tracks_from.run(movies)]
        from bbbcore.diffusion.tracking import track_movie

        out = []
        for m in movies.detach().cpu():
            try:
                out.append((track_movie(m, self.params, pixel_size_um=self.scan.pixel_size_um,
                                        frame_period_s=self.scan.frame_period_s), None))
            except ImportError:
                raise
            except Exception as e:  # noqa: BLE001
                out.append((None, f"{type(e).__name__}: {e}"))
        return out

    def estimate(self, movies):
        from bbbcore.diffusion.classic import cve

        T = movies.shape[1]
        d = np.full(movies.shape[0], math.nan)
        s = np.full(movies.shape[0], math.nan)
        for i, (tracks, reason) in enumerate(self._tracks(movies)):
            if tracks is None or len(tracks) == 0:
                self.failure_reasons[_short(reason or "no tracks")] += 1
                continue
            try:
                est = cve(tracks_to_trajectories(tracks, T), self.scan.frame_period_s,
                          blur_R=self.blur_R)
            except ValueError:
                self.failure_reasons["no track with 3 consecutive localisations"] += 1
                continue
            d[i] = max(est.d_um2_s, 0.0) if self.clip else est.d_um2_s
            s[i] = est.se_um2_s
        return d, s


def cve_method(params=None, scan: ScanConfig | None = None, *, psf: PSFConfig | None = None,
               blur_R: float | None = None, clip: bool = True, tracks_from=None) -> Callable:
    """trackpy tracks → the covariance-based estimator (CVE) with the raster motion blur.

    Each movie is tracked as in :func:`trackpy_method` (locate, link, drop short tracks; the MSD
    settings are not used), its tracks become NaN-gapped trajectories and
    :func:`bbbcore.diffusion.cve` gives D̂ with its standard error as σ̂. A movie without tracks or
    without three consecutive localisations in a track is a failure.

    Args:
        params: :class:`~bbbcore.diffusion.tracking.TrackpyParams` (default generic).
        scan: the movies' raster scan (default ``ScanConfig.paper()``).
        psf: for the motion-blur coefficient (default ``PSFConfig.paper()``).
        blur_R: motion-blur coefficient R (default
            :func:`~bbbcore.diffusion.raster_blur_coefficient` (scan, psf.sigma_xy_um); it only
            enters the localisation error, not D̂).
        clip: report max(D̂, 0) (D ≥ 0 is known; as ``estimate_trackpy`` does).
        tracks_from: a :func:`trackpy_method` with the same ``params`` and ``scan``: reuse its
            tracks of the same movies instead of tracking again (it must be called first).

    Returns:
        A callable ``movies (B, T, H, W) → (D̂, σ̂)`` with ``failure_reasons``.
    """
    fn = "cve_method"
    from bbbcore.diffusion.classic import raster_blur_coefficient

    params = _params(fn, params)
    scan = _scan(fn, scan)
    psf = PSFConfig.paper() if psf is None else psf
    if not isinstance(psf, PSFConfig):
        _checks.fail(fn, "psf", "a PSFConfig", type(psf).__name__)
    R = raster_blur_coefficient(scan, psf.sigma_xy_um) if blur_R is None else blur_R
    if isinstance(R, bool) or not isinstance(R, (int, float)) or not 0 <= R <= 0.25:
        _checks.fail(fn, "blur_R", "a number in [0, 1/4]", repr(blur_R))
    if tracks_from is not None and (not isinstance(tracks_from, _Trackpy)
                                    or tracks_from.params != params or tracks_from.scan != scan):
        _checks.fail(fn, "tracks_from", "a trackpy_method with the same params and scan",
                     repr(tracks_from))
    return _CVE(params, scan, float(R), bool(clip), tracks_from)


class _DLEMethod(_Method):
    name = "dle"

    def __init__(self, net: DLE, device, batch_size):
        super().__init__()
        self.net, self.device, self.batch_size = net, device, batch_size

    def estimate(self, movies):
        from bbbcore.diffusion.estimate import estimate_diffusion

        if tuple(movies.shape[2:]) != tuple(self.net.config.frame_size):
            out = [tuple(estimate_diffusion(m, model=self.net, device=self.device))
                   for m in movies]
            return np.array([o[0] for o in out]), np.array([o[1] for o in out])
        was_training = self.net.training
        self.net.eval()
        ds, ss = [], []
        try:
            with torch.no_grad():
                for i in range(0, movies.shape[0], self.batch_size):
                    d, s = self.net(movies[i:i + self.batch_size].to(self.device))
                    ds.append(d.double().cpu())
                    ss.append(s.double().cpu())
        finally:
            self.net.train(was_training)
        return torch.cat(ds).numpy(), torch.cat(ss).numpy()


def dle_method(model="low", *, device=None, batch_size: int = 16,
               scan: ScanConfig | None = None, task: str | None = None) -> Callable:
    """The deep-learning estimator on whole movies.

    Movies of the model's frame size go through the network directly, ``batch_size`` at a time
    (``d, s = model(movies)``); larger ones through
    :func:`~bbbcore.diffusion.estimate.estimate_diffusion` (crops, inverse-variance combination).

    Args:
        model: a :class:`~bbbcore.diffusion.DLE`, ``"low"``/``"high"`` (package weights) or a
            checkpoint path.
        device: where the network runs (default: where its parameters are; ``"cpu"`` for a
            name or path).
        batch_size: movies per forward pass.
        scan: when given and the model records its training scan, the scan timing is checked
            (warning on a mismatch, as ``estimate_diffusion``).
        task: when given and the model records its task, a different task warns.

    Returns:
        A callable ``movies (B, T, H, W) → (D̂, σ̂)``.

    Raises:
        ValueError: for an invalid argument; FileNotFoundError: weights that are not there.
    """
    fn = "dle_method"
    batch_size = _checks.positive_int(fn, "batch_size", batch_size)
    if isinstance(model, DLE):
        net = model
        p0 = next(net.parameters(), None)
        dev = _checks.as_device(fn, device) if device is not None else (
            p0.device if p0 is not None else torch.device("cpu"))
        if p0 is not None and p0.device != dev:
            import copy
            net = copy.deepcopy(net).to(dev)
    elif isinstance(model, (str, os.PathLike)):
        dev = _checks.as_device(fn, "cpu" if device is None else device)
        net = load_dle(model, device=dev)
    else:
        _checks.fail(fn, "model", "a DLE, 'low', 'high' or a checkpoint path", type(model).__name__)
    meta = getattr(net, "metadata", None) or {}
    if scan is not None and meta.get("scan"):
        from bbbcore.diffusion.estimate import check_scan
        check_scan(fn, net, scan, 0.02, "warn")
    if task is not None:
        _task(fn, task)
        if meta.get("task") and meta["task"] != task:
            warnings.warn(f"{fn}: the model was trained for the {meta['task']!r} task, evaluated on "
                          f"{task!r}", stacklevel=2)
    return _DLEMethod(net, dev, batch_size)


# --------------------------------------------------------------------------------- evaluation
def evaluate_methods(test_set: DiffusionTestSet, methods: Mapping[str, Callable], *,
                     best_fraction: float = 0.5, progress: bool = True) -> dict:
    """Run every method on every movie of a test set and score it (see the module docstring).

    Movies are taken ``test_set.chunk`` at a time and each method is called on the chunk in the
    order of ``methods`` (so a :func:`cve_method` sharing the tracks of a :func:`trackpy_method`
    must come after it). A non-finite D̂ is a failure, scored as the prior mean ± SD; a finite D̂
    with a σ̂ that is not finite and > 0 keeps its D̂ and gets the prior SD.

    Args:
        test_set: from :func:`make_test_set`.
        methods: name → callable ``movies (B, T, H, W) tensor → (D̂ (B,), σ̂ (B,))`` [µm²/s].
        best_fraction: the fraction of movies kept by each method's σ̂ ("top 50 %").
        progress: show a tqdm progress bar.

    Returns:
        dict with ``task``, ``n_movies``, ``prior_um2_s``, ``d_true``, ``transitions``,
        ``n_particles``, ``density_per_um3``, ``test_set`` (summary) and ``methods``: name →
        ``{"all", "best", "estimated_only"}`` metric blocks (see :func:`compute_metrics`),
        ``d_hat``, ``sigma_hat`` (after the fallback), ``d_hat_raw``, ``sigma_hat_raw``,
        ``failed``, ``sigma_fallback``, ``best_index``, ``n_failed``, ``n_sigma_fallback``,
        ``failure_reasons``, ``seconds`` and ``movies_per_s``.

    Raises:
        ValueError: a bad ``test_set``, ``methods`` or ``best_fraction``, or a method returning
            arrays of the wrong shape (named in the message).
    """
    fn = "evaluate_methods"
    if not isinstance(test_set, DiffusionTestSet):
        _checks.fail(fn, "test_set", "a DiffusionTestSet (make_test_set)", type(test_set).__name__)
    if not isinstance(methods, Mapping) or not methods:
        _checks.fail(fn, "methods", "a non-empty dict name → callable(movies) → (D̂, σ̂)",
                     type(methods).__name__ if not isinstance(methods, Mapping) else "{}")
    for k, m in methods.items():
        if not isinstance(k, str) or not callable(m):
            _checks.fail(fn, "methods", "a dict str → callable(movies) → (D̂, σ̂)",
                         f"{k!r}: {type(m).__name__}")
    if isinstance(best_fraction, bool) or not isinstance(best_fraction, (int, float)) \
            or not 0 < best_fraction <= 1:
        _checks.fail(fn, "best_fraction", "a number in (0, 1]", repr(best_fraction))
    from tqdm.auto import tqdm

    n = test_set.n_movies
    raw = {k: (np.full(n, np.nan), np.full(n, np.nan)) for k in methods}
    secs = dict.fromkeys(methods, 0.0)
    with tqdm(total=n, desc=f"{fn} ({', '.join(methods)})", disable=not progress,
              unit="movie") as bar:
        for s, e, movies in test_set.iter_chunks():
            for k, m in methods.items():
                t0 = time.perf_counter()
                out = m(movies)
                secs[k] += time.perf_counter() - t0
                try:
                    dh, sh = out
                    dh = np.asarray(_checks.to_numpy(dh), dtype=np.float64).reshape(-1)
                    sh = np.asarray(_checks.to_numpy(sh), dtype=np.float64).reshape(-1)
                except (TypeError, ValueError):
                    _checks.fail(fn, f"methods[{k!r}]", "a callable returning (D̂, σ̂) arrays",
                                 type(out).__name__)
                if dh.shape != (e - s,) or sh.shape != (e - s,):
                    _checks.fail(fn, f"methods[{k!r}]", f"a callable returning (D̂, σ̂) of shape "
                                 f"({e - s},) each", f"{dh.shape}, {sh.shape}")
                raw[k][0][s:e], raw[k][1][s:e] = dh, sh
            bar.update(e - s)

    mean, sd = _prior(test_set.task)
    D = test_set.d_um2_s
    out = {"task": test_set.task, "n_movies": n, "prior_um2_s": list(test_set.prior_um2_s),
           "prior_mean_um2_s": mean, "prior_sd_um2_s": sd, "best_fraction": float(best_fraction),
           "d_true": D, "transitions": test_set.transitions, "n_particles": test_set.n_particles,
           "density_per_um3": test_set.density_per_um3, "test_set": test_set.summary(),
           "methods": {}}
    for k, m in methods.items():
        dr, sr = raw[k]
        failed = ~np.isfinite(dr)
        s_bad = ~failed & ~(np.isfinite(sr) & (sr > 0))
        dh = np.where(failed, mean, dr)
        sh = np.where(failed | s_bad, sd, sr)
        met = compute_metrics(D, dh, sh, best_fraction=best_fraction)
        ok = ~failed
        est_only = compute_metrics(D[ok], dh[ok], sh[ok])["all"] if ok.any() else None
        reasons = dict(getattr(m, "failure_reasons", {}) or {})
        out["methods"][k] = {
            "all": met["all"], "best": met["best"], "estimated_only": est_only,
            "n_failed": int(failed.sum()), "n_sigma_fallback": int(s_bad.sum()),
            "failure_reasons": reasons, "seconds": secs[k],
            "movies_per_s": n / secs[k] if secs[k] > 0 else math.inf,
            "d_hat": dh, "sigma_hat": sh, "d_hat_raw": dr, "sigma_hat_raw": sr,
            "failed": failed, "sigma_fallback": s_bad, "best_index": met["best_index"]}
    return out


# ---------------------------------------------------------------------------------- reporting
def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "/"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if a >= 0.01 else f"{v:.2g}"


def _difference_pct(results: dict, task: str) -> dict | None:
    """100·(ref − DLE)/DLE with ref the better of the mean guess and trackpy (as Table 1)."""
    ms = results["methods"]
    if "dle" not in ms:
        return None
    refs = [k for k in ("mean", "trackpy") if k in ms]
    if not refs:
        return None
    out = {}
    for block in ("all", "best"):
        dle = ms["dle"][block]
        if dle is None:
            continue
        out[block] = {}
        for metric in ("l1", "l2"):
            vals = []
            for r in refs:
                b = ms[r][block] if ms[r][block] is not None else ms[r]["all"]
                vals.append(b[metric])
            ref = min(vals)
            out[block][metric] = 100.0 * (ref - dle[metric]) / dle[metric] if dle[metric] > 0 else math.nan
    return out


def format_table(results: dict, task: str | None = None) -> str:
    """Our scores beside the paper's Table 1, as text.

    One line per method: L1, L2 and NLL on all movies and on the best half by σ̂, with the
    paper's value in brackets where the paper has that row (mean guess, classic = ``trackpy``,
    DLE); then bias, slope, coverage of ±1σ̂/±2σ̂ (all movies) and the failures. A last line gives
    the DLE's improvement over the better of the mean guess and trackpy, as the paper's
    "Difference (%)" row (:data:`PAPER_DIFFERENCE_PCT`).

    Args:
        results: from :func:`evaluate_methods` / :func:`run_evaluation`.
        task: ``"low"`` or ``"high"``; default ``results["task"]`` (must agree).

    Returns:
        The table as a string.

    Raises:
        ValueError: ``results`` not an evaluation, or ``task`` not its task.
    """
    fn = "format_table"
    if not isinstance(results, Mapping) or "methods" not in results or "task" not in results:
        _checks.fail(fn, "results", "the dict of evaluate_methods or run_evaluation",
                     type(results).__name__)
    task = results["task"] if task is None else task
    _task(fn, task)
    if task != results["task"]:
        _checks.fail(fn, "task", f"the results' task {results['task']!r}", repr(task))
    paper = PAPER_TABLE1[task]
    d_max = TASK_D_MAX_UM2_S[task]
    name_w, cw = 18, 16
    head = (f"{'':{name_w}} {'──── all movies ────':^{3 * cw + 2}} "
            f"{'──── best 50 % by own σ̂ ────':^{3 * cw + 2}}\n"
            f"{'method':{name_w}} " + " ".join(f"{c:>{cw}}" for c in ("L1", "L2", "NLL") * 2)
            + f" {'bias':>8} {'slope':>6} {'±1σ̂':>5} {'±2σ̂':>5} {'failed':>7} {'movies/s':>9}")
    title = (f"Diffusion estimators on {results['n_movies']} simulated movies, task {task!r} "
             f"(D ~ U(0, {d_max:g}) µm²/s); [paper Table 1]")
    lines = [title, head]
    for k, r in results["methods"].items():
        prow = paper.get(_PAPER_ROW.get(k, ""), None)
        cells = []
        for block in ("all", "best"):
            for metric in ("l1", "l2", "nll"):
                ours = r[block][metric] if r[block] is not None else None
                p = None
                if prow is not None and prow[block] is not None:
                    p = prow[block][metric]
                cell = _fmt(ours) + (f" [{_fmt(p)}]" if prow is not None else "")
                cells.append(f"{cell:>{cw}}")
        a = r["all"]
        label = "trackpy (classic)" if k == "trackpy" else k
        lines.append(f"{label[:name_w]:{name_w}} " + " ".join(cells)
                     + f" {a['bias']:>8.3f} {a['slope']:>6.3f}"
                     f" {a['coverage_1sigma']:>5.2f} {a['coverage_2sigma']:>5.2f}"
                     f" {r['n_failed']:>7d} {r['movies_per_s']:>9.3g}")
    diff = _difference_pct(results, task)
    if diff:
        pd_ = PAPER_DIFFERENCE_PCT[task]
        cells = []
        for block in ("all", "best"):
            for metric in ("l1", "l2", "nll"):
                if metric == "nll" or block not in diff:
                    cells.append(f"{'/':>{cw}}")
                    continue
                cell = f"{_fmt(diff[block][metric])} [{_fmt(pd_[block][metric])}]"
                cells.append(f"{cell:>{cw}}")
        lines.append(f"{'DLE gain (%)':{name_w}} " + " ".join(cells))
    for k, r in results["methods"].items():
        if r["failure_reasons"]:
            top = sorted(r["failure_reasons"].items(), key=lambda kv: -kv[1])[:3]
            lines.append(f"  {k} failures (scored as the mean guess): "
                         + "; ".join(f"{c}× {why}" for why, c in top))
    return "\n".join(lines)


def _rolling(x: np.ndarray, y: np.ndarray, window: int):
    o = np.argsort(x, kind="stable")
    x, y = x[o], y[o]
    w = max(1, min(window, x.size))
    k = np.ones(w) / w
    return np.convolve(x, k, mode="valid"), np.convolve(y, k, mode="valid")


def plot_l1_vs_transitions(test_set: DiffusionTestSet, results: dict, path, *,
                           window: int | None = None, overwrite: bool = False,
                           title: str | None = None) -> Path:
    """PNG like the paper's Fig. 3A: |D̂ − D| against the number of visible transitions.

    Per method: the individual movies as dots, the rolling average over ``window`` movies
    (sorted by transitions) as a solid line and the rolling average over ``window // 2`` movies
    of the method's best half by σ̂ as a dashed line. The x axis is logarithmic (movies with 0 transitions are drawn at 1). Failed
    movies count with the mean-guess error, as in the table.

    Args:
        test_set: the :class:`DiffusionTestSet` the results are on.
        results: from :func:`evaluate_methods` / :func:`run_evaluation`.
        path: the PNG to write.
        window: rolling-average window [movies] (default max(5, n/10), at most n).
        overwrite: replace an existing file.
        title: figure title (default: task and number of movies).

    Returns:
        The PNG's path.

    Raises:
        ValueError: results of another test set; FileExistsError: ``path`` exists.
    """
    fn = "plot_l1_vs_transitions"
    if not isinstance(test_set, DiffusionTestSet):
        _checks.fail(fn, "test_set", "a DiffusionTestSet", type(test_set).__name__)
    if not isinstance(results, Mapping) or "methods" not in results \
            or results.get("n_movies") != test_set.n_movies or results.get("task") != test_set.task:
        _checks.fail(fn, "results", f"an evaluation of this test set ({test_set.n_movies} "
                     f"{test_set.task!r} movies)", type(results).__name__ if not isinstance(
                         results, Mapping) else f"{results.get('n_movies')} {results.get('task')!r}")
    n = test_set.n_movies
    window = max(5, n // 10) if window is None else _checks.positive_int(fn, "window", window)
    from bbbcore.io import _target

    p = _target(fn, path, overwrite)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.maximum(test_set.transitions.astype(np.float64), 1.0)
    D = test_set.d_um2_s
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (k, r) in enumerate(results["methods"].items()):
        c = colors[j % len(colors)]
        l1 = np.abs(np.asarray(r["d_hat"], float) - D)
        ax.scatter(x, l1, s=5, color=c, alpha=0.25, linewidths=0)
        rx, ry = _rolling(x, l1, window)
        ax.plot(rx, ry, color=c, lw=2, label=f"{k} (L1 {r['all']['l1']:.3g})")
        idx = r.get("best_index")
        if idx is not None and len(idx) >= 2:
            idx = np.asarray(idx)
            bx, by = _rolling(x[idx], l1[idx], max(1, window // 2))
            ax.plot(bx, by, color=c, lw=1.5, ls="--",
                    label=f"{k}, best 50 % (L1 {r['best']['l1']:.3g})")
    ax.set_xscale("log")
    ax.set_xlabel("possibly visible transitions per movie")
    ax.set_ylabel(r"$|\hat D - D|$ [µm²/s]")
    ax.set_title(title if title is not None else
                 f"{test_set.task} D: {n} movies, rolling mean over {min(window, n)} movies")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(p, dpi=130)
    plt.close(fig)
    return p


# -------------------------------------------------------------------------------- the pipeline
def _check_seed_collision(fn: str, net: DLE, sim_seed: int, what: str) -> None:
    meta = getattr(net, "metadata", None) or {}
    s = meta.get("seed")
    if isinstance(s, Integral) and not isinstance(s, bool):
        used = {int(s), derived_seed(int(s), 1), derived_seed(int(s), 2)}
        if sim_seed in used:
            _checks.fail(fn, "seed", f"one whose {what} stream is not among the model's training "
                         f"streams (model seed {s})", sim_seed)


def run_evaluation(task: str = "low", n_movies: int = 2000, methods: Sequence[str] = METHODS,
                   model="low", *, tune_movies: int = 16, seed: int = 2024, device="cpu",
                   out_dir=None, overwrite: bool = False, scan: ScanConfig | None = None,
                   psf: PSFConfig | None = None, noise: NoiseConfig | None = None,
                   density_range_per_um3=(0.005, 0.12), trackpy_params=None,
                   tune_grid: Mapping | None = None, tune_max_candidates: int | None = None,
                   chunk: int = 64, keep_movies: bool | None = None, dle_batch_size: int = 16,
                   n_boot: int = 200, progress: bool = True, verbose: bool = True) -> dict:
    """The paper's synthetic benchmark (Table 1, Fig. 3A) end to end.

    1. the DLE is loaded (first, so that missing weights fail before any work);
    2. for ``trackpy``/``cve``: trackpy's settings are tuned by
       :func:`~bbbcore.diffusion.tracking.tune_trackpy` on a calibration set of ``tune_movies``
       movies with the same scan, PSF, noise and density distribution (counts drawn like the
       test set's) from the independent seed ``derived_seed(seed, 4)``, unless
       ``trackpy_params`` is given; the CVE reuses trackpy's tracks;
    3. the test set (:func:`make_test_set`) is simulated and every method evaluated
       (:func:`evaluate_methods`);
    4. the table (:func:`format_table`) is printed and, with ``out_dir``, the results are written
       as ``eval_diffusion_{task}_n{n_movies}_seed{seed}.json`` and ``.png`` (Fig. 3A,
       :func:`plot_l1_vs_transitions`); existing files are never replaced unless ``overwrite``.

    Args:
        task: ``"low"`` or ``"high"``.
        n_movies: test movies (paper: 25,000).
        methods: any of ``"mean"``, ``"trackpy"``, ``"cve"``, ``"dle"``.
        model: the DLE: a :class:`~bbbcore.diffusion.DLE`, ``"low"``/``"high"`` or a path.
        tune_movies: calibration movies for trackpy's tuning.
        seed: seed of the test set (sub-stream 3) and of the calibration set (sub-stream 4).
        device: where movies are simulated and the DLE runs.
        out_dir: folder for the JSON and PNG (created if missing); ``None`` writes nothing.
        overwrite: replace existing output files.
        scan, psf, noise: simulator presets (default the paper's; the DLE's training scan).
        density_range_per_um3: (lo, hi) of the log-uniform density [µm⁻³].
        trackpy_params: use these :class:`~bbbcore.diffusion.tracking.TrackpyParams` instead of
            tuning.
        tune_grid, tune_max_candidates: ``grid`` and ``max_candidates`` of ``tune_trackpy``
            (default its full grid of 432 candidates).
        chunk: movies per simulation / evaluation step.
        keep_movies: keep the test movies in memory (default: when they take ≤ 1 GiB; otherwise
            they are simulated again, identically, for the evaluation).
        dle_batch_size: movies per DLE forward pass.
        n_boot: bootstrap resamples of trackpy's σ̂.
        progress: tqdm progress bars; verbose: print the table.

    Returns:
        The dict of :func:`evaluate_methods` plus ``trackpy_params``, ``tuning``, ``model``,
        ``table``, ``paper_table1``, ``runtime_s`` (per stage), ``versions`` and ``paths``.

    Raises:
        ValueError: for an invalid argument (named in the message).
        FileExistsError: an output file exists and ``overwrite`` is False.
        FileNotFoundError: DLE weights that are not there.
        ImportError: trackpy missing for ``"trackpy"``/``"cve"`` (``pip install 'bbbcore[classic]'``).

    Example:
        >>> from bbbcore.diffusion import DLE, DLEConfig
        >>> res = run_evaluation("low", 4, ("mean", "dle"), DLE(DLEConfig.small()),
        ...                      scan=ScanConfig.paper(frames=8), progress=False, verbose=False)
        >>> sorted(res["methods"]), res["methods"]["mean"]["n_failed"]
        (['dle', 'mean'], 0)
    """
    fn = "run_evaluation"
    t_start = time.perf_counter()
    d_max = _task(fn, task)
    n = _checks.positive_int(fn, "n_movies", n_movies)
    if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods \
            or any(m not in METHODS for m in methods) or len(set(methods)) != len(methods):
        _checks.fail(fn, "methods", f"a non-empty sequence of distinct names from {METHODS}",
                     repr(methods))
    tune_movies = _checks.positive_int(fn, "tune_movies", tune_movies)
    seed = _checks.seed(fn, seed)
    dev = _checks.as_device(fn, device)
    scan, psf, noise = _configs(fn, scan, psf, noise)
    dr = _density_range(fn, density_range_per_um3)
    chunk = _checks.positive_int(fn, "chunk", chunk)
    dle_batch_size = _checks.positive_int(fn, "dle_batch_size", dle_batch_size)
    n_boot = _checks.positive_int(fn, "n_boot", n_boot)
    if keep_movies is not None and not isinstance(keep_movies, bool):
        _checks.fail(fn, "keep_movies", "None or a bool", repr(keep_movies))
    if trackpy_params is not None:
        trackpy_params = _params(fn, trackpy_params, "trackpy_params")
    if not isinstance(overwrite, bool):
        _checks.fail(fn, "overwrite", "a bool", repr(overwrite))

    paths = {}
    if out_dir is not None:
        if not isinstance(out_dir, (str, os.PathLike)):
            _checks.fail(fn, "out_dir", "None or a folder path", type(out_dir).__name__)
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            _checks.fail(fn, "out_dir", "a folder", f"the file {out}")
        stem = f"eval_diffusion_{task}_n{n}_seed{seed}"
        paths = {"json": out / f"{stem}.json", "png": out / f"{stem}.png"}
        for p in paths.values():
            if p.exists() and not overwrite:
                raise FileExistsError(f"{fn}: {p} exists; pass overwrite=True (CLI: --overwrite) "
                                      f"to replace it")
    runtime = {}
    sim_seed = derived_seed(seed, TEST_STREAM)
    calib_seed = derived_seed(seed, CALIBRATION_STREAM)

    # 1. the DLE first: missing weights fail before any work
    net_info = None
    meths: dict = {}
    if "dle" in methods:
        dle = dle_method(model, device=dev, batch_size=dle_batch_size, scan=scan, task=task)
        _check_seed_collision(fn, dle.net, sim_seed, "test-set")
        meta = dict(getattr(dle.net, "metadata", None) or {})
        net_info = {"model": model if isinstance(model, (str, os.PathLike)) else "DLE object",
                    "config": dle.net.config.to_dict(),
                    "metadata": {k: meta.get(k) for k in ("task", "steps", "seed", "frames",
                                                         "scan_preset", "validation") if k in meta}}

    # 2. trackpy's settings on an independent calibration set
    tuning = None
    need_tp = any(m in methods for m in ("trackpy", "cve"))
    if need_tp and trackpy_params is None:
        from bbbcore.diffusion.tracking import tune_trackpy

        t0 = time.perf_counter()
        box = default_box_um(scan, psf)
        volume = float(np.prod(box[:, 1] - box[:, 0]))
        counts = np.concatenate([draw_movie_parameters(calib_seed, i, 1, d_max, dr, volume)[1]
                                 for i in range(tune_movies)])
        trackpy_params, table = tune_trackpy(
            scan, psf, noise, d_range_um2_s=(0.0, d_max), n_movies=tune_movies, seed=calib_seed,
            grid=tune_grid, max_candidates=tune_max_candidates,
            simulate_kw={"n_particles": counts}, device=dev, progress=progress,
            return_table=True)
        runtime["tune_trackpy_s"] = time.perf_counter() - t0
        best = table.loc[table["l1_um2_s"].idxmin()]
        tuning = {"calibration_seed": calib_seed, "n_movies": tune_movies,
                  "n_candidates": len(table), "calibration_l1_um2_s": float(best["l1_um2_s"]),
                  "generic_l1_um2_s": float(table["l1_um2_s"].iloc[0]),
                  "calibration_n_no_estimate": int(best["n_no_estimate"])}

    # 3. the test set and the methods
    if keep_movies is None:
        keep_movies = n * scan.frames * scan.rows * scan.cols * 4 <= _KEEP_BYTES
    t0 = time.perf_counter()
    ts = make_test_set(task, n, scan=scan, psf=psf, noise=noise, density_range_per_um3=dr,
                       seed=seed, device=dev, chunk=chunk, keep_movies=keep_movies,
                       progress=progress)
    runtime["test_set_s"] = time.perf_counter() - t0
    tp = None
    for name in METHODS:           # trackpy before cve: the CVE reuses its tracks
        if name not in methods:
            continue
        if name == "mean":
            meths[name] = mean_guess(task)
        elif name == "trackpy":
            tp = meths[name] = trackpy_method(trackpy_params, scan, n_boot=n_boot)
        elif name == "cve":
            meths[name] = cve_method(trackpy_params, scan, psf=psf, tracks_from=tp)
        else:
            meths[name] = dle
    meths = {k: meths[k] for k in sorted(meths, key=lambda k: (k == "cve", list(methods).index(k)))}
    t0 = time.perf_counter()
    results = evaluate_methods(ts, meths, progress=progress)
    runtime["evaluate_s"] = time.perf_counter() - t0
    results["methods"] = {k: results["methods"][k] for k in methods}   # the caller's order
    if tp is not None and "cve" in methods:
        # the CVE's time excludes the shared tracking, which trackpy's includes
        results["methods"]["cve"]["note"] = "tracks shared with trackpy (tracking time counted there)"

    import bbbcore

    results.update(
        trackpy_params=dataclasses.asdict(trackpy_params) if trackpy_params is not None else None,
        tuning=tuning, model=net_info, paper_table1=PAPER_TABLE1[task],
        paper_difference_pct=PAPER_DIFFERENCE_PCT[task],
        versions={"bbbcore": bbbcore.__version__, "torch": str(torch.__version__),
                  "numpy": np.__version__, "device": str(dev)})
    table = format_table(results, task)
    results["table"] = table
    if verbose:
        print(table)
    results["runtime_s"] = runtime
    results["paths"] = {k: str(v) for k, v in paths.items()}
    if paths:
        from bbbcore.io import write_json

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        plot_l1_vs_transitions(ts, results, paths["png"], overwrite=overwrite)
        runtime["total_s"] = time.perf_counter() - t_start
        write_json(paths["json"], results, overwrite=overwrite)
        if verbose:
            print(f"  {paths['json']}\n  {paths['png']}")
    runtime["total_s"] = time.perf_counter() - t_start
    return results
