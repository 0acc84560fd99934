"""Philox4x32-10 random numbers as custom ops: raw blocks, standard normals, Poisson counts.

The same (seed, stream, index) gives bit-identical numbers on the CPU and the GPU.
"""
from __future__ import annotations

import numpy as np
import torch

from bbbcore import _checks
from bbbcore._native import _C, check_device, on_device, stream_ptr

_U32 = 0xFFFFFFFF


def _blocks(counter, key):
    n = counter.shape[0] if counter.dim() == 2 else -1
    counter = _checks.tensor("philox4x32", "counter", counter, dtype=torch.int32, shape=(None, 4))
    key = _checks.tensor("philox4x32", "key", key, dtype=torch.int32, shape=(n, 2), device=counter.device)
    return counter, key


def _means(lam):
    check_device("random_poisson", lam)
    if lam.dtype != torch.float32:
        _checks.fail("random_poisson", "lam", "of dtype torch.float32", lam.dtype)
    return lam.contiguous()


def _fill_target(out):
    check_device("normal", out)
    if out.dtype != torch.float32:
        _checks.fail("normal_fill_", "out", "of dtype torch.float32", out.dtype)
    return out if out.is_contiguous() else torch.empty_like(out, memory_format=torch.contiguous_format)


@torch.library.custom_op("bbbcore::philox4x32", mutates_args=(), device_types="cpu")
def philox4x32(counter: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Philox4x32-10 blocks. counter: int32 ``[n, 4]``, key: int32 ``[n, 2]`` (bit patterns of
    unsigned words) → int32 ``[n, 4]``."""
    counter, key = _blocks(counter, key)
    out = torch.empty_like(counter)
    _C.philox4x32_cpu(counter.data_ptr(), key.data_ptr(), out.data_ptr(), counter.shape[0])
    return out


@philox4x32.register_kernel("cuda")
def _philox4x32_cuda(counter, key):
    check_device("philox4x32", counter)
    counter, key = _blocks(counter, key)
    out = torch.empty_like(counter)
    with on_device(counter.device):
        _C.philox4x32_cuda(counter.data_ptr(), key.data_ptr(), out.data_ptr(), counter.shape[0],
                           stream_ptr(counter.device))
    return out


@philox4x32.register_fake
def _(counter, key):
    return torch.empty_like(counter)


@torch.library.custom_op("bbbcore::normal_fill_", mutates_args=("out",), device_types="cpu")
def normal_fill_(out: torch.Tensor, seed: int, stream: int) -> None:
    """Fill float32 ``out`` (in C order) with standard normals of Philox stream (seed, stream)."""
    dst = _fill_target(out)
    _C.normal_fill_cpu(seed, stream, dst.data_ptr(), dst.numel())
    if dst is not out:
        out.copy_(dst)


@normal_fill_.register_kernel("cuda")
def _normal_fill_cuda(out, seed, stream):
    dst = _fill_target(out)
    with on_device(out.device):
        _C.normal_fill_cuda(seed, stream, dst.data_ptr(), dst.numel(), stream_ptr(out.device))
    if dst is not out:
        out.copy_(dst)


@torch.library.custom_op("bbbcore::random_poisson", mutates_args=(), device_types="cpu")
def random_poisson(lam: torch.Tensor, seed: int, stream: int) -> torch.Tensor:
    """Poisson counts (as float32) with means ``lam`` (float32, any shape)."""
    lam = _means(lam)
    out = torch.empty_like(lam)
    _C.poisson_fill_cpu(seed, stream, lam.data_ptr(), out.data_ptr(), lam.numel())
    return out


@random_poisson.register_kernel("cuda")
def _random_poisson_cuda(lam, seed, stream):
    lam = _means(lam)
    out = torch.empty_like(lam)
    with on_device(lam.device):
        _C.poisson_fill_cuda(seed, stream, lam.data_ptr(), out.data_ptr(), lam.numel(), stream_ptr(lam.device))
    return out


@random_poisson.register_fake
def _(lam, seed, stream):
    return torch.empty_like(lam)


# ---------------------------------------------------------------------------- public wrappers
def philox(counter, key, *, device="cpu") -> torch.Tensor:
    """Philox4x32-10 of unsigned 32-bit words.

    Args:
        counter: integers in [0, 2^32), shape ``[n, 4]`` (array-like or int64 tensor).
        key: integers in [0, 2^32), shape ``[n, 2]``.
        device: where to compute.

    Returns:
        int64 tensor ``[n, 4]`` of unsigned words, on ``device``.

    Example:
        >>> philox([[0, 0, 0, 0]], [[0, 0]]).tolist() == [[0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]]
        True
    """
    fn = "philox"
    dev = _checks.as_device(fn, device)
    c = torch.as_tensor(counter, dtype=torch.int64)
    k = torch.as_tensor(key, dtype=torch.int64)
    if c.dim() != 2 or c.shape[1] != 4:
        _checks.fail(fn, "counter", "of shape (n, 4)", tuple(c.shape))
    if k.shape != (c.shape[0], 2):
        _checks.fail(fn, "key", f"of shape ({c.shape[0]}, 2)", tuple(k.shape))
    for name, t in (("counter", c), ("key", k)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) > _U32):
            _checks.fail(fn, name, "integers in [0, 2^32)", f"values in [{int(t.min())}, {int(t.max())}]")
    c32 = torch.from_numpy(c.numpy().astype(np.uint32).view(np.int32))
    k32 = torch.from_numpy(k.numpy().astype(np.uint32).view(np.int32))
    out = torch.ops.bbbcore.philox4x32(c32.to(dev), k32.to(dev))
    return torch.from_numpy(out.cpu().numpy().view(np.uint32).astype(np.int64)).to(dev)


def normal(n: int, *, seed: int = 0, stream: int = 0, device="cpu") -> torch.Tensor:
    """``n`` standard normal float32 numbers of Philox stream ``(seed, stream)``.

    Element ``i`` comes from block ``i // 4`` (counter ``(i // 4, 0, stream)``, key ``seed``), so
    any device gives the same numbers, and a prefix of a longer draw is the shorter draw.

    Example:
        >>> torch.equal(normal(6, seed=1), normal(10, seed=1)[:6])
        True
    """
    fn = "normal"
    n = _checks.non_negative_int(fn, "n", n)
    if n >= 4 * 2**32:
        _checks.fail(fn, "n", "< 2^34", n)
    s = _checks.seed(fn, seed)
    st = _checks.non_negative_int(fn, "stream", stream)
    out = torch.empty(n, dtype=torch.float32, device=_checks.as_device(fn, device))
    torch.ops.bbbcore.normal_fill_(out, s, st)
    return out


def poisson(lam: torch.Tensor, *, seed: int = 0, stream: int = 0) -> torch.Tensor:
    """Poisson counts (float32) with expected values ``lam`` (float32 tensor, >= 0, finite).

    Small means (< 10) by inversion, large ones by PTRS transformed rejection (Hörmann 1993).
    """
    fn = "poisson"
    if not isinstance(lam, torch.Tensor) or lam.dtype != torch.float32:
        _checks.fail(fn, "lam", "a float32 torch.Tensor", getattr(lam, "dtype", type(lam).__name__))
    check_device(fn, lam)
    if lam.numel() >= 2**32:
        _checks.fail(fn, "lam", "a tensor of fewer than 2^32 elements", lam.numel())
    if lam.numel() and not bool(torch.isfinite(lam).all() and (lam >= 0).all()):
        _checks.fail(fn, "lam", "finite and >= 0", f"min {float(lam.min())}")
    s = _checks.seed(fn, seed)
    st = _checks.non_negative_int(fn, "stream", stream)
    return torch.ops.bbbcore.random_poisson(lam.contiguous(), s, st)
