#include "bindings/common.h"
#include "core/random.h"

namespace py = pybind11;
using bbb_bind::ptr;

void bind_core(py::module_& m) {
  m.def("philox4x32_cpu", [](std::uintptr_t ctr, std::uintptr_t key, std::uintptr_t out, std::int64_t n) {
    bbb::philox4x32_cpu(ptr<const std::uint32_t>(ctr), ptr<const std::uint32_t>(key), ptr<std::uint32_t>(out), n);
  }, py::call_guard<py::gil_scoped_release>());
  m.def("normal_fill_cpu", [](std::uint64_t seed, std::uint64_t stream, std::uintptr_t out, std::int64_t n) {
    bbb::normal_fill_cpu(seed, stream, ptr<float>(out), n);
  }, py::call_guard<py::gil_scoped_release>());
  m.def("poisson_fill_cpu", [](std::uint64_t seed, std::uint64_t stream, std::uintptr_t lam, std::uintptr_t out, std::int64_t n) {
    bbb::poisson_fill_cpu(seed, stream, ptr<const float>(lam), ptr<float>(out), n);
  }, py::call_guard<py::gil_scoped_release>());

#if defined(BBBCORE_WITH_CUDA)
  m.def("philox4x32_cuda", [](std::uintptr_t ctr, std::uintptr_t key, std::uintptr_t out, std::int64_t n, std::uintptr_t s) {
    bbb::philox4x32_cuda(ptr<const std::uint32_t>(ctr), ptr<const std::uint32_t>(key), ptr<std::uint32_t>(out), n,
                         bbb_bind::stream_of(s));
  }, py::call_guard<py::gil_scoped_release>());
  m.def("normal_fill_cuda", [](std::uint64_t seed, std::uint64_t stream, std::uintptr_t out, std::int64_t n, std::uintptr_t s) {
    bbb::normal_fill_cuda(seed, stream, ptr<float>(out), n, bbb_bind::stream_of(s));
  }, py::call_guard<py::gil_scoped_release>());
  m.def("poisson_fill_cuda", [](std::uint64_t seed, std::uint64_t stream, std::uintptr_t lam, std::uintptr_t out, std::int64_t n, std::uintptr_t s) {
    bbb::poisson_fill_cuda(seed, stream, ptr<const float>(lam), ptr<float>(out), n, bbb_bind::stream_of(s));
  }, py::call_guard<py::gil_scoped_release>());
#else
  for (const char* name : {"philox4x32_cuda", "normal_fill_cuda", "poisson_fill_cuda"})
    m.def(name, [](py::args, py::kwargs) { bbb_bind::no_cuda(); });
#endif
}
