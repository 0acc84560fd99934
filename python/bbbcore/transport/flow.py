"""Blood flow through a segmented vessel network, for the blood channel of :class:`Simulation`.

Straight vessels along an axis (Krogh cylinder, capillary lattice, slab) carry plug flow along
that axis. A network segmented from an image (:func:`~bbbcore.transport.from_vessel_mask`)
branches, bends and merges, so the flow is solved on its lumen voxels:

- every lumen voxel is equally conductive (a porous-lumen, Darcy model): the discrete Laplace
  equation for a pressure p on the lumen voxels, face-connected (6-neighbourhood);
- the lumen voxels on the first plane along ``flow_axis`` are the inlets (p = 1 half a voxel
  outside the volume), those on the last plane the outlets (p = 0); other walls of the volume
  are closed;
- the flux of each face is the pressure difference across it (a discretely divergence-free
  field), scaled so that the mean speed over the inlet faces is ``mean_speed_m_s``.

In a straight tube this is uniform plug flow, the same as the axis channel. Between vessels of
different calibres a vessel's flow scales with its cross-section (conductance ∝ r², not the r⁴ of
Poiseuille): use it for the paths and the mixing of the drug in the network, and calibrate the
speed with a measured one (red-blood-cell speeds: ~0.3–1 mm/s in capillaries). Lumen voxels in
pieces that do not connect an inlet to an outlet (common in segmentations) get no flow: their
blood only exchanges with the tissue (:attr:`NetworkFlow.stagnant_voxels` counts them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bbbcore import _checks
from bbbcore.transport.geometry import Geometry

__all__ = ["NetworkFlow", "network_flow"]


def _face_slices(a: int):
    """(lower, upper) index tuples of the cell pairs that share a face along axis a."""
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[a] = slice(0, -1)
    hi[a] = slice(1, None)
    return tuple(lo), tuple(hi)


@dataclass
class NetworkFlow:
    """A steady flow field on the lumen voxels.

    Attributes:
        face_speed_m_s: (3, Z, Y, X) signed speed through the face between each voxel and its
            +1 neighbour along each axis (positive towards +axis; 0 off the lumen).
        inlet_speed_m_s: (Z, Y, X) speed entering each voxel through the volume's boundary.
        outlet_speed_m_s: (Z, Y, X) speed leaving each voxel through the volume's boundary.
        pressure: (Z, Y, X) dimensionless pressure (1 at the inlets, 0 at the outlets; NaN off
            the flowing lumen).
        flow_axis: the axis from whose first plane the blood enters.
        stagnant_voxels: lumen voxels with no flow (pieces not joining an inlet to an outlet).
        voxel_size_m: h.
    """

    face_speed_m_s: np.ndarray
    inlet_speed_m_s: np.ndarray
    outlet_speed_m_s: np.ndarray
    pressure: np.ndarray
    flow_axis: int
    stagnant_voxels: int
    voxel_size_m: float

    @property
    def flow_rate_m3_s(self) -> float:
        """Volumetric blood flow through the network (inlet faces × speed × h²)."""
        return float(self.inlet_speed_m_s.sum()) * self.voxel_size_m ** 2

    def rates_per_s(self):
        """The kernel's arrays: (face u/h (3, Z, Y, X), inlet u/h, outlet u/h) [1/s]."""
        h = self.voxel_size_m
        return self.face_speed_m_s / h, self.inlet_speed_m_s / h, self.outlet_speed_m_s / h

    def outflow_rate_per_s(self) -> np.ndarray:
        """Per voxel: the total rate u/h [1/s] at which the flow carries its content away (faces
        whose flow leaves it, and the outlets): the flow's part of the explicit step limit."""
        v, _, out = self.rates_per_s()
        rate = out.copy()
        for a in range(3):
            lo, hi = _face_slices(a)
            va = v[a][lo]
            rate[lo] += np.maximum(va, 0.0)
            rate[hi] += np.maximum(-va, 0.0)
        return rate

    def divergence_per_s(self) -> np.ndarray:
        """Net outflow rate of each voxel [1/s] (0 up to the solver's rounding everywhere)."""
        v, fin, fout = self.rates_per_s()
        div = fout - fin
        for a in range(3):
            lo, hi = _face_slices(a)
            va = v[a][lo]
            div[lo] += va
            div[hi] -= va
        return div


def network_flow(geom: Geometry, mean_speed_m_s: float, *, flow_axis: int = 0, blood: str = "blood") -> NetworkFlow:
    """Solve the steady flow through the lumen (the ``blood`` voxels) of ``geom`` (module docstring).

    Args:
        geom: the geometry (e.g. :func:`~bbbcore.transport.from_vessel_mask`).
        mean_speed_m_s: mean blood speed over the inlet faces [m/s].
        flow_axis: blood enters through the first plane along this axis and leaves through the last.
        blood: the lumen compartment's name.

    Raises:
        ValueError: a bad argument, or no lumen path from the first to the last plane.
    """
    import scipy.ndimage as ndi
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    fn = "network_flow"
    if not isinstance(geom, Geometry):
        _checks.fail(fn, "geom", "a bbbcore.transport.Geometry", type(geom).__name__)
    speed = _checks.positive(fn, "mean_speed_m_s", mean_speed_m_s, "m/s")
    ax = _checks.choice(fn, "flow_axis", flow_axis, (0, 1, 2))
    lumen = geom.labels == geom.index(blood)
    first = [slice(None)] * 3
    last = [slice(None)] * 3
    first[ax], last[ax] = 0, -1
    first, last = tuple(first), tuple(last)
    comp, _ = ndi.label(lumen)      # face-connected pieces
    joined = np.intersect1d(np.unique(comp[first]), np.unique(comp[last]))
    joined = joined[joined > 0]
    if joined.size == 0:
        _checks.fail(fn, "geom", f"a {blood!r} lumen that joins the first plane along axis {ax} to the last",
                     "no such path")
    active = np.isin(comp, joined)
    idx = -np.ones(lumen.shape, np.int64)
    n = int(active.sum())
    idx[active] = np.arange(n)
    # conductance 1 between face-adjacent active voxels; 2 from an inlet/outlet voxel to the boundary
    rows, cols = [], []
    for a in range(3):
        lo, hi = _face_slices(a)
        both = active[lo] & active[hi]
        rows.append(idx[lo][both])
        cols.append(idx[hi][both])
    r, c = np.concatenate(rows), np.concatenate(cols)
    inlet = np.zeros(lumen.shape)
    outlet = np.zeros(lumen.shape)
    inlet[first] = active[first] * 2.0
    outlet[last] = active[last] * 2.0
    diag = np.bincount(r, minlength=n) + np.bincount(c, minlength=n) + (inlet + outlet)[active]
    A = sp.coo_matrix((np.concatenate([-np.ones(r.size), -np.ones(r.size), diag]),
                       (np.concatenate([r, c, np.arange(n)]), np.concatenate([c, r, np.arange(n)]))),
                      shape=(n, n)).tocsc()
    p_act = spla.spsolve(A, inlet[active])
    p = np.full(lumen.shape, np.nan)
    p[active] = p_act
    pz = np.where(active, p, 0.0)
    q = np.zeros((3, *lumen.shape))
    for a in range(3):
        lo, hi = _face_slices(a)
        both = active[lo] & active[hi]
        q[a][lo] = np.where(both, pz[lo] - pz[hi], 0.0)
    q_in = inlet * (1.0 - pz)
    q_out = outlet * pz
    scale = speed / float(q_in[first][active[first]].mean())
    return NetworkFlow(q * scale, q_in * scale, q_out * scale, p, ax, int((lumen & ~active).sum()), geom.h_m)
