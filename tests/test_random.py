"""Philox4x32-10 blocks, standard normals and Poisson counts (``bbbcore.ops.random``).

Tolerances: the native normals are float32 Box–Muller with the package's own log/sincos
(``csrc/include/bbbcore/fmath.h``, ≤ 2 ulp), compared with the float64 reference at
rtol = atol = 1e-6 (≈ 8 ulp of float32 at |z| ≤ 5.77). Statistical checks use 5-sigma bounds.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bbbcore.ops import random as R
from bbbcore.reference import normal_ref, philox4x32_ref

# Random123 known-answer vectors for philox4x32_10 (kat_vectors): (counter, key, output)
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def _random_words(n: int, seed: int):
    rng = np.random.default_rng(seed)
    ctr = rng.integers(0, 2**32, size=(n, 4), dtype=np.uint64).astype(np.int64)
    key = rng.integers(0, 2**32, size=(n, 2), dtype=np.uint64).astype(np.int64)
    # make sure the extremes of the word range are exercised too
    ctr[0] = 0
    ctr[1] = 2**32 - 1
    key[1] = 2**32 - 1
    return ctr, key


# ----------------------------------------------------------------------------------- philox
@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_known_answers_reference(ctr, key, expected):
    out = philox4x32_ref(np.array([ctr]), np.array([key]))
    assert out.dtype == np.uint32
    assert out[0].tolist() == list(expected)


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_known_answers_native(ctr, key, expected, device):
    out = R.philox([ctr], [key], device=device)
    assert out.dtype == torch.int64 and out.device.type == device
    assert out.cpu().tolist() == [list(expected)]


def test_philox_native_matches_reference_on_random_words(device):
    ctr, key = _random_words(20_000, seed=11)
    native = R.philox(torch.from_numpy(ctr), torch.from_numpy(key), device=device).cpu().numpy()
    ref = philox4x32_ref(ctr, key).astype(np.int64)
    np.testing.assert_array_equal(native, ref)


def test_philox_empty_and_bad_input():
    empty = R.philox(torch.zeros((0, 4), dtype=torch.int64), torch.zeros((0, 2), dtype=torch.int64))
    assert empty.shape == (0, 4)
    with pytest.raises(ValueError, match="philox: counter must be of shape"):
        R.philox([[0, 0, 0]], [[0, 0]])
    with pytest.raises(ValueError, match="philox: key must be of shape"):
        R.philox([[0, 0, 0, 0]], [[0, 0, 0]])
    with pytest.raises(ValueError, match=r"philox: counter must be integers in \[0, 2\^32\)"):
        R.philox([[0, 0, 0, 2**32]], [[0, 0]])
    with pytest.raises(ValueError, match="philox: key must be integers"):
        R.philox([[0, 0, 0, 0]], [[-1, 0]])


def test_philox_opcheck():
    ctr, key = _random_words(64, seed=3)
    c32 = torch.from_numpy(ctr.astype(np.uint32).view(np.int32))
    k32 = torch.from_numpy(key.astype(np.uint32).view(np.int32))
    torch.library.opcheck(torch.ops.bbbcore.philox4x32.default, (c32, k32))


# ----------------------------------------------------------------------------------- normal
@pytest.mark.parametrize("seed,stream", [(0, 0), (7, 2**33 + 5), (2**62 + 12345, 3)])
def test_normal_matches_reference(seed, stream, device):
    n = 40_003                                   # not a multiple of 4: last block partly used
    z = R.normal(n, seed=seed, stream=stream, device=device)
    assert z.dtype == torch.float32 and z.shape == (n,) and z.device.type == device
    np.testing.assert_allclose(z.cpu().double().numpy(), normal_ref(n, seed, stream),
                               rtol=1e-6, atol=1e-6)


def test_normal_prefix_property(device):
    long = R.normal(1001, seed=5, stream=9, device=device)
    for n in (0, 1, 2, 3, 5, 998):
        assert torch.equal(R.normal(n, seed=5, stream=9, device=device), long[:n])


def test_normal_same_seed_same_numbers_different_seed_or_stream_different():
    a = R.normal(4096, seed=123, stream=0)
    assert torch.equal(a, R.normal(4096, seed=123, stream=0))
    for other in (R.normal(4096, seed=124, stream=0), R.normal(4096, seed=123, stream=1)):
        assert (other != a).float().mean() > 0.99


def test_normal_moments():
    n = 1_000_000
    z = R.normal(n, seed=2024, stream=1).double()
    mean, var = float(z.mean()), float(z.var())
    kurt = float(((z - mean) ** 4).mean() / var ** 2) - 3.0
    assert abs(mean) < 5 * math.sqrt(1.0 / n)
    assert abs(var - 1.0) < 5 * math.sqrt(2.0 / n)
    assert abs(kurt) < 5 * math.sqrt(24.0 / n)
    # the four words of a block give independent normals: correlation of z0 and z1 ≈ 0
    blk = z.view(-1, 4)
    for a, b in ((0, 1), (2, 3), (0, 2)):
        corr = float(torch.corrcoef(torch.stack([blk[:, a], blk[:, b]]))[0, 1])
        assert abs(corr) < 5 / math.sqrt(blk.shape[0]), (a, b, corr)


def test_normal_bad_input():
    with pytest.raises(ValueError, match="normal: n must be"):
        R.normal(-1)
    with pytest.raises(ValueError, match="normal: seed must be"):
        R.normal(4, seed=-1)
    with pytest.raises(ValueError, match="normal: stream must be"):
        R.normal(4, stream=1.5)


def test_normal_fill_opcheck():
    out = torch.empty(37, dtype=torch.float32)
    torch.library.opcheck(torch.ops.bbbcore.normal_fill_.default, (out, 3, 4))


# ---------------------------------------------------------------------------------- poisson
LAMS = [0.0, 0.3, 3.5, 9.99, 10.0, 57.0, 1e4]


@pytest.mark.parametrize("lam", LAMS)
def test_poisson_mean_equals_variance(lam):
    n = 200_000
    x = R.poisson(torch.full((n,), lam, dtype=torch.float32), seed=42, stream=LAMS.index(lam))
    assert x.dtype == torch.float32
    x = x.double()
    assert torch.equal(x, x.round()) and bool((x >= 0).all())
    if lam == 0.0:
        assert bool((x == 0).all())
        return
    mean, var = float(x.mean()), float(x.var())
    assert abs(mean - lam) < 5 * math.sqrt(lam / n), (mean, lam)
    # Var of the sample variance of a Poisson: (μ4 − σ⁴)/n = (2λ² + λ)/n
    assert abs(var - lam) < 5 * math.sqrt((2 * lam * lam + lam) / n), (var, lam)
    assert abs(var - mean) < 5 * math.sqrt((2 * lam * lam + 2 * lam) / n)


@pytest.mark.parametrize("lam", [0.3, 3.5, 9.99, 10.0, 57.0])
def test_poisson_distribution_chi_square(lam):
    """Goodness of fit to the Poisson pmf (catches a wrong shape that keeps mean = variance)."""
    n = 200_000
    x = R.poisson(torch.full((n,), lam, dtype=torch.float32), seed=7, stream=1).long().numpy()
    lo = int(max(0, math.floor(lam - 5 * math.sqrt(lam))))
    hi = int(math.ceil(lam + 5 * math.sqrt(lam))) + 1
    ks = np.arange(lo, hi + 1)
    pmf = np.exp(ks * math.log(lam) - lam - np.array([math.lgamma(k + 1) for k in ks]))
    keep = pmf * n >= 20                          # bins with enough expected counts
    obs = np.array([(x == k).sum() for k in ks[keep]], dtype=np.float64)
    exp = pmf[keep] * n
    obs_rest, exp_rest = n - obs.sum(), n - exp.sum()
    chi2 = float(((obs - exp) ** 2 / exp).sum() + (obs_rest - exp_rest) ** 2 / exp_rest)
    dof = int(keep.sum())                         # (bins + rest) − 1
    # Wilson–Hilferty: (χ²/k)^(1/3) ≈ N(1 − 2/(9k), 2/(9k))
    zscore = ((chi2 / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    assert zscore < 5, (chi2, dof, zscore)


def test_poisson_per_element_independence_of_shape_and_layout():
    lam = torch.rand(64, 33, generator=torch.Generator().manual_seed(1)) * 30
    full = R.poisson(lam, seed=9, stream=2)
    assert torch.equal(R.poisson(lam.reshape(-1), seed=9, stream=2), full.reshape(-1))
    assert torch.equal(R.poisson(lam.reshape(-1)[:100], seed=9, stream=2), full.reshape(-1)[:100])
    lam_t = lam.t()                               # non-contiguous input
    assert torch.equal(R.poisson(lam_t, seed=9, stream=2),
                       R.poisson(lam_t.contiguous(), seed=9, stream=2))


def test_poisson_same_seed_same_numbers_different_seed_different():
    lam = torch.full((4096,), 20.0)
    a = R.poisson(lam, seed=1)
    assert torch.equal(a, R.poisson(lam, seed=1))
    assert (R.poisson(lam, seed=2) != a).float().mean() > 0.8
    assert (R.poisson(lam, seed=1, stream=1) != a).float().mean() > 0.8


@pytest.mark.parametrize("bad,got", [
    (torch.tensor([1.0, -0.5]), "min"),
    (torch.tensor([1.0, float("nan")]), "min"),
    (torch.tensor([1.0, float("inf")]), "min"),
    (torch.tensor([1, 2], dtype=torch.int32), "int32"),
    (torch.tensor([1.0, 2.0], dtype=torch.float64), "float64"),
    ([1.0, 2.0], "list"),
])
def test_poisson_bad_input(bad, got):
    with pytest.raises(ValueError, match=f"poisson: lam must be .*{got}"):
        R.poisson(bad)


def test_poisson_bad_seed_and_stream():
    lam = torch.ones(3)
    with pytest.raises(ValueError, match="poisson: seed must be"):
        R.poisson(lam, seed=2**63)
    with pytest.raises(ValueError, match="poisson: stream must be"):
        R.poisson(lam, stream=-1)


def test_random_poisson_opcheck():
    lam = torch.rand(5, 7, generator=torch.Generator().manual_seed(0)) * 20
    torch.library.opcheck(torch.ops.bbbcore.random_poisson.default, (lam, 11, 2))


# ------------------------------------------------------------------------- raw ops, layouts
def test_raw_ops_check_dtypes():
    with pytest.raises(ValueError, match="random_poisson: lam must be of dtype torch.float32"):
        torch.ops.bbbcore.random_poisson(torch.ones(3, dtype=torch.float64), 0, 0)
    with pytest.raises(ValueError, match="philox4x32: counter must be of dtype torch.int32"):
        torch.ops.bbbcore.philox4x32(torch.zeros(2, 4, dtype=torch.int64), torch.zeros(2, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"philox4x32: key must be of shape \(2, 2\)"):
        torch.ops.bbbcore.philox4x32(torch.zeros(2, 4, dtype=torch.int32), torch.zeros(3, 2, dtype=torch.int32))


def test_raw_philox_op_non_contiguous_counter():
    ctr, key = _random_words(16, seed=2)
    c32 = torch.from_numpy(ctr.astype(np.uint32).view(np.int32))
    k32 = torch.from_numpy(key.astype(np.uint32).view(np.int32))
    c_nc = c32.t().contiguous().t()                  # same values, column-major
    assert not c_nc.is_contiguous()
    assert torch.equal(torch.ops.bbbcore.philox4x32(c_nc, k32),
                       torch.ops.bbbcore.philox4x32(c32, k32))


def test_raw_poisson_op_non_contiguous_lam():
    lam = torch.arange(32, dtype=torch.float32).reshape(4, 8)[:, ::2]
    assert not lam.is_contiguous()
    assert torch.equal(torch.ops.bbbcore.random_poisson(lam, 1, 0),
                       torch.ops.bbbcore.random_poisson(lam.contiguous(), 1, 0))


def test_raw_normal_fill_op_non_contiguous_out():
    big = torch.zeros(4, 8)
    torch.ops.bbbcore.normal_fill_(big[:, ::2], 3, 1)
    assert torch.equal(big[:, ::2].reshape(-1), R.normal(16, seed=3, stream=1))
    assert bool((big[:, 1::2] == 0).all())          # the other columns are untouched


# ------------------------------------------------------------------------------ CPU vs CUDA
@pytest.mark.cuda
def test_cuda_matches_cpu_bitwise():
    ctr, key = _random_words(10_000, seed=5)
    assert torch.equal(R.philox(torch.from_numpy(ctr), torch.from_numpy(key), device="cuda").cpu(),
                       R.philox(torch.from_numpy(ctr), torch.from_numpy(key)))
    for seed, stream in ((0, 0), (99, 2**40 + 1)):
        assert torch.equal(R.normal(100_003, seed=seed, stream=stream, device="cuda").cpu(),
                           R.normal(100_003, seed=seed, stream=stream))
    lam = torch.cat([torch.full((2000,), v) for v in LAMS])
    lam = lam + torch.rand(lam.shape, generator=torch.Generator().manual_seed(3)) * (lam > 0)
    assert torch.equal(R.poisson(lam.cuda(), seed=8, stream=3).cpu(),
                       R.poisson(lam, seed=8, stream=3))
