"""Drug transport across the blood–brain barrier: finite-volume model on a voxel grid.

This release: compartment geometries (:func:`slab_geometry`, :func:`krogh_geometry`,
:func:`lattice_geometry`, :func:`from_vessel_mask`), drugs, membranes (passive
permeability + Michaelis–Menten efflux as face fluxes), plasma curves, and the explicit
forward-Euler and Douglas ADI steppers on CPU (OpenMP) and CUDA (``torch.ops.bbbcore.transport_*``), with
mass bookkeeping in float64. See :mod:`bbbcore.transport.simulate` for the model.
"""
from bbbcore import ops as _ops  # noqa: F401  (registers torch.ops.bbbcore.*)
from bbbcore.transport.geometry import (Geometry, from_vessel_mask, krogh_geometry, lattice_geometry,
                                        slab_geometry)
from bbbcore.transport.model import Drug, Membrane, Plasma
from bbbcore.transport.simulate import Result, Simulation

__all__ = ["Geometry", "slab_geometry", "krogh_geometry", "lattice_geometry", "from_vessel_mask", "Drug", "Membrane", "Plasma", "Simulation", "Result"]
