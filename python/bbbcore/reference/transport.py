"""NumPy float64 oracle of ``bbbcore::transport_explicit`` (see csrc/include/bbbcore/transport/fv.h):
one forward-Euler step of the finite-volume BBB model, vectorised over the cells."""
from __future__ import annotations

import numpy as np


def explicit_step_ref(c, label, G, mem, *, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km, lum_label,
                      dt_s, fixed_value, inf_vmax=None, inf_km=None, adv_label=-1, adv_axis=0, adv_u_over_h=0.0,
                      flow_v=None, flow_in=None, flow_out=None):
    """One step: c, label (Z, Y, X); G, mem (3, Z, Y, X) forward faces; per-label and per-membrane
    lists as the op's; optional general flow field (flow_v (3, Z, Y, X) signed u/h per forward
    face, flow_in / flow_out (Z, Y, X) through the boundary). Returns the new c (float64)."""
    c = np.asarray(c, np.float64)
    lab = np.asarray(label).astype(np.int64)
    fu = np.asarray(fu, np.float64)
    u = fu[lab] * c
    acc = np.zeros_like(c)
    vmax = np.asarray(eff_vmax, np.float64)
    km = np.asarray(eff_km, np.float64)
    lum = np.asarray(lum_label, np.int64)
    vin = np.zeros_like(vmax) if inf_vmax is None else np.asarray(inf_vmax, np.float64)
    kin = np.ones_like(vmax) if inf_km is None else np.asarray(inf_km, np.float64)
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
            # carried from the luminal cell into the abluminal one
            vi = np.where(mf > 0, vin[mf], 0.0)
            ki = np.where(mf > 0, kin[mf], 1.0)
            u_lum = np.where(lo_is_lum, u[lo], u[hi])
            carry = np.where(vi > 0, vi * u_lum / (ki + u_lum), 0.0)
            acc[lo] += np.where(lo_is_lum, -carry, carry)
            acc[hi] += np.where(lo_is_lum, carry, -carry)
    inv = np.asarray(inv_alpha_h, np.float64)[lab]
    kc = np.asarray(k_clear, np.float64)[lab]
    adv = np.zeros_like(c)
    if adv_label >= 0:      # upwind plug flow towards +adv_axis, inflow fixed_value
        up = np.roll(c, 1, axis=adv_axis)
        first = [slice(None)] * 3
        first[adv_axis] = 0
        up[tuple(first)] = fixed_value
        adv = np.where(lab == adv_label, adv_u_over_h * (up - c), 0.0)
    if flow_v is not None:
        adv = _flow_advection(c, flow_v, flow_in, flow_out, fixed_value)
    out = c + dt_s * (acc * inv - kc * c + adv)
    fx = np.asarray(fixed, np.int64)[lab]
    return np.where(fx == 1, fixed_value, np.where(fx == 2, c, out))


def _flow_advection(c, flow_v, flow_in, flow_out, fixed_value):
    """Upwind advection of a general flow field: each face carries v·C of its upwind cell."""
    adv = np.asarray(flow_in, np.float64) * fixed_value - np.asarray(flow_out, np.float64) * c
    for a in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a] = slice(0, -1)
        hi[a] = slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        v = np.asarray(flow_v[a], np.float64)[lo]        # from lo towards hi when > 0
        q = np.where(v > 0, v * c[lo], v * c[hi])
        adv[lo] -= q
        adv[hi] += q
    return adv


def _axis_terms(u, label, G, a, fu):
    """Per cell: (g_minus, g_plus, fu_minus, fu_plus, u_minus, u_plus) along axis a (0 at the ends)."""
    lab = np.asarray(label).astype(np.int64)
    g = np.asarray(G[a], np.float64)
    f = np.asarray(fu, np.float64)[lab]
    gm = np.zeros_like(u)
    gp = np.zeros_like(u)
    fm = np.zeros_like(u)
    fp = np.zeros_like(u)
    um = np.zeros_like(u)
    up = np.zeros_like(u)
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[a] = slice(0, -1)
    hi[a] = slice(1, None)
    lo, hi = tuple(lo), tuple(hi)
    gp[lo] = g[lo]
    gm[hi] = g[lo]
    fp[lo] = f[hi]
    fm[hi] = f[lo]
    up[lo] = u[hi]
    um[hi] = u[lo]
    return gm, gp, fm, fp, um, up, f


def _carrier_kappa(u_unb_i, u_unb_j, m, i_lum, vmax_e, km_e, vmax_i, km_i):
    """Linearised carrier conductances of the faces with membrane ids m (0: none) between cells i
    and neighbours j: (into i from j, out of i), at the unbound concentrations (adi.h)."""
    ve = np.where(m > 0, vmax_e[m], 0.0)
    vi = np.where(m > 0, vmax_i[m], 0.0)
    ke, ki = km_e[m], km_i[m]
    eff_j = np.where(ve > 0, ve / (ke + u_unb_j), 0.0)
    eff_i = np.where(ve > 0, ve / (ke + u_unb_i), 0.0)
    inf_j = np.where(vi > 0, vi / (ki + u_unb_j), 0.0)
    inf_i = np.where(vi > 0, vi / (ki + u_unb_i), 0.0)
    k_in = np.where(i_lum, eff_j, inf_j)
    k_out = np.where(i_lum, inf_i, eff_i)
    return k_in, k_out


def adi_step_ref(c, label, G, mem, *, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km, lum_label, dt_s,
                 fixed_value, theta=0.5, inf_vmax=None, inf_km=None, adv_label=-1, adv_axis=0, adv_u_over_h=0.0,
                 flow_v=None, flow_in=None, flow_out=None):
    """One Douglas ADI step (adi.h): the explicit update, then for each axis the tridiagonal
    (I − θ dt A_a) y_a = y_(a−1) − θ dt A_a u, A_a the passive fluxes, the carriers linearised at u
    (κ = Vmax/(Km + u_source)), the upwind flow along its axis (a general flow field: its faces
    along a, its boundary outflow in the adv_axis sweep) and (x sweep) the clearance; solved line by line
    (NumPy Thomas, float64)."""
    u = np.asarray(c, np.float64)
    lab = np.asarray(label).astype(np.int64)
    y = explicit_step_ref(u, label, G, mem, fu=fu, inv_alpha_h=inv_alpha_h, k_clear=k_clear, fixed=fixed,
                          eff_vmax=eff_vmax, eff_km=eff_km, lum_label=lum_label, dt_s=dt_s,
                          fixed_value=fixed_value, inf_vmax=inf_vmax, inf_km=inf_km, adv_label=adv_label,
                          adv_axis=adv_axis, adv_u_over_h=adv_u_over_h, flow_v=flow_v, flow_in=flow_in,
                          flow_out=flow_out)
    inv = np.asarray(inv_alpha_h, np.float64)[lab]
    kc = np.asarray(k_clear, np.float64)[lab]
    fx_kind = np.asarray(fixed, np.int64)[lab]
    fx = fx_kind > 0
    held = np.where(fx_kind == 1, fixed_value, u)
    vmax_e = np.asarray(eff_vmax, np.float64)
    km_e = np.asarray(eff_km, np.float64)
    nm = vmax_e.size
    vmax_i = np.zeros(nm) if inf_vmax is None else np.asarray(inf_vmax, np.float64)
    km_i = np.ones(nm) if inf_km is None else np.asarray(inf_km, np.float64)
    lum = np.asarray(lum_label, np.int64)
    td = theta * dt_s
    for a in range(3):
        gm, gp, fm, fp, um, up, fi = _axis_terms(u, label, G, a, fu)
        # membrane ids of the faces on the minus / plus side of each cell along a
        m_face = np.asarray(mem[a]).astype(np.int64)
        mm = np.zeros_like(lab)
        mp = np.zeros_like(lab)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a] = slice(0, -1)
        hi[a] = slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        mp[lo] = m_face[lo]
        mm[hi] = m_face[lo]
        i_lum_m = (nm > 0) & (lab == np.where(mm > 0, lum[np.minimum(mm, nm - 1)], -2))
        i_lum_p = (nm > 0) & (lab == np.where(mp > 0, lum[np.minimum(mp, nm - 1)], -2))
        if nm > 0:
            kin_m, kout_m = _carrier_kappa(fi * u, fm * um, mm, i_lum_m, vmax_e, km_e, vmax_i, km_i)
            kin_p, kout_p = _carrier_kappa(fi * u, fp * up, mp, i_lum_p, vmax_e, km_e, vmax_i, km_i)
        else:
            kin_m = kout_m = kin_p = kout_p = np.zeros_like(u)
        flux = (gm * (fm * um - fi * u) + gp * (fp * up - fi * u) + (kin_m * fm * um - kout_m * fi * u)
                + (kin_p * fp * up - kout_p * fi * u))
        La = inv * flux
        lower = -td * inv * (gm + kin_m) * fm
        upper = -td * inv * (gp + kin_p) * fp
        diag = 1.0 + td * inv * (gm + gp + kout_m + kout_p) * fi
        if a == 2:
            La = La - kc * u
            diag = diag + td * kc
        if flow_v is not None:
            vm = np.zeros_like(u)
            vp = np.zeros_like(u)
            v = np.asarray(flow_v[a], np.float64)
            vp[lo] = v[lo]
            vm[hi] = v[lo]
            La = La + np.where(vm > 0, vm * um, vm * u) - np.where(vp > 0, vp * u, vp * up)
            lower = lower - td * np.maximum(vm, 0.0)
            diag = diag + td * (np.maximum(-vm, 0.0) + np.maximum(vp, 0.0))
            upper = upper + td * np.minimum(vp, 0.0)
            if a == adv_axis:
                fo = np.asarray(flow_out, np.float64)
                La = La - fo * u
                diag = diag + td * fo
        elif a == adv_axis and adv_label >= 0:
            flow = lab == adv_label
            first = np.zeros(u.shape, bool)
            idx = [slice(None)] * 3
            idx[a] = 0
            first[tuple(idx)] = True
            up_c = np.roll(u, 1, axis=a)
            La = La + np.where(flow, adv_u_over_h * (np.where(first, 0.0, up_c) - u), 0.0)
            diag = diag + np.where(flow, td * adv_u_over_h, 0.0)
            lower = lower - np.where(flow & ~first, td * adv_u_over_h, 0.0)
        rhs = y - td * La
        lower = np.where(fx, 0.0, lower)
        upper = np.where(fx, 0.0, upper)
        diag = np.where(fx, 1.0, diag)
        rhs = np.where(fx, held, rhs)
        # Thomas along axis a, vectorised over the other two
        L, D, U, R = (np.moveaxis(v, a, 0).copy() for v in (lower, diag, upper, rhs))
        n = L.shape[0]
        cp = np.zeros_like(D)
        dp = np.zeros_like(D)
        cp[0] = U[0] / D[0]
        dp[0] = R[0] / D[0]
        for k in range(1, n):
            m = D[k] - L[k] * cp[k - 1]
            cp[k] = U[k] / m
            dp[k] = (R[k] - L[k] * dp[k - 1]) / m
        x = np.zeros_like(D)
        x[n - 1] = dp[n - 1]
        for k in range(n - 2, -1, -1):
            x[k] = dp[k] - cp[k] * x[k + 1]
        y = np.moveaxis(x, 0, a)
    return y
