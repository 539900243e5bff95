// topk_rows on the CPU: OpenMP over blocks of rows, each row selected by the ISA kernels.
#include <algorithm>

#include "cpu/cpu_kernels.h"
#include "reid_fast/ops.h"
#include "reid_fast/workspace.h"

namespace reid_fast::cpu {
namespace {

constexpr int64_t kRowsPerTask = 16;

Candidate* take_candidates(WorkspaceCarver& carver, int64_t k) {
  return carver.take<Candidate>(size_product({max_threads(), candidate_capacity(k)}));
}

}  // namespace

std::size_t topk_rows_workspace_bytes(int64_t, int64_t, int64_t k) {
  WorkspaceCarver carver;
  take_candidates(carver, k);
  return carver.bytes();
}

void topk_rows(const TopkRowsArgs& args) {
  const CpuKernels& kernels = cpu_kernels();
  const int64_t n = args.matrix.shape[0], m = args.matrix.shape[1], k = args.k;
  WorkspaceCarver carver(args.workspace.data);
  Candidate* candidates = take_candidates(carver, k);
  const TopkTarget target{args.values.as<float>(), args.indices.as<int64_t>(), k, k,
                          args.row_max.as<float>(), 1};
  const float* matrix = args.matrix.as<float>();
  const int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
#pragma omp parallel for schedule(dynamic, 1) num_threads(max_threads())
  for (int64_t task = 0; task < tasks; ++task) {
    kernels.topk_rows_block(matrix, m, task * kRowsPerTask, std::min(n, (task + 1) * kRowsPerTask),
                            candidates + thread_index() * candidate_capacity(k), target);
  }
}

}  // namespace reid_fast::cpu
