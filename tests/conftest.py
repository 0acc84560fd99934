"""Shared fixtures: the ``device`` fixture and the ``cuda`` marker.

``device`` runs a test on ``"cpu"`` and, when the CUDA kernels were built and a GPU is visible
(:func:`bbbcore.has_cuda`), on ``"cuda"`` too (that parameter carries the ``cuda`` mark). Tests
marked ``cuda`` are skipped, with the reason, when no GPU is usable.
"""
from __future__ import annotations

import pytest
import torch

import bbbcore

HAS_CUDA = bbbcore.has_cuda()
_DEVICES = ["cpu"] + ([pytest.param("cuda", marks=pytest.mark.cuda)] if HAS_CUDA else [])


def _no_cuda_reason() -> str:
    info = bbbcore.build_info()
    if not info["with_cuda"]:
        return "bbbcore was built without CUDA kernels"
    return f"no usable CUDA device (cuda_devices={info['cuda_devices']}, " \
           f"torch.cuda.is_available()={torch.cuda.is_available()})"


def pytest_collection_modifyitems(config, items):
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason=_no_cuda_reason())
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=_DEVICES)
def device(request) -> str:
    """Device name to run on: ``"cpu"``, plus ``"cuda"`` when available."""
    return request.param
