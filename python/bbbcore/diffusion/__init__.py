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
- :mod:`~bbbcore.diffusion.evaluate`: the paper's Table 1 protocol (mean guess, tuned trackpy,
  CVE, DLE; L1/L2/NLL on all movies and the best half by each method's σ̂; bias, slope, coverage)
  and its Fig. 3A plot.
"""
from bbbcore.diffusion.classic import (DiffusionEstimate, cve, frame_interval_s, msd_ols,
                                       raster_blur_coefficient)
from bbbcore.diffusion.dle import DLE, DLEConfig, gaussian_nll, load_dle, save_dle
from bbbcore.diffusion.estimate import (MovieEstimate, combine_estimates, crop_scan,
                                        estimate_diffusion, plot_crop_map)
from bbbcore.diffusion.evaluate import (PAPER_TABLE1, evaluate_methods, format_table, make_test_set,
                                        run_evaluation)
from bbbcore.diffusion.train import train_dle

__all__ = ["DiffusionEstimate", "cve", "msd_ols", "raster_blur_coefficient", "frame_interval_s",
           "DLE", "DLEConfig", "gaussian_nll", "load_dle", "save_dle", "train_dle",
           "MovieEstimate", "estimate_diffusion", "combine_estimates", "crop_scan", "plot_crop_map",
           "make_test_set", "evaluate_methods", "run_evaluation", "format_table", "PAPER_TABLE1"]
