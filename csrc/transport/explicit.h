// Launchers of bbbcore::transport_explicit / transport_adi: n forward-Euler or Douglas ADI steps of
// the finite-volume BBB model (maths: bbbcore/transport/fv.h, adi.h), ping-ponging between two
// buffers. T = float or double (the state, the conductances and the parameters); both are
// instantiated for the CPU and CUDA.
#pragma once
#include "bbbcore/transport/adi.h"
#include "bbbcore/transport/fv.h"
#include "core/random.h"  // cudaStream_t

namespace bbb {

template <typename T>
struct TransportBuffersT {
  T* c;                        // [Z, Y, X] in: the state; out: the state after the steps
  T* scratch;                  // [Z, Y, X]
  const std::uint8_t* label;   // [Z, Y, X]
  const T* G;                  // [3, Z, Y, X]
  const std::uint8_t* mem;     // [3, Z, Y, X]
  const T* fixed_values;       // [steps] value of fixed cells after each step
};
using TransportBuffers = TransportBuffersT<float>;

template <typename T>
void transport_explicit_cpu(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, int steps);

// Douglas ADI steps (adi.h). buf.scratch: [Z, Y, X] (the stage buffer); line_scratch: 2 values per
// cell (Thomas coefficients of every line of an axis at once).
template <typename T>
void transport_adi_cpu(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, T* line_scratch, int steps,
                       T theta);
template <typename T>
void transport_adi_cuda(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, T* line_scratch, int steps,
                        T theta, cudaStream_t stream);
template <typename T>
void transport_explicit_cuda(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, int steps,
                             cudaStream_t stream);

}  // namespace bbb
