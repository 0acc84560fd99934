"""Augmentation protocols of the papers behind bbbcore, as :class:`~bbbcore.augment.Compose`.

``heavy_augs`` is the stall-catchers 3D CNN protocol (seeds/stall-catchers-3dcnn.md §2.2, the
"heavy augs" of its winning models, p = probability): rotate ≤ 10° about the first axis (0.3),
elastic (0.1), rot90 (0.5), flip each axis (0.5), grid dropout (0.1), Gaussian noise (0.2), random
gamma (0.2), random crop from borders (0.4), random drop plane (0.5), resize (1.0). The paper gives
the transforms and probabilities only; magnitudes not stated there follow volumentations-3D's
defaults where they are scale-free (rot90 in the (Y, X) plane, gamma 0.8–1.2, crop up to 10 %,
drop 10 % of the planes of the first (time) axis) and are otherwise ours (elastic ±4 voxels on a
7³ control grid, noise σ 1–5 % of the intensity range, dropout cells 8–32 voxels, half-size holes).

``tubenet`` is the tUbe net training protocol (seeds/tubenet-vessel-segmentation.md): random
rotation in the xy plane (±30°), scaling 1.0–1.25 in xy, reflections in x and y, then the patch
size.
"""
from __future__ import annotations

from bbbcore.augment.transforms import (Compose, ElasticTransform, Flip, GaussianNoise, GridDropout,
                                        RandomAffine, RandomCropFromBorders, RandomDropPlane,
                                        RandomGamma, RandomRotate90, Resize, Rotate)

__all__ = ["heavy_augs", "tubenet"]


def heavy_augs(out_shape=(96, 128, 128), *, seed: int | None = None, spacing=None,
               border_mode: str = "constant") -> Compose:
    """The stall-catchers "heavy augs" protocol ending at ``out_shape`` (Z, Y, X)."""
    return Compose([
        Rotate(limit_deg=10.0, axes=(0,), p=0.3),
        ElasticTransform(max_displacement=4.0, num_control_points=7, p=0.1),
        RandomRotate90(axes=(1, 2), p=0.5),
        Flip(axis=0, p=0.5),
        Flip(axis=1, p=0.5),
        Flip(axis=2, p=0.5),
        GridDropout(ratio=0.5, unit_size=(8, 32), p=0.1),
        GaussianNoise(std=(0.01, 0.05), relative=True, p=0.2),
        RandomGamma(gamma=(0.8, 1.2), p=0.2),
        RandomCropFromBorders(crop_fraction=0.1, sides="one", p=0.4),
        RandomDropPlane(drop_fraction=0.1, axes=(0,), p=0.5),
        Resize(out_shape, p=1.0),
    ], border_mode=border_mode, seed=seed, spacing=spacing)


def tubenet(out_shape=(64, 64, 64), *, seed: int | None = None, spacing=None,
            border_mode: str = "reflect") -> Compose:
    """The tUbe net protocol ending at ``out_shape`` (Z, Y, X): xy rotation ±30°, xy scale
    1.0–1.25, reflections in x and y (reflect border: no empty corners in training patches)."""
    return Compose([
        RandomAffine(rotate_deg=30.0, rotate_axes=(0,), scale=(1.0, 1.25), scale_axes=(1, 2),
                     flip_axes=(1, 2), p=1.0),
        Resize(out_shape, p=1.0),
    ], border_mode=border_mode, seed=seed, spacing=spacing)
