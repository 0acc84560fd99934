// Launchers of the random-number ops (Philox4x32-10 blocks and standard normals).
#pragma once
#include <cstdint>

#if defined(BBBCORE_WITH_CUDA) || defined(__CUDACC__)
#include <cuda_runtime_api.h>
#else
typedef struct CUstream_st* cudaStream_t;
#endif

namespace bbb {

// out[i] = philox4x32_10(ctr[i], key[i]) for i < n.
void philox4x32_cpu(const std::uint32_t* ctr /* [n, 4] */, const std::uint32_t* key /* [n, 2] */,
                    std::uint32_t* out /* [n, 4] */, std::int64_t n);
void philox4x32_cuda(const std::uint32_t* ctr, const std::uint32_t* key, std::uint32_t* out,
                     std::int64_t n, cudaStream_t stream);

// out[i] = i-th standard normal of (seed, stream): block i/4 at counter (i/4, 0, stream).
void normal_fill_cpu(std::uint64_t seed, std::uint64_t stream, float* out /* [n] */, std::int64_t n);
void normal_fill_cuda(std::uint64_t seed, std::uint64_t stream, float* out, std::int64_t n,
                      cudaStream_t cuda_stream);

// out[i] = Poisson(lam[i]) drawn at counter (i, 0x80000000 + try, stream).
void poisson_fill_cpu(std::uint64_t seed, std::uint64_t stream, const float* lam /* [n] */,
                      float* out /* [n] */, std::int64_t n);
void poisson_fill_cuda(std::uint64_t seed, std::uint64_t stream, const float* lam, float* out,
                       std::int64_t n, cudaStream_t cuda_stream);

}  // namespace bbb
