// CPU launchers of the explicit and ADI steps.
//
// Uniform runs: most cells of a tissue volume sit inside one compartment, where the cell update
// of fv.h reduces to a 7-point stencil with one conductance. Before the steps, each row (z, y) is
// scanned once for runs of such cells (interior, not fixed or flowing, six neighbours of the same
// label, six faces without membrane or flow and with the same conductance g: consecutive such
// cells share a face, so a run has one label and one g) and for runs of fixed cells of one label
// (blood on the plasma curve, held reservoirs). A stencil run is updated by a branch-free loop that
// does transport_explicit_cell's arithmetic in its order (so the results are the same bits as the
// generic update, and as the CUDA kernel), compiled for the baseline and AVX2 (cpu_isa.h); a fixed
// run is a fill or a copy; the other cells take the generic update. The same runs serve the ADI
// line sweeps (below). BBBCORE_TRANSPORT_RUNS=0 in the environment turns the runs off (every cell
// generic), for checks.
#include <algorithm>
#include <cstdlib>
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
  T g;          // the faces' conductance (stencil runs)
  int fixed;    // 0: a stencil run; 1, 2: a run of fixed cells (P.fixed of the label)
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
  // BBBCORE_TRANSPORT_RUNS=0: no runs, every cell takes the generic update (a check of the runs)
  if (const char* env = std::getenv("BBBCORE_TRANSPORT_RUNS"); env != nullptr && std::strcmp(env, "0") == 0)
    return runs;
  const bool stencil = Z >= 3 && Y >= 3 && X >= 3;
#pragma omp parallel
  {
    std::vector<std::uint8_t> ok(static_cast<std::size_t>(X), 0);
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < static_cast<std::int64_t>(Z) * Y; ++r) {
      const int z = static_cast<int>(r / Y), y = static_cast<int>(r % Y);
      const bool interior = stencil && z > 0 && z < Z - 1 && y > 0 && y < Y - 1;
      if (interior) uniform_mask(P, buf, r, X, XY, n, ok.data());
      const std::uint8_t* lab = buf.label + r * X;
      auto& out = runs[static_cast<std::size_t>(r)];
      for (int x = 0; x < X;) {
        if (interior && x > 0 && x < X - 1 && ok[x]) {   // stencil run
          int e = x + 1;
          while (e < X - 1 && ok[e]) ++e;
          if (e - x >= kMinRun) out.push_back({x, e, static_cast<int>(lab[x]), buf.G[2 * n + r * X + x], 0});
          x = e;
        } else if (const int f = P.fixed[lab[x]]) {        // fixed run: one label
          int e = x + 1;
          while (e < X && lab[e] == lab[x]) ++e;
          if (e - x >= kMinRun) out.push_back({x, e, static_cast<int>(lab[x]), T(0), f});
          x = e;
        } else {
          ++x;
        }
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
      const std::int64_t i0 = r * X + run.x0;
      const int len = run.x1 - run.x0;
      if (run.fixed == 1) std::fill(dst + i0, dst + i0 + len, fixed);
      else if (run.fixed == 2) std::memcpy(dst + i0, src + i0, static_cast<std::size_t>(len) * sizeof(T));
      else uniform_run(src, dst, i0, len, static_cast<std::int64_t>(X), XY, run.g, P.fu[l], P.dt_s, P.inv_alpha_h[l],
                       P.k_clear[l]);
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
// - x sweep: kXLines lines (consecutive grid rows) advance together, one vector of lines per x
//   (their rows built chunk by chunk into [x][line] arrays), so that the divisions of independent
//   lines share a vector instruction; the next group's rows are prefetched.
// In a uniform stencil run (uniform_runs) a row is a constant tridiagonal row plus a right-hand side
// that needs only the 3-point stencil; in a fixed run it is the identity row. Both are vectorised
// loops; the other cells call adi_row.

// The constant row coefficients of a stencil run (adi_row's expressions with zero carriers).
template <typename T>
struct UniformAdiRow { T lower, diag, upper; };

template <typename T>
inline UniformAdiRow<T> uniform_adi_row(const TransportParamsT<T>& P, const UniformRun<T>& run, int a, T theta_dt) {
  const int l = run.label;
  const T zero = T(0), g = run.g, fu = P.fu[l];
  const T s = theta_dt * P.inv_alpha_h[l];
  UniformAdiRow<T> c;
  c.lower = -s * (g + zero) * fu;
  c.upper = -s * (g + zero) * fu;
  c.diag = T(1) + s * (g + g + zero + zero) * fu;
  if (a == 2) c.diag += theta_dt * P.k_clear[l];
  return c;
}

// z / y sweeps, forward elimination of a stencil run of row k (k >= 1) across x: cp, dp at the run's
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

// z / y sweeps, forward elimination of a fixed run of row k (k >= 1): identity rows whose
// right-hand side is `value` (src == nullptr) or src[t] (a held value).
template <typename T>
inline __attribute__((always_inline)) void adi_fixed_fwd_body(const T* __restrict src, T value, T* __restrict cp,
                                                              T* __restrict dp, int len, std::int64_t X) {
  const T* __restrict cpp = cp - X;
  const T* __restrict dpp = dp - X;
  const T zero = T(0), one = T(1);
  for (int t = 0; t < len; ++t) {
    const T rhs = src != nullptr ? src[t] : value;
    const T m = one - zero * cpp[t];
    cp[t] = zero / m;
    dp[t] = (rhs - zero * dpp[t]) / m;
  }
}

// x sweep: the right-hand sides of a stencil run, into rh[t * ldr] (the rows' constant
// coefficients are set by the caller).
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

constexpr int kXLines = 8;

// x sweep: Thomas algorithm of kXLines lines at once on rows stored [x][line] (cp into up, dp and
// then the solution into rh).
template <typename T>
struct XLanes {  // kXLines values of T as one vector (GCC vector extension; element-wise IEEE arithmetic)
  typedef T V __attribute__((vector_size(kXLines * sizeof(T)), aligned(sizeof(T))));
};

// x sweep, forward elimination of kXLines lines at once over n cells: rows lo, di, up, rh of a chunk
// [x][line]; cp, dp [x][line] at the chunk's first x, the previous x's at cp - kXLines, dp - kXLines
// (first: the chunk starts the lines).
template <typename T>
inline __attribute__((always_inline)) void adi_lanes_fwd_body(const T* __restrict lo, const T* __restrict di,
                                                              const T* __restrict up, const T* __restrict rh,
                                                              T* __restrict cp, T* __restrict dp, int n,
                                                              bool first) {
  using V = typename XLanes<T>::V;
  // vectors in place (V is under-aligned, and GCC lets a vector alias its element type); by
  // reference, so no vector crosses a call boundary at the baseline ISA
  auto ld = [](const T* p) -> const V& { return *reinterpret_cast<const V*>(p); };
  auto st = [](T* p, const V& v) { *reinterpret_cast<V*>(p) = v; };
  int k = 0;
  V c, d;
  if (first) {
    c = ld(up) / ld(di);
    d = ld(rh) / ld(di);
    st(cp, c);
    st(dp, d);
    k = 1;
  } else {
    c = ld(cp - kXLines);
    d = ld(dp - kXLines);
  }
  for (; k < n; ++k) {
    const int o = k * kXLines;
    const V lok = ld(lo + o);
    const V m = ld(di + o) - lok * c;
    c = ld(up + o) / m;
    d = (ld(rh + o) - lok * d) / m;
    st(cp + o, c);
    st(dp + o, d);
  }
}

// x sweep, back substitution of kXLines lines of n cells: the solution into dp.
template <typename T>
inline __attribute__((always_inline)) void adi_lanes_back_body(const T* __restrict cp, T* __restrict dp, int n) {
  using V = typename XLanes<T>::V;
  // vectors in place (V is under-aligned, and GCC lets a vector alias its element type); by
  // reference, so no vector crosses a call boundary at the baseline ISA
  auto ld = [](const T* p) -> const V& { return *reinterpret_cast<const V*>(p); };
  auto st = [](T* p, const V& v) { *reinterpret_cast<V*>(p) = v; };
  V xv = ld(dp + (n - 1) * kXLines);
  for (int k = n - 2; k >= 0; --k) {
    const int o = k * kXLines;
    xv = ld(dp + o) - ld(cp + o) * xv;
    st(dp + o, xv);
  }
}

#define BBB_FWD_PARAMS(T)                                                                                  \
  (const T* __restrict u, const T* __restrict yv, T* __restrict cp, T* __restrict dp, std::int64_t i0, int len, \
   std::int64_t stride, std::int64_t X, T g, T fu, T inv, T lower, T diag, T upper, T theta_dt)
#define BBB_FWD_ARGS (u, yv, cp, dp, i0, len, stride, X, g, fu, inv, lower, diag, upper, theta_dt)
BBB_ISA_DISPATCH(adi_run_fwd_f, BBB_FWD_PARAMS(float), adi_run_fwd_body<float> BBB_FWD_ARGS)
BBB_ISA_DISPATCH(adi_run_fwd_d, BBB_FWD_PARAMS(double), adi_run_fwd_body<double> BBB_FWD_ARGS)
#define BBB_FIX_PARAMS(T) (const T* __restrict src, T value, T* __restrict cp, T* __restrict dp, int len, std::int64_t X)
#define BBB_FIX_ARGS (src, value, cp, dp, len, X)
BBB_ISA_DISPATCH(adi_fixed_fwd_f, BBB_FIX_PARAMS(float), adi_fixed_fwd_body<float> BBB_FIX_ARGS)
BBB_ISA_DISPATCH(adi_fixed_fwd_d, BBB_FIX_PARAMS(double), adi_fixed_fwd_body<double> BBB_FIX_ARGS)
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
#define BBB_LANES_PARAMS(T)                                                                                 \
  (const T* __restrict lo, const T* __restrict di, const T* __restrict up, const T* __restrict rh, T* __restrict cp, \
   T* __restrict dp, int n, bool first)
#define BBB_LANES_ARGS (lo, di, up, rh, cp, dp, n, first)
BBB_ISA_DISPATCH(adi_lanes_fwd_f, BBB_LANES_PARAMS(float), adi_lanes_fwd_body<float> BBB_LANES_ARGS)
BBB_ISA_DISPATCH(adi_lanes_fwd_d, BBB_LANES_PARAMS(double), adi_lanes_fwd_body<double> BBB_LANES_ARGS)
#define BBB_LBACK_PARAMS(T) (const T* __restrict cp, T* __restrict dp, int n)
#define BBB_LBACK_ARGS (cp, dp, n)
BBB_ISA_DISPATCH(adi_lanes_back_f, BBB_LBACK_PARAMS(float), adi_lanes_back_body<float> BBB_LBACK_ARGS)
BBB_ISA_DISPATCH(adi_lanes_back_d, BBB_LBACK_PARAMS(double), adi_lanes_back_body<double> BBB_LBACK_ARGS)
#undef BBB_FWD_PARAMS
#undef BBB_FWD_ARGS
#undef BBB_FIX_PARAMS
#undef BBB_FIX_ARGS
#undef BBB_RHS_PARAMS
#undef BBB_RHS_ARGS
#undef BBB_BACK_PARAMS
#undef BBB_BACK_ARGS
#undef BBB_LANES_PARAMS
#undef BBB_LANES_ARGS
#undef BBB_LBACK_PARAMS
#undef BBB_LBACK_ARGS

// float / double overloads of the dispatched loops
#define BBB_OVERLOADS(T, SUF)                                                                                   \
  inline void adi_run_fwd(const T* u, const T* yv, T* cp, T* dp, std::int64_t i0, int len, std::int64_t stride, \
                          std::int64_t X, T g, T fu, T inv, T lower, T diag, T upper, T theta_dt) {              \
    BBB_ISA_CALL(adi_run_fwd_##SUF, (u, yv, cp, dp, i0, len, stride, X, g, fu, inv, lower, diag, upper, theta_dt)); \
  }                                                                                                             \
  inline void adi_fixed_fwd(const T* src, T value, T* cp, T* dp, int len, std::int64_t X) {                     \
    BBB_ISA_CALL(adi_fixed_fwd_##SUF, (src, value, cp, dp, len, X));                                            \
  }                                                                                                             \
  inline void adi_run_rhs_x(const T* u, const T* yv, T* rh, std::int64_t i0, int len, T g, T fu, T inv, T kc,   \
                            T theta_dt) {                                                                       \
    BBB_ISA_CALL(adi_run_rhs_x_##SUF, (u, yv, rh, i0, len, g, fu, inv, kc, theta_dt));                          \
  }                                                                                                             \
  inline void adi_back_row(T* yk, const T* ynext, const T* cp, const T* dp, int X) {                            \
    BBB_ISA_CALL(adi_back_row_##SUF, (yk, ynext, cp, dp, X));                                                   \
  }                                                                                                             \
  inline void adi_lanes_fwd(const T* lo, const T* di, const T* up, const T* rh, T* cp, T* dp, int n, bool first) { \
    BBB_ISA_CALL(adi_lanes_fwd_##SUF, (lo, di, up, rh, cp, dp, n, first));                                      \
  }                                                                                                             \
  inline void adi_lanes_back(const T* cp, T* dp, int n) { BBB_ISA_CALL(adi_lanes_back_##SUF, (cp, dp, n)); }
BBB_OVERLOADS(float, f)
BBB_OVERLOADS(double, d)
#undef BBB_OVERLOADS

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
  constexpr int kLine = 64 / static_cast<int>(sizeof(T));   // values per cache line
#pragma omp parallel for schedule(static)
  for (std::int64_t o = 0; o < outer; ++o) {
    const std::int64_t base0 = a == 0 ? o * X : o * XY;  // cell (k = 0, x = 0) of the block
    T* cp = line_scratch + 2 * o * X * static_cast<std::int64_t>(len);
    T* dp = cp + static_cast<std::int64_t>(X) * len;
    for (int k = 0; k < len; ++k) {
      const std::int64_t row = a == 0 ? static_cast<std::int64_t>(k) * Y + o : o * Y + k;
      const std::int64_t rbase = base0 + k * stride;
      if (a == 0 && k + 2 < len)  // rows a plane apart: fetch the stencil's leading row ahead
        for (int x = 0; x < X; x += kLine) {
          __builtin_prefetch(u + rbase + 2 * stride + x);
          __builtin_prefetch(y + rbase + 2 * stride + x);
        }
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
        const int l = run.label, n_run = run.x1 - run.x0;
        if (run.fixed != 0 && k == 0) {
          for (; x < run.x1; ++x) generic(x);
        } else if (run.fixed != 0) {
          adi_fixed_fwd(run.fixed == 2 ? u + rbase + run.x0 : nullptr, fixed, cpk + run.x0, dpk + run.x0, n_run,
                        static_cast<std::int64_t>(X));
        } else {
          const UniformAdiRow<T> c = uniform_adi_row(P, run, a, theta_dt);
          adi_run_fwd(u, y, cpk + run.x0, dpk + run.x0, rbase + run.x0, n_run, stride, static_cast<std::int64_t>(X),
                      run.g, P.fu[l], P.inv_alpha_h[l], c.lower, c.diag, c.upper, theta_dt);
        }
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

constexpr int kXChunk = 32;

// The x sweep: lines are grid rows r, kXLines consecutive ones at a time (a partial last group is
// padded with identity rows). Chunk by chunk of kXChunk cells along x, their rows are built into
// lo, di, up, rh [x][line] (small enough to stay in L1) and eliminated into cp, dp [x][line] (the
// whole lines); then the back substitution, and the solution goes back to the rows of y.
template <typename T>
void adi_sweep_x(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, const RowRuns<T>& runs,
                 const T* u, T* y, T theta_dt, T fixed) {
  const int X = P.shape[2];
  const std::int64_t rows = static_cast<std::int64_t>(P.shape[0]) * P.shape[1];
  const std::int64_t groups = (rows + kXLines - 1) / kXLines;
  const std::int64_t W = static_cast<std::int64_t>(kXLines) * X;
  constexpr int C = kXLines * kXChunk;
#pragma omp parallel
  {
    std::vector<T> work(static_cast<std::size_t>(2 * W + 4 * C + kXChunk));
    T* cp = work.data();
    T* dp = cp + W;
    T* lo = dp + W;
    T* di = lo + C;
    T* up = di + C;
    T* rh = up + C;
    T* tmp = rh + C;   // right-hand sides of a stretch of a stencil run, contiguous
    std::size_t cursor[kXLines];
#pragma omp for schedule(static)
    for (std::int64_t gidx = 0; gidx < groups; ++gidx) {
      const std::int64_t r0 = gidx * kXLines;
      const int L = static_cast<int>(std::min<std::int64_t>(kXLines, rows - r0));
      for (int l = 0; l < kXLines; ++l) cursor[l] = 0;
      // the next group's rows of u and y (contiguous), a slice per chunk: the interleaved lines
      // defeat the hardware prefetcher
      const std::int64_t next0 = (r0 + kXLines) * X;
      const std::int64_t next1 = std::min(rows, r0 + 2 * kXLines) * X;
      const std::int64_t slice = (W + (X + kXChunk - 1) / kXChunk - 1) / ((X + kXChunk - 1) / kXChunk);
      std::int64_t pf = next0;
      for (int xa = 0; xa < X; xa += kXChunk) {
        const int xb = std::min(X, xa + kXChunk);
        for (const std::int64_t e = std::min(next1, pf + slice); pf < e; pf += 64 / static_cast<int>(sizeof(T))) {
          __builtin_prefetch(u + pf);
          __builtin_prefetch(y + pf);
        }
        for (int l = 0; l < kXLines; ++l) {
          T* lol = lo + l - static_cast<std::int64_t>(xa) * kXLines;   // [x * kXLines] for x in [xa, xb)
          T* dil = di + l - static_cast<std::int64_t>(xa) * kXLines;
          T* upl = up + l - static_cast<std::int64_t>(xa) * kXLines;
          T* rhl = rh + l - static_cast<std::int64_t>(xa) * kXLines;
          if (l >= L) {  // padding
            for (int x = xa; x < xb; ++x) {
              lol[x * kXLines] = T(0); dil[x * kXLines] = T(1); upl[x * kXLines] = T(0); rhl[x * kXLines] = T(0);
            }
            continue;
          }
          const std::int64_t r = r0 + l, rbase = r * X;
          const std::vector<UniformRun<T>>& rr = runs[static_cast<std::size_t>(r)];
          std::size_t& q = cursor[l];
          for (int x = xa; x < xb;) {
            while (q < rr.size() && rr[q].x1 <= x) ++q;
            if (q < rr.size() && rr[q].x0 <= x) {   // inside run q
              const UniformRun<T>& run = rr[q];
              const int e = std::min(xb, run.x1);
              if (run.fixed != 0) {
                for (int t = x; t < e; ++t) {
                  lol[t * kXLines] = T(0); dil[t * kXLines] = T(1); upl[t * kXLines] = T(0);
                  rhl[t * kXLines] = run.fixed == 1 ? fixed : u[rbase + t];
                }
              } else {
                const int lab = run.label;
                const UniformAdiRow<T> c = uniform_adi_row(P, run, 2, theta_dt);
                adi_run_rhs_x(u, y, tmp, rbase + x, e - x, run.g, P.fu[lab], P.inv_alpha_h[lab], P.k_clear[lab],
                              theta_dt);
                for (int t = x; t < e; ++t) {
                  lol[t * kXLines] = c.lower; dil[t * kXLines] = c.diag; upl[t * kXLines] = c.upper;
                  rhl[t * kXLines] = tmp[t - x];
                }
              }
              x = e;
            } else {                                  // generic cells up to the next run
              const int e = q < rr.size() ? std::min(xb, rr[q].x0) : xb;
              for (; x < e; ++x) {
                const AdiRowT<T> g = adi_row(P, u, y, buf.label, buf.G, buf.mem, 2, rbase + x, x, X, 1, theta_dt,
                                             fixed);
                lol[x * kXLines] = g.lower; dil[x * kXLines] = g.diag; upl[x * kXLines] = g.upper;
                rhl[x * kXLines] = g.rhs;
              }
            }
          }
        }
        adi_lanes_fwd(lo, di, up, rh, cp + static_cast<std::int64_t>(xa) * kXLines,
                      dp + static_cast<std::int64_t>(xa) * kXLines, xb - xa, xa == 0);
      }
      adi_lanes_back(cp, dp, X);
      for (int l = 0; l < L; ++l) {
        T* yl = y + (r0 + l) * X;
        for (int x = 0; x < X; ++x) yl[x] = dp[static_cast<std::int64_t>(x) * kXLines + l];
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
