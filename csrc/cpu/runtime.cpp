// Thread and memory helpers of the CPU drivers.
#include <sys/mman.h>

#include <cstdint>

#include "cpu/cpu_kernels.h"
#include "reid_fast/ops.h"

#ifdef REID_FAST_WITH_OPENMP
#include <omp.h>
#endif

namespace reid_fast::cpu {

int max_threads() {
#ifdef REID_FAST_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int thread_index() {
#ifdef REID_FAST_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

void advise_huge_pages(const TensorView& workspace) {
#ifdef MADV_HUGEPAGE
  constexpr std::uintptr_t kHugePage = std::uintptr_t(2) << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(workspace.data);
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = (begin + workspace.nbytes()) & ~(kHugePage - 1);
  // Advice only: a failure (no transparent huge pages here) changes nothing.
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)workspace;
#endif
}

}  // namespace reid_fast::cpu
