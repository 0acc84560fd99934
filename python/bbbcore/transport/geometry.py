"""Geometries of the BBB transport model: a compartment label per voxel."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bbbcore import _checks

__all__ = ["Geometry", "slab_geometry"]


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
