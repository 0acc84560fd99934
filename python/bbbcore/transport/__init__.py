"""Drug transport across the blood–brain barrier: finite-volume model on a voxel grid.

Compartment geometries (:func:`slab_geometry`, :func:`krogh_geometry`, :func:`lattice_geometry`,
:func:`from_vessel_mask`); drugs (:mod:`~bbbcore.transport.drugs`: a sourced library of eight drugs
and user TOML files); membranes as faces (passive permeability, Michaelis–Menten carrier influx with
competition and efflux, pores); plasma curves (constant, bolus, infusion, table) or a blood
channel (plug flow in straight vessels, the steady flow of :func:`network_flow` through a segmented
network); brain clearance / endothelial metabolism; the explicit forward-Euler and
Douglas ADI steppers on CPU (OpenMP) and CUDA (``torch.ops.bbbcore.transport_*``), mass bookkeeping
in float64; ready-made studies and the drug panel (:mod:`~bbbcore.transport.study`, CLI
``bbbcore transport`` / ``transport-panel``); figures (:mod:`~bbbcore.transport.plot`). See
:mod:`bbbcore.transport.simulate` for the model.
"""
from bbbcore import ops as _ops  # noqa: F401  (registers torch.ops.bbbcore.*)
from bbbcore.transport import drugs, study
from bbbcore.transport.flow import NetworkFlow, network_flow
from bbbcore.transport.geometry import (Geometry, from_vessel_mask, krogh_geometry, lattice_geometry,
                                        slab_geometry)
from bbbcore.transport.model import Drug, Membrane, Plasma
from bbbcore.transport.simulate import Result, Simulation

__all__ = ["Geometry", "slab_geometry", "krogh_geometry", "lattice_geometry", "from_vessel_mask", "Drug",
           "Membrane", "Plasma", "Simulation", "Result", "NetworkFlow", "network_flow", "drugs", "study"]
