#include "bbbcore/check.h"
#include "core/random.h"
#include "core/random_elem.h"

namespace bbb {
namespace {

constexpr int kThreads = 256;

__global__ void philox_kernel(const std::uint32_t* ctr, const std::uint32_t* key, std::uint32_t* out,
                              std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) philox4x32_elem(ctr, key, out, i);
}

__global__ void normal_kernel(std::uint64_t seed, std::uint64_t stream, float* out, std::int64_t n) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (4 * b < n) normal_block(seed, stream, out, n, b);
}

__global__ void poisson_kernel(std::uint64_t seed, std::uint64_t stream, const float* lam, float* out,
                               std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) poisson_elem(seed, stream, lam, out, i);
}

unsigned grid_for(std::int64_t work) {
  return static_cast<unsigned>((work + kThreads - 1) / kThreads);
}

}  // namespace

void philox4x32_cuda(const std::uint32_t* ctr, const std::uint32_t* key, std::uint32_t* out,
                     std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  philox_kernel<<<grid_for(n), kThreads, 0, stream>>>(ctr, key, out, n);
  BBB_CUDA_CHECK(cudaGetLastError(), "philox4x32");
}

void normal_fill_cuda(std::uint64_t seed, std::uint64_t stream, float* out, std::int64_t n,
                      cudaStream_t cuda_stream) {
  if (n <= 0) return;
  normal_kernel<<<grid_for((n + 3) / 4), kThreads, 0, cuda_stream>>>(seed, stream, out, n);
  BBB_CUDA_CHECK(cudaGetLastError(), "random_normal");
}

void poisson_fill_cuda(std::uint64_t seed, std::uint64_t stream, const float* lam, float* out,
                       std::int64_t n, cudaStream_t cuda_stream) {
  if (n <= 0) return;
  poisson_kernel<<<grid_for(n), kThreads, 0, cuda_stream>>>(seed, stream, lam, out, n);
  BBB_CUDA_CHECK(cudaGetLastError(), "random_poisson");
}

}  // namespace bbb
