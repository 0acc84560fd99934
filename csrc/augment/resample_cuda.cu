#include "augment/resample.h"

#include "bbbcore/check.h"

namespace bbb {
namespace {

constexpr int kThreads = 128;

// One thread per output voxel of the batch; every channel and the mask in that thread.
template <class TI, class TM>
__global__ void augment_kernel(AugmentParams P, AugmentArgs<TI, TM> A, std::int64_t vout) {
  const std::int64_t total = P.batch * vout;
  const int Yo = P.out_shape[1], Xo = P.out_shape[2];
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / vout;
    const std::int64_t v = i - b * vout;
    const int x = static_cast<int>(v % Xo);
    const std::int64_t zy = v / Xo;
    const int y = static_cast<int>(zy % Yo), z = static_cast<int>(zy / Yo);
    augment_voxel<TI, TM>(P, A, decode_sample(P, A, b), b, z, y, x);
  }
}

unsigned grid_for(std::int64_t work, int threads) {
  std::int64_t g = (work + threads - 1) / threads;
  if (g > 65535LL * 64) g = 65535LL * 64;
  return static_cast<unsigned>(g);
}

struct CudaRun {
  const AugmentParams& P;
  const AugmentBuffers& buf;
  std::int64_t vout;
  cudaStream_t stream;
  template <class TI, class TM> void operator()() const {
    augment_kernel<TI, TM><<<grid_for(P.batch * vout, kThreads), kThreads, 0, stream>>>(
        P, augment_args<TI, TM>(buf), vout);
  }
};

}  // namespace

void augment_resample_cuda(const AugmentParams& P, ImageType image_type, MaskType mask_type,
                           const AugmentBuffers& buf, cudaStream_t stream) {
  augment_check(P, image_type, mask_type, buf);
  const std::int64_t vout = static_cast<std::int64_t>(P.out_shape[0]) * P.out_shape[1] * P.out_shape[2];
  if (P.batch <= 0 || vout == 0) return;
  dispatch_augment_types(image_type, mask_type, CudaRun{P, buf, vout, stream});
  BBB_CUDA_CHECK(cudaGetLastError(), "augment_resample");
}

}  // namespace bbb
