// Launchers of bbbcore::simulate_2pm: fused 3D random walk + pixel-timed PSF rendering + detector
// noise for a batch of two-photon movies. Parameters: bbb::Sim2pmParams (bbbcore/twophoton/movie.h).
#pragma once
#include "bbbcore/twophoton/movie.h"
#include "core/random.h"  // cudaStream_t

namespace bbb {

struct Sim2pmInputs {
  const float* pos0_um;        // [B, N, 3] initial (z, y, x) at t0
  const std::int32_t* n_particles;  // [B] particles used per movie (<= N)
  const float* diffusivity_um2_s;   // [B, 3] per-axis D
  const float* drift_um_s;     // [B, 3]
  const float* sigma_um;       // [B, 2] (sigma_xy, sigma_z) of each movie's PSF
  const float* amplitude;      // [B, N] PSF peak counts per particle
  const double* bleach_s;      // [B, N] bleaching time after t0 (inf: never)
};

struct Sim2pmOutputs {
  float* movies;               // [B, T, R, C]
  float* trajectories_um;      // [B, N, T, 3] or null
};

void simulate_2pm_cpu(const Sim2pmParams& params, const Sim2pmInputs& in, const Sim2pmOutputs& out);
void simulate_2pm_cuda(const Sim2pmParams& params, const Sim2pmInputs& in, const Sim2pmOutputs& out,
                       cudaStream_t stream);

// Shared per-movie driver: background, then particles in index order (the summation order of
// every pixel is the particle order, on either device).
BBB_HD void simulate_2pm_movie(const Sim2pmParams& P, const Sim2pmInputs& in, const Sim2pmOutputs& out,
                               std::int64_t b) {
  const std::int64_t T = P.scan.frames, R = P.scan.rows, C = P.scan.cols, N = P.n_max;
  float* movie = out.movies + b * T * R * C;
  const int n = in.n_particles[b];
  for (int p = 0; p < n; ++p) {
    const std::int64_t bp = b * N + p;
    float* traj = out.trajectories_um ? out.trajectories_um + bp * T * 3 : nullptr;
    walk_render_particle(P, b, p, in.pos0_um + 3 * bp, in.diffusivity_um2_s + 3 * b,
                         in.drift_um_s + 3 * b, in.sigma_um[2 * b], in.sigma_um[2 * b + 1],
                         in.amplitude[bp], in.bleach_s[bp], movie, traj);
  }
}

// Padded slot p >= n_particles[b] of a movie: the trajectory holds the initial position.
BBB_HD void hold_padded_trajectory(const Sim2pmParams& P, const Sim2pmInputs& in, const Sim2pmOutputs& out,
                                   std::int64_t b, std::int64_t p) {
  const std::int64_t bp = b * P.n_max + p;
  float* traj = out.trajectories_um + bp * P.scan.frames * 3;
  for (int f = 0; f < P.scan.frames; ++f)
    for (int a = 0; a < 3; ++a) traj[3 * f + a] = in.pos0_um[3 * bp + a];
}

}  // namespace bbb
