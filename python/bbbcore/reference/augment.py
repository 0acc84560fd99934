"""NumPy float64 oracle of ``bbbcore::augment_resample`` (fused spatial chain + epilogue).

Executes a compiled :class:`bbbcore.augment._program.Program` exactly as
``csrc/include/bbbcore/augment/resample.h`` does, vectorised over the output voxels, in float64:
stages output → input (affine, cubic B-spline elastic displacement, kept-plane branches, grid
dropout), a trilinear gather (image) / nearest gather (mask) through the virtual-axis tables with
the border rule, then the epilogue (noise from the same Philox4x32-10 stream, gamma, dropout fills)
in chain order. Readable, slow; never imported by the fast path.
"""
from __future__ import annotations

import numpy as np

from bbbcore.reference.philox import philox4x32_ref

BORDERS = ("constant", "nearest", "reflect")
ROUND_UP = 0.5 + 2.0**-10   # nearest voxel: ties (and 2^-10 below them) round up, as resample.h


def bspline3_weights_ref(t: np.ndarray) -> np.ndarray:
    """Uniform cubic B-spline basis, shape (4, *t.shape)."""
    u = 1.0 - t
    return np.stack([u**3 / 6, (3 * t**3 - 6 * t**2 + 4) / 6, (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6,
                     t**3 / 6])


def elastic_displacement_ref(ctrl: np.ndarray, scale, p: np.ndarray) -> np.ndarray:
    """Displacement (3, N) at points p (3, N): tensor-product cubic B-spline of ``ctrl``
    (3, gz, gy, gx), grid coordinate ``u_a = scale_a·p_a`` clamped to [0, g_a − 1], control
    indices clamped to the grid."""
    g = ctrl.shape[1:]
    W, I = [], []
    for a in range(3):
        u = np.clip(scale[a] * p[a], 0.0, g[a] - 1)
        fl = np.floor(u)
        W.append(bspline3_weights_ref(u - fl))
        I.append(np.clip(fl.astype(np.int64)[None, :] + np.arange(-1, 3)[:, None], 0, g[a] - 1))
    d = np.zeros_like(p)
    for kx in range(4):                          # separably: z, then y, then x (as resample.h)
        col = np.zeros_like(p)
        for ky in range(4):
            a = np.zeros_like(p)
            for kz in range(4):
                a += W[0][kz] * ctrl[:, I[0][kz], I[1][ky], I[2][kx]]
            col += W[1][ky] * a
        d += W[2][kx] * col
    return d


def _table_ext(tab: np.ndarray, k: np.ndarray) -> np.ndarray:
    n = tab.size
    kc = np.clip(k, 0, n - 1)
    return np.where(k < 0, tab[0] + k, np.where(k >= n, tab[-1] + (k - n + 1), tab[kc])).astype(np.float64)


def _clamp_coord(u, n):
    return np.clip(u, -4.0, n + 3.0)


def _reflect(u, n):
    if n <= 1:
        return np.zeros_like(u)
    period = 2.0 * n
    t = np.mod(np.clip(u, -2.0**22, 2.0**22) + 0.5, period)
    t = np.where(t > n, period - t, t) - 0.5
    return np.clip(t, 0.0, n - 1)


def _linear_taps(u, n, tab, border):
    if border == "reflect":
        u = _reflect(u, n)
    u = _clamp_coord(u, n)
    fl = np.floor(u)
    w1 = u - fl
    j0 = fl.astype(np.int64)
    j1 = j0 + 1
    j0, j1 = np.clip(j0, 0, n - 1), np.clip(j1, 0, n - 1)
    if border == "constant":                  # outside the extent [-0.5, n - 0.5]: fill
        out = (u < -0.5) | (u > n - 0.5)
        j0 = np.where(out, -1, j0)
        j1 = np.where(out, -1, j1)
    if tab is not None:
        j0 = np.where(j0 >= 0, tab[np.maximum(j0, 0)], -1)
        j1 = np.where(j1 >= 0, tab[np.maximum(j1, 0)], -1)
    return (j0, j1), (1.0 - w1, w1)


def _nearest_tap(u, n, tab, border):
    if border == "reflect":
        u = _reflect(u, n)
    u = _clamp_coord(u, n)
    j = np.floor(u + ROUND_UP).astype(np.int64)
    if border == "constant":
        j = np.where((j >= 0) & (j < n), j, -1)
    else:
        j = np.clip(j, 0, n - 1)
    if tab is not None:
        j = np.where(j >= 0, tab[np.maximum(j, 0)], -1)
    return j


def _dropout_hole(unit, hole, offset, p):
    out = np.ones(p.shape[1], bool)
    for a in range(3):
        i = np.floor(np.clip(p[a], -2.0**20, 2.0**20) + ROUND_UP).astype(np.int64)
        out &= np.mod(i - offset[a], unit[a]) < hole[a]
    return out


def augment_normal_ref(seed: int, b: int, op: int, c: int, n: int) -> np.ndarray:
    """Standard normals of voxels 0..n-1: voxels 4j..4j+3 take the Box–Muller normals of words
    (0, 1) and (2, 3) of the Philox block at counter (j, channel, (sample << 8) | op), key = seed
    (as ``augment_normal4`` in resample.h)."""
    stream = (b << 8) | op
    nb = (n + 3) // 4
    ctr = np.zeros((nb, 4), np.uint32)
    ctr[:, 0] = np.arange(nb, dtype=np.uint32)
    ctr[:, 1] = c
    ctr[:, 2] = stream & 0xFFFFFFFF
    ctr[:, 3] = stream >> 32
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], np.uint32)
    w = philox4x32_ref(ctr, np.broadcast_to(key, (nb, 2)))
    z = np.empty((nb, 4))
    for i, (a, bw) in enumerate(((0, 1), (2, 3))):
        u1 = ((w[:, a] >> 8).astype(np.float64) + 1.0) * 2.0**-24
        u2 = (w[:, bw] >> 8).astype(np.float64) * 2.0**-24
        r = np.sqrt(-2.0 * np.log(u1))
        z[:, 2 * i] = r * np.cos(2.0 * np.pi * u2)
        z[:, 2 * i + 1] = r * np.sin(2.0 * np.pi * u2)
    return z.reshape(-1)[:n]


def _gamma(v, g, lo, hi):
    r = hi - lo
    if not r > 0 or g == 1.0:
        return v
    t = (v - lo) / r
    a = np.abs(t)
    gt = np.where(a > 1e-30, np.power(np.maximum(a, 1e-300), g), 0.0)
    return lo + np.sign(t) * gt * r


def augment_ref(image: np.ndarray, program, *, mask: np.ndarray | None = None, border: str = "constant",
                fill: float = 0.0, mask_fill: float = 0.0, seed: int = 0, sample: int = 0,
                stats: np.ndarray | None = None):
    """One sample: image (C, Z, Y, X), mask (Cm, Z, Y, X) or None → (image float64 (C, *out),
    mask (Cm, *out) or None). ``sample`` is the sample's index in its batch (the noise stream);
    ``stats`` (C, 2) the (lo, hi) per channel (default: min and max of ``image``)."""
    img = np.asarray(image, dtype=np.float64)
    C = img.shape[0]
    Zo, Yo, Xo = program.out_shape
    nv = program.virtual_shape
    tabs = program.final_tables
    zz, yy, xx = np.meshgrid(np.arange(Zo), np.arange(Yo), np.arange(Xo), indexing="ij")
    p0 = np.stack([zz.ravel(), yy.ravel(), xx.ravel()]).astype(np.float64)
    N = p0.shape[1]
    n_branch = program.n_branch
    acc = np.zeros((C, N))
    H = np.zeros((4, N))
    best_w = np.full(N, -1.0)
    best_p = np.zeros((3, N))
    best_holes = np.zeros(N, np.int64)
    for combo in range(1 << n_branch):
        p = p0.copy()
        w = np.ones(N)
        holes = np.zeros(N, np.int64)
        nearest = np.ones(N, bool)            # every kept-plane choice is the nearest one
        bi = 0
        for s in program.stages:
            if s[0] == "affine":
                M = s[1]
                p = M[:, :3] @ p + M[:, 3:4]
            elif s[0] == "elastic":
                p = p + elastic_displacement_ref(s[1], s[2], p)
            elif s[0] == "axismap":
                a, T = s[1], np.asarray(s[2])
                u = _clamp_coord(p[a], T.size)
                fl = np.floor(u)
                f = u - fl
                bit = (combo >> bi) & 1
                bi += 1
                nearest &= (f + ROUND_UP >= 1.0) == bool(bit)
                w = w * (f if bit else 1.0 - f)
                p = p.copy()
                p[a] = _table_ext(T, fl.astype(np.int64) + bit)
            elif s[0] == "dropout":
                _, unit, hole, offset, k = s
                holes |= _dropout_hole(unit, hole, offset, p).astype(np.int64) << k
        live = w > 0
        for k in range(4):
            H[k] += np.where(live & ((holes >> k) & 1).astype(bool), w, 0.0)
        better = live & nearest
        best_w = np.where(better, w, best_w)
        best_p = np.where(better[None], p, best_p)
        best_holes = np.where(better, holes, best_holes)
        taps = [_linear_taps(p[a], nv[a], tabs[a], border) for a in range(3)]
        val = np.zeros((C, N))
        for kz in range(2):
            for ky in range(2):
                for kx in range(2):
                    iz, iy, ix = taps[0][0][kz], taps[1][0][ky], taps[2][0][kx]
                    wt = taps[0][1][kz] * taps[1][1][ky] * taps[2][1][kx]
                    ok = (iz >= 0) & (iy >= 0) & (ix >= 0)
                    v = img[:, np.maximum(iz, 0), np.maximum(iy, 0), np.maximum(ix, 0)]
                    val += wt * np.where(ok[None], v, fill)
        acc += np.where(live[None], w * val, 0.0)
    if stats is None:
        stats = np.stack([img.reshape(C, -1).min(1), img.reshape(C, -1).max(1)], 1) if img.size else \
            np.zeros((C, 2))
    out = acc
    for c in range(C):
        lo, hi = float(stats[c, 0]), float(stats[c, 1])
        v = out[c]
        for e_i, e in enumerate(program.epilogue):
            if e[0] == "noise":
                scale = (hi - lo) if e[3] else 1.0
                v = v + (e[2] * scale + e[1] * scale * augment_normal_ref(seed, sample, e_i, c, N))
            elif e[0] == "gamma":
                v = _gamma(v, e[1], lo, hi)
            elif e[0] == "fill":
                h = H[e[1]]
                v = np.where(h > 0, (1.0 - h) * v + h * e[2], v)
        out[c] = v
    out = out.reshape(C, Zo, Yo, Xo)
    if mask is None:
        return out, None
    m = np.asarray(mask)
    Cm = m.shape[0]
    iz, iy, ix = (_nearest_tap(best_p[a], nv[a], tabs[a], border) for a in range(3))
    ok = (best_w > 0) & (iz >= 0) & (iy >= 0) & (ix >= 0)
    mo = np.where(ok[None], m[:, np.maximum(iz, 0), np.maximum(iy, 0), np.maximum(ix, 0)],
                  np.asarray(mask_fill).astype(m.dtype))
    for e in program.epilogue:
        if e[0] == "fill" and e[3] is not None:
            hit = ((best_holes >> e[1]) & 1).astype(bool)
            mo = np.where(hit[None], np.asarray(e[3]).astype(m.dtype), mo)
    return out, mo.reshape(Cm, Zo, Yo, Xo).astype(m.dtype)
