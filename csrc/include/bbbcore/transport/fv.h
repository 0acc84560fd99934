// Finite-volume transport across the BBB: one explicit (forward Euler) cell update.
//
// Cells on a Cartesian grid (Z, Y, X), voxel size h; each cell has a compartment label. The
// concentration C of a cell is per accessible volume (plasma in blood, extracellular space in
// brain: fraction alpha of the cell). Every face carries a conductance G [m/s] (per unit face
// area), G = 1 / (h/(2 alpha_L D_L) + 1/P_1 + ... + h/(2 alpha_R D_R)) with the membranes' P in
// series, and the flux J = G (fu_L C_L - fu_R C_R) [mol m^-2 s^-1] is driven by unbound
// concentrations. A membrane face may also carry Michaelis-Menten efflux from its abluminal to its
// luminal side, J_eff = Vmax fu C / (Km + fu C) (unbound C of the abluminal cell), and carrier
// influx from its luminal to its abluminal side, J_in = Vmax_in u_L / (Km_in + u_L) (u_L the
// luminal cell's unbound C; Km_in the apparent Km, competition folded in by the host). Cells update
//   C' = C + dt ( sum_faces J_in / (alpha h) - k C ),
// and cells of a "fixed" label (blood held at the plasma curve) take the prescribed value. A
// "channel" label instead flows along one axis (plug flow u, first-order upwind):
//   C' += dt u/h (C_upstream - C), the inlet plane's upstream value being `fixed_value`
// (the inflow concentration); what crosses the far plane leaves the domain.
// A general flow field (a segmented vessel network) instead gives every face a signed rate
// v = u_face/h [1/s] (towards +axis) and every cell the rates of its inflow and outflow through the
// domain boundary; each face carries v times its upwind cell's C (conservative by construction):
//   C' += dt ( sum_faces v_in C_upwind - sum_faces v_out C + in fixed_value - out C ).
// Everything is templated on the scalar T of the state, the conductances and the parameters:
// float (the default: half the memory traffic) or double (mass conserved to ~1e-15 per step, for
// long runs and conservation checks). NumPy float64 oracle: python/bbbcore/reference/transport.py
// (explicit_step_ref).
#pragma once
#include <cstdint>

#include "bbbcore/hd.h"

namespace bbb {

constexpr int kTransportMaxLabels = 8;
constexpr int kTransportMaxMembranes = 8;

template <typename T>
struct TransportParamsT {
  int shape[3];                               // (Z, Y, X)
  T dt_s;                                     // time step [s]
  T fu[kTransportMaxLabels];                  // unbound fraction per label
  T inv_alpha_h[kTransportMaxLabels];         // 1 / (alpha h) per label [1/m]
  T k_clear[kTransportMaxLabels];             // first-order clearance per label [1/s]
  int fixed[kTransportMaxLabels];             // 1: the label's cells follow `fixed_value` (plasma);
                                              // 2: they keep their value (a held reservoir)
  T eff_vmax[kTransportMaxMembranes];         // efflux Vmax per membrane id [mol m^-2 s^-1]
  T eff_km[kTransportMaxMembranes];           // efflux Km per membrane id [mol m^-3]
  int lum_label[kTransportMaxMembranes];      // luminal label of each membrane id
  T inf_vmax[kTransportMaxMembranes];         // carrier influx Vmax per membrane id [mol m^-2 s^-1]
  T inf_km[kTransportMaxMembranes];           // carrier influx apparent Km per membrane id [mol m^-3]
  int adv_label;                              // label flowing as a 1D channel (-1: none)
  int adv_axis;                               // its flow axis (flow towards +axis)
  T adv_u_over_h;                             // plug-flow velocity / h [1/s]
  const T* flow_v = nullptr;                  // [3, Z, Y, X] general flow: signed u/h of each forward
                                              // face [1/s] (nullptr: none)
  const T* flow_in = nullptr;                 // [Z, Y, X] u/h entering through the domain boundary
  const T* flow_out = nullptr;                // [Z, Y, X] u/h leaving through the domain boundary
};

// Upwind advection of the general flow field into cell i (C' += dt * this).
template <typename T>
BBB_HDI T flow_advection(const TransportParamsT<T>& P, const T* C, std::int64_t i, const int coord[3],
                         const std::int64_t step[3], std::int64_t n, T ci, T fixed_value) {
  T adv = P.flow_in[i] * fixed_value - P.flow_out[i] * ci;
  for (int a = 0; a < 3; ++a) {
    if (coord[a] > 0) {                  // the face below: v > 0 flows into i
      const T v = P.flow_v[a * n + i - step[a]];
      adv += v > T(0) ? v * C[i - step[a]] : v * ci;
    }
    if (coord[a] < P.shape[a] - 1) {     // the face above: v > 0 flows out of i
      const T v = P.flow_v[a * n + i];
      adv -= v > T(0) ? v * ci : v * C[i + step[a]];
    }
  }
  return adv;
}
using TransportParams = TransportParamsT<float>;
using TransportParams64 = TransportParamsT<double>;

// One cell's forward-Euler update. C, label: [Z, Y, X]; G, mem: [3, Z, Y, X] forward faces (the
// face between cell i and its +1 neighbour along each axis; 0 on the far boundary: no flux).
template <typename T>
BBB_HD T transport_explicit_cell(const TransportParamsT<T>& P, const T* C, const std::uint8_t* label,
                                 const T* G, const std::uint8_t* mem, T fixed_value, int z, int y, int x) {
  const std::int64_t Z = P.shape[0], Y = P.shape[1], X = P.shape[2];
  const std::int64_t n = Z * Y * X;
  const std::int64_t i = (z * Y + y) * X + x;
  const int li = label[i];
  if (P.fixed[li] == 1) return fixed_value;   // on the plasma curve
  if (P.fixed[li] == 2) return C[i];          // held at its initial value (a boundary reservoir)
  const T ci = C[i];
  const T ui = P.fu[li] * ci;  // unbound
  const std::int64_t step[3] = {Y * X, X, 1};
  const int coord[3] = {z, y, x};
  T acc = T(0);  // sum of the fluxes into the cell [mol m^-2 s^-1]
  for (int a = 0; a < 3; ++a) {
    for (int dir = -1; dir <= 1; dir += 2) {
      const int cn = coord[a] + dir;
      if (cn < 0 || cn >= P.shape[a]) continue;
      const std::int64_t j = i + dir * step[a];
      const std::int64_t face = a * n + (dir > 0 ? i : j);  // forward face of the lower cell
      const T g = G[face];
      const int lj = label[j];
      const T uj = P.fu[lj] * C[j];
      acc += g * (uj - ui);
      const int m = mem[face];
      if (m > 0) {
        const bool luminal = li == P.lum_label[m];
        const T vmax = P.eff_vmax[m], km = P.eff_km[m];
        if (vmax > T(0)) {
          if (luminal) acc += vmax * uj / (km + uj);   // pumped in from the abluminal cell
          else acc -= vmax * ui / (km + ui);           // pumped out of this cell
        }
        const T vin = P.inf_vmax[m], kin = P.inf_km[m];
        if (vin > T(0)) {
          if (luminal) acc -= vin * ui / (kin + ui);   // carried out of this (luminal) cell
          else acc += vin * uj / (kin + uj);           // carried in from the luminal cell
        }
      }
    }
  }
  T adv = T(0);  // first-order upwind plug flow; the inlet cells take fixed_value upstream
  if (P.flow_v != nullptr) {
    adv = flow_advection(P, C, i, coord, step, n, ci, fixed_value);
  } else if (li == P.adv_label) {
    const int a = P.adv_axis;
    const T up = coord[a] == 0 ? fixed_value : C[i - step[a]];
    adv = P.adv_u_over_h * (up - ci);
  }
  return ci + P.dt_s * (acc * P.inv_alpha_h[li] - P.k_clear[li] * ci + adv);
}

}  // namespace bbb
