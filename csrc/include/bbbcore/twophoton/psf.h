// 3D Gaussian point-spread function of a two-photon microscope (paper eq. 1):
//   I(dx, dy, z) = amplitude * exp(-(dx^2 + dy^2) / (2 sxy^2) - z^2 / (2 sz^2))
// The normalisation (3D: I_qd / sqrt(8 pi^3 sxy^4 sz^2), or the public code's 2D one) is folded
// into `amplitude` by the Python layer.
#pragma once
#include "bbbcore/fmath.h"

namespace bbb {

struct GaussianPSF {
  float amplitude;          // expected photon count at the PSF centre
  float inv_2sxy2;          // 1 / (2 sigma_xy^2)  [um^-2]
  float inv_2sz2;           // 1 / (2 sigma_z^2)   [um^-2]

  BBB_HD static GaussianPSF make(float amplitude, float sigma_xy_um, float sigma_z_um) {
    GaussianPSF g;
    g.amplitude = amplitude;
    g.inv_2sxy2 = 1.0f / (2.0f * sigma_xy_um * sigma_xy_um);
    g.inv_2sz2 = 1.0f / (2.0f * sigma_z_um * sigma_z_um);
    return g;
  }
  BBB_HD float exponent(float dx, float dy, float dz) const {
    return (dx * dx + dy * dy) * inv_2sxy2 + dz * dz * inv_2sz2;
  }
  BBB_HD float operator()(float dx, float dy, float dz) const {
    return amplitude * exp_f(-exponent(dx, dy, dz));
  }
};

}  // namespace bbb
