#include <pybind11/stl.h>

#include <array>
#include <vector>

#include "bindings/common.h"
#include "transport/explicit.h"

namespace py = pybind11;
using bbb_bind::ptr;

namespace {

// The parameters arrive as float64 from Python and are rounded once to T.
template <typename T>
bbb::TransportParamsT<T> make_params(std::array<int, 3> shape, double dt_s, std::vector<double> fu,
                                     std::vector<double> inv_alpha_h, std::vector<double> k_clear,
                                     std::vector<int> fixed, std::vector<double> eff_vmax,
                                     std::vector<double> eff_km, std::vector<int> lum_label,
                                     std::vector<double> inf_vmax, std::vector<double> inf_km, int adv_label,
                                     int adv_axis, double adv_u_over_h) {
  bbb::TransportParamsT<T> P{};
  for (int a = 0; a < 3; ++a) P.shape[a] = shape[a];
  P.dt_s = static_cast<T>(dt_s);
  if (fu.size() > bbb::kTransportMaxLabels || eff_vmax.size() > bbb::kTransportMaxMembranes)
    throw std::invalid_argument("transport_params: at most 8 labels and 8 membrane types");
  if (inv_alpha_h.size() != fu.size() || k_clear.size() != fu.size() || fixed.size() != fu.size() ||
      eff_km.size() != eff_vmax.size() || lum_label.size() != eff_vmax.size() ||
      inf_vmax.size() != eff_vmax.size() || inf_km.size() != eff_vmax.size())
    throw std::invalid_argument("transport_params: per-label and per-membrane lists must have equal lengths");
  if (adv_label >= static_cast<int>(fu.size()) || adv_axis < 0 || adv_axis > 2 || !(adv_u_over_h >= 0.0))
    throw std::invalid_argument("transport_params: adv_label must be -1 or a label, adv_axis 0..2, adv_u_over_h >= 0");
  P.adv_label = adv_label < 0 ? -1 : adv_label;
  P.adv_axis = adv_axis;
  P.adv_u_over_h = static_cast<T>(adv_u_over_h);
  for (std::size_t l = 0; l < fu.size(); ++l) {
    P.fu[l] = static_cast<T>(fu[l]); P.inv_alpha_h[l] = static_cast<T>(inv_alpha_h[l]);
    P.k_clear[l] = static_cast<T>(k_clear[l]); P.fixed[l] = fixed[l];
  }
  for (std::size_t m = 0; m < eff_vmax.size(); ++m) {
    P.eff_vmax[m] = static_cast<T>(eff_vmax[m]); P.eff_km[m] = static_cast<T>(eff_km[m]);
    P.lum_label[m] = lum_label[m];
    P.inf_vmax[m] = static_cast<T>(inf_vmax[m]); P.inf_km[m] = static_cast<T>(inf_km[m]);
  }
  return P;
}

template <typename T>
bbb::TransportBuffersT<T> make_buffers(std::uintptr_t c, std::uintptr_t scratch, std::uintptr_t label,
                                       std::uintptr_t G, std::uintptr_t mem, std::uintptr_t fixed_values) {
  return bbb::TransportBuffersT<T>{ptr<T>(c), ptr<T>(scratch), ptr<const std::uint8_t>(label),
                                   ptr<const T>(G), ptr<const std::uint8_t>(mem), ptr<const T>(fixed_values)};
}

// P with the general flow field's arrays (0: no field; all three or none).
template <typename T>
bbb::TransportParamsT<T> with_flow(const bbb::TransportParamsT<T>& P, std::uintptr_t v, std::uintptr_t in,
                                   std::uintptr_t out) {
  if ((v == 0) != (in == 0) || (v == 0) != (out == 0))
    throw std::invalid_argument("transport: flow_v, flow_in and flow_out must be given together");
  bbb::TransportParamsT<T> Q = P;
  Q.flow_v = v ? ptr<const T>(v) : nullptr;
  Q.flow_in = in ? ptr<const T>(in) : nullptr;
  Q.flow_out = out ? ptr<const T>(out) : nullptr;
  return Q;
}

// The launchers of one scalar type; pybind11 picks the overload from the type of P. The flow_*
// arguments are the general flow field's device pointers (0: none).
template <typename T>
void bind_launchers(py::module_& m) {
  using Params = bbb::TransportParamsT<T>;
  m.def("transport_explicit_cpu", [](const Params& P, std::uintptr_t c, std::uintptr_t scratch,
                                     std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                     std::uintptr_t fixed_values, std::uintptr_t flow_v, std::uintptr_t flow_in,
                                     std::uintptr_t flow_out, int steps) {
    bbb::transport_explicit_cpu<T>(with_flow(P, flow_v, flow_in, flow_out),
                                   make_buffers<T>(c, scratch, label, G, mem, fixed_values), steps);
  }, py::call_guard<py::gil_scoped_release>());
  m.def("transport_adi_cpu", [](const Params& P, std::uintptr_t c, std::uintptr_t scratch,
                                std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                std::uintptr_t fixed_values, std::uintptr_t flow_v, std::uintptr_t flow_in,
                                std::uintptr_t flow_out, std::uintptr_t line_scratch, int steps, double theta) {
    bbb::transport_adi_cpu<T>(with_flow(P, flow_v, flow_in, flow_out),
                              make_buffers<T>(c, scratch, label, G, mem, fixed_values), ptr<T>(line_scratch),
                              steps, static_cast<T>(theta));
  }, py::call_guard<py::gil_scoped_release>());
#if defined(BBBCORE_WITH_CUDA)
  m.def("transport_adi_cuda", [](const Params& P, std::uintptr_t c, std::uintptr_t scratch,
                                 std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                 std::uintptr_t fixed_values, std::uintptr_t flow_v, std::uintptr_t flow_in,
                                 std::uintptr_t flow_out, std::uintptr_t line_scratch, int steps, double theta,
                                 std::uintptr_t stream) {
    bbb::transport_adi_cuda<T>(with_flow(P, flow_v, flow_in, flow_out),
                               make_buffers<T>(c, scratch, label, G, mem, fixed_values), ptr<T>(line_scratch),
                               steps, static_cast<T>(theta), bbb_bind::stream_of(stream));
  }, py::call_guard<py::gil_scoped_release>());
  m.def("transport_explicit_cuda", [](const Params& P, std::uintptr_t c, std::uintptr_t scratch,
                                      std::uintptr_t label, std::uintptr_t G, std::uintptr_t mem,
                                      std::uintptr_t fixed_values, std::uintptr_t flow_v, std::uintptr_t flow_in,
                                      std::uintptr_t flow_out, int steps, std::uintptr_t stream) {
    bbb::transport_explicit_cuda<T>(with_flow(P, flow_v, flow_in, flow_out),
                                    make_buffers<T>(c, scratch, label, G, mem, fixed_values), steps,
                                    bbb_bind::stream_of(stream));
  }, py::call_guard<py::gil_scoped_release>());
#endif
}

}  // namespace

void bind_transport(py::module_& m) {
  py::class_<bbb::TransportParams>(m, "TransportParams");
  py::class_<bbb::TransportParams64>(m, "TransportParams64");
  m.def("transport_params", &make_params<float>, py::arg("shape"), py::arg("dt_s"), py::arg("fu"),
        py::arg("inv_alpha_h"), py::arg("k_clear"), py::arg("fixed"), py::arg("eff_vmax"),
        py::arg("eff_km"), py::arg("lum_label"), py::arg("inf_vmax"), py::arg("inf_km"),
        py::arg("adv_label"), py::arg("adv_axis"), py::arg("adv_u_over_h"));
  m.def("transport_params64", &make_params<double>, py::arg("shape"), py::arg("dt_s"), py::arg("fu"),
        py::arg("inv_alpha_h"), py::arg("k_clear"), py::arg("fixed"), py::arg("eff_vmax"),
        py::arg("eff_km"), py::arg("lum_label"), py::arg("inf_vmax"), py::arg("inf_km"),
        py::arg("adv_label"), py::arg("adv_axis"), py::arg("adv_u_over_h"));
  bind_launchers<float>(m);
  bind_launchers<double>(m);
#if !defined(BBBCORE_WITH_CUDA)
  m.def("transport_explicit_cuda", [](py::args, py::kwargs) { bbb_bind::no_cuda(); });
  m.def("transport_adi_cuda", [](py::args, py::kwargs) { bbb_bind::no_cuda(); });
#endif
}
