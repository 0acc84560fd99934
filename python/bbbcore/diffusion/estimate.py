"""Diffusion coefficient of a whole movie from a DLE applied to its crops.

The DLE is trained on movies of a fixed frame size (20×20 px) and a fixed scan timing. A larger
movie ``(T, Y, X)`` is cut into crops of that size on a grid with stride ``stride`` (the last row
and column of crops are flush with the movie's edge, so every pixel is covered); each crop gives
(D̂_i, σ̂_i) and the crops are combined by the inverse-variance weighted mean (SCIENCE.md,
"Diffusion-coefficient estimation"; the paper combines two movie parts this way, Fig. 3E):

    D = Σ(D̂_i / σ̂_i²) / Σ(1 / σ̂_i²),    σ = (Σ 1/σ̂_i²)^(−1/2).

This σ assumes the crops are independent measurements. Overlapping crops share pixels (with the
default stride = crop/2 each pixel is in up to four crops), so it is too small. The result also
carries ``sigma_conservative_um2_s = σ·√κ`` with the overlap factor
κ = Σ_i area_i / area(∪ crops) ≥ 1: for equal σ̂_i = s it gives s/√(n_eff), n_eff = area(∪)/crop
area, the number of non-overlapping crops that fit in the covered area. **Choice:** ``sigma``
(what the result unpacks to) is the formula above, as in the paper; quote the conservative one
when crops overlap. Both ignore that particles cross crop borders, which correlates neighbouring
crops further.

Scan timing: a crop of a larger scan is not a 20×20 scan. Its pixels are ``dwell`` apart along a
row, its rows one *full* line period ``cols·dwell + line_retrace`` of the acquisition apart and its
frames one full frame period apart (the paper's "trivial adjustment of t_rc depending on the
cropping size"). The DLE is timing-specific, so :func:`estimate_diffusion` compares those three
times, the pixel size and the scan direction with the model's training scan
(``model.metadata["scan"]``) and warns (or raises) when one differs by more than ``timing_rtol``.
A DLE for crops of a larger acquisition is trained with ``train_dle(scan=crop_scan(scan, 20))``.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.diffusion.dle import DLE, DLEConfig, load_dle  # noqa: F401 (DLEConfig: doctest)
from bbbcore.twophoton.config import ScanConfig


@dataclass
class MovieEstimate:
    """Result of :func:`estimate_diffusion`; unpacks as ``d, sigma = result``.

    Attributes:
        d_um2_s: inverse-variance weighted D [µm²/s].
        sigma_um2_s: its σ for independent crops, (Σ 1/σ̂_i²)^(−1/2) [µm²/s].
        sigma_conservative_um2_s: σ·√overlap_factor, for overlapping crops [µm²/s].
        n_crops: number of crops.
        overlap_factor: κ = Σ crop areas / covered area (1 for non-overlapping crops).
        crop, stride: crop size and stride [px].
        crop_map: (n_y, n_x, 2) array of (D̂_i, σ̂_i) [µm²/s] per crop, or None.
        origins: (n_y, n_x, 2) array of the crops' (y0, x0) top-left pixels, or None.
        movie_shape: (T, Y, X) of the movie.
    """

    d_um2_s: float
    sigma_um2_s: float
    sigma_conservative_um2_s: float
    n_crops: int
    overlap_factor: float
    crop: int
    stride: int
    crop_map: np.ndarray | None = None
    origins: np.ndarray | None = None
    movie_shape: tuple = field(default=())

    def __iter__(self):
        return iter((self.d_um2_s, self.sigma_um2_s))


def combine_estimates(d, sigma) -> tuple[float, float]:
    """Inverse-variance weighted mean of independent estimates.

    ``D = Σ(d_i/σ_i²) / Σ(1/σ_i²)``, ``σ = (Σ 1/σ_i²)^(−1/2)``.

    Args:
        d: estimates, array-like of any shape (NumPy, torch, lists).
        sigma: their standard errors, same shape, all > 0.

    Returns:
        ``(D, σ)`` as floats.

    Raises:
        ValueError: empty input, shapes differing, non-finite values or σ ≤ 0.

    Example:
        >>> combine_estimates([0.332, 0.343], [0.024, 0.020])  # paper Fig. 3E: 0.338 ± 0.015
        (0.33849..., 0.01536...)
    """
    fn = "combine_estimates"
    d = np.asarray(_checks.to_numpy(d), dtype=np.float64)
    s = np.asarray(_checks.to_numpy(sigma), dtype=np.float64)
    if d.size == 0:
        _checks.fail(fn, "d", "non-empty", "an empty array")
    if s.shape != d.shape:
        _checks.fail(fn, "sigma", f"of the shape of d {d.shape}", s.shape)
    if not np.all(np.isfinite(d)):
        _checks.fail(fn, "d", "finite [µm²/s]", "non-finite values")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        _checks.fail(fn, "sigma", "finite and > 0 [µm²/s]", float(s[~(np.isfinite(s) & (s > 0))][0]))
    w = 1.0 / s ** 2
    return float(np.sum(w * d) / np.sum(w)), float(1.0 / math.sqrt(np.sum(w)))


def crop_origins(size: int, crop: int, stride: int) -> list[int]:
    """Start indices of crops of ``crop`` px with ``stride`` along an axis of ``size`` px; the last
    crop is flush with the end, so the axis is covered."""
    starts = list(range(0, size - crop + 1, stride))
    if starts[-1] != size - crop:
        starts.append(size - crop)
    return starts


def _load_movie(fn: str, movie) -> torch.Tensor:
    if isinstance(movie, (str, os.PathLike)):
        from bbbcore.io import read_tiff
        if not os.path.exists(movie):
            raise FileNotFoundError(f"{fn}: no movie at {movie}")
        movie = read_tiff(movie)
    if isinstance(movie, torch.Tensor):
        t = movie.detach()
    else:
        try:
            a = _checks.to_numpy(movie)
        except Exception:  # noqa: BLE001
            _checks.fail(fn, "movie", "an array (T, Y, X), a torch tensor or a TIFF path", type(movie).__name__)
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            _checks.fail(fn, "movie", "a numeric array (T, Y, X)", a.dtype)
        t = torch.from_numpy(np.ascontiguousarray(a))
    if t.is_complex() or t.dtype == torch.bool:
        _checks.fail(fn, "movie", "real-valued (T, Y, X)", t.dtype)
    if t.dim() != 3:
        _checks.fail(fn, "movie", "3-D (T, Y, X)", f"shape {tuple(t.shape)}")
    t = t.float()
    if t.numel() and not bool(torch.isfinite(t).all()):
        _checks.fail(fn, "movie", "finite (no NaN or inf)", "non-finite values")
    return t


def crop_scan(scan: ScanConfig, crop: int = 20) -> ScanConfig:
    """The scan a ``crop × crop`` window of the acquisition ``scan`` sees, as a crop-sized
    :class:`ScanConfig` with the same dwell, row-to-row and frame-to-frame periods (retraces
    lengthened by the pixels outside the crop). Train a DLE for that acquisition with
    ``train_dle(scan=crop_scan(scan, 20))``.

    Example:
        >>> s = crop_scan(ScanConfig.paper(rows=512, cols=512), 20)
        >>> round(s.line_period_s, 6) == round(ScanConfig.paper(rows=512, cols=512).line_period_s, 6)
        True
    """
    fn = "crop_scan"
    if not isinstance(scan, ScanConfig):
        _checks.fail(fn, "scan", "a ScanConfig", type(scan).__name__)
    crop = _checks.positive_int(fn, "crop", crop)
    if crop > min(scan.rows, scan.cols):
        _checks.fail(fn, "crop", f"≤ the scan's rows and cols ({scan.rows}, {scan.cols}) [px]", crop)
    line_s = scan.line_period_s
    retrace_ms = (line_s - crop * scan.dwell_s) * 1e3
    frame_retrace_ms = (scan.frame_period_s - crop * line_s) * 1e3
    return dataclasses.replace(scan, rows=crop, cols=crop, line_retrace_ms=retrace_ms,
                               frame_retrace_ms=frame_retrace_ms)


def crop_timing(scan: ScanConfig) -> dict:
    """What a crop of ``scan`` looks like in time: dwell [µs], row-to-row [s] and frame-to-frame [s]
    periods, pixel size [µm] and scan direction."""
    return {"pixel_size_um": scan.pixel_size_um, "dwell_us": scan.dwell_us,
            "line_period_s": scan.line_period_s, "frame_period_s": scan.frame_period_s,
            "bidirectional": scan.bidirectional}


def check_scan(fn: str, model: DLE, scan: ScanConfig | None, rtol: float, on_mismatch: str) -> list[str]:
    """Differences between ``scan`` (the movie's acquisition) and the model's training scan."""
    if scan is None:
        return []
    if not isinstance(scan, ScanConfig):
        _checks.fail(fn, "scan", "a ScanConfig or None", type(scan).__name__)
    trained = (getattr(model, "metadata", None) or {}).get("scan")
    if not trained:
        warnings.warn(f"{fn}: the model carries no training scan (model.metadata['scan']); the scan "
                      f"timing cannot be checked", stacklevel=3)
        return []
    want = crop_timing(ScanConfig(**trained))
    got = crop_timing(scan)
    diffs = []
    for k, v in want.items():
        g = got[k]
        if isinstance(v, bool):
            if g != v:
                diffs.append(f"{k} {g} (trained {v})")
        elif abs(g - v) > rtol * abs(v):
            diffs.append(f"{k} {g:.6g} (trained {v:.6g})")
    if diffs:
        msg = (f"{fn}: scan must match the model's training scan timing within {rtol:.0%} (the DLE is "
               f"timing-specific: retrain it with train_dle(scan=...) for this acquisition), got "
               + "; ".join(diffs))
        if on_mismatch == "raise":
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=3)
    return diffs


def estimate_diffusion(movie, scan: ScanConfig | None = None, model="low", *, crop: int | None = None,
                       stride: int | None = None, return_map: bool = False, device="cpu",
                       batch_size: int = 16, timing_rtol: float = 0.02,
                       on_scan_mismatch: str = "warn") -> MovieEstimate:
    """Estimate the diffusion coefficient of the particles in a 2PM movie with a DLE.

    Crops of the model's training frame size are taken on a grid (stride ``stride``, last crops
    flush with the edges), every crop is estimated over all T frames, and the crops are combined
    by :func:`combine_estimates` (see the module docstring for the two σ's).

    Args:
        movie: ``(T, Y, X)`` movie with Y, X ≥ crop: NumPy array, torch tensor or TIFF path
            [counts]; any real dtype.
        scan: the acquisition's raster scan (the full frame's, not the crop's). When given, its
            timing as seen by a crop is compared with the model's training scan.
        model: a :class:`DLE`, ``"low"``/``"high"`` (package weights) or a checkpoint path.
        crop: crop size [px]; must be the model's training frame size (default).
        stride: crop stride [px] (default crop // 2).
        return_map: also return the per-crop (D̂, σ̂) map and the crop origins.
        device: where the network runs (a model elsewhere is copied there; the caller's stays).
        batch_size: crops per forward pass (memory ∝ batch_size · T).
        timing_rtol: relative tolerance of the scan-timing comparison.
        on_scan_mismatch: ``"warn"`` or ``"raise"`` when the timing differs.

    Returns:
        :class:`MovieEstimate` (``d, sigma = estimate_diffusion(...)`` works).

    Raises:
        ValueError: bad movie (ndim, smaller than the crop, non-finite), crop ≠ the model's
            frame size, bad stride, or a scan mismatch with ``on_scan_mismatch="raise"``.
        FileNotFoundError: a missing TIFF, or weights that are not there (see :func:`load_dle`).

    Example:
        >>> net = DLE(DLEConfig.small()).eval()   # untrained: the numbers mean nothing
        >>> est = estimate_diffusion(torch.rand(30, 40, 40) * 10 + 100, model=net, return_map=True)
        >>> est.n_crops, est.crop_map.shape, est.sigma_um2_s > 0
        (9, (3, 3, 2), True)
    """
    fn = "estimate_diffusion"
    _checks.choice(fn, "on_scan_mismatch", on_scan_mismatch, ("warn", "raise"))
    timing_rtol = _checks.non_negative(fn, "timing_rtol", timing_rtol)
    batch_size = _checks.positive_int(fn, "batch_size", batch_size)
    dev = _checks.as_device(fn, device)
    mov = _load_movie(fn, movie)
    if isinstance(model, DLE):
        net = model
    elif isinstance(model, (str, os.PathLike)):
        net = load_dle(model, device=dev)
    else:
        _checks.fail(fn, "model", "a DLE, 'low', 'high' or a checkpoint path", type(model).__name__)
    fh, fw = net.config.frame_size
    if crop is None:
        if fh != fw:
            _checks.fail(fn, "model", "trained on square frames for crop=None", f"{fh}×{fw}")
        crop = fh
    crop = _checks.positive_int(fn, "crop", crop)
    if (crop, crop) != (fh, fw):
        _checks.fail(fn, "crop", f"the model's training frame size {fh} px", f"{crop} px")
    stride = crop // 2 if stride is None else stride
    stride = _checks.positive_int(fn, "stride", stride)
    T, Y, X = mov.shape
    if T < 1 or Y < crop or X < crop:
        _checks.fail(fn, "movie", f"(T ≥ 1, Y ≥ {crop}, X ≥ {crop}) (at least one crop)", f"shape {(T, Y, X)}")
    check_scan(fn, net, scan, timing_rtol, on_scan_mismatch)

    ys, xs = crop_origins(Y, crop, stride), crop_origins(X, crop, stride)
    origins = np.array([[(y, x) for x in xs] for y in ys], dtype=np.int64)  # (n_y, n_x, 2)
    flat = origins.reshape(-1, 2)
    p0 = next(net.parameters(), None)
    if p0 is not None and p0.device != dev:
        net = copy.deepcopy(net).to(dev)  # leave the caller's model where it is
    was_training = net.training
    net.eval()
    ds, ss = [], []
    with torch.no_grad():
        for i in range(0, len(flat), batch_size):
            batch = torch.stack([mov[:, y:y + crop, x:x + crop] for y, x in flat[i:i + batch_size]])
            d, s = net(batch.to(dev))
            ds.append(d.float().cpu())
            ss.append(s.float().cpu())
    net.train(was_training)
    d = torch.cat(ds).double().numpy()
    s = torch.cat(ss).double().numpy()
    D, sigma = combine_estimates(d, s)
    covered = np.zeros((Y, X), dtype=bool)
    for y, x in flat:
        covered[y:y + crop, x:x + crop] = True
    kappa = len(flat) * crop * crop / covered.sum()
    ny, nx = len(ys), len(xs)
    return MovieEstimate(
        d_um2_s=D, sigma_um2_s=sigma, sigma_conservative_um2_s=sigma * math.sqrt(kappa),
        n_crops=len(flat), overlap_factor=float(kappa), crop=crop, stride=stride,
        crop_map=np.stack([d, s], axis=-1).reshape(ny, nx, 2) if return_map else None,
        origins=origins if return_map else None, movie_shape=(T, Y, X))


def plot_crop_map(result: MovieEstimate, path, *, overwrite: bool = False, title: str = ""):
    """PNG of the per-crop D̂ and σ̂ maps of ``estimate_diffusion(..., return_map=True)``.

    Each crop is drawn as a cell at its grid position; the title gives the combined D ± σ and the
    conservative σ.

    Returns:
        The PNG's path.
    """
    fn = "plot_crop_map"
    if not isinstance(result, MovieEstimate) or result.crop_map is None:
        _checks.fail(fn, "result", "a MovieEstimate with a crop map (estimate_diffusion(..., "
                     "return_map=True))", type(result).__name__ if not isinstance(result, MovieEstimate)
                     else "one without a map")
    from bbbcore.io import _target

    p = _target(fn, path, overwrite)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(9, 4), squeeze=False)
    ys, xs = result.origins[:, 0, 0], result.origins[0, :, 1]
    for ax, k, label in ((axs[0, 0], 0, "D̂ [µm²/s]"), (axs[0, 1], 1, "σ̂ [µm²/s]")):
        im = ax.imshow(result.crop_map[..., k], cmap="viridis", interpolation="nearest")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], fontsize=7)
        ax.set_yticks(range(len(ys)), [str(v) for v in ys], fontsize=7)
        ax.set_xlabel("crop x0 [px]")
        ax.set_ylabel("crop y0 [px]")
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
    head = (f"D = {result.d_um2_s:.4g} ± {result.sigma_um2_s:.2g} µm²/s (independent crops), "
            f"± {result.sigma_conservative_um2_s:.2g} (overlap-corrected); {result.n_crops} crops of "
            f"{result.crop} px, stride {result.stride}")
    fig.suptitle(f"{title}\n{head}".strip(), fontsize=9)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
