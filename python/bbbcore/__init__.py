"""bbbcore: GPU-accelerated imaging and modelling of the brain microvasculature and the BBB.

Areas (one subpackage each): ``twophoton`` (two-photon movie simulator), ``diffusion``
(diffusion coefficients from movies), ``augment`` (fused 3D augmentations). Native kernels are
registered as ``torch.ops.bbbcore.*`` custom ops when :mod:`bbbcore.ops` is imported (the public
APIs import it for you).
"""
from __future__ import annotations

from bbbcore._native import build_info, cpu_isa, has_cuda, use_cpu_isa

__version__ = "0.1.0"

__all__ = ["build_info", "cpu_isa", "has_cuda", "use_cpu_isa", "__version__"]
