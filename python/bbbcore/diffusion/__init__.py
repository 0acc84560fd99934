"""Diffusion coefficients from two-photon movies (Kirkegaard, Kutuzov et al.).

Submodules: ``classic`` (MSD-OLS and CVE estimators on trajectories), ``tracking`` (trackpy
locate → link → fit with automatically tuned parameters; optional extra ``classic``), ``dle``
(the deep-learning estimator: network, loss, training, estimation).
"""
