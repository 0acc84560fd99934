"""Deterministic core of :mod:`bbbcore.augment`: explicit parameters in, resampled volumes out.

Convention:
    Axes are ``(Z, Y, X)`` (C order), volumes ``(Z, Y, X)``, ``(C, Z, Y, X)`` or, for batches,
    ``(B, C, Z, Y, X)``. Coordinates are voxel indices with voxel centres at integers, so a resize
    maps output voxel ``i`` to input ``(i + 0.5)·n_in/n_out − 0.5`` (as
    ``torch.nn.functional.interpolate(..., mode="trilinear", align_corners=False)``). An affine
    ``matrix`` (3, 4) maps output coordinates to input coordinates,
    ``p_in = matrix[:, :3] @ p_out + matrix[:, 3]`` (as ``scipy.ndimage.affine_transform``).
    Rotations and scalings act about the volume centre ``(n − 1)/2``, in physical units when a
    voxel ``spacing`` is given. Images are sampled trilinearly, masks by nearest neighbour, through
    one composed map (one gather, whatever the number of stages). Border modes: ``"constant"``
    (outside taps take ``fill``, as ``grid_sample(padding_mode="zeros")`` for fill 0),
    ``"nearest"`` (edge value) and ``"reflect"`` (mirror about the volume faces).

Every function here accepts a NumPy array or a torch tensor (CPU or CUDA) and returns the same
kind; float32, uint8 and uint16 images are read as they are (converted inside the kernel) and the
result is float32. :func:`apply` runs any chain of stages (:class:`Affine`, :class:`AxisMap`,
:class:`Elastic`, :class:`GridDropout`, :class:`Noise`, :class:`Gamma`), per sample of a batch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.augment._program import (BORDERS, Affine, AxisMap, Elastic, Gamma, GridDropout, Noise,
                                      Program, compile_chain, pack)

__all__ = [
    "Affine", "AxisMap", "Elastic", "GridDropout", "Noise", "Gamma",
    "apply", "compile_chain",
    "identity_matrix", "flip_matrix", "rot90_matrix", "crop_matrix", "resize_matrix",
    "rotation_3x3", "centered_affine", "crop_stages",
    "affine", "flip", "rot90", "rotate", "resize", "crop", "drop_planes", "elastic",
    "grid_dropout", "gaussian_noise", "gamma",
]


# ------------------------------------------------------------------------------- matrices
def identity_matrix() -> np.ndarray:
    """The (3, 4) identity map."""
    return np.hstack([np.eye(3), np.zeros((3, 1))])


def _shape3(fn, arg, shape) -> tuple[int, int, int]:
    try:
        s = tuple(int(v) for v in shape)
    except (TypeError, ValueError):
        _checks.fail(fn, arg, "3 positive sizes (Z, Y, X)", shape)
    if len(s) != 3 or min(s) < 1:
        _checks.fail(fn, arg, "3 positive sizes (Z, Y, X)", shape)
    return s


def flip_matrix(shape, axes: Sequence[int]) -> np.ndarray:
    """Mirror along ``axes``: ``p_in[a] = n_a − 1 − p_out[a]`` (= ``np.flip(vol, axes)``)."""
    shape = _shape3("flip_matrix", "shape", shape)
    M = identity_matrix()
    for a in axes:
        M[a, a] = -1.0
        M[a, 3] = shape[a] - 1
    return M


def rot90_matrix(shape, k: int, axes=(1, 2)) -> tuple[np.ndarray, tuple[int, int, int]]:
    """``np.rot90(vol, k, axes)`` as (matrix, output shape): rotation by k·90° from the first
    axis of ``axes`` towards the second."""
    shape = _shape3("rot90_matrix", "shape", shape)
    a0, a1 = _plane("rot90_matrix", axes)
    M = identity_matrix()
    cur = shape
    for _ in range(int(k) % 4):
        # one quarter turn: out[.., i, .., j, ..] = in[.., j, .., n1 − 1 − i, ..]
        R = identity_matrix()
        R[a0, :] = 0.0
        R[a1, :] = 0.0
        R[a0, a1] = 1.0
        R[a1, a0] = -1.0
        R[a1, 3] = cur[a1] - 1
        # compose: p_in = M (R p)
        M2 = np.zeros((3, 4))
        M2[:, :3] = M[:, :3] @ R[:, :3]
        M2[:, 3] = M[:, :3] @ R[:, 3] + M[:, 3]
        M = M2
        cur = tuple(cur[a1] if a == a0 else cur[a0] if a == a1 else cur[a] for a in range(3))
    return M, cur


def crop_matrix(lo: Sequence[int]) -> np.ndarray:
    """Crop starting at voxel ``lo`` (Z, Y, X): ``p_in = p_out + lo``."""
    M = identity_matrix()
    M[:, 3] = [int(v) for v in lo]
    return M


def resize_matrix(in_shape, out_shape) -> np.ndarray:
    """Resize with voxel centres aligned (``align_corners=False``)."""
    i = _shape3("resize_matrix", "in_shape", in_shape)
    o = _shape3("resize_matrix", "out_shape", out_shape)
    M = np.zeros((3, 4))
    for a in range(3):
        s = i[a] / o[a]
        M[a, a] = s
        M[a, 3] = 0.5 * s - 0.5
    return M


def _plane(fn, axes) -> tuple[int, int]:
    try:
        a0, a1 = (int(v) for v in axes)
    except (TypeError, ValueError):
        _checks.fail(fn, "axes", "two distinct axes in {0, 1, 2}", axes)
    if a0 == a1 or a0 not in (0, 1, 2) or a1 not in (0, 1, 2):
        _checks.fail(fn, "axes", "two distinct axes in {0, 1, 2}", axes)
    return a0, a1


def rotation_3x3(angles_deg: Sequence[float], axes: Sequence[int] = (0, 1, 2)) -> np.ndarray:
    """Rotation of the volume's content by ``angles_deg[i]`` about ``axes[i]``, applied in that
    order. About axis a the rotation turns the other two axes (b < c) from b towards c, so a
    rotation about axis 0 by θ equals ``scipy.ndimage.rotate(vol, θ, axes=(1, 2))`` (a test pins
    this). Returns the 3×3 matrix that maps content points forward (physical units)."""
    R = np.eye(3)
    for ang, a in zip(angles_deg, axes):
        b, c = [x for x in range(3) if x != int(a)]
        t = np.deg2rad(float(ang))
        Ra = np.eye(3)
        Ra[b, b] = np.cos(t)
        Ra[b, c] = -np.sin(t)
        Ra[c, b] = np.sin(t)
        Ra[c, c] = np.cos(t)
        R = Ra @ R
    return R


def centered_affine(forward: np.ndarray, in_shape, out_shape=None, spacing_in=(1.0, 1.0, 1.0),
                    spacing_out=None) -> np.ndarray:
    """Sampling matrix of a linear map ``forward`` (3×3, content points input → output, physical
    units) about the volume centres: ``p_in = c_in + S_in⁻¹ forward⁻¹ S_out (p_out − c_out)``."""
    in_shape = _shape3("centered_affine", "in_shape", in_shape)
    out_shape = in_shape if out_shape is None else _shape3("centered_affine", "out_shape", out_shape)
    s_in = np.asarray(spacing_in, np.float64)
    s_out = s_in if spacing_out is None else np.asarray(spacing_out, np.float64)
    L = np.diag(1.0 / s_in) @ np.linalg.inv(np.asarray(forward, np.float64)) @ np.diag(s_out)
    c_in = (np.asarray(in_shape, np.float64) - 1) / 2
    c_out = (np.asarray(out_shape, np.float64) - 1) / 2
    M = np.zeros((3, 4))
    M[:, :3] = L
    M[:, 3] = c_in - L @ c_out
    return M


# ------------------------------------------------------------------------------- apply
def _as_batch(fn: str, x, arg: str = "image"):
    """Array-like (Z,Y,X) | (C,Z,Y,X) | (B,C,Z,Y,X) → (torch 5-D, restore(out) → caller's kind)."""
    is_numpy = not isinstance(x, torch.Tensor)
    was_bool = False
    if is_numpy:
        arr = _checks.to_numpy(x)
        if arr.dtype == np.bool_:
            arr, was_bool = arr.astype(np.uint8), True
        t = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        t = x
    if t.dim() not in (3, 4, 5):
        _checks.fail(fn, arg, "of shape (Z, Y, X), (C, Z, Y, X) or (B, C, Z, Y, X)", tuple(t.shape))
    nd = t.dim()
    t5 = t.reshape((1,) * (5 - nd) + tuple(t.shape))

    def restore(y: torch.Tensor):
        y = y.reshape(tuple(y.shape[5 - nd:])) if nd < 5 else y
        if not is_numpy:
            return y
        a = y.cpu().numpy()
        return a.astype(np.bool_) if was_bool else a

    return t5, restore


def _image_tensor(fn, x):
    if x.dtype not in (torch.float32, torch.uint8, torch.uint16):
        if x.dtype in (torch.float64, torch.float16, torch.bfloat16):
            return x.float()
        _checks.fail(fn, "image", "a float (float32/float64/float16), uint8 or uint16 array", x.dtype)
    return x


def _mask_tensor(fn, m):
    if m.dtype == torch.bool:
        return m.to(torch.uint8), torch.bool
    if m.dtype in (torch.uint8, torch.int32, torch.int64, torch.float32):
        return m, m.dtype
    if m.dtype in (torch.int8, torch.int16, torch.uint16):
        return m.to(torch.int32), m.dtype
    _checks.fail(fn, "mask", "an integer, bool or float32 label array", m.dtype)


def run_programs(x: torch.Tensor, programs: Sequence[Program], *, mask: torch.Tensor | None = None,
                 border_mode: str = "constant", fill: float = 0.0, mask_fill: float = 0.0,
                 seed: int = 0):
    """Run compiled programs (one per sample) on a 5-D batch: the one fused kernel launch.
    Returns (image float32, mask or None)."""
    fn = "augment"
    border = BORDERS[_checks.choice(fn, "border_mode", border_mode, tuple(BORDERS))]
    B = x.shape[0]
    if len(programs) != B:
        _checks.fail(fn, "programs", f"one per sample ({B})", len(programs))
    outs = {tuple(p.out_shape) for p in programs}
    if len(outs) > 1:
        _checks.fail(fn, "the chain", "to end in the same shape for every sample of a batch "
                     "(end it with Resize(out_shape))", sorted(outs))
    out_shape = list(outs.pop()) if outs else list(x.shape[2:])
    for p in programs:
        if tuple(p.in_shape) != tuple(x.shape[2:]):
            _checks.fail(fn, "image", f"of spatial shape {p.in_shape} (the programs' input)",
                         tuple(x.shape[2:]))
    prog, tables, ctrl = pack(programs)
    dev = x.device
    pin = dev.type == "cuda"

    def put(a):
        t = torch.from_numpy(a)
        return t.pin_memory().to(dev, non_blocking=True) if pin else t

    stats = None
    if any(p.needs_stats for p in programs):
        flat = x.reshape(B, x.shape[1], -1)
        flat = flat.float() if x.dtype != torch.float32 else flat
        # amin and amax separately: ~3x faster than torch.aminmax on the CPU here
        lo, hi = flat.amin(dim=-1), flat.amax(dim=-1)
        stats = torch.stack([lo, hi], dim=-1).float().contiguous()
    m_in, m_dtype = (None, None) if mask is None else _mask_tensor(fn, mask)
    out, mout = torch.ops.bbbcore.augment_resample(
        x, m_in, put(prog), put(tables), put(ctrl), stats, out_shape, border, float(fill),
        float(mask_fill), int(seed) & (2**63 - 1))
    if mask is None:
        return out, None
    if m_dtype != mout.dtype:
        mout = mout.to(m_dtype)
    return out, mout


def apply(image, chains, *, mask=None, border_mode: str = "constant", fill: float = 0.0,
          mask_fill: float = 0.0, seed: int = 0, push_tables: bool = True):
    """Run a chain of stages (the same for every sample) or one chain per sample of a batch.

    Args:
        image: (Z, Y, X), (C, Z, Y, X) or (B, C, Z, Y, X); NumPy or torch (CPU/CUDA); float32,
            uint8 or uint16 (float64/float16 are converted to float32 first).
        chains: a list of stages in the order they act, or a list of B such lists.
        mask: labels of the image's shape with its own channel count (or none for 3-D/4-D
            images of one sample); sampled by nearest neighbour through the same map.
        border_mode: ``"constant"``, ``"nearest"`` or ``"reflect"``.
        fill, mask_fill: values outside the input (``"constant"``).
        seed: key of the noise stages' Philox stream.
        push_tables: fold kept-plane tables into the gather where exact (always on in the random
            transforms; off only to test the branch path).

    Returns:
        The augmented image (float32, the caller's kind and rank) or, with a mask, a tuple
        ``(image, mask)``.

    Example:
        >>> import numpy as np
        >>> from bbbcore.augment import functional as F
        >>> vol = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        >>> out = F.apply(vol, [F.Affine(F.flip_matrix(vol.shape, [2]))])
        >>> bool(np.array_equal(out, vol[:, :, ::-1]))
        True
    """
    fn = "apply"
    x, restore = _as_batch(fn, image)
    x = _image_tensor(fn, x)
    B = x.shape[0]
    if B == 0:
        _checks.fail(fn, "image", "a batch of at least one volume", tuple(x.shape))
    per_sample = len(chains) > 0 and isinstance(chains[0], (list, tuple))
    if per_sample and len(chains) != B:
        _checks.fail(fn, "chains", f"one chain per sample ({B})", len(chains))
    chain_list = list(chains) if per_sample else [list(chains)] * B
    in_shape = tuple(x.shape[2:])
    cache: dict[int, Program] = {}
    programs = []
    for ch in chain_list:
        key = id(ch)
        if key not in cache:
            cache[key] = compile_chain(ch, in_shape, push_tables=push_tables, fn=fn)
        programs.append(cache[key])
    m5 = None
    m_restore = None
    if mask is not None:
        m5, m_restore = _as_batch(fn, mask, "mask")
        if isinstance(mask, torch.Tensor) and mask.device != x.device:
            _checks.fail(fn, "mask", f"on the image's device {x.device}", mask.device)
        if not isinstance(mask, torch.Tensor) and x.device.type != "cpu":
            m5 = m5.to(x.device)
        if m5.shape[0] != B or m5.shape[2:] != x.shape[2:]:
            _checks.fail(fn, "mask", f"of shape ({B}, Cm, {', '.join(map(str, in_shape))}) up to the "
                         "leading dimensions", tuple(m5.shape))
    out, mout = run_programs(x, programs, mask=m5, border_mode=border_mode, fill=fill,
                             mask_fill=mask_fill, seed=seed)
    if mask is None:
        return restore(out)
    return restore(out), m_restore(mout)


# ------------------------------------------------------------------------------- one-stage helpers
def _shape_of(image, fn: str):
    s = tuple(getattr(image, "shape", np.shape(image)))
    if len(s) not in (3, 4, 5):
        _checks.fail(fn, "image", "of shape (Z, Y, X), (C, Z, Y, X) or (B, C, Z, Y, X)", s)
    return s[-3:]


def affine(image, matrix, out_shape=None, **kw):
    """Resample through ``p_in = matrix[:, :3] @ p_out + matrix[:, 3]`` (scipy's
    affine_transform convention) into ``out_shape`` (default: the input's)."""
    return apply(image, [Affine(np.asarray(matrix, np.float64), None if out_shape is None else
                                tuple(out_shape))], **kw)


def flip(image, axes=(0,), **kw):
    """Mirror along ``axes`` (exact: equals ``np.flip``)."""
    return apply(image, [Affine(flip_matrix(_shape_of(image, "flip"), axes))], **kw)


def rot90(image, k: int = 1, axes=(1, 2), **kw):
    """Rotate by ``k``·90° in the plane ``axes`` (exact: equals ``np.rot90``)."""
    M, out = rot90_matrix(_shape_of(image, "rot90"), k, axes)
    return apply(image, [Affine(M, out)], **kw)


def rotate(image, angle_deg: float, axis: int = 0, spacing=(1.0, 1.0, 1.0), **kw):
    """Rotate the content by ``angle_deg`` about ``axis`` around the volume centre (physical
    units with ``spacing``), keeping the shape."""
    M = centered_affine(rotation_3x3([angle_deg], [axis]), _shape_of(image, "rotate"),
                        spacing_in=spacing)
    return apply(image, [Affine(M)], **kw)


def resize(image, shape, **kw):
    """Resize to ``shape`` (Z, Y, X), trilinear with voxel centres aligned (no antialiasing)."""
    shape = _shape3("resize", "shape", shape)
    return apply(image, [Affine(resize_matrix(_shape_of(image, "resize"), shape), shape)], **kw)


def crop(image, lo, hi, **kw):
    """The box ``[lo, hi)`` (Z, Y, X) of the volume."""
    s = _shape_of(image, "crop")
    lo = [int(v) for v in lo]
    hi = [int(v) for v in hi]
    for a in range(3):
        if not 0 <= lo[a] < hi[a] <= s[a]:
            _checks.fail("crop", "lo, hi", f"0 ≤ lo < hi ≤ {s[a]} on axis {a}", (lo[a], hi[a]))
    return apply(image, crop_stages(lo, hi, s), **kw)


def crop_stages(lo, hi, shape) -> list:
    """The box ``[lo, hi)`` as kept-plane tables (exact borders at the crop's faces)."""
    return [AxisMap(a, np.arange(lo[a], hi[a], dtype=np.int64)) for a in range(3)
            if (lo[a], hi[a]) != (0, shape[a])]


def drop_planes(image, keep, axis: int = 0, out_shape=None, **kw):
    """Keep the planes ``keep`` (sorted indices) along ``axis`` and, with ``out_shape``, resize
    the result (interpolating between kept planes only)."""
    keep = np.asarray(keep, dtype=np.int64)
    chain = [AxisMap(int(axis), keep)]
    if out_shape is not None:
        s = list(_shape_of(image, "drop_planes"))
        s[axis] = keep.size
        chain.append(Affine(resize_matrix(s, out_shape), tuple(out_shape)))
    return apply(image, chain, **kw)


def elastic(image, control, **kw):
    """Displace by the cubic B-spline of the control grid ``control`` (3, gz, gy, gx) [voxels]."""
    return apply(image, [Elastic(np.asarray(control, np.float64))], **kw)


def grid_dropout(image, unit, hole, offset=(0, 0, 0), fill: float = 0.0, **kw):
    """Set the cells ``(i − offset) mod unit < hole`` (all axes) to ``fill``."""
    return apply(image, [GridDropout(tuple(unit), tuple(hole), tuple(offset), fill)], **kw)


def gaussian_noise(image, std: float, mean: float = 0.0, relative: bool = False, seed: int = 0, **kw):
    """Add ``mean + std·N(0, 1)`` per voxel (Philox stream of ``seed``)."""
    return apply(image, [Noise(float(std), float(mean), bool(relative))], seed=seed, **kw)


def gamma(image, gamma: float, **kw):
    """Gamma on each channel's own range [min, max]."""
    return apply(image, [Gamma(float(gamma))], **kw)
