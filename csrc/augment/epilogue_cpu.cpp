// The CPU's vectorised row loops of bbbcore::augment_resample: the epilogue, one output row at a time and one op at a
// time over the row. Compiled with -fno-trapping-math (CMakeLists.txt) so the loops vectorise;
// every voxel gets the values of epilogue() in resample.h (the GPU's order and arithmetic).
#include <vector>

#include "augment/resample.h"

namespace bbb {

void augment_epilogue_row(const AugmentParams& P, const float* stats, const AugSample& S, std::int64_t b,
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
        for (std::uint32_t j = 0; j < nblk; ++j) augment_normal4(P.seed, b, e, c, first + j, z + 4 * j);
        const float* zr = z + (static_cast<std::uint32_t>(row) - 4 * first);
        for (int x = 0; x < Xo; ++x) v[x] = add_noise(v[x], mean, sd, zr[x]);
      }
    }
  }
}

void augment_lerp_lines(float* const v[8], const float* wz, const float* wy, const float* wx, float* out,
                        int n) {
  const float *v0 = v[0], *v1 = v[1], *v2 = v[2], *v3 = v[3], *v4 = v[4], *v5 = v[5], *v6 = v[6], *v7 = v[7];
  for (int i = 0; i < n; ++i)
    out[i] = trilerp(v0[i], v1[i], v2[i], v3[i], v4[i], v5[i], v6[i], v7[i], wz[i], wy[i], wx[i]);
}

}  // namespace bbb
