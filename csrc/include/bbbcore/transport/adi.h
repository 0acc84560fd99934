// Douglas ADI step of the finite-volume BBB model (theta scheme, theta = 1/2 by default):
//   y0 = u + dt F(u)                                  (the explicit update, fv.h: all terms)
//   (I - theta dt L_a) y_a = y_(a-1) - theta dt L_a u   for a = z, y, x   (tridiagonal lines)
//   u' = y_z,y,x
// L_a is the passive face-flux operator along axis a (conductances incl. membranes' P, unbound
// concentrations); Michaelis-Menten efflux and clearance stay explicit (in F), so the step is
// unconditionally stable for diffusion and limited only by dt (k + Vmax fu/(Km alpha h)) < 1.
// Fixed cells (blood on a plasma curve) are identity rows. NumPy float64 oracle:
// python/bbbcore/reference/transport.py (adi_step_ref).
#pragma once
#include "bbbcore/transport/fv.h"

namespace bbb {

// theta dt L_a applied to u at cell i of a line (k-th of n along stride `stride`), and the
// line's tridiagonal row; both from the same face coefficients.
struct AdiRow { float lower, diag, upper, rhs; };

BBB_HD AdiRow adi_row(const TransportParams& P, const float* u, const float* y_prev, const std::uint8_t* label,
                      const float* G, int a, std::int64_t i, int k, int n, std::int64_t stride, float theta_dt,
                      float fixed_value) {
  AdiRow r;
  const int li = label[i];
  if (P.fixed[li]) {  // identity row: the plasma value, or the held value (= u and y, unchanged)
    r.lower = 0.0f; r.diag = 1.0f; r.upper = 0.0f; r.rhs = P.fixed[li] == 1 ? fixed_value : u[i];
    return r;
  }
  const std::int64_t N = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  const float inv = P.inv_alpha_h[li];
  const float fi = P.fu[li];
  float gm = 0.0f, gp = 0.0f, fm = 0.0f, fp = 0.0f, um = 0.0f, up = 0.0f;
  if (k > 0) {
    gm = G[a * N + i - stride];
    fm = P.fu[label[i - stride]];
    um = u[i - stride];
  }
  if (k < n - 1) {
    gp = G[a * N + i];
    fp = P.fu[label[i + stride]];
    up = u[i + stride];
  }
  const float ui = u[i];
  const float La = inv * (gm * (fm * um - fi * ui) + gp * (fp * up - fi * ui));
  const float s = theta_dt * inv;
  r.lower = -s * gm * fm;
  r.upper = -s * gp * fp;
  r.diag = 1.0f + s * (gm + gp) * fi;
  r.rhs = y_prev[i] - theta_dt * La;
  return r;
}

// Solve the line along axis a starting at cell `base` (n cells, stride), in place in y (the
// right-hand side is read from y in the forward sweep before the back sweep writes the line).
// cp, dp: scratch of n floats each (Thomas algorithm; the rows are diagonally dominant for equal fu).
BBB_HD void adi_line(const TransportParams& P, const float* u, float* y, const std::uint8_t* label, const float* G,
                     int a, std::int64_t base, int n, std::int64_t stride, float theta_dt, float fixed_value,
                     float* cp, float* dp) {
  if (n <= 0) return;
  AdiRow r = adi_row(P, u, y, label, G, a, base, 0, n, stride, theta_dt, fixed_value);
  cp[0] = r.upper / r.diag;
  dp[0] = r.rhs / r.diag;
  for (int k = 1; k < n; ++k) {
    r = adi_row(P, u, y, label, G, a, base + k * stride, k, n, stride, theta_dt, fixed_value);
    const float m = r.diag - r.lower * cp[k - 1];
    cp[k] = r.upper / m;
    dp[k] = (r.rhs - r.lower * dp[k - 1]) / m;
  }
  float x = dp[n - 1];
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
