// Picks the tile kernels for the CPU the module runs on.
#include "cpu/cpu_kernels.h"
#include "reid_fast/ops.h"

namespace reid_fast::cpu {

namespace generic { const CpuKernels& kernels(); }
#ifdef REID_FAST_CPU_X86_ISA
namespace avx2 { const CpuKernels& kernels(); }
namespace avx512 { const CpuKernels& kernels(); }
#endif

namespace {
const CpuKernels& select_kernels() {
#ifdef REID_FAST_CPU_X86_ISA
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return avx512::kernels();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2::kernels();
#endif
  return generic::kernels();
}
}  // namespace

const CpuKernels& cpu_kernels() {
  static const CpuKernels& chosen = select_kernels();
  return chosen;
}

const char* kernel_isa() { return cpu_kernels().isa; }

}  // namespace reid_fast::cpu
