// Fused random walk + pixel-timed rendering of one particle into one movie, and the per-pixel
// detector noise. Shared verbatim by the OpenMP and the CUDA launchers.
//
// Exactness. A particle's position is drawn at every pixel time at which its PSF can add at least
// `render_tol` expected counts to the scanned pixel, and at every frame's first pixel time. Between
// two drawn times the walk takes one Gaussian step with the variance of the whole interval, which
// is the exact Brownian transition (with drift, and in a periodic box: wrapping the end point of a
// free step is exact; folding it into a reflecting box is exact for pure diffusion only, so the
// Python layer refuses drift with a reflecting box). A line, or the part of a
// line away from the particle, is skipped when the particle cannot reach it: the bound uses its
// distance minus kExcursionSigmas standard deviations of the displacement (plus drift) until the
// end of the line, so the chance that a skipped pixel would have received more than render_tol
// is below 4 * Phi(-6) ~ 4e-9 per decision. render_tol = 0 draws every pixel time.
#pragma once
#include "bbbcore/random.h"
#include "bbbcore/twophoton/psf.h"
#include "bbbcore/twophoton/scan_timing.h"

namespace bbb {

enum Boundary : int { kBoundaryFree = 0, kBoundaryPeriodic = 1, kBoundaryReflecting = 2 };

constexpr float kExcursionSigmas = 6.0f;
constexpr std::uint32_t kNoiseSub = 0x80000000u;   // sub-stream ids >= this are detector noise

struct Sim2pmParams {
  std::int64_t batch;         // B movies
  std::int64_t n_max;         // N particle slots per movie (padded)
  ScanTiming scan;            // frames, rows, cols, dwell, retraces, bidirectional
  float pixel_size_um;        // pixel (r, c) is centred at (y, x) = (r, c) * pixel_size_um
  float box_lo_um[3];         // (z, y, x) box used by the boundary
  float box_hi_um[3];
  int boundary;               // Boundary
  float background;           // expected counts per pixel without particles
  float read_sigma;           // Gaussian read noise SD [counts]
  int shot_noise;             // 1: Poisson(expected), 0: expected value
  float render_tol;           // skip PSF contributions below this [expected counts]
  std::uint64_t seed;
  std::int64_t movie_offset;  // global index of movie 0 (Philox stream = movie_offset + b)
};

// Bring x back into [lo, hi): periodic wrap (counting the box lengths crossed in `images`, so
// that x + images * (hi - lo) is the unwrapped, continuous path) or reflecting fold.
BBB_HD float wrap_coord(float x, float lo, float hi, int boundary, int& images) {
  if (boundary == kBoundaryFree || (x >= lo && x < hi)) return x;
  if (boundary == kBoundaryPeriodic) {
    const float L = hi - lo;
    float y = x - lo;
    const float k = floor_f(y / L);
    y = y - L * k;
    images += static_cast<int>(k);
    if (y >= L) { y = y - L; images += 1; }
    if (y < 0.0f) y = 0.0f;
    return lo + y;
  }
  if (boundary == kBoundaryReflecting) {
    const float L = hi - lo;
    float y = x - lo;
    y = y - 2.0f * L * floor_f(y / (2.0f * L));
    if (y > L) y = 2.0f * L - y;
    if (y < 0.0f) y = 0.0f;
    return lo + y;
  }
  return x;
}

// |a - b|, the shortest way round in a periodic box.
BBB_HD float box_distance(float a, float b, float lo, float hi, int boundary) {
  float d = abs_(a - b);
  if (boundary == kBoundaryPeriodic) d = min_(d, (hi - lo) - d);
  return d;
}

struct WalkState {
  float x[3];                 // (z, y, x) [um], inside the box
  int images[3];              // periodic box: box lengths crossed (unwrapped = x + images * L)
  double t_s;                 // time of x relative to t0
  std::uint32_t counter;      // Philox index of the next block
  float z[4];                 // normals of the current block
  int left;                   // how many of z are still unused
};

// Three standard normals for one step: the four normals of each Philox block are all used, in
// order (three blocks serve four steps).
BBB_HD void next_normals3(const Philox& rng, std::uint32_t sub, std::uint64_t stream, WalkState& s,
                          float out[3]) {
  for (int a = 0; a < 3; ++a) {
    if (s.left == 0) {
      normal4_f(rng(s.counter++, sub, stream), s.z);
      s.left = 4;
    }
    out[a] = s.z[4 - s.left];
    --s.left;
  }
}

// Advance the walker to time t_s (no draw when it is already there).
BBB_HD void walk_to(const Sim2pmParams& P, const Philox& rng, std::uint32_t sub,
                    std::uint64_t stream, const float D[3], const float v[3], double t_s,
                    WalkState& s) {
  const double dt = t_s - s.t_s;
  if (!(dt > 0.0)) return;
  float z[3];
  next_normals3(rng, sub, stream, s, z);
  for (int a = 0; a < 3; ++a) {
    const float sd = sqrt_f(static_cast<float>(2.0 * static_cast<double>(D[a]) * dt));
    const float nx = s.x[a] + static_cast<float>(static_cast<double>(v[a]) * dt) + sd * z[a];
    s.x[a] = wrap_coord(nx, P.box_lo_um[a], P.box_hi_um[a], P.boundary, s.images[a]);
  }
  s.t_s = t_s;
}

// Columns [c_lo, c_hi] of row r that a particle last drawn at state s may reach with at least
// exp(-budget) of its peak within `horizon` seconds (margin: kExcursionSigmas SDs of the
// displacement plus the drift). False when none.
BBB_HD bool line_columns(const Sim2pmParams& P, const GaussianPSF& psf, const WalkState& s,
                         const float* D_um2_s, const float* v_um_s, int r, float budget, double horizon,
                         int& c_lo, int& c_hi) {
  const int cols = P.scan.cols;
  const float px = P.pixel_size_um;
  float m[3];
  for (int a = 0; a < 3; ++a) {
    m[a] = kExcursionSigmas * sqrt_f(static_cast<float>(2.0 * static_cast<double>(D_um2_s[a]) * horizon)) +
           static_cast<float>(abs_(static_cast<double>(v_um_s[a])) * horizon);
  }
  const float dz = max_(box_distance(s.x[0], 0.0f, P.box_lo_um[0], P.box_hi_um[0], P.boundary) - m[0], 0.0f);
  const float dy = max_(box_distance(s.x[1], r * px, P.box_lo_um[1], P.box_hi_um[1], P.boundary) - m[1], 0.0f);
  const float q = dz * dz * psf.inv_2sz2 + dy * dy * psf.inv_2sxy2;
  if (q > budget) return false;
  const float rx = sqrt_f((budget - q) / psf.inv_2sxy2) + m[2];
  const float xlo = s.x[2] - rx, xhi = s.x[2] + rx;
  c_lo = 0;
  c_hi = cols - 1;
  if (!(P.boundary == kBoundaryPeriodic && (xlo < P.box_lo_um[2] || xhi > P.box_hi_um[2]))) {
    const float fl = -floor_f(-xlo / px), fh = floor_f(xhi / px);
    if (fh < 0.0f || fl > static_cast<float>(cols - 1)) return false;
    c_lo = static_cast<int>(max_(fl, 0.0f));
    c_hi = static_cast<int>(min_(fh, static_cast<float>(cols - 1)));
  }
  return c_lo <= c_hi;
}

// Walk particle `p` of movie `b` through the whole movie, adding its PSF to `movie` (expected
// counts, [T, R, C], already holding the background) and writing its position at every frame's
// first pixel time to `traj` ([T, 3], may be null).
BBB_HD void walk_render_particle(const Sim2pmParams& P, std::int64_t b, std::int64_t p,
                                 const float* pos0_um /* [3] */, const float* D_um2_s /* [3] */,
                                 const float* v_um_s /* [3] */, float sigma_xy_um, float sigma_z_um,
                                 float amplitude, double bleach_s,
                                 float* movie /* [T, R, C] */, float* traj /* [T, 3] or null */) {
  const ScanTiming& S = P.scan;
  const Philox rng = Philox::from_seed(P.seed);
  const std::uint64_t stream = static_cast<std::uint64_t>(P.movie_offset + b);
  const std::uint32_t sub = static_cast<std::uint32_t>(p);
  const GaussianPSF psf = GaussianPSF::make(amplitude, sigma_xy_um, sigma_z_um);
  const float px = P.pixel_size_um;
  const double T_frame = S.frame_period_s(), T_line = S.line_period_s();

  WalkState s;
  for (int a = 0; a < 3; ++a) { s.x[a] = pos0_um[a]; s.images[a] = 0; }
  s.t_s = 0.0;
  s.counter = 0;
  s.left = 0;

  // budget: the particle is relevant where exponent <= log(amplitude / tol)
  const bool renders = amplitude > 0.0f && amplitude > P.render_tol;
  const bool exact_all = !(P.render_tol > 0.0f);
  const float budget = (renders && !exact_all) ? log_f(amplitude / P.render_tol) : 0.0f;
  // per-pixel step SDs (constant dwell)
  float sd_pix[3], dv_pix[3];
  for (int a = 0; a < 3; ++a) {
    sd_pix[a] = sqrt_f(static_cast<float>(2.0 * static_cast<double>(D_um2_s[a]) * S.dwell_s));
    dv_pix[a] = static_cast<float>(static_cast<double>(v_um_s[a]) * S.dwell_s);
  }

  for (int f = 0; f < S.frames; ++f) {
    walk_to(P, rng, sub, stream, D_um2_s, v_um_s, f * T_frame, s);
    if (traj) {
      // unwrapped path: continuous through a periodic box
      for (int a = 0; a < 3; ++a)
        traj[3 * f + a] = s.x[a] + static_cast<float>(s.images[a]) * (P.box_hi_um[a] - P.box_lo_um[a]);
    }
    if (!renders) continue;
    for (int r = 0; r < S.rows; ++r) {
      const double t_line = f * T_frame + r * T_line;
      if (t_line >= bleach_s) break;
      int k_lo = 0, k_hi = S.cols - 1;
      if (!exact_all) {
        // Stage 1, no draw: can the particle reach this line from where it was last drawn?
        const double line_end = t_line + (S.cols - 1) * S.dwell_s;
        int c_lo, c_hi;
        if (!line_columns(P, psf, s, D_um2_s, v_um_s, r, budget, line_end - s.t_s, c_lo, c_hi)) continue;
        // Stage 2: draw its position at the line start and decide again with the line's own
        // (short) horizon; this keeps a long unobserved interval from widening the window.
        if (s.t_s < t_line) {
          walk_to(P, rng, sub, stream, D_um2_s, v_um_s, t_line, s);
          if (!line_columns(P, psf, s, D_um2_s, v_um_s, r, budget, line_end - s.t_s, c_lo, c_hi)) continue;
        }
        if (S.reversed(r)) { k_lo = S.cols - 1 - c_hi; k_hi = S.cols - 1 - c_lo; }
        else { k_lo = c_lo; k_hi = c_hi; }
      }
      // photobleaching: nothing from pixel times >= bleach_s
      if (t_line + k_lo * S.dwell_s >= bleach_s) continue;
      while (k_hi > k_lo && t_line + k_hi * S.dwell_s >= bleach_s) --k_hi;

      walk_to(P, rng, sub, stream, D_um2_s, v_um_s, t_line + k_lo * S.dwell_s, s);
      float* row = movie + (static_cast<std::int64_t>(f) * S.rows + r) * S.cols;
      const float y_row = r * px;
      for (int k = k_lo; k <= k_hi; ++k) {
        if (k > k_lo) {
          float z[3];
          next_normals3(rng, sub, stream, s, z);
          for (int a = 0; a < 3; ++a) {
            s.x[a] = wrap_coord(s.x[a] + dv_pix[a] + sd_pix[a] * z[a], P.box_lo_um[a], P.box_hi_um[a],
                                P.boundary, s.images[a]);
          }
        }
        const int c = S.reversed(r) ? S.cols - 1 - k : k;
        row[c] += psf(c * px - s.x[2], y_row - s.x[1], s.x[0]);
      }
      s.t_s = t_line + k_hi * S.dwell_s;
    }
  }
}

// Detector noise of one pixel: Poisson shot noise on the expected count, then Gaussian read
// noise. Stream = movie, index = pixel index within the movie; the first Philox block serves the
// first Poisson try (words 0, 1) and the read noise (words 2, 3).
BBB_HD float noisy_pixel(const Sim2pmParams& P, std::int64_t b, std::uint32_t pixel, float expected) {
  const Philox rng = Philox::from_seed(P.seed);
  const std::uint64_t stream = static_cast<std::uint64_t>(P.movie_offset + b);
  const U32x4 w = rng(pixel, kNoiseSub, stream);
  float out = expected;
  if (P.shot_noise) {
    out = static_cast<float>(poisson_d(rng, w, pixel, kNoiseSub, stream,
                                       static_cast<double>(max_(expected, 0.0f))));
  }
  if (P.read_sigma > 0.0f) {
    float z0, z1;
    box_muller_f(w.v[2], w.v[3], z0, z1);
    out = out + P.read_sigma * z0;
  }
  return out;
}

}  // namespace bbb
