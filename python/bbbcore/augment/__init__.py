"""Fused 3D augmentations: the whole spatial chain in one gather per output voxel, batched.

Spatial transforms (rotate, scale/affine, elastic B-spline, flip, rot90, crop-from-borders,
drop-plane, resize) compose into one coordinate map per output voxel and one trilinear gather
(nearest for masks); noise, gamma and grid-dropout fills run in the same kernel's epilogue. One
launch per batch on the CPU (OpenMP) or a GPU (CUDA), per-sample random parameters, reproducible
from a seed on either device. See :mod:`bbbcore.augment.functional` for the conventions.

Example:
    >>> import torch
    >>> from bbbcore import augment as A
    >>> aug = A.presets.heavy_augs(out_shape=(16, 24, 24), seed=0)
    >>> x = torch.rand(4, 1, 20, 32, 32)
    >>> aug.batch(x).shape
    torch.Size([4, 1, 16, 24, 24])
"""
from bbbcore import ops as _ops  # noqa: F401  (registers torch.ops.bbbcore.*)
from bbbcore.augment import functional, presets
from bbbcore.augment.dictionary import AugmentDict
from bbbcore.augment.transforms import (Compose, ElasticTransform, Flip, GaussianNoise, GridDropout,
                                        RandomAffine, RandomCropFromBorders, RandomDropPlane,
                                        RandomGamma, RandomRotate90, RandomScale, Resize, Rotate,
                                        Transform)

__all__ = [
    "functional", "presets", "AugmentDict", "Compose", "Transform", "Rotate", "RandomScale",
    "RandomAffine", "ElasticTransform", "Flip", "RandomRotate90", "GridDropout", "GaussianNoise",
    "RandomGamma", "RandomCropFromBorders", "RandomDropPlane", "Resize",
]
