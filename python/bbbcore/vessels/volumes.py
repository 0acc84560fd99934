"""Volumes on disk, opened lazily: TIFF, Zarr, NumPy ``.npy`` — never read whole.

Users bring volumes thousands of voxels per side (two-photon, light-sheet, HREM, CT). Every reader
here returns an array-like that supports ``.shape``, ``.dtype``, ``.ndim`` and basic slicing
(``vol[z0:z1, y0:y1, x0:x1]`` → a NumPy array of that block only):

- ``.npy``: ``np.load(mmap_mode="r")`` (a memory map);
- ``.tif`` / ``.tiff``: ``tifffile.memmap`` when the pixel data are contiguous and uncompressed,
  otherwise the file's Zarr view (``tifffile.imread(aszarr=True)``), which decodes only the
  strips/tiles a slice touches;
- ``.zarr`` (a directory, or any path Zarr opens): ``zarr.open_array(mode="r")``, or the array
  ``name`` inside a group;
- in-memory arrays (NumPy, torch, Zarr arrays, anything with ``shape`` and slicing) pass through.

Intensities are normalised per dataset, not per patch, so that the network sees the same scale in
training patches and in sliding-window inference: :func:`intensity_range` takes percentiles of a
strided subsample (bounded memory) and :func:`normalize` maps them to [0, 1].
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from bbbcore import _checks

_SUFFIXES = (".npy", ".tif", ".tiff", ".zarr")


def open_volume(source, *, name: str = "source", array: str | None = None, ndim: int = 3):
    """Open a volume lazily (see the module docstring for the formats).

    Args:
        source: path (str / Path) to a ``.npy``, ``.tif``/``.tiff`` or Zarr store, or an array-like
            (NumPy, torch CPU tensor, Zarr array).
        name: the argument's name in error messages.
        array: the array inside a Zarr group (default: the group's only array, else "image",
            "prob" or "mask", the first present).
        ndim: required number of dimensions (3 for (Z, Y, X)).

    Returns:
        An array-like with ``shape``, ``dtype`` and slicing that reads only the requested block.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: unknown format, wrong number of dimensions, non-numeric dtype.
    """
    fn = "open_volume"
    if isinstance(source, (str, Path)):
        vol = _open_path(fn, name, Path(source), array)
    elif isinstance(source, torch.Tensor):
        if source.device.type != "cpu":
            source = source.detach().cpu()
        vol = source.detach().numpy()
    elif hasattr(source, "shape") and hasattr(source, "__getitem__") and hasattr(source, "dtype"):
        vol = source
    else:
        _checks.fail(fn, name, "a path (.npy, .tif, .tiff, .zarr) or an array", type(source).__name__)
    if len(vol.shape) != ndim:
        _checks.fail(fn, name, f"a {ndim}D volume", f"shape {tuple(vol.shape)}")
    if any(int(s) < 1 for s in vol.shape):
        _checks.fail(fn, name, "a non-empty volume", f"shape {tuple(vol.shape)}")
    kind = np.dtype(str(vol.dtype)) if not isinstance(vol.dtype, np.dtype) else vol.dtype
    if kind.kind not in "biuf":
        _checks.fail(fn, name, "a numeric or boolean volume", f"dtype {vol.dtype}")
    return vol


def _open_path(fn: str, name: str, path: Path, array: str | None):
    if not path.exists():
        raise FileNotFoundError(f"{fn}: {name} {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, mmap_mode="r")
    if suffix in (".tif", ".tiff"):
        import tifffile

        try:
            return tifffile.memmap(path, mode="r")
        except ValueError:          # compressed or non-contiguous: decode on demand through Zarr
            import zarr

            store = tifffile.imread(path, aszarr=True)
            z = zarr.open(store, mode="r")
            return z if hasattr(z, "shape") else z[next(iter(z.array_keys()))]
    if suffix == ".zarr" or path.is_dir():
        import zarr

        try:
            z = zarr.open(str(path), mode="r")
        except Exception as e:  # noqa: BLE001 - zarr raises several kinds for a non-store
            _checks.fail(fn, name, "a readable Zarr store", f"{str(path)!r} ({e})")
        if hasattr(z, "shape"):
            return z
        keys = sorted(z.array_keys())
        if array is not None:
            if array not in keys:
                _checks.fail(fn, "array", "one of the group's arrays " + str(keys), repr(array))
            return z[array]
        if len(keys) == 1:
            return z[keys[0]]
        for k in ("image", "prob", "mask"):      # a volume, or the output of segment()
            if k in keys:
                return z[k]
        _checks.fail(fn, "array", "the name of one of the group's arrays " + str(keys), "None")
    _checks.fail(fn, name, "a path ending in " + ", ".join(_SUFFIXES) + " or a Zarr directory",
                 repr(str(path)))


def create_zarr_array(parent, name: str, *, shape, chunks, dtype, fill_value=0):
    """A new array in a Zarr group (``create_array`` of zarr 3, ``create_dataset`` of zarr 2)."""
    make = getattr(parent, "create_array", None) or parent.create_dataset
    return make(name, shape=tuple(shape), chunks=tuple(chunks), dtype=dtype, fill_value=fill_value)


def intensity_range(volume, percentiles=(0.5, 99.5), *, max_samples: int = 2_000_000) -> tuple[float, float]:
    """Robust intensity range of a volume from a strided subsample (bounded memory).

    The volume is read in Z slabs; from each slab a regular sub-grid is kept so that at most about
    ``max_samples`` voxels are held at once, whatever the volume's size.

    Args:
        volume: array-like (Z, Y, X) (see :func:`open_volume`).
        percentiles: (low, high) in [0, 100].
        max_samples: voxels sampled at most.

    Returns:
        (lo, hi) as floats; hi > lo (a constant volume gives (v, v + 1)).
    """
    fn = "intensity_range"
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0.0 <= lo_p < hi_p <= 100.0:
        _checks.fail(fn, "percentiles", "(low, high) with 0 <= low < high <= 100", tuple(percentiles))
    _checks.positive_int(fn, "max_samples", max_samples)
    shape = tuple(int(s) for s in volume.shape)
    n = math.prod(shape)
    stride = max(1, math.ceil((n / max_samples) ** (1.0 / len(shape))))
    sl_zyx = tuple(slice(0, None, stride) for _ in shape[1:])
    slab = max(1, 64 // stride) * stride
    parts = []
    for z0 in range(0, shape[0], slab):
        block = np.asarray(volume[(slice(z0, min(z0 + slab, shape[0]), stride),) + sl_zyx])
        parts.append(block.astype(np.float32, copy=False).ravel())
    sample = np.concatenate(parts)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        _checks.fail(fn, "volume", "a volume with finite values", "no finite value in the sample")
    lo, hi = (float(v) for v in np.percentile(sample, [lo_p, hi_p]))
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def normalize(block, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] to [0, 1] (float32; values outside are kept, not clipped)."""
    out = np.asarray(block, dtype=np.float32)
    return (out - np.float32(lo)) * np.float32(1.0 / (hi - lo))
