"""The native module's build description, and that importing bbbcore never touches a GPU."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

import bbbcore


def test_build_info_keys_and_types():
    info = bbbcore.build_info()
    for key in ("version", "with_cuda", "cuda_archs", "openmp", "compiler", "build_type",
                "cpu_isa", "cuda_devices"):
        assert key in info, key
    assert info["version"] == bbbcore.__version__
    assert isinstance(info["with_cuda"], bool)
    assert isinstance(info["cuda_archs"], str)
    assert isinstance(info["openmp"], str)
    assert isinstance(info["cuda_devices"], int) and info["cuda_devices"] >= 0
    assert info["cpu_isa"] in ("baseline", "avx2")
    if info["with_cuda"]:
        archs = info["cuda_archs"].split(",")
        assert archs and all(a.strip().isdigit() for a in archs), info["cuda_archs"]
        assert ";" not in info["cuda_archs"]


def test_has_cuda_is_bool_and_false_without_a_device():
    has = bbbcore.has_cuda()
    assert isinstance(has, bool)
    info = bbbcore.build_info()
    if not info["with_cuda"] or info["cuda_devices"] == 0 or not torch.cuda.is_available():
        assert has is False
    else:
        assert has is True


def test_nvcc_on_path_means_cuda_kernels_built():
    nvcc = shutil.which("nvcc")
    assert nvcc is None or bbbcore.build_info()["with_cuda"] is True, (
        f"nvcc is at {nvcc} but the CUDA kernels were not built "
        "(check CUDACXX / PATH at build time)")


def test_import_does_not_touch_the_device():
    code = (
        "import json, torch, bbbcore, bbbcore.ops, bbbcore.twophoton, bbbcore.reference\n"
        "from bbbcore import _native\n"
        "print(json.dumps({'device_queries': _native._device_count.cache_info().currsize,\n"
        "                  'torch_cuda_initialized': torch.cuda.is_initialized()}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state == {"device_queries": 0, "torch_cuda_initialized": False}


def test_cpu_isa_switch_and_restore():
    best = bbbcore.build_info()["cpu_isa"]
    assert bbbcore.cpu_isa() == best
    with bbbcore.use_cpu_isa("baseline"):
        assert bbbcore.cpu_isa() == "baseline"
        with bbbcore.use_cpu_isa("auto"):
            assert bbbcore.cpu_isa() == best
        assert bbbcore.cpu_isa() == "baseline"
    assert bbbcore.cpu_isa() == best


def test_cpu_isa_bad_names_and_unsupported():
    with pytest.raises(ValueError, match="isa must be 'auto', 'baseline' or 'avx2', got 'sse9'"):
        with bbbcore.use_cpu_isa("sse9"):
            pass
    if bbbcore.build_info()["cpu_isa"] == "baseline":
        with pytest.raises(ValueError, match="has no avx2"):
            with bbbcore.use_cpu_isa("avx2"):
                pass
    assert bbbcore.cpu_isa() == bbbcore.build_info()["cpu_isa"]


def test_cpu_isa_environment_lowers_it():
    code = "import bbbcore; print(bbbcore.cpu_isa())"
    env = dict(os.environ, BBBCORE_CPU_ISA="baseline")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "baseline"
