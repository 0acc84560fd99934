"""Stages of an augmentation chain, and their compilation into the fused kernel's program.

A chain is a list of stages in the order they act on the image (Compose order). Spatial stages
carry the map from their output voxel-index coordinates to their input ones (voxel centres at
integers, axes (Z, Y, X)); intensity stages act on values. :func:`compile_chain` turns a chain into
a :class:`Program`: the spatial maps in output → input order with consecutive affines multiplied
together and kept-plane tables (drop-plane, from :class:`AxisMap`) pushed through every separable
stage down to the gather, where they become a per-axis "virtual axis" table (so the interpolation
along that axis uses kept planes only); the intensity stages and dropout fills form the epilogue,
in chain order. :func:`pack` lays programs out as the arrays of ``csrc/include/bbbcore/augment/
resample.h``. Both the native kernel and :func:`bbbcore.reference.augment.augment_ref` execute a
:class:`Program`; the reference in float64.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

PROG_LEN = 248           # aug::kProgLen
HEADER, STAGE_LEN, MAX_STAGES, EPI_LEN, MAX_EPI = 16, 20, 10, 4, 8
MAX_BRANCH, MAX_DROPOUT, MAX_CONTROL = 3, 4, 32
K_AFFINE, K_ELASTIC, K_AXISMAP, K_DROPOUT = 1, 2, 3, 4
E_NOISE, E_GAMMA, E_FILL = 1, 2, 3
BORDERS = {"constant": 0, "nearest": 1, "reflect": 2}
_TOL = 1e-9


# --------------------------------------------------------------------------------- stages
@dataclass(frozen=True)
class Affine:
    """``p_in = matrix[:, :3] @ p_out + matrix[:, 3]`` (scipy.ndimage.affine_transform's
    convention), output shape ``out_shape`` (None: the input's)."""

    matrix: np.ndarray                     # (3, 4) float64
    out_shape: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class AxisMap:
    """Output plane ``j`` along ``axis`` is input plane ``table[j]`` (drop-plane, crop);
    between planes the value is interpolated between the two tabulated planes, and the borders
    are those of the tabulated planes (a crop then a resize clamps at the crop's edge, exactly as
    cropping then interpolating)."""

    axis: int
    table: np.ndarray                      # (n_out,) int


@dataclass(frozen=True)
class Elastic:
    """``p_in = p_out + d(p_out)``, ``d`` the uniform cubic B-spline of the control displacements
    ``control`` (3, gz, gy, gx) [input voxels]; control point k of axis a at voxel
    ``k·(n_a − 1)/(g_a − 1)``; coordinates outside the volume take the edge value of the spline."""

    control: np.ndarray


@dataclass(frozen=True)
class GridDropout:
    """Zero (``fill``) the voxels whose nearest index i satisfies ``(i − offset) mod unit < hole``
    on all three axes; masks take ``mask_fill`` there (None: masks keep their labels)."""

    unit: tuple[int, int, int]
    hole: tuple[int, int, int]
    offset: tuple[int, int, int]
    fill: float = 0.0
    mask_fill: float | None = None


@dataclass(frozen=True)
class Noise:
    """``v + mean + std·N(0, 1)`` per voxel (relative: mean and std in units of the channel's
    intensity range hi − lo of the input)."""

    std: float
    mean: float = 0.0
    relative: bool = False


@dataclass(frozen=True)
class Gamma:
    """``lo + (hi − lo)·t^gamma`` with ``t = (v − lo)/(hi − lo)`` (sign-preserving for t < 0),
    lo/hi the channel's intensity range of the input."""

    gamma: float


StageT = Union[Affine, AxisMap, Elastic, GridDropout, Noise, Gamma]


@dataclass
class Program:
    """One sample's compiled chain (float64): spatial stages output → input, epilogue in order."""

    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    stages: list = field(default_factory=list)       # ("affine", M) | ("elastic", ctrl, scale) |
    #                                                  ("axismap", axis, table) | ("dropout", unit, hole, offset, k)
    epilogue: list = field(default_factory=list)     # ("noise", std, mean, rel) | ("gamma", g) |
    #                                                  ("fill", k, fill, mask_fill or None)
    virtual_shape: tuple[int, int, int] = (1, 1, 1)
    final_tables: list = field(default_factory=lambda: [None, None, None])

    @property
    def needs_stats(self) -> bool:
        return any(e[0] == "gamma" or (e[0] == "noise" and e[3]) for e in self.epilogue)

    @property
    def n_branch(self) -> int:
        return sum(1 for s in self.stages if s[0] == "axismap")


# --------------------------------------------------------------------------------- compile
def _fail(fn, arg, expected, got):
    raise ValueError(f"{fn}: {arg} must be {expected}, got {got}")


def chain_shapes(chain: Sequence[StageT], in_shape, fn: str = "compile_chain") -> list[tuple]:
    """Shapes before and after each stage (len(chain) + 1 entries); validates the stages."""
    shape = tuple(int(s) for s in in_shape)
    shapes = [shape]
    for i, st in enumerate(chain):
        arg = f"stage {i} ({type(st).__name__})"
        if isinstance(st, Affine):
            m = np.asarray(st.matrix, dtype=np.float64)
            if m.shape != (3, 4) or not np.all(np.isfinite(m)):
                _fail(fn, arg, "a finite (3, 4) matrix", m.shape if m.shape != (3, 4) else "non-finite values")
            if st.out_shape is not None:
                out = tuple(int(s) for s in st.out_shape)
                if len(out) != 3 or min(out) < 1:
                    _fail(fn, f"{arg} out_shape", "3 sizes ≥ 1", st.out_shape)
                shape = out
        elif isinstance(st, AxisMap):
            if st.axis not in (0, 1, 2):
                _fail(fn, f"{arg} axis", "0, 1 or 2", st.axis)
            t = np.asarray(st.table)
            if t.ndim != 1 or t.size < 1 or not np.issubdtype(t.dtype, np.integer):
                _fail(fn, f"{arg} table", "a non-empty 1-D integer array", f"{t.dtype} {t.shape}")
            if t.min() < 0 or t.max() >= shape[st.axis]:
                _fail(fn, f"{arg} table", f"planes in [0, {shape[st.axis]})", f"[{t.min()}, {t.max()}]")
            shape = tuple(t.size if a == st.axis else shape[a] for a in range(3))
        elif isinstance(st, Elastic):
            c = np.asarray(st.control)
            if c.ndim != 4 or c.shape[0] != 3 or min(c.shape[1:]) < 1 or not np.all(np.isfinite(c)):
                _fail(fn, f"{arg} control", "a finite (3, gz, gy, gx) array", c.shape)
            if max(c.shape[1:]) > MAX_CONTROL:
                _fail(fn, f"{arg} control", f"at most {MAX_CONTROL} control points per axis", c.shape)
        elif isinstance(st, GridDropout):
            if min(st.unit) < 1 or min(st.hole) < 0:
                _fail(fn, arg, "units ≥ 1 and holes ≥ 0", (st.unit, st.hole))
        elif isinstance(st, Noise):
            if not (np.isfinite(st.std) and st.std >= 0 and np.isfinite(st.mean)):
                _fail(fn, f"{arg} std", "finite and ≥ 0", st.std)
        elif isinstance(st, Gamma):
            if not (np.isfinite(st.gamma) and st.gamma > 0):
                _fail(fn, f"{arg} gamma", "finite and > 0", st.gamma)
        else:
            _fail(fn, f"stage {i}", "an augment stage (Affine, AxisMap, Elastic, GridDropout, Noise, Gamma)",
                  type(st).__name__)
        shapes.append(shape)
    return shapes


def _merge_affines(stages: list) -> list:
    out = []
    for s in stages:
        if s[0] == "affine" and out and out[-1][0] == "affine":
            A1, A2 = out[-1][1], s[1]               # p1 = A1 p, then p2 = A2 p1
            M = np.zeros((3, 4))
            M[:, :3] = A2[:, :3] @ A1[:, :3]
            M[:, 3] = A2[:, :3] @ A1[:, 3] + A2[:, 3]
            out[-1] = ("affine", M)
        else:
            out.append(s)
    ident = np.hstack([np.eye(3), np.zeros((3, 1))])
    return [s for s in out if not (s[0] == "affine" and np.array_equal(s[1], ident))]


def _separable_row(M: np.ndarray, a: int):
    """Row b if column a of M has one nonzero ±1 at row b, row b is zero elsewhere and its
    shift is an integer; else None."""
    col = M[:, a]
    rows = [r for r in range(3) if abs(col[r]) > _TOL]
    if len(rows) != 1:
        return None
    b = rows[0]
    if abs(abs(col[b]) - 1.0) > _TOL:
        return None
    if any(abs(M[b, c]) > _TOL for c in range(3) if c != a):
        return None
    if abs(M[b, 3] - round(M[b, 3])) > _TOL:
        return None
    return b


def _unit_step(T) -> int:
    """+1 for a table of consecutive planes (a crop), -1 for consecutive planes in reverse order (a
    crop behind a flip), 0 otherwise."""
    T = np.asarray(T)
    if T.size == 1 or bool(np.all(np.diff(T) == 1)):
        return 1
    return -1 if bool(np.all(np.diff(T) == -1)) else 0


def _contiguous(T) -> bool:
    return _unit_step(T) != 0


def _shift(axis: int, by: int, sign: int = 1) -> np.ndarray:
    """The affine of a unit-step table: plane ``by + sign * j`` at coordinate ``j``."""
    M = np.hstack([np.eye(3), np.zeros((3, 1))])
    M[axis, axis] = sign
    M[axis, 3] = by
    return M


def _push_tables(stages: list, in_shape) -> tuple[list, list]:
    """Push every axismap through separable affines and other axes' axismaps; one that reaches
    the end becomes the final (virtual axis) table of its axis."""
    final = [None, None, None]
    stages = list(stages)
    idx = [i for i, s in enumerate(stages) if s[0] == "axismap"]
    for i in reversed(idx):                 # innermost first
        _, a, T = stages[i]
        T = np.asarray(T, dtype=np.int64)
        stages[i] = None
        j = i + 1
        placed = False
        while j < len(stages):
            s = stages[j]
            if s is None:
                j += 1
                continue
            if s[0] == "affine":
                M = s[1]
                b = _separable_row(M, a)
                if b is None:
                    break
                sign = 1 if M[b, a] > 0 else -1
                T = sign * T + int(round(M[b, 3]))
                M = M.copy()
                M[b, :] = 0.0
                M[b, a] = 1.0
                stages[j] = ("affine", M)
                a = b
            elif s[0] == "axismap":
                if s[1] != a:
                    j += 1
                    continue
                T2 = np.asarray(s[2], dtype=np.int64)
                if T.min() < 0 or T.max() >= T2.size:
                    break
                stages[j] = ("axismap", a, T2[T])
                placed = True
                break
            else:                            # elastic / dropout: the table stays a branch stage
                break
            j += 1
        if placed:
            continue
        if j >= len(stages):
            if final[a] is None:
                final[a] = T
            else:
                F = final[a]
                final[a] = F[T]
        elif _contiguous(T):
            # a table of consecutive planes (a crop, reversed behind a flip) that cannot reach the
            # gather is an affine, composed into the coordinate map like any other: exact inside,
            # the crop's edge half-voxels then see the planes beyond it instead of the edge value
            stages.insert(j, ("affine", _shift(a, T[0], _unit_step(T))))
        else:
            stages.insert(j, ("axismap", a, T))
    return [s for s in stages if s is not None], final


def compile_chain(chain: Sequence[StageT], in_shape, *, push_tables: bool = True,
                  fn: str = "compile_chain") -> Program:
    """Compile one sample's chain (see the module docstring). Raises ValueError for a chain the
    kernel cannot run (too many stages, branches or dropouts)."""
    shapes = chain_shapes(chain, in_shape, fn)
    spatial, epi = [], []
    n_drop = 0
    for st, shp_in, shp_out in zip(chain, shapes[:-1], shapes[1:]):
        if isinstance(st, Affine):
            spatial.append(("affine", np.asarray(st.matrix, dtype=np.float64).copy()))
        elif isinstance(st, AxisMap):
            spatial.append(("axismap", st.axis, np.asarray(st.table, dtype=np.int64).copy()))
        elif isinstance(st, Elastic):
            c = np.asarray(st.control, dtype=np.float64)
            g = c.shape[1:]
            scale = tuple((g[a] - 1) / (shp_in[a] - 1) if shp_in[a] > 1 else 0.0 for a in range(3))
            spatial.append(("elastic", c, scale))
        elif isinstance(st, GridDropout):
            if n_drop >= MAX_DROPOUT:
                _fail(fn, "chain", f"at most {MAX_DROPOUT} GridDropout stages", n_drop + 1)
            spatial.append(("dropout", tuple(int(v) for v in st.unit), tuple(int(v) for v in st.hole),
                            tuple(int(v) for v in st.offset), n_drop))
            epi.append(("fill", n_drop, float(st.fill), None if st.mask_fill is None else float(st.mask_fill)))
            n_drop += 1
        elif isinstance(st, Noise):
            epi.append(("noise", float(st.std), float(st.mean), bool(st.relative)))
        elif isinstance(st, Gamma):
            epi.append(("gamma", float(st.gamma)))
    stages = _merge_affines(list(reversed(spatial)))
    final = [None, None, None]
    if push_tables:
        stages, final = _push_tables(stages, in_shape)
    else:                                     # (testing the branch path) crops become shifts
        stages = [("affine", _shift(s[1], s[2][0], _unit_step(s[2])))
                  if s[0] == "axismap" and _contiguous(s[2]) else s for s in stages]
    stages = _merge_affines(stages)
    prog = Program(in_shape=shapes[0], out_shape=shapes[-1], stages=stages, epilogue=epi,
                   virtual_shape=tuple(int(final[a].size) if final[a] is not None else shapes[0][a]
                                       for a in range(3)),
                   final_tables=final)
    if len(stages) > MAX_STAGES:
        _fail(fn, "chain", f"at most {MAX_STAGES} spatial stages after merging affines", len(stages))
    if prog.n_branch > MAX_BRANCH:
        _fail(fn, "chain", f"at most {MAX_BRANCH} drop-plane tables that cannot reach the gather "
              "(they cross an elastic or grid-dropout stage)", prog.n_branch)
    if len(epi) > MAX_EPI:
        _fail(fn, "chain", f"at most {MAX_EPI} intensity stages (noise, gamma, grid dropout)", len(epi))
    return prog


# --------------------------------------------------------------------------------- pack
def _elastic_order(stages, i) -> tuple[int, int, int]:
    """Axis order of stage i's separable B-spline sum: the axis that the output x coordinate
    drives at that stage last (so the CPU reuses the other two axes' partial sums along a row).
    Follows output x through the affines before it; (0, 1, 2) when it cannot tell."""
    col = np.array([0.0, 0.0, 1.0])             # d p / d x_out
    for s in stages[:i]:
        if s[0] == "affine":
            col = s[1][:, :3] @ col
        elif s[0] == "elastic":
            return (0, 1, 2)
    a = int(np.argmax(np.abs(col)))
    if np.count_nonzero(np.abs(col) > 1e-12) != 1:
        return (0, 1, 2)
    rest = [k for k in range(3) if k != a]
    return (rest[0], rest[1], a)



def pack(programs: Sequence[Program]):
    """Programs → (program float32 [B, PROG_LEN], tables int32 [B, T], ctrl float32 [B, K])."""
    B = len(programs)
    prog = np.zeros((B, PROG_LEN), np.float32)
    trows, crows = [], []
    for b, P in enumerate(programs):
        tabs: list[np.ndarray] = []
        ctrls: list[np.ndarray] = []
        ntab = 0
        nctrl = 0

        def add_table(t):
            nonlocal ntab
            off = ntab
            tabs.append(np.asarray(t, np.int64))
            ntab += len(t)
            return off

        h = prog[b]
        h[0] = len(P.stages)
        h[1] = len(P.epilogue)
        h[2:5] = P.virtual_shape
        for a in range(3):
            h[5 + a] = add_table(P.final_tables[a]) if P.final_tables[a] is not None else -1
        for s_i, s in enumerate(P.stages):
            r = HEADER + s_i * STAGE_LEN
            if s[0] == "affine":
                h[r] = K_AFFINE
                h[r + 1:r + 13] = s[1].reshape(-1)
            elif s[0] == "elastic":
                c = s[1]
                h[r] = K_ELASTIC
                h[r + 1:r + 4] = c.shape[1:]
                h[r + 4] = nctrl
                h[r + 5:r + 8] = s[2]
                h[r + 8:r + 11] = _elastic_order(P.stages, s_i)
                ctrls.append(c.reshape(-1))
                nctrl += c.size
            elif s[0] == "axismap":
                h[r] = K_AXISMAP
                h[r + 1] = s[1]
                h[r + 2] = len(s[2])
                h[r + 3] = add_table(s[2])
            elif s[0] == "dropout":
                h[r] = K_DROPOUT
                h[r + 1:r + 4] = s[1]
                h[r + 4:r + 7] = s[2]
                h[r + 7:r + 10] = s[3]
                h[r + 10] = s[4]
        base = HEADER + MAX_STAGES * STAGE_LEN
        for e_i, e in enumerate(P.epilogue):
            r = base + e_i * EPI_LEN
            if e[0] == "noise":
                h[r:r + 4] = (E_NOISE, e[1], e[2], 1.0 if e[3] else 0.0)
            elif e[0] == "gamma":
                h[r:r + 2] = (E_GAMMA, e[1])
            else:
                h[r:r + 4] = (E_FILL, e[1], e[2], np.nan if e[3] is None else e[3])
        trows.append(np.concatenate(tabs) if tabs else np.zeros(0, np.int64))
        crows.append(np.concatenate(ctrls) if ctrls else np.zeros(0, np.float64))
    T = max([len(t) for t in trows] + [1])
    K = max([len(c) for c in crows] + [1])
    if T >= 2**24 or K >= 2**24:
        raise ValueError(f"pack: tables and control grids must hold < 2^24 entries per sample, got {max(T, K)}")
    tables = np.zeros((B, T), np.int32)
    ctrl = np.zeros((B, K), np.float32)
    for b in range(B):
        tables[b, :len(trows[b])] = trows[b]
        ctrl[b, :len(crows[b])] = crows[b]
    return prog, tables, ctrl
