"""Training data for tUbe net: 3D patches read from disk at each draw, biased towards vessel.

tUbe net (Holroyd et al., "tUbe net: a generalisable deep learning tool for 3D vessel segmentation")
trains on 64³ sub-volumes read from disk at the start of every iteration, so that volumes far larger
than memory can be used, and its data generator is weighted towards patches holding at least 0.1 %
vessel, the model still seeing some background-only patches. This module does the same, out of core:

- :class:`VolumePair` opens an image and its binary label (paths to ``.npy``, TIFF, Zarr, or arrays,
  through :func:`bbbcore.vessels.volumes.open_volume`) without reading them, checks them, and fixes
  the intensity normalisation once per dataset (percentiles of a strided subsample of the whole
  volume, the same scale that inference uses). A ``valid`` mask marks the labelled voxels of a
  partly labelled volume, and a ``region`` restricts sampling to a labelled sub-volume (the paper
  fine-tunes on a labelled 120³ sub-volume of a larger volume).
- :class:`PatchSampler` draws patches. The dataset of each draw is chosen with probabilities
  proportional to ``weights`` (default: each dataset's sampleable voxel count). With probability
  ``p_vessel`` the patch must hold at least ``min_vessel_fraction`` vessel voxels: a coarse occupancy
  grid (vessel voxels per block of half a patch), built once per dataset by streaming the label in
  bounded chunks, gives the blocks holding vessel; a block is drawn with probability proportional to
  its vessel count and the patch origin uniformly among those whose patch contains the whole block;
  the fraction is then verified on the patch itself, retrying up to ``max_tries`` times. Otherwise
  the patch origin is uniform over the region (background-only patches allowed, as in the paper).
- :class:`PatchDataset` wraps a sampler as a ``torch`` ``IterableDataset`` whose
  ``DataLoader`` workers draw different, reproducible streams.
- :func:`split_region` holds out a slab of a volume for validation, so training and validation
  patches never overlap.

Pitfalls of the public tUbe net code avoided here: with two datasets its generator samples only the
first — here every dataset with a non-zero weight is sampled, in the stated proportions; its biased
sampler silently accepts an empty patch after 5 tries — here, when no qualifying patch is found
in ``max_tries`` tries, the best patch seen is used, flagged ``fallback=True``, counted in
:attr:`PatchSampler.stats` and announced by one warning per dataset.

Example:
    >>> import numpy as np
    >>> from bbbcore.vessels.data import VolumePair, PatchSampler
    >>> label = np.zeros((32, 32, 32), np.uint8); label[:, 10:12, 10:12] = 1
    >>> image = label * 100.0 + 10.0
    >>> s = PatchSampler(VolumePair(image, label), patch=16, p_vessel=1.0, progress=False)
    >>> d = s.sample()
    >>> d["image"].shape, d["label"].dtype, d["vessel_fraction"] >= 0.001, d["fallback"]
    ((1, 16, 16, 16), dtype('uint8'), True, False)
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.vessels import volumes

__all__ = ["PatchDataset", "PatchSampler", "VolumePair", "split_region"]

_CHUNK_VOXELS = 1 << 24          # voxels read at once by the occupancy scan (16 Mi ≈ 256³)
_CHECK_BLOCK = 16                # side of each of the 27 blocks read by the cheap label check


# --------------------------------------------------------------------------------------------------
# regions


def _as_region(fn: str, region, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """(slice, slice, slice) or ((start, stop), ...) (None: whole axis) → three slices,
    0 <= start < stop <= n."""
    if not isinstance(region, (tuple, list)) or len(region) != len(shape):
        _checks.fail(fn, "region", f"{len(shape)} slices or (start, stop) pairs (Z, Y, X)", repr(region))
    out = []
    for ax, (r, n) in enumerate(zip(region, shape)):
        if r is None:
            start, stop = 0, n
        elif isinstance(r, slice):
            if r.step not in (None, 1):
                _checks.fail(fn, "region", "slices with step 1", repr(region))
            start, stop = r.start, r.stop
        elif isinstance(r, (tuple, list)) and len(r) == 2:
            start, stop = r
        else:
            _checks.fail(fn, "region", "slices or (start, stop) pairs", repr(region))
        start = 0 if start is None else start
        stop = n if stop is None else stop
        ok = all(isinstance(v, Integral) and not isinstance(v, bool) for v in (start, stop))
        if not ok or not 0 <= start < stop <= n:
            _checks.fail(fn, "region", f"a non-empty box inside the volume of shape {shape} "
                         f"(0 <= start < stop <= n on every axis)", repr(region))
        out.append(slice(int(start), int(stop)))
    return tuple(out)


def split_region(shape, fraction: float = 0.2, axis: int = 0) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Split a volume into a training region and a held-out validation slab.

    The validation region is the last ``round(fraction · n)`` planes (at least one) along ``axis``,
    the training region the rest, so that patches drawn inside either region (as
    :class:`PatchSampler` does) never overlap.

    Args:
        shape: the volume's shape (Z, Y, X) [voxels].
        fraction: share of the planes along ``axis`` held out, in (0, 1).
        axis: axis cut across (0 = Z, 1 = Y, 2 = X; negative counts from the end).

    Returns:
        (train_region, val_region), each a tuple of three slices.

    Raises:
        ValueError: bad shape, fraction outside (0, 1), bad axis, fewer than 2 planes along axis.

    Example:
        >>> train, val = split_region((100, 64, 64), 0.2)
        >>> train[0], val[0], val[1]
        (slice(0, 80, None), slice(80, 100, None), slice(0, 64, None))
    """
    fn = "split_region"
    shape = _as_shape(fn, "shape", shape)
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0.0 < fraction < 1.0:
        _checks.fail(fn, "fraction", "a number in (0, 1)", repr(fraction))
    if isinstance(axis, bool) or not isinstance(axis, Integral) or not -len(shape) <= axis < len(shape):
        _checks.fail(fn, "axis", f"an integer in [-{len(shape)}, {len(shape) - 1}]", repr(axis))
    axis = int(axis) % len(shape)
    n = shape[axis]
    if n < 2:
        _checks.fail(fn, "shape", f"at least 2 voxels along axis {axis} to split", shape)
    n_val = min(n - 1, max(1, round(fraction * n)))
    full = [slice(0, s) for s in shape]
    train, val = list(full), list(full)
    train[axis] = slice(0, n - n_val)
    val[axis] = slice(n - n_val, n)
    return tuple(train), tuple(val)


def _as_shape(fn: str, arg: str, shape) -> tuple[int, ...]:
    try:
        out = tuple(shape)
    except TypeError:
        out = None
    if (out is None or len(out) != 3
            or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 1 for s in out)):
        _checks.fail(fn, arg, "three integers >= 1 (Z, Y, X)", repr(shape))
    return tuple(int(s) for s in out)


# --------------------------------------------------------------------------------------------------
# volume pairs


def _read(vol, sl) -> np.ndarray:
    return np.asarray(vol[sl])


class _LabelCheck:
    """Checks label values: 0 and one positive value (floats: exactly 0 and 1)."""

    def __init__(self, fn: str, dtype: np.dtype):
        self.fn = fn
        self.is_float = dtype.kind == "f"
        self.value = None          # the vessel value seen so far (ints; 1 or 255 typically)

    def __call__(self, block: np.ndarray, where: str) -> None:
        if block.dtype == np.bool_:
            return
        nz = block[block != 0]
        if nz.size == 0:
            return
        lo, hi = nz.min(), nz.max()
        if self.is_float:
            if not (lo == 1 and hi == 1):   # NaN compares false → rejected too
                bad = nz[nz != 1][:3]
                _checks.fail(self.fn, "label", "binary (a float label may hold only 0 and 1)",
                             f"values such as {', '.join(f'{v:g}' for v in bad)} {where}")
            return
        if lo != hi or lo < 0 or (self.value is not None and lo != self.value):
            vals = np.unique(nz)[:4].tolist()
            if self.value is not None and self.value not in vals:
                vals = [self.value] + vals
            _checks.fail(self.fn, "label", "binary (0 and one positive value, e.g. 0/1 or 0/255)",
                         f"non-zero values {vals} {where}")
        self.value = lo.item()


class _Occupancy:
    """Vessel (and labelled) voxel counts per block of a region."""

    def __init__(self, block, grid_shape, vessel, valid):
        self.block = block
        self.grid_shape = grid_shape
        self.vessel = vessel            # int64 (gz, gy, gx), vessel ∧ valid voxels per block
        self.valid = valid              # int64 (gz, gy, gx) labelled voxels per block, or None
        flat = vessel.ravel()
        self.vessel_blocks = np.flatnonzero(flat)
        self.vessel_cdf = np.cumsum(flat[self.vessel_blocks], dtype=np.float64)
        if valid is not None:
            vflat = valid.ravel()
            self.valid_blocks = np.flatnonzero(vflat)
            self.valid_cdf = np.cumsum(vflat[self.valid_blocks], dtype=np.float64)

    @property
    def vessel_voxels(self) -> int:
        return int(self.vessel.sum())


class VolumePair:
    """An image volume and its binary vessel label, opened lazily, for patch sampling.

    Nothing is read whole: the image and label stay on disk (memory map, TIFF strips/tiles, Zarr
    chunks) and are read patch by patch (and once chunk by chunk, by :class:`PatchSampler`, to
    build a vessel occupancy grid). The label's values are checked on 27 small blocks here, and on
    every voxel of the region during that occupancy scan.

    Args:
        image: path (``.npy``, ``.tif``/``.tiff``, ``.zarr``) or array-like (Z, Y, X), numeric.
        label: path or array-like, same shape; binary: bool, integers holding 0 and one positive
            value (0/1, or 0/255 as ImageJ saves masks) or floats holding only 0 and 1. Vessel is
            every non-zero voxel.
        name: the dataset's name in messages and warnings (default: the image file's name, or
            ``"array"``).
        valid: optional mask (path or array-like, same shape) of the labelled voxels of a partly
            labelled volume; outside it the label is unknown: patches return ``label = 0`` and
            ``valid = 0`` there, and only labelled voxels count as vessel.
        region: optional box restricting sampling to a labelled sub-volume: three slices (step 1)
            or three (start, stop) pairs (Z, Y, X) [voxels], None for a whole axis. Patches lie inside
            it.
        normalize: ``"percentile"`` (default: the 0.5–99.5 percentiles of a strided subsample of
            the whole volume, :func:`bbbcore.vessels.volumes.intensity_range`, mapped to [0, 1]),
            a given ``(lo, hi)``, or ``None`` (raw values as float32).
        spacing_um: optional voxel spacing (Z, Y, X) [µm], kept as metadata.

    Attributes:
        shape: the volume's shape. region: the sampling box (three slices). intensity: (lo, hi) or
        None. image, label, valid: the opened array-likes.

    Raises:
        FileNotFoundError: a path does not exist (the message names it).
        ValueError: shapes differ, a label is not binary, a bad region / normalize / spacing.

    Example:
        >>> import numpy as np
        >>> lab = np.zeros((8, 8, 8), bool); lab[4, 4, :] = True
        >>> pair = VolumePair(np.random.default_rng(0).random((8, 8, 8)), lab, region=((2, 8), None, None))
        >>> pair.shape, pair.region[0], pair.intensity[1] > pair.intensity[0]
        ((8, 8, 8), slice(2, 8, None), True)
    """

    def __init__(self, image, label, *, name: str | None = None, valid=None, region=None,
                 normalize="percentile", spacing_um=None):
        fn = "VolumePair"
        self._sources = {"image": image, "label": label, "valid": valid}
        self.image = volumes.open_volume(image, name="image")
        self.label = volumes.open_volume(label, name="label")
        self.shape = tuple(int(s) for s in self.image.shape)
        lshape = tuple(int(s) for s in self.label.shape)
        if lshape != self.shape:
            _checks.fail(fn, "label", f"the image's shape {self.shape}", f"shape {lshape}")
        self.valid = None
        if valid is not None:
            self.valid = volumes.open_volume(valid, name="valid")
            vshape = tuple(int(s) for s in self.valid.shape)
            if vshape != self.shape:
                _checks.fail(fn, "valid", f"the image's shape {self.shape}", f"shape {vshape}")
        if name is None:
            name = Path(image).name if isinstance(image, (str, Path)) else "array"
        if not isinstance(name, str):
            _checks.fail(fn, "name", "a str", repr(name))
        self.name = name
        self.region = _as_region(fn, region, self.shape) if region is not None else \
            tuple(slice(0, s) for s in self.shape)
        if spacing_um is not None:
            try:
                sp = tuple(float(s) for s in spacing_um)
            except (TypeError, ValueError):
                sp = ()
            if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
                _checks.fail(fn, "spacing_um", "three finite numbers > 0 µm (Z, Y, X)", repr(spacing_um))
            spacing_um = sp
        self.spacing_um = spacing_um
        self.intensity = self._intensity(fn, normalize)
        self._label_dtype = np.dtype(str(self.label.dtype))
        self._check = _LabelCheck(fn, self._label_dtype)
        self._check_label_sample()
        self._occupancy: dict[tuple, _Occupancy] = {}

    def _intensity(self, fn, normalize):
        if normalize is None:
            return None
        if isinstance(normalize, str):
            _checks.choice(fn, "normalize", normalize, ("percentile",))
            return volumes.intensity_range(self.image)
        try:
            lo, hi = (float(v) for v in normalize)
        except (TypeError, ValueError):
            lo = hi = float("nan")
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            _checks.fail(fn, "normalize", "'percentile', None or (lo, hi) with finite lo < hi",
                         repr(normalize))
        return lo, hi

    def _check_label_sample(self) -> None:
        """Cheap early check of the label's values: 27 blocks of ≤ 16³ spread over the region."""
        starts = []
        for r in self.region:
            n = r.stop - r.start
            side = min(_CHECK_BLOCK, n)
            starts.append(sorted({r.start + round(f * (n - side)) for f in (0.0, 0.5, 1.0)}))
        for z in starts[0]:
            for y in starts[1]:
                for x in starts[2]:
                    sl = tuple(slice(s, min(s + _CHECK_BLOCK, r.stop))
                               for s, r in zip((z, y, x), self.region))
                    self._check(_read(self.label, sl), f"in the block at {(z, y, x)}")

    # pickling (DataLoader workers started by spawn/forkserver): reopen paths, never copy volumes
    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("image", "label", "valid"):
            if isinstance(self._sources[key], (str, Path)):
                state[key] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        for key in ("image", "label", "valid"):
            src = self._sources[key]
            if isinstance(src, (str, Path)):
                setattr(self, key, volumes.open_volume(src, name=key))

    @property
    def region_shape(self) -> tuple[int, int, int]:
        return tuple(r.stop - r.start for r in self.region)

    def occupancy(self, block, *, chunk_voxels: int = _CHUNK_VOXELS, progress: bool = True) -> _Occupancy:
        """Vessel voxels (and labelled voxels) per block of the region, streamed chunk by chunk.

        Blocks tile the region from its first voxel; the last block along an axis may be cut short.
        The label (and ``valid``) is read in chunks of whole blocks holding about ``chunk_voxels``
        voxels at most (one block when a block is larger), and every value is checked to be binary.
        The result is cached per block shape.
        """
        block = tuple(int(b) for b in block)
        key = (block, int(chunk_voxels))
        if key in self._occupancy:
            return self._occupancy[key]
        from tqdm.auto import tqdm

        rshape = self.region_shape
        grid = tuple(-(-n // b) for n, b in zip(rshape, block))
        # chunk = k blocks per axis, whole X rows first (contiguous reads), then Y, then Z
        k = [1, 1, 1]
        for ax in (2, 1, 0):
            others = math.prod(k[a] * block[a] for a in range(3) if a != ax)
            k[ax] = max(1, min(grid[ax], chunk_voxels // (others * block[ax])))
        vessel = np.zeros(grid, np.int64)
        valid = np.zeros(grid, np.int64) if self.valid is not None else None
        origins = [range(0, g, kk) for g, kk in zip(grid, k)]
        n_chunks = math.prod(len(o) for o in origins)
        r0 = [r.start for r in self.region]
        with tqdm(total=n_chunks, desc=f"occupancy {self.name}", disable=not progress, leave=False) as bar:
            for gz in origins[0]:
                for gy in origins[1]:
                    for gx in origins[2]:
                        g0 = (gz, gy, gx)
                        g1 = tuple(min(g + kk, n) for g, kk, n in zip(g0, k, grid))
                        sl = tuple(slice(o + g * b, o + min(gg * b, n))
                                   for o, g, gg, b, n in zip(r0, g0, g1, block, rshape))
                        lab = _read(self.label, sl)
                        self._check(lab, f"in the block {tuple((s.start, s.stop) for s in sl)}")
                        ves = lab != 0
                        if valid is not None:
                            m = _read(self.valid, sl) != 0
                            ves &= m
                            valid[tuple(slice(a, b) for a, b in zip(g0, g1))] = _block_sum(m, block)
                        vessel[tuple(slice(a, b) for a, b in zip(g0, g1))] = _block_sum(ves, block)
                        bar.update()
        occ = _Occupancy(block, grid, vessel, valid)
        self._occupancy[key] = occ
        return occ

    def split(self, fraction: float = 0.2, axis: int = 0) -> tuple[VolumePair, VolumePair]:
        """(train, validation) pairs over :func:`split_region` of this pair's region, sharing the
        opened volumes and the intensity range (the same normalisation for both)."""
        tr, va = split_region(self.region_shape, fraction, axis)
        out = []
        for reg in (tr, va):
            p = object.__new__(VolumePair)
            p.__dict__.update(self.__dict__)
            p.region = tuple(slice(r.start + s.start, r.start + s.stop) for r, s in zip(self.region, reg))
            p._occupancy = {}
            out.append(p)
        return out[0], out[1]

    def __repr__(self) -> str:
        reg = ", ".join(f"{r.start}:{r.stop}" for r in self.region)
        return f"VolumePair(name={self.name!r}, shape={self.shape}, region=[{reg}], " \
               f"valid={'yes' if self.valid is not None else 'no'}, intensity={self.intensity})"


def _block_sum(mask: np.ndarray, block) -> np.ndarray:
    """Sum of a boolean array over blocks (the last blocks may be cut short)."""
    pad = [(0, -n % b) for n, b in zip(mask.shape, block)]
    if any(p[1] for p in pad):
        mask = np.pad(mask, pad)
    g = [n // b for n, b in zip(mask.shape, block)]
    r = mask.reshape(g[0], block[0], g[1], block[1], g[2], block[2])
    return r.sum(axis=(1, 3, 5), dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# sampler


class PatchSampler:
    """Draws training patches from one or several :class:`VolumePair`, biased towards vessel.

    Each draw picks a dataset (probability ∝ ``weights``), then, with probability ``p_vessel``, a
    patch holding at least ``min_vessel_fraction`` vessel voxels, else a uniformly placed patch (which
    may hold no vessel, so the network still sees background). Vessel-biased origins come from the
    occupancy grid (blocks of ``patch // 2``): a block is drawn ∝ its vessel voxel count, the origin
    uniformly among those whose patch contains that whole block, and the fraction verified on the
    patch read from disk; after ``max_tries`` failures the best patch seen is used, flagged
    ``fallback`` and counted (one warning per dataset, the first time). With a ``valid`` mask the
    "uniform" patches are drawn the same way from the blocks' labelled voxel counts, so that they hold
    labelled voxels. The occupancy grids are built at construction (one streamed pass per dataset).

    Convention: a region smaller than the patch along an axis is padded, centred: the image by
    reflection, the label with 0 and ``valid`` with 0 in the pad (so a loss masked by ``valid``
    ignores it); ``origin`` is then negative on that axis (the volume coordinate of the patch's first
    voxel, which lies in the pad). ``valid`` is returned (not None) whenever the dataset has a
    ``valid`` mask or is padded.

    Args:
        pairs: a :class:`VolumePair` or a sequence of them.
        patch: patch shape (Z, Y, X) [voxels], or one int for a cube (paper: 64).
        min_vessel_fraction: share of vessel voxels a biased patch must hold, in (0, 1] (paper: 0.001).
        p_vessel: probability of a vessel-biased draw, in [0, 1].
        max_tries: patches read per biased draw before falling back to the best one.
        weights: per-dataset sampling weights (≥ 0, not all 0); default: each dataset's sampleable
            voxel count (its region's voxels, or its labelled voxels with a ``valid`` mask).
        seed: seed of the sampler's NumPy generator (the whole stream follows from it).
        progress: tqdm progress bar for the occupancy scans.
        chunk_voxels: voxels read at once by the occupancy scan (bounds its memory).

    Raises:
        ValueError: bad arguments; a dataset whose region holds no labelled voxel; a non-binary
            label found by the occupancy scan.

    Example:
        >>> import numpy as np
        >>> lab = np.zeros((24, 24, 24), bool); lab[12, 12, :] = True
        >>> s = PatchSampler([VolumePair(lab * 1.0, lab), VolumePair(lab * 2.0, lab)], patch=8,
        ...                  p_vessel=1.0, seed=1, progress=False)
        >>> img, lab_t, valid = s.batch(4)
        >>> tuple(img.shape), lab_t.dtype, valid is None, sum(s.stats["draws"])
        ((4, 1, 8, 8, 8), torch.float32, True, 4)
    """

    def __init__(self, pairs, patch=(64, 64, 64), *, min_vessel_fraction: float = 0.001,
                 p_vessel: float = 0.9, max_tries: int = 20, weights=None, seed: int = 0,
                 progress: bool = True, chunk_voxels: int = _CHUNK_VOXELS):
        fn = "PatchSampler"
        if isinstance(pairs, VolumePair):
            pairs = [pairs]
        if not isinstance(pairs, Sequence) or isinstance(pairs, str) or len(pairs) == 0 \
                or not all(isinstance(p, VolumePair) for p in pairs):
            _checks.fail(fn, "pairs", "a VolumePair or a non-empty sequence of VolumePair",
                         type(pairs).__name__ if not isinstance(pairs, Sequence) or isinstance(pairs, str)
                         else "[" + ", ".join(type(p).__name__ for p in pairs) + "]")
        self.pairs = list(pairs)
        if isinstance(patch, Integral) and not isinstance(patch, bool):
            patch = (patch,) * 3
        self.patch = _as_shape(fn, "patch", patch)
        if isinstance(min_vessel_fraction, bool) or not isinstance(min_vessel_fraction, Real) \
                or not 0.0 < min_vessel_fraction <= 1.0:
            _checks.fail(fn, "min_vessel_fraction", "a number in (0, 1]", repr(min_vessel_fraction))
        if isinstance(p_vessel, bool) or not isinstance(p_vessel, Real) or not 0.0 <= p_vessel <= 1.0:
            _checks.fail(fn, "p_vessel", "a probability in [0, 1]", repr(p_vessel))
        self.min_vessel_fraction = float(min_vessel_fraction)
        self.p_vessel = float(p_vessel)
        self.max_tries = _checks.positive_int(fn, "max_tries", max_tries)
        self.seed = _checks.seed(fn, seed)
        chunk_voxels = _checks.positive_int(fn, "chunk_voxels", chunk_voxels)
        self._n_patch = math.prod(self.patch)
        # vessel voxels a qualifying patch needs (an integer count: no float round-off at the bound)
        self._need = max(1, math.ceil(self.min_vessel_fraction * self._n_patch - 1e-9))
        block = tuple(max(1, p // 2) for p in self.patch)
        self._occ = [p.occupancy(block, chunk_voxels=chunk_voxels, progress=progress) for p in self.pairs]
        sizes = []
        for p, occ in zip(self.pairs, self._occ):
            n = math.prod(p.region_shape) if p.valid is None else int(occ.valid.sum())
            if n == 0:
                _checks.fail(fn, "pairs", "datasets whose region holds labelled voxels",
                             f"no voxel of dataset {p.name!r} inside valid within its region")
            sizes.append(n)
        self.sampleable_voxels = sizes
        if weights is None:
            w = np.asarray(sizes, np.float64)
        else:
            try:
                w = np.asarray(weights, np.float64).reshape(-1)
            except (TypeError, ValueError):
                w = np.full(1, np.nan)
            if w.size != len(self.pairs) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                _checks.fail(fn, "weights", f"{len(self.pairs)} finite numbers >= 0, not all 0",
                             repr(weights))
        self.probabilities = w / w.sum()
        self._cdf = np.cumsum(self.probabilities)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self._warned: set[int] = set()
        self.reset_stats()

    # ---- statistics ----------------------------------------------------------------------------
    def reset_stats(self) -> None:
        """Zero the draw statistics (the warnings already given are not repeated)."""
        n = len(self.pairs)
        self._draws = [0] * n
        self._biased = [0] * n
        self._fallbacks = [0] * n
        self._tries = 0
        self._fraction_sum = 0.0

    @property
    def stats(self) -> dict:
        """Draw statistics since construction or :meth:`reset_stats`.

        Keys: ``datasets`` (names), ``draws``, ``vessel_draws`` (biased draws) and ``fallbacks``
        (biased draws with no qualifying patch), each a list per dataset; ``mean_tries`` (patches
        read per biased draw) and ``mean_vessel_fraction`` (over all draws), NaN before any draw.
        """
        n_b = sum(self._biased)
        n = sum(self._draws)
        return {"datasets": [p.name for p in self.pairs], "draws": list(self._draws),
                "vessel_draws": list(self._biased), "fallbacks": list(self._fallbacks),
                "mean_tries": self._tries / n_b if n_b else float("nan"),
                "mean_vessel_fraction": self._fraction_sum / n if n else float("nan")}

    # ---- RNG state -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The generator's state, to resume the same stream (:meth:`load_state_dict`)."""
        return {"seed": self.seed, "bit_generator": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`; the next draws continue that stream."""
        fn = "PatchSampler.load_state_dict"
        bg = state.get("bit_generator") if isinstance(state, dict) else None
        if not isinstance(bg, dict) or bg.get("bit_generator") != "PCG64":
            _checks.fail(fn, "state", "a dict from PatchSampler.state_dict()", repr(state)[:80])
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = bg
        self._rng = rng

    def _reseed(self, *entropy) -> None:
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, *entropy])))

    # ---- drawing -------------------------------------------------------------------------------
    def _pick(self, blocks: np.ndarray, cdf: np.ndarray) -> int:
        """A block (flat index) drawn with probability ∝ its count (cdf: cumulative counts)."""
        i = int(np.searchsorted(cdf, self._rng.random() * cdf[-1], side="right"))
        return int(blocks[min(i, blocks.size - 1)])

    def _origin_around_block(self, k: int, flat_index: int) -> tuple[int, ...]:
        """Uniform origin among those whose patch contains the whole block (padded axes: fixed)."""
        pair, occ = self.pairs[k], self._occ[k]
        g = np.unravel_index(flat_index, occ.grid_shape)
        out = []
        for gi, b, p, r in zip(g, occ.block, self.patch, pair.region):
            n = r.stop - r.start
            if n <= p:
                out.append(r.start - (p - n) // 2)
                continue
            s = r.start + int(gi) * b
            e = min(s + b, r.stop)
            lo, hi = max(e - p, r.start), min(s, r.stop - p)
            out.append(int(self._rng.integers(lo, hi + 1)))
        return tuple(out)

    def _uniform_origin(self, k: int) -> tuple[int, ...]:
        pair, occ = self.pairs[k], self._occ[k]
        if pair.valid is not None:
            return self._origin_around_block(k, self._pick(occ.valid_blocks, occ.valid_cdf))
        out = []
        for p, r in zip(self.patch, pair.region):
            n = r.stop - r.start
            out.append(r.start - (p - n) // 2 if n <= p else int(self._rng.integers(r.start, r.stop - p + 1)))
        return tuple(out)

    def _read_patch(self, k: int, origin, with_image: bool):
        """(image | None, label uint8, valid uint8 | None) of the patch at origin, padded."""
        pair = self.pairs[k]
        sl, pad = [], []
        for o, p, r in zip(origin, self.patch, pair.region):
            a, b = max(o, r.start), min(o + p, r.stop)
            sl.append(slice(a, b))
            pad.append((a - o, o + p - b))
        sl = tuple(sl)
        padded = any(q[0] or q[1] for q in pad)
        lab = _read(pair.label, sl) != 0
        valid = None
        if pair.valid is not None:
            valid = _read(pair.valid, sl) != 0
            lab &= valid
        elif padded:
            valid = np.ones(lab.shape, bool)
        lab = lab.astype(np.uint8)
        if valid is not None:
            valid = valid.astype(np.uint8)
        if padded:
            lab = np.pad(lab, pad)
            valid = np.pad(valid, pad)
        img = None
        if with_image:
            img = _read(pair.image, sl)
            img = volumes.normalize(img, *pair.intensity) if pair.intensity is not None \
                else np.asarray(img, np.float32)
            if padded:
                img = np.pad(img, pad, mode="reflect")
            img = np.ascontiguousarray(img, dtype=np.float32)
        return img, lab, valid

    def sample(self) -> dict:
        """Draw one patch.

        Returns:
            dict with ``image`` float32 (1, Z, Y, X) normalised, ``label`` uint8 (1, Z, Y, X) (0/1),
            ``valid`` uint8 (1, Z, Y, X) or None (see the class's Convention), ``dataset`` (int),
            ``origin`` (z, y, x) of the patch's first voxel [voxels, volume coordinates],
            ``vessel_fraction`` (float, vessel voxels / patch voxels) and ``fallback`` (bool: a biased
            draw that found no patch with ``min_vessel_fraction``).
        """
        k = min(int(np.searchsorted(self._cdf, self._rng.random(), side="right")), len(self.pairs) - 1)
        biased = self._rng.random() < self.p_vessel
        occ = self._occ[k]
        fallback = False
        if not biased:
            origin = self._uniform_origin(k)
            img, lab, valid = self._read_patch(k, origin, True)
            count = int(lab.sum())
        elif occ.vessel_blocks.size == 0:        # nothing to find: one uniform patch, counted
            origin = self._uniform_origin(k)
            img, lab, valid = self._read_patch(k, origin, True)
            count, fallback, tries = int(lab.sum()), True, 1
        else:
            best = None
            for tries in range(1, self.max_tries + 1):
                origin = self._origin_around_block(k, self._pick(occ.vessel_blocks, occ.vessel_cdf))
                _, lab, valid = self._read_patch(k, origin, False)
                count = int(lab.sum())
                if best is None or count > best[0]:
                    best = (count, origin, lab, valid)
                if count >= self._need:
                    break
            count, origin, lab, valid = best
            fallback = count < self._need
            img = self._read_patch(k, origin, True)[0]
        if biased:
            self._biased[k] += 1
            self._tries += tries
            if fallback:
                self._fallbacks[k] += 1
                if k not in self._warned:
                    self._warned.add(k)
                    warnings.warn(
                        f"PatchSampler: dataset {k} ({self.pairs[k].name!r}): no patch of {self.patch} "
                        f"with >= {self.min_vessel_fraction:g} vessel found in {self.max_tries} tries; "
                        f"using the best one seen (vessel fraction {count / self._n_patch:.3g}). Further "
                        f"fallbacks are counted in stats['fallbacks'] without warning.",
                        RuntimeWarning, stacklevel=2)
        self._draws[k] += 1
        frac = count / self._n_patch
        self._fraction_sum += frac
        return {"image": img[None], "label": lab[None],
                "valid": None if valid is None else valid[None], "dataset": k,
                "origin": tuple(int(o) for o in origin), "vessel_fraction": frac, "fallback": fallback}

    def batch(self, n: int, device="cpu"):
        """Draw ``n`` patches as tensors.

        Args:
            n: batch size.
            device: torch device of the returned tensors.

        Returns:
            (image, label, valid): float32 tensors (n, 1, Z, Y, X) on ``device``; ``valid`` is None
            when no sample has one, else float32 with 1 for the samples that have none.
        """
        fn = "PatchSampler.batch"
        n = _checks.positive_int(fn, "n", n)
        dev = _checks.as_device(fn, device)
        samples = [self.sample() for _ in range(n)]
        img = torch.from_numpy(np.stack([s["image"] for s in samples]))
        lab = torch.from_numpy(np.stack([s["label"] for s in samples]).astype(np.float32))
        valid = None
        if any(s["valid"] is not None for s in samples):
            ones = np.ones((1, *self.patch), np.uint8)
            valid = torch.from_numpy(np.stack([ones if s["valid"] is None else s["valid"]
                                               for s in samples]).astype(np.float32))
            valid = valid.to(dev)
        return img.to(dev), lab.to(dev), valid

    def __repr__(self) -> str:
        return (f"PatchSampler({len(self.pairs)} datasets, patch={self.patch}, p_vessel={self.p_vessel}, "
                f"min_vessel_fraction={self.min_vessel_fraction}, probabilities="
                f"{np.round(self.probabilities, 3).tolist()})")


class PatchDataset(torch.utils.data.IterableDataset):
    """A :class:`PatchSampler` as a ``torch`` ``IterableDataset``, for a ``DataLoader``.

    Yields ``length`` samples per pass as tuples ``(image, label, valid)`` of float32 tensors
    (1, Z, Y, X); ``valid`` is all ones for samples without a mask (so the default collate works).
    In the main process (``num_workers=0``) the sampler's own stream is used and continues across
    passes. In a worker, the sampler copy is reseeded from (sampler seed, the worker's torch seed, its id)
    once, so workers draw different patches, reproducibly when the ``DataLoader``'s generator is
    seeded (persistent workers continue their stream at the next pass); the ``length`` samples are
    shared among the workers. Statistics drawn in workers stay there.

    Args:
        sampler: the :class:`PatchSampler`.
        length: samples per pass.

    Example:
        >>> import numpy as np
        >>> lab = np.zeros((16, 16, 16), bool); lab[8, 8, :] = True
        >>> ds = PatchDataset(PatchSampler(VolumePair(lab * 1.0, lab), patch=8, progress=False), 3)
        >>> [tuple(t.shape) for t in next(iter(ds))], len(ds)
        ([(1, 8, 8, 8), (1, 8, 8, 8), (1, 8, 8, 8)], 3)
    """

    def __init__(self, sampler: PatchSampler, length: int):
        fn = "PatchDataset"
        if not isinstance(sampler, PatchSampler):
            _checks.fail(fn, "sampler", "a PatchSampler", type(sampler).__name__)
        self.sampler = sampler
        self.length = _checks.positive_int(fn, "length", length)

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        n = self.length
        if info is not None:
            n = self.length // info.num_workers + (info.id < self.length % info.num_workers)
            if getattr(self, "_worker_seed", None) != info.seed:   # once per worker process: a
                self._worker_seed = info.seed                       # persistent worker continues
                self.sampler._reseed(int(info.seed), int(info.id))  # its stream at the next pass
        ones = np.ones((1, *self.sampler.patch), np.float32)
        for _ in range(n):
            s = self.sampler.sample()
            valid = ones if s["valid"] is None else s["valid"].astype(np.float32)
            yield (torch.from_numpy(s["image"]), torch.from_numpy(s["label"].astype(np.float32)),
                   torch.from_numpy(valid))
