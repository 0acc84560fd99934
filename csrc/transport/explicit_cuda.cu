#include "bbbcore/check.h"
#include "transport/explicit.h"

namespace bbb {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void explicit_kernel(TransportParamsT<T> P, const T* src, T* dst, const std::uint8_t* label,
                                const T* G, const std::uint8_t* mem, const T* fixed_values, int s) {
  const std::int64_t Y = P.shape[1], X = P.shape[2];
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * Y * X;
  const T fixed = fixed_values[s];
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int x = static_cast<int>(i % X);
    const std::int64_t zy = i / X;
    dst[i] = transport_explicit_cell(P, src, label, G, mem, fixed, static_cast<int>(zy / Y),
                                     static_cast<int>(zy % Y), x);
  }
}

template <typename T>
__global__ void adi_lines_kernel(TransportParamsT<T> P, const T* u, T* y, const std::uint8_t* label,
                                 const T* G, const std::uint8_t* mem, T* scratch, int a, std::int64_t lines, T theta_dt,
                                 const T* fixed_values, int s) {
  const T fixed = fixed_values[s];
  const int len = P.shape[a];
  for (std::int64_t line = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; line < lines;
       line += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    std::int64_t base, stride;
    int n;
    adi_line_geometry(P.shape, a, line, base, n, stride);
    T* cp = scratch + 2 * line * len;
    adi_line(P, u, y, label, G, mem, a, base, n, stride, theta_dt, fixed, cp, cp + len);
  }
}

unsigned grid_for(std::int64_t work) {
  std::int64_t g = (work + kThreads - 1) / kThreads;
  if (g > 65535LL * 64) g = 65535LL * 64;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

}  // namespace

template <typename T>
void transport_adi_cuda(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, T* line_scratch, int steps,
                        T theta, cudaStream_t stream) {
  BBB_CHECK(steps >= 0, "transport_adi", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  T* u = buf.c;
  T* y = buf.scratch;
  const std::int64_t lines[3] = {static_cast<std::int64_t>(P.shape[1]) * P.shape[2],
                                 static_cast<std::int64_t>(P.shape[0]) * P.shape[2],
                                 static_cast<std::int64_t>(P.shape[0]) * P.shape[1]};
  for (int s = 0; s < steps; ++s) {
    explicit_kernel<<<grid_for(n), kThreads, 0, stream>>>(P, u, y, buf.label, buf.G, buf.mem, buf.fixed_values, s);
    BBB_CUDA_CHECK(cudaGetLastError(), "transport_adi");
    for (int a = 0; a < 3; ++a) {
      adi_lines_kernel<<<grid_for(lines[a]), kThreads, 0, stream>>>(P, u, y, buf.label, buf.G, buf.mem, line_scratch, a,
                                                                      lines[a], theta * P.dt_s, buf.fixed_values, s);
      BBB_CUDA_CHECK(cudaGetLastError(), "transport_adi");
    }
    T* t = u; u = y; y = t;
  }
  if (u != buf.c)
    BBB_CUDA_CHECK(cudaMemcpyAsync(buf.c, u, static_cast<std::size_t>(n) * sizeof(T),
                                   cudaMemcpyDeviceToDevice, stream), "transport_adi");
}

template <typename T>
void transport_explicit_cuda(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, int steps,
                             cudaStream_t stream) {
  BBB_CHECK(steps >= 0, "transport_explicit", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  std::int64_t g = (n + kThreads - 1) / kThreads;
  if (g > 65535LL * 64) g = 65535LL * 64;
  T* src = buf.c;
  T* dst = buf.scratch;
  for (int s = 0; s < steps; ++s) {
    explicit_kernel<<<static_cast<unsigned>(g), kThreads, 0, stream>>>(P, src, dst, buf.label, buf.G,
                                                                         buf.mem, buf.fixed_values, s);
    BBB_CUDA_CHECK(cudaGetLastError(), "transport_explicit");
    T* t = src; src = dst; dst = t;
  }
  if (src != buf.c)
    BBB_CUDA_CHECK(cudaMemcpyAsync(buf.c, src, static_cast<std::size_t>(n) * sizeof(T),
                                   cudaMemcpyDeviceToDevice, stream), "transport_explicit");
}

template void transport_explicit_cuda<float>(const TransportParams&, const TransportBuffers&, int, cudaStream_t);
template void transport_explicit_cuda<double>(const TransportParams64&, const TransportBuffersT<double>&, int,
                                              cudaStream_t);
template void transport_adi_cuda<float>(const TransportParams&, const TransportBuffers&, float*, int, float,
                                        cudaStream_t);
template void transport_adi_cuda<double>(const TransportParams64&, const TransportBuffersT<double>&, double*, int,
                                         double, cudaStream_t);

}  // namespace bbb
