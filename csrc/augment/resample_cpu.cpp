#include "augment/resample.h"

#include "bbbcore/check.h"

namespace bbb {

namespace {

struct CpuRun {
  const AugmentParams& P;
  const AugmentBuffers& buf;
  template <class TI, class TM> void operator()() const {
    const AugmentArgs<TI, TM> A = augment_args<TI, TM>(buf);
    const int Zo = P.out_shape[0], Yo = P.out_shape[1], Xo = P.out_shape[2];
    const std::int64_t rows = P.batch * Zo * Yo;
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t b = r / (static_cast<std::int64_t>(Zo) * Yo);
      const int zy = static_cast<int>(r - b * Zo * Yo);
      const int z = zy / Yo, y = zy - z * Yo;
      const AugSample S = decode_sample(P, A, b);
      if (S.simple) {
        // The row part of the affine, M_r0 z + M_r1 y, is the same float for every x, and an
        // axis whose coordinate does not depend on x has the same taps along the row: both are
        // hoisted; every value stays bit-identical to augment_voxel's (and the GPU's).
        const std::int64_t vout = static_cast<std::int64_t>(Zo) * Yo * Xo;
        const std::int64_t row = (static_cast<std::int64_t>(z) * Yo + y) * Xo;
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
        for (int x = 0; x < Xo; ++x) augment_voxel<TI, TM>(P, A, S, b, z, y, x);
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
