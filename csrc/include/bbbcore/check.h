// Invariant checks for launchers: throw std::invalid_argument (-> ValueError in Python).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

#define BBB_CHECK(cond, op, msg)                                        \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::ostringstream bbb_os_;                                       \
      bbb_os_ << op << ": " << msg;                                     \
      throw std::invalid_argument(bbb_os_.str());                       \
    }                                                                   \
  } while (0)

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define BBB_CUDA_CHECK(expr, op)                                                        \
  do {                                                                                  \
    cudaError_t bbb_err_ = (expr);                                                      \
    if (bbb_err_ != cudaSuccess) {                                                      \
      throw std::runtime_error(std::string(op) + ": CUDA error: " +                     \
                               cudaGetErrorString(bbb_err_));                           \
    }                                                                                   \
  } while (0)
#endif
