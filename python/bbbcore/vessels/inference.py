"""Out-of-core sliding-window inference of a 3D segmentation network (tUbe net and the like).

The tUbe net paper (Holroyd et al., tubenet-vessel-segmentation.md) segments whole volumes far larger
than a 64³ training patch. This module tiles the volume with overlapping windows, runs the network on
batches of them and blends the overlapping predictions with a smooth importance map, writing the
result block by block so that memory never grows with the volume.

Method
------
*Window grid and blending* are exactly those of MONAI's ``sliding_window_inference`` (MONAI 1.6.1,
``monai/inferers/utils.py``, ``monai/data/utils.py``): along each axis the stride is
``int(patch * (1 - overlap))`` (at least 1; the whole axis when it equals the patch), the window
starts are ``0, s, 2s, …`` with the last one moved back to end at the border (``dense_patch_slices``),
an axis shorter than the patch is zero-padded symmetrically (``diff // 2`` before, the rest after)
and the output cropped back, and the importance map is MONAI's ``compute_importance_map``: a
separable Gaussian ``exp(-x² / (2 σ²))`` with ``σ = sigma_scale · patch`` on the centred voxel
coordinates, clamped below at ``max(min, 1e-3)``. The blended value at voxel v is

    P(v) = Σ_w a_w(v) p_w(v) / Σ_w a_w(v),

with ``a_w`` the importance map of window w placed at its start and ``p_w`` the window's prediction.
``blend="hamming"`` uses the separable symmetric Hamming window ``0.54 - 0.46 cos(2πn / (N - 1))``
(``numpy.hamming``) per axis, clamped the same way (MONAI has no Hamming mode; the result equals
MONAI's given this map as ``roi_weight_map``); ``blend="constant"`` uses ones (a plain mean).

*Probabilities, not logits, are blended*: ``p_w = sigmoid(logit)`` (one output channel) or
``softmax(logits)[1]`` (two channels). MONAI blends whatever the predictor returns; blending logits
and applying the sigmoid afterwards would let one confident window dominate a voxel and would make
the blended value a poor probability for thresholding and uncertainty. ``segment`` therefore equals
MONAI's ``sliding_window_inference(..., predictor=lambda x: sigmoid(model(x)), mode="gaussian")``.

*Test-time augmentation* (``tta``): each window is also run flipped along the axis sets, in this
order, ``(), (z,), (y,), (x,), (z, y), (z, x), (y, x), (z, y, x)`` (:data:`FLIPS`); ``tta=n`` uses
the first n. Each prediction is flipped back. Per window, the flip mean ``m_w`` and the population
flip variance ``v_w = (1/n) Σ_f (p_wf - m_w)²`` are computed with Welford's update (no cancellation),
and both are blended with the same importance weights:

    prob(v) = Σ_w a_w m_w / Σ_w a_w      (= the mean over flips of the blended flip predictions)
    uncertainty(v) = sqrt( Σ_w a_w v_w / Σ_w a_w ).

The uncertainty is thus the importance-weighted root-mean flip variance: for a voxel seen by one
window it is exactly the standard deviation (ddof=0) over the flips, and it is zero for a
flip-equivariant network whatever the window overlap (disagreement between windows is not counted).

*Out of core*. The padded volume is cut into blocks (default 4 strides per axis) processed in raster
(z, y, x) order. A window belongs to the block holding its start; the block's accumulator (blended
numerator, [flip variance numerator,] weight) covers the block plus the overhang of its windows, at
most ``block + patch - 1`` per axis. Only the source region under the block's windows is read. The
overhang belongs to later blocks in raster order (+z, +y, +x and their combinations): it is written
to a temporary on-disk spill store (``.npy`` files in a ``TemporaryDirectory`` beside the output, or
in the system temporary directory) keyed by the receiving block, and read back and deleted when that
block is finalised. A block is final once its own windows are done, since every window that reaches
it starts in an earlier block. Peak memory is therefore ∝ (block + patch)³, never ∝ the volume.

*GPU*. The block's input region is copied once to the device (pinned memory, non-blocking), windows
are cut from it on the device, batched, run under bfloat16 autocast, blended into a device
accumulator with the importance map cached on the device, and the accumulator comes back once per
block. A reader thread prepares the next block's region (read, normalise, pad, pin) and a writer
thread finalises the previous block (spill, division, output write) while the device computes. On
the CPU everything runs in the calling thread.

Pitfalls avoided: per-patch intensity normalisation (the range is per dataset, see
:mod:`bbbcore.vessels.volumes`); blending logits; reading or allocating the whole volume; an
interrupted run leaving an output that looks complete (writes go to ``<out>.partial``, the group's
``"complete"`` attribute is set last and the directory renamed at the very end).
"""
from __future__ import annotations

import itertools
import json
import math
import shutil
import tempfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, is_dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.vessels import volumes

__all__ = ["FLIPS", "segment"]

#: Test-time-augmentation flips, in the order used by ``tta=n`` (spatial axes: 0 = z, 1 = y, 2 = x).
FLIPS: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2))

_BLENDS = ("gaussian", "hamming", "constant")
_DTYPES = ("float32", "float16")
_FN = "segment"


def segment(model, source, out=None, *, patch=(64, 64, 64), overlap=0.25, batch_size=4, device="cpu",
            normalize="percentile", threshold=None, tta=False, blend="gaussian", sigma_scale=0.125,
            block=None, amp=None, dtype="float32", overwrite=False, progress=True, array=None):
    """Segment a volume of any size with a 3D network by blended sliding windows, block by block.

    See the module docstring for the window grid (MONAI's), the blending of probabilities, the
    flip test-time augmentation and the out-of-core block scheme.

    Args:
        model: ``torch.nn.Module`` mapping float32 (B, 1, pz, py, px) to logits (B, K, pz, py, px),
            K = 1 (sigmoid) or K = 2 (softmax, channel 1 is the vessel). It is moved to ``device``
            and run in eval mode under ``torch.inference_mode`` (its training flag is restored).
            ``"foundation"`` loads the shipped model, any other str/Path a model file
            (:func:`~bbbcore.vessels.load_model`).
        source: the (Z, Y, X) volume: a path to ``.npy`` / ``.tif`` / ``.zarr`` or an array-like
            (see :func:`bbbcore.vessels.volumes.open_volume`); never read whole.
        out: None to return NumPy arrays, or a path where a Zarr (v3) group is written.
        patch: window size (pz, py, px) [voxels], three positive ints.
        overlap: fraction of the window shared by neighbours, 0 <= overlap < 1.
        batch_size: windows per forward pass.
        device: "cpu", "cuda", "cuda:1" or a ``torch.device``.
        normalize: "percentile" (the dataset's 0.5–99.5 percentile range from
            :func:`~bbbcore.vessels.volumes.intensity_range` mapped to [0, 1]), a ``(lo, hi)`` range
            mapped to [0, 1], or None (raw values as float32). Padding is 0 after normalisation.
        threshold: None for probabilities, or a value in (0, 1): the output is the uint8 mask
            ``prob > threshold``.
        tta: False (or 0), True (all 8 flips) or an int n in 1..8 (the first n of :data:`FLIPS`);
            with TTA an uncertainty volume is returned too.
        blend: "gaussian" (MONAI's), "hamming" or "constant".
        sigma_scale: Gaussian σ as a fraction of the patch size (blend="gaussian").
        block: output block (bz, by, bx) [voxels] (an int for all axes); default 4 strides per axis.
            Peak memory ∝ (block + patch)³.
        amp: None (bfloat16 autocast on CUDA, off on the CPU) or a bool forcing it.
        dtype: "float32" or "float16", the dtype of the probability and uncertainty outputs.
        overwrite: allow replacing an existing ``out`` (or a stale ``<out>.partial``).
        progress: show a tqdm bar over the windows.
        array: the array's name when ``source`` is a Zarr group.

    Returns:
        out=None: ``prob`` (Z, Y, X) NumPy array of ``dtype`` (or the uint8 ``mask`` when
        ``threshold`` is given); with ``tta``, the tuple ``(prob_or_mask, uncertainty)``.
        out=path: the written Zarr group opened read-only, holding ``"prob"`` (or ``"mask"``),
        ``"uncertainty"`` with tta, chunked by block, and attributes ``patch``, ``overlap``,
        ``blend``, ``sigma_scale``, ``block``, ``threshold``, ``tta`` (number of flips),
        ``tta_flips``, ``normalization`` ({"mode", "range"}), ``model_config`` (when the model has
        a ``config`` attribute), ``source_shape``, ``dtype`` and ``complete`` (True, written last).

    Raises:
        ValueError: an invalid argument, or a model output that is not (B, 1 or 2, pz, py, px).
        FileExistsError: ``out`` or ``<out>.partial`` exists and ``overwrite`` is False.
        FileNotFoundError: ``source`` is a path that does not exist.

    Example:
        >>> import numpy as np, torch
        >>> from bbbcore.vessels.inference import segment
        >>> _ = torch.manual_seed(0)
        >>> net = torch.nn.Conv3d(1, 1, 3, padding=1)
        >>> vol = np.random.default_rng(0).random((20, 24, 18), dtype=np.float32)
        >>> prob = segment(net, vol, patch=(16, 16, 16), progress=False)
        >>> prob.shape, prob.dtype, bool(((prob > 0) & (prob < 1)).all())
        ((20, 24, 18), dtype('float32'), True)
        >>> mask, unc = segment(net, vol, patch=(16, 16, 16), threshold=0.5, tta=4, progress=False)
        >>> mask.dtype, unc.shape
        (dtype('uint8'), (20, 24, 18))
    """
    fn = _FN
    if isinstance(model, (str, Path)):             # "foundation" or a model file written by train()
        from bbbcore.vessels import checkpoints
        model = checkpoints.load_pretrained(model) if str(model) in checkpoints.SHIPPED \
            else checkpoints.load_model(model)
    if not isinstance(model, torch.nn.Module):
        _checks.fail(fn, "model", "a torch.nn.Module, 'foundation' or a model file", type(model).__name__)
    patch = _triple(fn, "patch", patch)
    if isinstance(overlap, bool) or not isinstance(overlap, Real) or not 0.0 <= float(overlap) < 1.0:
        _checks.fail(fn, "overlap", "a number with 0 <= overlap < 1", repr(overlap))
    overlap = float(overlap)
    batch_size = _checks.positive_int(fn, "batch_size", batch_size)
    if threshold is not None:
        if (isinstance(threshold, bool) or not isinstance(threshold, Real)
                or not 0.0 < float(threshold) < 1.0):
            _checks.fail(fn, "threshold", "None or a number in (0, 1)", repr(threshold))
        threshold = float(threshold)
    flips = _flips(fn, tta)
    tta = bool(tta)
    blend = _checks.choice(fn, "blend", blend, _BLENDS)
    sigma_scale = _checks.positive(fn, "sigma_scale", sigma_scale)
    if dtype is not None and _is_dtype(dtype):
        dtype = np.dtype(dtype).name
    dtype = _checks.choice(fn, "dtype", dtype, _DTYPES)
    if amp is not None and not isinstance(amp, bool):
        _checks.fail(fn, "amp", "None, True or False", repr(amp))
    if out is not None and not isinstance(out, (str, Path)):
        _checks.fail(fn, "out", "None or a path", type(out).__name__)
    dev = _device(fn, device)
    amp = dev.type == "cuda" if amp is None else amp

    vol = volumes.open_volume(source, name="source", array=array)
    src_shape = tuple(int(s) for s in vol.shape)
    norm_mode, norm_range = _normalization(fn, normalize, vol)
    plan = _Plan(src_shape, patch, overlap, block)

    if out is not None:
        out = Path(out)
        if isinstance(source, (str, Path)) and Path(source).resolve() == out.resolve():
            _checks.fail(fn, "out", "a path other than the source", repr(str(out)))
        partial = out.with_name(out.name + ".partial")
        for p in (out, partial):
            if p.exists() or p.is_symlink():
                if not overwrite:
                    what = "a run in progress or an interrupted one" if p is partial else "an earlier run"
                    raise FileExistsError(f"{fn}: out {str(p)!r} exists (from {what}); "
                                          "pass overwrite=True to replace it")
                _remove(p)
        out.parent.mkdir(parents=True, exist_ok=True)

    was_training = model.training
    model.to(dev).eval()
    importance = _importance_map(patch, blend, sigma_scale).to(dev)
    runner = _Runner(model, dev, amp, flips, importance, patch, batch_size, tta)
    attrs = {"patch": list(patch), "overlap": overlap, "blend": blend, "sigma_scale": sigma_scale,
             "block": list(plan.block), "threshold": threshold, "tta": len(flips) if tta else 0,
             "tta_flips": [list(f) for f in flips] if tta else [],
             "normalization": {"mode": norm_mode, "range": None if norm_range is None else list(norm_range)},
             "source_shape": list(src_shape), "dtype": "uint8" if threshold is not None else dtype,
             "uncertainty": "sqrt(blended population variance over flips)" if tta else None,
             "complete": False}
    if hasattr(model, "config"):
        attrs["model_config"] = _jsonable(model.config)
    main_name = "mask" if threshold is not None else "prob"
    main_dtype = np.uint8 if threshold is not None else np.dtype(dtype)

    spill_parent = None if out is None else str(out.parent)
    spill_prefix = ".segment-spill-" if out is None else f".{out.name}.spill-"
    try:
        if out is None:
            outputs = {main_name: np.empty(src_shape, main_dtype)}
            if tta:
                outputs["uncertainty"] = np.empty(src_shape, np.dtype(dtype))
        else:
            import zarr

            group = zarr.open_group(str(partial), mode="w-")
            group.attrs.update(attrs)
            chunks = tuple(min(b, s) for b, s in zip(plan.block, src_shape))
            outputs = {main_name: volumes.create_zarr_array(group, main_name, shape=src_shape, chunks=chunks,
                                                             dtype=main_dtype)}
            if tta:
                outputs["uncertainty"] = volumes.create_zarr_array(group, "uncertainty", shape=src_shape,
                                                                   chunks=chunks, dtype=np.dtype(dtype))
        with tempfile.TemporaryDirectory(prefix=spill_prefix, dir=spill_parent,
                                         ignore_cleanup_errors=True) as spill_dir, torch.inference_mode():
            finisher = _Finisher(plan, _SpillStore(spill_dir), outputs, main_name, threshold,
                                 bool(tta), runner.channels)
            reader = _Reader(vol, plan, norm_range, pin=dev.type == "cuda")
            _run_blocks(plan, reader, runner, finisher, pipelined=dev.type == "cuda", progress=progress)
        if out is not None:
            group.attrs["complete"] = True                    # last write, then the rename
            if out.exists() or out.is_symlink():              # appeared during the run
                if not overwrite:
                    raise FileExistsError(f"{fn}: out {str(out)!r} appeared during the run; "
                                          "pass overwrite=True to replace it")
                _remove(out)
            partial.rename(out)
    except BaseException:
        if out is not None:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        model.train(was_training)

    if out is not None:
        import zarr

        return zarr.open_group(str(out), mode="r")
    if tta:
        return outputs[main_name], outputs["uncertainty"]
    return outputs[main_name]


# ---------------------------------------------------------------------------------------------
# Geometry (MONAI-identical grid)


def _scan_interval(image, roi, overlap: float) -> tuple[int, ...]:
    """MONAI ``_get_scan_interval``: ``int(roi * (1 - overlap))`` (≥ 1), or roi when roi == image."""
    out = []
    for i, r in zip(image, roi):
        if r == i:
            out.append(int(r))
        else:
            interval = int(r * (1 - overlap))
            out.append(interval if interval > 0 else 1)
    return tuple(out)


def _window_starts(image: int, roi: int, interval: int) -> np.ndarray:
    """MONAI ``dense_patch_slices`` along one axis: 0, s, 2s, … with the last start moved back."""
    num = math.ceil(float(image) / interval)
    scan_dim = next((d for d in range(num) if d * interval + roi >= image), None)
    n = scan_dim + 1 if scan_dim is not None else 1
    return np.array([d * interval - max(d * interval + roi - image, 0) for d in range(n)], dtype=np.int64)


def _importance_map(patch, blend: str, sigma_scale: float) -> torch.Tensor:
    """Window weights (pz, py, px) float32: MONAI's ``compute_importance_map`` (+ Hamming)."""
    if blend == "constant":
        imp = torch.ones(patch, dtype=torch.float)
    else:
        imp = None
        for i, p in enumerate(patch):
            if blend == "gaussian":           # verbatim MONAI 1.6.1 compute_importance_map
                sigma = p * sigma_scale
                x = torch.arange(start=-(p - 1) / 2.0, end=(p - 1) / 2.0 + 1, dtype=torch.float)
                x = torch.exp(x**2 / (-2 * sigma**2))
            else:
                x = torch.hamming_window(p, periodic=False, dtype=torch.float)
            imp = imp.unsqueeze(-1) * x[(None,) * i] if i > 0 else x
    min_non_zero = max(torch.min(imp).item(), 1e-3)
    return torch.clamp_(imp.to(torch.float), min=min_non_zero).contiguous()


class _Plan:
    """Padding, window starts and the block grid, all in padded coordinates."""

    def __init__(self, src_shape, patch, overlap, block):
        self.src_shape = src_shape
        self.patch = patch
        self.image = tuple(max(s, p) for s, p in zip(src_shape, patch))
        self.pad = tuple(max(p - s, 0) // 2 for s, p in zip(src_shape, patch))
        interval = _scan_interval(self.image, patch, overlap)
        self.starts = [_window_starts(i, p, s) for i, p, s in zip(self.image, patch, interval)]
        if block is None:
            block = tuple(4 * s for s in interval)
        else:
            block = _triple(_FN, "block", block)
        self.block = tuple(min(b, i) for b, i in zip(block, self.image))
        self.n_blocks = tuple(-(-i // b) for i, b in zip(self.image, self.block))
        self.n_windows = math.prod(len(s) for s in self.starts)

    def bounds(self, bi):
        """Block ``bi``'s [lo, hi) per axis (padded coordinates)."""
        lo = tuple(k * b for k, b in zip(bi, self.block))
        hi = tuple(min(a + b, i) for a, b, i in zip(lo, self.block, self.image))
        return lo, hi

    def block_starts(self, bi):
        """Window starts per axis of the windows whose start lies in block ``bi``."""
        lo, hi = self.bounds(bi)
        return [s[(s >= a) & (s < b)] for s, a, b in zip(self.starts, lo, hi)]


# ---------------------------------------------------------------------------------------------
# Pipeline stages


class _Reader:
    """Reads, normalises and zero-pads the source region under one block's windows."""

    def __init__(self, vol, plan: _Plan, norm_range, pin: bool):
        self.vol, self.plan, self.norm_range, self.pin = vol, plan, norm_range, pin

    def __call__(self, bi):
        plan = self.plan
        starts = plan.block_starts(bi)
        if any(len(s) == 0 for s in starts):
            return bi, starts, None, None
        r0 = tuple(int(s[0]) for s in starts)
        r1 = tuple(int(s[-1]) + p for s, p in zip(starts, plan.patch))
        region = np.zeros(tuple(b - a for a, b in zip(r0, r1)), np.float32)
        src = tuple(slice(max(a - d, 0), min(b - d, n))
                    for a, b, d, n in zip(r0, r1, plan.pad, plan.src_shape))
        dst = tuple(slice(s.start + d - a, s.stop + d - a) for s, a, d in zip(src, r0, plan.pad))
        raw = self.vol[src]
        if self.norm_range is None:
            region[dst] = np.asarray(raw, dtype=np.float32)
        else:
            region[dst] = volumes.normalize(raw, *self.norm_range)
        tensor = torch.from_numpy(region)
        if self.pin:
            tensor = tensor.pin_memory()
        return bi, starts, r0, tensor


class _Runner:
    """Runs one block's windows on the device and returns its accumulator on the host."""

    def __init__(self, model, dev, amp, flips, importance, patch, batch_size, tta: bool):
        self.model, self.dev, self.amp, self.flips = model, dev, amp, flips
        self.importance, self.patch, self.batch_size, self.tta = importance, patch, batch_size, tta
        self.channels = 3 if self.tta else 2          # numerator, [variance numerator,] weight

    def __call__(self, plan: _Plan, job, bar) -> np.ndarray:
        bi, starts, r0, region = job
        lo, hi = plan.bounds(bi)
        if region is None:                            # no window starts here: only spill arrives
            return np.zeros((self.channels,) + tuple(b - a for a, b in zip(lo, hi)), np.float32)
        p = self.patch
        a_shape = tuple(max(b, int(s[-1]) + q) - a for a, b, s, q in zip(lo, hi, starts, p))
        region = region.to(self.dev, non_blocking=True)
        acc = torch.zeros((self.channels,) + a_shape, dtype=torch.float32, device=self.dev)
        imp = self.importance
        windows = list(itertools.product(*(s.tolist() for s in starts)))
        for i in range(0, len(windows), self.batch_size):
            batch = windows[i:i + self.batch_size]
            x = torch.stack([region[z - r0[0]:z - r0[0] + p[0], y - r0[1]:y - r0[1] + p[1],
                                    w - r0[2]:w - r0[2] + p[2]] for z, y, w in batch]).unsqueeze(1)
            mean, var = self._predict(x)
            mean.mul_(imp)
            if var is not None:
                var.mul_(imp)
            for j, (z, y, w) in enumerate(batch):
                sl = (slice(z - lo[0], z - lo[0] + p[0]), slice(y - lo[1], y - lo[1] + p[1]),
                      slice(w - lo[2], w - lo[2] + p[2]))
                acc[0][sl] += mean[j]
                if var is not None:
                    acc[1][sl] += var[j]
                acc[-1][sl] += imp
            bar.update(len(batch))
        return acc.cpu().numpy()

    def _predict(self, x: torch.Tensor):
        """Flip-mean and flip population variance of the vessel probability, (b, pz, py, px)."""
        n = len(self.flips)
        mean = m2 = None
        for k, axes in enumerate(self.flips, start=1):
            xi = torch.flip(x, [a + 2 for a in axes]) if axes else x
            with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.amp):
                logits = self.model(xi)
            prob = self._probability(logits, x.shape[0])
            if axes:
                prob = torch.flip(prob, [a + 1 for a in axes])
            if mean is None:
                mean = prob.contiguous()
                m2 = torch.zeros_like(mean) if self.tta else None
            else:                                     # Welford: no cancellation
                delta = prob - mean
                mean += delta / k
                m2 += delta * (prob - mean)
        return mean, (m2 / n if m2 is not None else None)

    def _probability(self, logits, b: int) -> torch.Tensor:
        want = (b, None) + tuple(self.patch)
        if (not isinstance(logits, torch.Tensor) or logits.dim() != 5
                or any(w is not None and w != g for w, g in zip(want, logits.shape))
                or logits.shape[1] not in (1, 2)):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            _checks.fail(_FN, "the model output", "logits of shape (B, K, pz, py, px) = "
                         f"({b}, 1 or 2, {', '.join(map(str, self.patch))})", got)
        logits = logits.float()
        if logits.shape[1] == 1:
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=1)[:, 1]


class _SpillStore:
    """Overhang of finished blocks waiting for later blocks: ``.npy`` files keyed by block.

    Every piece starts at the receiving block's origin (a window overhangs only into the +z, +y,
    +x side), so a piece is stored as its array alone.
    """

    def __init__(self, directory):
        self.dir = Path(directory)
        self.files: dict[tuple[int, ...], list[Path]] = {}
        self.count = 0

    def put(self, key, piece: np.ndarray) -> None:
        path = self.dir / f"{self.count}.npy"
        self.count += 1
        np.save(path, piece)
        self.files.setdefault(key, []).append(path)

    def take(self, key):
        for path in self.files.pop(key, []):
            piece = np.load(path)
            path.unlink()
            yield piece


class _Finisher:
    """Adds the spill a block received, spills its overhang, divides and writes the output block."""

    def __init__(self, plan: _Plan, spill: _SpillStore, outputs, main_name, threshold, tta, channels):
        self.plan, self.spill, self.outputs = plan, spill, outputs
        self.main_name, self.threshold, self.tta, self.channels = main_name, threshold, tta, channels

    def __call__(self, bi, acc: np.ndarray) -> None:
        plan = self.plan
        lo, hi = plan.bounds(bi)
        size = tuple(b - a for a, b in zip(lo, hi))
        # overhang → the later blocks it lies in (possibly several along an axis when block < patch)
        segments = []
        for a, n, b in zip(acc.shape[1:], size, plan.block):
            seg = [(0, 0, n)]
            t, d = n, 1
            while t < a:
                seg.append((d, t, min(t + b, a)))
                t, d = t + b, d + 1
            segments.append(seg)
        for combo in itertools.product(*segments):
            delta = tuple(c[0] for c in combo)
            if any(delta):
                key = tuple(k + d for k, d in zip(bi, delta))
                self.spill.put(key, np.ascontiguousarray(acc[(slice(None),) + tuple(slice(c[1], c[2])
                                                                                     for c in combo)]))
        own = np.array(acc[(slice(None),) + tuple(slice(0, n) for n in size)], dtype=np.float32)
        for piece in self.spill.take(bi):
            own[(slice(None),) + tuple(slice(0, n) for n in piece.shape[1:])] += piece
        # crop to the source (padding only when the volume is smaller than the patch)
        src = tuple(slice(max(a - d, 0), min(b - d, s)) for a, b, d, s in
                    zip(lo, hi, plan.pad, plan.src_shape))
        if any(s.stop <= s.start for s in src):
            return
        loc = tuple(slice(s.start + d - a, s.stop + d - a) for s, a, d in zip(src, lo, plan.pad))
        weight = own[-1][loc]
        prob = own[0][loc] / weight
        if self.threshold is not None:
            self.outputs[self.main_name][src] = (prob > self.threshold).astype(np.uint8)
        else:
            self.outputs[self.main_name][src] = prob.astype(self.outputs[self.main_name].dtype)
        if self.tta:
            unc = np.sqrt(np.maximum(own[1][loc] / weight, 0.0))
            self.outputs["uncertainty"][src] = unc.astype(self.outputs["uncertainty"].dtype)


class _Now:
    """A finished 'future' for the plain (single-thread) path."""

    def __init__(self, fn, *args):
        self.value = fn(*args)

    def result(self):
        return self.value


def _run_blocks(plan: _Plan, reader: _Reader, runner: _Runner, finisher: _Finisher, *,
                pipelined: bool, progress: bool) -> None:
    """Blocks in raster order; on CUDA the next read and the previous finish overlap the device."""
    from tqdm import tqdm

    blocks = list(itertools.product(*(range(n) for n in plan.n_blocks)))
    read_pool = ThreadPoolExecutor(1, thread_name_prefix="segment-read") if pipelined else None
    write_pool = ThreadPoolExecutor(1, thread_name_prefix="segment-write") if pipelined else None
    read = read_pool.submit if pipelined else _Now
    write = write_pool.submit if pipelined else _Now
    bar = tqdm(total=plan.n_windows, disable=not progress, desc="segment", unit="window")
    writes: deque = deque()
    try:
        pending = read(reader, blocks[0])
        for k, bi in enumerate(blocks):
            job = pending.result()
            if k + 1 < len(blocks):
                pending = read(reader, blocks[k + 1])
            acc = runner(plan, job, bar)
            writes.append(write(finisher, bi, acc))
            while len(writes) > 1:                    # at most one block being finished behind
                writes.popleft().result()
        while writes:
            writes.popleft().result()
    finally:
        bar.close()
        for pool in (read_pool, write_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# Argument helpers


def _triple(fn: str, arg: str, value) -> tuple[int, int, int]:
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value,) * 3
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if len(items) != 3 or any(isinstance(v, bool) or not isinstance(v, Integral) or v < 1 for v in items):
        _checks.fail(fn, arg, "3 positive ints (z, y, x)", repr(value))
    return tuple(int(v) for v in items)


def _flips(fn: str, tta) -> tuple[tuple[int, ...], ...]:
    """The flips to run: ((),) without TTA (False, None or 0), else the first n of FLIPS."""
    if tta is True:
        return FLIPS
    if tta is False or tta is None:
        return ((),)
    if isinstance(tta, Integral) and 0 <= tta <= len(FLIPS):
        return FLIPS[:int(tta)] if tta else ((),)
    _checks.fail(fn, "tta", "a bool or an int in 0..8 (number of flips)", repr(tta))


def _is_dtype(value) -> bool:
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def _device(fn: str, device) -> torch.device:
    # Not _checks.as_device: inference needs torch's CUDA only, not bbbcore's native kernels.
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        _checks.fail(fn, "device", "'cpu', 'cuda' or a torch.device", repr(device))
    if dev.type not in ("cpu", "cuda"):
        _checks.fail(fn, "device", "'cpu' or 'cuda'", repr(device))
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            _checks.fail(fn, "device", "an available device (torch.cuda.is_available() is False)",
                         repr(device))
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def _normalization(fn: str, normalize, vol):
    if normalize is None:
        return None, None
    if isinstance(normalize, str):
        _checks.choice(fn, "normalize", normalize, ("percentile",))
        return "percentile", volumes.intensity_range(vol)
    try:
        lo, hi = (float(v) for v in normalize)
    except (TypeError, ValueError):
        lo = hi = float("nan")
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        _checks.fail(fn, "normalize", "'percentile', None or a finite range (lo, hi) with hi > lo",
                     repr(normalize))
    return "range", (lo, hi)


def _jsonable(obj):
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    try:
        return json.loads(json.dumps(obj, default=str))
    except (TypeError, ValueError):
        return str(obj)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
