"""Argument checks shared by the public APIs and the ops.

Every message reads ``"<function>: <arg> must be <expected>, got <actual>"`` (units included).
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Sequence

import torch


def fail(fn: str, arg: str, expected: str, got) -> None:
    raise ValueError(f"{fn}: {arg} must be {expected}, got {got}")


def positive(fn: str, arg: str, value, unit: str = "") -> float:
    u = f" {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        fail(fn, arg, f"a finite number > 0{u}", repr(value))
    return float(value)


def non_negative(fn: str, arg: str, value, unit: str = "") -> float:
    u = f" {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        fail(fn, arg, f"a finite number >= 0{u}", repr(value))
    return float(value)


def positive_int(fn: str, arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        fail(fn, arg, "an integer >= 1", repr(value))
    return int(value)


def non_negative_int(fn: str, arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        fail(fn, arg, "an integer >= 0", repr(value))
    return int(value)


def seed(fn: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value < 2**63:
        fail(fn, "seed", "an integer in [0, 2^63)", repr(value))
    return int(value)


def choice(fn: str, arg: str, value, options: Sequence[str]) -> str:
    if value not in options:
        fail(fn, arg, "one of " + ", ".join(repr(o) for o in options), repr(value))
    return value


def tensor(fn: str, arg: str, t, *, dtype: torch.dtype, shape: Sequence[int | None],
           device: torch.device | None = None) -> torch.Tensor:
    """Check a tensor's type, dtype, shape (None = any size) and device; return it contiguous."""
    if not isinstance(t, torch.Tensor):
        fail(fn, arg, f"a torch.Tensor of dtype {dtype}", type(t).__name__)
    if t.dtype != dtype:
        fail(fn, arg, f"of dtype {dtype}", t.dtype)
    want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
    if t.dim() != len(shape) or any(s is not None and s != n for s, n in zip(shape, t.shape)):
        fail(fn, arg, f"of shape {want}", tuple(t.shape))
    if device is not None and t.device != device:
        fail(fn, arg, f"on device {device}", t.device)
    return t.contiguous()


def to_numpy(x):
    """Array-likes → NumPy on the CPU: torch tensors, NumPy, CuPy and other DLPack arrays
    (zero-copy import through DLPack, then one copy to the host), lists and scalars."""
    import numpy as np

    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray) or not hasattr(x, "__dlpack__"):
        return np.asarray(x)
    return torch.from_dlpack(x).cpu().numpy()


def as_device(fn: str, device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        fail(fn, "device", "'cpu', 'cuda' or a torch.device", repr(device))
    if dev.type not in ("cpu", "cuda"):
        fail(fn, "device", "'cpu' or 'cuda'", repr(device))
    if dev.type == "cuda":
        from bbbcore._native import NO_CUDA_MESSAGE, _C
        if not _C.build_info()["with_cuda"]:
            raise ValueError(f"{fn}: {NO_CUDA_MESSAGE}")
        if not torch.cuda.is_available():
            fail(fn, "device", "an available device (torch.cuda.is_available() is False)", repr(device))
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev
