"""Diffusion coefficients from two-photon movies (Kirkegaard, Kutuzov et al., MICCAI).

- :mod:`~bbbcore.diffusion.classic`: MSD-OLS (optimal number of lags) and CVE
  (Vestergaard–Blainey–Flyvbjerg, with the raster motion-blur coefficient) on trajectories, each
  with a standard error; NaN-safe.
- :mod:`~bbbcore.diffusion.tracking`: the paper's classic baseline, trackpy locate → link → MSD
  fit, with parameters tuned on a calibration set simulated with the movie's own settings
  (optional extra ``classic``; imported lazily).
- :mod:`~bbbcore.diffusion.dle`, :mod:`~bbbcore.diffusion.train`,
  :mod:`~bbbcore.diffusion.estimate`: the deep-learning estimator (network, loss, training on
  movies simulated on the fly, estimation on movies of any size by inverse-variance combination
  of crops).
"""
from bbbcore.diffusion.classic import (DiffusionEstimate, cve, frame_interval_s, msd_ols,
                                       raster_blur_coefficient)
from bbbcore.diffusion.dle import DLE, DLEConfig, gaussian_nll, load_dle, save_dle
from bbbcore.diffusion.estimate import (MovieEstimate, combine_estimates, crop_scan,
                                        estimate_diffusion, plot_crop_map)
from bbbcore.diffusion.train import train_dle

__all__ = ["DiffusionEstimate", "cve", "msd_ols", "raster_blur_coefficient", "frame_interval_s",
           "DLE", "DLEConfig", "gaussian_nll", "load_dle", "save_dle", "train_dle",
           "MovieEstimate", "estimate_diffusion", "combine_estimates", "crop_scan", "plot_crop_map"]
