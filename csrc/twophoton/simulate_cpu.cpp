#include "bbbcore/check.h"
#include "twophoton/simulate.h"

namespace bbb {

void simulate_2pm_cpu(const Sim2pmParams& P, const Sim2pmInputs& in, const Sim2pmOutputs& out) {
  const std::int64_t B = P.batch;
  if (B <= 0) return;
  const std::int64_t pixels = static_cast<std::int64_t>(P.scan.frames) * P.scan.rows * P.scan.cols;
  if (pixels <= 0) return;
  BBB_CHECK(pixels < (std::int64_t(1) << 32), "simulate_2pm", "frames*rows*cols must be < 2^32, got " << pixels);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t b = 0; b < B; ++b) {
    float* movie = out.movies + b * pixels;
    for (std::int64_t i = 0; i < pixels; ++i) movie[i] = P.background;
    simulate_2pm_movie(P, in, out, b);
    // padded particle slots keep their initial position in the trajectories
    if (out.trajectories_um) {
      for (std::int64_t p = in.n_particles[b]; p < P.n_max; ++p) hold_padded_trajectory(P, in, out, b, p);
    }
    if (P.shot_noise || P.read_sigma > 0.0f) {
      for (std::int64_t i = 0; i < pixels; ++i)
        movie[i] = noisy_pixel(P, b, static_cast<std::uint32_t>(i), movie[i]);
    }
  }
}

}  // namespace bbb
