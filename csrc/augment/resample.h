// Launchers of bbbcore::augment_resample: the fused spatial chain + intensity epilogue for a batch
// of volumes (maths: bbbcore/augment/resample.h). Image and mask element types are erased here and
// dispatched in the launchers.
#pragma once
#include <vector>

#include "bbbcore/augment/resample.h"
#include "bbbcore/check.h"
#include "core/random.h"  // cudaStream_t

namespace bbb {

enum class ImageType : int { kFloat32 = 0, kUInt8 = 1, kUInt16 = 2 };
enum class MaskType : int { kNone = 0, kUInt8 = 1, kInt32 = 2, kInt64 = 3, kFloat32 = 4 };

struct AugmentBuffers {
  const void* image;            // [B, C, Zi, Yi, Xi] of ImageType
  const void* mask;             // [B, Cm, Zi, Yi, Xi] of MaskType, or null
  const float* program;         // [B, aug::kProgLen]
  const std::int32_t* tables;   // [B, table_len]
  const float* ctrl;            // [B, ctrl_len]
  const float* stats;           // [B, C, 2] or null
  float* out;                   // [B, C, Zo, Yo, Xo]
  void* mask_out;               // [B, Cm, Zo, Yo, Xo] of MaskType, or null
};

void augment_resample_cpu(const AugmentParams& P, ImageType image_type, MaskType mask_type,
                          const AugmentBuffers& buf);
void augment_resample_cuda(const AugmentParams& P, ImageType image_type, MaskType mask_type,
                           const AugmentBuffers& buf, cudaStream_t stream);

// CPU: the epilogue of one output row, one op at a time over the row (vectorised loops; the same
// per-voxel values as epilogue()). out: the row of channel 0; H: [kMaxDropout, Xo] hole weights.
void augment_epilogue_row(const AugmentParams& P, const float* stats, const AugSample& S, std::int64_t b,
                          std::int64_t row, float* out, const float* H, bool any_hole);

// CPU: trilinear samples of one image channel along a row, gather_taps' values: per input axis a
// (z, y, x) the physical plane indices j0[a][x], j1[a][x] of the two taps (clamped into the volume)
// and the weight w1[a][x] of the second; the element offset of a corner is jz sz + jy sy + jx.
// outside[x] != 0: every corner takes the fill. plane: the z weight is 0 along the whole row (only
// the z0 corners are read: bilerp).
void augment_gather_row(const float* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                        const int* const j1[3], const float* const w1[3], const unsigned char* outside,
                        float fill, bool plane, float* dst, int n);
void augment_gather_row(const std::uint8_t* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                        const int* const j1[3], const float* const w1[3], const unsigned char* outside,
                        float fill, bool plane, float* dst, int n);
void augment_gather_row(const std::uint16_t* img, std::int64_t sz, std::int64_t sy, const int* const j0[3],
                        const int* const j1[3], const float* const w1[3], const unsigned char* outside,
                        float fill, bool plane, float* dst, int n);

// CPU: out[x] = trilerp of the corners v_k = L[k][I[k][x]] (gather_taps' order) and the weights.
void augment_lines_lerp(const float* const L[8], const int* const I[8], const float* wz, const float* wy,
                        const float* wx, float* out, int n);

// CPU: AFFINE stage st (affine_apply) over a row of coordinates p[axis][0..count).
void augment_affine_row(const float* st, float* const p[3], int count);

// CPU: taps_index over a line of coordinates u[0..count) along a virtual axis of n planes (border
// aug::Border), the virtual indices mapped through `tab` when given (the axis' final table).
void augment_taps_line(const float* u, int n, int border, const std::int32_t* tab, int* j0, int* j1,
                       float* w1, unsigned char* outside, int count);

// CPU: ELASTIC stage s (program floats) over a row of coordinates p[axis][0..count) whose axes
// o0 and o1 (s[8], s[9]) hold one value along the row: every reduced column along o2 once, then
// the displacement voxel by voxel, added to p (elastic_displacement's values). Returns false,
// touching nothing, when o0 or o1 varies along the row.
bool augment_elastic_row(const float* s, const float* ctrl, float* const p[3], int count,
                         std::vector<float>& columns);

// CPU: DROPOUT stage st over a row of coordinates p[axis][0..count): sets the stage's hole bit in
// holes[x] where dropout_hole holds and the branch weight w[x] > 0.
void augment_dropout_row(const float* st, const float* const p[3], const float* w, int* holes, int count);

// Shared argument checks of both launchers (throws std::invalid_argument).
inline void augment_check(const AugmentParams& P, ImageType image_type, MaskType mask_type,
                   const AugmentBuffers& buf) {
  const char* op = "augment_resample";
  BBB_CHECK(P.channels >= 1, op, "channels must be >= 1, got " << P.channels);
  BBB_CHECK(P.mask_channels >= 0, op, "mask_channels must be >= 0, got " << P.mask_channels);
  BBB_CHECK((mask_type == MaskType::kNone) == (P.mask_channels == 0 || buf.mask == nullptr), op,
            "a mask needs a mask type and mask_channels >= 1");
  for (int a = 0; a < 3; ++a) {
    BBB_CHECK(P.in_shape[a] >= 1, op, "input sizes must be >= 1, got " << P.in_shape[a]);
    BBB_CHECK(P.out_shape[a] >= 0, op, "output sizes must be >= 0, got " << P.out_shape[a]);
  }
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * P.out_shape[1] * P.out_shape[2];
  BBB_CHECK(vout < (std::int64_t(1) << 32), op, "output voxels per volume must be < 2^32, got " << vout);
  BBB_CHECK(P.border >= 0 && P.border <= 2, op, "border must be 0, 1 or 2, got " << P.border);
  BBB_CHECK(static_cast<int>(image_type) >= 0 && static_cast<int>(image_type) <= 2, op,
            "unknown image type " << static_cast<int>(image_type));
  BBB_CHECK(static_cast<int>(mask_type) >= 0 && static_cast<int>(mask_type) <= 4, op,
            "unknown mask type " << static_cast<int>(mask_type));
}

template <class TI, class TM>
AugmentArgs<TI, TM> augment_args(const AugmentBuffers& buf) {
  return AugmentArgs<TI, TM>{static_cast<const TI*>(buf.image), static_cast<const TM*>(buf.mask),
                             buf.program, buf.tables, buf.ctrl, buf.stats, buf.out,
                             static_cast<TM*>(buf.mask_out)};
}

// Calls f.template operator()<TI, TM>() for the runtime element types (C++17: f is a struct).
template <class F>
void dispatch_augment_types(ImageType it, MaskType mt, F&& f) {
  auto with_mask = [&](auto ti) {
    using TI = decltype(ti);
    switch (mt) {
      case MaskType::kNone:
      case MaskType::kUInt8: f.template operator()<TI, std::uint8_t>(); break;
      case MaskType::kInt32: f.template operator()<TI, std::int32_t>(); break;
      case MaskType::kInt64: f.template operator()<TI, std::int64_t>(); break;
      case MaskType::kFloat32: f.template operator()<TI, float>(); break;
    }
  };  // generic lambda (C++14), called with a value of the image type
  switch (it) {
    case ImageType::kFloat32: with_mask(float{}); break;
    case ImageType::kUInt8: with_mask(std::uint8_t{}); break;
    case ImageType::kUInt16: with_mask(std::uint16_t{}); break;
  }
}

}  // namespace bbb
