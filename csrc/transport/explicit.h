// Launchers of bbbcore::transport_explicit: n forward-Euler steps of the finite-volume BBB model
// (maths: bbbcore/transport/fv.h), ping-ponging between two buffers.
#pragma once
#include "bbbcore/transport/fv.h"
#include "core/random.h"  // cudaStream_t

namespace bbb {

struct TransportBuffers {
  float* c;                    // [Z, Y, X] in: the state; out: the state after the steps
  float* scratch;              // [Z, Y, X]
  const std::uint8_t* label;   // [Z, Y, X]
  const float* G;              // [3, Z, Y, X]
  const std::uint8_t* mem;     // [3, Z, Y, X]
  const float* fixed_values;   // [steps] value of fixed cells after each step
};

void transport_explicit_cpu(const TransportParams& P, const TransportBuffers& buf, int steps);
void transport_explicit_cuda(const TransportParams& P, const TransportBuffers& buf, int steps,
                             cudaStream_t stream);

}  // namespace bbb
