"""Loading of the native module ``bbbcore._C`` and the device/stream helpers around it.

Torch is imported before the extension so that one OpenMP runtime (torch's) serves the process.
Importing this module never touches a GPU: ``has_cuda()`` asks the driver lazily and caches.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager

import torch  # noqa: F401  (import order: torch's libgomp first)

from bbbcore import _C

NO_CUDA_MESSAGE = "bbbcore was built without CUDA kernels; reinstall with nvcc on PATH"


def build_info() -> dict:
    """Describe how the native module was built.

    Returns:
        dict with ``version``, ``with_cuda`` (bool), ``cuda_archs`` (e.g. ``"80,90"``),
        ``cuda_version``, ``openmp`` (OpenMP spec version, ``""`` without OpenMP), ``compiler``,
        ``build_type``, ``cpu_isa`` (the best instruction set of the CPU kernels' dispatched loops
        on this CPU: ``"avx2"`` or ``"baseline"``) and ``cuda_devices`` (devices visible now; 0
        without a driver or GPU).

    Example:
        >>> import bbbcore
        >>> sorted(k for k in bbbcore.build_info() if k in ("openmp", "version", "with_cuda"))
        ['openmp', 'version', 'with_cuda']
    """
    info = dict(_C.build_info())
    info["cuda_devices"] = _device_count()[0]
    return info


@functools.lru_cache(maxsize=1)
def _device_count() -> tuple[int, str]:
    n, why = _C.cuda_device_count()
    return int(n), str(why)


def has_cuda() -> bool:
    """True only when the CUDA kernels were built *and* a CUDA device is usable now."""
    if not _C.build_info()["with_cuda"]:
        return False
    n, _ = _device_count()
    return n > 0 and torch.cuda.is_available()


CPU_ISAS = ("baseline", "avx2")


def cpu_isa() -> str:
    """The instruction set the CPU kernels' dispatched loops use now: ``"avx2"`` where the CPU has
    it, ``"baseline"`` (x86-64 SSE2, or any other architecture) otherwise or when lowered by
    :func:`use_cpu_isa` or the environment variable ``BBBCORE_CPU_ISA=baseline``. Both give the
    same numbers, bit for bit; AVX2 is faster."""
    return str(_C.cpu_isa())


@contextmanager
def use_cpu_isa(isa: str):
    """Run the enclosed CPU kernels with ``isa`` (``"baseline"``, ``"avx2"`` or ``"auto"``), then
    restore the previous choice (process-wide, not per thread).

    Raises:
        ValueError: ``isa`` unknown, or not supported by this CPU.
    """
    if isa not in CPU_ISAS + ("auto",):
        raise ValueError(f"use_cpu_isa: isa must be 'auto', 'baseline' or 'avx2', got {isa!r}")
    previous = cpu_isa()
    try:
        _C.set_cpu_isa(isa)
    except ValueError as e:  # pybind11 maps std::invalid_argument to ValueError
        raise ValueError(f"use_cpu_isa: {e}") from None
    try:
        yield
    finally:
        _C.set_cpu_isa(previous)


def check_device(fn: str, t: torch.Tensor) -> None:
    """Raise the documented ValueError when a CUDA tensor reaches a CPU-only build."""
    if t.device.type == "cuda" and not _C.build_info()["with_cuda"]:
        raise ValueError(f"{fn}: {NO_CUDA_MESSAGE}")
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError(f"{fn}: tensors must be on a CPU or CUDA device, got {t.device}")


def stream_ptr(device: torch.device) -> int:
    """The raw handle of torch's current CUDA stream on ``device`` (never the legacy default)."""
    return torch.cuda.current_stream(device).cuda_stream


@contextmanager
def on_device(device: torch.device):
    """Run a launcher with ``device`` current (CUDA) or as is (CPU)."""
    if device.type == "cuda":
        with torch.cuda.device(device):
            yield
    else:
        yield
