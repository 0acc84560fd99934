#include "augment/resample.h"

#include <vector>

#include "bbbcore/check.h"

namespace bbb {

namespace {

// One output row (b, z, y, 0..Xo-1): the spatial part voxel by voxel, then the epilogue one op at
// a time over the row (tight loops the compiler can vectorise). Every value is computed by the
// same BBB_HD functions, in the same per-voxel order, as augment_voxel on the GPU.
template <class TI, class TM>
void augment_row(const AugmentParams& P, const AugmentArgs<TI, TM>& A, std::int64_t b, int z, int y,
                 float* H /* [kMaxDropout, Xo] scratch */) {
  using namespace aug;
  const int Zo = P.out_shape[0], Yo = P.out_shape[1], Xo = P.out_shape[2];
  const std::int64_t vout = static_cast<std::int64_t>(Zo) * Yo * Xo;
  const std::int64_t row = (static_cast<std::int64_t>(z) * Yo + y) * Xo;
  const AugSample S = decode_sample(P, A, b);
  bool any_hole = false;
  if (S.simple) {
    // The row part of the affine, M_r0 z + M_r1 y, is the same float for every x, and an axis
    // whose coordinate does not depend on x has the same taps along the row: both are hoisted.
    const float* st = S.affine;
    const float fz = static_cast<float>(z), fy = static_cast<float>(y);
    float rz[3];
    bool varies[3];
    for (int k = 0; k < 3; ++k) {
      rz[k] = st ? st[1 + 4 * k] * fz + st[2 + 4 * k] * fy : 0.0f;
      varies[k] = st ? st[3 + 4 * k] != 0.0f : k == 2;
    }
    float p[3];
    for (int k = 0; k < 3; ++k) p[k] = st ? rz[k] + st[3 + 4 * k] * 0.0f + st[4 + 4 * k] : (k == 0 ? fz : fy);
    if (!st) p[2] = 0.0f;
    Taps t[3];
    for (int k = 0; k < 3; ++k) t[k] = axis_taps(P, S, p, k);
    for (int x = 0; x < Xo; ++x) {
      const float fx = static_cast<float>(x);
      if (st) {
        for (int k = 0; k < 3; ++k) p[k] = rz[k] + st[3 + 4 * k] * fx + st[4 + 4 * k];
      } else {
        p[2] = fx;
      }
      for (int k = 0; k < 3; ++k)
        if (varies[k]) t[k] = axis_taps(P, S, p, k);
      augment_point_simple<TI, TM>(P, A, S, b, row + x, vout, p, t[0], t[1], t[2]);
    }
  } else {
    float h[kMaxDropout];
    ElasticColumns cache[1 << kMaxBranchStages];
    for (auto& cc : cache) {
      cc.stage = nullptr;
      cc.stamp = 0;
      for (int& tg : cc.tag) tg = -1;
    }
    for (int x = 0; x < Xo; ++x) {
      augment_voxel_spatial<TI, TM>(P, A, S, b, z, y, x, h, cache);
      for (int k = 0; k < kMaxDropout; ++k) {
        H[k * Xo + x] = h[k];
        any_hole = any_hole || h[k] > 0.0f;
      }
    }
  }
  if (S.n_epi == 0) return;
  const float* epi = epilogue_ops(S);
  for (int c = 0; c < P.channels; ++c) {
    float* v = A.out + (b * P.channels + c) * vout + row;
    const float lo = A.stats ? A.stats[(b * P.channels + c) * 2] : 0.0f;
    const float hi = A.stats ? A.stats[(b * P.channels + c) * 2 + 1] : 1.0f;
    for (int e = 0; e < S.n_epi; ++e) {
      const float* op = epi + e * kEpiLen;
      const int kind = static_cast<int>(op[0]);
      if (kind == kFill) {
        if (!any_hole) continue;
        const float* h = H + static_cast<int>(op[1]) * Xo;
        for (int x = 0; x < Xo; ++x)
          v[x] = epilogue_op(P, op, e, b, c, static_cast<std::uint32_t>(row + x), v[x], lo, hi, h[x]);
      } else if (kind == kGamma) {
        const float g = op[1];
        if (gamma_is_identity(g, lo, hi)) continue;
        const float range = hi - lo;
        for (int x = 0; x < Xo; ++x) v[x] = gamma_core(v[x], g, lo, range);
      } else if (kind == kNoise) {
        // one Philox block per four voxels of the volume (the same normals as augment_normal)
        const float scale = op[3] != 0.0f ? hi - lo : 1.0f;
        const float mean = op[2] * scale, sd = op[1] * scale;
        std::uint32_t block = 0xffffffffu;
        float zb[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int x = 0; x < Xo; ++x) {
          const std::uint32_t vox = static_cast<std::uint32_t>(row + x);
          if ((vox >> 2) != block) {
            block = vox >> 2;
            augment_normal4(P.seed, b, e, c, block, zb);
          }
          v[x] = v[x] + (mean + sd * zb[vox & 3u]);
        }
      }
    }
  }
}

struct CpuRun {
  const AugmentParams& P;
  const AugmentBuffers& buf;
  template <class TI, class TM> void operator()() const {
    const AugmentArgs<TI, TM> A = augment_args<TI, TM>(buf);
    const int Zo = P.out_shape[0], Yo = P.out_shape[1], Xo = P.out_shape[2];
    const std::int64_t rows = P.batch * Zo * Yo;
#pragma omp parallel
    {
      std::vector<float> H(static_cast<std::size_t>(aug::kMaxDropout) * Xo);
#pragma omp for schedule(static)
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t b = r / (static_cast<std::int64_t>(Zo) * Yo);
        const int zy = static_cast<int>(r - b * Zo * Yo);
        const int z = zy / Yo, y = zy - z * Yo;
        augment_row<TI, TM>(P, A, b, z, y, H.data());
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
