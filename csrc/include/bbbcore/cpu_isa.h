// CPU instruction-set dispatch (host only). A hot loop is written once as an always-inline body
// and compiled twice: at the build's baseline (x86-64: SSE2) and, through the function-level
// target attribute, for AVX2; the AVX2 copy runs where the CPU has it. Both copies come from the
// same source with no FMA contraction (-ffp-contract=off and no "fma" target), so they give the
// same floats. Function-level targets keep every out-of-line helper at the baseline ISA: no object
// mixes ISAs for one symbol, so nothing AVX2 can run on a CPU without it.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define BBB_X86_DISPATCH 1
#define BBB_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define BBB_X86_DISPATCH 0
#define BBB_TARGET_AVX2
#endif

namespace bbb {

enum class CpuIsa : int { kBaseline = 0, kAvx2 = 1 };

// The ISA the dispatched loops use now: the best the CPU has, unless lowered by set_cpu_isa or by
// the environment variable BBBCORE_CPU_ISA=baseline (read once, at the first call).
CpuIsa cpu_isa();
// The best ISA this CPU and build support.
CpuIsa cpu_isa_supported();
// Use `isa` from now on (throws std::invalid_argument when the CPU lacks it).
void set_cpu_isa(CpuIsa isa);
const char* cpu_isa_name(CpuIsa isa);

inline bool cpu_use_avx2() { return cpu_isa() == CpuIsa::kAvx2; }

}  // namespace bbb

// Defines `static RET NAME_base PARAMS` and `NAME_avx2` (AVX2 target) that both return BODY_CALL;
// BBB_ISA_CALL(NAME, ARGS) calls the one for the ISA in use. PARAMS and ARGS are parenthesised
// lists. BBB_ISA_DISPATCH is the void form.
#if BBB_X86_DISPATCH
#define BBB_ISA_DISPATCH_R(RET, NAME, PARAMS, BODY_CALL)          \
  static RET NAME##_base PARAMS { return BODY_CALL; }             \
  BBB_TARGET_AVX2 static RET NAME##_avx2 PARAMS { return BODY_CALL; }
#define BBB_ISA_CALL(NAME, ARGS) \
  (::bbb::cpu_use_avx2() ? NAME##_avx2 ARGS : NAME##_base ARGS)
#else
#define BBB_ISA_DISPATCH_R(RET, NAME, PARAMS, BODY_CALL) static RET NAME##_base PARAMS { return BODY_CALL; }
#define BBB_ISA_CALL(NAME, ARGS) NAME##_base ARGS
#endif
#define BBB_ISA_DISPATCH(NAME, PARAMS, BODY_CALL) BBB_ISA_DISPATCH_R(void, NAME, PARAMS, BODY_CALL)
