"""NumPy float64 reference implementations (oracles for the tests and peers of the benchmarks).

Readable rather than fast, written from the equations they cite; never imported by the fast path.

- :mod:`bbbcore.reference.philox`: Philox4x32-10 blocks and the Box–Muller normals built on them.
- :mod:`bbbcore.reference.twophoton`: pixel times of a raster scan, the static PSF sum of paper
  eq. (1), and an exact per-pixel-time two-photon movie simulator.
"""
from bbbcore.reference.philox import normal_ref, philox4x32_ref
from bbbcore.reference.twophoton import pixel_times_ref, render_static_ref, simulate_2pm_ref

__all__ = ["philox4x32_ref", "normal_ref", "pixel_times_ref", "render_static_ref",
           "simulate_2pm_ref"]
