"""Figures of transport runs: time courses, a slice through the vessel, a profile from the wall."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from bbbcore import io

__all__ = ["plot_time_courses", "plot_slice_and_profile"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_time_courses(results: Mapping[str, "object"], path, *, compartment: str = "brain",
                      overwrite: bool = False, title: str = ""):
    """Mean unbound concentration in ``compartment`` over time, one line per run (e.g. per
    drug), with the Kp,uu of each in the legend. ``results``: label → Result."""
    plt = _plt()
    p = io._target("plot_time_courses", path, overwrite)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for label, res in results.items():
        try:
            kp = f" (Kp,uu {res.kp_uu():.2f})"
        except ValueError:
            kp = ""
        ax.plot(res.times_s / 60.0, res.mean_unbound(compartment), label=f"{label}{kp}")
    ax.set_xlabel("time [min]")
    ax.set_ylabel(f"mean unbound C in {compartment} [mol/m³]")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def plot_slice_and_profile(result, geom, path, *, t_s: float | None = None, overwrite: bool = False,
                           title: str = ""):
    """A (Y, X) slice through the middle of the grid at time ``t_s`` (default: the last field)
    and the concentration against the distance from the nearest blood voxel [µm]."""
    from scipy import ndimage

    plt = _plt()
    p = io._target("plot_slice_and_profile", path, overwrite)
    t = result.times_s[-1] if t_s is None else t_s
    c = result.concentration(t)
    blood = geom.labels == geom.index("blood")
    dist = ndimage.distance_transform_edt(~blood) * geom.voxel_size_um if blood.any() else None
    fig, axs = plt.subplots(1, 2, figsize=(9.0, 3.6))
    im = axs[0].imshow(c[c.shape[0] // 2], cmap="viridis", interpolation="nearest")
    axs[0].contour(blood[c.shape[0] // 2], levels=[0.5], colors="w", linewidths=0.6)
    fig.colorbar(im, ax=axs[0], label="C [mol/m³]")
    axs[0].set_title(f"slice z = {c.shape[0] // 2}, t = {t:.3g} s", fontsize=8)
    if dist is not None:
        brain = geom.labels == geom.index("brain")
        d, v = dist[brain], c[brain]
        bins = np.arange(0, d.max() + geom.voxel_size_um, geom.voxel_size_um)
        idx = np.digitize(d, bins)
        centers = [(bins[i - 1] + bins[i]) / 2 for i in range(1, len(bins)) if np.any(idx == i)]
        means = [v[idx == i].mean() for i in range(1, len(bins)) if np.any(idx == i)]
        axs[1].plot(centers, means, "o-", ms=3)
        axs[1].set_xlabel("distance from the vessel wall [µm]")
        axs[1].set_ylabel("mean C in brain [mol/m³]")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
