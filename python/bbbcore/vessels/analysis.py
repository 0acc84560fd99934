"""Vessel morphometry from a binary vessel mask: centreline, radius, length and branching graph.

What is measured (the analysis of the tUbe net paper, Fig. 6d: "skeletonised vasculature, colour coded
by vessel radius"):

1. **Centreline.** The mask is thinned to a one-voxel-wide curve skeleton that keeps its topology
   (components, loops, cavities). 3D masks use our own implementation of the directional
   thinning of Lee, Kashyap & Chu (1994) -- the algorithm behind ``skimage.morphology.skeletonize``
   for 3D input -- with an exact simple-point test (one 26-connected object component and one
   6-connected background component in the neighbourhood, Bertrand & Malandain 1994). We do not
   call scikit-image's 3D routine because in scikit-image 0.26 it deletes two-voxel-wide structures
   outright (scikit-image issue #3757, open since 2019): a 2x2 bar, or any tube whose thinning
   passes through such a bar (about a quarter of the straight digital cylinders we tried, every
   one centred between voxels), vanishes with its whole terminal branch. 2D masks use
   ``skimage.morphology.skeletonize`` (Zhang's method, unaffected).
2. **Radius** at each centreline voxel, from the Euclidean distance transform (EDT, anisotropic
   voxel size) of the mask with two sub-voxel corrections (skan measures no thickness; SCIENCE.md).
   The raw EDT reads low (about -0.4 voxel on random cylinders) because the centreline voxel lies
   off the true axis; see :func:`centreline_radius` for the derivation and the accuracy measured.
3. **Graph.** The centreline is parsed by skan (``skan.Skeleton`` with the voxel size as spacing,
   ``skan.summarize``) into segments between junctions and end points; adjacent junction voxels
   are merged into one branch point. Lengths are sums of voxel-to-voxel steps in µm.

Pitfalls handled: skimage's vanishing branches (above); junction clusters counted once; empty
masks and masks of isolated specks (skan raises on a skeleton without edges) give zeros and empty
tables; the image border is not treated as background for the radius (a vessel cut by the border
keeps its radius), but a vessel that leaves the volume still ends there, so its centreline stops
up to about one radius short of the border.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from bbbcore import _checks

# --------------------------------------------------------------------------------------------
# shared argument helpers (also used by bbbcore.vessels.metrics)
# --------------------------------------------------------------------------------------------


def _array(fn: str, arg: str, x, spatial: bool = True) -> np.ndarray:
    """Array-like (NumPy, torch, zarr, lists) → NumPy array (2 or 3 dimensions if ``spatial``)."""
    if x is None:
        _checks.fail(fn, arg, "an array", "None")
    try:
        a = _checks.to_numpy(x)
    except (TypeError, ValueError) as e:  # pragma: no cover - exotic inputs
        _checks.fail(fn, arg, "an array-like", f"{type(x).__name__} ({e})")
    if a.dtype == object or not (a.dtype == bool or np.issubdtype(a.dtype, np.number)):
        _checks.fail(fn, arg, "a numeric or boolean array", f"dtype {a.dtype}")
    if spatial and a.ndim not in (2, 3):
        _checks.fail(fn, arg, "a 2D (Y, X) or 3D (Z, Y, X) array", f"shape {tuple(a.shape)}")
    return a


def _binary(fn: str, arg: str, x, spatial: bool = True) -> np.ndarray:
    """Array-like holding only 0/1 (or bool) → bool array; anything else raises."""
    a = _array(fn, arg, x, spatial)
    if a.dtype == bool:
        return a
    if a.size:
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            _checks.fail(fn, arg, "binary (bool or values 0/1)", "non-finite values")
        lo, hi = a.min(), a.max()
        if lo < 0 or hi > 1 or not np.array_equal(a, a.astype(bool)):
            _checks.fail(fn, arg, "binary (bool or values 0/1)",
                         f"values in [{float(lo):g}, {float(hi):g}] (not only 0 and 1)")
    return a.astype(bool)


def _spacing(fn: str, voxel_size_um, ndim: int) -> tuple[float, ...]:
    """Scalar or per-axis (..., Z, Y, X) voxel size → tuple of ``ndim`` positive floats [µm]."""
    if isinstance(voxel_size_um, Real) and not isinstance(voxel_size_um, bool):
        v = _checks.positive(fn, "voxel_size_um", voxel_size_um, "µm")
        return (v,) * ndim
    try:
        vals = [float(v) for v in np.asarray(voxel_size_um, dtype=float).reshape(-1)]
        ok = np.ndim(voxel_size_um) == 1 and len(vals) == ndim
    except (TypeError, ValueError):
        ok, vals = False, []
    if not ok or not all(math.isfinite(v) and v > 0 for v in vals):
        _checks.fail(fn, "voxel_size_um", f"a number > 0 or {ndim} numbers > 0 (one per axis) [µm]",
                     repr(voxel_size_um))
    return tuple(vals)


def _save_figure(fig, path, *, overwrite: bool, fn: str) -> Path:
    """Save a matplotlib Figure to ``path`` atomically (temporary name, then rename).

    The format follows the suffix (PNG when there is none). An existing file is kept unless
    ``overwrite`` is True.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{fn}: {path} exists; pass overwrite=True to replace it")
    if not path.parent.exists():
        raise FileNotFoundError(f"{fn}: directory {path.parent} does not exist")
    fmt = path.suffix[1:].lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        _checks.fail(fn, "path", "a file name ending in one of " + ", ".join(sorted(supported)),
                     repr(str(path)))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        fig.savefig(tmp, format=fmt, dpi=120)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# --------------------------------------------------------------------------------------------
# 3D thinning (Lee et al. 1994 directional scheme, exact simple-point test), numba kernels
# --------------------------------------------------------------------------------------------

def _neighbourhood_tables():
    """Index tables of the 3x3x3 neighbourhood (position k = 9*(dz+1) + 3*(dy+1) + (dx+1))."""
    offs = np.array([(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
                    dtype=np.int64)
    cheb = np.abs(offs[:, None, :] - offs[None, :, :]).max(-1)
    manh = np.abs(offs[:, None, :] - offs[None, :, :]).sum(-1)
    l1 = np.abs(offs).sum(1)
    in18 = (l1 >= 1) & (l1 <= 2)
    adj26 = np.full((27, 26), -1, np.int64)   # 26-neighbours of k inside N26 minus the centre
    adj6 = np.full((27, 6), -1, np.int64)     # 6-neighbours of k inside N18
    for k in range(27):
        if k == 13:
            continue
        js = [j for j in range(27) if j != 13 and cheb[k, j] == 1]
        adj26[k, :len(js)] = js
        if in18[k]:
            js = [j for j in range(27) if in18[j] and manh[k, j] == 1]
            adj6[k, :len(js)] = js
    faces = np.flatnonzero(l1 == 1).astype(np.int64)
    cells26 = np.array([k for k in range(27) if k != 13], np.int64)   # N26 without the centre
    # border directions in the order of Lee et al. / ImageJ Skeletonize3D: W, S, U, E, N, B
    dirs = np.array([(0, -1, 0), (0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, -1), (-1, 0, 0)], np.int64)
    return offs, cells26, adj26, adj6, faces, dirs


def _one_component(nb, obj, starts, adj, seen, stack):  # pragma: no cover - compiled by numba
    """True iff the voxels k in ``starts`` with ``(nb[k] != 0) == obj``, joined through the
    adjacency table ``adj`` (rows padded with -1), form exactly one connected component."""
    for i in range(27):
        seen[i] = 0
    ncomp = 0
    for s in range(starts.shape[0]):
        i = starts[s]
        if (nb[i] != 0) != obj or seen[i] != 0:
            continue
        ncomp += 1
        if ncomp > 1:
            return False
        top = 1
        stack[0] = i
        seen[i] = 1
        while top > 0:
            top -= 1
            k = stack[top]
            for m in range(adj.shape[1]):
                j = adj[k, m]
                if j < 0:
                    break
                if (nb[j] != 0) == obj and seen[j] == 0:
                    seen[j] = 1
                    stack[top] = j
                    top += 1
    return ncomp == 1


def _is_simple(nb, cells26, adj26, adj6, faces, seen, stack):  # pragma: no cover - compiled by numba
    """Simple-point test (26-connected object, 6-connected background).

    The centre voxel is simple iff the object voxels of its 26-neighbourhood form exactly one
    26-connected component and the background voxels of its 18-neighbourhood that are 6-adjacent
    to it form exactly one 6-connected component (Bertrand & Malandain 1994).
    """
    return (_one_component(nb, True, cells26, adj26, seen, stack)
            and _one_component(nb, False, faces, adj6, seen, stack))


def _thin3d(img, offs, cells26, adj26, adj6, faces, dirs):  # pragma: no cover - compiled by numba
    """Thin a zero-padded uint8 volume in place; returns it.

    For each of the six border directions: collect the border voxels (background neighbour in
    that direction) that are simple and not end points (exactly one 26-neighbour), then re-check
    them one by one and delete those still simple and not end points. Repeat until six directions
    in a row delete nothing.
    """
    Z, Y, X = img.shape
    n = 0
    for z in range(1, Z - 1):
        for y in range(1, Y - 1):
            for x in range(1, X - 1):
                if img[z, y, x] != 0:
                    n += 1
    pts = np.empty((n, 3), np.int64)
    n = 0
    for z in range(1, Z - 1):
        for y in range(1, Y - 1):
            for x in range(1, X - 1):
                if img[z, y, x] != 0:
                    pts[n, 0] = z
                    pts[n, 1] = y
                    pts[n, 2] = x
                    n += 1
    cand = np.empty(n, np.int64)
    nb = np.empty(27, np.uint8)
    seen = np.empty(27, np.uint8)
    stack = np.empty(32, np.int64)
    while True:
        unchanged = 0
        for d in range(6):
            dz = dirs[d, 0]
            dy = dirs[d, 1]
            dx = dirs[d, 2]
            nc = 0
            for p in range(n):
                z = pts[p, 0]
                y = pts[p, 1]
                x = pts[p, 2]
                if img[z, y, x] == 0 or img[z + dz, y + dy, x + dx] != 0:
                    continue
                cnt = 0
                for k in range(27):
                    v = img[z + offs[k, 0], y + offs[k, 1], x + offs[k, 2]]
                    nb[k] = v
                    cnt += v
                if cnt <= 2:  # isolated voxel or end point (centre + one neighbour)
                    continue
                if _is_simple(nb, cells26, adj26, adj6, faces, seen, stack):
                    cand[nc] = p
                    nc += 1
            changed = False
            for c in range(nc):
                p = cand[c]
                z = pts[p, 0]
                y = pts[p, 1]
                x = pts[p, 2]
                cnt = 0
                for k in range(27):
                    v = img[z + offs[k, 0], y + offs[k, 1], x + offs[k, 2]]
                    nb[k] = v
                    cnt += v
                if cnt <= 2:
                    continue
                if _is_simple(nb, cells26, adj26, adj6, faces, seen, stack):
                    img[z, y, x] = 0
                    changed = True
            if not changed:
                unchanged += 1
        if unchanged == 6:
            break
        m = 0
        for p in range(n):
            if img[pts[p, 0], pts[p, 1], pts[p, 2]] != 0:
                pts[m, 0] = pts[p, 0]
                pts[m, 1] = pts[p, 1]
                pts[m, 2] = pts[p, 2]
                m += 1
        n = m
    return img


_KERNEL = None
_TABLES = None


def _thin_kernel():
    """Compile the numba kernels on first use (cached on disk), keeping imports light."""
    global _KERNEL, _TABLES, _one_component, _is_simple, _thin3d
    if _KERNEL is None:
        import numba

        _one_component = numba.njit(cache=True, nogil=True)(_one_component)
        _is_simple = numba.njit(cache=True, nogil=True)(_is_simple)
        _thin3d = numba.njit(cache=True, nogil=True)(_thin3d)
        _TABLES = _neighbourhood_tables()
        _KERNEL = _thin3d
    return _KERNEL, _TABLES


def skeletonize(mask) -> np.ndarray:
    """One-voxel-wide centreline of a binary mask, topology preserved.

    3D: directional thinning of Lee et al. (1994) with an exact simple-point test (see the module
    docstring for why scikit-image's 3D routine is not used). 2D: ``skimage.morphology.skeletonize``.
    End points of the thinned curve are kept, so each tube becomes a curve that stops about one
    radius short of its ends; loops and separate components are kept.

    Args:
        mask: binary array-like (bool or 0/1), shape (Y, X) or (Z, Y, X).

    Returns:
        bool ndarray of the mask's shape; ``skeleton <= mask``.

    Raises:
        ValueError: if ``mask`` is not binary or not 2D/3D.

    Example:
        >>> import numpy as np
        >>> m = np.zeros((9, 9, 20), bool); m[2:6, 2:6, 2:18] = True   # 4x4 bar
        >>> sk = skeletonize(m)
        >>> int(sk.sum()) > 0, bool((sk <= m).all())
        (True, True)
    """
    m = _binary("skeletonize", "mask", mask)
    if not m.any():
        return np.zeros(m.shape, bool)
    if m.ndim == 2:
        from skimage.morphology import skeletonize as _sk2d

        return np.asarray(_sk2d(m), dtype=bool)
    kernel, tables = _thin_kernel()
    img = np.pad(m, 1).astype(np.uint8)
    out = kernel(img, *tables)
    return out[1:-1, 1:-1, 1:-1].astype(bool)


# --------------------------------------------------------------------------------------------
# radius
# --------------------------------------------------------------------------------------------

def centreline_radius(edt_um: np.ndarray, coords: np.ndarray, voxel_size_um) -> np.ndarray:
    """Vessel radius [µm] at centreline voxels from the mask's distance transform.

    Model: near the axis of a tube of radius R the EDT (distance from a voxel centre to the nearest
    background voxel centre) is a cone, ``D(x) = R - |x - a|`` with ``a`` the axis point of the
    cross-section. Three steps turn ``D`` at a centreline voxel into R:

    1. *Ridge voxel.* Thinning leaves the centreline up to about a voxel off the EDT ridge (its
       directional passes are not symmetric), so each centreline voxel is first moved to the voxel
       of largest ``D`` in its 3x3(x3) neighbourhood (itself on ties): the voxel nearest the axis,
       at most half a voxel off it along each axis.
    2. *Sub-voxel offset.* With δ the axis offset from that voxel, ``D(x) = R - |δ|`` and
       ``D(x ± s_i e_i) = R - |δ ∓ s_i e_i|``, hence
       ``(R - D(x - s_i e_i))² - (R - D(x + s_i e_i))² = 4 s_i δ_i``. We solve for δ and R by
       fixed-point iteration from R = D(x), clamping |δ_i| to s_i/2 (step 1) and setting δ_i = 0
       where a neighbour lies outside the mask (D = 0) or the array (no cone there); then
       ``R_apex = D(x) + |δ|``.
    3. *Lattice gap.* ``D`` measures to the nearest background voxel *centre*, which lies beyond
       the surface. Squared distances between voxel centres are multiples of s² (isotropic voxels),
       so the surface lies between the last object centre (at most ``R_apex² - s²``) and the first
       background centre (``R_apex²``); we take the middle: ``R = sqrt(R_apex² - s_min²/2)``.

    Accuracy (digital cylinders = voxels whose centres lie within r of an axis at a random
    sub-voxel offset and tilt up to 11°, r = 2-8 µm, 288 cylinders with voxel sizes 1, (2,1,1),
    (1.5,.7,.7), (3,1,1), (1,1,2), (1,.5,.5) µm; mean over the centreline away from the ends):
    mean error +0.03 µm, r.m.s. 0.26 µm; every isotropic cylinder of r = 3 and 5 voxels within
    ±0.5 voxel (worst 0.46). The raw EDT at the centreline voxel reads -0.39 µm on average and up
    to 2 µm low.
    Accuracy is bounded by the coarsest voxel side (errors up to about half of it for axial voxels
    3x the lateral size); radii below ~1.5 voxels are coarse (a one-voxel line reads 0.71 voxel).
    Near junctions the radius reads the larger inscribed sphere of the junction.

    Args:
        edt_um: float array, the EDT of the mask computed with ``sampling=voxel_size_um`` [µm].
        coords: int array (N, ndim), centreline voxel indices.
        voxel_size_um: scalar or per-axis voxel size [µm].

    Returns:
        float64 array (N,), radius per centreline voxel [µm].

    Example:
        >>> import numpy as np
        >>> from scipy import ndimage as ndi
        >>> zz, yy = np.mgrid[:15, :15]
        >>> disc = (zz - 7) ** 2 + (yy - 7) ** 2 <= 25                  # radius 5 voxels
        >>> m = np.repeat(disc[:, :, None], 30, axis=2)                 # cylinder along x
        >>> r = centreline_radius(ndi.distance_transform_edt(m), np.array([[7, 8, 15]]), 1.0)
        >>> abs(float(r[0]) - 5.0) < 0.5                                # from a voxel off the axis
        True
    """
    edt = np.asarray(edt_um, dtype=np.float64)
    idx = np.asarray(coords, dtype=np.int64).reshape(-1, edt.ndim)
    sp = np.asarray(_spacing("centreline_radius", voxel_size_um, edt.ndim), dtype=np.float64)
    if idx.shape[0] == 0:
        return np.zeros(0, np.float64)
    shape = np.asarray(edt.shape)
    # 1. move to the ridge: largest EDT in the 3^n neighbourhood, nearest offsets first
    offs = np.stack(np.meshgrid(*[np.arange(-1, 2)] * edt.ndim, indexing="ij"), -1).reshape(-1, edt.ndim)
    offs = offs[np.argsort(((offs * sp) ** 2).sum(1), kind="stable")]
    best = idx.copy()
    f0 = edt[tuple(idx.T)].copy()
    for o in offs[1:]:
        c = idx + o
        ok = np.all((c >= 0) & (c < shape), axis=1)
        c[~ok] = idx[~ok]
        v = edt[tuple(c.T)]
        up = v > f0
        best[up] = c[up]
        f0[up] = v[up]
    idx = best
    # 2. sub-voxel apex of the EDT cone
    fp, fm, use = [], [], []
    for i in range(edt.ndim):
        ip, im = idx.copy(), idx.copy()
        ip[:, i] += 1
        im[:, i] -= 1
        inside = (ip[:, i] < edt.shape[i]) & (im[:, i] >= 0)
        ip[~inside, i] = idx[~inside, i]
        im[~inside, i] = idx[~inside, i]
        a, b = edt[tuple(ip.T)], edt[tuple(im.T)]
        fp.append(a)
        fm.append(b)
        use.append(inside & (a > 0) & (b > 0))
    r = f0.copy()
    for _ in range(200):
        delta2 = np.zeros_like(f0)
        for i in range(edt.ndim):
            d = ((r - fm[i]) ** 2 - (r - fp[i]) ** 2) / (4.0 * sp[i])
            d = np.where(use[i], np.clip(d, -0.5 * sp[i], 0.5 * sp[i]), 0.0)
            delta2 += d * d
        r_new = f0 + np.sqrt(delta2)
        done = np.max(np.abs(r_new - r)) < 1e-9
        r = r_new
        if done:
            break
    # 3. half a lattice step in squared distance
    return np.sqrt(np.maximum(r * r - 0.5 * sp.min() ** 2, 0.0))


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------

@dataclass
class VesselStats:
    """Morphometry of a vessel mask (see :func:`vessel_stats`).

    Attributes:
        skeleton: bool array, mask shape; the centreline (after pruning).
        radius_um: float64 (N,), radius at each centreline voxel [µm], in C order of the voxels,
            i.e. ``radius_um[i]`` belongs to ``np.argwhere(skeleton)[i]``.
        radius_histogram: (counts int64 (bins,), edges float64 (bins+1,) [µm]) of ``radius_um``.
        total_length_um: summed length of all skan branches [µm]: voxel-to-voxel steps, exact along
            the axes and diagonals, up to ~8% long in between (a staircase); tips stop about one
            radius short of a vessel's end.
        n_branch_points: junctions (clusters of adjacent voxels with >= 3 neighbours count once).
        n_end_points: centreline voxels with exactly one neighbour.
        n_segments: branches between junctions/end points (links inside a junction excluded).
        segments: ``skan.summarize(..., separator="_")`` table (``branch_distance`` in µm), plus
            ``mean_radius_um``, ``in_junction`` (link between voxels of one junction), and
            ``node_src``/``node_dst`` (node ids of :attr:`graph`).
        graph: ``networkx.MultiGraph`` (a Graph subclass keeping parallel vessels and loops):
            nodes are branch points and end points (attributes ``kind``, ``coord_um``), edges the
            segments (``length_um``, ``mean_radius_um``, ``segment`` = row of :attr:`segments`).
        volume_fraction: vessel voxels / all voxels.
        mean_radius_um: mean of ``radius_um`` (NaN for an empty centreline) [µm].
        voxel_size_um: per-axis voxel size [µm].
        prune_um: terminal branches shorter than this were removed [µm].
    """

    skeleton: np.ndarray
    radius_um: np.ndarray
    radius_histogram: tuple[np.ndarray, np.ndarray]
    total_length_um: float
    n_branch_points: int
    n_end_points: int
    n_segments: int
    segments: Any
    graph: Any
    volume_fraction: float
    mean_radius_um: float
    voxel_size_um: tuple[float, ...]
    prune_um: float = 0.0
    n_vessel_voxels: int = field(default=0)

    def radius_image(self) -> np.ndarray:
        """Float64 array of the mask's shape: radius [µm] on the centreline, 0 elsewhere."""
        out = np.zeros(self.skeleton.shape, np.float64)
        out[self.skeleton] = self.radius_um
        return out

    def to_dict(self) -> dict:
        """JSON-able summary: scalars, the radius histogram and the voxel size (NaN → None)."""
        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        counts, edges = self.radius_histogram
        return {
            "voxel_size_um": [float(v) for v in self.voxel_size_um],
            "prune_um": float(self.prune_um),
            "n_vessel_voxels": int(self.n_vessel_voxels),
            "volume_fraction": num(self.volume_fraction),
            "n_skeleton_voxels": int(self.skeleton.sum()),
            "total_length_um": num(self.total_length_um),
            "n_branch_points": int(self.n_branch_points),
            "n_end_points": int(self.n_end_points),
            "n_segments": int(self.n_segments),
            "mean_radius_um": num(self.mean_radius_um),
            "radius_histogram": {"counts": [int(c) for c in counts],
                                 "edges_um": [float(e) for e in edges]},
        }


def _segment_columns(ndim: int) -> list[str]:
    cols = ["skeleton_id", "node_id_src", "node_id_dst", "branch_distance", "branch_type",
            "mean_pixel_value", "stdev_pixel_value"]
    for pre in ("image_coord_src", "image_coord_dst", "coord_src", "coord_dst"):
        cols += [f"{pre}_{i}" for i in range(ndim)]
    return cols + ["euclidean_distance", "mean_radius_um", "in_junction", "node_src", "node_dst"]


def _has_edges(skel: np.ndarray) -> bool:
    """Whether any two centreline voxels touch (skan raises on a skeleton without edges)."""
    nbrs = ndi.convolve(skel.astype(np.uint8), np.ones((3,) * skel.ndim, np.uint8), mode="constant")
    return bool((nbrs[skel] > 1).any())


def _parse(skel: np.ndarray, spacing: tuple[float, ...]):
    """skan parse of a centreline: (Skeleton, summary table, junction cluster per pixel)."""
    import skan
    from scipy.sparse import csgraph

    sk = skan.Skeleton(skel, spacing=np.asarray(spacing))
    with warnings.catch_warnings():  # skan 0.13 uses DataFrame.rename(inplace=True), deprecated
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        df = skan.summarize(sk, separator="_")
    deg = np.asarray(sk.degrees)
    junction = deg >= 3
    cluster = np.full(deg.shape[0], -1, np.int64)
    jidx = np.flatnonzero(junction)
    if jidx.size:
        sub = sk.graph[jidx][:, jidx]
        _, lab = csgraph.connected_components(sub, directed=False)
        cluster[jidx] = lab
    return sk, df, deg, cluster


def vessel_stats(mask, voxel_size_um=1.0, *, bins: int = 20, prune_um: float = 0.0) -> VesselStats:
    """Centreline, radius distribution, length and branching graph of a binary vessel mask.

    Steps: thin the mask to its centreline (:func:`skeletonize`); optionally remove terminal
    branches (end point to junction) shorter than ``prune_um`` (one pass; spurs from surface
    bumps), then re-thin; radius at each centreline voxel from the anisotropic EDT with the
    sub-voxel corrections of :func:`centreline_radius`; parse the centreline with skan into
    segments; merge adjacent junction voxels into one branch point and build the graph.

    Args:
        mask: binary array-like (bool or 0/1; NumPy, torch, zarr), shape (Z, Y, X) or (Y, X).
        voxel_size_um: voxel size, a number or one per axis in (Z, Y, X) order [µm].
        bins: number of bins of the radius histogram (from 0 to the largest radius).
        prune_um: remove terminal branches shorter than this [µm]; 0 keeps all.

    Returns:
        :class:`VesselStats`. An empty mask gives an empty centreline, zero counts and length,
        empty tables and graph, ``mean_radius_um`` NaN and a histogram of zeros.

    Raises:
        ValueError: if ``mask`` is not binary or not 2D/3D, ``voxel_size_um`` is not positive
            (or has the wrong length), ``bins`` < 1 or ``prune_um`` < 0.

    Example:
        >>> import numpy as np
        >>> zz, yy = np.mgrid[:15, :15]
        >>> disc = (zz - 7) ** 2 + (yy - 7) ** 2 <= 9                   # radius 3 voxels
        >>> m = np.repeat(disc[:, :, None], 40, axis=2)                 # tube along x, 40 voxels
        >>> s = vessel_stats(m, voxel_size_um=0.5)
        >>> s.n_segments, s.n_branch_points, s.n_end_points
        (1, 0, 2)
        >>> abs(s.mean_radius_um - 1.5) < 0.25                          # 3 voxels x 0.5 µm
        True
    """
    fn = "vessel_stats"
    m = _binary(fn, "mask", mask)
    spacing = _spacing(fn, voxel_size_um, m.ndim)
    bins = _checks.positive_int(fn, "bins", bins)
    prune_um = _checks.non_negative(fn, "prune_um", prune_um, "µm")
    import networkx as nx
    import pandas as pd

    skel = skeletonize(m)
    parsed = _parse(skel, spacing) if _has_edges(skel) else None
    if parsed is not None and prune_um > 0:
        sk, df, deg, cluster = parsed
        short = np.flatnonzero((df["branch_type"].to_numpy() == 1)
                               & (df["branch_distance"].to_numpy() < prune_um))
        if short.size:
            pruned = skel.copy()
            for i in short:
                pix = np.asarray(sk.path(int(i)))
                pix = pix[deg[pix] < 3]
                pruned[tuple(np.round(sk.coordinates[pix]).astype(np.int64).T)] = False
            skel = skeletonize(pruned)  # drops junction voxels left redundant
            parsed = _parse(skel, spacing) if _has_edges(skel) else None

    coords = np.argwhere(skel)
    if coords.shape[0]:
        edt = ndi.distance_transform_edt(m, sampling=spacing)
        radius = centreline_radius(edt, coords, spacing)
    else:
        radius = np.zeros(0, np.float64)
    hi = float(radius.max()) if radius.size else 1.0
    counts, edges = np.histogram(radius, bins=bins, range=(0.0, hi if hi > 0 else 1.0))
    graph = nx.MultiGraph()
    cols = _segment_columns(m.ndim)
    if parsed is None:
        segments = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
        total_length = 0.0
        n_branch = 0
        n_end = 0
        n_seg = 0
    else:
        sk, df, deg, cluster = parsed
        pix_coords = np.round(sk.coordinates).astype(np.int64)
        rimg = np.zeros(m.shape, np.float64)
        rimg[tuple(coords.T)] = radius
        r_pix = rimg[tuple(pix_coords.T)]
        # path k = pixel ids sk.paths.indices[indptr[k]:indptr[k+1]] (skan's column count is not N)
        ind, ptr = sk.paths.indices, sk.paths.indptr
        nnz = np.diff(ptr)
        df["mean_radius_um"] = np.add.reduceat(r_pix[ind], ptr[:-1]) / nnz
        min_deg = np.minimum.reduceat(deg[ind], ptr[:-1])
        df["in_junction"] = min_deg >= 3
        # graph nodes: junction clusters first, then every other path end pixel
        n_clusters = int(cluster.max()) + 1 if (cluster >= 0).any() else 0
        node_of: dict[int, int] = {}
        ends = np.unique(np.concatenate([df["node_id_src"].to_numpy(), df["node_id_dst"].to_numpy()]))
        for k in range(n_clusters):
            members = np.flatnonzero(cluster == k)
            graph.add_node(k, kind="junction", n_voxels=int(members.size),
                           coord_um=tuple(float(v) for v in
                                          (pix_coords[members].mean(0) * np.asarray(spacing))))
        nxt = n_clusters
        for p in ends:
            p = int(p)
            if cluster[p] >= 0:
                node_of[p] = int(cluster[p])
                continue
            node_of[p] = nxt
            graph.add_node(nxt, kind="end" if deg[p] == 1 else "point", n_voxels=1,
                           coord_um=tuple(float(v) for v in pix_coords[p] * np.asarray(spacing)))
            nxt += 1
        df["node_src"] = [node_of[int(p)] for p in df["node_id_src"]]
        df["node_dst"] = [node_of[int(p)] for p in df["node_id_dst"]]
        for row in df.itertuples():
            if row.in_junction:
                continue
            graph.add_edge(row.node_src, row.node_dst, key=int(row.Index),
                           length_um=float(row.branch_distance),
                           mean_radius_um=float(row.mean_radius_um), segment=int(row.Index))
        segments = df[cols]
        total_length = float(df["branch_distance"].sum())
        n_branch = n_clusters
        n_end = int((deg == 1).sum())
        n_seg = int((~df["in_junction"]).sum())
    n_vox = int(m.sum())
    return VesselStats(
        skeleton=skel, radius_um=radius, radius_histogram=(counts.astype(np.int64), edges),
        total_length_um=total_length, n_branch_points=n_branch, n_end_points=n_end,
        n_segments=n_seg, segments=segments, graph=graph,
        volume_fraction=n_vox / m.size if m.size else 0.0,
        mean_radius_um=float(radius.mean()) if radius.size else float("nan"),
        voxel_size_um=spacing, prune_um=prune_um, n_vessel_voxels=n_vox)


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------

def plot_vessel_stats(stats: VesselStats, path=None, *, overwrite: bool = False):
    """Figure of a :class:`VesselStats`: centreline MIP coloured by radius, histograms, totals.

    Panels: maximum-intensity projection along Z of the radius image (centreline coloured by
    radius, axes in µm; the 2D image itself for 2D masks), radius histogram, segment-length
    histogram (links inside junctions excluded), and a text box of the totals.

    Args:
        stats: result of :func:`vessel_stats`.
        path: optional file to save to (format from the suffix, PNG when none).
        overwrite: replace an existing ``path``.

    Returns:
        ``matplotlib.figure.Figure`` (no pyplot state, no backend needed).

    Raises:
        ValueError: if ``stats`` is not a VesselStats or the suffix is not an image format.
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
        FileNotFoundError: if the directory of ``path`` does not exist.

    Example:
        >>> import numpy as np
        >>> m = np.zeros((9, 9, 30), bool); m[3:6, 3:6, 2:28] = True
        >>> fig = plot_vessel_stats(vessel_stats(m))
        >>> len(fig.axes) >= 4
        True
    """
    if not isinstance(stats, VesselStats):
        _checks.fail("plot_vessel_stats", "stats", "a VesselStats", type(stats).__name__)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8.5), layout="constrained")
    axs = fig.subplots(2, 2)
    rimg = stats.radius_image()
    mip = rimg.max(axis=0) if rimg.ndim == 3 else rimg
    sy, sx = stats.voxel_size_um[-2], stats.voxel_size_um[-1]
    ax = axs[0, 0]
    im = ax.imshow(np.ma.masked_less_equal(mip, 0.0), cmap="viridis", interpolation="nearest",
                   origin="upper", extent=(0, mip.shape[1] * sx, mip.shape[0] * sy, 0))
    ax.set_facecolor("black")
    ax.set_xlabel("x [µm]")
    ax.set_ylabel("y [µm]")
    ax.set_title("centreline MIP, coloured by radius" if rimg.ndim == 3 else "centreline by radius")
    fig.colorbar(im, ax=ax, label="radius [µm]")
    counts, edges = stats.radius_histogram
    ax = axs[0, 1]
    ax.stairs(counts, edges, fill=True)
    ax.set_xlabel("radius [µm]")
    ax.set_ylabel("centreline voxels")
    ax.set_title("radius histogram")
    ax = axs[1, 0]
    seg = stats.segments
    lengths = (seg.loc[~seg["in_junction"].astype(bool), "branch_distance"].to_numpy(float)
               if len(seg) else np.zeros(0))
    ax.hist(lengths, bins=max(1, min(30, lengths.size)))
    ax.set_xlabel("segment length [µm]")
    ax.set_ylabel("segments")
    ax.set_title("segment lengths")
    ax = axs[1, 1]
    ax.axis("off")
    vs = " x ".join(f"{v:g}" for v in stats.voxel_size_um)
    lines = [f"voxel size: {vs} µm", f"volume fraction: {stats.volume_fraction:.4f}",
             f"total length: {stats.total_length_um:.1f} µm",
             f"mean radius: {stats.mean_radius_um:.2f} µm",
             f"segments: {stats.n_segments}", f"branch points: {stats.n_branch_points}",
             f"end points: {stats.n_end_points}", f"pruned below: {stats.prune_um:g} µm"]
    ax.text(0.02, 0.98, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=11,
            transform=ax.transAxes, bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9})
    if path is not None:
        _save_figure(fig, path, overwrite=overwrite, fn="plot_vessel_stats")
    return fig
