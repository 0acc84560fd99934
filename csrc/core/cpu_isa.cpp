#include "bbbcore/cpu_isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bbb {

namespace {

CpuIsa detect() {
#if BBB_X86_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return CpuIsa::kAvx2;
#endif
  return CpuIsa::kBaseline;
}

int initial() {
  const CpuIsa best = detect();
  const char* env = std::getenv("BBBCORE_CPU_ISA");
  if (env && std::strcmp(env, "baseline") == 0) return static_cast<int>(CpuIsa::kBaseline);
  return static_cast<int>(best);
}

std::atomic<int>& current() {
  static std::atomic<int> isa{initial()};
  return isa;
}

}  // namespace

CpuIsa cpu_isa() { return static_cast<CpuIsa>(current().load(std::memory_order_relaxed)); }

CpuIsa cpu_isa_supported() {
  static const CpuIsa best = detect();
  return best;
}

const char* cpu_isa_name(CpuIsa isa) { return isa == CpuIsa::kAvx2 ? "avx2" : "baseline"; }

void set_cpu_isa(CpuIsa isa) {
  if (static_cast<int>(isa) > static_cast<int>(cpu_isa_supported()))
    throw std::invalid_argument(std::string("set_cpu_isa: this CPU (or build) has no ") + cpu_isa_name(isa) +
                                " (best: " + cpu_isa_name(cpu_isa_supported()) + ")");
  current().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace bbb
