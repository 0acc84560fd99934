"""Files in the field's formats: TIFF stacks (tifffile), NumPy archives, JSON, PNG figures.

Nothing existing is overwritten unless ``overwrite=True`` is passed explicitly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _target(fn: str, path, overwrite: bool) -> Path:
    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{fn}: {p} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if not p.parent.exists():
        raise FileNotFoundError(f"{fn}: folder {p.parent} does not exist")
    return p


def write_tiff(path, data, *, axes: str, overwrite: bool = False, metadata: dict | None = None) -> Path:
    """Write an array as a (Big)TIFF stack with its axes recorded (e.g. ``"QTYX"``).

    Args:
        path: output file (``.tif``/``.tiff``).
        data: array-like (torch tensors are moved to the CPU).
        axes: one letter per dimension, tifffile convention (Q = movie, T = time, Z, Y, X).
        overwrite: replace an existing file.
        metadata: extra JSON-serialisable metadata stored in the TIFF description.
    """
    import tifffile

    arr = _numpy(data)
    if len(axes) != arr.ndim:
        raise ValueError(f"write_tiff: axes must have one letter per dimension ({arr.ndim}), got {axes!r}")
    p = _target("write_tiff", path, overwrite)
    md = {"axes": axes, **(metadata or {})}
    tifffile.imwrite(p, arr, bigtiff=arr.nbytes > 2**31, metadata=md, photometric="minisblack")
    return p


def read_tiff(path) -> np.ndarray:
    """Read a TIFF stack written by :func:`write_tiff` (or any TIFF) as a NumPy array."""
    import tifffile

    return tifffile.imread(path)


def write_json(path, obj, *, overwrite: bool = False) -> Path:
    p = _target("write_json", path, overwrite)
    with open(p, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(obj), fh, indent=2)
        fh.write("\n")
    return p


def write_npz(path, *, overwrite: bool = False, **arrays) -> Path:
    p = _target("write_npz", path, overwrite)
    np.savez_compressed(p, **{k: _numpy(v) for k, v in arrays.items()})
    return p


def save_montage(path, movie, *, frames: int = 16, title: str = "", overwrite: bool = False,
                 pixel_size_um: float | None = None) -> Path:
    """PNG montage of the first ``frames`` frames of one movie ``(T, Y, X)``, one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = _numpy(movie)
    if m.ndim != 3:
        raise ValueError(f"save_montage: movie must be (T, Y, X), got shape {m.shape}")
    p = _target("save_montage", path, overwrite)
    n = max(1, min(frames, m.shape[0]))
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    vmin, vmax = np.percentile(m[:n], [1, 99.8]) if m.size else (0, 1)
    fig, axs = plt.subplots(rows, cols, figsize=(1.8 * cols + 0.8, 1.8 * rows + 0.6), squeeze=False)
    for i, ax in enumerate(axs.flat):
        ax.set_axis_off()
        if i < n:
            im = ax.imshow(m[i], cmap="magma", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(f"frame {i}", fontsize=8)
    if pixel_size_um:
        title = f"{title}  (pixel {pixel_size_um:g} µm)".strip()
    fig.suptitle(title, fontsize=9)
    fig.colorbar(im, ax=axs, shrink=0.8, label="counts")
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "detach") or isinstance(obj, np.ndarray):
        a = _numpy(obj)
        return [_jsonable(v) for v in a.tolist()] if a.ndim else _jsonable(a.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, (np.floating, np.integer)):
        return _jsonable(obj.item())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj
