// The only translation units that include pybind11 live in csrc/bindings/.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "bbbcore/cpu_isa.h"

#if defined(BBBCORE_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace py = pybind11;

void bind_core(py::module_& m);
void bind_twophoton(py::module_& m);
void bind_augment(py::module_& m);
void bind_transport(py::module_& m);

namespace {

py::dict build_info() {
  py::dict d;
#ifdef BBBCORE_VERSION
  d["version"] = BBBCORE_VERSION;
#else
  d["version"] = "unknown";
#endif
#if defined(BBBCORE_WITH_CUDA)
  d["with_cuda"] = true;
  d["cuda_archs"] = BBBCORE_CUDA_ARCHS;
  d["cuda_version"] = BBBCORE_CUDA_VERSION;
#else
  d["with_cuda"] = false;
  d["cuda_archs"] = "";
  d["cuda_version"] = "";
#endif
#if defined(BBBCORE_OPENMP_VERSION)
  d["openmp"] = std::string(BBBCORE_OPENMP_VERSION);
#else
  d["openmp"] = "";
#endif
  d["compiler"] = BBBCORE_CXX_COMPILER;
  d["cpu_isa"] = std::string(bbb::cpu_isa_name(bbb::cpu_isa_supported()));
  d["build_type"] = BBBCORE_BUILD_TYPE;
  return d;
}

// (device count, error message). Never throws: no driver or no GPU gives (0, reason).
py::tuple cuda_device_count() {
#if defined(BBBCORE_WITH_CUDA)
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    return py::make_tuple(0, std::string(cudaGetErrorString(err)));
  }
  return py::make_tuple(n, std::string());
#else
  return py::make_tuple(0, std::string("bbbcore was built without CUDA kernels"));
#endif
}

bbb::CpuIsa isa_from_name(const std::string& name) {
  if (name == "baseline") return bbb::CpuIsa::kBaseline;
  if (name == "avx2") return bbb::CpuIsa::kAvx2;
  if (name == "auto") return bbb::cpu_isa_supported();
  throw std::invalid_argument("set_cpu_isa: isa must be 'auto', 'baseline' or 'avx2', got '" + name + "'");
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "bbbcore native kernels (torch-free; pointers in, pointers out)";
  m.def("build_info", &build_info);
  m.def("cuda_device_count", &cuda_device_count);
  m.def("cpu_isa", []() { return std::string(bbb::cpu_isa_name(bbb::cpu_isa())); });
  m.def("set_cpu_isa", [](const std::string& name) { bbb::set_cpu_isa(isa_from_name(name)); }, py::arg("isa"));
  bind_core(m);
  bind_twophoton(m);
  bind_augment(m);
  bind_transport(m);
}
