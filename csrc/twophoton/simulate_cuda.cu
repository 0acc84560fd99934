#include "bbbcore/check.h"
#include "twophoton/simulate.h"

namespace bbb {
namespace {

constexpr int kThreads = 256;
constexpr int kWalkThreads = 64;

__global__ void fill_kernel(float* movies, std::int64_t total, float value) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    movies[i] = value;
}

// One thread per movie: its particles are walked in index order, so every pixel sums the same
// contributions in the same order as the OpenMP path.
__global__ void walk_render_kernel(Sim2pmParams P, Sim2pmInputs in, Sim2pmOutputs out) {
  for (std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < P.batch;
       b += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    simulate_2pm_movie(P, in, out, b);
}

__global__ void pad_traj_kernel(Sim2pmParams P, Sim2pmInputs in, Sim2pmOutputs out) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // b*N + p
       i < P.batch * P.n_max; i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / P.n_max, p = i % P.n_max;
    if (p >= in.n_particles[b]) hold_padded_trajectory(P, in, out, b, p);
  }
}

__global__ void noise_kernel(Sim2pmParams P, float* movies, std::int64_t pixels) {
  const std::int64_t total = P.batch * pixels;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / pixels;
    movies[i] = noisy_pixel(P, b, static_cast<std::uint32_t>(i - b * pixels), movies[i]);
  }
}

unsigned grid_for(std::int64_t work, int threads) {
  std::int64_t g = (work + threads - 1) / threads;
  if (g > 65535LL * 32) g = 65535LL * 32;
  return static_cast<unsigned>(g);
}

}  // namespace

void simulate_2pm_cuda(const Sim2pmParams& P, const Sim2pmInputs& in, const Sim2pmOutputs& out,
                       cudaStream_t stream) {
  const std::int64_t B = P.batch;
  if (B <= 0) return;
  const std::int64_t pixels = static_cast<std::int64_t>(P.scan.frames) * P.scan.rows * P.scan.cols;
  if (pixels <= 0) return;
  BBB_CHECK(pixels < (std::int64_t(1) << 32), "simulate_2pm", "frames*rows*cols must be < 2^32, got " << pixels);
  fill_kernel<<<grid_for(B * pixels, kThreads), kThreads, 0, stream>>>(out.movies, B * pixels, P.background);
  BBB_CUDA_CHECK(cudaGetLastError(), "simulate_2pm");
  walk_render_kernel<<<grid_for(B, kWalkThreads), kWalkThreads, 0, stream>>>(P, in, out);
  BBB_CUDA_CHECK(cudaGetLastError(), "simulate_2pm");
  if (out.trajectories_um && P.n_max > 0) {
    pad_traj_kernel<<<grid_for(B * P.n_max, kThreads), kThreads, 0, stream>>>(P, in, out);
    BBB_CUDA_CHECK(cudaGetLastError(), "simulate_2pm");
  }
  if (P.shot_noise || P.read_sigma > 0.0f) {
    noise_kernel<<<grid_for(B * pixels, kThreads), kThreads, 0, stream>>>(P, out.movies, pixels);
    BBB_CUDA_CHECK(cudaGetLastError(), "simulate_2pm");
  }
}

}  // namespace bbb
