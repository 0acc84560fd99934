// Douglas ADI step of the finite-volume BBB model (theta scheme, theta = 1/2 by default):
//   y0 = u + dt F(u)                                  (the explicit update, fv.h: all terms)
//   (I - theta dt A_a) y_a = y_(a-1) - theta dt A_a u   for a = z, y, x   (tridiagonal lines)
//   u' = y_z,y,x
// A_a is the linear(ised) operator along axis a: the passive face fluxes (conductances incl. the
// membranes' P, unbound concentrations); the Michaelis-Menten carriers of the membrane faces along
// a, linearised at the step's start u (a one-sided conductance kappa = Vmax/(Km + u_source), so
// kappa u_source is the exact flux at u); the channel's upwind advection along its flow axis (or a
// general flow field's faces along a, its boundary outflow in the adv_axis sweep); and first-order
// clearance, in the x sweep. Every term is implicit in its sweep, so the step is
// unconditionally stable in the linear(ised) regime; dt is limited by accuracy only.
// Fixed cells (blood on a plasma curve) are identity rows. NumPy float64 oracle:
// python/bbbcore/reference/transport.py (adi_step_ref).
#pragma once
#include "bbbcore/transport/fv.h"

namespace bbb {

// theta dt L_a applied to u at cell i of a line (k-th of n along stride `stride`), and the
// line's tridiagonal row; both from the same face coefficients.
template <typename T>
struct AdiRowT { T lower, diag, upper, rhs; };

// Linearised carrier conductances of a membrane face m whose cells are i and its neighbour j:
// into i from j (kin, times fu_j u_j) and out of i (kout, times fu_i u_i), at the state u.
template <typename T>
BBB_HDI void carrier_kappa(const TransportParamsT<T>& P, int m, bool i_luminal, T ui_unbound, T uj_unbound,
                           T& k_in, T& k_out) {
  k_in = T(0); k_out = T(0);
  const T ve = P.eff_vmax[m], vi = P.inf_vmax[m];
  if (i_luminal) {  // efflux brings the abluminal j's drug in, influx carries i's drug out
    if (ve > T(0)) k_in = ve / (P.eff_km[m] + uj_unbound);
    if (vi > T(0)) k_out = vi / (P.inf_km[m] + ui_unbound);
  } else {          // influx brings the luminal j's drug in, efflux pumps i's drug out
    if (vi > T(0)) k_in = vi / (P.inf_km[m] + uj_unbound);
    if (ve > T(0)) k_out = ve / (P.eff_km[m] + ui_unbound);
  }
}

template <typename T>
BBB_HD AdiRowT<T> adi_row(const TransportParamsT<T>& P, const T* u, const T* y_prev, const std::uint8_t* label,
                          const T* G, const std::uint8_t* mem, int a, std::int64_t i, int k, int n,
                          std::int64_t stride, T theta_dt, T fixed_value) {
  AdiRowT<T> r;
  const int li = label[i];
  if (P.fixed[li]) {  // identity row: the plasma value, or the held value (= u and y, unchanged)
    r.lower = T(0); r.diag = T(1); r.upper = T(0); r.rhs = P.fixed[li] == 1 ? fixed_value : u[i];
    return r;
  }
  const std::int64_t N = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  const T inv = P.inv_alpha_h[li];
  const T fi = P.fu[li];
  const T ui = u[i];
  // per side (minus, plus): conductance, neighbour's fu and u, carrier conductances
  T gm = T(0), gp = T(0), fm = T(0), fp = T(0), um = T(0), up = T(0);
  T kin_m = T(0), kout_m = T(0), kin_p = T(0), kout_p = T(0);
  if (k > 0) {
    const std::int64_t j = i - stride, face = a * N + j;
    gm = G[face];
    fm = P.fu[label[j]];
    um = u[j];
    if (const int m = mem[face]) carrier_kappa(P, m, li == P.lum_label[m], fi * ui, fm * um, kin_m, kout_m);
  }
  if (k < n - 1) {
    const std::int64_t j = i + stride, face = a * N + i;
    gp = G[face];
    fp = P.fu[label[j]];
    up = u[j];
    if (const int m = mem[face]) carrier_kappa(P, m, li == P.lum_label[m], fi * ui, fp * up, kin_p, kout_p);
  }
  // face fluxes into i per unit area: passive + carriers (kappa u_source: the exact MM flux at u)
  const T flux = gm * (fm * um - fi * ui) + gp * (fp * up - fi * ui) + (kin_m * fm * um - kout_m * fi * ui) +
                     (kin_p * fp * up - kout_p * fi * ui);
  T La = inv * flux;
  const T s = theta_dt * inv;
  r.lower = -s * (gm + kin_m) * fm;
  r.upper = -s * (gp + kin_p) * fp;
  r.diag = T(1) + s * (gm + gp + kout_m + kout_p) * fi;
  if (a == 2) {  // first-order clearance, in the x sweep
    La -= P.k_clear[li] * ui;
    r.diag += theta_dt * P.k_clear[li];
  }
  if (P.flow_v != nullptr) {  // general upwind flow: this axis's faces; the boundary outflow in adv_axis's
    if (k > 0) {
      const T v = P.flow_v[a * N + i - stride];
      if (v > T(0)) { La += v * um; r.lower -= theta_dt * v; }
      else { La += v * ui; r.diag -= theta_dt * v; }
    }
    if (k < n - 1) {
      const T v = P.flow_v[a * N + i];
      if (v > T(0)) { La -= v * ui; r.diag += theta_dt * v; }
      else { La -= v * up; r.upper += theta_dt * v; }
    }
    if (a == P.adv_axis) {   // the inflow through the boundary is a source (explicit predictor only)
      La -= P.flow_out[i] * ui;
      r.diag += theta_dt * P.flow_out[i];
    }
  } else if (a == P.adv_axis && li == P.adv_label) {  // upwind plug flow (the inflow is not part of A_a)
    const T c = P.adv_u_over_h;
    La += k > 0 ? c * (um - ui) : -c * ui;
    r.diag += theta_dt * c;
    if (k > 0) r.lower -= theta_dt * c;
  }
  r.rhs = y_prev[i] - theta_dt * La;
  return r;
}

// Solve the line along axis a starting at cell `base` (n cells, stride), in place in y (the
// right-hand side is read from y in the forward sweep before the back sweep writes the line).
// cp, dp: scratch of n values each (Thomas algorithm; the rows are diagonally dominant for equal fu).
template <typename T>
BBB_HD void adi_line(const TransportParamsT<T>& P, const T* u, T* y, const std::uint8_t* label, const T* G,
                     const std::uint8_t* mem, int a, std::int64_t base, int n, std::int64_t stride, T theta_dt,
                     T fixed_value, T* cp, T* dp) {
  if (n <= 0) return;
  AdiRowT<T> r = adi_row(P, u, y, label, G, mem, a, base, 0, n, stride, theta_dt, fixed_value);
  cp[0] = r.upper / r.diag;
  dp[0] = r.rhs / r.diag;
  for (int k = 1; k < n; ++k) {
    r = adi_row(P, u, y, label, G, mem, a, base + k * stride, k, n, stride, theta_dt, fixed_value);
    const T m = r.diag - r.lower * cp[k - 1];
    cp[k] = r.upper / m;
    dp[k] = (r.rhs - r.lower * dp[k - 1]) / m;
  }
  T x = dp[n - 1];
  y[base + static_cast<std::int64_t>(n - 1) * stride] = x;
  for (int k = n - 2; k >= 0; --k) {
    x = dp[k] - cp[k] * x;
    y[base + k * stride] = x;
  }
}

// Line `line` of axis a: its first cell, length and stride.
BBB_HD void adi_line_geometry(const int shape[3], int a, std::int64_t line, std::int64_t& base, int& n,
                              std::int64_t& stride) {
  const std::int64_t Z = shape[0], Y = shape[1], X = shape[2];
  if (a == 0) {        // lines along z, indexed by (y, x)
    base = line; n = static_cast<int>(Z); stride = Y * X;
  } else if (a == 1) { // along y, indexed by (z, x)
    const std::int64_t z = line / X, x = line % X;
    base = z * Y * X + x; n = static_cast<int>(Y); stride = X;
  } else {             // along x, indexed by (z, y)
    base = line * X; n = static_cast<int>(X); stride = 1;
  }
}

}  // namespace bbb
