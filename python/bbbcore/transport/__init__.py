"""Drug transport across the blood–brain barrier: finite-volume model on a voxel grid.

This release: compartment geometries (:func:`slab_geometry`), drugs, membranes (passive
permeability + Michaelis–Menten efflux as face fluxes), plasma curves, and the explicit
forward-Euler stepper on CPU (OpenMP) and CUDA (``torch.ops.bbbcore.transport_explicit``), with
mass bookkeeping in float64. See :mod:`bbbcore.transport.simulate` for the model.
"""
from bbbcore import ops as _ops  # noqa: F401  (registers torch.ops.bbbcore.*)
from bbbcore.transport.geometry import Geometry, slab_geometry
from bbbcore.transport.model import Drug, Membrane, Plasma
from bbbcore.transport.simulate import Result, Simulation

__all__ = ["Geometry", "slab_geometry", "Drug", "Membrane", "Plasma", "Simulation", "Result"]
