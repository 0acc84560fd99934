#include <pybind11/stl.h>

#include <array>
#include <vector>

#include "bindings/common.h"
#include "transport/explicit.h"

namespace py = pybind11;
using bbb_bind::ptr;

namespace {

bbb::TransportParams make_params(std::array<int, 3> shape, float dt_s, std::vector<float> fu,
                                 std::vector<float> inv_alpha_h, std::vector<float> k_clear,
                                 std::vector<int> fixed, std::vector<float> eff_vmax,
                                 std::vector<float> eff_km, std::vector<int> lum_label,
                                 std::vector<float> inf_vmax, std::vector<float> inf_km, int adv_label,
                                 int adv_axis, float adv_u_over_h) {
  bbb::TransportParams P{};
  for (int a = 0; a < 3; ++a) P.shape[a] = shape[a];
  P.dt_s = dt_s;
  if (fu.size() > bbb::kTransportMaxLabels || eff_vmax.size() > bbb::kTransportMaxMembranes)
    throw std::invalid_argument("transport_params: at most 8 labels and 8 membrane types");
  if (inv_alpha_h.size() != fu.size() || k_clear.size() != fu.size() || fixed.size() != fu.size() ||
      eff_km.size() != eff_vmax.size() || lum_label.size() != eff_vmax.size() ||
      inf_vmax.size() != eff_vmax.size() || inf_km.size() != eff_vmax.size())
    throw std::invalid_argument("transport_params: per-label and per-membrane lists must have equal lengths");
  if (adv_label >= static_cast<int>(fu.size()) || adv_axis < 0 || adv_axis > 2 || !(adv_u_over_h >= 0.0f))
    throw std::invalid_argument("transport_params: adv_label must be -1 or a label, adv_axis 0..2, adv_u_over_h >= 0");
  P.adv_label = adv_label < 0 ? -1 : adv_label;
  P.adv_axis = adv_axis;
  P.adv_u_over_h = adv_u_over_h;
  for (std::size_t l = 0; l < fu.size(); ++l) {
    P.fu[l] = fu[l]; P.inv_alpha_h[l] = inv_alpha_h[l]; P.k_clear[l] = k_clear[l]; P.fixed[l] = fixed[l];
  }
  for (std::size_t m = 0; m < eff_vmax.size(); ++m) {
    P.eff_vmax[m] = eff_vmax[m]; P.eff_km[m] = eff_km[m]; P.lum_label[m] = lum_label[m];
    P.inf_vmax[m] = inf_vmax[m]; P.inf_km[m] = inf_km[m];
  }
  return P;
}

bbb::TransportBuffers make_buffers(std::uintptr_t c, std::uintptr_t scratch, std::uintptr_t label,
                                   std::uintptr_t G, std::uintptr_t mem, std::uintptr_t fixed_values) {
  return bbb::TransportBuffers{ptr<float>(c), ptr<float>(scratch), ptr<const std::uint8_t>(label),
                               ptr<const float>(G), ptr<const std::uint8_t>(mem), ptr<const float>(fixed_values)};
}

}  // namespace

void bind_transport(py::module_& m) {
  py::class_<bbb::TransportParams>(m, "TransportParams");
  m.def("transport_params", &make_params, py::arg("shape"), py::arg("dt_s"), py::arg("fu"),
        py::arg("inv_alpha_h"), py::arg("k_clear"), py::arg("fixed"), py::arg("eff_vmax"),
        py::arg("eff_km"), py::arg("lum_label"), py::arg("inf_vmax"), py::arg("inf_km"),
        py::arg("adv_label"), py::arg("adv_axis"), py::arg("adv_u_over_h"));
  m.def("transport_explicit_cpu", [](const bbb::TransportParams& P, std::uintptr_t c, std::uintptr_t scratch,
                                     std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                     std::uintptr_t fixed_values, int steps) {
    bbb::transport_explicit_cpu(P, make_buffers(c, scratch, label, G, mem, fixed_values), steps);
  }, py::call_guard<py::gil_scoped_release>());
  m.def("transport_adi_cpu", [](const bbb::TransportParams& P, std::uintptr_t c, std::uintptr_t scratch,
                                std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                std::uintptr_t fixed_values, std::uintptr_t line_scratch, int steps, float theta) {
    bbb::transport_adi_cpu(P, make_buffers(c, scratch, label, G, mem, fixed_values), ptr<float>(line_scratch),
                           steps, theta);
  }, py::call_guard<py::gil_scoped_release>());
#if defined(BBBCORE_WITH_CUDA)
  m.def("transport_adi_cuda", [](const bbb::TransportParams& P, std::uintptr_t c, std::uintptr_t scratch,
                                 std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                 std::uintptr_t fixed_values, std::uintptr_t line_scratch, int steps, float theta,
                                 std::uintptr_t stream) {
    bbb::transport_adi_cuda(P, make_buffers(c, scratch, label, G, mem, fixed_values), ptr<float>(line_scratch),
                            steps, theta, bbb_bind::stream_of(stream));
  }, py::call_guard<py::gil_scoped_release>());
  m.def("transport_explicit_cuda", [](const bbb::TransportParams& P, std::uintptr_t c, std::uintptr_t scratch,
                                      std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                      std::uintptr_t fixed_values, int steps, std::uintptr_t stream) {
    bbb::transport_explicit_cuda(P, make_buffers(c, scratch, label, G, mem, fixed_values), steps,
                                 bbb_bind::stream_of(stream));
  }, py::call_guard<py::gil_scoped_release>());
#else
  m.def("transport_explicit_cuda", [](py::args, py::kwargs) { bbb_bind::no_cuda(); });
  m.def("transport_adi_cuda", [](py::args, py::kwargs) { bbb_bind::no_cuda(); });
#endif
}
