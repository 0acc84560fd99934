"""NumPy float64 oracle of ``bbbcore::transport_explicit`` (see csrc/include/bbbcore/transport/fv.h):
one forward-Euler step of the finite-volume BBB model, vectorised over the cells."""
from __future__ import annotations

import numpy as np


def explicit_step_ref(c, label, G, mem, *, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km, lum_label,
                      dt_s, fixed_value):
    """One step: c, label (Z, Y, X); G, mem (3, Z, Y, X) forward faces; per-label and per-membrane
    lists as the op's. Returns the new c (float64)."""
    c = np.asarray(c, np.float64)
    lab = np.asarray(label).astype(np.int64)
    fu = np.asarray(fu, np.float64)
    u = fu[lab] * c
    acc = np.zeros_like(c)
    vmax = np.asarray(eff_vmax, np.float64)
    km = np.asarray(eff_km, np.float64)
    lum = np.asarray(lum_label, np.int64)
    for a in range(3):
        g = np.asarray(G[a], np.float64)
        m = np.asarray(mem[a]).astype(np.int64)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a] = slice(0, -1)
        hi[a] = slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        gf = g[lo]                       # the face between cell lo and its +1 neighbour hi
        flow = gf * (u[hi] - u[lo])      # into lo
        acc[lo] += flow
        acc[hi] -= flow
        mf = m[lo]
        if vmax.size:
            v = np.where(mf > 0, vmax[mf], 0.0)
            k = np.where(mf > 0, km[mf], 1.0)
            lumf = np.where(mf > 0, lum[mf], -1)
            lo_is_lum = lab[lo] == lumf
            # pumped from the abluminal cell into the luminal one
            u_ab = np.where(lo_is_lum, u[hi], u[lo])
            pump = np.where(v > 0, v * u_ab / (k + u_ab), 0.0)
            acc[lo] += np.where(lo_is_lum, pump, -pump)
            acc[hi] += np.where(lo_is_lum, -pump, pump)
    inv = np.asarray(inv_alpha_h, np.float64)[lab]
    kc = np.asarray(k_clear, np.float64)[lab]
    out = c + dt_s * (acc * inv - kc * c)
    fx = np.asarray(fixed, bool)[lab]
    return np.where(fx, fixed_value, out)
