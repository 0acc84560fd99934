"""Figures of transport runs: time courses, a slice through the vessel, a profile from the wall,
3D maximum-intensity projections, and two drugs side by side."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from bbbcore import io

__all__ = ["plot_time_courses", "plot_slice_and_profile", "plot_mip", "plot_pair"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _wall_profile(c, geom, compartment: str, dist):
    """Mean of ``c`` over the cells of ``compartment`` in bins of one voxel of the distance from
    the vessel wall ``dist`` [µm]: (bin centres, means), empty bins left out."""
    sel = geom.labels == geom.index(compartment)
    d, v = dist[sel], c[sel]
    h = geom.voxel_size_um
    bins = np.arange(0, d.max() + 2 * h, h)
    idx = np.digitize(d, bins)
    keep = [i for i in range(1, len(bins)) if np.any(idx == i)]
    return [(bins[i - 1] + bins[i]) / 2 for i in keep], [float(v[idx == i].mean()) for i in keep]


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
        centers, means = _wall_profile(c, geom, "brain", dist)
        axs[1].plot(centers, means, "o-", ms=3)
        axs[1].set_xlabel("distance from the vessel wall [µm]")
        axs[1].set_ylabel("mean C in brain [mol/m³]")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def plot_mip(result, geom, path, *, t_s: float | None = None, compartment: str | None = "brain",
             unbound_fu: float | None = None, overwrite: bool = False, title: str = ""):
    """Maximum-intensity projections of the field at ``t_s`` (default: the last recorded) along
    Z, Y and X, restricted to ``compartment`` (None: every cell), with the vessel outline;
    ``unbound_fu`` scales to unbound concentrations. Axis units µm."""
    plt = _plt()
    p = io._target("plot_mip", path, overwrite)
    t = result.times_s[-1] if t_s is None else t_s
    c = np.asarray(result.concentration(t), np.float64)
    if unbound_fu is not None:
        c = c * float(unbound_fu)
    if compartment is not None:
        c = np.where(geom.labels == geom.index(compartment), c, np.nan)
    blood = geom.labels == geom.index("blood") if "blood" in geom.names else None
    h = geom.voxel_size_um
    fig, axs = plt.subplots(1, 3, figsize=(11.0, 3.6))
    finite = c[np.isfinite(c)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    names = ("Z", "Y", "X")
    for ax_i, axis in enumerate((0, 1, 2)):
        with np.errstate(all="ignore"):
            mip = np.nanmax(np.where(np.isfinite(c), c, -np.inf), axis=axis)
        mip = np.where(np.isfinite(mip), mip, np.nan)
        rest = [names[a] for a in range(3) if a != axis]
        shape = mip.shape
        im = axs[ax_i].imshow(mip, cmap="magma", vmin=vmin, vmax=vmax, interpolation="nearest", origin="lower",
                              extent=(0, shape[1] * h, 0, shape[0] * h), aspect="auto")
        if blood is not None and blood.any():
            axs[ax_i].contour(blood.any(axis=axis).astype(float), levels=[0.5], colors="c", linewidths=0.6,
                              extent=(0, shape[1] * h, 0, shape[0] * h))
        axs[ax_i].set_xlabel(f"{rest[1]} [µm]")
        axs[ax_i].set_ylabel(f"{rest[0]} [µm]")
        axs[ax_i].set_title(f"max along {names[axis]}", fontsize=8)
    fig.colorbar(im, ax=list(axs), label=("unbound " if unbound_fu is not None else "") + "C [mol/m³]")
    fig.suptitle(f"{title}  t = {t:.4g} s".strip(), fontsize=9)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def plot_pair(results: Mapping[str, "object"], geoms: Mapping[str, "object"], path, *,
              compartment: str = "brain", overwrite: bool = False, title: str = ""):
    """Two (or more) drugs side by side: mean unbound concentration in ``compartment`` over time
    (left) and the last field's mean concentration against the distance from the vessel wall
    (right). ``results`` / ``geoms``: label → Result / Geometry."""
    from scipy import ndimage

    plt = _plt()
    p = io._target("plot_pair", path, overwrite)
    fig, axs = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for label, res in results.items():
        axs[0].plot(res.times_s / 60.0, res.mean_unbound(compartment), label=label)
        geom = geoms[label]
        if res.snapshots and "blood" in geom.names:
            blood = geom.labels == geom.index("blood")
            dist = ndimage.distance_transform_edt(~blood) * geom.voxel_size_um
            centers, means = _wall_profile(res.concentration(res.times_s[-1]), geom, compartment, dist)
            axs[1].plot(centers, means, "o-", ms=3, label=label)
    axs[0].set_xlabel("time [min]")
    axs[0].set_ylabel(f"mean unbound C in {compartment} [mol/m³]")
    axs[0].set_yscale("symlog", linthresh=1e-9)
    axs[1].set_xlabel("distance from the vessel wall [µm]")
    axs[1].set_ylabel(f"C in {compartment} at the end [mol/m³]")
    for ax in axs:
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
