"""Benchmark of the fused 3D augmentations (``bbbcore.augment``) against volumentations-3D, TorchIO
and MONAI, measured in the same run.

What is timed (``python -m benchmarks.bench_augment --help``):

* cases: the stall-catchers "heavy augs" pipeline (``heavy_augs``: rotate <= 10 deg about the first
  axis p 0.3, elastic 0.1, rot90 0.5, flip each axis 0.5, grid dropout 0.1, Gaussian noise 0.2,
  random gamma 0.2, crop from borders 0.4, drop plane 0.5, resize 1.0); every spatial transform at
  once (``spatial_all``: rotate, elastic, rot90, three flips, crop from borders, drop plane and
  resize, all with p = 1: the fused spatial op at its heaviest); and each spatial transform alone
  (``rotate``, ``elastic``, ``flip``, ``rot90``, ``crop_resize``, ``dropplane_resize``, ``resize``).
  Volumes are float32, one channel, uniform in [0, 1); output shape = the size swept (96x128x128 and
  64^3; ``--quick``: 32x48x48 and 24x32x32). ``resize`` alone reads a (1.25 Z, 0.75 Y, 0.75 X)
  volume (a same-shape resize is a no-op in MONAI); every other case reads the output shape.
* bbbcore on the CPU: ``Compose.batch(x, seed=s)`` on a (B, 1, Z, Y, X) batch, one fused call per
  batch, in a child process per thread count (1 and every core; ``OMP_NUM_THREADS`` set, as
  ``torch.set_num_threads`` alone may not reach the native OpenMP team); on one thread also the
  one-sample call ``aug(image=vol)``. ``heavy_augs`` is ``presets.heavy_augs(out_shape)``.
  Every CPU child (peers too) runs with ``THP_MEM_ALLOC_ENABLE=1`` unless it is set already:
  torch then puts large CPU tensors on transparent huge pages, as NumPy does by default.
* bbbcore on CUDA (when ``bbbcore.has_cuda()``): a batch sweep, events + synchronisation.
* peers, one sample per call, one thread (a child process with every thread pool set to 1:
  OpenMP / MKL / OpenBLAS, torch, SimpleITK, OpenCV); MONAI also on CUDA. A missing peer is
  reported as "not installed", never an exception.

Random pipelines: the time of a call depends on which transforms fire, so each case is timed over
a fixed number of draws, the same for every library. The peers follow one shared *firing plan*:
for each transform of probability p exactly round(p * draws) of the draws (a seeded choice) apply
it, and every library applies the same transforms in the same draws (the library's own generator,
seeded per draw, draws the transform parameters); so the peers' averages estimate the protocol's
expectation with little variance from the coin flips. bbbcore draws its coin flips itself (its
per-sample randomness is inside the fused kernel): a fixed sequence of seeds, the same number of
samples; the sequence is repeated (same draws) to get enough timed calls. The per-sample figure is
the **mean** over the draws (the sustained rate is 1 / mean); the median and IQR of the per-draw
(peers) or per-call / B (bbbcore) times are printed beside it.

Roofline: bytes per sample = read + write of the float32 volume (input + output voxels x 4); the
floor is the measured copy bandwidth (``common.memory_bandwidth``: single-thread NumPy copy for the
one-thread rows, the best of NumPy / torch copies for the all-thread rows, device copy on CUDA)
divided by those bytes. Goals (issue): CPU <= 25 ms per sample per core for the whole protocol and
>= 7x the best peer; <= 20 ms per sample per core for the fused spatial op (``spatial_all``); on an
H100 >= 5e4 volumes/s at 96x128x128 and >= 10x MONAI on the same GPU. Quick runs give no verdict.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import warnings

import numpy as np
import torch

import bbbcore

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import (  # noqa: E402
    print_child_result,
    run_child_process,
    REPO_ROOT,
    Timing,
    memory_bandwidth,
    metadata,
    print_table,
    time_call,
    write_json,
)

NAME = "augment"
PEERS = ("volumentations", "torchio", "monai")
PEER_DISTS = {"volumentations": "volumentations-3D", "torchio": "torchio", "monai": "monai"}
PEER_DEPS = ("scipy", "scikit-image", "SimpleITK", "opencv-python", "nibabel")
CASES = (
    "heavy_augs",
    "spatial_all",
    "rotate",
    "elastic",
    "flip",
    "rot90",
    "crop_resize",
    "dropplane_resize",
    "resize",
)
PIPELINES = ("heavy_augs", "spatial_all")  # emulated peer steps allowed (flagged) only in these

# goals (issue)
GOAL_CPU_PROTOCOL_S = 25e-3  # per sample per core, whole heavy-augs protocol
GOAL_CPU_PEER_RATIO = 7.0
GOAL_CPU_SPATIAL_S = 20e-3  # per sample per core, fused spatial op
GOAL_GPU_RATE = 5e4  # volumes/s at 96x128x128 on an H100
GOAL_GPU_MONAI_RATIO = 10.0
GOAL_SIZE = (96, 128, 128)
DESIGN_FLOOR_H100 = 2.4e5  # volumes/s, the bandwidth floor at 96x128x128

# transform parameters shared by every library (see the per-library builders)
ROT_DEG = 10.0
ELASTIC_MAX_DISP = 4.0  # voxels (bbbcore, TorchIO: cubic B-spline on a 7^3 control grid)
ELASTIC_CONTROL_POINTS = 7
CROP_FRACTION = 0.1
DROP_FRACTION = 0.1
GRID_RATIO, GRID_UNIT = 0.5, (8, 16)
NOISE_STD = (0.01, 0.05)
GAMMA = (0.8, 1.2)

# steps of each case: (step, probability); the heavy-augs order is the paper's listing
HEAVY = (
    ("rotate", 0.3),
    ("elastic", 0.1),
    ("rot90", 0.5),
    ("flip0", 0.5),
    ("flip1", 0.5),
    ("flip2", 0.5),
    ("grid_dropout", 0.1),
    ("noise", 0.2),
    ("gamma", 0.2),
    ("crop", 0.4),
    ("drop_plane", 0.5),
    ("resize", 1.0),
)
CASE_STEPS = {
    "heavy_augs": HEAVY,
    "spatial_all": tuple(
        (s, 1.0)
        for s in (
            "rotate",
            "elastic",
            "rot90",
            "flip0",
            "flip1",
            "flip2",
            "crop",
            "drop_plane",
            "resize",
        )
    ),
    "rotate": (("rotate", 1.0),),
    "elastic": (("elastic", 1.0),),
    "flip": (("flip0", 1.0),),
    "rot90": (("rot90", 1.0),),
    "crop_resize": (("crop", 1.0), ("resize", 1.0)),
    "dropplane_resize": (("drop_plane", 1.0), ("resize", 1.0)),
    "resize": (("resize", 1.0),),
}

FULL = dict(
    sizes=[(96, 128, 128), (64, 64, 64)],
    # draws per case (same for every library); the slow elastic cases get fewer
    draws={"heavy_augs": 40, "spatial_all": 6, "elastic": 8, "default": 12},
    batch=8,  # bbbcore CPU batch (samples per fused call)
    min_calls=10,  # bbbcore: repeat the seed sequence until at least this many timed calls
    min_single_calls=16,
    budget_s=3.0,  # bbbcore: stop repeating passes once the timed calls add up to this
    cuda_batches=(32, 256),
    cuda_min_calls=10,
)
QUICK = dict(
    sizes=[(32, 48, 48), (24, 32, 32)],
    draws={"heavy_augs": 10, "spatial_all": 3, "elastic": 3, "default": 4},
    batch=8,
    min_calls=4,
    min_single_calls=4,
    budget_s=0.3,
    cuda_batches=(8, 64),
    cuda_min_calls=4,
)

MIN_CPU_UTIL = 0.9  # below: other work shared our cores during the measurement
MAX_ATTEMPTS = 3


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def shape_str(s) -> str:
    return "x".join(str(int(v)) for v in s)


def in_shape_for(case: str, out_shape) -> tuple:
    """Input shape of a case: ``resize`` alone reads a differently shaped volume."""
    if case == "resize":
        z, y, x = out_shape
        return (int(round(1.25 * z)), int(round(0.75 * y)), int(round(0.75 * x)))
    return tuple(out_shape)


def bytes_per_sample(in_shape, out_shape) -> int:
    """Read + write of the float32 volume: input and output voxels, 4 bytes each."""
    return 4 * (math.prod(in_shape) + math.prod(out_shape))


def draws_for(cfg: dict, case: str) -> int:
    return int(cfg["draws"].get(case, cfg["draws"]["default"]))


def firing_plan(case: str, n: int, seed: int) -> list[list[str]]:
    """Steps applied in each of ``n`` draws: a step of probability p fires in exactly
    round(p * n) draws (a seeded choice), in the case's order. Shared by every peer."""
    rng = np.random.default_rng([seed, CASES.index(case)])
    fired = {}
    for step, p in CASE_STEPS[case]:
        k = n if p >= 1.0 else int(round(p * n))
        fired[step] = set(rng.choice(n, size=k, replace=False).tolist())
    return [[s for s, _ in CASE_STEPS[case] if i in fired[s]] for i in range(n)]


def make_volume(shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, *shape), generator=g, dtype=torch.float32)


# --------------------------------------------------------------------------- draw-by-draw timing
def time_draws(call, n: int, device="cpu", prepare=None) -> Timing:
    """Time ``call(i)`` for draws i = 0..n-1, one timed call each (no warm-up here).

    Like :func:`benchmarks.common.time_call` (``perf_counter`` + ``process_time`` on the CPU, events
    + synchronisation on CUDA), but with an untimed ``prepare(i)`` before each draw (seeding the
    library and a fresh copy of the input: MONAI's RandCoarseDropout writes into its input).
    """
    dev = torch.device(device)
    times, cpu = [], []
    for i in range(n):
        arg = prepare(i) if prepare is not None else None
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call(i, arg)
            stop.record()
            torch.cuda.synchronize(dev)
            times.append(start.elapsed_time(stop) * 1e-3)
        else:
            c0, t0 = time.process_time(), time.perf_counter()
            call(i, arg)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return Timing(times_s=times, warmup=0, cpu_s=cpu)


def per_sample(t: Timing, batch: int) -> dict:
    """Per-sample statistics of a timing whose calls each processed ``batch`` samples."""
    ts = np.asarray(t.times_s) / batch
    mean = float(ts.mean())
    return {
        "mean_s": mean,
        "median_s": float(np.median(ts)),
        "q1_s": float(np.percentile(ts, 25)),
        "q3_s": float(np.percentile(ts, 75)),
        "iqr_s": float(np.percentile(ts, 75) - np.percentile(ts, 25)),
        "samples_per_s": 1.0 / mean if mean > 0 else None,
    }


def _row(lib, variant, device, threads, case, out_shape, batch, draws, timing, **extra):
    ins = in_shape_for(case, out_shape)
    r = {
        "lib": lib,
        "variant": variant,
        "device": device,
        "threads": threads,
        "case": case,
        "size": shape_str(out_shape),
        "in_shape": list(ins),
        "out_shape": list(out_shape),
        "batch": batch,
        "draws": draws,
        "bytes_per_sample": bytes_per_sample(ins, out_shape),
        "status": "ok",
    }
    if timing is not None:
        r.update(per_sample(timing, batch))
        r["n_calls"] = timing.n
        r["cpu_util"] = timing.cpu_utilization(threads or 1) if device == "cpu" else None
        r["timing"] = timing.summary()
    r.update(extra)
    return r


def _status_row(lib, variant, device, threads, case, out_shape, status, **extra):
    r = _row(lib, variant, device, threads, case, out_shape, None, 0, None, **extra)
    r["status"] = status
    return r


# ------------------------------------------------------------------------------------ bbbcore
def import_bbbcore_augment():
    """(module, presets, None) or (None, None, reason)."""
    try:
        import bbbcore.augment as A
        from bbbcore.augment import presets
    except Exception as e:  # noqa: BLE001  (not built yet, or the native module lacks it)
        return None, None, f"not available (import bbbcore.augment: {type(e).__name__}: {e})"
    return A, presets, None


def bbb_step(A, step: str, p: float, out_shape):
    if step == "rotate":
        return A.Rotate(limit_deg=ROT_DEG, axes=(0,), p=p)
    if step == "elastic":
        return A.ElasticTransform(
            max_displacement=ELASTIC_MAX_DISP, num_control_points=ELASTIC_CONTROL_POINTS, p=p
        )
    if step == "rot90":
        return A.RandomRotate90(axes=(1, 2), p=p)
    if step.startswith("flip"):
        return A.Flip(axis=int(step[-1]), p=p)
    if step == "grid_dropout":
        return A.GridDropout(ratio=GRID_RATIO, unit_size=GRID_UNIT, p=p)
    if step == "noise":
        return A.GaussianNoise(std=NOISE_STD, p=p)
    if step == "gamma":
        return A.RandomGamma(gamma=GAMMA, p=p)
    if step == "crop":
        return A.RandomCropFromBorders(crop_fraction=CROP_FRACTION, p=p)
    if step == "drop_plane":
        return A.RandomDropPlane(drop_fraction=DROP_FRACTION, axes=(0,), p=p)
    if step == "resize":
        return A.Resize(tuple(out_shape))
    raise ValueError(step)


def bbb_build(A, presets, case: str, out_shape, seed: int):
    """The case's Compose: ``heavy_augs`` is the library's own preset, the rest are composed from
    :func:`bbb_step`."""
    if case == "heavy_augs":
        return presets.heavy_augs(out_shape=tuple(out_shape), seed=seed)
    return A.Compose([bbb_step(A, s, p, out_shape) for s, p in CASE_STEPS[case]], seed=seed)


def _time_passes(pass_call, per_pass, *, device, threads, min_calls, budget_s) -> tuple:
    """Time whole passes over a fixed sequence of draws: ``pass_call(j)`` is the j-th call of a
    pass. Passes are repeated (the same draws) until ``min_calls`` timed calls or ``budget_s`` of
    timed time, at least one pass. On the CPU a pass whose CPU utilisation is below MIN_CPU_UTIL
    (a shared machine, or a kernel that leaves threads idle) is run again, up to MAX_ATTEMPTS times
    while a pass takes less than half the budget, and its best-utilised attempt kept.

    Returns:
        (Timing with every kept call, passes, attempts made in all).
    """
    dev = torch.device(device)
    times, cpu, passes, attempts = [], [], 0, 0
    while passes == 0 or (len(times) < min_calls and sum(times) < budget_s):
        best = None
        for _ in range(MAX_ATTEMPTS if dev.type == "cpu" else 1):
            j = iter(range(per_pass))
            t = time_call(lambda: pass_call(next(j)), device=dev, warmup=0, repeats=per_pass)
            attempts += 1
            u = t.cpu_utilization(threads or 1) if dev.type == "cpu" else 1.0
            if best is None or u > best[0]:
                best = (u, t)
            if u >= MIN_CPU_UTIL or sum(t.times_s) > budget_s / 2:  # repeat cheap passes only
                break
        times += best[1].times_s
        cpu += best[1].cpu_s
        passes += 1
    return Timing(times_s=times, warmup=0, cpu_s=cpu), passes, attempts


def bbb_case_rows(A, presets, case, out_shape, cfg, seed, device, threads, batches, single):
    """Rows for one case and size: the batched call at each batch size (and the one-sample call)."""
    rows = []
    dev = torch.device(device)
    ins = in_shape_for(case, out_shape)
    n = draws_for(cfg, case)
    try:
        aug = bbb_build(A, presets, case, out_shape, seed)
        how = " ".join(repr(aug).split())  # the transforms and their parameters, for the JSON
    except Exception as e:  # noqa: BLE001
        msg = f"error: {type(e).__name__}: {e}"
        return [
            _status_row("bbbcore", f"batch {b}", dev.type, threads, case, out_shape, msg)
            for b in batches
        ]
    cuda = dev.type == "cuda"
    min_calls = cfg["cuda_min_calls"] if cuda else cfg["min_calls"]
    for b in batches:
        variant = f"batch {b}"
        try:
            x = torch.rand((b, 1, *ins), generator=torch.Generator().manual_seed(seed)).to(dev)
            per_pass = max(1, math.ceil(n / b))  # calls covering the n draws
            seeds = [seed * 100003 + i for i in range(per_pass)]
            y = aug.batch(x, seed=seed * 100003 + 99991)  # warm-up (and shape check)
            shape_ok = tuple(y.shape) == (b, 1, *out_shape) and y.dtype == torch.float32
            del y
            t, passes, attempts = _time_passes(
                lambda j, aug=aug, x=x, seeds=seeds: aug.batch(x, seed=seeds[j]),
                per_pass,
                device=dev,
                threads=threads,
                min_calls=min_calls,
                budget_s=cfg["budget_s"],
            )
            rows.append(
                _row(
                    "bbbcore",
                    variant,
                    dev.type,
                    threads,
                    case,
                    out_shape,
                    b,
                    per_pass * b,
                    t,
                    compose=how,
                    passes=passes,
                    attempts=attempts,
                    out_shape_ok=shape_ok,
                )
            )
        except Exception as e:  # noqa: BLE001
            rows.append(
                _status_row(
                    "bbbcore",
                    variant,
                    dev.type,
                    threads,
                    case,
                    out_shape,
                    f"error: {type(e).__name__}: {e}",
                    compose=how,
                )
            )
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    if single:
        try:
            vol = make_volume(ins, seed).to(dev)
            y = aug(image=vol)["image"]
            shape_ok = tuple(y.shape)[-3:] == tuple(out_shape)
            # draws from the Compose's own stream (seeded once): n draws per pass, like the peers
            t, passes, attempts = _time_passes(
                lambda j, aug=aug, vol=vol: aug(image=vol),
                n,
                device=dev,
                threads=threads,
                min_calls=cfg["min_single_calls"],
                budget_s=cfg["budget_s"],
            )
            calls = t.n
            rows.append(
                _row(
                    "bbbcore",
                    "1 sample/call",
                    dev.type,
                    threads,
                    case,
                    out_shape,
                    1,
                    calls,
                    t,
                    compose=how,
                    attempts=attempts,
                    out_shape_ok=shape_ok,
                )
            )
        except Exception as e:  # noqa: BLE001
            rows.append(
                _status_row(
                    "bbbcore",
                    "1 sample/call",
                    dev.type,
                    threads,
                    case,
                    out_shape,
                    f"error: {type(e).__name__}: {e}",
                    compose=how,
                )
            )
    return rows


def bbb_rows(cfg, sizes, cases, seed, device, threads, batches, single) -> dict:
    A, presets, why = import_bbbcore_augment()
    res = {"status": "ok" if A is not None else why, "rows": []}
    variants = [f"batch {b}" for b in batches] + (["1 sample/call"] if single else [])
    for out_shape in sizes:
        for case in cases:
            if A is None:
                res["rows"] += [
                    _status_row(
                        "bbbcore", v, torch.device(device).type, threads, case, out_shape, why
                    )
                    for v in variants
                ]
                continue
            rows = bbb_case_rows(
                A, presets, case, out_shape, cfg, seed, device, threads, batches, single
            )
            for r in rows:
                if r["status"] == "ok":
                    log(
                        f"  [bbbcore {r['device']} {threads or ''}{'thr ' if threads else ''}"
                        f"{r['variant']}] {case} {r['size']}: {r['mean_s'] * 1e3:.3g} ms/sample "
                        f"({r['samples_per_s']:.4g}/s)"
                    )
                else:
                    log(f"  [bbbcore {r['variant']}] {case} {r['size']}: {r['status']}")
            res["rows"] += rows
    return res


# -------------------------------------------------------------------------------------- peers
class _Emu:
    """Generator of the emulated steps (a peer without the transform), reseeded per draw."""

    rng = np.random.default_rng(0)

    @classmethod
    def seed(cls, s):
        cls.rng = np.random.default_rng(s)


def _emu_crop(t):
    """Crop from borders by volumentations' rule: per axis, up to ``CROP_FRACTION`` off each end."""
    sl = [slice(None)]
    for n in t.shape[1:]:
        lo = int(_Emu.rng.integers(0, int(CROP_FRACTION * n) + 1))
        hi = int(_Emu.rng.integers(max(lo + 1, int((1 - CROP_FRACTION) * n)), n + 1))
        sl.append(slice(lo, hi))
    return t[tuple(sl)]


def _emu_drop_plane(t):
    """Drop each plane of the first spatial axis with probability ``DROP_FRACTION``."""
    keep = np.flatnonzero(_Emu.rng.random(t.shape[1]) > DROP_FRACTION)
    if keep.size == 0:
        keep = np.array([0])
    return t.index_select(1, torch.as_tensor(keep, device=t.device))


def _emu_rot90(t):
    return torch.rot90(t, int(_Emu.rng.integers(0, 4)), dims=(2, 3))


def _emu_grid_dropout(t):
    """A 3D grid of cubic holes (ratio x unit, unit in GRID_UNIT, random offset), set to 0."""
    unit = int(_Emu.rng.integers(GRID_UNIT[0], GRID_UNIT[1] + 1))
    hole = min(max(int(unit * GRID_RATIO), 1), unit - 1)
    m = None
    for ax, n in enumerate(t.shape[1:]):
        sh = int(_Emu.rng.integers(0, unit - hole + 1))
        i = torch.arange(n, device=t.device)
        a = ((i - sh) % unit < hole) & (i >= sh)
        view = [1, 1, 1]
        view[ax] = n
        a = a.view(*view)
        m = a if m is None else (m & a)
    return t.masked_fill(m.unsqueeze(0), 0.0)


def peer_import(name: str):
    """(module namespace dict, None) or (None, reason)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "volumentations":
                import volumentations as V

                return {"V": V}, None
            if name == "torchio":
                import torchio as tio

                try:
                    import SimpleITK as sitk

                    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(
                        1
                    )  # TorchIO resamples with it
                except Exception:  # noqa: BLE001
                    pass
                return {"tio": tio}, None
            if name == "monai":
                import monai
                from monai import transforms as mt

                return {"monai": monai, "mt": mt}, None
    except ModuleNotFoundError as e:
        return None, f"not installed ({e.name})"
    except Exception as e:  # noqa: BLE001
        return None, f"import error: {type(e).__name__}: {e}"
    raise ValueError(name)


def peer_version(name: str):
    from importlib import metadata as im

    try:
        return im.version(PEER_DISTS.get(name, name))
    except im.PackageNotFoundError:
        return None


class PeerSteps:
    """One library's transforms (p = 1), how to compose them, seed them and call them.

    ``step(name)`` returns (transform, kind) with kind "native" or "emulated" (plain torch code
    standing in for a transform the library lacks), or (None, "none").
    """

    def __init__(self, name, mods, in_shape, out_shape, device):
        self.name, self.mods, self.in_shape, self.out_shape = name, mods, in_shape, out_shape
        self.device = torch.device(device)
        self._cache = {}

    def step(self, s):
        if s not in self._cache:
            self._cache[s] = getattr(self, f"_{self.name}")(s)
        return self._cache[s]

    # volumentations-3D: (Z, Y, X) float32 NumPy volume, channel-free (its own layout: H, W, D)
    def _volumentations(self, s):
        V = self.mods["V"]
        if s == "rotate":  # rot_x turns the plane of axes 1, 2: a rotation about the first axis
            t = V.Rotate(
                x_limit=(-ROT_DEG, ROT_DEG),
                y_limit=(0, 0),
                z_limit=(0, 0),
                interpolation=1,
                border_mode="constant",
                value=0,
                p=1.0,
            )
        elif s == "elastic":  # library default deformation range; dense Gaussian-smoothed field
            t = V.ElasticTransform(
                deformation_limits=(0, 0.25),
                interpolation=1,
                border_mode="constant",
                value=0,
                p=1.0,
            )
        elif s == "rot90":
            t = V.RandomRotate90(axes=(1, 2), p=1.0)
        elif s.startswith("flip"):
            t = V.Flip(axis=int(s[-1]), p=1.0)
        elif s == "grid_dropout":
            t = V.GridDropout(
                ratio=GRID_RATIO,
                unit_size_min=GRID_UNIT[0],
                unit_size_max=GRID_UNIT[1],
                random_offset=True,
                p=1.0,
            )
        elif s == "noise":  # var_limit is a variance
            t = V.GaussianNoise(var_limit=(NOISE_STD[0] ** 2, NOISE_STD[1] ** 2), p=1.0)
        elif s == "gamma":
            t = V.RandomGamma(gamma_limit=(int(GAMMA[0] * 100), int(GAMMA[1] * 100)), p=1.0)
        elif s == "crop":
            t = V.RandomCropFromBorders(crop_value=CROP_FRACTION, p=1.0)
        elif s == "drop_plane":
            t = V.RandomDropPlane(plane_drop_prob=DROP_FRACTION, axes=(0,), p=1.0)
        elif s == "resize":
            # resize_type=0 (scikit-image): the default resize_type=1 casts to uint8 and fails on a
            # channel-free volume
            t = V.Resize(tuple(self.out_shape), interpolation=1, resize_type=0, p=1.0)
        else:
            raise ValueError(s)
        return t, "native"

    # TorchIO: (1, Z, Y, X) tensor; no rot90, grid dropout, crop-from-borders or drop-plane
    def _torchio(self, s):
        tio = self.mods["tio"]
        if s == "rotate":
            return tio.RandomAffine(
                scales=0,
                degrees=(-ROT_DEG, ROT_DEG, 0, 0, 0, 0),
                translation=0,
                default_pad_value=0,
                image_interpolation="linear",
                center="image",
            ), "native"
        if s == "elastic":
            return tio.RandomElasticDeformation(
                num_control_points=ELASTIC_CONTROL_POINTS,
                max_displacement=ELASTIC_MAX_DISP,
                locked_borders=2,
                image_interpolation="linear",
            ), "native"
        if s.startswith("flip"):
            return tio.RandomFlip(axes=(int(s[-1]),), flip_probability=1.0), "native"
        if s == "noise":
            return tio.RandomNoise(mean=0, std=NOISE_STD), "native"
        if s == "gamma":
            return tio.RandomGamma(log_gamma=(math.log(GAMMA[0]), math.log(GAMMA[1]))), "native"
        if s == "resize":
            return tio.Resize(tuple(self.out_shape), image_interpolation="linear"), "native"
        emu = {
            "rot90": _emu_rot90,
            "grid_dropout": _emu_grid_dropout,
            "crop": _emu_crop,
            "drop_plane": _emu_drop_plane,
        }
        return tio.Lambda(emu[s]), "emulated"

    # MONAI: (1, Z, Y, X) tensor on the CPU or CUDA; no drop-plane; crop and grid dropout nearest
    def _monai(self, s):
        mt = self.mods["mt"]
        if s == "rotate":  # range_x: about the first spatial axis
            return mt.RandRotate(
                range_x=math.radians(ROT_DEG),
                prob=1.0,
                keep_size=True,
                mode="bilinear",
                padding_mode="zeros",
            ), "native"
        if s == "elastic":  # dense offsets smoothed by a Gaussian (sigma 5-7 voxels), ~2-5 voxels
            return mt.Rand3DElastic(
                sigma_range=(5, 7),
                magnitude_range=(100, 200),
                prob=1.0,
                mode="bilinear",
                padding_mode="zeros",
                device=self.device,
            ), "native"
        if s == "rot90":
            return mt.RandRotate90(prob=1.0, max_k=3, spatial_axes=(1, 2)), "native"
        if s.startswith("flip"):
            return mt.RandFlip(prob=1.0, spatial_axis=int(s[-1])), "native"
        if s == "grid_dropout":  # no grid: as many random cubic holes as grid units (unit 12)
            unit = (GRID_UNIT[0] + GRID_UNIT[1]) // 2
            holes = math.prod(math.ceil(n / unit) for n in self.in_shape)
            return mt.RandCoarseDropout(
                holes=holes, spatial_size=int(unit * GRID_RATIO), fill_value=0, prob=1.0
            ), "native"
        if s == "noise":  # std drawn in (0, 0.05)
            return mt.RandGaussianNoise(prob=1.0, mean=0.0, std=NOISE_STD[1]), "native"
        if s == "gamma":
            return mt.RandAdjustContrast(prob=1.0, gamma=GAMMA), "native"
        if s == "crop":  # random size in [0.8, 1] of each axis at a random centre
            roi = [max(1, int(math.ceil((1 - 2 * CROP_FRACTION) * n))) for n in self.in_shape]
            return mt.RandSpatialCrop(
                roi_size=roi, max_roi_size=list(self.in_shape), random_center=True, random_size=True
            ), "native"
        if s == "resize":
            return mt.Resize(spatial_size=tuple(self.out_shape), mode="trilinear"), "native"
        if s == "drop_plane":
            return mt.Lambda(func=_emu_drop_plane), "emulated"
        raise ValueError(s)

    def compose(self, transforms):
        if self.name == "volumentations":
            return self.mods["V"].Compose(list(transforms), p=1.0)
        if self.name == "torchio":
            return self.mods["tio"].Compose(list(transforms))
        return self.mods["mt"].Compose(list(transforms))

    def input(self, vol: torch.Tensor):
        """The library's input layout from a (1, Z, Y, X) CPU tensor (a fresh copy)."""
        if self.name == "volumentations":
            return vol[0].numpy().copy()
        return vol.to(self.device, copy=True)

    def seed(self, s: int, compose):
        _Emu.seed(s)
        if self.name == "volumentations":
            random.seed(s)
            np.random.seed(s % 2**32)
        elif self.name == "torchio":
            torch.manual_seed(s)
        else:
            compose.set_random_state(seed=s % 2**32)

    def call(self, compose, x):
        if self.name == "volumentations":
            # np.flip / np.rot90 return strided views; a training loop needs the data (torch
            # refuses negative strides), so the copy a user must make is part of the work
            return np.ascontiguousarray(compose(image=x)["image"])
        return compose(x)

    @staticmethod
    def out_shape_of(y):
        s = tuple(y.shape)
        return s[-3:] if len(s) == 4 else s


def peer_case_row(name, mods, case, out_shape, cfg, seed, device):
    dev = torch.device(device)
    ins = in_shape_for(case, out_shape)
    n = draws_for(cfg, case)
    ps = PeerSteps(name, mods, ins, out_shape, dev)
    steps = [s for s, _ in CASE_STEPS[case]]
    try:
        kinds = {s: ps.step(s)[1] for s in steps}
    except Exception as e:  # noqa: BLE001
        return _status_row(
            name, "1 sample/call", dev.type, 1, case, out_shape, f"error: {type(e).__name__}: {e}"
        )
    emulated = [s for s in steps if kinds[s] != "native"]
    if case not in PIPELINES and [s for s in emulated if s != "resize"]:
        return _status_row(
            name, "1 sample/call", dev.type, 1, case, out_shape, "no equivalent", emulated=emulated
        )
    plan = firing_plan(case, n, seed)
    composes = [ps.compose([ps.step(s)[0] for s in fired]) for fired in plan]
    vol = make_volume(ins, seed)
    out_ok = []
    try:
        warm = ps.compose([ps.step(s)[0] for s in steps])  # every step of the case
        ps.seed(seed * 7919 + 424242, warm)
        y = ps.call(warm, ps.input(vol))
        out_ok.append(PeerSteps.out_shape_of(y) == tuple(out_shape))

        def prepare(i):
            x = ps.input(vol)
            ps.seed(seed * 7919 + i, composes[i])
            return x

        def call(i, x):
            y = ps.call(composes[i], x)
            if i < 2:
                out_ok.append(PeerSteps.out_shape_of(y) == tuple(out_shape))
            return y

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time_draws(call, n, dev, prepare)
    except Exception as e:  # noqa: BLE001
        return _status_row(
            name,
            "1 sample/call",
            dev.type,
            1,
            case,
            out_shape,
            f"error: {type(e).__name__}: {e}",
            emulated=emulated,
        )
    fires = {s: sum(s in f for f in plan) for s in steps}
    return _row(
        name,
        "1 sample/call",
        dev.type,
        1,
        case,
        out_shape,
        1,
        n,
        t,
        emulated=emulated,
        fires=fires,
        out_shape_ok=all(out_ok),
    )


def peer_rows(cfg, sizes, cases, seed, device, peers) -> dict:
    res = {"peers": {}, "rows": []}
    for name in peers:
        mods, why = peer_import(name)
        res["peers"][name] = {"status": "ok" if mods else why, "version": peer_version(name)}
        if name == "volumentations" and mods:
            try:
                import cv2

                cv2.setNumThreads(1)
            except Exception:  # noqa: BLE001
                pass
        if name == "monai" and mods:
            res["peers"][name]["track_meta"] = bool(mods["monai"].data.get_track_meta())
        for out_shape in sizes:
            for case in cases:
                if mods is None:
                    r = _status_row(
                        name, "1 sample/call", torch.device(device).type, 1, case, out_shape, why
                    )
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        r = peer_case_row(name, mods, case, out_shape, cfg, seed, device)
                res["rows"].append(r)
                if r["status"] == "ok":
                    log(
                        f"  [{name} {r['device']}] {case} {r['size']}: "
                        f"{r['mean_s'] * 1e3:.4g} ms/sample (median {r['median_s'] * 1e3:.4g}, "
                        f"{r['draws']} draws, cpu util {r['cpu_util'] or float('nan'):.2f})"
                    )
                elif mods is not None:
                    log(f"  [{name}] {case} {r['size']}: {r['status']}")
    return res


def peer_dep_versions() -> dict:
    from importlib import metadata as im

    out = {}
    for d in PEER_DEPS:
        try:
            out[d] = im.version(d)
        except im.PackageNotFoundError:
            out[d] = None
    return out


# ------------------------------------------------------------------------------- CPU children
def cpu_child(spec: dict) -> dict:
    threads = int(spec["threads"])
    torch.set_num_threads(threads)
    cfg, sizes = spec["cfg"], [tuple(s) for s in spec["sizes"]]
    res = {
        "role": spec["role"],
        "threads": threads,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "torch_num_threads": torch.get_num_threads(),
        "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"),
        "loadavg_start": list(os.getloadavg()),
    }
    if spec["role"] == "bbbcore":
        res.update(
            bbb_rows(
                cfg,
                sizes,
                spec["cases"],
                spec["seed"],
                "cpu",
                threads,
                [spec["batch"]],
                spec["single"],
            )
        )
    else:
        res.update(peer_rows(cfg, sizes, spec["cases"], spec["seed"], "cpu", spec["peers"]))
    res["loadavg_end"] = list(os.getloadavg())
    return res


def run_child(spec: dict) -> dict:
    t = int(spec["threads"])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    for k in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
    ):
        env[k] = str(t)
    env["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(t)
    # Large torch CPU tensors on transparent huge pages (torch's own switch), for every library in
    # the run: a fresh 50 MB batch output otherwise costs ~18 ms of 4 kB page faults here, a tax
    # NumPy-based peers do not pay (NumPy advises huge pages for large arrays by default).
    env.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    log(f"CPU child: {spec['role']}, {t} thread(s)")
    return run_child_process("benchmarks.bench_augment", spec, env, f"{spec['role']} ({t} threads)")


# ------------------------------------------------------------------------------------- CUDA
def run_cuda(cfg, sizes, cases, seed, peers) -> dict:
    dev = torch.device("cuda")
    res = {"meta": metadata(dev), "bandwidth": memory_bandwidth(dev), "rows": []}
    log(
        f"CUDA: {res['meta']['device_name']}, copy bandwidth "
        f"{res['bandwidth']['bytes_per_s'] / 1e9:.4g} GB/s"
    )
    if bbbcore.has_cuda():
        b = bbb_rows(cfg, sizes, cases, seed, dev, None, list(cfg["cuda_batches"]), False)
        res["bbbcore_status"] = b["status"]
        res["rows"] += b["rows"]
    else:
        res["bbbcore_status"] = "bbbcore built without CUDA (bbbcore.has_cuda() is False)"
    if "monai" in peers:
        p = peer_rows(cfg, sizes, cases, seed, dev, ["monai"])
        res["peers"] = p["peers"]
        res["rows"] += p["rows"]
    return res


# ------------------------------------------------------------------------------------ report
def _find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def _ms(r):
    if r is None:
        return "-"
    if r["status"] != "ok":
        return "error" if r["status"].startswith("error") else r["status"].split(" (")[0]
    return r["mean_s"] * 1e3


def _frac(r, bw):
    if r is None or r["status"] != "ok" or not bw:
        return None
    return r["samples_per_s"] * r["bytes_per_sample"] / bw


def _ratios(bbb, peer_rows_):
    """bbbcore rate / each peer's rate (ok rows only) and / the best (fastest) peer."""
    out = {f"x_{p}": None for p in PEERS}
    out["x_best_peer"], out["best_peer"] = None, None
    if bbb is None or bbb["status"] != "ok":
        return out
    best = None
    for p in PEERS:
        r = peer_rows_.get(p)
        if r is not None and r["status"] == "ok":
            out[f"x_{p}"] = bbb["samples_per_s"] / r["samples_per_s"]
            if best is None or r["samples_per_s"] > best["samples_per_s"]:
                best = r
    if best is not None:
        out["x_best_peer"] = bbb["samples_per_s"] / best["samples_per_s"]
        out["best_peer"] = best["lib"]
    return out


def summarize(payload: dict, cfg: dict) -> dict:
    """Tables (detail, comparison, CUDA), ratios to the peers, bandwidth-floor fractions and the
    issue's goals; printed and returned."""
    summary = {"cpu": [], "cuda": [], "goals": {}}
    quick = payload.get("quick")
    cpu = payload.get("cpu", {})
    bw = payload.get("bandwidth_cpu", {})
    bw1, bwn = bw.get("numpy_copy_bytes_per_s"), bw.get("bytes_per_s")
    rows_all = [r for c in cpu.values() for r in c.get("rows", [])] if cpu else []
    ncpu = max([c.get("threads", 1) for c in cpu.values()] or [1])
    sizes = [shape_str(s) for s in cfg["sizes"]]

    if rows_all:
        detail = []
        for r in rows_all:
            d = {k: r.get(k) for k in ("size", "case", "lib", "variant", "threads", "draws")}
            d["status"] = r["status"] if len(r["status"]) <= 70 else r["status"][:67] + "..."
            if r["status"] == "ok":
                d.update(
                    mean_ms=r["mean_s"] * 1e3,
                    median_ms=r["median_s"] * 1e3,
                    iqr_ms=r["iqr_s"] * 1e3,
                    samples_per_s=r["samples_per_s"],
                    cpu_util=r.get("cpu_util"),
                    frac_bw=_frac(r, bw1 if r["threads"] == 1 else bwn),
                    emulated=",".join(r.get("emulated") or []) or None,
                )
            detail.append(d)
        detail.sort(
            key=lambda d: (
                sizes.index(d["size"]) if d["size"] in sizes else 99,
                CASES.index(d["case"]),
                d["lib"] != "bbbcore",
                d["lib"],
                -(d["threads"] or 0),
            )
        )
        print_table(
            detail,
            [
                ("size", "size"),
                ("case", "case"),
                ("lib", "lib"),
                ("variant", "call"),
                ("threads", "thr"),
                ("draws", "draws"),
                ("mean_ms", "mean ms"),
                ("median_ms", "median ms"),
                ("iqr_ms", "IQR ms"),
                ("samples_per_s", "samples/s"),
                ("cpu_util", "cpu util"),
                ("frac_bw", "of bw floor"),
                ("emulated", "emulated"),
                ("status", "status"),
            ],
            title="\nCPU, per sample (mean over the draws; median and IQR of the per-draw times; "
            "bbbcore: per call / batch)",
        )
        summary["cpu_detail"] = detail

        def batched(t, case, size):
            for r in rows_all:
                if (r["lib"], r["threads"], r["case"], r["size"]) == (
                    "bbbcore",
                    t,
                    case,
                    size,
                ) and (r["variant"].startswith("batch")):
                    return r
            return None

        for size in sizes:
            for case in CASES:
                one = batched(1, case, size)
                alln = batched(ncpu, case, size) if ncpu > 1 else None
                single = _find(
                    rows_all,
                    lib="bbbcore",
                    threads=1,
                    case=case,
                    size=size,
                    variant="1 sample/call",
                )
                peers = {p: _find(rows_all, lib=p, case=case, size=size) for p in PEERS}
                if one is None and not any(peers.values()):
                    continue
                s = {
                    "size": size,
                    "case": case,
                    "bbb_1t_ms": _ms(one),
                    "bbb_1t_iqr_ms": one["iqr_s"] * 1e3 if one and one["status"] == "ok" else None,
                    f"bbb_{ncpu}t_ms": _ms(alln),
                    "bbb_single_ms": _ms(single),
                }
                for p in PEERS:
                    s[f"{p}_ms"] = _ms(peers[p])
                s.update(_ratios(one, peers))
                s["frac_bw_1t"] = _frac(one, bw1)
                s[f"frac_bw_{ncpu}t"] = _frac(alln, bwn)
                # all cores against the peers run in ncpu processes (ideal DataLoader scaling)
                r_all = _ratios(alln, peers)["x_best_peer"]
                s[f"x_best_peer_{ncpu}t_vs_{ncpu}proc"] = r_all / ncpu if r_all else None
                summary["cpu"].append(s)
        cols = [
            ("size", "size"),
            ("case", "case"),
            ("bbb_1t_ms", "bbb 1thr ms"),
            ("bbb_1t_iqr_ms", "IQR"),
            (f"bbb_{ncpu}t_ms", f"bbb {ncpu}thr ms"),
            ("bbb_single_ms", "bbb 1/call ms"),
            ("volumentations_ms", "volumentations ms"),
            ("torchio_ms", "TorchIO ms"),
            ("monai_ms", "MONAI ms"),
            ("x_best_peer", "x best peer"),
            ("x_volumentations", "x volum."),
            ("x_torchio", "x TorchIO"),
            ("x_monai", "x MONAI"),
            ("frac_bw_1t", "of bw 1thr"),
        ]
        if ncpu > 1:
            cols.append((f"x_best_peer_{ncpu}t_vs_{ncpu}proc", f"x best, {ncpu}thr vs {ncpu}proc"))
        print_table(
            summary["cpu"],
            cols,
            title="\nCPU, ms per sample per core (mean over the draws); bbbcore batched "
            f"(batch {cfg['batch']} on 1 thread, max({cfg['batch']}, 4 x threads) on more); "
            "peers one sample per call, one thread",
        )
        print(
            "x = bbbcore 1-thread samples/s / peer 1-thread samples/s (same case, size, run). "
            f"'x best, {ncpu}thr vs {ncpu}proc': bbbcore on {ncpu} threads against the best peer "
            f"in {ncpu} processes (ideal DataLoader scaling, {ncpu} x its 1-thread rate). "
            "Bandwidth floor: read + write of the float32 input and output per sample at the "
            f"measured copy bandwidth ({(bw1 or float('nan')) / 1e9:.3g} GB/s one thread, "
            f"{(bwn or float('nan')) / 1e9:.3g} GB/s all). Peers' emulated steps (plain torch in "
            "place of a missing transform) are flagged in the detail table; a single-transform "
            "case a peer lacks reads 'no equivalent'."
        )

    cu = payload.get("cuda")
    if cu:
        bwc = cu["bandwidth"]["bytes_per_s"]
        for size in sizes:
            for case in CASES:
                bb = [
                    r
                    for r in cu["rows"]
                    if r["lib"] == "bbbcore"
                    and r["case"] == case
                    and r["size"] == size
                    and r["status"] == "ok"
                ]
                best = (
                    max(bb, key=lambda r: r["samples_per_s"])
                    if bb
                    else _find(cu["rows"], lib="bbbcore", case=case, size=size)
                )
                mo = _find(cu["rows"], lib="monai", case=case, size=size)
                if best is None and mo is None:
                    continue
                ok = best is not None and best["status"] == "ok"
                s = {
                    "size": size,
                    "case": case,
                    "bbb_batch": best["batch"] if ok else None,
                    "bbb_vol_per_s": best["samples_per_s"]
                    if ok
                    else (best["status"] if best else "-"),
                    "bbb_us": best["mean_s"] * 1e6 if ok else None,
                    "frac_bw": _frac(best, bwc) if ok else None,
                    "monai_vol_per_s": mo["samples_per_s"]
                    if mo and mo["status"] == "ok"
                    else (mo["status"] if mo else "-"),
                    "x_monai": best["samples_per_s"] / mo["samples_per_s"]
                    if ok and mo and mo["status"] == "ok"
                    else None,
                }
                summary["cuda"].append(s)
        print_table(
            summary["cuda"],
            [
                ("size", "size"),
                ("case", "case"),
                ("bbb_batch", "bbb batch"),
                ("bbb_vol_per_s", "bbb vol/s"),
                ("bbb_us", "bbb us/vol"),
                ("frac_bw", "of bw floor"),
                ("monai_vol_per_s", "MONAI vol/s"),
                ("x_monai", "x MONAI"),
            ],
            title=f"\nCUDA ({cu['meta'].get('device_name')}): bbbcore best batch of "
            f"{list(cfg['cuda_batches'])}; MONAI one sample per call",
        )
        print(
            f"Bandwidth floor at {bwc / 1e9:.4g} GB/s device copy bandwidth "
            f"(the issue's H100 figure: ~{DESIGN_FLOOR_H100:.2g} volumes/s at 96x128x128)."
        )

    # ---- goals (full runs, at 96x128x128)
    g = summary["goals"]
    gs = shape_str(GOAL_SIZE)
    na = "n/a (quick run)" if quick else None
    cpu_row = _find(summary["cpu"], size=gs, case="heavy_augs")
    sp_row = _find(summary["cpu"], size=gs, case="spatial_all")

    def val(r, k):
        return r.get(k) if r and isinstance(r.get(k), (int, float)) else None

    proto_ms, sp_ms = val(cpu_row, "bbb_1t_ms"), val(sp_row, "bbb_1t_ms")
    x_best = val(cpu_row, "x_best_peer")
    g["cpu_protocol_ms_per_sample_core"] = proto_ms
    g["cpu_protocol_le_25ms"] = na or (proto_ms <= GOAL_CPU_PROTOCOL_S * 1e3 if proto_ms else None)
    g["cpu_protocol_x_best_peer"] = x_best
    g["cpu_protocol_best_peer"] = cpu_row.get("best_peer") if cpu_row else None
    g["cpu_protocol_ge_7x_peers"] = na or (x_best >= GOAL_CPU_PEER_RATIO if x_best else None)
    g["cpu_fused_spatial_ms_per_sample_core"] = sp_ms
    g["cpu_fused_spatial_le_20ms"] = na or (sp_ms <= GOAL_CPU_SPATIAL_S * 1e3 if sp_ms else None)
    gpu_row = _find(summary["cuda"], size=gs, case="heavy_augs")
    rate = val(gpu_row, "bbb_vol_per_s")
    xm = val(gpu_row, "x_monai")
    g["gpu_device"] = cu["meta"].get("device_name") if cu else None
    g["gpu_protocol_vol_per_s"] = rate
    g["gpu_protocol_ge_5e4"] = na or (rate >= GOAL_GPU_RATE if rate else None)
    g["gpu_protocol_x_monai"] = xm
    g["gpu_protocol_ge_10x_monai"] = na or (xm >= GOAL_GPU_MONAI_RATIO if xm else None)
    goal_rows = [
        {
            "goal": "CPU heavy augs <= 25 ms/sample/core",
            "measured": proto_ms,
            "met": g["cpu_protocol_le_25ms"],
        },
        {
            "goal": f"CPU heavy augs >= 7x best peer ({g['cpu_protocol_best_peer'] or '-'})",
            "measured": x_best,
            "met": g["cpu_protocol_ge_7x_peers"],
        },
        {
            "goal": "CPU fused spatial op (spatial_all) <= 20 ms/sample/core",
            "measured": sp_ms,
            "met": g["cpu_fused_spatial_le_20ms"],
        },
        {
            "goal": "GPU heavy augs >= 5e4 vol/s (H100)",
            "measured": rate,
            "met": g["gpu_protocol_ge_5e4"],
        },
        {
            "goal": "GPU heavy augs >= 10x MONAI (same GPU)",
            "measured": xm,
            "met": g["gpu_protocol_ge_10x_monai"],
        },
    ]
    print_table(
        goal_rows,
        [("goal", "goal"), ("measured", "measured"), ("met", "met")],
        title=f"\nGoals (issue), at {gs}; '-' = not measured in this run",
    )
    summary["goal_rows"] = goal_rows
    return summary


# --------------------------------------------------------------------------------------- main
def parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_augment", description=__doc__.split("\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run in < 1 minute")
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    p.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/out/augment-<time>.json)"
    )
    p.add_argument("--cases", default=None, help=f"comma-separated subset of {','.join(CASES)}")
    p.add_argument(
        "--peers",
        default=",".join(PEERS),
        help="comma-separated peers to run ('none' for none); default all",
    )
    p.add_argument(
        "--threads", default=None, help="comma-separated bbbcore CPU thread counts (default 1,ncpu)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    a = parse(argv)
    if a.child is not None:
        print_child_result(cpu_child(json.loads(a.child)))
        return {}
    cfg = dict(QUICK if a.quick else FULL)
    cases = [c.strip() for c in a.cases.split(",")] if a.cases else list(CASES)
    bad = [c for c in cases if c not in CASES]
    if bad:
        raise SystemExit(f"bench_augment: unknown case(s) {bad}; known: {list(CASES)}")
    peers = [] if a.peers.strip() in ("", "none") else [p.strip() for p in a.peers.split(",")]
    bad = [p for p in peers if p not in PEERS]
    if bad:
        raise SystemExit(f"bench_augment: unknown peer(s) {bad}; known: {list(PEERS)}")
    ncpu = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    threads = [int(x) for x in a.threads.split(",")] if a.threads else sorted({1, ncpu})
    t_start = time.perf_counter()
    _, _, why = import_bbbcore_augment()
    payload = {
        "name": NAME,
        "quick": a.quick,
        "config": cfg,
        "meta": metadata("cpu"),
        "bbbcore_augment": "ok" if why is None else why,
        "peers": {p: {"version": peer_version(p)} for p in PEERS},
        "peer_deps": peer_dep_versions(),
        "workload": {
            "dtype": "float32",
            "channels": 1,
            "values": "uniform [0, 1)",
            "sizes": [shape_str(s) for s in cfg["sizes"]],
            "cases": {c: [list(s) for s in CASE_STEPS[c]] for c in cases},
            "resize_input": "(1.25 Z, 0.75 Y, 0.75 X) -> (Z, Y, X); other cases read (Z, Y, X)",
            "draws": {c: draws_for(cfg, c) for c in cases},
            "peer_firing_plan": "each step of probability p fires in exactly round(p * draws) "
            "draws, the same draws for every peer; bbbcore draws its own coin flips (seeds)",
            "params": {
                "rotate_deg": ROT_DEG,
                "rotate_axes": [0],
                "elastic_max_displacement_vox": ELASTIC_MAX_DISP,
                "elastic_control_points": ELASTIC_CONTROL_POINTS,
                "crop_fraction": CROP_FRACTION,
                "drop_fraction": DROP_FRACTION,
                "grid_dropout": {"ratio": GRID_RATIO, "unit": list(GRID_UNIT)},
                "noise_std": list(NOISE_STD),
                "gamma": list(GAMMA),
            },
        },
    }
    if why:
        print(f"bbbcore.augment {why}: bbbcore rows are reported as such; peers still run.")
    peer_desc = ", ".join(
        f"{p} {payload['peers'][p]['version'] or '(not installed)'}" for p in peers
    )
    print(
        f"bbbcore augmentation benchmark ({'quick' if a.quick else 'full'}): sizes "
        f"{', '.join(shape_str(s) for s in cfg['sizes'])}, cases {', '.join(cases)}; peers "
        f"{peer_desc or 'none'}; "
        f"CPU {payload['meta']['cpu_model']} ({ncpu} cpus), "
        f"commit {payload['meta']['git_commit'][:10]}",
        flush=True,
    )

    if a.device in ("cpu", "all"):
        payload["bandwidth_cpu"] = memory_bandwidth("cpu")
        log(
            f"CPU copy bandwidth: {payload['bandwidth_cpu']['bytes_per_s'] / 1e9:.4g} GB/s "
            f"(one thread {payload['bandwidth_cpu']['numpy_copy_bytes_per_s'] / 1e9:.4g})"
        )
        base = dict(cfg=cfg, sizes=[list(s) for s in cfg["sizes"]], cases=cases, seed=a.seed)
        payload["cpu"] = {}
        for t in threads:
            payload["cpu"][f"bbbcore_{t}"] = run_child(
                dict(
                    base,
                    role="bbbcore",
                    threads=t,
                    batch=max(cfg["batch"], 4 * t) if t > 1 else cfg["batch"],
                    single=(t == 1),
                )
            )
        if peers:
            payload["cpu"]["peers"] = run_child(dict(base, role="peers", threads=1, peers=peers))
            for p, st in payload["cpu"]["peers"]["peers"].items():
                payload["peers"][p].update(st)
        for p in PEERS:
            payload["peers"][p].setdefault("status", "not run" if p not in peers else "?")

    if a.device in ("cuda", "all"):
        if torch.cuda.is_available():
            payload["cuda"] = run_cuda(cfg, cfg["sizes"], cases, a.seed, peers)
        else:
            msg = (
                "no CUDA device usable here (torch.cuda.is_available() is False): CUDA rows skipped"
            )
            payload["cuda_skipped"] = msg
            print(msg)

    payload["summary"] = summarize(payload, cfg)
    payload["wall_s"] = time.perf_counter() - t_start
    path = write_json(NAME, payload, a.out)
    payload["json_path"] = str(path)
    print(f"\nwrote {path} ({payload['wall_s']:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
