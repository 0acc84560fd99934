// CPU launchers of the explicit and ADI steps.
//
// Uniform runs: most cells of a tissue volume sit inside one compartment, where the cell update
// of fv.h reduces to a 7-point stencil with one conductance. Before the steps, each row (z, y) is
// scanned once for runs of such cells (interior, not fixed or flowing, six neighbours of the same
// label, six faces without membrane or flow and with the same conductance g: consecutive such
// cells share a face, so a run has one label and one g). A run is updated by a branch-free loop that does
// transport_explicit_cell's arithmetic in its order (so the results are the same bits as the
// generic update, and as the CUDA kernel), compiled for the baseline and AVX2 (cpu_isa.h); the
// other cells take the generic update. Used by the explicit steps and the ADI predictor.
#include <cstring>
#include <vector>

#include "bbbcore/check.h"
#include "bbbcore/cpu_isa.h"
#include "transport/explicit.h"

namespace bbb {
namespace {

template <typename T>
struct UniformRun {
  int x0, x1;   // [x0, x1) of the row
  int label;
  T g;
};

template <typename T>
using RowRuns = std::vector<std::vector<UniformRun<T>>>;

constexpr int kMinRun = 4;

// Whether each cell x of row r (1 <= x < X - 1) is uniform, branch-free (it vectorises). Two
// consecutive uniform cells share a face, so they share the label and g: a run is any stretch of them.
template <typename T>
inline void uniform_mask(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, std::int64_t r, int X,
                         std::int64_t XY, std::int64_t n, std::uint8_t* ok) {
  const std::uint8_t* lab = buf.label;
  const T* G = buf.G;
  const std::uint8_t* mem = buf.mem;
  std::uint8_t free_label[kTransportMaxLabels];   // neither fixed nor the flowing channel
  for (int l = 0; l < kTransportMaxLabels; ++l) free_label[l] = P.fixed[l] == 0 && l != P.adv_label;
  const std::int64_t base = r * X;
  for (int x = 1; x < X - 1; ++x) {
    const std::int64_t i = base + x;
    const std::uint8_t li = lab[i];
    const T g = G[i];
    const bool same = (lab[i - 1] == li) & (lab[i + 1] == li) & (lab[i - X] == li) & (lab[i + X] == li) &
                      (lab[i - XY] == li) & (lab[i + XY] == li);
    const bool cond = (G[i - XY] == g) & (G[n + i - X] == g) & (G[n + i] == g) & (G[2 * n + i - 1] == g) &
                      (G[2 * n + i] == g);
    const bool nomem = (mem[i - XY] | mem[i] | mem[n + i - X] | mem[n + i] | mem[2 * n + i - 1] |
                        mem[2 * n + i]) == 0;
    ok[x] = static_cast<std::uint8_t>(same & cond & nomem & (free_label[li & (kTransportMaxLabels - 1)] != 0));
  }
  if (P.flow_v != nullptr) {
    for (int x = 1; x < X - 1; ++x) {
      const std::int64_t i = base + x;
      const T* v = P.flow_v;
      ok[x] &= static_cast<std::uint8_t>((P.flow_in[i] == T(0)) & (P.flow_out[i] == T(0)) & (v[i - XY] == T(0)) &
                                         (v[i] == T(0)) & (v[n + i - X] == T(0)) & (v[n + i] == T(0)) &
                                         (v[2 * n + i - 1] == T(0)) & (v[2 * n + i] == T(0)));
    }
  }
}

template <typename T>
RowRuns<T> uniform_runs(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf) {
  const int Z = P.shape[0], Y = P.shape[1], X = P.shape[2];
  const std::int64_t XY = static_cast<std::int64_t>(X) * Y, n = XY * Z;
  RowRuns<T> runs(static_cast<std::size_t>(Z) * Y);
  if (Z < 3 || Y < 3 || X < 3) return runs;
#pragma omp parallel
  {
    std::vector<std::uint8_t> ok(static_cast<std::size_t>(X), 0);
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < static_cast<std::int64_t>(Z) * Y; ++r) {
      const int z = static_cast<int>(r / Y), y = static_cast<int>(r % Y);
      if (z == 0 || z == Z - 1 || y == 0 || y == Y - 1) continue;
      uniform_mask(P, buf, r, X, XY, n, ok.data());
      auto& out = runs[static_cast<std::size_t>(r)];
      for (int x = 1; x < X - 1;) {
        if (!ok[x]) { ++x; continue; }
        int e = x + 1;
        while (e < X - 1 && ok[e]) ++e;
        if (e - x >= kMinRun) {
          const std::int64_t i = r * X + x;
          out.push_back({x, e, static_cast<int>(buf.label[i]), buf.G[2 * n + i]});
        }
        x = e;
      }
    }
  }
  return runs;
}

// transport_explicit_cell for the cells of a uniform run, in its order of operations.
template <typename T>
inline __attribute__((always_inline)) void uniform_run_body(const T* __restrict C, T* __restrict out,
                                                            std::int64_t i0, int len, std::int64_t X,
                                                            std::int64_t XY, T g, T fu, T dt, T inv, T k) {
  for (int t = 0; t < len; ++t) {
    const std::int64_t i = i0 + t;
    const T ci = C[i];
    const T ui = fu * ci;
    T acc = T(0);
    acc += g * (fu * C[i - XY] - ui);
    acc += g * (fu * C[i + XY] - ui);
    acc += g * (fu * C[i - X] - ui);
    acc += g * (fu * C[i + X] - ui);
    acc += g * (fu * C[i - 1] - ui);
    acc += g * (fu * C[i + 1] - ui);
    out[i] = ci + dt * (acc * inv - k * ci + T(0));
  }
}

#define BBB_UNIFORM_PARAMS(T)                                                                          \
  (const T* __restrict C, T* __restrict out, std::int64_t i0, int len, std::int64_t X, std::int64_t XY, \
   T g, T fu, T dt, T inv, T k)
BBB_ISA_DISPATCH(uniform_run_f, BBB_UNIFORM_PARAMS(float),
                 uniform_run_body<float>(C, out, i0, len, X, XY, g, fu, dt, inv, k))
BBB_ISA_DISPATCH(uniform_run_d, BBB_UNIFORM_PARAMS(double),
                 uniform_run_body<double>(C, out, i0, len, X, XY, g, fu, dt, inv, k))
#undef BBB_UNIFORM_PARAMS

inline void uniform_run(const float* C, float* out, std::int64_t i0, int len, std::int64_t X, std::int64_t XY,
                        float g, float fu, float dt, float inv, float k) {
  BBB_ISA_CALL(uniform_run_f, (C, out, i0, len, X, XY, g, fu, dt, inv, k));
}
inline void uniform_run(const double* C, double* out, std::int64_t i0, int len, std::int64_t X, std::int64_t XY,
                        double g, double fu, double dt, double inv, double k) {
  BBB_ISA_CALL(uniform_run_d, (C, out, i0, len, X, XY, g, fu, dt, inv, k));
}

// One explicit update of every cell, src -> dst: uniform runs by the stencil loop, the rest by
// transport_explicit_cell.
template <typename T>
void explicit_sweep(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, const RowRuns<T>& runs,
                    const T* src, T* dst, T fixed) {
  const int Y = P.shape[1], X = P.shape[2];
  const std::int64_t XY = static_cast<std::int64_t>(X) * Y;
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(P.shape[0]) * Y; ++r) {
    const int z = static_cast<int>(r / Y), y = static_cast<int>(r % Y);
    int x = 0;
    for (const UniformRun<T>& run : runs[static_cast<std::size_t>(r)]) {
      for (; x < run.x0; ++x)
        dst[r * X + x] = transport_explicit_cell(P, src, buf.label, buf.G, buf.mem, fixed, z, y, x);
      const int l = run.label;
      uniform_run(src, dst, r * X + run.x0, run.x1 - run.x0, static_cast<std::int64_t>(X), XY, run.g, P.fu[l],
                  P.dt_s, P.inv_alpha_h[l], P.k_clear[l]);
      x = run.x1;
    }
    for (; x < X; ++x)
      dst[r * X + x] = transport_explicit_cell(P, src, buf.label, buf.G, buf.mem, fixed, z, y, x);
  }
}

}  // namespace

template <typename T>
void transport_explicit_cpu(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, int steps) {
  BBB_CHECK(steps >= 0, "transport_explicit", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  T* src = buf.c;
  T* dst = buf.scratch;
  const RowRuns<T> runs = uniform_runs(P, buf);
  for (int s = 0; s < steps; ++s) {
    explicit_sweep(P, buf, runs, src, dst, buf.fixed_values[s]);
    T* t = src; src = dst; dst = t;
  }
  if (src != buf.c) std::memcpy(buf.c, src, static_cast<std::size_t>(n) * sizeof(T));
}

template <typename T>
void transport_adi_cpu(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, T* line_scratch, int steps,
                       T theta) {
  BBB_CHECK(steps >= 0, "transport_adi", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  T* u = buf.c;
  T* y = buf.scratch;
  const int Y = P.shape[1], X = P.shape[2];
  const T theta_dt = theta * P.dt_s;
  const std::int64_t lines[3] = {static_cast<std::int64_t>(Y) * X, static_cast<std::int64_t>(P.shape[0]) * X,
                                 static_cast<std::int64_t>(P.shape[0]) * Y};
  const RowRuns<T> runs = uniform_runs(P, buf);
  for (int s = 0; s < steps; ++s) {
    const T fixed = buf.fixed_values[s];
    explicit_sweep(P, buf, runs, u, y, fixed);
    // z and y lines: X neighbouring lines at a time (contiguous rows in memory), each with
    // exactly adi_line's arithmetic; x lines: one at a time (contiguous already)
    for (int a = 0; a < 2; ++a) {
      const int len = P.shape[a];
      const std::int64_t outer = lines[a] / X;  // (y) for a = 0, (z) for a = 1
#pragma omp parallel for schedule(static)
      for (std::int64_t o = 0; o < outer; ++o) {
        std::int64_t base0, stride;
        int nn;
        adi_line_geometry(P.shape, a, a == 0 ? o * X : o * X, base0, nn, stride);
        T* cp = line_scratch + 2 * o * X * static_cast<std::int64_t>(len);
        T* dp = cp + static_cast<std::int64_t>(X) * len;
        for (int k = 0; k < nn; ++k) {
          for (int x = 0; x < X; ++x) {
            const AdiRowT<T> r = adi_row(P, u, y, buf.label, buf.G, buf.mem, a, base0 + x + k * stride, k, nn, stride,
                                     theta_dt, fixed);
            T* cpx = cp + static_cast<std::int64_t>(x) * len;
            T* dpx = dp + static_cast<std::int64_t>(x) * len;
            if (k == 0) {
              cpx[0] = r.upper / r.diag;
              dpx[0] = r.rhs / r.diag;
            } else {
              const T m = r.diag - r.lower * cpx[k - 1];
              cpx[k] = r.upper / m;
              dpx[k] = (r.rhs - r.lower * dpx[k - 1]) / m;
            }
          }
        }
        for (int x = 0; x < X; ++x) {
          const T* cpx = cp + static_cast<std::int64_t>(x) * len;
          const T* dpx = dp + static_cast<std::int64_t>(x) * len;
          T xv = dpx[nn - 1];
          y[base0 + x + static_cast<std::int64_t>(nn - 1) * stride] = xv;
          for (int k = nn - 2; k >= 0; --k) {
            xv = dpx[k] - cpx[k] * xv;
            y[base0 + x + k * stride] = xv;
          }
        }
      }
    }
    {
      const int len = P.shape[2];
#pragma omp parallel for schedule(static)
      for (std::int64_t line = 0; line < lines[2]; ++line) {
        std::int64_t base, stride;
        int nn;
        adi_line_geometry(P.shape, 2, line, base, nn, stride);
        T* cp = line_scratch + 2 * line * len;
        adi_line(P, u, y, buf.label, buf.G, buf.mem, 2, base, nn, stride, theta_dt, fixed, cp, cp + len);
      }
    }
    T* t = u; u = y; y = t;
  }
  if (u != buf.c) std::memcpy(buf.c, u, static_cast<std::size_t>(n) * sizeof(T));
}

template void transport_explicit_cpu<float>(const TransportParams&, const TransportBuffers&, int);
template void transport_explicit_cpu<double>(const TransportParams64&, const TransportBuffersT<double>&, int);
template void transport_adi_cpu<float>(const TransportParams&, const TransportBuffers&, float*, int, float);
template void transport_adi_cpu<double>(const TransportParams64&, const TransportBuffersT<double>&, double*, int,
                                        double);

}  // namespace bbb
