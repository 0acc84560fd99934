"""Random 3D augmentations composed into one fused kernel launch.

Each transform has a probability ``p`` and only draws parameters (a NumPy ``Generator`` on the host:
a few numbers per sample, the elastic control grid included, never a dense field); the stages it
returns are executed by :func:`bbbcore.augment.functional.run_programs`. :class:`Compose` chains
them: ``aug(image=vol, mask=m)`` for one sample (NumPy or torch, returns a dict like
albumentations / volumentations), ``aug.batch(x, mask=m)`` for a ``(B, C, Z, Y, X)`` batch on the CPU
or a GPU with per-sample parameters. A seed reproduces the output bit for bit on either device.

Convention: see :mod:`bbbcore.augment.functional` (axes (Z, Y, X), voxel centres at integers,
trilinear images, nearest-neighbour masks, one border mode per Compose). Spatial transforms
compose into one coordinate map; intensity transforms (noise, gamma) and the dropout fills run in
the kernel's epilogue in Compose order, on the resampled values.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.augment import functional as F
from bbbcore.augment._program import (Affine, AxisMap, Elastic, Gamma, GridDropout, Noise, Program,
                                      chain_shapes, compile_chain)

__all__ = [
    "Transform", "Compose", "Rotate", "RandomScale", "RandomAffine", "ElasticTransform", "Flip",
    "RandomRotate90", "GridDropout", "GaussianNoise", "RandomGamma", "RandomCropFromBorders",
    "RandomDropPlane", "Resize",
]

GridDropoutStage = GridDropout  # the stage (functional); the transform below shadows the name


# ------------------------------------------------------------------------------- checks
def _prob(fn, p) -> float:
    try:
        v = float(p)
    except (TypeError, ValueError):
        _checks.fail(fn, "p", "a probability in [0, 1]", p)
    if not 0.0 <= v <= 1.0:
        _checks.fail(fn, "p", "a probability in [0, 1]", p)
    return v


def _range(fn, arg, value, *, symmetric=False, lo_min=None, positive=False) -> tuple[float, float]:
    """A number (symmetric: (−v, v); else (v, v)) or a (lo, hi) pair, lo ≤ hi, finite."""
    try:
        if np.ndim(value) == 0:
            v = float(value)
            r = (-abs(v), abs(v)) if symmetric else (v, v)
        else:
            a, b = (float(x) for x in value)
            r = (a, b)
    except (TypeError, ValueError):
        _checks.fail(fn, arg, "a number or a (low, high) pair", value)
    if not (math.isfinite(r[0]) and math.isfinite(r[1]) and r[0] <= r[1]):
        _checks.fail(fn, arg, "finite with low ≤ high", value)
    if lo_min is not None and r[0] < lo_min:
        _checks.fail(fn, arg, f"≥ {lo_min}", value)
    if positive and r[0] <= 0:
        _checks.fail(fn, arg, "> 0", value)
    return r


def _axes(fn, arg, axes, allow_empty=False) -> tuple[int, ...]:
    try:
        t = tuple(int(a) for a in ((axes,) if np.ndim(axes) == 0 else axes))
    except (TypeError, ValueError):
        _checks.fail(fn, arg, "axes in {0, 1, 2}", axes)
    if (not t and not allow_empty) or any(a not in (0, 1, 2) for a in t) or len(set(t)) != len(t):
        _checks.fail(fn, arg, "distinct axes in {0, 1, 2}", axes)
    return t


def _triple(fn, arg, v, *, cast=float, minimum=None) -> tuple:
    try:
        t = tuple(cast(x) for x in ((v,) * 3 if np.ndim(v) == 0 else v))
    except (TypeError, ValueError):
        _checks.fail(fn, arg, "a number or 3 numbers (Z, Y, X)", v)
    if len(t) != 3:
        _checks.fail(fn, arg, "a number or 3 numbers (Z, Y, X)", v)
    if minimum is not None and min(t) < minimum:
        _checks.fail(fn, arg, f"≥ {minimum}", v)
    return t


# ------------------------------------------------------------------------------- base
class Transform(ABC):
    """Base: a probability ``p`` and :meth:`draw`, which returns the stages (functional) and
    the voxel spacing after the transform."""

    def __init__(self, p: float):
        self.p = _prob(type(self).__name__, p)

    @abstractmethod
    def draw(self, rng: np.random.Generator, shape: tuple[int, int, int], spacing: np.ndarray):
        """The stages of one draw for a volume of ``shape``, and the spacing after them."""

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({items})"


def _uniform(rng, r):
    return r[0] if r[0] == r[1] else float(rng.uniform(r[0], r[1]))


class Rotate(Transform):
    """Rotation by a random angle in ``limit_deg`` about each of ``axes`` (about the centre,
    shape kept; about axis 0 means in the (Y, X) plane). Default: the heavy-augs protocol's
    ≤ 10° about the first axis."""

    def __init__(self, limit_deg=10.0, axes=(0,), p: float = 0.5):
        super().__init__(p)
        self.limit_deg = _range("Rotate", "limit_deg", limit_deg, symmetric=True)
        self.axes = _axes("Rotate", "axes", axes)

    def draw(self, rng, shape, spacing):
        angles = [_uniform(rng, self.limit_deg) for _ in self.axes]
        R = F.rotation_3x3(angles, self.axes)
        return [Affine(F.centered_affine(R, shape, spacing_in=spacing))], spacing


class RandomScale(Transform):
    """Zoom about the centre by one random factor in ``scale`` on ``axes`` (> 1 magnifies),
    shape kept."""

    def __init__(self, scale=(1.0, 1.25), axes=(0, 1, 2), p: float = 0.5):
        super().__init__(p)
        self.scale = _range("RandomScale", "scale", scale, positive=True)
        self.axes = _axes("RandomScale", "axes", axes)

    def draw(self, rng, shape, spacing):
        s = _uniform(rng, self.scale)
        D = np.diag([s if a in self.axes else 1.0 for a in range(3)])
        return [Affine(F.centered_affine(D, shape, spacing_in=spacing))], spacing


class RandomAffine(Transform):
    """One random affine about the centre: reflections (each of ``flip_axes`` with probability
    1/2), rotation by angles in ``rotate_deg`` about ``rotate_axes``, zoom by a factor in ``scale``
    on ``scale_axes``. Defaults: the tUbe net protocol (xy rotation ±30°, scale 1.0–1.25,
    reflections in x and y)."""

    def __init__(self, rotate_deg=30.0, rotate_axes=(0,), scale=(1.0, 1.25), scale_axes=(1, 2),
                 flip_axes=(1, 2), p: float = 1.0):
        super().__init__(p)
        fn = "RandomAffine"
        self.rotate_deg = _range(fn, "rotate_deg", rotate_deg, symmetric=True)
        self.rotate_axes = _axes(fn, "rotate_axes", rotate_axes, allow_empty=True)
        self.scale = _range(fn, "scale", scale, positive=True)
        self.scale_axes = _axes(fn, "scale_axes", scale_axes, allow_empty=True)
        self.flip_axes = _axes(fn, "flip_axes", flip_axes, allow_empty=True)

    def draw(self, rng, shape, spacing):
        flips = np.diag([-1.0 if (a in self.flip_axes and rng.random() < 0.5) else 1.0 for a in range(3)])
        R = F.rotation_3x3([_uniform(rng, self.rotate_deg) for _ in self.rotate_axes], self.rotate_axes)
        s = _uniform(rng, self.scale)
        D = np.diag([s if a in self.scale_axes else 1.0 for a in range(3)])
        return [Affine(F.centered_affine(D @ R @ flips, shape, spacing_in=spacing))], spacing


class ElasticTransform(Transform):
    """Elastic deformation: displacements drawn uniformly in ±``max_displacement`` [voxels] (per
    axis Z, Y, X) at ``num_control_points`` per axis, interpolated by a cubic B-spline in the kernel
    (never a dense field). ``lock_borders`` keeps the outer control points still."""

    def __init__(self, max_displacement=4.0, num_control_points=7, lock_borders: bool = False,
                 p: float = 0.1):
        super().__init__(p)
        fn = "ElasticTransform"
        self.max_displacement = _triple(fn, "max_displacement", max_displacement, minimum=0.0)
        self.num_control_points = _triple(fn, "num_control_points", num_control_points, cast=int, minimum=2)
        if max(self.num_control_points) > 32:
            _checks.fail(fn, "num_control_points", "≤ 32 per axis", num_control_points)
        self.lock_borders = bool(lock_borders)

    def draw(self, rng, shape, spacing):
        g = self.num_control_points
        c = rng.uniform(-1.0, 1.0, size=(3, *g)) * np.asarray(self.max_displacement)[:, None, None, None]
        if self.lock_borders:
            c[:, [0, -1], :, :] = 0.0
            c[:, :, [0, -1], :] = 0.0
            c[:, :, :, [0, -1]] = 0.0
        return [Elastic(c)], spacing


class Flip(Transform):
    """Mirror along ``axis`` (an int or several axes, all flipped together); ``axis=None`` flips
    image and mask along one random axis (the same one)."""

    def __init__(self, axis=0, p: float = 0.5):
        super().__init__(p)
        self.axis = None if axis is None else _axes("Flip", "axis", axis)

    def draw(self, rng, shape, spacing):
        axes = (int(rng.integers(3)),) if self.axis is None else self.axis
        return [Affine(F.flip_matrix(shape, axes))], spacing


class RandomRotate90(Transform):
    """``np.rot90`` by k·90°, k uniform in {0, 1, 2, 3} (as albumentations / volumentations), in
    the plane ``axes`` — or in one random plane of a list of planes."""

    def __init__(self, axes=(1, 2), p: float = 0.5):
        super().__init__(p)
        planes = [axes] if np.ndim(axes) == 1 and len(axes) == 2 and np.ndim(axes[0]) == 0 else list(axes)
        self.planes = [F._plane("RandomRotate90", pl) for pl in planes]
        if not self.planes:
            _checks.fail("RandomRotate90", "axes", "a plane (a, b) or a list of planes", axes)

    def draw(self, rng, shape, spacing):
        plane = self.planes[int(rng.integers(len(self.planes)))]
        k = int(rng.integers(4))
        M, out = F.rot90_matrix(shape, k, plane)
        sp = np.asarray(spacing, np.float64).copy()
        if k % 2:
            sp[[plane[0], plane[1]]] = sp[[plane[1], plane[0]]]
        return [Affine(M, out)], sp


class GridDropout(Transform):
    """Grid dropout (albumentations' GridDropout in 3D): cubic cells of a random size in
    ``unit_size`` voxels, a hole of ``ratio`` of the cell per axis at a random offset, filled with
    ``fill`` (masks with ``mask_fill``; None leaves masks alone)."""

    def __init__(self, ratio: float = 0.5, unit_size=(8, 32), fill: float = 0.0, mask_fill=None,
                 random_offset: bool = True, p: float = 0.1):
        super().__init__(p)
        fn = "GridDropout"
        if not 0.0 < float(ratio) < 1.0:
            _checks.fail(fn, "ratio", "in (0, 1)", ratio)
        self.ratio = float(ratio)
        u = _range(fn, "unit_size", unit_size, lo_min=2)
        self.unit_size = (int(u[0]), int(u[1]))
        self.fill = float(fill)
        self.mask_fill = None if mask_fill is None else float(mask_fill)
        self.random_offset = bool(random_offset)

    def draw(self, rng, shape, spacing):
        d = int(rng.integers(self.unit_size[0], self.unit_size[1] + 1))
        hole = max(1, int(round(self.ratio * d)))
        off = tuple(int(rng.integers(d)) for _ in range(3)) if self.random_offset else (0, 0, 0)
        return [GridDropoutStage((d, d, d), (hole, hole, hole), off, self.fill, self.mask_fill)], spacing


class GaussianNoise(Transform):
    """Add ``mean + σ·N(0, 1)`` per voxel, σ uniform in ``std``; ``relative``: σ and mean in units
    of each channel's intensity range (max − min of the input), so one setting fits uint8,
    uint16 and normalised float data."""

    def __init__(self, std=(0.01, 0.05), mean: float = 0.0, relative: bool = True, p: float = 0.2):
        super().__init__(p)
        self.std = _range("GaussianNoise", "std", std, lo_min=0.0)
        self.mean = float(mean)
        self.relative = bool(relative)

    def draw(self, rng, shape, spacing):
        return [Noise(_uniform(rng, self.std), self.mean, self.relative)], spacing


class RandomGamma(Transform):
    """Gamma γ uniform in ``gamma`` on each channel's own [min, max] range (so it works for any
    intensity scale; albumentations' 80–120 % range is the default)."""

    def __init__(self, gamma=(0.8, 1.2), p: float = 0.2):
        super().__init__(p)
        self.gamma = _range("RandomGamma", "gamma", gamma, positive=True)

    def draw(self, rng, shape, spacing):
        return [Gamma(_uniform(rng, self.gamma))], spacing


class RandomCropFromBorders(Transform):
    """Remove a random margin of up to ``crop_fraction`` of the size: from one random face
    (``sides="one"``, the paper's transform) or from each of the six faces independently
    (``sides="all"``, volumentations' version). The shape shrinks; a later Resize restores it."""

    def __init__(self, crop_fraction: float = 0.1, sides: str = "one", p: float = 0.4):
        super().__init__(p)
        if not 0.0 <= float(crop_fraction) < 0.5:
            _checks.fail("RandomCropFromBorders", "crop_fraction", "in [0, 0.5)", crop_fraction)
        self.crop_fraction = float(crop_fraction)
        self.sides = _checks.choice("RandomCropFromBorders", "sides", sides, ("one", "all"))

    def draw(self, rng, shape, spacing):
        lo = [0, 0, 0]
        hi = list(shape)
        if self.sides == "one":
            a = int(rng.integers(3))
            m = int(self.crop_fraction * shape[a])
            if m >= 1 and shape[a] - m >= 1:
                cut = int(rng.integers(1, m + 1))
                if rng.random() < 0.5:
                    lo[a] = cut
                else:
                    hi[a] -= cut
        else:
            for a in range(3):
                m = int(self.crop_fraction * shape[a])
                lo[a] = int(rng.integers(0, m + 1))
                hi[a] -= int(rng.integers(0, m + 1))
        return F.crop_stages(lo, hi, shape), spacing


class RandomDropPlane(Transform):
    """Delete planes along one random axis of ``axes``, each with probability ``drop_fraction``
    (at least two planes stay). The shape shrinks; a later Resize restores it, interpolating
    between kept planes only (the table is folded into the gather)."""

    def __init__(self, drop_fraction: float = 0.1, axes=(0,), p: float = 0.5):
        super().__init__(p)
        if not 0.0 <= float(drop_fraction) < 1.0:
            _checks.fail("RandomDropPlane", "drop_fraction", "in [0, 1)", drop_fraction)
        self.drop_fraction = float(drop_fraction)
        self.axes = _axes("RandomDropPlane", "axes", axes)

    def draw(self, rng, shape, spacing):
        a = self.axes[int(rng.integers(len(self.axes)))]
        n = shape[a]
        keep = rng.random(n) >= self.drop_fraction
        if keep.sum() < min(2, n):
            keep[rng.choice(n, size=min(2, n), replace=False)] = True
        if keep.all():
            return [], spacing
        return [AxisMap(a, np.flatnonzero(keep))], spacing


class Resize(Transform):
    """Resize to ``shape`` (Z, Y, X): trilinear, voxel centres aligned (no antialiasing); the
    voxel spacing scales with it."""

    def __init__(self, shape, p: float = 1.0):
        super().__init__(p)
        self.shape = F._shape3("Resize", "shape", shape)

    def draw(self, rng, shape, spacing):
        if tuple(shape) == self.shape:
            return [], spacing
        sp = np.asarray(spacing, np.float64) * np.asarray(shape) / np.asarray(self.shape)
        return [Affine(F.resize_matrix(shape, self.shape), self.shape)], sp


# ------------------------------------------------------------------------------- Compose
class Compose:
    """A chain of transforms run as one fused resampling per sample.

    Args:
        transforms: the transforms, in the order they act.
        border_mode: ``"constant"`` (outside the volume's extent → ``fill`` / ``mask_fill``),
            ``"nearest"`` or ``"reflect"``.
        fill: image value outside the volume (constant border).
        mask_fill: mask value outside the volume (constant border).
        spacing: voxel spacing (Z, Y, X) for anisotropic stacks (rotations and zooms act in
            physical units); None: isotropic.
        seed: seed of the parameter and noise streams (None: fresh entropy).

    Example:
        >>> import numpy as np
        >>> from bbbcore import augment as A
        >>> aug = A.Compose([A.Flip(axis=2, p=1.0), A.Resize((4, 6, 6))], seed=0)
        >>> out = aug(image=np.ones((8, 12, 12), np.float32))["image"]
        >>> out.shape, float(out.mean())
        ((4, 6, 6), 1.0)
    """

    def __init__(self, transforms: Sequence[Transform], *, border_mode: str = "constant",
                 fill: float = 0.0, mask_fill: float = 0.0, spacing=None, seed: int | None = None):
        fn = "Compose"
        ts = list(transforms)
        for i, t in enumerate(ts):
            if not isinstance(t, Transform):
                _checks.fail(fn, f"transforms[{i}]", "a bbbcore.augment transform", type(t).__name__)
        self.transforms = ts
        self.border_mode = _checks.choice(fn, "border_mode", border_mode, ("constant", "nearest", "reflect"))
        self.fill = float(fill)
        self.mask_fill = float(mask_fill)
        self.spacing = None if spacing is None else _triple(fn, "spacing", spacing)
        if self.spacing is not None and min(self.spacing) <= 0:
            _checks.fail(fn, "spacing", "> 0", spacing)
        self._seed = None if seed is None else _checks.seed(fn, seed)
        self.rng = np.random.default_rng(self._seed)
        self._worker = None

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(t) for t in self.transforms)
        return f"Compose([\n  {inner}\n], border_mode={self.border_mode!r})"

    # -- drawing
    def draw_chain(self, in_shape, rng: np.random.Generator | None = None) -> list:
        """One sample's stages (functional) for an input of spatial shape ``in_shape``."""
        rng = self._own_rng() if rng is None else rng
        shape = F._shape3("Compose", "in_shape", in_shape)
        spacing = np.ones(3) if self.spacing is None else np.asarray(self.spacing, np.float64)
        chain = []
        for t in self.transforms:
            if t.p < 1.0 and not rng.random() < t.p:
                continue
            stages, spacing = t.draw(rng, shape, spacing)
            if stages:
                shape = chain_shapes(stages, shape, "Compose")[-1]
                chain.extend(stages)
        return chain

    def _programs(self, B, in_shape, rng):
        return [compile_chain(self.draw_chain(in_shape, rng), in_shape, fn="Compose")
                for _ in range(B)]

    def _own_rng(self) -> np.random.Generator:
        """The Compose's stream; in a torch DataLoader worker, a stream of its own (forked workers
        would otherwise all replay the parent's draws), derived from the worker's seed, which the
        DataLoader derives from its base seed."""
        import torch.utils.data as tud

        info = tud.get_worker_info()
        if info is not None and self._worker != (info.id, info.seed):
            self._worker = (info.id, info.seed)
            entropy = [info.seed] if self._seed is None else [self._seed, info.seed]
            self.rng = np.random.default_rng(np.random.SeedSequence(entropy))
        return self.rng

    def _seed_from(self, seed):
        rng = self._own_rng() if seed is None else np.random.default_rng(_checks.seed("Compose", seed))
        return rng, int(rng.integers(2**63 - 1))

    # -- running
    def batch(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, seed: int | None = None):
        """Augment a batch with per-sample random parameters, one fused kernel launch.

        Args:
            x: float32, uint8 or uint16 tensor (B, C, Z, Y, X) on the CPU or a CUDA device.
            mask: labels (B, Cm, Z, Y, X) (uint8, bool, int, float32) on the same device, or None.
            seed: reproduces this call exactly (same parameters and noise on either device);
                None draws from the Compose's own stream.

        Returns:
            float32 (B, C, *out) or, with a mask, ``(image, mask)``.
        """
        fn = "Compose.batch"
        if not isinstance(x, torch.Tensor):
            _checks.fail(fn, "x", "a torch.Tensor (B, C, Z, Y, X)", type(x).__name__)
        if x.dim() != 5:
            _checks.fail(fn, "x", "of shape (B, C, Z, Y, X)", tuple(x.shape))
        x = F._image_tensor(fn, x)
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.dim() != 5 or mask.shape[0] != x.shape[0] \
                    or mask.shape[2:] != x.shape[2:]:
                _checks.fail(fn, "mask", f"a tensor ({x.shape[0]}, Cm, {', '.join(map(str, x.shape[2:]))})",
                             tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__)
            if mask.device != x.device:
                _checks.fail(fn, "mask", f"on the image's device {x.device}", mask.device)
        rng, kseed = self._seed_from(seed)
        in_shape = tuple(x.shape[2:])
        programs = self._programs(x.shape[0], in_shape, rng)
        if x.shape[0] == 0:
            _checks.fail(fn, "x", "a batch of at least one volume", tuple(x.shape))
        out, mout = F.run_programs(x, programs, mask=mask, border_mode=self.border_mode,
                                   fill=self.fill, mask_fill=self.mask_fill, seed=kseed)
        return out if mask is None else (out, mout)

    def __call__(self, *, image, mask=None, seed: int | None = None) -> dict:
        """Augment one sample: ``image`` (Z, Y, X) or (C, Z, Y, X), ``mask`` (Z, Y, X) or
        (Cm, Z, Y, X), NumPy or torch; returns ``{"image": ..., "mask": ...}`` of the same kind
        (image float32)."""
        fn = "Compose"
        x, restore = F._as_batch(fn, image)
        if image is not None and getattr(image, "ndim", 0) == 5:
            _checks.fail(fn, "image", "one sample (Z, Y, X) or (C, Z, Y, X); use .batch for batches",
                         tuple(image.shape))
        x = F._image_tensor(fn, x)
        m5 = m_restore = None
        if mask is not None:
            m5, m_restore = F._as_batch(fn, mask, "mask")
            if getattr(mask, "ndim", 0) == 5 or m5.shape[2:] != x.shape[2:]:
                _checks.fail(fn, "mask", f"of the image's spatial shape {tuple(x.shape[2:])}",
                             tuple(mask.shape))
            if m5.device != x.device:
                m5 = m5.to(x.device)
        rng, kseed = self._seed_from(seed)
        programs = self._programs(1, tuple(x.shape[2:]), rng)
        out, mout = F.run_programs(x, programs, mask=m5, border_mode=self.border_mode,
                                   fill=self.fill, mask_fill=self.mask_fill, seed=kseed)
        res = {"image": restore(out)}
        if mask is not None:
            res["mask"] = m_restore(mout)
        return res
