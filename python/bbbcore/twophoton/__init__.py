"""Simulation of two-photon movies of diffusing nanoparticles (pixel-timed raster scanning)."""
from bbbcore.twophoton.config import NoiseConfig, PSFConfig, ScanConfig
from bbbcore.twophoton.simulate import default_box_um, simulate_movies
from bbbcore.twophoton.timing import pixel_times_s

__all__ = ["ScanConfig", "PSFConfig", "NoiseConfig", "simulate_movies", "pixel_times_s",
           "default_box_um"]
