#include <pybind11/stl.h>

#include <array>

#include "bindings/common.h"
#include "twophoton/simulate.h"

namespace py = pybind11;
using bbb_bind::ptr;

namespace {

// Sim2pmParams from keyword arguments (units in the names).
bbb::Sim2pmParams make_params(std::int64_t batch, std::int64_t n_max, int frames, int rows, int cols,
                              double dwell_s, double line_retrace_s, double frame_retrace_s,
                              bool bidirectional, float pixel_size_um, std::array<float, 6> box_um,
                              int boundary, float background, float read_sigma, bool shot_noise,
                              float render_tol, std::uint64_t seed, std::int64_t movie_offset) {
  bbb::Sim2pmParams P{};
  P.batch = batch;
  P.n_max = n_max;
  P.scan.frames = frames; P.scan.rows = rows; P.scan.cols = cols;
  P.scan.dwell_s = dwell_s; P.scan.line_retrace_s = line_retrace_s;
  P.scan.frame_retrace_s = frame_retrace_s; P.scan.bidirectional = bidirectional ? 1 : 0;
  P.pixel_size_um = pixel_size_um;
  for (int a = 0; a < 3; ++a) { P.box_lo_um[a] = box_um[2 * a]; P.box_hi_um[a] = box_um[2 * a + 1]; }
  P.boundary = boundary;
  P.background = background;
  P.read_sigma = read_sigma;
  P.shot_noise = shot_noise ? 1 : 0;
  P.render_tol = render_tol;
  P.seed = seed;
  P.movie_offset = movie_offset;
  return P;
}

bbb::Sim2pmInputs make_inputs(std::uintptr_t pos0, std::uintptr_t n_particles, std::uintptr_t diffusivity,
                              std::uintptr_t drift, std::uintptr_t sigma, std::uintptr_t amplitude,
                              std::uintptr_t bleach) {
  return bbb::Sim2pmInputs{ptr<const float>(pos0), ptr<const std::int32_t>(n_particles),
                           ptr<const float>(diffusivity), ptr<const float>(drift), ptr<const float>(sigma),
                           ptr<const float>(amplitude), ptr<const double>(bleach)};
}

}  // namespace

void bind_twophoton(py::module_& m) {
  py::class_<bbb::Sim2pmParams>(m, "Sim2pmParams");
  m.def("sim2pm_params", &make_params, py::arg("batch"), py::arg("n_max"), py::arg("frames"),
        py::arg("rows"), py::arg("cols"), py::arg("dwell_s"), py::arg("line_retrace_s"),
        py::arg("frame_retrace_s"), py::arg("bidirectional"), py::arg("pixel_size_um"),
        py::arg("box_um"), py::arg("boundary"), py::arg("background"), py::arg("read_sigma"),
        py::arg("shot_noise"), py::arg("render_tol"), py::arg("seed"), py::arg("movie_offset"));

  m.def("simulate_2pm_cpu", [](const bbb::Sim2pmParams& P, std::uintptr_t pos0, std::uintptr_t n_particles,
                               std::uintptr_t diffusivity, std::uintptr_t drift, std::uintptr_t sigma,
                               std::uintptr_t amplitude, std::uintptr_t bleach, std::uintptr_t movies,
                               std::uintptr_t traj) {
    bbb::simulate_2pm_cpu(P, make_inputs(pos0, n_particles, diffusivity, drift, sigma, amplitude, bleach),
                          bbb::Sim2pmOutputs{ptr<float>(movies), ptr<float>(traj)});
  }, py::call_guard<py::gil_scoped_release>());

#if defined(BBBCORE_WITH_CUDA)
  m.def("simulate_2pm_cuda", [](const bbb::Sim2pmParams& P, std::uintptr_t pos0, std::uintptr_t n_particles,
                                std::uintptr_t diffusivity, std::uintptr_t drift, std::uintptr_t sigma,
                                std::uintptr_t amplitude, std::uintptr_t bleach, std::uintptr_t movies,
                                std::uintptr_t traj, std::uintptr_t stream) {
    bbb::simulate_2pm_cuda(P, make_inputs(pos0, n_particles, diffusivity, drift, sigma, amplitude, bleach),
                           bbb::Sim2pmOutputs{ptr<float>(movies), ptr<float>(traj)}, bbb_bind::stream_of(stream));
  }, py::call_guard<py::gil_scoped_release>());
#else
  m.def("simulate_2pm_cuda", [](py::args, py::kwargs) { bbb_bind::no_cuda(); });
#endif
}
