// pairwise_distance on the CPU: pack x and y once, then OpenMP over (row block, column
// block) tiles whose epilogue writes finished distances straight into out.
#include <algorithm>

#include "cpu/cpu_kernels.h"
#include "cpu/packing.h"
#include "reid_fast/ops.h"
#include "reid_fast/workspace.h"

namespace reid_fast::cpu {
namespace {

constexpr int64_t kColumnBlockChunks = 4;  // column block = this many scratch chunks

struct PairwiseRegions {
  PackedPair packed;
  float* scratch;
};

PairwiseRegions take_regions(WorkspaceCarver& carver, const CpuKernels& kernels, int threads,
                             int64_t block_rows, int64_t n, int64_t m, int64_t d) {
  PairwiseRegions regions;
  regions.packed = take_packed_pair(carver, kernels, n, m, d);
  regions.scratch = carver.take<float>(int64_t(threads) * block_rows * kernels.scratch_columns);
  return regions;
}

}  // namespace

std::size_t pairwise_distance_workspace_bytes(int64_t n, int64_t m, int64_t d) {
  const CpuKernels& kernels = cpu_kernels();
  const int threads = max_threads();
  WorkspaceCarver carver;
  take_regions(carver, kernels, threads, block_rows_for(n, threads, kernels.x_panel), n, m, d);
  return carver.bytes();
}

void pairwise_distance(const PairwiseArgs& args) {
  const CpuKernels& kernels = cpu_kernels();
  const int64_t n = args.x.shape[0], m = args.y.shape[0], d = args.x.shape[1];
  if (n == 0 || m == 0) return;
  const int threads = max_threads();
  const int64_t block_rows = block_rows_for(n, threads, kernels.x_panel);
  WorkspaceCarver carver(args.workspace.data);
  const PairwiseRegions regions = take_regions(carver, kernels, threads, block_rows, n, m, d);
  pack_pair(kernels, args.x, args.y, args.metric, regions.packed);

  const int64_t block_columns = kColumnBlockChunks * kernels.scratch_columns;
  const int64_t row_blocks = (n + block_rows - 1) / block_rows;
  const int64_t column_blocks = (m + block_columns - 1) / block_columns;
  float* out = args.out.as<float>();

#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t task = 0; task < row_blocks * column_blocks; ++task) {
    const int64_t rb = task / column_blocks, cb = task % column_blocks;
    const Block block{rb * block_rows, std::min(n, (rb + 1) * block_rows), cb * block_columns,
                      std::min(m, (cb + 1) * block_columns)};
    const int64_t slot = thread_index();
    kernels.pairwise_block(args.metric, regions.packed.x, regions.packed.y, block,
                           regions.scratch + slot * block_rows * kernels.scratch_columns, out);
  }
}

}  // namespace reid_fast::cpu
