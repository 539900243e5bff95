// Picks the tile kernels for the CPU the module runs on. REID_FAST_CPU_ISA (avx512, avx2 or
// generic) forces a choice, e.g. to test or compare the kernels of each instruction set.
#include <cstdlib>
#include <string>

#include "cpu/cpu_kernels.h"
#include "reid_fast/errors.h"
#include "reid_fast/ops.h"

namespace reid_fast::cpu {

namespace generic { const CpuKernels& kernels(); }
#ifdef REID_FAST_CPU_X86_ISA
namespace avx2 { const CpuKernels& kernels(); }
namespace avx512 { const CpuKernels& kernels(); }
#endif

namespace {

// The kernels this build has and this CPU can run, best first.
int supported_kernels(const CpuKernels* out[3]) {
  int count = 0;
#ifdef REID_FAST_CPU_X86_ISA
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) out[count++] = &avx512::kernels();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    out[count++] = &avx2::kernels();
  }
#endif
  out[count++] = &generic::kernels();
  return count;
}

const CpuKernels& select_kernels() {
  const CpuKernels* supported[3];
  const int count = supported_kernels(supported);
  const char* forced = std::getenv("REID_FAST_CPU_ISA");
  if (forced == nullptr || *forced == '\0') return *supported[0];
  std::string names;
  for (int i = 0; i < count; ++i) {
    if (std::string(forced) == supported[i]->isa) return *supported[i];
    names += (i ? ", " : "") + std::string(supported[i]->isa);
  }
  throw_value_error("REID_FAST_CPU_ISA must name kernels this build and CPU support (", names,
                    "), got '", forced, "'");
}

}  // namespace

const CpuKernels& cpu_kernels() {
  static const CpuKernels& chosen = select_kernels();
  return chosen;
}

const char* kernel_isa() { return cpu_kernels().isa; }

}  // namespace reid_fast::cpu
