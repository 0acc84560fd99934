"""Synthetic 3D vessel phantoms with exact masks, rendered in the style of several modalities.

tUbe net (Holroyd et al., "tUbe net: a generalisable deep learning tool for 3D vessel
segmentation") pre-trains one 3D U-Net on a deliberately varied catalogue (HREM, micro-CT, RSOM,
OCT-A) and fine-tunes it to unseen modalities (MF-HREM, two-photon) with ~0.3 % of a volume
labelled. Labelled 3D vessel data are scarce, so this module makes paired (image, mask) volumes
whose ground truth is known exactly, for pre-training, for tests and for benchmarks.

Geometry (:func:`vessel_phantom`, ``info`` item). A network is built in µm, independently of the
voxel grid:

* several *trees* enter through the volume faces (a face picked with probability proportional to
  its area, the root tilted from the inward normal), plus *internal segments*: capillary-sized
  vessels started at a random point inside and grown in both directions;
* every branch is a persistent random walk (worm-like chain: per-step bending angle with
  ⟨θ²⟩ = 2·step/P, persistence length P growing with the radius, so large vessels are straighter)
  made of capsule segments whose radius drifts slowly (log-normal walk, clipped to
  ``radius_range_um``);
* after a radius-dependent length a branch bifurcates following Murray's law,
  r_parent³ = r₁³ + r₂³, with an asymmetric split (the smaller child takes a fraction α ∈ [α_min,
  ½] of r_parent³, α_min keeping both children ≥ the minimum radius) and Murray's optimal branching
  angles cos θ₁ = (r₀⁴ + r₁⁴ − r₂⁴)/(2 r₀² r₁²) (thin children leave at wider angles);
* branches too thin to split (r < 2^(1/3)·r_min) continue as capillaries, and a capillary that
  has not left the volume after its length steers into the nearest other vessel (an anastomosis,
  so that the bed forms loops rather than blind ends) or, with none within reach, ends;
* structures are added until the estimated vessel volume reaches ``density`` × 4 % of the volume
  (blood volume of brain tissue is 3–5 %); a structure that would overshoot is redrawn smaller
  (at least one structure is always kept, so a phantom is never empty unless no vessel can
  reach the volume).

Rasterisation is exact and in µm: voxel (k, j, i) has its centre at (k·v_z, j·v_y, i·v_x) µm and
belongs to the mask when that centre lies within the interpolated radius of some segment, i.e.
|p − c(t)| ≤ r₀ + t·(r₁ − r₀) with c(t) the closest point of the segment. It is vectorised per
segment over the segment's bounding box, so an anisotropic voxel size changes sampling only:
tubes stay round in µm.

Rendering (``modality``; the mask never depends on it, and for one seed the network is the same
in every modality): ``"twophoton"`` (intravascular dye, depth attenuation, Poisson noise),
``"ct"`` (vascular cast in micro-CT), ``"hrem"`` (MF-HREM block-face fluorescence with its
out-of-plane glow, the artefact tUbe net mislabelled before fine-tuning) and ``"lightsheet"``
(cleared tissue with stripe shadows). Each is documented in :func:`vessel_phantom`. Every image is
float32 scaled to [0, 1] (0.5th and 99.9th percentiles, clipped), the normalisation the paper
applies to its training data, and vessels are brighter than the background in every style.

Pitfalls avoided: radii are in µm and converted with the (possibly anisotropic) voxel size, not
in voxels; the mask is rasterised from the geometry, never thresholded from the rendered image
(which would leak blur and noise into the ground truth); rendering draws from its own random
stream, so a change of modality leaves the network and the mask untouched.

Example:
    >>> from bbbcore.vessels.phantoms import vessel_phantom
    >>> image, mask = vessel_phantom((16, 32, 32), seed=1, modality="ct")
    >>> image.dtype, mask.dtype, image.shape
    (dtype('float32'), dtype('uint8'), (16, 32, 32))
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from numbers import Integral, Real

import numpy as np
from scipy import ndimage

from bbbcore import _checks

__all__ = ["DEFAULT_RADIUS_RANGE_UM", "MODALITIES", "random_modality_phantoms", "vessel_phantom"]

MODALITIES = ("twophoton", "ct", "hrem", "lightsheet")
DEFAULT_RADIUS_RANGE_UM = (2.0, 10.0)   # capillaries (2–3 µm) to small arterioles/venules (8–10 µm)
BASE_VOLUME_FRACTION = 0.04             # target vessel volume fraction at density = 1
MAX_DENSITY = 4.0
MIN_SIZE = 8
_SPLIT = 2.0 ** (1.0 / 3.0)             # a branch splits only if both children can be >= r_min
_MAX_SEGMENTS = 200_000


# ------------------------------------------------------------------------------- validation
def _check_shape(fn: str, shape) -> tuple[int, int, int]:
    ok = isinstance(shape, (tuple, list)) and len(shape) == 3 and all(
        isinstance(s, Integral) and not isinstance(s, bool) and s >= MIN_SIZE for s in shape)
    if not ok:
        _checks.fail(fn, "shape", f"3 integers >= {MIN_SIZE} (Z, Y, X)", repr(shape))
    return tuple(int(s) for s in shape)


def _check_voxel_size(fn: str, voxel_size_um) -> np.ndarray:
    vals = [voxel_size_um] * 3 if isinstance(voxel_size_um, Real) else voxel_size_um
    try:
        ok = len(vals) == 3 and all(isinstance(v, Real) and not isinstance(v, bool)
                                    and math.isfinite(v) and v > 0 for v in vals)
    except TypeError:
        ok = False
    if not ok:
        _checks.fail(fn, "voxel_size_um", "a finite number > 0 µm or 3 of them (Z, Y, X)",
                     repr(voxel_size_um))
    return np.array([float(v) for v in vals])


def _check_radius_range(fn: str, radius_range_um) -> tuple[float, float]:
    if radius_range_um is None:
        return DEFAULT_RADIUS_RANGE_UM
    try:
        lo, hi = radius_range_um
        ok = all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
                 for v in (lo, hi)) and 0 < lo <= hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        _checks.fail(fn, "radius_range_um", "None or (min, max) with 0 < min <= max µm",
                     repr(radius_range_um))
    return float(lo), float(hi)


def _check_density(fn: str, density) -> float:
    if (isinstance(density, bool) or not isinstance(density, Real) or not math.isfinite(density)
            or not 0 < density <= MAX_DENSITY):
        _checks.fail(fn, "density", f"a finite number in (0, {MAX_DENSITY:g}]", repr(density))
    return float(density)


# ------------------------------------------------------------------------------- rasterisation
def _rasterise(shape, p0, p1, r0, r1, voxel_size_um, margin_um: float = 0.0,
               fields: bool = False):
    """Mask of the union of capsules; with ``fields`` also, per voxel, the largest r(t) − d over
    the segments within ``margin_um`` of it (µm, > 0 inside, ``-margin_um`` far outside) and the
    index of that segment (−1 far outside)."""
    vs = np.asarray(voxel_size_um, dtype=np.float64)
    shape_a = np.asarray(shape)
    mask = np.zeros(shape, dtype=bool)
    sd = np.full(shape, -margin_um, dtype=np.float32) if fields else None
    idx = np.full(shape, -1, dtype=np.int32) if fields else None
    for i in range(len(r0)):
        a, b = p0[i], p1[i]
        reach = max(r0[i], r1[i]) + margin_um
        lo = np.maximum(np.floor((np.minimum(a, b) - reach) / vs).astype(np.int64), 0)
        hi = np.minimum(np.ceil((np.maximum(a, b) + reach) / vs).astype(np.int64) + 1, shape_a)
        if np.any(hi <= lo):
            continue
        z = (np.arange(lo[0], hi[0]) * vs[0] - a[0])[:, None, None]
        y = (np.arange(lo[1], hi[1]) * vs[1] - a[1])[None, :, None]
        x = (np.arange(lo[2], hi[2]) * vs[2] - a[2])[None, None, :]
        ab = b - a
        ab2 = float(ab @ ab)
        if ab2 > 0.0:
            t = np.clip((z * ab[0] + y * ab[1] + x * ab[2]) / ab2, 0.0, 1.0)
            d2 = (z - t * ab[0]) ** 2 + (y - t * ab[1]) ** 2 + (x - t * ab[2]) ** 2
            r = r0[i] + t * (r1[i] - r0[i])
        else:                                   # a degenerate segment is a sphere
            d2 = z ** 2 + y ** 2 + x ** 2
            r = np.full(d2.shape, float(r0[i]))
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        mask[box] |= d2 <= r * r
        if fields:
            s = r - np.sqrt(d2)
            sub, isub = sd[box], idx[box]
            better = s > sub
            sub[better] = s[better]
            isub[better] = i
    return mask, sd, idx


def _rasterise_capsules(shape, segments, voxel_size_um=1.0) -> np.ndarray:
    """Exact mask of a union of capsules (internal helper, used by the tests).

    Args:
        shape: (Z, Y, X) of the grid.
        segments: float (N, 8): z0, y0, x0, z1, y1, x1 [µm], r0, r1 [µm].
        voxel_size_um: scalar or (Z, Y, X) [µm]; voxel (k, j, i) is centred at (k·v_z, j·v_y, i·v_x).

    Returns:
        uint8 (Z, Y, X): 1 where the voxel centre is within r₀ + t(r₁ − r₀) of the closest point
        of some segment.
    """
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 8)
    vs = np.broadcast_to(np.asarray(voxel_size_um, dtype=np.float64), (3,))
    mask, _, _ = _rasterise(tuple(shape), seg[:, 0:3], seg[:, 3:6], seg[:, 6], seg[:, 7], vs)
    return mask.astype(np.uint8)


# ------------------------------------------------------------------------------- geometry
class _Network:
    """Grows the branching network in µm (see the module docstring)."""

    def __init__(self, extent_um: np.ndarray, r_min: float, r_max: float, min_step_um: float,
                 rng: np.random.Generator):
        self.extent = extent_um                 # coordinate of the last voxel centre per axis
        self.r_min, self.r_max = r_min, r_max
        self.min_step = min_step_um
        self.rng = rng
        self.seg: list[tuple] = []              # (z0, y0, x0, z1, y1, x1, r0, r1, branch)
        self.branch_parent: list[int] = []
        self.branch_structure: list[int] = []
        self.bifurcations: list[tuple] = []     # (position, parent, child1, child2)
        self.anastomoses: list[tuple] = []      # (position, branch, target segment)
        self.structure_kind: list[str] = []
        # end points of committed segments, for the anastomosis search
        self._pts = np.empty((1024, 3))
        self._pts_branch = np.empty(1024, dtype=np.int64)
        self._n_pts = 0

    # --- helpers -------------------------------------------------------------------------
    def _unit(self, v):
        return v / np.linalg.norm(v)

    def _perp(self, d):
        v = self.rng.standard_normal(3)
        v -= (v @ d) * d
        return self._unit(v)

    def _step(self, r):
        return max(min(0.75 * r, 4.0), 1.0, self.min_step)

    def _persistence(self, r):
        return min(max(15.0 * r, 30.0), 300.0)

    def _branch_length(self, r):
        return min(max(6.0 * r, 15.0), 60.0) * self.rng.uniform(0.5, 1.5)

    def _outside(self, p, r):
        pad = r + 2.0 * self.min_step
        return bool(np.any(p < -pad) or np.any(p > self.extent + pad))

    def _inside(self, p):
        return bool(np.all(p >= 0) and np.all(p <= self.extent))

    def _new_branch(self, parent, structure):
        self.branch_parent.append(parent)
        self.branch_structure.append(structure)
        return len(self.branch_parent) - 1

    def _add(self, p, q, r0, r1, branch):
        self.seg.append((p[0], p[1], p[2], q[0], q[1], q[2], r0, r1, branch))

    # --- growth --------------------------------------------------------------------------
    def _walk(self, p, d, r, length, branch):
        rng, done = self.rng, 0.0
        while done < length:
            s = self._step(r)
            kick = rng.standard_normal(3) * math.sqrt(s / self._persistence(r))
            kick -= (kick @ d) * d
            d = self._unit(d + kick)
            r_new = min(max(r * math.exp(0.1 * math.sqrt(s / 50.0) * rng.standard_normal()),
                            self.r_min), self.r_max)
            q = p + s * d
            self._add(p, q, r, r_new, branch)
            p, r, done = q, r_new, done + s
            if self._outside(p, r):
                return p, d, r, "exit"
            if len(self.seg) > _MAX_SEGMENTS:
                return p, d, r, "limit"
        return p, d, r, "done"

    def _join(self, p, d, r, branch):
        """Steer a capillary end into the nearest point of another vessel within reach."""
        if self._n_pts == 0:
            return
        pts, own = self._pts[:self._n_pts], self._pts_branch[:self._n_pts]
        parent = self.branch_parent[branch]
        dist = np.linalg.norm(pts - p, axis=1)
        ok = (own != branch) & (own != parent) & (dist > r) & (dist < 40.0)
        ok &= np.all((pts >= 0) & (pts <= self.extent), axis=1)
        if not np.any(ok):
            return
        j = int(np.flatnonzero(ok)[np.argmin(dist[ok])])
        target = pts[j].copy()
        for _ in range(int(3 * 40.0 / self._step(r)) + 10):
            v = target - p
            n = float(np.linalg.norm(v))
            s = self._step(r)
            if n <= s:
                self._add(p, target, r, r, branch)
                self.anastomoses.append((target, branch, j))
                return
            d = self._unit(d + 0.6 * v / n)
            q = p + s * d
            self._add(p, q, r, r, branch)
            p = q

    def _grow(self, starts, structure):
        """Grow branches from ``starts`` = [(p, d, r, parent)], depth first; a branch is numbered
        when it is created, and its segments are added contiguously when it is walked."""
        stack = [(p, d, r, self._new_branch(parent, structure)) for p, d, r, parent in starts]
        stack.reverse()
        while stack:
            p, d, r, b = stack.pop()
            splittable = r >= _SPLIT * self.r_min
            length = self._branch_length(r) if splittable else self.rng.uniform(30.0, 120.0)
            p, d, r, status = self._walk(p, d, r, length, b)
            if status == "limit":
                return
            if status == "exit":
                continue
            if r >= _SPLIT * self.r_min:
                # Murray: r^3 = r1^3 + r2^3, the smaller child takes alpha of r^3
                a_min = min((self.r_min / r) ** 3, 0.5)
                alpha = self.rng.uniform(a_min, 0.5)
                r2 = max(r * alpha ** (1.0 / 3.0), self.r_min)
                r1 = (r ** 3 - r2 ** 3) ** (1.0 / 3.0)
                c1 = (r ** 4 + r1 ** 4 - r2 ** 4) / (2.0 * r * r * r1 * r1)
                c2 = (r ** 4 + r2 ** 4 - r1 ** 4) / (2.0 * r * r * r2 * r2)
                th1 = math.acos(min(max(c1, -1.0), 1.0)) + self.rng.normal(0.0, 0.1)
                th2 = math.acos(min(max(c2, -1.0), 1.0)) + self.rng.normal(0.0, 0.1)
                n = self._perp(d)
                d1 = self._unit(math.cos(th1) * d + math.sin(th1) * n)
                d2 = self._unit(math.cos(th2) * d - math.sin(th2) * n)
                b1, b2 = self._new_branch(b, structure), self._new_branch(b, structure)
                self.bifurcations.append((p.copy(), b, b1, b2))
                stack.append((p.copy(), d2, r2, b2))
                stack.append((p.copy(), d1, r1, b1))
            else:
                self._join(p, d, r, b)

    def _structure(self, kind, tree_cap):
        rng, ext = self.rng, self.extent
        sid = len(self.structure_kind)
        if kind == "tree":
            areas = np.array([ext[1] * ext[2], ext[0] * ext[2], ext[0] * ext[1]]) + 1e-9
            axis = int(rng.choice(3, p=areas / areas.sum()))
            side = int(rng.integers(2))
            r = self.r_min + (tree_cap - self.r_min) * rng.uniform() ** 1.5
            p = rng.uniform(0.0, 1.0, 3) * ext
            normal = np.zeros(3)
            normal[axis] = 1.0 if side == 0 else -1.0
            p[axis] = -r if side == 0 else ext[axis] + r
            d = self._unit(normal + 0.5 * self._perp(normal) * rng.uniform())
            starts = [(p, d, r, -1)]
        else:
            r = rng.uniform(self.r_min, min(1.5 * self.r_min, self.r_max))
            p = rng.uniform(0.0, 1.0, 3) * ext
            d = self._unit(rng.standard_normal(3))
            starts = [(p, d, r, -1), (p.copy(), -d, r, -1)]
        self._grow(starts, sid)
        return sid

    def _volume(self, first):
        """Vessel volume [µm³] of segments[first:] whose midpoint is inside (overlaps counted)."""
        if len(self.seg) <= first:
            return 0.0
        s = np.asarray(self.seg[first:])
        mid = 0.5 * (s[:, 0:3] + s[:, 3:6])
        inside = np.all((mid >= 0) & (mid <= self.extent), axis=1)
        length = np.linalg.norm(s[:, 3:6] - s[:, 0:3], axis=1)
        rbar2 = (s[:, 6] ** 2 + s[:, 6] * s[:, 7] + s[:, 7] ** 2) / 3.0     # frustum
        return float(np.sum(math.pi * rbar2 * length * inside))

    def _commit_points(self, first):
        s = np.asarray(self.seg[first:])
        if len(s) == 0:
            return
        need = self._n_pts + len(s)
        if need > len(self._pts):
            cap = max(need, 2 * len(self._pts))
            self._pts = np.resize(self._pts, (cap, 3))
            self._pts_branch = np.resize(self._pts_branch, cap)
        self._pts[self._n_pts:need] = s[:, 3:6]
        self._pts_branch[self._n_pts:need] = s[:, 8].astype(np.int64)
        self._n_pts = need

    def build(self, target_um3: float):
        rng = self.rng
        tree_cap = min(max(0.16 * float(np.min(self.extent)), self.r_min), self.r_max)
        total, attempts, rejected = 0.0, 0, 0
        while (total < target_um3 and attempts < 400 and rejected < 40
               and len(self.seg) <= _MAX_SEGMENTS):
            kind = "tree" if attempts < 2 or rng.uniform() < 0.4 else "internal"
            attempts += 1
            n_seg, n_br = len(self.seg), len(self.branch_parent)
            n_bif, n_ana = len(self.bifurcations), len(self.anastomoses)
            self._structure(kind, tree_cap)
            v = self._volume(n_seg)
            # redraw a structure that overshoots the target or misses the volume; but after 10
            # misses with nothing placed yet, keep one (an empty phantom is of no use)
            overshoot = total + v > 1.25 * target_um3 and not (total == 0.0 and rejected >= 10)
            if overshoot or v == 0.0:
                del self.seg[n_seg:], self.branch_parent[n_br:], self.branch_structure[n_br:]
                del self.bifurcations[n_bif:], self.anastomoses[n_ana:]
                rejected += 1
                if kind == "tree":
                    tree_cap = max(self.r_min, 0.85 * tree_cap)
                continue
            self.structure_kind.append(kind)
            self._commit_points(n_seg)
            total += v
            rejected = 0
        return total


def _network_info(net: _Network) -> dict:
    s = np.asarray(net.seg, dtype=np.float64).reshape(-1, 9)
    segs = {"p0_um": s[:, 0:3].copy(), "p1_um": s[:, 3:6].copy(), "r0_um": s[:, 6].copy(),
            "r1_um": s[:, 7].copy(), "branch": s[:, 8].astype(np.int64)}
    first = np.full(len(net.branch_parent), -1, dtype=np.int64)
    last = np.full(len(net.branch_parent), -1, dtype=np.int64)
    if len(s):
        br = segs["branch"]
        starts = np.flatnonzero(np.r_[True, br[1:] != br[:-1]])
        ends = np.r_[starts[1:] - 1, len(br) - 1]
        first[br[starts]], last[br[ends]] = starts, ends
    # a bifurcation counts once its parent and both children have segments (not so for the
    # last one when the segment limit stopped the growth)
    kept = [b for b in net.bifurcations if min(first[b[1]], first[b[2]], first[b[3]]) >= 0]
    nb = len(kept)
    bif = {
        "position_um": np.array([b[0] for b in kept]).reshape(nb, 3),
        "parent_branch": np.array([b[1] for b in kept], dtype=np.int64),
        "child_branches": np.array([b[2:4] for b in kept], dtype=np.int64).reshape(nb, 2),
    }
    bif["parent_radius_um"] = segs["r1_um"][last[bif["parent_branch"]]] if nb else np.zeros(0)
    bif["child_radius_um"] = (segs["r0_um"][first[bif["child_branches"]]] if nb
                              else np.zeros((0, 2)))
    na = len(net.anastomoses)
    ana = {"position_um": np.array([a[0] for a in net.anastomoses]).reshape(na, 3),
           "branch": np.array([a[1] for a in net.anastomoses], dtype=np.int64)}
    kinds = net.structure_kind
    return {"segments": segs, "bifurcations": bif, "anastomoses": ana,
            "branch_parent": np.array(net.branch_parent, dtype=np.int64),
            "branch_structure": np.array(net.branch_structure, dtype=np.int64),
            "structure_kind": tuple(kinds), "n_trees": kinds.count("tree"),
            "n_internal": kinds.count("internal")}


# ------------------------------------------------------------------------------- rendering
def _gauss(vol, sigma_vox):
    sigma = [s if s >= 0.2 else 0.0 for s in np.broadcast_to(sigma_vox, (vol.ndim,))]
    if not any(sigma):
        return vol
    return ndimage.gaussian_filter(vol, sigma, mode="nearest", truncate=3.0)


def _smooth_noise(shape, scale_vox, rng):
    """Zero-mean, unit-SD Gaussian random field correlated over ``scale_vox`` voxels per axis.
    Large scales are drawn on a coarse grid and interpolated (cheap)."""
    scale = np.broadcast_to(np.asarray(scale_vox, dtype=np.float64), (3,))
    step = np.maximum(np.floor(scale / 2.0), 1).astype(int)
    coarse_shape = tuple(int(-(-n // f)) + 4 for n, f in zip(shape, step))
    field = _gauss(rng.standard_normal(coarse_shape).astype(np.float32), scale / step)
    if np.any(step > 1):
        field = ndimage.zoom(field, tuple(float(f) for f in step), order=1, grid_mode=True,
                             mode="nearest")
    o = 2 * step
    field = field[o[0]:o[0] + shape[0], o[1]:o[1] + shape[1], o[2]:o[2] + shape[2]]
    sd = float(field.std())
    return (field - field.mean()) / (sd if sd > 0 else 1.0)


def _wall_profile(sd, rng):
    """Lectin-like wall staining: bright rim of thickness ~w µm, dimmer core (1 − β)."""
    beta, w = rng.uniform(0.0, 0.7), rng.uniform(1.0, 2.0)
    return (1.0 - beta) + beta * np.exp(-(np.maximum(sd, 0.0) / w) ** 2), {"wall_beta": beta,
                                                                           "wall_um": w}


def _to_unit(img):
    lo, hi = np.percentile(img, [0.5, 99.9])
    out = (img - lo) / (hi - lo if hi > lo else 1.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _z_um(shape, vs):
    return (np.arange(shape[0]) * vs[0]).astype(np.float32)[:, None, None]


def _render_twophoton(occ, sd, bright, vs, rng):
    shape = occ.shape
    p = {"photons": rng.uniform(15.0, 50.0), "background": rng.uniform(0.04, 0.12),
         "attenuation_length_um": rng.uniform(60.0, 150.0),
         "psf_sigma_lateral_um": rng.uniform(0.35, 0.6), "psf_widening": rng.uniform(0.0, 1.0),
         "rbc_shadow": rng.uniform(0.0, 0.4), "read_noise_photons": rng.uniform(0.2, 1.0)}
    f = occ * bright
    if p["rbc_shadow"] > 0:                         # red cells exclude the plasma dye
        blobs = _smooth_noise(shape, 1.5 / vs, rng) > 1.0
        f = f * (1.0 - p["rbc_shadow"] * blobs)
    auto = p["background"] * np.clip(1.0 + 0.3 * _smooth_noise(shape, 8.0 / vs, rng), 0.2, None)
    sig = p["psf_sigma_lateral_um"] * np.array([3.0, 1.0, 1.0])
    top = _gauss(f, sig / vs)
    bottom = _gauss(f, sig * (1.0 + p["psf_widening"]) / vs)
    z = _z_um(shape, vs)
    w = z / max(float(z[-1, 0, 0]), 1e-9)
    signal = ((1.0 - w) * top + w * bottom + auto) * np.exp(-z / p["attenuation_length_um"])
    counts = rng.poisson(p["photons"] * signal).astype(np.float32)
    counts += rng.normal(0.0, p["read_noise_photons"], shape).astype(np.float32)
    return _to_unit(counts), p


def _render_ct(occ, sd, bright, vs, rng):
    shape = occ.shape
    p = {"tissue": rng.uniform(0.25, 0.4), "contrast": rng.uniform(0.25, 0.4),
         "texture": rng.uniform(0.015, 0.035), "noise_sd": rng.uniform(0.025, 0.05),
         "blur_vox": rng.uniform(0.5, 0.9), "cupping": rng.uniform(0.03, 0.1)}
    tissue = p["tissue"] + p["texture"] * (0.8 * _smooth_noise(shape, 6.0, rng)
                                           + 0.6 * _smooth_noise(shape, 1.5, rng))
    img = _gauss(tissue + p["contrast"] * occ * (1.0 + 0.1 * (bright - 1.0)), p["blur_vox"])
    # beam hardening (cupping) and ring artefacts about the rotation axis (Z, through the centre)
    yy = (np.arange(shape[1]) - 0.5 * (shape[1] - 1))[:, None]
    xx = (np.arange(shape[2]) - 0.5 * (shape[2] - 1))[None, :]
    rho_pix = np.sqrt(yy ** 2 + xx ** 2)
    rho = rho_pix / max(float(rho_pix.max()), 1e-9)
    shade = 1.0 - p["cupping"] * (1.0 - rho ** 2)
    rings = np.zeros_like(rho_pix)
    for _ in range(int(rng.integers(2, 6))):
        radius, width = rng.uniform(0, rho_pix.max()), rng.uniform(0.7, 1.5)
        rings += rng.uniform(-0.03, 0.03) * np.exp(-((rho_pix - radius) / width) ** 2)
    img = img * shade[None].astype(np.float32) + rings[None].astype(np.float32)
    noise = _gauss(rng.standard_normal(shape).astype(np.float32), 0.6)
    img += p["noise_sd"] / max(float(noise.std()), 1e-9) * noise
    return _to_unit(img), p


def _render_hrem(occ, sd, bright, vs, rng):
    shape = occ.shape
    wall, pw = _wall_profile(sd, rng)
    p = {"background": rng.uniform(0.1, 0.25), "glow_weight": rng.uniform(0.3, 0.8),
         "glow_length_um": rng.uniform(4.0, 12.0), "glow_sigma_um": rng.uniform(1.5, 3.0),
         "psf_sigma_lateral_um": rng.uniform(0.5, 0.9), "noise_sd": rng.uniform(0.02, 0.05), **pw}
    f = occ * bright * wall
    sig = np.array([0.5 * vs[0], p["psf_sigma_lateral_um"], p["psf_sigma_lateral_um"]])
    in_focus = _gauss(f, sig / vs)
    # out-of-plane glow: plane k sees a^(j-k) of every deeper plane j > k (one-sided along +Z)
    a = math.exp(-vs[0] / p["glow_length_um"])
    glow = np.empty_like(f)
    acc = np.zeros(shape[1:], dtype=np.float32)
    for k in range(shape[0] - 1, -1, -1):
        glow[k] = a * acc                   # = sum_{j>k} a^(j-k) f_j
        acc = f[k] + a * acc
    glow *= (1.0 - a) / a                   # unit total weight
    gs = p["glow_sigma_um"] / vs
    glow = _gauss(glow, (0.0, gs[1], gs[2]))
    auto = p["background"] * np.clip(1.0 + 0.3 * _smooth_noise(shape, 4.0 / vs, rng), 0.2, None)
    img = auto + in_focus + p["glow_weight"] * glow
    img = img * (1.0 + 0.05 * rng.standard_normal(shape).astype(np.float32))   # shot-like
    img += rng.normal(0.0, p["noise_sd"], shape).astype(np.float32)
    return _to_unit(img), p


def _render_lightsheet(occ, sd, bright, vs, rng):
    shape = occ.shape
    wall, pw = _wall_profile(sd, rng)
    ax = int(rng.integers(1, 3))               # illumination (and stripe) axis: Y or X
    other = 3 - ax
    p = {"illumination_axis": ax, "psf_sigma_lateral_um": rng.uniform(0.6, 1.2),
         "sheet_sigma_um": rng.uniform(2.5, 5.0), "background": rng.uniform(0.05, 0.15),
         "photons": rng.uniform(30.0, 150.0), "read_noise_photons": rng.uniform(1.0, 2.0),
         "absorption": rng.uniform(0.1, 0.5), "n_stripes": 0, **pw}
    f = occ * bright * wall
    sig = np.array([p["sheet_sigma_um"], p["psf_sigma_lateral_um"], p["psf_sigma_lateral_um"]])
    img = _gauss(f, sig / vs)
    img += p["background"] * np.clip(1.0 + 0.3 * _smooth_noise(shape, 6.0 / vs, rng), 0.2, None)
    # uneven illumination: Gaussian-beam waist and absorption along the illumination axis,
    # slow variation across Z
    n_a = shape[ax]
    u = np.arange(n_a) / max(n_a - 1, 1)
    waist, z_r = rng.uniform(0.3, 0.7), rng.uniform(0.5, 1.5)
    prof = np.exp(-p["absorption"] * u) / np.sqrt(1.0 + ((u - waist) / z_r) ** 2)
    shp = [1, 1, 1]
    shp[ax] = n_a
    zprof = 1.0 + 0.15 * np.sin(2 * np.pi * (rng.uniform() + np.arange(shape[0]) / shape[0]))
    illum = prof.reshape(shp) * zprof[:, None, None]
    # stripes: shadows cast by absorbers, running along the illumination axis from where the
    # absorber sits, narrow across the other lateral axis, a few planes thick
    log_shade = np.zeros(shape, dtype=np.float32)
    n_stripes = int(rng.poisson(shape[other] / 6.0)) + 1
    zi = np.arange(shape[0])[:, None]
    bi = np.arange(shape[other])[None, :]
    for _ in range(n_stripes):
        bc, bw = rng.uniform(0, shape[other]), rng.uniform(0.5, 2.5)
        zc, zw = rng.uniform(0, shape[0]), rng.uniform(0.3, 1.5) * shape[0]
        depth = rng.uniform(0.15, 0.6)
        start = rng.uniform(-0.2, 0.8) * n_a
        lo, hi = max(int(bc - 4 * bw), 0), min(int(bc + 4 * bw) + 2, shape[other])
        prof2 = depth * np.exp(-((bi[:, lo:hi] - bc) / bw) ** 2 - ((zi - zc) / zw) ** 2)  # (Z, B)
        step = 1.0 / (1.0 + np.exp(-(np.arange(n_a) - start) / 2.0))                     # (A,)
        sh = np.log1p(-np.einsum("zb,a->zba", prof2, step)).astype(np.float32)
        if ax == 2:
            log_shade[:, lo:hi, :] += sh
        else:
            log_shade[:, :, lo:hi] += sh.transpose(0, 2, 1)
    p["n_stripes"] = n_stripes
    signal = img * illum.astype(np.float32) * np.exp(log_shade)
    counts = rng.poisson(p["photons"] * signal).astype(np.float32)
    counts += rng.normal(0.0, p["read_noise_photons"], shape).astype(np.float32)
    return _to_unit(counts), p


_RENDER = {"twophoton": _render_twophoton, "ct": _render_ct, "hrem": _render_hrem,
           "lightsheet": _render_lightsheet}


# ------------------------------------------------------------------------------- public API
def vessel_phantom(shape: Sequence[int] = (64, 128, 128), seed: int = 0,
                   modality: str = "twophoton", *, voxel_size_um: float | Sequence[float] = 1.0,
                   density: float = 1.0, radius_range_um: tuple[float, float] | None = None,
                   return_info: bool = False):
    """Random branching vessel network: a rendered image and its exact mask.

    The network (see the module docstring) is grown in µm — trees entering through the faces and
    internal capillary segments, persistent random walks of capsules, Murray's-law bifurcations —
    and rasterised exactly; the image renders it in the style of ``modality``:

    * ``"twophoton"`` — in-vivo two-photon angiography with an intravascular dye: bright lumen,
      vessel-to-vessel brightness variation and dark red-cell shadows; anisotropic Gaussian PSF
      (axial σ = 3 × lateral σ ≈ 0.35–0.6 µm) that widens with depth; background
      autofluorescence; attenuation exp(−z/L), L = 60–150 µm, along Z (Z = 0 is the surface);
      Poisson shot noise at 15–50 photons for a surface vessel voxel (so 5–30 in the deep planes)
      plus detector read noise.
    * ``"ct"`` — micro-CT of a radio-opaque vascular cast: moderate contrast on a textured tissue
      background, partial-volume blur (σ 0.5–0.9 voxel), correlated Gaussian noise,
      beam-hardening cupping and faint ring artefacts about the rotation axis (Z through the
      centre of each YX slice).
    * ``"hrem"`` — multi-fluorescent HREM of lectin-stained vessels (positive contrast): every
      block-face image also collects light from the tissue beneath the face, modelled as a
      one-sided exponential kernel along +Z (plane k sees Σ_{j>k} a^{j−k} f_j, decay length
      4–12 µm) blurred laterally, plus noise. Vessels therefore glow into the planes *before*
      them (smaller Z), the out-of-plane signal tUbe net labelled as vessel before fine-tuning.
    * ``"lightsheet"`` — light-sheet microscopy of cleared, lectin-stained tissue: axial blur from
      the sheet thickness (σ 2.5–5 µm), uneven illumination (beam waist and absorption along the
      illumination axis, slow variation along Z), shadow stripes running along the illumination
      axis (Y or X, at random; ``info["render"]["illumination_axis"]``), Poisson and read noise.

    In "hrem" and "lightsheet" the vessel wall may be brighter than the lumen (wall stain).
    Contrast: vessels are brighter than the background in every modality.

    Convention:
        Axes (Z, Y, X); voxel (k, j, i) is centred at (k·v_z, j·v_y, i·v_x) µm and is in the
        mask when its centre is within the interpolated radius of a segment. The mask depends
        only on (shape, seed, voxel_size_um, density, radius_range_um), never on ``modality``.

    Args:
        shape: (Z, Y, X), 3 integers >= 8.
        seed: integer seed of ``np.random.default_rng``; the geometry and the rendering use two
            independent streams spawned from it.
        modality: one of :data:`MODALITIES`.
        voxel_size_um: scalar or (Z, Y, X) [µm]; anisotropic grids sample the same round tubes.
        density: scale of the target vessel volume fraction (density × 4 %), in (0, 4]. The
            resulting mask fraction is typically 2–6 % at density 1 (overlaps and redrawn
            structures make it differ from the target).
        radius_range_um: (min, max) vessel radius [µm]; default (2, 10): capillaries to small
            arterioles/venules. Radii below ~half a voxel give broken masks (sub-voxel vessels).
        return_info: also return the network and rendering parameters.

    Returns:
        ``(image, mask)`` or ``(image, mask, info)``: image float32 (Z, Y, X) in [0, 1]; mask
        uint8 (Z, Y, X) in {0, 1}; info a dict with ``segments`` (``p0_um``, ``p1_um`` (N, 3),
        ``r0_um``, ``r1_um`` (N,), ``branch`` (N,); the segments of a branch are contiguous and
        in order), ``bifurcations`` (``position_um`` (M, 3), ``parent_branch`` (M,),
        ``child_branches`` (M, 2), ``parent_radius_um`` (M,), ``child_radius_um`` (M, 2)),
        ``anastomoses``, ``branch_parent`` and ``branch_structure`` (per branch, −1 = root),
        ``structure_kind``, ``n_trees``, ``n_internal``, ``volume_fraction`` (of the mask),
        ``target_volume_fraction``, ``voxel_size_um``, ``radius_range_um``, ``density``,
        ``modality``, ``seed`` and ``render`` (the drawn rendering parameters).

    Raises:
        ValueError: bad shape, seed, modality, voxel size, density or radius range.

    Example:
        >>> image, mask, info = vessel_phantom((16, 32, 32), seed=0, modality="hrem",
        ...                                    return_info=True)
        >>> bool(0.0 <= image.min() and image.max() <= 1.0), sorted(set(mask.ravel().tolist()))
        (True, [0, 1])
        >>> bool(image[mask == 1].mean() > image[mask == 0].mean())
        True
    """
    fn = "vessel_phantom"
    shape = _check_shape(fn, shape)
    seed = _checks.seed(fn, seed)
    modality = _checks.choice(fn, "modality", modality, MODALITIES)
    vs = _check_voxel_size(fn, voxel_size_um)
    density = _check_density(fn, density)
    r_min, r_max = _check_radius_range(fn, radius_range_um)

    geo_ss, render_ss = np.random.SeedSequence(seed).spawn(2)
    extent = (np.asarray(shape) - 1) * vs
    net = _Network(extent, r_min, r_max, 0.5 * float(vs.min()), np.random.default_rng(geo_ss))
    volume_um3 = float(np.prod(np.asarray(shape) * vs))
    target = BASE_VOLUME_FRACTION * density * volume_um3
    net.build(target)
    info = _network_info(net)
    seg = info["segments"]

    margin = float(vs.max())
    mask, sd, idx = _rasterise(shape, seg["p0_um"], seg["p1_um"], seg["r0_um"], seg["r1_um"], vs,
                               margin_um=margin, fields=True)
    rng = np.random.default_rng(render_ss)
    # vessel-to-vessel brightness: per structure (artery / vein / capillary bed), per branch
    n_struct = max(len(info["structure_kind"]), 1)
    s_bright = np.clip(rng.lognormal(0.0, 0.3, n_struct), 0.5, 1.6)
    b_bright = s_bright[info["branch_structure"]] * rng.uniform(0.85, 1.15,
                                                                len(info["branch_structure"]))
    seg_bright = np.append(b_bright[seg["branch"]], 0.0).astype(np.float32)   # [-1] -> 0
    bright = seg_bright[idx]
    occ = np.clip(0.5 + sd / float(vs.mean()), 0.0, 1.0).astype(np.float32)
    image, render = _RENDER[modality](occ, sd, bright, vs, rng)
    mask_u8 = mask.astype(np.uint8)
    if not return_info:
        return image, mask_u8
    info.update({"volume_fraction": float(mask.mean()), "target_volume_fraction": target / volume_um3,
                 "voxel_size_um": tuple(float(v) for v in vs), "radius_range_um": (r_min, r_max),
                 "density": density, "modality": modality, "seed": seed,
                 "render": {k: (float(v) if isinstance(v, float) else v) for k, v in render.items()}})
    return image, mask_u8, info


def random_modality_phantoms(n: int, shape: Sequence[int] = (64, 64, 64), seed: int = 0,
                             modalities: Sequence[str] = MODALITIES, *, vary_scale: bool = True,
                             density_range: tuple[float, float] = (0.6, 1.5),
                             ) -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
    """Mixed-modality phantoms for pre-training a vessel foundation model (tUbe net's recipe of
    a varied catalogue over a large one).

    Modalities are drawn in shuffled rounds (each round uses every modality once), so any n
    consecutive items are balanced to within one per modality. With ``vary_scale`` the voxel
    size is drawn per item from a range typical of the modality (two-photon: lateral 0.6–1.5 µm,
    axial 1–3× that; CT: isotropic 1–2 µm; HREM: lateral 0.8–1.5 µm, axial 1–2 µm; light sheet:
    lateral 0.8–2 µm, axial 1.5–2.5 µm), otherwise 1 µm; the density is drawn uniformly from
    ``density_range``. Items are generated lazily.

    Args:
        n: number of phantoms, >= 0.
        shape: (Z, Y, X) of each phantom, 3 integers >= 8.
        seed: integer seed; the same seed gives the same sequence.
        modalities: non-empty subset of :data:`MODALITIES`.
        vary_scale: draw a modality-typical voxel size per item.
        density_range: (min, max) of the density, within (0, 4].

    Returns:
        Iterator of ``(image float32 (Z, Y, X), mask uint8 (Z, Y, X), modality)``.

    Raises:
        ValueError: bad n, shape, seed, modalities or density range (raised at the call, before
            any item is made).

    Example:
        >>> items = list(random_modality_phantoms(2, (8, 16, 16), seed=3, modalities=("ct", "hrem")))
        >>> sorted(m for _, _, m in items)
        ['ct', 'hrem']
    """
    fn = "random_modality_phantoms"
    n = _checks.non_negative_int(fn, "n", n)
    shape = _check_shape(fn, shape)
    seed = _checks.seed(fn, seed)
    mods = tuple(modalities) if isinstance(modalities, (tuple, list)) else ()
    if not mods or any(m not in MODALITIES for m in mods):
        _checks.fail(fn, "modalities", "a non-empty sequence of " + ", ".join(map(repr, MODALITIES)),
                     repr(modalities))
    try:
        d_lo, d_hi = density_range
        d_lo, d_hi = _check_density(fn, d_lo), _check_density(fn, d_hi)
        ok = d_lo <= d_hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        _checks.fail(fn, "density_range", f"(min, max) with 0 < min <= max <= {MAX_DENSITY:g}",
                     repr(density_range))

    def items():
        rng = np.random.default_rng(seed)
        queue: list[str] = []
        for _ in range(n):
            if not queue:
                queue = [mods[i] for i in rng.permutation(len(mods))]
            m = queue.pop()
            vs: float | tuple[float, float, float] = 1.0
            if vary_scale:
                if m == "twophoton":
                    lat = rng.uniform(0.6, 1.5)
                    vs = (lat * rng.uniform(1.0, 3.0), lat, lat)
                elif m == "ct":
                    vs = rng.uniform(1.0, 2.0)
                elif m == "hrem":
                    lat = rng.uniform(0.8, 1.5)
                    vs = (rng.uniform(1.0, 2.0), lat, lat)
                else:
                    lat = rng.uniform(0.8, 2.0)
                    vs = (rng.uniform(1.5, 2.5), lat, lat)
            density = float(rng.uniform(d_lo, d_hi))
            item_seed = int(rng.integers(0, 2 ** 62))
            image, mask = vessel_phantom(shape, item_seed, m, voxel_size_um=vs, density=density)
            yield image, mask, m

    return items()
