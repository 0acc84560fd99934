"""Preview of augmented volumes: central slices of the original and of each copy."""
from __future__ import annotations

import numpy as np

from bbbcore import io


def save_preview(path, original, augmented, *, max_copies: int = 6, overwrite: bool = False,
                 title: str = ""):
    """PNG: the original (first channel) and up to ``max_copies`` augmented copies, each as its
    central Z slice and central Y slice (one colour scale per column pair).

    Args:
        path: output PNG.
        original: (Z, Y, X) or (C, Z, Y, X) array.
        augmented: (N, Z', Y', X') or (N, C, Z', Y', X') array.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    o = io._numpy(original)
    a = io._numpy(augmented)
    o = o[0] if o.ndim == 4 else o
    a = a[:, 0] if a.ndim == 5 else a
    if o.ndim != 3 or a.ndim != 4:
        raise ValueError(f"save_preview: original must be (Z, Y, X) and augmented (N, Z, Y, X), "
                         f"got {o.shape} and {a.shape}")
    p = io._target("save_preview", path, overwrite)
    vols = [("original", o)] + [(f"copy {i}", a[i]) for i in range(min(max_copies, a.shape[0]))]
    lo, hi = np.percentile(np.concatenate([v.ravel() for _, v in vols]), [1, 99.8])
    fig, axs = plt.subplots(2, len(vols), figsize=(1.9 * len(vols) + 0.6, 4.0), squeeze=False)
    for j, (name, v) in enumerate(vols):
        axs[0, j].imshow(v[v.shape[0] // 2], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        axs[1, j].imshow(v[:, v.shape[1] // 2], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest",
                         aspect="auto")
        axs[0, j].set_title(name, fontsize=8)
        for ax in axs[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    axs[0, 0].set_ylabel("central Z slice (Y, X)", fontsize=7)
    axs[1, 0].set_ylabel("central Y slice (Z, X)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
