// Fused 3D augmentation: one coordinate map per output voxel, one gather, intensity epilogue.
//
// A per-sample "program" (float32 [kProgLen], written by bbbcore/augment/_program.py) lists the
// spatial stages in output -> input order. Each stage maps a continuous voxel-index coordinate
// p = (z, y, x) of its output space to its input space (voxel centres at integers, the
// convention of torch.nn.functional.interpolate(align_corners=False)):
//   AFFINE   p <- M p + t                                  (rotate, scale, flip, rot90, crop, resize)
//   ELASTIC  p <- p + d(p), d a cubic B-spline over a coarse control grid (never a dense field)
//   AXISMAP  a kept-plane table along one axis (drop-plane) that could not be pushed to the
//            gather: the value is interpolated between the two kept planes around p[axis], each
//            followed through the deeper stages (two branches per AXISMAP, at most 2^3 in all)
//   DROPOUT  grid-dropout predicate evaluated at the stage's coordinate
// The volume occupies [-0.5, n - 0.5] along each axis; border "constant" fills outside it.
// The gather is trilinear (image) / nearest (mask) in a "virtual" input whose axes may carry a
// kept-plane table (drop-plane / crop tables pushed through separable stages). The epilogue applies
// noise, gamma and the dropout fills in their Compose order. NumPy float64 oracle:
// python/bbbcore/reference/augment.py (augment_ref), same stage semantics line by line.
#pragma once
#include <cstdint>

#include "bbbcore/hd.h"
#include "bbbcore/random.h"

namespace bbb {
namespace aug {

// Program layout (floats). Header: [0] n_stages, [1] n_epilogue, [2..4] virtual input size
// (z, y, x), [5..7] offset of each axis' final table in the sample's table row (-1: identity).
constexpr int kHeader = 16;
constexpr int kStageLen = 20;
constexpr int kMaxStages = 10;
constexpr int kEpiLen = 4;
constexpr int kMaxEpi = 8;
constexpr int kProgLen = kHeader + kStageLen * kMaxStages + kEpiLen * kMaxEpi;  // 248
constexpr int kMaxBranchStages = 3;
constexpr int kMaxDropout = 4;

enum Stage : int { kAffine = 1, kElastic = 2, kAxisMap = 3, kDropout = 4 };
// AFFINE   [1..12] M (3x4, row-major; column 3 is t)
// ELASTIC  [1..3] control grid size (gz, gy, gx); [4] offset in the ctrl row (layout [3, gz, gy, gx],
//          displacement in voxels of the stage's input); [5..7] grid units per voxel s_a:
//          control point k of axis a sits at voxel k / s_a; [8..10] the axis order of the
//          separable B-spline sum (the last one varies along output rows)
// AXISMAP  [1] axis; [2] table length n; [3] offset in the table row
// DROPOUT  [1..3] unit (voxels); [4..6] hole (voxels); [7..9] offset (voxels); [10] dropout index
enum Epi : int { kNoise = 1, kGamma = 2, kFill = 3 };
// NOISE    [1] std; [2] mean; [3] relative (1: std and mean in units of the channel's hi - lo)
// GAMMA    [1] gamma, on (v - lo) / (hi - lo), sign-preserving
// FILL     [1] dropout index; [2] image fill; [3] mask fill (NaN: the mask keeps its label)
enum Border : int { kConstant = 0, kNearest = 1, kReflect = 2 };

}  // namespace aug

struct AugmentParams {
  std::int64_t batch;
  int channels;        // image channels C
  int mask_channels;   // mask channels (0: no mask)
  int in_shape[3];     // (Z, Y, X) of the input
  int out_shape[3];    // (Z, Y, X) of the output
  int table_len;       // ints per sample in `tables`
  int ctrl_len;        // floats per sample in `ctrl`
  int border;          // aug::Border
  float fill;          // image value outside the input (border kConstant)
  double mask_fill;    // mask value outside the input (border kConstant)
  std::uint64_t seed;  // Philox key of the noise
};

template <class TI, class TM>
struct AugmentArgs {
  const TI* image;              // [B, C, Zi, Yi, Xi]
  const TM* mask;               // [B, Cm, Zi, Yi, Xi] or null
  const float* program;         // [B, kProgLen]
  const std::int32_t* tables;   // [B, table_len]
  const float* ctrl;            // [B, ctrl_len]
  const float* stats;           // [B, C, 2] (lo, hi) per channel, or null when unused
  float* out;                   // [B, C, Zo, Yo, Xo]
  TM* mask_out;                 // [B, Cm, Zo, Yo, Xo] or null
};

// ---------------------------------------------------------------------------- small pieces
// Uniform cubic B-spline basis at fraction t in [0, 1].
BBB_HD void bspline3_weights(float t, float w[4]) {
  const float t2 = t * t, t3 = t2 * t, u = 1.0f - t;
  w[0] = u * u * u * (1.0f / 6.0f);
  w[1] = (3.0f * t3 - 6.0f * t2 + 4.0f) * (1.0f / 6.0f);
  w[2] = (-3.0f * t3 + 3.0f * t2 + 3.0f * t + 1.0f) * (1.0f / 6.0f);
  w[3] = t3 * (1.0f / 6.0f);
}

// Clamp a coordinate to a range where int conversion is safe and every tap outside the volume
// stays outside (|u| < 2^24, beyond any volume size).
BBB_HDI float clamp_coord(float u, int n) {
  const float lo = -4.0f, hi = static_cast<float>(n) + 3.0f;
  return u < lo ? lo : (u > hi ? hi : u);
}

// floor for |x| < 2^23 (clamped coordinates), branch-free; -0 stays -0 as in floorf.
BBB_HDI float floor_small_f(float x) {
#if defined(__CUDA_ARCH__)
  return ::floorf(x);
#else
  const float t = static_cast<float>(static_cast<int>(x));
  const float r = t - (t > x ? 1.0f : 0.0f);
  return x == 0.0f ? x : r;
#endif
}

// Reflection about the volume faces at -0.5 and n - 0.5 (align_corners=False), then clamped to
// [0, n - 1] (the half-voxel margins take the edge value).
BBB_HDI float reflect_coord(float u, int n) {
  if (n <= 1) return 0.0f;
  const float period = 2.0f * static_cast<float>(n);
  u = u < -4194304.0f ? -4194304.0f : (u > 4194304.0f ? 4194304.0f : u);  // +-2^22
  float t = u + 0.5f;
  t = t - period * floor_small_f(t / period);
  if (t > static_cast<float>(n)) t = period - t;
  t -= 0.5f;
  const float top = static_cast<float>(n - 1);
  return t < 0.0f ? 0.0f : (t > top ? top : t);
}

// Kept-plane table lookup with unit-slope extension outside [0, n).
BBB_HDI float table_ext(const std::int32_t* tab, int n, int k) {
  if (k < 0) return static_cast<float>(tab[0] + k);
  if (k >= n) return static_cast<float>(tab[n - 1] + (k - n + 1));
  return static_cast<float>(tab[k]);
}

// Linear taps along one virtual axis: element offsets o0/o1 (physical index times the axis'
// stride; kOutside when the tap lies outside, it then takes the fill) and weights; `tab` maps
// virtual to physical planes (null: identity).
constexpr std::int64_t kOutside = -(std::int64_t(1) << 60);
struct Taps { std::int64_t o0, o1; float w0, w1; };

// Virtual-axis indices of the two linear taps of coordinate u (clamped to [0, n - 1]), the weight
// of the second, and whether u lies outside the volume's extent (border kConstant).
BBB_HDI void taps_index(float u, int n, int border, int& j0, int& j1, float& w1, bool& outside) {
  if (border == aug::kReflect) u = reflect_coord(u, n);
  u = clamp_coord(u, n);
  const float fl = floor_small_f(u);
  w1 = u - fl;
  j0 = static_cast<int>(fl);
  j1 = j0 + 1;
  // kConstant: outside the volume's extent [-0.5, n - 0.5] both taps take the fill; inside, the
  // half-voxel margins take the edge value (so a resize never blends in the fill).
  outside = border == aug::kConstant && (u < -0.5f || u > static_cast<float>(n) - 0.5f);
  j0 = j0 < 0 ? 0 : (j0 > n - 1 ? n - 1 : j0);
  j1 = j1 < 0 ? 0 : (j1 > n - 1 ? n - 1 : j1);
}

BBB_HDI Taps linear_taps(float u, int n, const std::int32_t* tab, int border, std::int64_t stride) {
  int j0, j1;
  bool outside;
  Taps t;
  taps_index(u, n, border, j0, j1, t.w1, outside);
  t.w0 = 1.0f - t.w1;
  if (tab) { j0 = tab[j0]; j1 = tab[j1]; }
  t.o0 = outside ? kOutside : j0 * stride;
  t.o1 = outside ? kOutside : j1 * stride;
  return t;
}

// Rounding to the nearest voxel: ties (and anything within 2^-10 voxel below them) go up, so
// float32 and float64 evaluations of an exact tie (e.g. a resize by 6/5) agree.
constexpr float kRoundUp = 0.5f + 0.0009765625f;

// Nearest tap along one virtual axis (-1: outside).
BBB_HDI int nearest_tap(float u, int n, const std::int32_t* tab, int border) {
  if (border == aug::kReflect) u = reflect_coord(u, n);
  u = clamp_coord(u, n);
  int j = static_cast<int>(floor_f(u + kRoundUp));
  if (border == aug::kConstant) {
    if (j < 0 || j >= n) return -1;
  } else {
    j = j < 0 ? 0 : (j > n - 1 ? n - 1 : j);
  }
  return tab ? tab[j] : j;
}

// Floor-mod for the dropout grid (m > 0, |a| < 2^21): a float quotient (no integer division,
// which costs ~25 cycles) corrected to the exact remainder.
BBB_HDI int floor_mod(int a, int m) {
  const int q = static_cast<int>(floor_small_f(static_cast<float>(a) / static_cast<float>(m)));
  int r = a - q * m;
  r = r < 0 ? r + m : r;
  r = r >= m ? r - m : r;
  return r;
}

// Nearest voxel index, the coordinate clamped to +-2^20 (far outside any volume).
BBB_HDI int nearest_int(float u) {
  u = u < -1048576.0f ? -1048576.0f : (u > 1048576.0f ? 1048576.0f : u);
  return static_cast<int>(floor_small_f(u + kRoundUp));
}

// Factor a of the grid-dropout predicate (DROPOUT stage s): coordinate u lies in a hole along a.
BBB_HDI bool dropout_axis_in(const float* s, int a, float u) {
  const int unit = static_cast<int>(s[1 + a]), h = static_cast<int>(s[4 + a]);
  const int off = static_cast<int>(s[7 + a]);
  return floor_mod(nearest_int(u) - off, unit) < h;
}

BBB_HDI bool dropout_hole(const float* s, const float p[3]) {
  bool hole = true;
  for (int a = 0; a < 3; ++a) hole = hole & dropout_axis_in(s, a, p[a]);  // no short cut: vectorises
  return hole;
}

// Reduced control column of an elastic stage, kept by the CPU along a row. The stage reduces the
// B-spline over its axes in the order o0, o1, o2 (stage floats [8..10], chosen by the compiler so
// that o2 is the axis that varies along output rows): column[k] = sum_k1 w_o1 (sum_k0 w_o0 c),
// valid while the o0 and o1 cells and weights stay the same.
constexpr int kMaxControl = 32;  // control points per axis
struct ElasticColumns {
  const float* stage;
  float f0, t0, f1, t1;
  int stamp;
  int tag[kMaxControl];
  float col[3][kMaxControl];
};

// One reduced control column of an ELASTIC stage (c: the component's control grid at the o2 tap):
// sum_k1 w1[k1] (sum_k0 w0[k0] c[off1[k1] + off0[k0]]), in this order everywhere.
BBB_HDI float elastic_column(const float* c, const float w0[4], const int off0[4], const float w1[4],
                             const int off1[4]) {
  float bsum = 0.0f;
  for (int k1 = 0; k1 < 4; ++k1) {
    const float* line = c + off1[k1];
    float asum = 0.0f;
    for (int k0 = 0; k0 < 4; ++k0) asum += w0[k0] * line[off0[k0]];
    bsum += w1[k1] * asum;
  }
  return bsum;
}

// Control cell and fraction of an ELASTIC stage along axis a at coordinate x (stage floats s,
// control points g[a]): u = s_a x clamped to the grid, fl = floor(u), t = u - fl.
BBB_HDI void elastic_cell(const float* s, const int g[3], int a, float x, float& fl, float& t) {
  float u = s[5 + a] * x;
  const float top = static_cast<float>(g[a] - 1);
  u = u < 0.0f ? 0.0f : (u > top ? top : u);
  fl = floor_small_f(u);  // u in [0, 31]: exact, and branch-free (vectorises)
  t = u - fl;
}

// B-spline weights and control-point offsets (index * stride) of the four taps along one axis.
BBB_HDI void elastic_taps(float fl, float t, int g, int stride, float w[4], int off[4], int idx[4]) {
  bspline3_weights(t, w);
  const int i = static_cast<int>(fl);
  for (int k = 0; k < 4; ++k) {
    const int j = i - 1 + k;
    idx[k] = j < 0 ? 0 : (j > g - 1 ? g - 1 : j);
    off[k] = idx[k] * stride;
  }
}

// Displacement of an ELASTIC stage at p (stage floats s, the sample's ctrl row): separable, in the
// stage's fixed axis order, so a cached column gives the same bits as a fresh one.
BBB_HD void elastic_displacement(const float* s, const float* ctrl, const float p[3], float d[3],
                                 ElasticColumns* cache) {
  const int g[3] = {static_cast<int>(s[1]), static_cast<int>(s[2]), static_cast<int>(s[3])};
  const int o0 = static_cast<int>(s[8]), o1 = static_cast<int>(s[9]), o2 = static_cast<int>(s[10]);
  const float* c = ctrl + static_cast<int>(s[4]);
  const int stride[3] = {g[1] * g[2], g[2], 1};
  float fl[3], t[3];
  for (int a = 0; a < 3; ++a) elastic_cell(s, g, a, p[a], fl[a], t[a]);
  if (cache && (cache->stage != s || cache->f0 != fl[o0] || cache->t0 != t[o0] || cache->f1 != fl[o1] ||
                cache->t1 != t[o1])) {
    cache->stage = s;
    cache->f0 = fl[o0]; cache->t0 = t[o0]; cache->f1 = fl[o1]; cache->t1 = t[o1];
    ++cache->stamp;
  }
  auto axis_weights = [&](int a, float w[4], int off[4], int idx[4]) {
    elastic_taps(fl[a], t[a], g[a], stride[a], w, off, idx);
  };
  float w2[4], w0[4], w1[4];
  int off2[4], off0[4], off1[4], idx2[4], idx01[4];
  axis_weights(o2, w2, off2, idx2);
  bool have01 = false;  // the other two axes' weights, only when a column must be computed
  const int plane = g[0] * g[1] * g[2];
  float col[3][4];
  for (int k2 = 0; k2 < 4; ++k2) {
    const int key = idx2[k2];
    if (cache && cache->tag[key] == cache->stamp) {
      col[0][k2] = cache->col[0][key]; col[1][k2] = cache->col[1][key]; col[2][k2] = cache->col[2][key];
    } else {
      if (!have01) {
        axis_weights(o0, w0, off0, idx01);
        axis_weights(o1, w1, off1, idx01);
        have01 = true;
      }
      for (int comp = 0; comp < 3; ++comp)
        col[comp][k2] = elastic_column(c + comp * plane + off2[k2], w0, off0, w1, off1);
      if (cache) {
        cache->tag[key] = cache->stamp;
        cache->col[0][key] = col[0][k2]; cache->col[1][key] = col[1][k2]; cache->col[2][key] = col[2][k2];
      }
    }
  }
  // sum over the o2 taps in order: ((((0 + t0) + t1) + t2) + t3)
  float dd[3];
  for (int comp = 0; comp < 3; ++comp) {
    float acc = 0.0f;
    acc += w2[0] * col[comp][0];
    acc += w2[1] * col[comp][1];
    acc += w2[2] * col[comp][2];
    acc += w2[3] * col[comp][3];
    dd[comp] = acc;
  }
  const float d0 = dd[0], d1 = dd[1], d2 = dd[2];
  d[0] = d0; d[1] = d1; d[2] = d2;
}

template <class T> BBB_HD float to_float(T v) { return static_cast<float>(v); }

// Standard normals of (seed, sample, epilogue op, channel): voxels 4j..4j+3 share the Philox block
// at counter (j, channel, (sample << 8) | op), Box–Muller on words (0, 1) and (2, 3).
BBB_HDI void augment_normal4(std::uint64_t seed, std::int64_t b, int op, int c, std::uint32_t block,
                             float z[4]) {
  const Philox rng = Philox::from_seed(seed);
  const U32x4 w = rng(block, static_cast<std::uint32_t>(c),
                      (static_cast<std::uint64_t>(b) << 8) | static_cast<std::uint64_t>(op));
  normal4_f(w, z);
}

BBB_HDI float augment_normal(std::uint64_t seed, std::int64_t b, int op, int c, std::uint32_t voxel) {
  float z[4];
  augment_normal4(seed, b, op, c, voxel >> 2, z);
  return z[voxel & 3u];
}

// Sign-preserving gamma on the channel's range [lo, hi] (range = hi - lo > 0), branch-free.
BBB_HDI float gamma_core(float v, float gamma, float lo, float range) {
  const float t = (v - lo) / range;
  const float at = t < 0.0f ? -t : t;
  const bool tiny = !(at > 1.0e-30f);
  const float g0 = exp_f(gamma * log_f(tiny ? 1.0f : at));
  const float g = tiny ? 0.0f : g0;
  return lo + (t < 0.0f ? -g : g) * range;
}

BBB_HDI bool gamma_is_identity(float gamma, float lo, float hi) {
  return !(hi - lo > 0.0f) || gamma == 1.0f;
}

BBB_HDI float gamma_value(float v, float gamma, float lo, float hi) {
  return gamma_is_identity(gamma, lo, hi) ? v : gamma_core(v, gamma, lo, hi - lo);
}

// ---------------------------------------------------------------------------- one output voxel
// A sample's program header, decoded once per row (CPU) or thread (GPU).
struct AugSample {
  const float* prog;
  const std::int32_t* trow;      // the sample's table row
  const float* crow;             // the sample's control-grid row
  const std::int32_t* ftab[3];   // final (virtual-axis) tables or null
  const float* affine;           // simple programs: the one affine stage, or null (identity)
  int n_stages, n_epi, n_branch;
  int nv[3];                     // virtual input size
  bool simple;                   // no stage but (at most) one affine: no branches, holes or weights
};

template <class TI, class TM>
BBB_HD AugSample decode_sample(const AugmentParams& P, const AugmentArgs<TI, TM>& A, std::int64_t b) {
  using namespace aug;
  AugSample S;
  S.prog = A.program + b * kProgLen;
  S.trow = A.tables + b * static_cast<std::int64_t>(P.table_len);
  S.crow = A.ctrl + b * static_cast<std::int64_t>(P.ctrl_len);
  S.n_stages = static_cast<int>(S.prog[0]);
  S.n_epi = static_cast<int>(S.prog[1]);
  S.n_branch = 0;
  for (int a = 0; a < 3; ++a) {
    S.nv[a] = static_cast<int>(S.prog[2 + a]);
    const int off = static_cast<int>(S.prog[5 + a]);
    S.ftab[a] = off >= 0 ? S.trow + off : nullptr;
  }
  for (int s = 0; s < S.n_stages; ++s)
    if (static_cast<int>(S.prog[kHeader + s * kStageLen]) == kAxisMap) ++S.n_branch;
  S.simple = S.n_stages == 0 || (S.n_stages == 1 && static_cast<int>(S.prog[kHeader]) == kAffine);
  S.affine = S.n_stages == 1 && S.simple ? S.prog + kHeader : nullptr;
  return S;
}

// Affine stage: q_r = ((M_r0 p0 + M_r1 p1) + M_r2 p2) + t_r (this evaluation order everywhere).
BBB_HDI void affine_apply(const float* st, float p[3]) {
  float q[3];
  for (int r = 0; r < 3; ++r)
    q[r] = st[1 + 4 * r] * p[0] + st[2 + 4 * r] * p[1] + st[3 + 4 * r] * p[2] + st[4 + 4 * r];
  p[0] = q[0]; p[1] = q[1]; p[2] = q[2];
}

// Bilinear combination of four corners (order y0x0, y0x1, y1x0, y1x1): lerps a + w (b - a) along x,
// then y; an axis whose weight is 0 takes its line's value. trilerp's first stages.
BBB_HDI float bilerp(float v0, float v1, float v2, float v3, float wy, float wx) {
  const bool ex = wx == 0.0f, ey = wy == 0.0f;
  const float x0 = ex ? v0 : v0 + wx * (v1 - v0);
  const float x1 = ex ? v2 : v2 + wx * (v3 - v2);
  return ey ? x0 : x0 + wy * (x1 - x0);
}

// Trilinear combination of the eight corners (order z0y0x0, z0y0x1, z0y1x0, ..., z1y1x1): lerps
// a + w (b - a) along x, then y, then z (exact on constant regions); an axis whose weight is 0
// takes its plane's value (wz = 0: the z0 plane's bilerp, whatever the z1 corners hold). The one
// definition of this arithmetic (GPU, CPU rows, CPU lines).
BBB_HDI float trilerp(float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7,
                      float wz, float wy, float wx) {
  const float y0 = bilerp(v0, v1, v2, v3, wy, wx);
  const float y1 = bilerp(v4, v5, v6, v7, wy, wx);
  return wz == 0.0f ? y0 : y0 + wz * (y1 - y0);
}

// Element offsets of the eight trilinear corners, in trilerp's order (negative: outside).
BBB_HDI void corner_offsets(const Taps& tz, const Taps& ty, const Taps& tx, std::int64_t o[8]) {
  const std::int64_t zy00 = tz.o0 + ty.o0, zy01 = tz.o0 + ty.o1, zy10 = tz.o1 + ty.o0, zy11 = tz.o1 + ty.o1;
  o[0] = zy00 + tx.o0; o[1] = zy00 + tx.o1; o[2] = zy01 + tx.o0; o[3] = zy01 + tx.o1;
  o[4] = zy10 + tx.o0; o[5] = zy10 + tx.o1; o[6] = zy11 + tx.o0; o[7] = zy11 + tx.o1;
}

// Dropout fill with hole weight h, and additive noise: the epilogue's per-voxel arithmetic.
BBB_HDI float fill_blend(float v, float h, float fill) { return h > 0.0f ? (1.0f - h) * v + h * fill : v; }
BBB_HDI float add_noise(float v, float mean, float sd, float z) { return v + (mean + sd * z); }

// Trilinear sample of every channel from per-axis taps, times w, stored (first) or added into
// the output voxel.
template <class TI, class TM>
BBB_HDI void gather_taps(const AugmentParams& P, const AugmentArgs<TI, TM>& A, std::int64_t b, float* out,
                         std::int64_t vout, const Taps& tz, const Taps& ty, const Taps& tx, float w,
                         bool first) {
  const std::int64_t vin = static_cast<std::int64_t>(P.in_shape[0]) * P.in_shape[1] * P.in_shape[2];
  std::int64_t o[8];
  corner_offsets(tz, ty, tx, o);
  const int C = P.channels;
  // an axis whose weight is 0 (the point on a voxel plane) takes that plane's value: no lerp,
  // so flips, rot90 and crops are exact copies whatever the neighbours hold (inf, NaN)
  const bool ex = tx.w1 == 0.0f, ey = ty.w1 == 0.0f, ez = tz.w1 == 0.0f;
  for (int c = 0; c < C; ++c) {
    const TI* img = A.image + (b * C + c) * vin;
    float val;
    if (ex && ey && ez) {
      val = o[0] >= 0 ? to_float(img[o[0]]) : P.fill;
    } else {
      float v[8];
      for (int k = 0; k < 8; ++k) v[k] = o[k] >= 0 ? to_float(img[o[k]]) : P.fill;
      val = trilerp(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], tz.w1, ty.w1, tx.w1);
    }
    float* oc = out + c * vout;
    *oc = first ? w * val : *oc + w * val;
  }
}

// Per-axis taps of the virtual-input point p.
BBB_HDI Taps axis_taps(const AugmentParams& P, const AugSample& S, const float p[3], int a) {
  const std::int64_t stride = a == 0 ? static_cast<std::int64_t>(P.in_shape[1]) * P.in_shape[2]
                                     : (a == 1 ? P.in_shape[2] : 1);
  return linear_taps(p[a], S.nv[a], S.ftab[a], P.border, stride);
}

// Trilinear sample of every channel at the virtual-input point p.
template <class TI, class TM>
BBB_HDI void gather_linear(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S,
                           std::int64_t b, float* out, std::int64_t vout, const float p[3], float w,
                           bool first) {
  gather_taps(P, A, b, out, vout, axis_taps(P, S, p, 0), axis_taps(P, S, p, 1), axis_taps(P, S, p, 2),
              w, first);
}

// Epilogue op e of a sample on value v of channel c at output voxel `voxel` (h: the voxel's hole
// weight of the op's dropout stage, for fills).
BBB_HDI float epilogue_op(const AugmentParams& P, const float* op, int e, std::int64_t b, int c,
                          std::uint32_t voxel, float v, float lo, float hi, float h) {
  using namespace aug;
  const int kind = static_cast<int>(op[0]);
  if (kind == kNoise) {
    const float scale = op[3] != 0.0f ? hi - lo : 1.0f;
    return add_noise(v, op[2] * scale, op[1] * scale, augment_normal(P.seed, b, e, c, voxel));
  }
  if (kind == kGamma) return gamma_value(v, op[1], lo, hi);
  if (kind == kFill) return fill_blend(v, h, op[2]);
  return v;
}

BBB_HDI const float* epilogue_ops(const AugSample& S) {
  return S.prog + aug::kHeader + aug::kMaxStages * aug::kStageLen;
}

// Noise, gamma and dropout fills in Compose order (H: hole weight per dropout stage).
template <class TI, class TM>
BBB_HD void epilogue(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S,
                     std::int64_t b, float* out, std::int64_t vout, std::int64_t voxel, const float* H) {
  const float* epi = epilogue_ops(S);
  const int C = P.channels;
  for (int c = 0; c < C; ++c) {
    float v = out[c * vout];
    const float lo = A.stats ? A.stats[(b * C + c) * 2] : 0.0f;
    const float hi = A.stats ? A.stats[(b * C + c) * 2 + 1] : 1.0f;
    for (int e = 0; e < S.n_epi; ++e) {
      const float* op = epi + e * aug::kEpiLen;
      const float h = static_cast<int>(op[0]) == aug::kFill ? H[static_cast<int>(op[1])] : 0.0f;
      v = epilogue_op(P, op, e, b, c, static_cast<std::uint32_t>(voxel), v, lo, hi, h);
    }
    out[c * vout] = v;
  }
}

// Mask value of every channel from the nearest input voxel's offset (-1: outside).
template <class TI, class TM>
BBB_HDI void gather_mask_at(const AugmentParams& P, const AugmentArgs<TI, TM>& A, std::int64_t b,
                            std::int64_t voxel, std::int64_t vout, std::int64_t offset) {
  const std::int64_t vin = static_cast<std::int64_t>(P.in_shape[0]) * P.in_shape[1] * P.in_shape[2];
  const int Cm = P.mask_channels;
  TM* mo = A.mask_out + b * Cm * vout + voxel;
  for (int c = 0; c < Cm; ++c)
    mo[c * vout] = offset >= 0 ? A.mask[(b * Cm + c) * vin + offset] : static_cast<TM>(P.mask_fill);
}

// The mask value of a voxel inside the holes `holes` (bit k: dropout index k): the mask fill of
// the last FILL op in Compose order that has one and whose dropout is a hole; false if none.
template <class TM>
BBB_HDI bool dropout_mask_fill(const AugSample& S, int holes, TM& fillv) {
  using namespace aug;
  bool filled = false;
  if (S.n_epi > 0 && holes) {
    const float* epi = epilogue_ops(S);
    for (int e = 0; e < S.n_epi; ++e) {
      const float* op = epi + e * kEpiLen;
      if (static_cast<int>(op[0]) == kFill && op[3] == op[3] && ((holes >> static_cast<int>(op[1])) & 1)) {
        filled = true;
        fillv = static_cast<TM>(op[3]);
      }
    }
  }
  return filled;
}

// Nearest-neighbour mask at the virtual-input point p (w <= 0: no branch had weight), with the
// dropout mask fills of the holes in `holes`.
template <class TI, class TM>
BBB_HD void gather_mask(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S,
                        std::int64_t b, std::int64_t voxel, std::int64_t vout, const float p[3], float w,
                        int holes) {
  using namespace aug;
  const std::int64_t Yi = P.in_shape[1], Xi = P.in_shape[2];
  const std::int64_t vin = static_cast<std::int64_t>(P.in_shape[0]) * Yi * Xi;
  const int Cm = P.mask_channels;
  TM* mo = A.mask_out + b * Cm * vout + voxel;
  const int iz = nearest_tap(p[0], S.nv[0], S.ftab[0], P.border);
  const int iy = nearest_tap(p[1], S.nv[1], S.ftab[1], P.border);
  const int ix = nearest_tap(p[2], S.nv[2], S.ftab[2], P.border);
  const bool ok = w > 0.0f && iz >= 0 && iy >= 0 && ix >= 0;
  TM fillv = TM(0);
  const bool filled = dropout_mask_fill(S, holes, fillv);
  for (int c = 0; c < Cm; ++c) {
    TM v;
    if (filled) v = fillv;
    else if (ok) v = A.mask[(b * Cm + c) * vin + (static_cast<std::int64_t>(iz) * Yi + iy) * Xi + ix];
    else v = static_cast<TM>(P.mask_fill);
    mo[c * vout] = v;
  }
}

// Output voxel (before the epilogue) of a simple sample at the virtual-input point p, given its taps.
template <class TI, class TM>
BBB_HDI void augment_point_simple(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S,
                                  std::int64_t b, std::int64_t voxel, std::int64_t vout, const float p[3],
                                  const Taps& tz, const Taps& ty, const Taps& tx) {
  float* out = A.out + b * P.channels * vout + voxel;
  gather_taps(P, A, b, out, vout, tz, ty, tx, 1.0f, true);
  if (A.mask && P.mask_channels > 0) gather_mask(P, A, S, b, voxel, vout, p, 1.0f, 0);
}

// Spatial part of output voxel (b, z, y, x): every image channel before the epilogue, the mask,
// and the hole weight H of each dropout stage.
template <class TI, class TM>
BBB_HD void augment_voxel_spatial(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S,
                                  std::int64_t b, int z, int y, int x, float H[aug::kMaxDropout],
                                  ElasticColumns* cache /* [1 << kMaxBranchStages] or null */) {
  using namespace aug;
  const std::int64_t Yo = P.out_shape[1], Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * Yo * Xo;
  const std::int64_t voxel = (static_cast<std::int64_t>(z) * Yo + y) * Xo + x;
  for (int k = 0; k < kMaxDropout; ++k) H[k] = 0.0f;
  if (S.simple) {
    float p[3] = {static_cast<float>(z), static_cast<float>(y), static_cast<float>(x)};
    if (S.affine) affine_apply(S.affine, p);
    augment_point_simple(P, A, S, b, voxel, vout, p, axis_taps(P, S, p, 0), axis_taps(P, S, p, 1),
                         axis_taps(P, S, p, 2));
    return;
  }
  float* out = A.out + b * P.channels * vout + voxel;
  float best_w = -1.0f;
  float best_p[3] = {0.0f, 0.0f, 0.0f};
  int best_holes = 0;
  bool first = true;
  const int combos = 1 << S.n_branch;
  for (int combo = 0; combo < combos; ++combo) {
    float p[3] = {static_cast<float>(z), static_cast<float>(y), static_cast<float>(x)};
    float w = 1.0f;
    int holes = 0, bi = 0;
    bool nearest_branch = true;  // every kept-plane choice is the nearest one (the mask's branch)
    for (int s = 0; s < S.n_stages && w > 0.0f; ++s) {
      const float* st = S.prog + kHeader + s * kStageLen;
      const int kind = static_cast<int>(st[0]);
      if (kind == kAffine) {
        affine_apply(st, p);
      } else if (kind == kElastic) {
        float d[3];
        elastic_displacement(st, S.crow, p, d, cache ? cache + combo : nullptr);
        p[0] += d[0]; p[1] += d[1]; p[2] += d[2];
      } else if (kind == kAxisMap) {
        const int a = static_cast<int>(st[1]), n = static_cast<int>(st[2]);
        const std::int32_t* tab = S.trow + static_cast<int>(st[3]);
        const float u = clamp_coord(p[a], n);
        const float fl = floor_f(u);
        const float f = u - fl;
        const int bit = (combo >> bi) & 1;
        ++bi;
        if (bit != (f + kRoundUp >= 1.0f ? 1 : 0)) nearest_branch = false;
        w *= bit ? f : 1.0f - f;
        p[a] = table_ext(tab, n, static_cast<int>(fl) + bit);
      } else if (kind == kDropout) {
        if (dropout_hole(st, p)) holes |= 1 << static_cast<int>(st[10]);
      }
    }
    if (!(w > 0.0f)) continue;
    if (holes)
      for (int k = 0; k < kMaxDropout; ++k)
        if ((holes >> k) & 1) H[k] += w;
    if (nearest_branch) {  // the mask follows the nearest kept planes (ties round up)
      best_w = w; best_p[0] = p[0]; best_p[1] = p[1]; best_p[2] = p[2]; best_holes = holes;
    }
    gather_linear(P, A, S, b, out, vout, p, w, first);
    first = false;
  }
  if (first) {  // no branch had weight (cannot happen for finite coordinates): fill
    for (int c = 0; c < P.channels; ++c) out[c * vout] = P.fill;
  }
  if (A.mask && P.mask_channels > 0) gather_mask(P, A, S, b, voxel, vout, best_p, best_w, best_holes);
}

// Writes every channel of image voxel (b, z, y, x) and of the mask (the GPU's per-thread work;
// the CPU runs the same functions row by row, the epilogue one op at a time over the row).
template <class TI, class TM>
BBB_HD void augment_voxel(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S,
                          std::int64_t b, int z, int y, int x) {
  float H[aug::kMaxDropout];
  augment_voxel_spatial(P, A, S, b, z, y, x, H, nullptr);
  if (S.n_epi > 0) {
    const std::int64_t Yo = P.out_shape[1], Xo = P.out_shape[2];
    const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * Yo * Xo;
    const std::int64_t voxel = (static_cast<std::int64_t>(z) * Yo + y) * Xo + x;
    epilogue(P, A, S, b, A.out + b * P.channels * vout + voxel, vout, voxel, H);
  }
}

}  // namespace bbb
