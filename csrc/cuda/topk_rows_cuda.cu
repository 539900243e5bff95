// topk_rows on CUDA: the k smallest entries of each row of a dense float32 (n, m) matrix,
// ascending, ties by the lower index (common/topk.h), and optionally each row's maximum.
//
// Kernels, all on the caller's stream:
//   topk_rows_select_kernel  one warp per (row, column split); 256-thread blocks (8 warps),
//                            grid-stride over the n * S warp items. The lanes read 128
//                            consecutive columns per step, a float4 each (coalesced 512-byte
//                            loads; a scalar head up to the first 16-byte boundary and a tail
//                            of at most 3 columns are read one float per lane). One
//                            __ballot_sync tells whether any of them enters the heap; only
//                            then a ballot per quarter finds the candidates, which lane 0
//                            pushes. The selection does not depend on the order of the
//                            pushes, so the results are those of a column-by-column scan.
//                            The heap lives in global memory: the output row when S == 1,
//                            else the partial list [row][split][k] in the workspace. The heap
//                            root is cached in registers of every lane and refreshed only
//                            after a push. At the end lane 0 sorts the heap.
//   merge (device.cu)        (S > 1 only) one thread per row: merge_sorted_lists over the S
//                            partial lists, row_max = max of the S partial maxima.
// S (splits of the columns) is > 1 only when there are too few rows to fill the GPU.
//
// Workspace (S > 1 only): partial_values float [n * S * k], partial_indices int64
// [n * S * k], partial_max float [n * S].
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

constexpr int kTopkThreads = 256;
constexpr int kTopkWarpsPerBlock = kTopkThreads / kWarpSize;
// A warp per split must have at least this many columns to scan for a split to pay off.
constexpr int64_t kTopkMinColumnsPerSplit = 2048;
// Warps in flight wanted per SM before columns are split.
constexpr int64_t kTopkTargetWarpsPerSm = 32;
// The aligned body of a row is read with 16-byte (float4) loads: 128 columns per warp step.
constexpr int kFloatsPerLoad = 4;
constexpr std::uintptr_t kBytesPerLoad = kFloatsPerLoad * sizeof(float);
constexpr int64_t kColumnsPerVectorStep = kFloatsPerLoad * kWarpSize;

int64_t topk_rows_splits(int64_t n, int64_t m, int64_t k, int device_id) {
  if (n <= 0) return 1;
  return column_splits(n, kTopkTargetWarpsPerSm * multiprocessor_count(device_id), m, k,
                       kTopkMinColumnsPerSplit);
}

// One warp's selection over one item: the heap (lane 0 writes it; every lane tracks its
// size), its root cached in registers of every lane (valid once the heap is full; refreshed
// only after a push) and this lane's running maximum of the values it has read.
struct WarpSelection {
  TopkHeap heap;
  float root_value;
  int64_t root_index;
  float lane_max;

  // Whether (value, col) would enter the heap as it is now; k == 0 accepts nothing (the heap
  // has no root to compare with).
  __device__ __forceinline__ bool wants(float value, int64_t col) const {
    return heap.capacity > 0 &&
           (heap.size < heap.capacity || ranks_before(value, col, root_value, root_index));
  }

  // Pushes the candidates of a non-empty ballot: bit b stands for column first + b * stride
  // of row_data. Must be called by the whole warp with the same arguments.
  __device__ __forceinline__ void push(unsigned accepted, const float* row_data, int64_t first,
                                       int64_t stride, int lane) {
    warp_push_accepted(heap, heap.capacity, accepted, lane, [&](int b) {
      const int64_t col = first + b * stride;
      heap.push(row_data[col], col);
    });
    if (heap.size == heap.capacity) {
      root_value = heap.values[0];
      root_index = heap.indices[0];
    }
    // Every lane has read the root before lane 0 may change it again.
    __syncwarp(kFullMask);
  }

  // Columns [begin, end) of row_data, one float per lane per step.
  __device__ __forceinline__ void scan_scalar(const float* row_data, int64_t begin, int64_t end,
                                              int lane) {
    for (int64_t col0 = begin; col0 < end; col0 += kWarpSize) {  // warp-uniform
      const int64_t col = col0 + lane;
      const bool valid = col < end;
      const float value = valid ? row_data[col] : 0.0f;
      if (valid) lane_max = fmaxf(lane_max, value);
      const unsigned accepted = __ballot_sync(kFullMask, valid && wants(value, col));
      if (accepted != 0u) push(accepted, row_data, col0, 1, lane);  // warp-uniform
    }
  }

  // Columns [begin, end) of row_data, 4 per lane per step (one 16-byte load): row_data + begin
  // must be 16-byte aligned and end - begin a multiple of 4. One ballot tells whether any of
  // the warp's 128 values qualifies; only then does a ballot per quarter push them.
  __device__ __forceinline__ void scan_vector(const float* row_data, int64_t begin, int64_t end,
                                              int lane) {
    for (int64_t col0 = begin; col0 < end; col0 += kColumnsPerVectorStep) {  // warp-uniform
      const int64_t first = col0 + kFloatsPerLoad * lane;
      const bool valid = first < end;  // all 4 columns or none: end - begin is a multiple of 4
      float4 quad = {0.0f, 0.0f, 0.0f, 0.0f};
      if (valid) quad = *reinterpret_cast<const float4*>(row_data + first);
      const float values[kFloatsPerLoad] = {quad.x, quad.y, quad.z, quad.w};
      bool any_wanted = false;
#pragma unroll
      for (int j = 0; j < kFloatsPerLoad; ++j) {
        if (valid) lane_max = fmaxf(lane_max, values[j]);
        any_wanted = any_wanted || (valid && wants(values[j], first + j));
      }
      if (__ballot_sync(kFullMask, any_wanted) == 0u) continue;  // warp-uniform
#pragma unroll
      for (int j = 0; j < kFloatsPerLoad; ++j) {
        // Re-tested against the root as the previous quarters' pushes left it.
        const unsigned accepted = __ballot_sync(kFullMask, valid && wants(values[j], first + j));
        if (accepted != 0u) push(accepted, row_data, col0 + j, kFloatsPerLoad, lane);
      }
    }
  }
};

// Warp item w = row * splits + split scans columns [split * chunk, min(m, (split + 1) * chunk))
// of row `row` into the heap at heap_values / heap_indices + w * k and writes the maximum of
// those columns to max_out[w] (max_out may be nullptr). With splits == 1 the item is the row,
// so the heaps are the output rows. The columns are read as a scalar head up to the first
// 16-byte boundary, float4 loads over the aligned body and a scalar tail of at most 3.
__global__ void __launch_bounds__(kTopkThreads)
    topk_rows_select_kernel(const float* __restrict__ matrix, int64_t n, int64_t m, int64_t k,
                            int64_t splits, float* heap_values, int64_t* heap_indices,
                            float* max_out) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t warp_in_grid = static_cast<int64_t>(blockIdx.x) * kTopkWarpsPerBlock +
                               static_cast<int64_t>(threadIdx.x) / kWarpSize;
  const int64_t warps_in_grid = static_cast<int64_t>(gridDim.x) * kTopkWarpsPerBlock;
  const int64_t items = n * splits;
  const int64_t chunk = (m + splits - 1) / splits;

  // The item depends on the warp only: every loop below is warp-uniform, so the full-mask
  // ballots, shuffles and __syncwarp calls are reached by all 32 lanes together.
  for (int64_t item = warp_in_grid; item < items; item += warps_in_grid) {
    const int64_t row = item / splits;
    const int64_t split = item - row * splits;
    const int64_t col_begin = split * chunk;
    const int64_t col_end = col_begin + chunk < m ? col_begin + chunk : m;
    const float* row_data = matrix + row * m;
    WarpSelection selection{TopkHeap{heap_values + item * k, heap_indices + item * k, k, 0},
                            INFINITY, kEmptyIndex, -INFINITY};

    // Floats from col_begin to the next 16-byte boundary (row_data is 4-byte aligned).
    const auto address = reinterpret_cast<std::uintptr_t>(row_data + col_begin);
    const int64_t to_boundary = static_cast<int64_t>(
        (kBytesPerLoad - address % kBytesPerLoad) % kBytesPerLoad / sizeof(float));
    const int64_t body_begin = col_begin + to_boundary < col_end ? col_begin + to_boundary
                                                                 : col_end;
    const int64_t body_end =
        body_begin + (col_end - body_begin) / kFloatsPerLoad * kFloatsPerLoad;
    selection.scan_scalar(row_data, col_begin, body_begin, lane);
    selection.scan_vector(row_data, body_begin, body_end, lane);
    selection.scan_scalar(row_data, body_end, col_end, lane);

    float item_max = selection.lane_max;
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      item_max = fmaxf(item_max, __shfl_xor_sync(kFullMask, item_max, offset));
    }
    if (lane == 0) {
      selection.heap.sort_ascending();  // unfilled slots become (+inf, kEmptyIndex)
      if (max_out != nullptr) max_out[item] = item_max;
    }
    // The next item's heap is elsewhere, but keep the warp together between items.
    __syncwarp(kFullMask);
  }
}


}  // namespace
}  // namespace detail

std::size_t topk_rows_workspace_bytes(int64_t n, int64_t m, int64_t k, int device_id) {
  const int64_t splits = detail::topk_rows_splits(n, m, k, device_id);
  WorkspaceCarver carver;
  detail::take_partial_topk(carver, n, k, splits);
  return carver.bytes();
}

void topk_rows(const TopkRowsArgs& args, void* stream_ptr) {
  using namespace detail;
  const int64_t n = args.matrix.shape[0];
  const int64_t m = args.matrix.shape[1];
  const int64_t k = args.k;
  float* row_max = args.row_max.data != nullptr ? args.row_max.as<float>() : nullptr;
  if (n <= 0) return;                         // no rows: nothing to enqueue
  if (k <= 0 && row_max == nullptr) return;   // nothing requested

  DeviceGuard guard(args.matrix.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);

  const int64_t kk = k > 0 ? k : 0;
  const int64_t splits = topk_rows_splits(n, m, kk, args.matrix.device_id);
  WorkspaceCarver carver(args.workspace.data);
  const PartialTopk partial = take_partial_topk(carver, n, kk, splits);

  float* values = args.values.as<float>();
  int64_t* indices = args.indices.as<int64_t>();
  float* heap_values = splits > 1 ? partial.values : values;
  int64_t* heap_indices = splits > 1 ? partial.indices : indices;
  float* max_out = splits > 1 ? partial.max : row_max;

  const unsigned blocks = capped_grid(n * splits, kTopkWarpsPerBlock);
  topk_rows_select_kernel<<<blocks, kTopkThreads, 0, stream>>>(
      args.matrix.as<float>(), n, m, kk, splits, heap_values, heap_indices, max_out);
  check_launch("topk_rows_select_kernel");

  if (splits > 1) {
    launch_merge_partial_topk(partial.values, partial.indices, partial.max,
                              n, kk, splits, values, indices, row_max, stream);
  }
}

}  // namespace cuda
}  // namespace reid_fast
