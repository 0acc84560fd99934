"""Geometries of the BBB transport model: a compartment label per voxel."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bbbcore import _checks

__all__ = ["Geometry", "slab_geometry", "krogh_geometry", "lattice_geometry", "from_vessel_mask"]


@dataclass(frozen=True)
class Geometry:
    """Compartment labels on a Cartesian grid.

    Attributes:
        labels: uint8 (Z, Y, X), the compartment index of each voxel.
        names: compartment name of each index (e.g. ("blood", "brain")).
        voxel_size_um: edge of the cubic voxels [µm].
    """

    labels: np.ndarray
    names: tuple[str, ...]
    voxel_size_um: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.labels.shape)

    @property
    def h_m(self) -> float:
        return self.voxel_size_um * 1e-6

    def index(self, name: str) -> int:
        if name not in self.names:
            _checks.fail("Geometry", "compartment", f"one of {list(self.names)}", repr(name))
        return self.names.index(name)

    def volume_m3(self, name: str) -> float:
        return float((self.labels == self.index(name)).sum()) * self.h_m ** 3


def slab_geometry(layers: Sequence[tuple[str, float]], voxel_size_um: float = 1.0,
                  cross_section: tuple[int, int] = (8, 8)) -> Geometry:
    """Layers along X (the seed's picture: vessel | barrier | brain), each ``(name, thickness_um)``;
    ``cross_section`` = (Z, Y) voxels. A name used twice is one compartment. Thicknesses must be
    whole numbers of voxels.

    Example:
        >>> g = slab_geometry([("blood", 4.0), ("brain", 12.0)], voxel_size_um=2.0, cross_section=(2, 3))
        >>> g.shape, g.names
        ((2, 3, 8), ('blood', 'brain'))
    """
    fn = "slab_geometry"
    h = _checks.positive(fn, "voxel_size_um", voxel_size_um, "µm")
    if not layers:
        _checks.fail(fn, "layers", "at least one (name, thickness_um) pair", layers)
    names: list[str] = []
    ids: list[int] = []
    for name, thk in layers:
        t = _checks.positive(fn, f"thickness of layer {name!r}", thk, "µm")
        n = t / h
        if abs(n - round(n)) > 1e-6 or round(n) < 1:
            _checks.fail(fn, f"thickness of layer {name!r}", f"a whole number (≥ 1) of voxels of {h:g} µm",
                         f"{t:g} µm")
        if name not in names:
            names.append(str(name))
        ids += [names.index(name)] * int(round(n))
    if len(names) > 8:
        _checks.fail(fn, "layers", "at most 8 compartments", len(names))
    nz, ny = (int(v) for v in cross_section)
    if nz < 1 or ny < 1:
        _checks.fail(fn, "cross_section", "two sizes ≥ 1 (Z, Y)", cross_section)
    lab = np.broadcast_to(np.asarray(ids, np.uint8)[None, None, :], (nz, ny, len(ids))).copy()
    return Geometry(lab, tuple(names), h)


def _cells(fn, length_um, h, what):
    n = _checks.positive(fn, what, length_um, "µm") / h
    if abs(n - round(n)) > 1e-6 or round(n) < 1:
        _checks.fail(fn, what, f"a whole number (≥ 1) of voxels of {h:g} µm", f"{length_um:g} µm")
    return int(round(n))


def krogh_geometry(capillary_radius_um: float = 3.0, tissue_radius_um: float = 20.0, length_um: float = 20.0,
                   voxel_size_um: float = 1.0) -> Geometry:
    """Krogh cylinder: one capillary along Z (radius r_c) in a tissue cylinder (radius R), the
    rest of the square cross-section "void" (no transport, so the tissue's outer surface is
    no-flux). Names: ("blood", "brain", "void").

    Example:
        >>> g = krogh_geometry(3.0, 10.0, 4.0, voxel_size_um=1.0)
        >>> g.shape, g.names
        ((4, 20, 20), ('blood', 'brain', 'void'))
    """
    fn = "krogh_geometry"
    h = _checks.positive(fn, "voxel_size_um", voxel_size_um, "µm")
    rc = _checks.positive(fn, "capillary_radius_um", capillary_radius_um, "µm")
    R = _checks.positive(fn, "tissue_radius_um", tissue_radius_um, "µm")
    if not rc < R:
        _checks.fail(fn, "capillary_radius_um", f"< tissue_radius_um = {R:g} µm", f"{rc:g} µm")
    nz = _cells(fn, length_um, h, "length_um")
    n = 2 * int(np.ceil(R / h))
    c = (np.arange(n) + 0.5) * h - n * h / 2
    r = np.hypot(c[:, None], c[None, :])
    plane = np.where(r < rc, 0, np.where(r <= R, 1, 2)).astype(np.uint8)
    return Geometry(np.broadcast_to(plane, (nz, n, n)).copy(), ("blood", "brain", "void"), h)


def lattice_geometry(spacing_um: float = 40.0, radius_um: float = 3.0, cells: tuple[int, int] = (1, 1),
                     length_um: float = 40.0, voxel_size_um: float = 1.0) -> Geometry:
    """A square lattice of straight capillaries along Z (radius r, centre-to-centre spacing) in
    brain tissue: ``cells`` = (rows, columns) of unit cells. Names: ("blood", "brain").

    Example:
        >>> g = lattice_geometry(10.0, 2.0, cells=(2, 3), length_um=5.0)
        >>> g.shape, int((g.labels == 0).sum() > 0)
        ((5, 20, 30), 1)
    """
    fn = "lattice_geometry"
    h = _checks.positive(fn, "voxel_size_um", voxel_size_um, "µm")
    s = _cells(fn, spacing_um, h, "spacing_um")
    r = _checks.positive(fn, "radius_um", radius_um, "µm")
    if not 2 * r < spacing_um:
        _checks.fail(fn, "radius_um", f"< spacing_um/2 = {spacing_um / 2:g} µm", f"{r:g} µm")
    nz = _cells(fn, length_um, h, "length_um")
    ny, nx = (int(v) for v in cells)
    if ny < 1 or nx < 1:
        _checks.fail(fn, "cells", "two counts ≥ 1", cells)
    c = (np.arange(s) + 0.5) * h - s * h / 2
    unit = (np.hypot(c[:, None], c[None, :]) >= r).astype(np.uint8)   # 0 blood, 1 brain
    plane = np.tile(unit, (ny, nx))
    return Geometry(np.broadcast_to(plane, (nz, *plane.shape)).copy(), ("blood", "brain"), h)


def from_vessel_mask(mask, voxel_size_um: float) -> Geometry:
    """A segmented microvascular network (e.g. from :mod:`bbbcore.vessels`): vessel voxels are
    blood, the rest brain. ``mask``: (Z, Y, X), nonzero = vessel."""
    fn = "from_vessel_mask"
    m = _checks.to_numpy(mask)
    if m.ndim != 3 or min(m.shape) < 1:
        _checks.fail(fn, "mask", "a (Z, Y, X) array", m.shape)
    h = _checks.positive(fn, "voxel_size_um", voxel_size_um, "µm")
    return Geometry(np.where(m != 0, 0, 1).astype(np.uint8), ("blood", "brain"), h)
