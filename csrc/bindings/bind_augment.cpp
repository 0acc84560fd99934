#include <pybind11/stl.h>

#include <array>

#include "augment/resample.h"
#include "bindings/common.h"

namespace py = pybind11;
using bbb_bind::ptr;

namespace {

bbb::AugmentParams make_params(std::int64_t batch, int channels, int mask_channels,
                               std::array<int, 3> in_shape, std::array<int, 3> out_shape,
                               int table_len, int ctrl_len, int border, float fill, double mask_fill,
                               std::uint64_t seed) {
  bbb::AugmentParams P{};
  P.batch = batch;
  P.channels = channels;
  P.mask_channels = mask_channels;
  for (int a = 0; a < 3; ++a) { P.in_shape[a] = in_shape[a]; P.out_shape[a] = out_shape[a]; }
  P.table_len = table_len;
  P.ctrl_len = ctrl_len;
  P.border = border;
  P.fill = fill;
  P.mask_fill = mask_fill;
  P.seed = seed;
  return P;
}

bbb::AugmentBuffers make_buffers(std::uintptr_t image, std::uintptr_t mask, std::uintptr_t program,
                                 std::uintptr_t tables, std::uintptr_t ctrl, std::uintptr_t stats,
                                 std::uintptr_t out, std::uintptr_t mask_out) {
  return bbb::AugmentBuffers{ptr<const void>(image), ptr<const void>(mask), ptr<const float>(program),
                             ptr<const std::int32_t>(tables), ptr<const float>(ctrl),
                             ptr<const float>(stats), ptr<float>(out), ptr<void>(mask_out)};
}

}  // namespace

void bind_augment(py::module_& m) {
  py::class_<bbb::AugmentParams>(m, "AugmentParams");
  m.attr("AUGMENT_PROGRAM_LEN") = bbb::aug::kProgLen;
  m.def("augment_params", &make_params, py::arg("batch"), py::arg("channels"), py::arg("mask_channels"),
        py::arg("in_shape"), py::arg("out_shape"), py::arg("table_len"), py::arg("ctrl_len"),
        py::arg("border"), py::arg("fill"), py::arg("mask_fill"), py::arg("seed"));

  m.def("augment_resample_cpu", [](const bbb::AugmentParams& P, int image_type, int mask_type,
                                   std::uintptr_t image, std::uintptr_t mask, std::uintptr_t program,
                                   std::uintptr_t tables, std::uintptr_t ctrl, std::uintptr_t stats,
                                   std::uintptr_t out, std::uintptr_t mask_out) {
    bbb::augment_resample_cpu(P, static_cast<bbb::ImageType>(image_type), static_cast<bbb::MaskType>(mask_type),
                              make_buffers(image, mask, program, tables, ctrl, stats, out, mask_out));
  }, py::call_guard<py::gil_scoped_release>());

#if defined(BBBCORE_WITH_CUDA)
  m.def("augment_resample_cuda", [](const bbb::AugmentParams& P, int image_type, int mask_type,
                                    std::uintptr_t image, std::uintptr_t mask, std::uintptr_t program,
                                    std::uintptr_t tables, std::uintptr_t ctrl, std::uintptr_t stats,
                                    std::uintptr_t out, std::uintptr_t mask_out, std::uintptr_t stream) {
    bbb::augment_resample_cuda(P, static_cast<bbb::ImageType>(image_type), static_cast<bbb::MaskType>(mask_type),
                               make_buffers(image, mask, program, tables, ctrl, stats, out, mask_out),
                               bbb_bind::stream_of(stream));
  }, py::call_guard<py::gil_scoped_release>());
#else
  m.def("augment_resample_cuda", [](py::args, py::kwargs) { bbb_bind::no_cuda(); });
#endif
}
