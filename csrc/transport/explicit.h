// Launchers of bbbcore::transport_explicit: n forward-Euler steps of the finite-volume BBB model
// (maths: bbbcore/transport/fv.h), ping-ponging between two buffers.
#pragma once
#include "bbbcore/transport/adi.h"
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

// Douglas ADI steps (adi.h). buf.scratch: [Z, Y, X] (the stage buffer); line_scratch: 2 floats per
// cell (Thomas coefficients of every line of an axis at once).
void transport_adi_cpu(const TransportParams& P, const TransportBuffers& buf, float* line_scratch, int steps,
                       float theta);
void transport_adi_cuda(const TransportParams& P, const TransportBuffers& buf, float* line_scratch, int steps,
                        float theta, cudaStream_t stream);
void transport_explicit_cuda(const TransportParams& P, const TransportBuffers& buf, int steps,
                             cudaStream_t stream);

}  // namespace bbb
