// Fused k-nearest neighbours on CUDA: tiles of distances are computed, selected and
// discarded in shared memory, so the n x m matrix never exists.
//
// Kernels, all on the caller's stream:
//   row_aux (device.cu)  x_aux (n) and y_aux (m) into the workspace.
//   knn_select_kernel    grid (ceil(n / 64), S). Block (q, s) owns queries [64 q, 64 q + 64)
//                        and gallery range s of S. It walks the range in 64-column tiles:
//                        tile_dot -> finalize -> shared 64 x 65 distance tile -> each warp
//                        feeds 8 query rows into per-row TopkHeaps. The heaps live in global
//                        memory: the outputs when S == 1, else the partial lists [n][S][k]
//                        in the workspace. At the end lane 0 sorts each heap.
//   merge (device.cu)    (S > 1 only) one thread per row: merge_sorted_lists over the S
//                        partial lists, and row_max = max of the S partial maxima. With more
//                        than kMaxMergeLists (64) splits, in two levels: each group of 64
//                        consecutive splits into one list, then the S / 64 group lists.
// S: with 64 queries or more, splits only when the row blocks are too few to fill the GPU, of
// at least 2,048 columns each. With fewer queries the one row block leaves most of its tile's
// products unused, so the gallery is split across the whole GPU (two blocks per
// multiprocessor), down to 128 columns a split; beyond 64 splits a multiple of 64.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/topk.h"
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_constants.cuh"

namespace reid_fast {
namespace cuda {
namespace detail {
namespace {

constexpr int kWarps = kTileThreads / kWarpSize;      // 8
constexpr int kRowsPerWarp = kTile / kWarps;          // 8
constexpr int kCandidatesPerLane = kTile / kWarpSize;  // 2
// Below this many gallery rows per split, splitting costs more than it gains.
constexpr int64_t kMinColumnsPerSplit = 2048;
// The same for fewer than kTile queries, whose one row block is the only work there is:
// splitting its gallery is the only way to occupy the GPU.
constexpr int64_t kMinColumnsPerSmallSplit = 2 * kTile;
// Blocks wanted per multiprocessor before the gallery is split.
constexpr int64_t kTargetBlocksPerSm = 2;

static_assert(kWarps * kRowsPerWarp == kTile, "every query row of a tile has one warp");
static_assert(kCandidatesPerLane * kWarpSize == kTile, "every column has one lane");

// Gallery splits for fewer than kTile queries: one per target block, with at least
// kMinColumnsPerSmallSplit and k columns each (S k <= m, as column_splits keeps it), and above
// kMaxMergeLists a multiple of it (whole groups for the two-level merge), at most
// kMaxMergeLists^2.
int64_t small_query_splits(int64_t target_blocks, int64_t m, int64_t k) {
  if (m <= 0 || k <= 0) return 1;
  int64_t splits = target_blocks;
  if (splits > m / kMinColumnsPerSmallSplit) splits = m / kMinColumnsPerSmallSplit;
  if (splits > m / k) splits = m / k;
  if (splits > kMaxMergeLists * kMaxMergeLists) splits = kMaxMergeLists * kMaxMergeLists;
  if (splits > kMaxMergeLists) splits -= splits % kMaxMergeLists;
  return splits < 1 ? 1 : splits;
}

int64_t knn_splits(int64_t n, int64_t m, int64_t k, int device_id) {
  if (n <= 0) return 1;
  const int64_t target_blocks = kTargetBlocksPerSm * multiprocessor_count(device_id);
  if (n < kTile) return small_query_splits(target_blocks, m, k);
  return column_splits((n + kTile - 1) / kTile, target_blocks, m, k, kMinColumnsPerSplit);
}

// Groups of kMaxMergeLists splits merged first when there are more splits than one merge
// takes; 0 otherwise.
int64_t merge_groups(int64_t splits) {
  return splits > kMaxMergeLists ? splits / kMaxMergeLists : 0;
}

struct KnnLayout {
  float* x_aux;
  float* y_aux;
  PartialTopk partial;  // [n][S][k]
  PartialTopk grouped;  // [n][G][k], G = merge_groups(S) > 0: the first level of the merge
};

KnnLayout carve_knn(WorkspaceCarver& carver, int64_t n, int64_t m, int64_t k, int64_t splits) {
  KnnLayout layout{};
  layout.x_aux = carver.take<float>(n);
  layout.y_aux = carver.take<float>(m);
  layout.partial = take_partial_topk(carver, n, k, splits);
  layout.grouped = take_partial_topk(carver, n, k, merge_groups(splits));
  return layout;
}

// Heap storage: with S == 1 the block writes straight into values/indices (n, k) and
// row_max (n,); with S > 1 into the partial lists [n][S][k] and partial maxima [n][S].
// max_out may be nullptr (row maxima not requested).
template <typename Loader, Metric M>
__global__ void __launch_bounds__(kTileThreads)
    knn_select_kernel(const void* __restrict__ x, const void* __restrict__ y,
                      const float* __restrict__ x_aux, const float* __restrict__ y_aux,
                      int64_t n, int64_t m, int64_t d, int64_t k, int64_t splits,
                      float* heap_values, int64_t* heap_indices, float* max_out) {
  __shared__ TileSmem smem;
  __shared__ float dist[kTile][kTileLd];

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kTileSide;
  const int ty = tid / kTileSide;
  const int lane = tid % kWarpSize;
  const int warp = tid / kWarpSize;

  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t split = blockIdx.y;
  const int64_t chunk = (m + splits - 1) / splits;
  const int64_t col_begin = split * chunk;
  const int64_t col_end = col_begin + chunk < m ? col_begin + chunk : m;

  // Per owned row (local row warp * 8 + rr): heap size (identical in every lane of the
  // warp) and this lane's running maximum of the distances it has seen.
  int64_t heap_size[kRowsPerWarp];
  float lane_max[kRowsPerWarp];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    heap_size[rr] = 0;
    lane_max[rr] = -INFINITY;
  }

  // Block-uniform loop: every thread reaches the same __syncthreads.
  for (int64_t col0 = col_begin; col0 < col_end; col0 += kTile) {
    float acc[kMicro][kMicro];
    tile_dot<Loader>(x, n, y, col_end, d, row0, col0, smem, acc);

    // Finalize into the shared distance tile (positions outside [n) x [col_end) hold
    // harmless values that selection never reads as candidates).
#pragma unroll
    for (int i = 0; i < kMicro; ++i) {
      const int r = ty + kTileSide * i;
      const int64_t row = row0 + r;
      const float xa = row < n ? x_aux[row] : 0.0f;
#pragma unroll
      for (int j = 0; j < kMicro; ++j) {
        const int c = tx + kTileSide * j;
        const int64_t col = col0 + c;
        const float ya = col < col_end ? y_aux[col] : 0.0f;
        dist[r][c] = finalize_distance<M>(acc[i][j], xa, ya);
      }
    }
    __syncthreads();  // the distance tile is complete

#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int r = warp * kRowsPerWarp + rr;
      const int64_t row = row0 + r;
      if (row >= n) continue;  // depends on the warp only: the whole warp skips together
      const int64_t heap_offset = (row * splits + split) * k;
      TopkHeap heap{heap_values + heap_offset, heap_indices + heap_offset, k, heap_size[rr]};

#pragma unroll 1
      for (int half = 0; half < kCandidatesPerLane; ++half) {
        const int c = lane + kWarpSize * half;
        const int64_t col = col0 + c;
        const bool valid = col < col_end;
        const float v = dist[r][c];
        if (valid) lane_max[rr] = fmaxf(lane_max[rr], v);
        // heap.size is the same in every lane; the root was last written by lane 0 before
        // the __syncwarp below (or before the block barrier of the previous tile).
        const bool want = valid && heap.accepts(v, col);
        const unsigned accepted = __ballot_sync(kFullMask, want);
        warp_push_accepted(heap, k, accepted, lane, [&](int b) {
          const int cb = b + kWarpSize * half;
          heap.push(dist[r][cb], col0 + cb);
        });
      }
      heap_size[rr] = heap.size;
    }
    __syncthreads();  // every warp is done reading the tile before it is overwritten
  }

  // Sort each owned heap (unfilled slots become (+inf, kEmptyIndex)) and write the maxima.
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int r = warp * kRowsPerWarp + rr;
    const int64_t row = row0 + r;
    if (row >= n) continue;  // warp-uniform
    float row_max = lane_max[rr];
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      row_max = fmaxf(row_max, __shfl_xor_sync(kFullMask, row_max, offset));
    }
    if (lane == 0) {
      const int64_t heap_offset = (row * splits + split) * k;
      TopkHeap heap{heap_values + heap_offset, heap_indices + heap_offset, k, heap_size[rr]};
      heap.sort_ascending();
      if (max_out != nullptr) max_out[row * splits + split] = row_max;
    }
  }
}


}  // namespace
}  // namespace detail

std::size_t knn_workspace_bytes(int64_t n, int64_t m, int64_t d, int64_t k, int device_id) {
  (void)d;
  const int64_t splits = detail::knn_splits(n, m, k, device_id);
  WorkspaceCarver carver;
  detail::carve_knn(carver, n, m, k, splits);
  return carver.bytes();
}

void knn(const KnnArgs& args, void* stream_ptr) {
  using namespace detail;
  const int64_t n = args.x.shape[0];
  const int64_t m = args.y.shape[0];
  const int64_t d = args.x.shape[1];
  const int64_t k = args.k;
  if (n <= 0) return;  // no queries: nothing to enqueue

  DeviceGuard guard(args.x.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);

  const int64_t splits = knn_splits(n, m, k, args.x.device_id);
  WorkspaceCarver carver(args.workspace.data);
  const KnnLayout layout = carve_knn(carver, n, m, k, splits);

  float* values = args.values.as<float>();
  int64_t* indices = args.indices.as<int64_t>();
  float* row_max = args.row_max.data != nullptr ? args.row_max.as<float>() : nullptr;

  launch_row_aux(args.x.data, args.x.dtype, n, d, args.metric, layout.x_aux, stream);
  launch_row_aux(args.y.data, args.y.dtype, m, d, args.metric, layout.y_aux, stream);

  float* heap_values = splits > 1 ? layout.partial.values : values;
  int64_t* heap_indices = splits > 1 ? layout.partial.indices : indices;
  float* max_out = splits > 1 ? layout.partial.max : row_max;

  const int64_t query_blocks = (n + kTile - 1) / kTile;
  if (query_blocks > kMaxGridX) {
    throw_value_error("reid_fast CUDA knn: too many queries for one launch, n = ", n);
  }
  const dim3 grid(static_cast<unsigned>(query_blocks), static_cast<unsigned>(splits));

  dispatch_loader(args.x.dtype, [&](auto loader) {
    using Loader = decltype(loader);
    dispatch_metric(args.metric, [&](auto tag) {
      constexpr Metric M = decltype(tag)::value;
      knn_select_kernel<Loader, M><<<grid, kTileThreads, 0, stream>>>(
          args.x.data, args.y.data, layout.x_aux, layout.y_aux, n, m, d, k, splits,
          heap_values, heap_indices, max_out);
      check_launch("knn_select_kernel");
    });
  });

  const PartialTopk& partial = layout.partial;
  const int64_t groups = merge_groups(splits);
  if (groups > 0) {
    // [n][S][k] is [n * G][64][k]: each group of 64 consecutive splits merges into one list
    // of [n][G][k] (and one partial maximum), then the G lists of each row into the outputs.
    const PartialTopk& grouped = layout.grouped;
    launch_merge_partial_topk(partial.values, partial.indices, partial.max, n * groups, k,
                              kMaxMergeLists, grouped.values, grouped.indices, grouped.max,
                              stream);
    launch_merge_partial_topk(grouped.values, grouped.indices, grouped.max, n, k, groups, values,
                              indices, row_max, stream);
  } else if (splits > 1) {
    launch_merge_partial_topk(partial.values, partial.indices, partial.max, n, k, splits, values,
                              indices, row_max, stream);
  }
}

}  // namespace cuda
}  // namespace reid_fast
