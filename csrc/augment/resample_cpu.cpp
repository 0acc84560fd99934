#include "augment/resample.h"

#include <algorithm>
#include <vector>

#include "bbbcore/check.h"

namespace bbb {

namespace {

// Per-sample tables of the separable fast path: a simple program whose affine (or identity) maps
// each input axis r from one output axis src[r] (one nonzero per row and column: flips, rot90,
// crops, resizes, scalings, drop-plane tables). Taps and nearest offsets are tabulated per output
// index, from the same float coordinates as affine_apply's (the zero terms add exact zeros).
struct Separable {
  std::int64_t b = -1;
  bool ok = false;
  int src[3];
  std::vector<Taps> taps[3];
  std::vector<std::int64_t> nearest[3];
  // the same taps as 1 + physical index along input axis r (0: outside, the fill), for the
  // padded lines of separable_row; exact[r]: every tap of the axis lies on a voxel centre
  std::vector<int> pidx0[3], pidx1[3];
  bool exact[3];
  // run[r]: +1 / -1 when output index i reads physical plane start[r] +- i along axis r (every
  // tap inside: flips, rot90, crops without a resize), else 0
  int run[3], start[3];
  // grid-dropout stages between the affines: hole[k][c][i] = 1 when every dropout axis that
  // follows output axis c is inside a hole of dropout k at output index i (the predicate of
  // dropout_hole is a product over axes, each a function of one output axis)
  int dropouts = 0;  // bit k: dropout index k occurs
  std::vector<unsigned char> hole[aug::kMaxDropout][3];
};

// Whether a program is a chain of affines and grid dropouts only (no branches, no elastic).
inline bool affine_dropout_chain(const AugSample& S) {
  if (S.simple) return true;
  for (int s = 0; s < S.n_stages; ++s) {
    const int kind = static_cast<int>(S.prog[aug::kHeader + s * aug::kStageLen]);
    if (kind != aug::kAffine && kind != aug::kDropout) return false;
  }
  return true;
}

// Axis map of an axis-aligned affine stage: src[r] = the one column of row r (false if not a
// permutation with scalings).
inline bool affine_axis_map(const float* st, int src[3]) {
  for (int r = 0; r < 3; ++r) {
    int n = 0;
    for (int c = 0; c < 3; ++c)
      if (st[1 + 4 * r + c] != 0.0f) { src[r] = c; ++n; }
    if (n != 1) return false;
  }
  return src[0] != src[1] && src[0] != src[2] && src[1] != src[2];
}

template <class TI, class TM>
void prepare_separable(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S,
                       std::int64_t b, Separable& T) {
  using namespace aug;
  T.b = b;
  T.ok = false;
  T.dropouts = 0;
  // the stages (output -> input): axis-aligned affines and dropouts; src[r] = the output axis
  // that input axis r follows, composed stage by stage
  int src[3] = {0, 1, 2};
  int follows[kMaxStages][3];  // at a dropout stage: the output axis each coordinate follows
  for (int s = 0; s < S.n_stages; ++s) {
    const float* st = S.prog + kHeader + s * kStageLen;
    const int kind = static_cast<int>(st[0]);
    if (kind == kDropout) {
      T.dropouts |= 1 << static_cast<int>(st[10]);
      for (int a = 0; a < 3; ++a) follows[s][a] = src[a];
      continue;
    }
    if (kind != kAffine) return;
    int m[3];
    if (!affine_axis_map(st, m)) return;
    const int prev[3] = {src[0], src[1], src[2]};
    for (int r = 0; r < 3; ++r) src[r] = prev[m[r]];
  }
  for (int r = 0; r < 3; ++r) T.src[r] = src[r];
  for (int k = 0; k < kMaxDropout; ++k)
    if ((T.dropouts >> k) & 1)
      for (int c = 0; c < 3; ++c) T.hole[k][c].assign(P.out_shape[c], 1);
  const std::int64_t stride[3] = {static_cast<std::int64_t>(P.in_shape[1]) * P.in_shape[2], P.in_shape[2], 1};
  for (int c = 0; c < 3; ++c) {
    const int n = P.out_shape[c];
    for (int i = 0; i < n; ++i) {
      // output index i along axis c through every stage, the other axes at 0: the components
      // that follow axis c get the same floats as affine_apply on a whole voxel (each row has
      // one nonzero, so the other components enter as exact zeros)
      float p[3] = {0.0f, 0.0f, 0.0f};
      p[c] = static_cast<float>(i);
      for (int s = 0; s < S.n_stages; ++s) {
        const float* st = S.prog + kHeader + s * kStageLen;
        if (static_cast<int>(st[0]) == kAffine) {
          affine_apply(st, p);
        } else {  // dropout: the factors of dropout_hole whose axis follows output axis c
          const int k = static_cast<int>(st[10]);
          for (int a = 0; a < 3; ++a)
            if (follows[s][a] == c && !dropout_axis_in(st, a, p[a])) T.hole[k][c][i] = 0;
        }
      }
      for (int r = 0; r < 3; ++r) {
        if (src[r] != c) continue;
        Taps tp = linear_taps(p[r], S.nv[r], S.ftab[r], P.border, stride[r]);
        if (tp.w1 == 0.0f) tp.o1 = tp.o0;  // the second tap is not used: load the first twice
        if (i == 0) {
          T.taps[r].resize(n);
          T.nearest[r].resize(n);
          T.pidx0[r].resize(n);
          T.pidx1[r].resize(n);
          T.exact[r] = true;
        }
        T.taps[r][i] = tp;
        T.pidx0[r][i] = tp.o0 < 0 ? 0 : static_cast<int>(tp.o0 / stride[r]) + 1;
        T.pidx1[r][i] = tp.o1 < 0 ? 0 : static_cast<int>(tp.o1 / stride[r]) + 1;
        T.exact[r] = T.exact[r] && tp.w1 == 0.0f;
        const int j = nearest_tap(p[r], S.nv[r], S.ftab[r], P.border);
        T.nearest[r][i] = j >= 0 ? j * stride[r] : -1;
      }
    }
  }
  for (int r = 0; r < 3; ++r) {
    const std::vector<int>& q = T.pidx0[r];
    const int n = static_cast<int>(q.size());
    int step = 0;
    if (n > 0 && q[0] > 0) {
      step = n == 1 ? 1 : q[1] - q[0];
      if (step != 1 && step != -1) step = 0;
      for (int i = 0; i < n && step != 0; ++i)
        if (q[i] != q[0] + step * i) step = 0;
    }
    T.run[r] = step;
    T.start[r] = n > 0 ? q[0] - 1 : 0;
  }
  T.ok = true;
}

// One output row (b, z, y, 0..Xo-1): the spatial part voxel by voxel, then the epilogue one op at
// a time over the row (tight loops the compiler can vectorise). Every value is computed by the
// same BBB_HD functions, in the same per-voxel order, as augment_voxel on the GPU.
// Scratch of the generic row path (structure of arrays over the row).
struct RowScratch {
  std::vector<float> pz, py, px, w, bz, by, bx, bw;
  std::vector<int> holes, bholes, written, nearest;
  std::vector<float> wz, wy, wx, val;
  std::vector<int> j0[3], j1[3];
  std::vector<float> w1[3];
  std::vector<unsigned char> outside[3];
  std::vector<int> c0[3], c1[3];    // gather_row: the taps of an axis fixed along the row
  std::vector<float> cw[3];
  std::vector<unsigned char> any;   // gather_row: outside along any axis
  // row_plane_branch: the prefix coordinates of the row, and the last two branch rows (kept plane
  // k of the line `line`: output y or z); row_table_x: the table cell and fraction of each voxel
  std::vector<float> q[3], tf, vrow;
  std::vector<int> tk;
  struct BranchRow {
    std::int64_t b = -1;
    int line = -1, k = 0;
    std::vector<float> val, p[3];
    std::vector<int> holes;
  } keep[2];
  std::vector<float> lines;  // separable_row: four padded input lines
  std::vector<float> columns;  // augment_elastic_row's reduced control columns
  ElasticColumns cache[1 << aug::kMaxBranchStages];
  void resize(int n) {
    for (auto* v : {&pz, &py, &px, &w, &bz, &by, &bx, &bw}) v->resize(n);
    for (auto* v : {&holes, &bholes, &written, &nearest}) v->resize(n);
    for (int k = 0; k < 3; ++k) {
      j0[k].resize(n); j1[k].resize(n); w1[k].resize(n); outside[k].resize(n);
      c0[k].resize(n); c1[k].resize(n); cw[k].resize(n);
    }
    any.resize(n);
    for (auto& v : q) v.resize(n);
    tf.resize(n); tk.resize(n);
    wz.resize(n); wy.resize(n); wx.resize(n); val.resize(n);
  }
};

// Trilinear samples of one image channel along a row (gather_taps' values): per input axis k either
// taps that vary along the row (varies[k]: R.j0/j1/w1/outside[k] from augment_taps_line) or one
// Taps t[k] for the whole row. A voxel outside along any axis reads the fill at all eight corners
// (each corner offset of gather_taps is then negative).
template <class TI>
void gather_row(const AugmentParams& P, const TI* img, const bool varies[3], const Taps t[3], RowScratch& R,
                int Xo, float* dst) {
  const std::int64_t stride[3] = {static_cast<std::int64_t>(P.in_shape[1]) * P.in_shape[2], P.in_shape[2], 1};
  const int* j0[3];
  const int* j1[3];
  const float* w1[3];
  bool fixed_out = false;
  for (int k = 0; k < 3; ++k) {
    if (varies[k]) {
      j0[k] = R.j0[k].data(); j1[k] = R.j1[k].data(); w1[k] = R.w1[k].data();
      continue;
    }
    // one tap pair for the row: its plane indices (any in-volume index when outside: not read)
    const bool out = t[k].o0 < 0;
    fixed_out = fixed_out || out;
    const int a = out ? 0 : static_cast<int>(t[k].o0 / stride[k]), c = out ? 0 : static_cast<int>(t[k].o1 / stride[k]);
    const float w = t[k].w1;
    int* c0 = R.c0[k].data();
    int* c1 = R.c1[k].data();
    float* cw = R.cw[k].data();
    for (int x = 0; x < Xo; ++x) { c0[x] = a; c1[x] = c; cw[x] = w; }
    j0[k] = c0; j1[k] = c1; w1[k] = cw;
  }
  unsigned char* any = R.any.data();
  const unsigned char* o[3] = {R.outside[0].data(), R.outside[1].data(), R.outside[2].data()};
  const unsigned char f = fixed_out ? 1 : 0;
  const unsigned char m0 = varies[0] ? 1 : 0, m1 = varies[1] ? 1 : 0, m2 = varies[2] ? 1 : 0;
  for (int x = 0; x < Xo; ++x) any[x] = f | (o[0][x] & m0) | (o[1][x] & m1) | (o[2][x] & m2);
  // one input plane for the whole row (a rotation about Z, no Z resize): only its four corners
  const bool plane = !varies[0] && t[0].w1 == 0.0f;
  augment_gather_row(img, stride[0], stride[1], j0, j1, w1, any, P.fill, plane, dst, Xo);
}

// Stages [s0, s1) of a program over the row's coordinates R.pz/py/px (weights R.w: a voxel whose
// weight is not > 0 is left alone; hole bits into R.holes, the nearest-branch flags into R.nearest),
// an AXISMAP taking the branch bit (combo >> bi) & 1 and advancing bi. Per voxel the same BBB_HD
// calls in the same order as augment_voxel_spatial.
inline void stages_row(const AugSample& S, int s0, int s1, int combo, int& bi, RowScratch& R, int Xo) {
  using namespace aug;
  float* pz = R.pz.data(); float* py = R.py.data(); float* px = R.px.data(); float* w = R.w.data();
  int* holes = R.holes.data(); int* nearest = R.nearest.data();
  for (int s = s0; s < s1; ++s) {
    const float* st = S.prog + kHeader + s * kStageLen;
    const int kind = static_cast<int>(st[0]);
    if (kind == kAffine) {
      float* const pr[3] = {pz, py, px};
      augment_affine_row(st, pr, Xo);
    } else if (kind == kElastic) {
      float* const pr[3] = {pz, py, px};
      if (augment_elastic_row(st, S.crow, pr, Xo, R.columns)) continue;
      ElasticColumns& cc = R.cache[combo];  // a fresh column cache for this row's voxels
      cc.stage = nullptr;
      cc.stamp = 0;
      for (int& tg : cc.tag) tg = -1;
      for (int x = 0; x < Xo; ++x) {
        if (!(w[x] > 0.0f)) continue;
        const float p[3] = {pz[x], py[x], px[x]};
        float d[3];
        elastic_displacement(st, S.crow, p, d, R.cache + combo);
        pz[x] = p[0] + d[0]; py[x] = p[1] + d[1]; px[x] = p[2] + d[2];
      }
    } else if (kind == kAxisMap) {
      const int a = static_cast<int>(st[1]), n = static_cast<int>(st[2]);
      const std::int32_t* tab = S.trow + static_cast<int>(st[3]);
      const int bit = (combo >> bi) & 1;
      ++bi;
      float* pa = a == 0 ? pz : (a == 1 ? py : px);
      for (int x = 0; x < Xo; ++x) {
        if (!(w[x] > 0.0f)) continue;
        const float u = clamp_coord(pa[x], n);
        const float fl = floor_f(u);
        const float f = u - fl;
        if (bit != (f + kRoundUp >= 1.0f ? 1 : 0)) nearest[x] = 0;
        w[x] *= bit ? f : 1.0f - f;
        pa[x] = table_ext(tab, n, static_cast<int>(fl) + bit);
      }
    } else if (kind == kDropout) {
      const float* const pr[3] = {pz, py, px};
      augment_dropout_row(st, pr, w, holes, Xo);
    }
  }
}

// The row's coordinates R.pz/py/px gathered from every image channel (gather_linear's values) into
// dst + c * cstride (default: Xo): taps per axis over the row (an axis whose coordinate is one float
// along the row gets its taps once), then the fused gathers.
template <class TI, class TM>
void gather_channels(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S, std::int64_t b,
                     RowScratch& R, int Xo, float* dst, std::int64_t cstride = -1) {
  if (cstride < 0) cstride = Xo;
  const float* pc[3] = {R.pz.data(), R.py.data(), R.px.data()};
  bool varies[3];
  Taps t[3];
  for (int k = 0; k < 3; ++k) {
    const float* q = pc[k];
    bool same = true;  // bit for bit (a -0 beside +0 just takes the per-voxel taps)
    const std::uint32_t q0 = float_as_u32(q[0]);
    for (int x = 1; x < Xo && same; ++x) same = float_as_u32(q[x]) == q0;
    varies[k] = !same;
    if (same) {
      float p0[3] = {0.0f, 0.0f, 0.0f};
      p0[k] = q[0];
      t[k] = axis_taps(P, S, p0, k);
    } else {
      augment_taps_line(q, S.nv[k], P.border, S.ftab[k], R.j0[k].data(), R.j1[k].data(), R.w1[k].data(),
                        R.outside[k].data(), Xo);
    }
  }
  const std::int64_t vin = static_cast<std::int64_t>(P.in_shape[0]) * P.in_shape[1] * P.in_shape[2];
  for (int c = 0; c < P.channels; ++c)
    gather_row(P, A.image + (b * P.channels + c) * vin, varies, t, R, Xo, dst + c * cstride);
}

inline void init_row(RowScratch& R, int z, int y, int Xo) {
  float* pz = R.pz.data(); float* py = R.py.data(); float* px = R.px.data(); float* w = R.w.data();
  int* holes = R.holes.data(); int* nearest = R.nearest.data();
  const float fz = static_cast<float>(z), fy = static_cast<float>(y);
  for (int x = 0; x < Xo; ++x) { pz[x] = fz; py[x] = fy; }
  for (int x = 0; x < Xo; ++x) px[x] = static_cast<float>(x);
  for (int x = 0; x < Xo; ++x) w[x] = 1.0f;
  for (int x = 0; x < Xo; ++x) { holes[x] = 0; nearest[x] = 1; }
}

inline bool has_dropout(const AugSample& S) {
  for (int s = 0; s < S.n_stages; ++s)
    if (static_cast<int>(S.prog[aug::kHeader + s * aug::kStageLen]) == aug::kDropout) return true;
  return false;
}

// A program without branches, one row: row_generic's values with its one combination's weight 1
// (w * val = val, holes weigh 1), gathered straight into the output.
template <class TI, class TM>
bool row_single(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S, std::int64_t b,
                int z, int y, float* H /* [kMaxDropout, Xo] */, RowScratch& R) {
  using namespace aug;
  const int Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * P.out_shape[1] * Xo;
  const std::int64_t row = (static_cast<std::int64_t>(z) * P.out_shape[1] + y) * Xo;
  init_row(R, z, y, Xo);
  int bi = 0;
  stages_row(S, 0, S.n_stages, 0, bi, R, Xo);
  gather_channels(P, A, S, b, R, Xo, A.out + b * P.channels * vout + row, vout);
  bool any_hole = false;
  const int* holes = R.holes.data();
  if (has_dropout(S)) {
    for (int k = 0; k < kMaxDropout; ++k) {
      float* h = H + k * Xo;
      for (int x = 0; x < Xo; ++x) h[x] = (holes[x] >> k) & 1 ? 1.0f : 0.0f;
    }
    for (int x = 0; x < Xo; ++x) any_hole = any_hole || holes[x] != 0;
  }
  if (A.mask && P.mask_channels > 0) {
    for (int x = 0; x < Xo; ++x) {
      const float p[3] = {R.pz[x], R.py[x], R.px[x]};
      gather_mask(P, A, S, b, row + x, vout, p, 1.0f, holes[x]);
    }
  }
  return any_hole;
}

// Any program, one row: each branch combination runs stage by stage over the whole row (tight
// loops instead of interpreting the program per voxel), then gathers. Per voxel the same BBB_HD
// calls in the same order as augment_voxel_spatial, so the same values.
template <class TI, class TM>
bool row_generic(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S, std::int64_t b,
                 int z, int y, float* H /* [kMaxDropout, Xo] */, RowScratch& R) {
  using namespace aug;
  if (S.n_branch == 0) return row_single(P, A, S, b, z, y, H, R);
  const int Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * P.out_shape[1] * Xo;
  const std::int64_t row = (static_cast<std::int64_t>(z) * P.out_shape[1] + y) * Xo;
  float* out = A.out + b * P.channels * vout + row;
  for (int k = 0; k < kMaxDropout * Xo; ++k) H[k] = 0.0f;
  std::fill(R.written.begin(), R.written.begin() + Xo, 0);
  std::fill(R.bw.begin(), R.bw.begin() + Xo, -1.0f);
  std::fill(R.bz.begin(), R.bz.begin() + Xo, 0.0f);
  std::fill(R.by.begin(), R.by.begin() + Xo, 0.0f);
  std::fill(R.bx.begin(), R.bx.begin() + Xo, 0.0f);
  std::fill(R.bholes.begin(), R.bholes.begin() + Xo, 0);
  R.val.resize(static_cast<std::size_t>(P.channels) * Xo);
  const int combos = 1 << S.n_branch;
  for (int combo = 0; combo < combos; ++combo) {
    init_row(R, z, y, Xo);
    int bi = 0;
    stages_row(S, 0, S.n_stages, combo, bi, R, Xo);
    const float* w = R.w.data();
    const int* holes = R.holes.data();
    for (int x = 0; x < Xo; ++x) {
      if (!(w[x] > 0.0f)) continue;
      if (holes[x])
        for (int k = 0; k < kMaxDropout; ++k)
          if ((holes[x] >> k) & 1) H[k * Xo + x] += w[x];
      if (R.nearest[x]) {
        R.bw[x] = w[x]; R.bz[x] = R.pz[x]; R.by[x] = R.py[x]; R.bx[x] = R.px[x]; R.bholes[x] = holes[x];
      }
    }
    // out = w * val (first live branch) or out + w * val
    gather_channels(P, A, S, b, R, Xo, R.val.data());
    for (int c = 0; c < P.channels; ++c) {
      const float* val = R.val.data() + static_cast<std::size_t>(c) * Xo;
      float* oc = out + c * vout;
      for (int x = 0; x < Xo; ++x) {
        if (!(w[x] > 0.0f)) continue;
        oc[x] = R.written[x] == 0 ? w[x] * val[x] : oc[x] + w[x] * val[x];
      }
    }
    for (int x = 0; x < Xo; ++x)
      if (w[x] > 0.0f) R.written[x] = 1;
  }
  bool any_hole = false;
  const int* written = R.written.data();
  for (int x = 0; x < Xo; ++x)
    if (!written[x])
      for (int c = 0; c < P.channels; ++c) out[c * vout + x] = P.fill;
  if (has_dropout(S))
    for (int k = 0; k < kMaxDropout * Xo && !any_hole; ++k) any_hole = H[k] > 0.0f;
  if (A.mask && P.mask_channels > 0) {
    for (int x = 0; x < Xo; ++x) {
      const float p[3] = {R.bz[x], R.by[x], R.bx[x]};
      gather_mask(P, A, S, b, row + x, vout, p, R.bw[x], R.bholes[x]);
    }
  }
  return any_hole;
}

// 4 s + o for a program whose one AXISMAP (stage s) follows axis-aligned affines only, o the output
// axis its table's axis then follows (the other axes do not depend on output o); else -1. All a
// branch computes after the table (the rest of the chain, the gather, the holes, the mask's
// coordinates) then depends on the kept plane and the two other output axes, not on output o:
// o = 0 or 1, the table coordinate is one float along a row (row_plane_branch keeps branch rows
// from one output row to the next); o = 2, it varies along the row, whose voxels share the kept
// planes (row_table_x evaluates each kept plane once).
inline int plane_branch_stage(const AugSample& S) {
  using namespace aug;
  if (S.n_branch != 1) return -1;
  int src[3] = {0, 1, 2};
  for (int s = 0; s < S.n_stages; ++s) {
    const float* st = S.prog + kHeader + s * kStageLen;
    const int kind = static_cast<int>(st[0]);
    if (kind == kAxisMap) return 4 * s + src[static_cast<int>(st[1])];
    int m[3];
    if (kind != kAffine || !affine_axis_map(st, m)) return -1;
    const int prev[3] = {src[0], src[1], src[2]};
    for (int r = 0; r < 3; ++r) src[r] = prev[m[r]];
  }
  return -1;
}

// The AXISMAP stage s_ax of a program: its axis, table length and table.
struct TableStage {
  int axis, n;
  const std::int32_t* tab;
};

// Row (z, y) through the stages before the AXISMAP stage s_ax (into R.pz/py/px), and that stage.
inline TableStage table_prefix(const AugSample& S, int z, int y, int s_ax, RowScratch& R, int Xo) {
  using namespace aug;
  init_row(R, z, y, Xo);
  int bi = 0;
  stages_row(S, 0, s_ax, 0, bi, R, Xo);
  const float* st = S.prog + kHeader + s_ax * kStageLen;
  return TableStage{static_cast<int>(st[1]), static_cast<int>(st[2]), S.trow + static_cast<int>(st[3])};
}

// Row (z, y) of a program with plane_branch_stage 4 s_ax + o, o = 0 or 1: row_generic's values,
// each branch row (kept plane k, line: y for o = 0, z for o = 1) computed once and kept in R.keep
// for the next row along output o (rows of o = 0 samples run with z fastest; consecutive rows read
// the same kept planes): about one branch evaluation per row instead of two. The branch's weight
// enters only through w > 0 after the table, so a kept row serves any row of its line. Per voxel
// the same values, in the same order, as row_generic.
template <class TI, class TM>
bool row_plane_branch(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S, std::int64_t b,
                      int z, int y, int s_ax, int o, float* H /* [kMaxDropout, Xo] */, RowScratch& R) {
  using namespace aug;
  const int Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * P.out_shape[1] * Xo;
  const std::int64_t row = (static_cast<std::int64_t>(z) * P.out_shape[1] + y) * Xo;
  float* out = A.out + b * P.channels * vout + row;
  // the prefix over the row, then the table (AXISMAP stage s_ax)
  const TableStage T = table_prefix(S, z, y, s_ax, R, Xo);
  const int a = T.axis, n = T.n;
  const std::int32_t* tab = T.tab;
  std::vector<float>* pv[3] = {&R.pz, &R.py, &R.px};
  const float u = clamp_coord((*pv[a])[0], n);
  const float fl = floor_f(u);
  const float f = u - fl;
  const float wb[2] = {1.0f * (1.0f - f), 1.0f * f};
  const int near = f + kRoundUp >= 1.0f ? 1 : 0;
  const bool live[2] = {wb[0] > 0.0f, wb[1] > 0.0f};
  // the kept rows of both branches: found, or computed into a slot the other branch does not hold
  const int line = o == 0 ? y : z;
  int slot[2] = {-1, -1};
  for (int bit = 0; bit < 2; ++bit) {
    if (!live[bit]) continue;
    const int k = static_cast<int>(fl) + bit;
    for (int j = 0; j < 2; ++j)
      if (R.keep[j].b == b && R.keep[j].line == line && R.keep[j].k == k) slot[bit] = j;
  }
  bool saved = false;
  for (int bit = 0; bit < 2; ++bit) {
    if (!live[bit] || slot[bit] >= 0) continue;
    const int other = slot[1 - bit];
    const int j = other == 0 ? 1 : 0;
    slot[bit] = j;
    RowScratch::BranchRow& K = R.keep[j];
    const int k = static_cast<int>(fl) + bit;
    if (!saved) {  // the prefix coordinates, for a second computed branch
      for (int c = 0; c < 3; ++c) std::copy(pv[c]->begin(), pv[c]->begin() + Xo, R.q[c].begin());
      saved = true;
    } else {
      for (int c = 0; c < 3; ++c) std::copy(R.q[c].begin(), R.q[c].begin() + Xo, pv[c]->begin());
    }
    float* pa = pv[a]->data();
    const float tk = table_ext(tab, n, k);
    float* w = R.w.data();
    int* holes = R.holes.data();
    for (int x = 0; x < Xo; ++x) { pa[x] = tk; w[x] = 1.0f; holes[x] = 0; }
    int bj = 1;
    stages_row(S, s_ax + 1, S.n_stages, bit, bj, R, Xo);
    K.b = b; K.line = line; K.k = k;
    K.val.resize(static_cast<std::size_t>(P.channels) * Xo);
    gather_channels(P, A, S, b, R, Xo, K.val.data());
    for (int c = 0; c < 3; ++c) K.p[c].assign(pv[c]->begin(), pv[c]->begin() + Xo);
    K.holes.assign(R.holes.begin(), R.holes.begin() + Xo);
  }
  // row_generic's accumulation, branch 0 then branch 1: out = w0 val0 + w1 val1 (one pass)
  for (int k = 0; k < kMaxDropout * Xo; ++k) H[k] = 0.0f;
  const bool dropout = has_dropout(S);
  for (int bit = 0; bit < 2 && dropout; ++bit) {
    if (!live[bit]) continue;
    const float w = wb[bit];
    const int* holes = R.keep[slot[bit]].holes.data();
    for (int x = 0; x < Xo; ++x)
      if (holes[x])
        for (int k = 0; k < kMaxDropout; ++k)
          if ((holes[x] >> k) & 1) H[k * Xo + x] += w;
  }
  for (int c = 0; c < P.channels; ++c) {
    float* oc = out + c * vout;
    const std::size_t co = static_cast<std::size_t>(c) * Xo;
    if (live[0] && live[1]) {
      const float *v0 = R.keep[slot[0]].val.data() + co, *v1 = R.keep[slot[1]].val.data() + co;
      const float w0 = wb[0], w1 = wb[1];
      for (int x = 0; x < Xo; ++x) oc[x] = w0 * v0[x] + w1 * v1[x];
    } else if (live[0] || live[1]) {
      const int bit = live[0] ? 0 : 1;
      const float* v = R.keep[slot[bit]].val.data() + co;
      const float w = wb[bit];
      for (int x = 0; x < Xo; ++x) oc[x] = w * v[x];
    } else {  // no live branch (a non-finite coordinate): the fill, as row_generic
      for (int x = 0; x < Xo; ++x) oc[x] = P.fill;
    }
  }
  bool any_hole = false;
  if (dropout)
    for (int k = 0; k < kMaxDropout * Xo && !any_hole; ++k) any_hole = H[k] > 0.0f;
  if (A.mask && P.mask_channels > 0) {
    const RowScratch::BranchRow* K = live[near] ? &R.keep[slot[near]] : nullptr;
    for (int x = 0; x < Xo; ++x) {
      const float p[3] = {K ? K->p[0][x] : 0.0f, K ? K->p[1][x] : 0.0f, K ? K->p[2][x] : 0.0f};
      gather_mask(P, A, S, b, row + x, vout, p, K ? wb[near] : -1.0f, K ? K->holes[x] : 0);
    }
  }
  return any_hole;
}

// Row (z, y) of a program with plane_branch_stage 4 s_ax + 2: the table coordinate varies along the
// row, and voxel x blends kept planes fl(x) and fl(x) + 1, shared with its neighbours. Every kept
// plane the row touches is evaluated once, as a virtual row (the table's axis at the plane, the
// other axes at the row's prefix values), then each voxel combines its two entries as row_generic
// combines its branches: the same values, in the same order, from about half the evaluations.
template <class TI, class TM>
bool row_table_x(const AugmentParams& P, const AugmentArgs<TI, TM>& A, const AugSample& S, std::int64_t b,
                 int z, int y, int s_ax, float* H /* [kMaxDropout, Xo] */, RowScratch& R) {
  using namespace aug;
  const int Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * P.out_shape[1] * Xo;
  const std::int64_t row = (static_cast<std::int64_t>(z) * P.out_shape[1] + y) * Xo;
  float* out = A.out + b * P.channels * vout + row;
  // the prefix over the row, then the table (AXISMAP stage s_ax)
  const TableStage T = table_prefix(S, z, y, s_ax, R, Xo);
  const int a = T.axis, n = T.n;
  const std::int32_t* tab = T.tab;
  std::vector<float>* pv[3] = {&R.pz, &R.py, &R.px};
  // each voxel's cell and fraction (stages_row's AXISMAP arithmetic), and the planes in use
  int* tk = R.tk.data();
  float* tf = R.tf.data();
  int kmin = 0, kmax = -1;
  bool any = false;
  for (int x = 0; x < Xo; ++x) {
    const float u = clamp_coord((*pv[a])[x], n);
    const float fl = floor_f(u);
    const float f = u - fl;
    tf[x] = f;
    tk[x] = 0;
    const bool l0 = 1.0f * (1.0f - f) > 0.0f, l1 = 1.0f * f > 0.0f;
    if (!l0 && !l1) continue;  // (a non-finite coordinate)
    const int k = static_cast<int>(fl);
    tk[x] = k;
    const int lo = l0 ? k : k + 1, hi = l1 ? k + 1 : k;
    if (!any || lo < kmin) kmin = lo;
    if (!any || hi > kmax) kmax = hi;
    any = true;
  }
  const int L = any ? kmax - kmin + 1 : 0;
  float q[3];
  for (int c = 0; c < 3; ++c) q[c] = (*pv[c])[0];
  const int C = P.channels;
  float* V = nullptr;
  if (L > Xo) {  // more kept planes than voxels (a downscaling resize): longer scratch rows
    R.resize(L);
    tk = R.tk.data();
    tf = R.tf.data();
  }
  if (L > 0) {
    float* w = R.w.data();
    int* holes = R.holes.data();
    for (int c = 0; c < 3; ++c) {
      float* pc = pv[c]->data();
      if (c == a) {
        for (int i = 0; i < L; ++i) pc[i] = table_ext(tab, n, kmin + i);
      } else {
        for (int i = 0; i < L; ++i) pc[i] = q[c];
      }
    }
    for (int i = 0; i < L; ++i) { w[i] = 1.0f; holes[i] = 0; }
    int bj = 1;
    stages_row(S, s_ax + 1, S.n_stages, 0, bj, R, L);
    R.vrow.resize(static_cast<std::size_t>(C) * L);
    V = R.vrow.data();
    gather_channels(P, A, S, b, R, L, V);
  }
  // row_generic's accumulation per voxel: branch 0 (plane fl, weight 1 - f), then branch 1
  for (int k = 0; k < kMaxDropout * Xo; ++k) H[k] = 0.0f;
  const int* vh = R.holes.data();
  bool any_hole = false;
  const bool dropout = has_dropout(S);
  for (int x = 0; x < Xo; ++x) {
    const float f = tf[x];
    const float w0 = 1.0f * (1.0f - f), w1 = 1.0f * f;
    const bool l0 = w0 > 0.0f, l1 = w1 > 0.0f;
    const int i0 = tk[x] - kmin, i1 = i0 + 1;
    for (int c = 0; c < C; ++c) {
      float& o = out[c * vout + x];
      const float* Vc = V + static_cast<std::size_t>(c) * L;
      if (l0 && l1) o = w0 * Vc[i0] + w1 * Vc[i1];
      else if (l0) o = w0 * Vc[i0];
      else if (l1) o = w1 * Vc[i1];
      else o = P.fill;
    }
    if (dropout) {
      const int h0 = l0 ? vh[i0] : 0, h1 = l1 ? vh[i1] : 0;
      for (int k = 0; k < kMaxDropout; ++k) {
        if ((h0 >> k) & 1) H[k * Xo + x] += w0;
        if ((h1 >> k) & 1) H[k * Xo + x] += w1;
      }
      any_hole = any_hole || h0 || h1;
    }
  }
  if (A.mask && P.mask_channels > 0) {
    const float* fz = R.pz.data();
    const float* fy = R.py.data();
    const float* fx = R.px.data();
    for (int x = 0; x < Xo; ++x) {
      const float f = tf[x];
      const int near = f + kRoundUp >= 1.0f ? 1 : 0;
      const float wn = near ? 1.0f * f : 1.0f * (1.0f - f);
      if (!(wn > 0.0f)) {
        const float p[3] = {0.0f, 0.0f, 0.0f};
        gather_mask(P, A, S, b, row + x, vout, p, -1.0f, 0);
        continue;
      }
      const int i = tk[x] - kmin + near;
      const float p[3] = {fz[i], fy[i], fx[i]};
      gather_mask(P, A, S, b, row + x, vout, p, wn, vh[i]);
    }
  }
  return any_hole;
}

// Separable row: input axis `vary` follows output x (taps T.taps[vary][x]), the other two input
// axes keep the row's taps t[]. The (at most four) input lines along `vary` that the row reads are
// converted once into padded float lines (element 0 holds the fill, element 1 + i plane i); then
// the eight corner values of every voxel are plain indexed loads, combined with gather_taps'
// arithmetic in the same loop (augment_lines_lerp): the same values as gather_taps, voxel by voxel.
template <class TI, class TM>
void separable_row(const AugmentParams& P, const AugmentArgs<TI, TM>& A, std::int64_t b, float* out,
                   std::int64_t vout, const Taps t[3], int vary, const Separable& T, RowScratch& R) {
  const int Xo = P.out_shape[2];
  const std::int64_t vin = static_cast<std::int64_t>(P.in_shape[0]) * P.in_shape[1] * P.in_shape[2];
  const std::int64_t stride[3] = {static_cast<std::int64_t>(P.in_shape[1]) * P.in_shape[2], P.in_shape[2], 1};
  const int nv = P.in_shape[vary];
  const std::int64_t sv = stride[vary];
  const int f0 = vary == 0 ? 1 : 0, f1 = vary == 2 ? 1 : 2;  // the fixed axes
  const int* i0 = T.pidx0[vary].data();
  const int* i1 = T.pidx1[vary].data();
  // fixed corners (bit of f0, bit of f1) -> base offset; a tap whose weight is 0 loads the first
  // tap twice (prepare_separable), so equal bases share one line
  std::int64_t base[4];
  base[0] = t[f0].o0 + t[f1].o0; base[1] = t[f0].o0 + t[f1].o1;
  base[2] = t[f0].o1 + t[f1].o0; base[3] = t[f0].o1 + t[f1].o1;
  int line_of[4];
  int nlines = 0;
  for (int f = 0; f < 4; ++f) {
    line_of[f] = -1;
    for (int g = 0; g < f; ++g)
      if (base[g] == base[f] || (base[g] < 0 && base[f] < 0)) { line_of[f] = line_of[g]; break; }
    if (line_of[f] < 0) line_of[f] = nlines++;
  }
  R.lines.resize(static_cast<std::size_t>(4) * (nv + 1));
  const bool exact = t[f0].w1 == 0.0f && t[f1].w1 == 0.0f && T.exact[vary];
  float* w[3] = {R.wz.data(), R.wy.data(), R.wx.data()};
  if (!exact) {
    for (int r = 0; r < 3; ++r) {
      if (r == vary) {
        const Taps* tv = T.taps[vary].data();
        for (int x = 0; x < Xo; ++x) w[r][x] = tv[x].w1;
      } else {
        for (int x = 0; x < Xo; ++x) w[r][x] = t[r].w1;
      }
    }
  }
  for (int c = 0; c < P.channels; ++c) {
    const TI* img = A.image + (b * P.channels + c) * vin;
    if (exact && T.run[vary] != 0 && base[0] >= 0) {  // consecutive planes: a (reversed) copy
      const TI* src = img + base[0] + T.start[vary] * sv;
      float* oc = out + c * vout;
      if (T.run[vary] > 0) {
        if (sv == 1) {
          for (int x = 0; x < Xo; ++x) oc[x] = to_float(src[x]);
        } else {
          for (int x = 0; x < Xo; ++x) oc[x] = to_float(src[x * sv]);
        }
      } else {
        if (sv == 1) {
          for (int x = 0; x < Xo; ++x) oc[x] = to_float(src[-x]);
        } else {
          for (int x = 0; x < Xo; ++x) oc[x] = to_float(src[-x * sv]);
        }
      }
      continue;
    }
    float* L[4];
    int built = 0;
    for (int f = 0; f < 4; ++f) {
      L[f] = R.lines.data() + static_cast<std::size_t>(line_of[f]) * (nv + 1);
      if (line_of[f] < built) continue;
      built = line_of[f] + 1;
      float* l = L[f];
      l[0] = P.fill;
      if (base[f] < 0) {
        for (int i = 0; i < nv; ++i) l[1 + i] = P.fill;
      } else {
        const TI* src = img + base[f];
        if (sv == 1) {
          for (int i = 0; i < nv; ++i) l[1 + i] = to_float(src[i]);
        } else {
          for (int i = 0; i < nv; ++i) l[1 + i] = to_float(src[i * sv]);
        }
      }
      if (exact) break;  // only corner 0 is read
    }
    float* oc = out + c * vout;
    if (exact) {  // every voxel on a voxel centre (flips, rot90, crops, identity): a copy
      const float* l = L[0];
      for (int x = 0; x < Xo; ++x) oc[x] = l[i0[x]];
      continue;
    }
    const float* lk[8];
    const int* ik[8];
    for (int k = 0; k < 8; ++k) {
      const int bit[3] = {(k >> 2) & 1, (k >> 1) & 1, k & 1};  // corner k's (z, y, x) tap
      lk[k] = L[bit[f0] * 2 + bit[f1]];
      ik[k] = bit[vary] ? i1 : i0;
    }
    augment_lines_lerp(lk, ik, w[0], w[1], w[2], oc, Xo);
  }
}

template <class TI, class TM>
void augment_row(const AugmentParams& P, const AugmentArgs<TI, TM>& A, std::int64_t b, int z, int y, int s_plane,
                 float* H /* [kMaxDropout, Xo] scratch */, Separable& T, RowScratch& R) {
  using namespace aug;
  const int Zo = P.out_shape[0], Yo = P.out_shape[1], Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(Zo) * Yo * Xo;
  const std::int64_t row = (static_cast<std::int64_t>(z) * Yo + y) * Xo;
  const AugSample S = decode_sample(P, A, b);
  bool any_hole = false;
  R.resize(Xo);
  const bool chain = affine_dropout_chain(S);
  if (chain && T.b != b) prepare_separable(P, A, S, b, T);
  if (chain && T.ok) {
    const int zyx[3] = {z, y, 0};
    int vary = 0;
    Taps t[3];
    std::int64_t nb = 0;
    for (int r = 0; r < 3; ++r) {
      if (T.src[r] == 2) { vary = r; continue; }
      t[r] = T.taps[r][zyx[T.src[r]]];
      const std::int64_t n = T.nearest[r][zyx[T.src[r]]];
      nb = (nb < 0 || n < 0) ? -1 : nb + n;
    }
    separable_row(P, A, b, A.out + b * P.channels * vout + row, vout, t, vary, T, R);
    if (A.mask && P.mask_channels > 0) {
      const std::int64_t* nx = T.nearest[vary].data();
      for (int x = 0; x < Xo; ++x)
        gather_mask_at(P, A, b, row + x, vout, (nb < 0 || nx[x] < 0) ? -1 : nb + nx[x]);
    }
    if (T.dropouts) {  // hole weights from the per-axis tables (gather_mask's fills for the mask)
      int* holes = R.holes.data();
      for (int x = 0; x < Xo; ++x) holes[x] = 0;
      for (int k = 0; k < kMaxDropout; ++k) {
        if (!((T.dropouts >> k) & 1)) continue;
        float* h = H + k * Xo;
        const bool row_in = T.hole[k][0][z] && T.hole[k][1][y];
        const unsigned char* hx = T.hole[k][2].data();
        for (int x = 0; x < Xo; ++x) {
          const bool in = row_in && hx[x];
          h[x] = in ? 1.0f : 0.0f;
          holes[x] |= in ? 1 << k : 0;
        }
        any_hole = any_hole || row_in;
      }
      if (A.mask && P.mask_channels > 0 && any_hole) {
        TM* mo = A.mask_out + b * P.mask_channels * vout + row;
        for (int x = 0; x < Xo; ++x) {
          TM fillv = TM(0);
          if (!dropout_mask_fill(S, holes[x], fillv)) continue;
          for (int c = 0; c < P.mask_channels; ++c) mo[c * vout + x] = fillv;
        }
      }
    }
  } else if (S.simple) {
    // Structure of arrays over the row: the coordinates and taps of the axes that vary along
    // the row in tight loops, then the gather. The row part of the affine, M_r0 z + M_r1 y, is the
    // same float for every x, and an axis that does not vary has the same taps along the row.
    const float* st = S.affine;  // non-separable, so never null here
    const float fz = static_cast<float>(z), fy = static_cast<float>(y);
    Taps t[3];
    bool varies[3];
    for (int k = 0; k < 3; ++k) {
      const float rk = st[1 + 4 * k] * fz + st[2 + 4 * k] * fy;
      const float mk = st[3 + 4 * k], tk = st[4 + 4 * k];
      varies[k] = mk != 0.0f;
      if (!varies[k]) {
        float p[3] = {0.0f, 0.0f, 0.0f};
        p[k] = rk + mk * 0.0f + tk;
        t[k] = axis_taps(P, S, p, k);
        continue;
      }
      float* u = R.val.data();
      for (int x = 0; x < Xo; ++x) u[x] = rk + mk * static_cast<float>(x) + tk;
      augment_taps_line(u, S.nv[k], P.border, S.ftab[k], R.j0[k].data(), R.j1[k].data(), R.w1[k].data(),
                        R.outside[k].data(), Xo);
    }
    float* out = A.out + b * P.channels * vout + row;
    const std::int64_t vin = static_cast<std::int64_t>(P.in_shape[0]) * P.in_shape[1] * P.in_shape[2];
    for (int c = 0; c < P.channels; ++c)
      gather_row(P, A.image + (b * P.channels + c) * vin, varies, t, R, Xo, out + c * vout);
    if (A.mask && P.mask_channels > 0) {
      for (int x = 0; x < Xo; ++x) {
        float p[3];
        for (int k = 0; k < 3; ++k) p[k] = st[1 + 4 * k] * fz + st[2 + 4 * k] * fy + st[3 + 4 * k] * static_cast<float>(x) + st[4 + 4 * k];
        gather_mask(P, A, S, b, row + x, vout, p, 1.0f, 0);
      }
    }
  } else if (s_plane >= 0 && (s_plane & 3) == 2) {
    any_hole = row_table_x(P, A, S, b, z, y, s_plane >> 2, H, R);
  } else if (s_plane >= 0) {
    any_hole = row_plane_branch(P, A, S, b, z, y, s_plane >> 2, s_plane & 3, H, R);
  } else {
    any_hole = row_generic(P, A, S, b, z, y, H, R);
  }
  if (S.n_epi > 0) augment_epilogue_row(P, A.stats, S, b, row, A.out + b * P.channels * vout + row, H, any_hole);
}

struct CpuRun {
  const AugmentParams& P;
  const AugmentBuffers& buf;
  template <class TI, class TM> void operator()() const {
    const AugmentArgs<TI, TM> A = augment_args<TI, TM>(buf);
    const int Zo = P.out_shape[0], Yo = P.out_shape[1], Xo = P.out_shape[2];
    const std::int64_t rows = P.batch * Zo * Yo;
    // plane_branch_stage of each sample; rows of those whose table follows output z run with z
    // fastest (row_plane_branch keeps branch rows for the next z)
    std::vector<int> s_plane(static_cast<std::size_t>(P.batch));
    for (std::int64_t b = 0; b < P.batch; ++b) s_plane[b] = plane_branch_stage(decode_sample(P, A, b));
#pragma omp parallel
    {
      std::vector<float> H(static_cast<std::size_t>(aug::kMaxDropout) * Xo);
      Separable T;
      RowScratch R;
#pragma omp for schedule(static)
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t b = r / (static_cast<std::int64_t>(Zo) * Yo);
        const int zy = static_cast<int>(r - b * Zo * Yo);
        const int sp = s_plane[b];
        const bool zfast = sp >= 0 && (sp & 3) == 0;
        const int z = zfast ? zy % Zo : zy / Yo;
        const int y = zfast ? zy / Zo : zy - z * Yo;
        augment_row<TI, TM>(P, A, b, z, y, sp, H.data(), T, R);
      }
    }
  }
};

}  // namespace

void augment_resample_cpu(const AugmentParams& P, ImageType image_type, MaskType mask_type,
                          const AugmentBuffers& buf) {
  augment_check(P, image_type, mask_type, buf);
  const std::int64_t B = P.batch;
  const int Zo = P.out_shape[0], Yo = P.out_shape[1], Xo = P.out_shape[2];
  if (B <= 0 || static_cast<std::int64_t>(Zo) * Yo * Xo == 0) return;
  dispatch_augment_types(image_type, mask_type, CpuRun{P, buf});
}

}  // namespace bbb
