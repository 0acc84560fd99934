"""``bbbcore::augment_resample``: the fused 3D augmentation kernel (spatial chain + epilogue).

The op takes the packed per-sample programs of :mod:`bbbcore.augment._program` (drawn and compiled
by :mod:`bbbcore.augment`), so it is a pure function of its inputs and the seed. Native kernels:
``csrc/augment/resample_{cpu.cpp,cuda.cu}`` over ``csrc/include/bbbcore/augment/resample.h``.
"""
from __future__ import annotations

import torch

from bbbcore import _checks
from bbbcore._native import _C, check_device, on_device, stream_ptr

PROG_LEN = int(_C.AUGMENT_PROGRAM_LEN)
IMAGE_TYPES = {torch.float32: 0, torch.uint8: 1, torch.uint16: 2}
MASK_TYPES = {torch.uint8: 1, torch.int32: 2, torch.int64: 3, torch.float32: 4}


def _check(fn, image, mask, program, tables, ctrl, stats, out_shape, border):
    check_device(fn, image)
    if image.dim() != 5:
        _checks.fail(fn, "image", "of shape (B, C, Z, Y, X)", tuple(image.shape))
    if image.dtype not in IMAGE_TYPES:
        _checks.fail(fn, "image", "of dtype float32, uint8 or uint16", image.dtype)
    B, C = image.shape[:2]
    if C < 1:
        _checks.fail(fn, "image", "with at least one channel", tuple(image.shape))
    if min(image.shape[2:]) < 1 and B > 0:
        _checks.fail(fn, "image", "with spatial sizes ≥ 1", tuple(image.shape))
    dev = image.device
    if mask is not None:
        if mask.dim() != 5 or mask.shape[0] != B or mask.shape[2:] != image.shape[2:]:
            _checks.fail(fn, "mask", f"of shape ({B}, Cm, {', '.join(map(str, image.shape[2:]))})",
                         tuple(mask.shape))
        if mask.dtype not in MASK_TYPES:
            _checks.fail(fn, "mask", "of dtype uint8, int32, int64 or float32", mask.dtype)
        if mask.device != dev:
            _checks.fail(fn, "mask", f"on device {dev}", mask.device)
    program = _checks.tensor(fn, "program", program, dtype=torch.float32, shape=(B, PROG_LEN), device=dev)
    tables = _checks.tensor(fn, "tables", tables, dtype=torch.int32, shape=(B, None), device=dev)
    ctrl = _checks.tensor(fn, "ctrl", ctrl, dtype=torch.float32, shape=(B, None), device=dev)
    if stats is not None:
        stats = _checks.tensor(fn, "stats", stats, dtype=torch.float32, shape=(B, C, 2), device=dev)
    if len(out_shape) != 3 or min(out_shape) < 1:
        _checks.fail(fn, "out_shape", "3 sizes ≥ 1", tuple(out_shape))
    if border not in (0, 1, 2):
        _checks.fail(fn, "border", "0 (constant), 1 (nearest) or 2 (reflect)", border)
    return program, tables, ctrl, stats


def _outputs(image, mask, out_shape):
    B, C = image.shape[:2]
    out = torch.empty((B, C, *out_shape), dtype=torch.float32, device=image.device)
    if mask is None:
        mout = torch.empty((0,), dtype=torch.uint8, device=image.device)
    else:
        mout = torch.empty((B, mask.shape[1], *out_shape), dtype=mask.dtype, device=image.device)
    return out, mout


def _launch(image, mask, program, tables, ctrl, stats, out_shape, border, fill, mask_fill, seed, cuda):
    fn = "augment_resample"
    program, tables, ctrl, stats = _check(fn, image, mask, program, tables, ctrl, stats, out_shape, border)
    image = image.contiguous()
    mask = None if mask is None else mask.contiguous()
    out, mout = _outputs(image, mask, out_shape)
    if image.shape[0] == 0:
        return out, mout
    P = _C.augment_params(batch=image.shape[0], channels=image.shape[1],
                          mask_channels=0 if mask is None else mask.shape[1],
                          in_shape=list(image.shape[2:]), out_shape=list(out_shape),
                          table_len=tables.shape[1], ctrl_len=ctrl.shape[1], border=border,
                          fill=fill, mask_fill=mask_fill, seed=seed & (2**64 - 1))
    ptrs = [image.data_ptr(), 0 if mask is None else mask.data_ptr(), program.data_ptr(),
            tables.data_ptr(), ctrl.data_ptr(), 0 if stats is None else stats.data_ptr(),
            out.data_ptr(), 0 if mask is None else mout.data_ptr()]
    it = IMAGE_TYPES[image.dtype]
    mt = 0 if mask is None else MASK_TYPES[mask.dtype]
    if cuda:
        with on_device(image.device):
            _C.augment_resample_cuda(P, it, mt, *ptrs, stream_ptr(image.device))
    else:
        _C.augment_resample_cpu(P, it, mt, *ptrs)
    return out, mout


@torch.library.custom_op("bbbcore::augment_resample", mutates_args=(), device_types="cpu")
def augment_resample(image: torch.Tensor, mask: torch.Tensor | None, program: torch.Tensor,
                     tables: torch.Tensor, ctrl: torch.Tensor, stats: torch.Tensor | None,
                     out_shape: list[int], border: int, fill: float, mask_fill: float,
                     seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw op; the programs come from :func:`bbbcore.augment._program.pack`.

    Shapes: image float32/uint8/uint16 [B, C, Z, Y, X]; mask uint8/int32/int64/float32
    [B, Cm, Z, Y, X] or None; program float32 [B, 248]; tables int32 [B, T]; ctrl float32 [B, K];
    stats float32 [B, C, 2] (per-channel lo, hi for gamma and relative noise) or None. Returns the
    image float32 [B, C, *out_shape] and the mask [B, Cm, *out_shape] (shape (0,) without a mask).
    """
    return _launch(image, mask, program, tables, ctrl, stats, out_shape, border, fill, mask_fill,
                   seed, cuda=False)


@augment_resample.register_kernel("cuda")
def _augment_resample_cuda(image, mask, program, tables, ctrl, stats, out_shape, border, fill,
                           mask_fill, seed):
    return _launch(image, mask, program, tables, ctrl, stats, out_shape, border, fill, mask_fill,
                   seed, cuda=True)


@augment_resample.register_fake
def _(image, mask, program, tables, ctrl, stats, out_shape, border, fill, mask_fill, seed):
    return _outputs(image, mask, out_shape)
