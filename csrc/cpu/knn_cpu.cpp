// knn on the CPU: pack x and y once, then OpenMP over (row block, gallery split) tasks, each
// fusing dot products, distances and heap selection tile by tile; splits of the gallery
// (used when there are fewer row blocks than threads) are merged at the end.
#include <algorithm>

#include "common/topk.h"
#include "cpu/cpu_kernels.h"
#include "cpu/packing.h"
#include "reid_fast/ops.h"
#include "reid_fast/workspace.h"

namespace reid_fast::cpu {
namespace {

struct KnnPlan {
  int threads;
  int64_t block_rows;
  int64_t row_blocks;
  int64_t splits;
  int64_t split_columns;
};

KnnPlan plan_knn(const CpuKernels& kernels, int64_t n, int64_t m, int64_t k) {
  KnnPlan plan;
  plan.threads = max_threads();
  plan.block_rows = block_rows_for(n, plan.threads, kernels.x_panel);
  plan.row_blocks = (n + plan.block_rows - 1) / plan.block_rows;
  int64_t splits = 1;
  if (plan.row_blocks < plan.threads) {
    // Few queries: split the gallery too, but keep each split at least one scratch chunk
    // wide and the partial lists (n x splits x k) no larger than n x max(k, m).
    const int64_t wanted = (plan.threads + plan.row_blocks - 1) / plan.row_blocks;
    splits = std::min<int64_t>({wanted, kMaxMergeLists, std::max<int64_t>(1, m / kernels.scratch_columns),
                                std::max<int64_t>(1, m / k)});
  }
  plan.split_columns = (m + splits - 1) / splits;
  plan.split_columns = (plan.split_columns + kernels.y_panel - 1) / kernels.y_panel * kernels.y_panel;
  plan.splits = (m + plan.split_columns - 1) / plan.split_columns;
  return plan;
}

struct KnnRegions {
  PackedPair packed;
  float* scratch;
  Candidate* candidates;
  float* partial_values;
  int64_t* partial_indices;
  float* partial_max;
};

KnnRegions take_regions(WorkspaceCarver& carver, const CpuKernels& kernels, const KnnPlan& plan,
                        int64_t n, int64_t m, int64_t d, int64_t k) {
  KnnRegions regions;
  regions.packed = take_packed_pair(carver, kernels, n, m, d);
  regions.scratch =
      carver.take<float>(int64_t(plan.threads) * plan.block_rows * kernels.scratch_columns);
  regions.candidates =
      carver.take<Candidate>(int64_t(plan.threads) * plan.block_rows * candidate_capacity(k));
  const int64_t partial = plan.splits > 1 ? n * plan.splits * k : 0;
  regions.partial_values = carver.take<float>(partial);
  regions.partial_indices = carver.take<int64_t>(partial);
  regions.partial_max = carver.take<float>(plan.splits > 1 ? n * plan.splits : 0);
  return regions;
}

}  // namespace

std::size_t knn_workspace_bytes(int64_t n, int64_t m, int64_t d, int64_t k) {
  const CpuKernels& kernels = cpu_kernels();
  WorkspaceCarver carver;
  take_regions(carver, kernels, plan_knn(kernels, n, m, k), n, m, d, k);
  return carver.bytes();
}

void knn(const KnnArgs& args) {
  const CpuKernels& kernels = cpu_kernels();
  const int64_t n = args.x.shape[0], m = args.y.shape[0], d = args.x.shape[1], k = args.k;
  if (n == 0) return;
  const KnnPlan plan = plan_knn(kernels, n, m, k);
  WorkspaceCarver carver(args.workspace.data);
  const KnnRegions regions = take_regions(carver, kernels, plan, n, m, d, k);
  pack_pair(kernels, args.x, args.y, args.metric, regions.packed);

  float* values = args.values.as<float>();
  int64_t* indices = args.indices.as<int64_t>();
  float* row_max = args.row_max.as<float>();
  const bool split = plan.splits > 1;
  const int64_t tasks = plan.row_blocks * plan.splits;

#pragma omp parallel for schedule(dynamic, 1) num_threads(plan.threads)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t row_block = task / plan.splits, s = task % plan.splits;
    const Block block{row_block * plan.block_rows, std::min(n, (row_block + 1) * plan.block_rows),
                      s * plan.split_columns, std::min(m, (s + 1) * plan.split_columns)};
    TopkTarget target;
    if (split) {
      target = TopkTarget{regions.partial_values + s * k, regions.partial_indices + s * k,
                          plan.splits * k, k,
                          row_max != nullptr ? regions.partial_max + s : nullptr, plan.splits};
    } else {
      target = TopkTarget{values, indices, k, k, row_max, 1};
    }
    const int64_t slot = thread_index();
    kernels.knn_block(args.metric, regions.packed.x, regions.packed.y, block,
                      regions.scratch + slot * plan.block_rows * kernels.scratch_columns,
                      regions.candidates + slot * plan.block_rows * candidate_capacity(k),
                      target);
  }

  if (!split) return;
#pragma omp parallel for schedule(static) num_threads(plan.threads)
  for (int64_t i = 0; i < n; ++i) {
    merge_sorted_lists(regions.partial_values + i * plan.splits * k,
                       regions.partial_indices + i * plan.splits * k, plan.splits, k,
                       values + i * k, indices + i * k);
    if (row_max != nullptr) {
      const float* partial = regions.partial_max + i * plan.splits;
      row_max[i] = *std::max_element(partial, partial + plan.splits);
    }
  }
}

}  // namespace reid_fast::cpu
