// Helpers for the bindings: raw addresses from Python, and the CPU-only stub for CUDA launchers.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>

#include "core/random.h"  // cudaStream_t

namespace bbb_bind {

template <class T> T* ptr(std::uintptr_t address) { return reinterpret_cast<T*>(address); }

inline cudaStream_t stream_of(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

[[noreturn]] inline void no_cuda() {
  throw std::invalid_argument("bbbcore was built without CUDA kernels; reinstall with nvcc on PATH");
}

}  // namespace bbb_bind
