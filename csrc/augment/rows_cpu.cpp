// The CPU's vectorised row loops of bbbcore::augment_resample: the epilogue (one op at a time over an
// output row), the linear taps of a line of coordinates, the AFFINE, ELASTIC and DROPOUT stages
// along a row, and the trilinear gathers (from the input or from padded lines). Compiled with
// -fno-trapping-math, -fno-thread-jumps and -fno-tree-sink (CMakeLists.txt) so that the loops
// vectorise: gcc may then if-convert selects over floating-point operations (the IEEE results are
// the same), it does not thread a clamp into the floor that follows it, nor sink exp_f's range
// selects (either leaves control flow in the loop for targets with SSE4.1). Every voxel gets the
// values of the per-voxel functions of bbbcore/augment/resample.h (the GPU's order and
// arithmetic). Each loop is compiled for the x86-64 baseline and for AVX2 (bbbcore/cpu_isa.h):
// the same source and floats, twice the lanes where the CPU has AVX2.
#include <vector>

#include "augment/resample.h"
#include "bbbcore/cpu_isa.h"

#if BBB_X86_DISPATCH
#include <immintrin.h>
#endif

// The row loops read and write distinct arrays: without this gcc gives up on the many pairwise
// alias checks (more than --param vect-max-version-for-alias-checks) and does not vectorise.
#if defined(__GNUC__) && !defined(__clang__)
#define BBB_IVDEP _Pragma("GCC ivdep")
#else
#define BBB_IVDEP
#endif

namespace bbb {

namespace {
// augment_normal4 for blocks first .. first + nblk - 1 into z[4 * nblk]: the same values, as
// structure-of-arrays loops the compiler vectorises (Philox words, then Box–Muller, lane by lane).
BBB_HDI void augment_normal_blocks(std::uint64_t seed, std::int64_t b, int op, int c, std::uint32_t first,
                           std::uint32_t nblk, float* z) {
  thread_local std::vector<std::uint32_t> words;
  words.resize(static_cast<std::size_t>(nblk) * 4);
  std::uint32_t* w0 = words.data();
  std::uint32_t* w1 = w0 + nblk;
  std::uint32_t* w2 = w1 + nblk;
  std::uint32_t* w3 = w2 + nblk;
  const Philox rng = Philox::from_seed(seed);
  const std::uint64_t stream = (static_cast<std::uint64_t>(b) << 8) | static_cast<std::uint64_t>(op);
  const std::uint32_t sub = static_cast<std::uint32_t>(c);
  for (std::uint32_t j = 0; j < nblk; ++j) {  // augment_normal4's counter
    const U32x4 w = rng(first + j, sub, stream);
    w0[j] = w.v[0]; w1[j] = w.v[1]; w2[j] = w.v[2]; w3[j] = w.v[3];
  }
  // normal4_f, lane by lane into four float arrays, then interleaved in block order
  thread_local std::vector<float> normals;
  normals.resize(static_cast<std::size_t>(nblk) * 4);
  float* n0 = normals.data();
  float* n1 = n0 + nblk;
  float* n2 = n1 + nblk;
  float* n3 = n2 + nblk;
  for (std::uint32_t j = 0; j < nblk; ++j) {
    float a0, a1, b0, b1;
    box_muller_f(w0[j], w1[j], a0, a1);
    box_muller_f(w2[j], w3[j], b0, b1);
    n0[j] = a0; n1[j] = a1; n2[j] = b0; n3[j] = b1;
  }
  for (std::uint32_t j = 0; j < nblk; ++j) {
    z[4 * j] = n0[j]; z[4 * j + 1] = n1[j]; z[4 * j + 2] = n2[j]; z[4 * j + 3] = n3[j];
  }
}
}  // namespace

namespace {
BBB_HDI void epilogue_row_body(const AugmentParams& P, const float* stats, const AugSample& S, std::int64_t b,
                               std::int64_t row, float* out, const float* H, bool any_hole) {
  using namespace aug;
  const int Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * P.out_shape[1] * Xo;
  const float* epi = epilogue_ops(S);
  thread_local std::vector<float> normals;
  for (int c = 0; c < P.channels; ++c) {
    float* v = out + c * vout;
    const float lo = stats ? stats[(b * P.channels + c) * 2] : 0.0f;
    const float hi = stats ? stats[(b * P.channels + c) * 2 + 1] : 1.0f;
    for (int e = 0; e < S.n_epi; ++e) {
      const float* op = epi + e * kEpiLen;
      const int kind = static_cast<int>(op[0]);
      if (kind == kFill) {
        if (!any_hole) continue;
        const float* h = H + static_cast<int>(op[1]) * Xo;
        const float fill = op[2];
        for (int x = 0; x < Xo; ++x) v[x] = fill_blend(v[x], h[x], fill);
      } else if (kind == kGamma) {
        const float g = op[1];
        if (gamma_is_identity(g, lo, hi)) continue;
        const float range = hi - lo;
        for (int x = 0; x < Xo; ++x) v[x] = gamma_core(v[x], g, lo, range);
      } else if (kind == kNoise) {
        // the Philox blocks covering the row (four voxels each), then the sums
        const float scale = op[3] != 0.0f ? hi - lo : 1.0f;
        const float mean = op[2] * scale, sd = op[1] * scale;
        const std::uint32_t first = static_cast<std::uint32_t>(row) >> 2;
        const std::uint32_t last = static_cast<std::uint32_t>(row + Xo - 1) >> 2;
        const std::uint32_t nblk = last - first + 1;
        normals.resize(static_cast<std::size_t>(nblk) * 4);
        float* z = normals.data();
        augment_normal_blocks(P.seed, b, e, c, first, nblk, z);
        const float* zr = z + (static_cast<std::uint32_t>(row) - 4 * first);
        for (int x = 0; x < Xo; ++x) v[x] = add_noise(v[x], mean, sd, zr[x]);
      }
    }
  }
}
BBB_ISA_DISPATCH(epilogue_row, (const AugmentParams& P, const float* stats, const AugSample& S, std::int64_t b,
                                std::int64_t row, float* out, const float* H, bool any_hole),
                 epilogue_row_body(P, stats, S, b, row, out, H, any_hole))
}  // namespace

void augment_epilogue_row(const AugmentParams& P, const float* stats, const AugSample& S, std::int64_t b,
                          std::int64_t row, float* out, const float* H, bool any_hole) {
  BBB_ISA_CALL(epilogue_row, (P, stats, S, b, row, out, H, any_hole));
}

namespace {
template <int kBorder>
BBB_HDI void taps_line(const float* u, int n, int* j0, int* j1, float* w1, unsigned char* outside, int count) {
  BBB_IVDEP for (int x = 0; x < count; ++x) {
    int a, c;
    float w;
    bool o;
    taps_index(u[x], n, kBorder, a, c, w, o);
    j0[x] = a; j1[x] = c; w1[x] = w; outside[x] = o ? 1 : 0;
  }
}

// the border as a template argument: a runtime border keeps gcc from vectorising the loop
BBB_HDI void taps_line_body(const float* u, int n, int border, const std::int32_t* tab, int* j0, int* j1,
                            float* w1, unsigned char* outside, int count) {
  if (border == aug::kConstant) taps_line<aug::kConstant>(u, n, j0, j1, w1, outside, count);
  else if (border == aug::kNearest) taps_line<aug::kNearest>(u, n, j0, j1, w1, outside, count);
  else taps_line<aug::kReflect>(u, n, j0, j1, w1, outside, count);
  if (tab)
    for (int x = 0; x < count; ++x) { j0[x] = tab[j0[x]]; j1[x] = tab[j1[x]]; }
}
BBB_ISA_DISPATCH(taps_line_isa, (const float* u, int n, int border, const std::int32_t* tab, int* j0, int* j1,
                                 float* w1, unsigned char* outside, int count),
                 taps_line_body(u, n, border, tab, j0, j1, w1, outside, count))
}  // namespace

void augment_taps_line(const float* u, int n, int border, const std::int32_t* tab, int* j0, int* j1,
                       float* w1, unsigned char* outside, int count) {
  BBB_ISA_CALL(taps_line_isa, (u, n, border, tab, j0, j1, w1, outside, count));
}

namespace {
// augment_elastic_row once o0 and o1 are known to hold one value along the row.
BBB_HDI void elastic_row_body(const float* s, const float* ctrl, float* const p[3], int count,
                              std::vector<float>& columns) {
  const int g[3] = {static_cast<int>(s[1]), static_cast<int>(s[2]), static_cast<int>(s[3])};
  const int o0 = static_cast<int>(s[8]), o1 = static_cast<int>(s[9]), o2 = static_cast<int>(s[10]);
  const float q0 = p[o0][0], q1 = p[o1][0];
  const int stride[3] = {g[1] * g[2], g[2], 1};
  const int plane = g[0] * g[1] * g[2];
  const float* c = ctrl + static_cast<int>(s[4]);
  // the fixed axes' taps, then every reduced column along o2 (elastic_displacement's arithmetic)
  float fl0, t0, fl1, t1, w0[4], w1[4];
  int off0[4], off1[4], idx[4];
  elastic_cell(s, g, o0, q0, fl0, t0);
  elastic_cell(s, g, o1, q1, fl1, t1);
  elastic_taps(fl0, t0, g[o0], stride[o0], w0, off0, idx);
  elastic_taps(fl1, t1, g[o1], stride[o1], w1, off1, idx);
  // every reduced column along o2, padded with the clamped end columns: entry 1 + k holds column
  // k for k in [-1, G] (elastic_taps clamps the tap indices to [0, G - 1] the same way)
  const int G = g[o2];
  const int L = G + 3;
  columns.resize(static_cast<std::size_t>(3) * L + static_cast<std::size_t>(4) * count);
  thread_local std::vector<int> cells;
  cells.resize(count);
  float* col[3] = {columns.data(), columns.data() + L, columns.data() + 2 * L};
  for (int k = 0; k < G; ++k)
    for (int comp = 0; comp < 3; ++comp)
      col[comp][1 + k] = elastic_column(c + comp * plane + k * stride[o2], w0, off0, w1, off1);
  for (int comp = 0; comp < 3; ++comp) {
    col[comp][0] = col[comp][1];
    col[comp][G + 1] = col[comp][G];
    col[comp][G + 2] = col[comp][G];
  }
  // the o2 cell and B-spline weights of every voxel (vectorised), then the sums over the four taps
  // in elastic_displacement's order: d = (((0 + w0 c[i-1]) + w1 c[i]) + w2 c[i+1]) + w3 c[i+2]
  float* wk[4];
  for (int k = 0; k < 4; ++k) wk[k] = columns.data() + 3 * L + static_cast<std::size_t>(k) * count;
  int* cell = cells.data();
  const float* pa = p[o2];
  BBB_IVDEP for (int x = 0; x < count; ++x) {
    float fl, t, w[4];
    elastic_cell(s, g, o2, pa[x], fl, t);
    bspline3_weights(t, w);
    wk[0][x] = w[0]; wk[1][x] = w[1]; wk[2][x] = w[2]; wk[3][x] = w[3];
    cell[x] = static_cast<int>(fl);  // in [0, G - 1]: taps i - 1 .. i + 2 are entries i .. i + 3
  }
  float* pz = p[0];
  float* py = p[1];
  float* px = p[2];
  const float *c0 = col[0], *c1 = col[1], *c2 = col[2];
  const float *w0x = wk[0], *w1x = wk[1], *w2x = wk[2], *w3x = wk[3];
  // runs of voxels in one cell (about count / G of them) read their columns as scalars
  for (int x0 = 0; x0 < count;) {
    const int i = cell[x0];
    int x1 = x0 + 1;
    while (x1 < count && cell[x1] == i) ++x1;
    const float e00 = c0[i], e01 = c0[i + 1], e02 = c0[i + 2], e03 = c0[i + 3];
    const float e10 = c1[i], e11 = c1[i + 1], e12 = c1[i + 2], e13 = c1[i + 3];
    const float e20 = c2[i], e21 = c2[i + 1], e22 = c2[i + 2], e23 = c2[i + 3];
    BBB_IVDEP for (int x = x0; x < x1; ++x) {
      const float a = w0x[x], bb = w1x[x], cc = w2x[x], dd = w3x[x];
      float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f;
      d0 += a * e00; d0 += bb * e01; d0 += cc * e02; d0 += dd * e03;
      d1 += a * e10; d1 += bb * e11; d1 += cc * e12; d1 += dd * e13;
      d2 += a * e20; d2 += bb * e21; d2 += cc * e22; d2 += dd * e23;
      pz[x] = pz[x] + d0; py[x] = py[x] + d1; px[x] = px[x] + d2;
    }
    x0 = x1;
  }
}
// Whether a[x] != q0 or c[x] != q1 anywhere (an OR reduction, no early exit: vectorises).
BBB_HDI int two_lines_differ_body(const float* a, const float* c, float q0, float q1, int count) {
  int diff = 0;
  for (int x = 0; x < count; ++x) diff |= static_cast<int>(a[x] != q0) | static_cast<int>(c[x] != q1);
  return diff;
}
BBB_ISA_DISPATCH_R(int, two_lines_differ, (const float* a, const float* c, float q0, float q1, int count),
                   two_lines_differ_body(a, c, q0, q1, count))
BBB_ISA_DISPATCH(elastic_row, (const float* s, const float* ctrl, float* const p[3], int count,
                               std::vector<float>& columns),
                 elastic_row_body(s, ctrl, p, count, columns))
}  // namespace

bool augment_elastic_row(const float* s, const float* ctrl, float* const p[3], int count,
                         std::vector<float>& columns) {
  const int o0 = static_cast<int>(s[8]), o1 = static_cast<int>(s[9]);
  const float q0 = p[o0][0], q1 = p[o1][0];
  if (BBB_ISA_CALL(two_lines_differ, (p[o0], p[o1], q0, q1, count))) return false;
  BBB_ISA_CALL(elastic_row, (s, ctrl, p, count, columns));
  return true;
}

namespace {
// floor_mod(nearest_int(u) - off, m) < h of dropout_hole in float arithmetic: every intermediate
// is an integer below 2^23 in magnitude, so exact, and the same float quotient is floored; the
// same answer as the integer version, without the integer multiply SSE2 lacks.
BBB_HDI bool in_hole_f(float u, float off, float m, float h) {
  u = u < -1048576.0f ? -1048576.0f : (u > 1048576.0f ? 1048576.0f : u);
  const float a = floor_small_f(u + kRoundUp) - off;
  const float q = floor_small_f(a / m);
  float r = a - q * m;
  r = r < 0.0f ? r + m : r;
  r = r >= m ? r - m : r;
  return r < h;
}

BBB_HDI void dropout_row_body(const float* st, const float* const p[3], const float* w, int* holes, int count) {
  // dropout_hole's per-axis factors (in_hole_f), the stage's numbers hoisted out of the loop
  const int bit = 1 << static_cast<int>(st[10]);
  float unit[3], hole[3], off[3];
  for (int a = 0; a < 3; ++a) {
    unit[a] = static_cast<float>(static_cast<int>(st[1 + a]));
    hole[a] = static_cast<float>(static_cast<int>(st[4 + a]));
    off[a] = static_cast<float>(static_cast<int>(st[7 + a]));
  }
  const float *pz = p[0], *py = p[1], *px = p[2];
  BBB_IVDEP for (int x = 0; x < count; ++x) {
    const bool in0 = in_hole_f(pz[x], off[0], unit[0], hole[0]);
    const bool in1 = in_hole_f(py[x], off[1], unit[1], hole[1]);
    const bool in2 = in_hole_f(px[x], off[2], unit[2], hole[2]);
    const bool in = (w[x] > 0.0f) & in0 & in1 & in2;
    holes[x] |= in ? bit : 0;
  }
}
BBB_ISA_DISPATCH(dropout_row, (const float* st, const float* const p[3], const float* w, int* holes, int count),
                 dropout_row_body(st, p, w, holes, count))
}  // namespace

void augment_dropout_row(const float* st, const float* const p[3], const float* w, int* holes, int count) {
  BBB_ISA_CALL(dropout_row, (st, p, w, holes, count));
}

namespace {
BBB_HDI void affine_row_body(const float* st, float* const p[3], int count) {
  float *pz = p[0], *py = p[1], *px = p[2];
  BBB_IVDEP for (int x = 0; x < count; ++x) {
    float q[3] = {pz[x], py[x], px[x]};
    affine_apply(st, q);
    pz[x] = q[0]; py[x] = q[1]; px[x] = q[2];
  }
}
BBB_ISA_DISPATCH(affine_row, (const float* st, float* const p[3], int count), affine_row_body(st, p, count))
}  // namespace

void augment_affine_row(const float* st, float* const p[3], int count) {
  BBB_ISA_CALL(affine_row, (st, p, count));
}

namespace {
// augment_gather_row: the eight (plane: four) corner offsets of every voxel, then the loads and
// trilerp/bilerp in one loop (no corner lines in memory). The tap indices are clamped into the
// volume, so every load is in bounds; a voxel outside takes the fill at every corner after the load.
template <class TI>
BBB_HDI void gather_row_body(const TI* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                             const int* const j1[3], const float* const w1[3], const unsigned char* outside,
                             float fill, bool plane, float* dst, int n) {
  const int *jz0 = j0[0], *jz1 = j1[0], *jy0 = j0[1], *jy1 = j1[1], *jx0 = j0[2], *jx1 = j1[2];
  const float *wz = w1[0], *wy = w1[1], *wx = w1[2];
  if (plane) {
    BBB_IVDEP for (int x = 0; x < n; ++x) {
      const std::int64_t z = jz0[x] * sz;
      const std::int64_t r0 = z + jy0[x] * sy, r1 = z + jy1[x] * sy;
      const bool o = outside[x] != 0;
      const float v0 = o ? fill : to_float(img[r0 + jx0[x]]), v1 = o ? fill : to_float(img[r0 + jx1[x]]);
      const float v2 = o ? fill : to_float(img[r1 + jx0[x]]), v3 = o ? fill : to_float(img[r1 + jx1[x]]);
      dst[x] = bilerp(v0, v1, v2, v3, wy[x], wx[x]);
    }
    return;
  }
  BBB_IVDEP for (int x = 0; x < n; ++x) {
    const std::int64_t z0 = jz0[x] * sz, z1 = jz1[x] * sz, y0 = jy0[x] * sy, y1 = jy1[x] * sy;
    const std::int64_t r00 = z0 + y0, r01 = z0 + y1, r10 = z1 + y0, r11 = z1 + y1;
    const int a = jx0[x], c = jx1[x];
    const bool o = outside[x] != 0;
    const float v0 = o ? fill : to_float(img[r00 + a]), v1 = o ? fill : to_float(img[r00 + c]);
    const float v2 = o ? fill : to_float(img[r01 + a]), v3 = o ? fill : to_float(img[r01 + c]);
    const float v4 = o ? fill : to_float(img[r10 + a]), v5 = o ? fill : to_float(img[r10 + c]);
    const float v6 = o ? fill : to_float(img[r11 + a]), v7 = o ? fill : to_float(img[r11 + c]);
    dst[x] = trilerp(v0, v1, v2, v3, v4, v5, v6, v7, wz[x], wy[x], wx[x]);
  }
}
#define BBB_GATHER_ROW_PARAMS(TI)                                                                        \
  (const TI* img, std::int64_t sz, std::int64_t sy, const int* const j0[3], const int* const j1[3],     \
   const float* const w1[3], const unsigned char* outside, float fill, bool plane, float* dst, int n)
#if BBB_X86_DISPATCH
// AVX2, float input: eight voxels at a time, each corner line's two x taps (adjacent in memory
// when jx1 = jx0 + 1, every interior voxel) read as one 64-bit pair, then split into the x0 and
// x1 lanes: half the loads and lane inserts of an element-wise gather. The lerps are trilerp's
// (a + w (b - a), the plane's value where w = 0; no FMA): the same floats as gather_row_body,
// which does any group of eight with an edge voxel, and the tail.
BBB_TARGET_AVX2 inline __m256 lerp8(__m256 a, __m256 b, __m256 w) {
  const __m256 r = _mm256_add_ps(a, _mm256_mul_ps(w, _mm256_sub_ps(b, a)));
  return _mm256_blendv_ps(r, a, _mm256_cmp_ps(w, _mm256_setzero_ps(), _CMP_EQ_OQ));
}

// lo[i] = img[off[i]], hi[i] = img[off[i] + 1]
BBB_TARGET_AVX2 inline void load_pairs8(const float* img, const std::int64_t* off, __m256& lo, __m256& hi) {
  __m128 q[4];
  for (int k = 0; k < 4; ++k) {  // unaligned 64-bit loads (_mm_loadl_epi64 may alias, any alignment)
    const __m128i l0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(img + off[2 * k]));
    const __m128i l1 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(img + off[2 * k + 1]));
    q[k] = _mm_castsi128_ps(_mm_unpacklo_epi64(l0, l1));
  }  // q[k] = [lo(2k) hi(2k) lo(2k+1) hi(2k+1)]
  const __m256 a = _mm256_set_m128(q[2], q[0]), b = _mm256_set_m128(q[3], q[1]);
  lo = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  hi = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
}

BBB_TARGET_AVX2 void gather_row_f32_avx2(const float* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                                         const int* const j1[3], const float* const w1[3],
                                         const unsigned char* outside, float fill, bool plane, float* dst,
                                         int n) {
  const int *jz0 = j0[0], *jz1 = j1[0], *jy0 = j0[1], *jy1 = j1[1], *jx0 = j0[2], *jx1 = j1[2];
  const __m256 vfill = _mm256_set1_ps(fill);
  const __m256i one = _mm256_set1_epi32(1);
  int x = 0;
  for (; x + 8 <= n; x += 8) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(jx0 + x));
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(jx1 + x));
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(c, _mm256_add_epi32(a, one))) != -1) {
      const int* s0[3] = {jz0 + x, jy0 + x, jx0 + x};
      const int* s1[3] = {jz1 + x, jy1 + x, jx1 + x};
      const float* sw[3] = {w1[0] + x, w1[1] + x, w1[2] + x};
      gather_row_body(img, sz, sy, s0, s1, sw, outside + x, fill, plane, dst + x, 8);
      continue;
    }
    std::int64_t off[4][8];
    for (int i = 0; i < 8; ++i) {
      const std::int64_t z0 = jz0[x + i] * sz, y0 = jy0[x + i] * sy, y1 = jy1[x + i] * sy, ax = jx0[x + i];
      off[0][i] = z0 + y0 + ax;
      off[1][i] = z0 + y1 + ax;
      if (!plane) {
        const std::int64_t z1 = jz1[x + i] * sz;
        off[2][i] = z1 + y0 + ax;
        off[3][i] = z1 + y1 + ax;
      }
    }
    const __m128i ob = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(outside + x));
    const __m256 out = _mm256_castsi256_ps(
        _mm256_xor_si256(_mm256_cmpeq_epi32(_mm256_cvtepu8_epi32(ob), _mm256_setzero_si256()),
                         _mm256_set1_epi32(-1)));  // lanes outside the volume
    const __m256 wy = _mm256_loadu_ps(w1[1] + x), wx = _mm256_loadu_ps(w1[2] + x);
    __m256 v[8];
    const int lines = plane ? 2 : 4;
    for (int k = 0; k < lines; ++k) {
      load_pairs8(img, off[k], v[2 * k], v[2 * k + 1]);
      v[2 * k] = _mm256_blendv_ps(v[2 * k], vfill, out);
      v[2 * k + 1] = _mm256_blendv_ps(v[2 * k + 1], vfill, out);
    }
    const __m256 y0 = lerp8(lerp8(v[0], v[1], wx), lerp8(v[2], v[3], wx), wy);
    if (plane) {
      _mm256_storeu_ps(dst + x, y0);
      continue;
    }
    const __m256 y1 = lerp8(lerp8(v[4], v[5], wx), lerp8(v[6], v[7], wx), wy);
    _mm256_storeu_ps(dst + x, lerp8(y0, y1, _mm256_loadu_ps(w1[0] + x)));
  }
  if (x < n) {
    const int* s0[3] = {jz0 + x, jy0 + x, jx0 + x};
    const int* s1[3] = {jz1 + x, jy1 + x, jx1 + x};
    const float* sw[3] = {w1[0] + x, w1[1] + x, w1[2] + x};
    gather_row_body(img, sz, sy, s0, s1, sw, outside + x, fill, plane, dst + x, n - x);
  }
}
static void gather_row_f32_base BBB_GATHER_ROW_PARAMS(float) {
  gather_row_body(img, sz, sy, j0, j1, w1, outside, fill, plane, dst, n);
}
#else
BBB_ISA_DISPATCH(gather_row_f32, BBB_GATHER_ROW_PARAMS(float),
                 gather_row_body(img, sz, sy, j0, j1, w1, outside, fill, plane, dst, n))
#endif
BBB_ISA_DISPATCH(gather_row_u8, BBB_GATHER_ROW_PARAMS(std::uint8_t),
                 gather_row_body(img, sz, sy, j0, j1, w1, outside, fill, plane, dst, n))
BBB_ISA_DISPATCH(gather_row_u16, BBB_GATHER_ROW_PARAMS(std::uint16_t),
                 gather_row_body(img, sz, sy, j0, j1, w1, outside, fill, plane, dst, n))

// augment_lines_lerp: the corner loads from the padded lines and trilerp in one loop.
BBB_HDI void lines_lerp_body(const float* const L[8], const int* const I[8], const float* wz, const float* wy,
                             const float* wx, float* out, int n) {
  const float *l0 = L[0], *l1 = L[1], *l2 = L[2], *l3 = L[3], *l4 = L[4], *l5 = L[5], *l6 = L[6], *l7 = L[7];
  const int *i0 = I[0], *i1 = I[1], *i2 = I[2], *i3 = I[3], *i4 = I[4], *i5 = I[5], *i6 = I[6], *i7 = I[7];
  BBB_IVDEP for (int x = 0; x < n; ++x)
    out[x] = trilerp(l0[i0[x]], l1[i1[x]], l2[i2[x]], l3[i3[x]], l4[i4[x]], l5[i5[x]], l6[i6[x]], l7[i7[x]],
                     wz[x], wy[x], wx[x]);
}
BBB_ISA_DISPATCH(lines_lerp, (const float* const L[8], const int* const I[8], const float* wz, const float* wy,
                              const float* wx, float* out, int n),
                 lines_lerp_body(L, I, wz, wy, wx, out, n))
}  // namespace

void augment_gather_row(const float* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                        const int* const j1[3], const float* const w1[3], const unsigned char* outside,
                        float fill, bool plane, float* dst, int n) {
  BBB_ISA_CALL(gather_row_f32, (img, sz, sy, j0, j1, w1, outside, fill, plane, dst, n));
}
void augment_gather_row(const std::uint8_t* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                        const int* const j1[3], const float* const w1[3], const unsigned char* outside,
                        float fill, bool plane, float* dst, int n) {
  BBB_ISA_CALL(gather_row_u8, (img, sz, sy, j0, j1, w1, outside, fill, plane, dst, n));
}
void augment_gather_row(const std::uint16_t* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                        const int* const j1[3], const float* const w1[3], const unsigned char* outside,
                        float fill, bool plane, float* dst, int n) {
  BBB_ISA_CALL(gather_row_u16, (img, sz, sy, j0, j1, w1, outside, fill, plane, dst, n));
}

void augment_lines_lerp(const float* const L[8], const int* const I[8], const float* wz, const float* wy,
                        const float* wx, float* out, int n) {
  BBB_ISA_CALL(lines_lerp, (L, I, wz, wy, wx, out, n));
}

}  // namespace bbb
