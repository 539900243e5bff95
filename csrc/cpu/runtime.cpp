// Thread helpers of the CPU drivers.
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

}  // namespace reid_fast::cpu
