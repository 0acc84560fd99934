"""Philox4x32-10 and its Box–Muller normals in NumPy (oracle for ``bbbcore.ops.random``).

Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC'11, Fig. 2 and Table 2): ten rounds of

    (c0, c1, c2, c3) ← (hi(M1·c2) ⊕ c1 ⊕ k0,  lo(M1·c2),  hi(M0·c0) ⊕ c3 ⊕ k1,  lo(M0·c0))

with M0 = 0xD2511F53, M1 = 0xCD9E8D57 and the key bumped by the Weyl constants
(W0, W1) = (0x9E3779B9, 0xBB67AE85) before every round but the first. The 32×32→64-bit products
are computed exactly in uint64.
"""
from __future__ import annotations

import numpy as np

__all__ = ["philox4x32_ref", "normal_ref"]

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def philox4x32_ref(counter, key) -> np.ndarray:
    """Philox4x32-10 blocks, vectorised over rows.

    Args:
        counter: unsigned 32-bit words, shape ``[n, 4]`` (any integer array-like, values in
            [0, 2^32)).
        key: unsigned 32-bit words, shape ``[n, 2]``.

    Returns:
        uint32 array ``[n, 4]``: the 10-round output block of each row.

    Example:
        >>> philox4x32_ref([[0, 0, 0, 0]], [[0, 0]])[0].tolist() == [0x6627e8d5, 0xe169c58d,
        ...                                                         0xbc57ac4c, 0x9b00dbd8]
        True
    """
    c = np.asarray(counter, dtype=np.uint64).reshape(-1, 4) & _MASK32
    k = np.asarray(key, dtype=np.uint64).reshape(-1, 2) & _MASK32
    if c.shape[0] != k.shape[0]:
        raise ValueError(f"philox4x32_ref: key must be of shape ({c.shape[0]}, 2), got {k.shape}")
    c0, c1, c2, c3 = (c[:, j].copy() for j in range(4))
    k0, k1 = k[:, 0].copy(), k[:, 1].copy()
    for rnd in range(10):
        if rnd > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0                      # < 2^64: exact in uint64
        p1 = _M1 * c2
        hi0, lo0 = p0 >> _SHIFT32, p0 & _MASK32
        hi1, lo1 = p1 >> _SHIFT32, p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def normal_ref(n: int, seed: int, stream: int) -> np.ndarray:
    """The first ``n`` standard normals of Philox stream ``(seed, stream)``, in float64.

    Element ``i`` comes from block ``i // 4`` at counter ``(i // 4, 0, stream_lo, stream_hi)``
    with key ``(seed_lo, seed_hi)``. Words (w0, w1) give (z0, z1) and (w2, w3) give (z2, z3) by
    Box–Muller on 24-bit uniforms:

        u1 = ((w_a >> 8) + 1)·2^-24 ∈ (0, 1],   u2 = (w_b >> 8)·2^-24 ∈ [0, 1),
        r = √(−2 ln u1),   z_a = r·cos(2π u2),   z_b = r·sin(2π u2).

    This is the float32 sampler of ``csrc/include/bbbcore/random.h`` evaluated in float64.

    Args:
        n: number of values (>= 0).
        seed: 64-bit key, 0 <= seed < 2^64.
        stream: 64-bit stream id, 0 <= stream < 2^64.

    Returns:
        float64 array ``[n]``.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"normal_ref: n must be an integer >= 0, got {n}")
    blocks = (n + 3) // 4
    ctr = np.zeros((blocks, 4), dtype=np.uint64)
    ctr[:, 0] = np.arange(blocks, dtype=np.uint64)
    ctr[:, 2] = int(stream) & 0xFFFFFFFF
    ctr[:, 3] = (int(stream) >> 32) & 0xFFFFFFFF
    key = np.empty((blocks, 2), dtype=np.uint64)
    key[:, 0] = int(seed) & 0xFFFFFFFF
    key[:, 1] = (int(seed) >> 32) & 0xFFFFFFFF
    w = philox4x32_ref(ctr, key).astype(np.float64)
    z = np.empty((blocks, 4), dtype=np.float64)
    for a, b in ((0, 1), (2, 3)):
        u1 = (np.floor(w[:, a] / 256.0) + 1.0) * 2.0**-24
        u2 = np.floor(w[:, b] / 256.0) * 2.0**-24
        r = np.sqrt(-2.0 * np.log(u1))
        z[:, a] = r * np.cos(2.0 * np.pi * u2)
        z[:, b] = r * np.sin(2.0 * np.pi * u2)
    return z.reshape(-1)[:n]
