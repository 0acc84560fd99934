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
#include <algorithm>
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


// ---- ADI line sweeps ------------------------------------------------------------------------------
// Every line's rows are adi_row's and its solve adi_line's Thomas algorithm, in the same order of
// operations (so the results equal those of adi_line and of the CUDA kernel). What differs is the
// order in which lines advance, for the caches and the vector units:
// - z and y sweeps: the X lines of one (y) or (z) advance together, a row of X cells at a time
//   (contiguous in memory), with the Thomas coefficients stored [k][x];
// - x sweep: kXLines lines (consecutive rows) have their rows built first, then advance together,
//   so the divisions of independent lines overlap.
// Inside a uniform run (uniform_runs) a row is a constant tridiagonal row plus a right-hand side
// that only needs the 3-point stencil, computed by a vectorised loop; the other cells call adi_row.

// The constant row coefficients of a uniform run (adi_row's expressions with zero carriers).
template <typename T>
struct UniformAdiRow { T lower, diag, upper, s; };

template <typename T>
inline UniformAdiRow<T> uniform_adi_row(const TransportParamsT<T>& P, const UniformRun<T>& run, int a, T theta_dt) {
  const int l = run.label;
  const T zero = T(0), g = run.g, fu = P.fu[l];
  UniformAdiRow<T> c;
  c.s = theta_dt * P.inv_alpha_h[l];
  c.lower = -c.s * (g + zero) * fu;
  c.upper = -c.s * (g + zero) * fu;
  c.diag = T(1) + c.s * (g + g + zero + zero) * fu;
  if (a == 2) c.diag += theta_dt * P.k_clear[l];
  return c;
}

// z / y sweeps, forward elimination of a run of cells of row k (k >= 1) across x: cp, dp at the run's
// first x of row k, the previous row's at cp - X, dp - X.
template <typename T>
inline __attribute__((always_inline)) void adi_run_fwd_body(const T* __restrict u, const T* __restrict yv,
                                                            T* __restrict cp, T* __restrict dp, std::int64_t i0,
                                                            int len, std::int64_t stride, std::int64_t X, T g,
                                                            T fu, T inv, T lower, T diag, T upper, T theta_dt) {
  const T* __restrict cpp = cp - X;
  const T* __restrict dpp = dp - X;
  for (int t = 0; t < len; ++t) {
    const std::int64_t i = i0 + t;
    const T ui = u[i];
    const T flux = g * (fu * u[i - stride] - fu * ui) + g * (fu * u[i + stride] - fu * ui);
    const T La = inv * flux;
    const T rhs = yv[i] - theta_dt * La;
    const T m = diag - lower * cpp[t];
    cp[t] = upper / m;
    dp[t] = (rhs - lower * dpp[t]) / m;
  }
}

// x sweep: the right-hand sides of a run (the rows' constant coefficients are set by the caller).
template <typename T>
inline __attribute__((always_inline)) void adi_run_rhs_x_body(const T* __restrict u, const T* __restrict yv,
                                                              T* __restrict rh, std::int64_t i0, int len, T g,
                                                              T fu, T inv, T kc, T theta_dt) {
  for (int t = 0; t < len; ++t) {
    const std::int64_t i = i0 + t;
    const T ui = u[i];
    const T flux = g * (fu * u[i - 1] - fu * ui) + g * (fu * u[i + 1] - fu * ui);
    T La = inv * flux;
    La -= kc * ui;
    rh[t] = yv[i] - theta_dt * La;
  }
}

// z / y sweeps, back substitution of row k across x: y_k = dp_k - cp_k y_(k+1).
template <typename T>
inline __attribute__((always_inline)) void adi_back_row_body(T* __restrict yk, const T* __restrict ynext,
                                                             const T* __restrict cp, const T* __restrict dp,
                                                             int X) {
  for (int x = 0; x < X; ++x) yk[x] = dp[x] - cp[x] * ynext[x];
}

#define BBB_FWD_PARAMS(T)                                                                                  \
  (const T* __restrict u, const T* __restrict yv, T* __restrict cp, T* __restrict dp, std::int64_t i0, int len, \
   std::int64_t stride, std::int64_t X, T g, T fu, T inv, T lower, T diag, T upper, T theta_dt)
#define BBB_FWD_ARGS (u, yv, cp, dp, i0, len, stride, X, g, fu, inv, lower, diag, upper, theta_dt)
BBB_ISA_DISPATCH(adi_run_fwd_f, BBB_FWD_PARAMS(float), adi_run_fwd_body<float> BBB_FWD_ARGS)
BBB_ISA_DISPATCH(adi_run_fwd_d, BBB_FWD_PARAMS(double), adi_run_fwd_body<double> BBB_FWD_ARGS)
#define BBB_RHS_PARAMS(T) \
  (const T* __restrict u, const T* __restrict yv, T* __restrict rh, std::int64_t i0, int len, T g, T fu, T inv, \
   T kc, T theta_dt)
#define BBB_RHS_ARGS (u, yv, rh, i0, len, g, fu, inv, kc, theta_dt)
BBB_ISA_DISPATCH(adi_run_rhs_x_f, BBB_RHS_PARAMS(float), adi_run_rhs_x_body<float> BBB_RHS_ARGS)
BBB_ISA_DISPATCH(adi_run_rhs_x_d, BBB_RHS_PARAMS(double), adi_run_rhs_x_body<double> BBB_RHS_ARGS)
#define BBB_BACK_PARAMS(T) \
  (T* __restrict yk, const T* __restrict ynext, const T* __restrict cp, const T* __restrict dp, int X)
#define BBB_BACK_ARGS (yk, ynext, cp, dp, X)
BBB_ISA_DISPATCH(adi_back_row_f, BBB_BACK_PARAMS(float), adi_back_row_body<float> BBB_BACK_ARGS)
BBB_ISA_DISPATCH(adi_back_row_d, BBB_BACK_PARAMS(double), adi_back_row_body<double> BBB_BACK_ARGS)
#undef BBB_FWD_PARAMS
#undef BBB_FWD_ARGS
#undef BBB_RHS_PARAMS
#undef BBB_RHS_ARGS
#undef BBB_BACK_PARAMS
#undef BBB_BACK_ARGS

inline void adi_run_fwd(const float* u, const float* yv, float* cp, float* dp, std::int64_t i0, int len,
                        std::int64_t stride, std::int64_t X, float g, float fu, float inv, float lower, float diag,
                        float upper, float theta_dt) {
  BBB_ISA_CALL(adi_run_fwd_f, (u, yv, cp, dp, i0, len, stride, X, g, fu, inv, lower, diag, upper, theta_dt));
}
inline void adi_run_fwd(const double* u, const double* yv, double* cp, double* dp, std::int64_t i0, int len,
                        std::int64_t stride, std::int64_t X, double g, double fu, double inv, double lower,
                        double diag, double upper, double theta_dt) {
  BBB_ISA_CALL(adi_run_fwd_d, (u, yv, cp, dp, i0, len, stride, X, g, fu, inv, lower, diag, upper, theta_dt));
}
inline void adi_run_rhs_x(const float* u, const float* yv, float* rh, std::int64_t i0, int len, float g, float fu,
                          float inv, float kc, float theta_dt) {
  BBB_ISA_CALL(adi_run_rhs_x_f, (u, yv, rh, i0, len, g, fu, inv, kc, theta_dt));
}
inline void adi_run_rhs_x(const double* u, const double* yv, double* rh, std::int64_t i0, int len, double g,
                          double fu, double inv, double kc, double theta_dt) {
  BBB_ISA_CALL(adi_run_rhs_x_d, (u, yv, rh, i0, len, g, fu, inv, kc, theta_dt));
}
inline void adi_back_row(float* yk, const float* ynext, const float* cp, const float* dp, int X) {
  BBB_ISA_CALL(adi_back_row_f, (yk, ynext, cp, dp, X));
}
inline void adi_back_row(double* yk, const double* ynext, const double* cp, const double* dp, int X) {
  BBB_ISA_CALL(adi_back_row_d, (yk, ynext, cp, dp, X));
}

// The z (a = 0) or y (a = 1) sweep: lines indexed by o = y (a = 0) or z (a = 1), X of them at a
// time; row k of a block is the grid row (z, y) = (k, o) or (o, k). Thomas coefficients of block o
// in line_scratch at 2 X len o: cp [len][X], then dp [len][X].
template <typename T>
void adi_sweep_zy(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, const RowRuns<T>& runs,
                  const T* u, T* y, T* line_scratch, int a, T theta_dt, T fixed) {
  const int Z = P.shape[0], Y = P.shape[1], X = P.shape[2];
  const int len = P.shape[a];
  const std::int64_t outer = a == 0 ? Y : Z;
  const std::int64_t XY = static_cast<std::int64_t>(X) * Y;
  const std::int64_t stride = a == 0 ? XY : X;
#pragma omp parallel for schedule(static)
  for (std::int64_t o = 0; o < outer; ++o) {
    const std::int64_t base0 = a == 0 ? o * X : o * XY;  // cell (k = 0, x = 0) of the block
    T* cp = line_scratch + 2 * o * X * static_cast<std::int64_t>(len);
    T* dp = cp + static_cast<std::int64_t>(X) * len;
    for (int k = 0; k < len; ++k) {
      const std::int64_t row = a == 0 ? static_cast<std::int64_t>(k) * Y + o : o * Y + k;
      const std::int64_t rbase = base0 + k * stride;
      T* cpk = cp + static_cast<std::int64_t>(k) * X;
      T* dpk = dp + static_cast<std::int64_t>(k) * X;
      auto generic = [&](int x) {
        const AdiRowT<T> r = adi_row(P, u, y, buf.label, buf.G, buf.mem, a, rbase + x, k, len, stride, theta_dt,
                                     fixed);
        if (k == 0) {
          cpk[x] = r.upper / r.diag;
          dpk[x] = r.rhs / r.diag;
        } else {
          const T m = r.diag - r.lower * cpk[x - X];
          cpk[x] = r.upper / m;
          dpk[x] = (r.rhs - r.lower * dpk[x - X]) / m;
        }
      };
      int x = 0;
      for (const UniformRun<T>& run : runs[static_cast<std::size_t>(row)]) {
        for (; x < run.x0; ++x) generic(x);
        const UniformAdiRow<T> c = uniform_adi_row(P, run, a, theta_dt);
        const int l = run.label;
        adi_run_fwd(u, y, cpk + run.x0, dpk + run.x0, rbase + run.x0, run.x1 - run.x0, stride,
                    static_cast<std::int64_t>(X), run.g, P.fu[l], P.inv_alpha_h[l], c.lower, c.diag, c.upper,
                    theta_dt);
        x = run.x1;
      }
      for (; x < X; ++x) generic(x);
    }
    T* ylast = y + base0 + static_cast<std::int64_t>(len - 1) * stride;
    std::memcpy(ylast, dp + static_cast<std::int64_t>(len - 1) * X, static_cast<std::size_t>(X) * sizeof(T));
    for (int k = len - 2; k >= 0; --k)
      adi_back_row(y + base0 + k * stride, y + base0 + (k + 1) * stride, cp + static_cast<std::int64_t>(k) * X,
                   dp + static_cast<std::int64_t>(k) * X, X);
  }
}

constexpr int kXLines = 8;

// The x sweep: lines are grid rows r, kXLines consecutive ones at a time. Their rows go into
// lo, di, up, rh [line][x] (up and rh then hold the Thomas cp and dp).
template <typename T>
void adi_sweep_x(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, const RowRuns<T>& runs,
                 const T* u, T* y, T theta_dt, T fixed) {
  const int X = P.shape[2];
  const std::int64_t rows = static_cast<std::int64_t>(P.shape[0]) * P.shape[1];
  const std::int64_t groups = (rows + kXLines - 1) / kXLines;
#pragma omp parallel
  {
    std::vector<T> work(static_cast<std::size_t>(4) * kXLines * X);
    T* lo = work.data();
    T* di = lo + kXLines * X;
    T* up = di + kXLines * X;
    T* rh = up + kXLines * X;
#pragma omp for schedule(static)
    for (std::int64_t gidx = 0; gidx < groups; ++gidx) {
      const std::int64_t r0 = gidx * kXLines;
      const int L = static_cast<int>(std::min<std::int64_t>(kXLines, rows - r0));
      for (int l = 0; l < L; ++l) {
        const std::int64_t r = r0 + l, rbase = r * X;
        T* lol = lo + l * X;
        T* dil = di + l * X;
        T* upl = up + l * X;
        T* rhl = rh + l * X;
        auto generic = [&](int x) {
          const AdiRowT<T> q = adi_row(P, u, y, buf.label, buf.G, buf.mem, 2, rbase + x, x, X, 1, theta_dt, fixed);
          lol[x] = q.lower; dil[x] = q.diag; upl[x] = q.upper; rhl[x] = q.rhs;
        };
        int x = 0;
        for (const UniformRun<T>& run : runs[static_cast<std::size_t>(r)]) {
          for (; x < run.x0; ++x) generic(x);
          const UniformAdiRow<T> c = uniform_adi_row(P, run, 2, theta_dt);
          const int lab = run.label;
          for (int t = run.x0; t < run.x1; ++t) { lol[t] = c.lower; dil[t] = c.diag; upl[t] = c.upper; }
          adi_run_rhs_x(u, y, rhl + run.x0, rbase + run.x0, run.x1 - run.x0, run.g, P.fu[lab], P.inv_alpha_h[lab],
                        P.k_clear[lab], theta_dt);
          x = run.x1;
        }
        for (; x < X; ++x) generic(x);
      }
      // forward elimination, the L lines interleaved (cp into up, dp into rh)
      for (int l = 0; l < L; ++l) {
        up[l * X] = up[l * X] / di[l * X];
        rh[l * X] = rh[l * X] / di[l * X];
      }
      for (int k = 1; k < X; ++k)
        for (int l = 0; l < L; ++l) {
          const int i = l * X + k;
          const T m = di[i] - lo[i] * up[i - 1];
          up[i] = up[i] / m;
          rh[i] = (rh[i] - lo[i] * rh[i - 1]) / m;
        }
      // back substitution, interleaved
      T xv[kXLines];
      for (int l = 0; l < L; ++l) {
        xv[l] = rh[l * X + X - 1];
        y[(r0 + l) * X + X - 1] = xv[l];
      }
      for (int k = X - 2; k >= 0; --k)
        for (int l = 0; l < L; ++l) {
          xv[l] = rh[l * X + k] - up[l * X + k] * xv[l];
          y[(r0 + l) * X + k] = xv[l];
        }
    }
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
  const T theta_dt = theta * P.dt_s;
  const RowRuns<T> runs = uniform_runs(P, buf);
  for (int s = 0; s < steps; ++s) {
    const T fixed = buf.fixed_values[s];
    explicit_sweep(P, buf, runs, u, y, fixed);
    adi_sweep_zy(P, buf, runs, u, y, line_scratch, 0, theta_dt, fixed);
    adi_sweep_zy(P, buf, runs, u, y, line_scratch, 1, theta_dt, fixed);
    adi_sweep_x(P, buf, runs, u, y, theta_dt, fixed);
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
