// The CUDA side of the framework-GEMM path of knn and pairwise_distance (docs/design.md 3.1):
// the framework's GEMM (torch.mm, cupy.matmul) writes a tile of dot products on the caller's
// stream; these kernels, on the same stream, turn it into distances (common/distance_math.h)
// and select or write them.
//
// Kernels:
//   row_aux_kernel (device.cu)  the per-row metric terms x_aux / y_aux, once per call.
//   warp_select_kernel   knn_select for k <= 1024, one warp per row (the design of faiss's
//                        WarpSelect, written anew): the row's running list of k entries sits
//                        in registers as a warp queue of kQueue = 32..1024 entries (padding
//                        (+inf, kEmptyIndex)); the lanes walk the tile 32 columns at a time,
//                        finish each distance and compare it with the bar (the list's k-th
//                        entry), so most candidates cost one comparison; one that clears it
//                        goes into the lane's thread queue of kThreadQueue registers. When a
//                        lane's thread queue is full (and at the end of the tile) the warp
//                        sorts the thread queues (bitonic sort, warp_sort.cuh), merges them
//                        into the warp queue keeping the first kQueue, and lowers the bar.
//   heap_select_kernel   knn_select for k > 1024, pass 1: one warp per row; the candidates
//                        that clear the bar and the heap root are found with one ballot, and
//                        lane 0 pushes them into a TopkHeap (common/topk.h) in global memory,
//                        then sorts it. The first tile's heap is the running list itself;
//                        later tiles fill slot 1 of the workspace lists [r][2][k] (slot 0: a
//                        copy of the running list), and
//   merge_partial_topk_kernel (device.cu)  pass 2 merges the two slots into the running list.
//   distance_tile_kernel  pairwise_distance: the tile's distances into a column block of out.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "common/distance_math.h"
#include "common/tile_select.h"
#include "common/topk.h"
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_constants.cuh"
#include "cuda/warp_sort.cuh"

namespace reid_fast {
namespace cuda {
namespace detail {
namespace {

constexpr int kSelectThreads = 128;
constexpr int kSelectWarps = kSelectThreads / kWarpSize;
constexpr int kDistanceThreads = 256;

// Registers per lane of the thread queue: a full warp of them is sorted at every merge, so
// longer warp queues (dearer merges) take longer thread queues.
template <int kQueue>
constexpr int thread_queue_length() {
  return kQueue <= 32 ? 2 : (kQueue <= 256 ? 4 : 8);
}

// Calls fn(std::integral_constant<int, L>) for the warp queue length L of k (<= 1024).
template <typename Fn>
void dispatch_warp_queue(int64_t k, Fn&& fn) {
  switch (warp_queue_length(k)) {
    case 32: fn(std::integral_constant<int, 32>{}); return;
    case 64: fn(std::integral_constant<int, 64>{}); return;
    case 128: fn(std::integral_constant<int, 128>{}); return;
    case 256: fn(std::integral_constant<int, 256>{}); return;
    case 512: fn(std::integral_constant<int, 512>{}); return;
    case 1024: fn(std::integral_constant<int, 1024>{}); return;
    default: break;
  }
  throw_value_error("reid_fast CUDA knn_select: no warp queue holds k = ", k);
}

// The workspace lists of the two-pass selection: [r][2][k] entries and [r][2] maxima.
PartialTopk take_select_lists(WorkspaceCarver& carver, int64_t rows, int64_t k) {
  if (warp_queue_length(k) != 0) return PartialTopk{};
  return take_partial_topk(carver, rows, k, 2);
}

// Entry e of a warp queue (register e / 32 of lane e % 32), in every lane.
template <int kRegs>
__device__ __forceinline__ SelectBar warp_queue_entry(const float (&value)[kRegs],
                                                      const int64_t (&index)[kRegs], int64_t e) {
  const int reg = static_cast<int>(e / kWarpSize);
  float v = INFINITY;
  int64_t i = kEmptyIndex;
#pragma unroll
  for (int r = 0; r < kRegs; ++r) {
    if (r == reg) {
      v = value[r];
      i = index[r];
    }
  }
  const int lane = static_cast<int>(e % kWarpSize);
  return SelectBar{__shfl_sync(kFullMask, v, lane),
                   static_cast<int64_t>(__shfl_sync(kFullMask, static_cast<long long>(i), lane))};
}

template <Metric M, int kQueue>
__global__ void __launch_bounds__(kSelectThreads)
    warp_select_kernel(const float* __restrict__ dots, const float* __restrict__ x_aux,
                       const float* __restrict__ y_aux, int64_t rows, int64_t columns,
                       int64_t column_offset, int64_t k, float* __restrict__ values,
                       int64_t* __restrict__ indices, float* __restrict__ row_max) {
  constexpr int kRegs = kQueue / kWarpSize;
  constexpr int kThreadQueue = thread_queue_length<kQueue>();
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kSelectWarps;
  const bool first = column_offset == 0;

  // The row depends on the warp only: every loop below is warp-uniform, so the full-mask
  // ballots and shuffles are reached by all 32 lanes together.
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kSelectWarps + threadIdx.x / kWarpSize;
       row < rows; row += warps) {
    float* values_row = values + row * k;
    int64_t* indices_row = indices + row * k;

    // The warp queue: the running list, padded to kQueue entries.
    float queue_value[kRegs];
    int64_t queue_index[kRegs];
#pragma unroll
    for (int r = 0; r < kRegs; ++r) {
      const int64_t e = static_cast<int64_t>(r) * kWarpSize + lane;
      const bool held = !first && e < k;
      queue_value[r] = held ? values_row[e] : INFINITY;
      queue_index[r] = held ? indices_row[e] : kEmptyIndex;
    }
    SelectBar bar = running_bar(values_row, indices_row, k, column_offset);

    float thread_value[kThreadQueue];
    int64_t thread_index[kThreadQueue];
#pragma unroll
    for (int q = 0; q < kThreadQueue; ++q) {
      thread_value[q] = INFINITY;
      thread_index[q] = kEmptyIndex;
    }
    int queued = 0;

    // Sorts the thread queues into the warp queue, empties them and lowers the bar.
    auto merge_thread_queues = [&]() {
      warp_sort(thread_value, thread_index);
      warp_merge_first(queue_value, queue_index, thread_value, thread_index);
#pragma unroll
      for (int q = 0; q < kThreadQueue; ++q) {
        thread_value[q] = INFINITY;
        thread_index[q] = kEmptyIndex;
      }
      queued = 0;
      bar = warp_queue_entry(queue_value, queue_index, k - 1);
    };

    const float* row_dots = dots + row * columns;
    const float xa = x_aux[row];
    float lane_max = -INFINITY;
    for (int64_t c0 = 0; c0 < columns; c0 += kWarpSize) {
      const int64_t c = c0 + lane;
      if (c < columns) {
        const float v = finalize_distance<M>(row_dots[c], xa, y_aux[c]);
        lane_max = fmaxf(lane_max, v);
        const int64_t index = column_offset + c;
        if (bar.cleared_by(v, index)) {
          // Append at position `queued` (a compile-time register in each branch).
#pragma unroll
          for (int q = 0; q < kThreadQueue; ++q) {
            if (q == queued) {
              thread_value[q] = v;
              thread_index[q] = index;
            }
          }
          ++queued;
        }
      }
      // A lane adds at most one candidate per step, so a full queue never overflows.
      if (__ballot_sync(kFullMask, queued == kThreadQueue) != 0u) merge_thread_queues();
    }
    if (__ballot_sync(kFullMask, queued > 0) != 0u) merge_thread_queues();

#pragma unroll
    for (int r = 0; r < kRegs; ++r) {
      const int64_t e = static_cast<int64_t>(r) * kWarpSize + lane;
      if (e < k) {
        values_row[e] = queue_value[r];
        indices_row[e] = queue_index[r];
      }
    }

    float tile_max = lane_max;
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      tile_max = fmaxf(tile_max, __shfl_xor_sync(kFullMask, tile_max, offset));
    }
    if (lane == 0 && row_max != nullptr) {
      row_max[row] = first ? tile_max : fmaxf(row_max[row], tile_max);
    }
  }
}

// Pass 1 of the selection for k > kMaxWarpQueue. With lists == nullptr (the first tile) the
// heap is the running list (values / indices rows) and the maximum goes to row_max;
// otherwise slot 0 of the row's lists [2][k] gets a copy of the running list, slot 1 the
// heap, and list_max [2] the running and the tile's maximum (for merge_partial_topk_kernel).
template <Metric M>
__global__ void __launch_bounds__(kSelectThreads)
    heap_select_kernel(const float* __restrict__ dots, const float* __restrict__ x_aux,
                       const float* __restrict__ y_aux, int64_t rows, int64_t columns,
                       int64_t column_offset, int64_t k, float* values, int64_t* indices,
                       float* row_max, float* list_values, int64_t* list_indices,
                       float* list_max) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kSelectWarps;
  const bool first = list_values == nullptr;

  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kSelectWarps + threadIdx.x / kWarpSize;
       row < rows; row += warps) {
    float* values_row = values + row * k;
    int64_t* indices_row = indices + row * k;
    const SelectBar bar = running_bar(values_row, indices_row, k, column_offset);
    TopkHeap heap{values_row, indices_row, k, 0};
    if (!first) {
      float* copy_values = list_values + row * 2 * k;
      int64_t* copy_indices = list_indices + row * 2 * k;
      for (int64_t e = lane; e < k; e += kWarpSize) {
        copy_values[e] = values_row[e];
        copy_indices[e] = indices_row[e];
      }
      heap = TopkHeap{copy_values + k, copy_indices + k, k, 0};
    }

    const float* row_dots = dots + row * columns;
    const float xa = x_aux[row];
    // The heap root, valid once the heap is full (identical in every lane).
    float root_value = INFINITY;
    int64_t root_index = kEmptyIndex;
    float lane_max = -INFINITY;
    for (int64_t c0 = 0; c0 < columns; c0 += kWarpSize) {
      const int64_t c = c0 + lane;
      const bool valid = c < columns;
      const float v = valid ? finalize_distance<M>(row_dots[c], xa, y_aux[c]) : 0.0f;
      if (valid) lane_max = fmaxf(lane_max, v);
      const int64_t index = column_offset + c;
      const bool want = valid && bar.cleared_by(v, index) &&
                        (heap.size < k || ranks_before(v, index, root_value, root_index));
      const unsigned accepted = __ballot_sync(kFullMask, want);
      if (accepted != 0u) {  // warp-uniform
        // The distance is recomputed from the same operands, so it is the same float.
        warp_push_accepted(heap, k, accepted, lane, [&](int b) {
          heap.push(finalize_distance<M>(row_dots[c0 + b], xa, y_aux[c0 + b]),
                    column_offset + c0 + b);
        });
        if (heap.size == k) {
          root_value = heap.values[0];
          root_index = heap.indices[0];
        }
        __syncwarp(kFullMask);  // every lane has read the root before lane 0 changes it
      }
    }

    float tile_max = lane_max;
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      tile_max = fmaxf(tile_max, __shfl_xor_sync(kFullMask, tile_max, offset));
    }
    if (lane == 0) {
      heap.sort_ascending();  // unfilled slots become (+inf, kEmptyIndex)
      if (row_max != nullptr) {
        if (first) {
          row_max[row] = tile_max;
        } else {
          list_max[row * 2] = row_max[row];
          list_max[row * 2 + 1] = tile_max;
        }
      }
    }
    __syncwarp(kFullMask);  // keep the warp together between rows
  }
}

template <Metric M>
__global__ void __launch_bounds__(kDistanceThreads)
    distance_tile_kernel(const float* __restrict__ dots, const float* __restrict__ x_aux,
                         const float* __restrict__ y_aux, int64_t rows, int64_t columns,
                         int64_t out_columns, int64_t column_offset, float* __restrict__ out) {
  const int64_t column_stride = static_cast<int64_t>(gridDim.x) * kDistanceThreads;
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const float xa = x_aux[row];
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * kDistanceThreads + threadIdx.x;
         c < columns; c += column_stride) {
      out[row * out_columns + column_offset + c] =
          finalize_distance<M>(dots[row * columns + c], xa, y_aux[c]);
    }
  }
}

}  // namespace
}  // namespace detail

void row_aux(const RowAuxArgs& args, void* stream_ptr) {
  const int64_t rows = args.features.shape[0];
  if (rows <= 0) return;
  detail::DeviceGuard guard(args.features.device_id);
  detail::launch_row_aux(args.features.data, args.features.dtype, rows, args.features.shape[1],
                         args.metric, args.out.as<float>(), static_cast<cudaStream_t>(stream_ptr));
}

std::size_t knn_select_workspace_bytes(int64_t rows, int64_t columns, int64_t k) {
  (void)columns;
  WorkspaceCarver carver;
  detail::take_select_lists(carver, rows, k);
  return carver.bytes();
}

void knn_select(const KnnSelectArgs& args, void* stream_ptr) {
  using namespace detail;
  const DotTile& tile = args.tile;
  const int64_t rows = tile.dots.shape[0], columns = tile.dots.shape[1], k = args.k;
  if (rows <= 0) return;  // nothing to enqueue

  DeviceGuard guard(tile.dots.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  WorkspaceCarver carver(args.workspace.data);
  const PartialTopk lists = take_select_lists(carver, rows, k);

  const float* dots = tile.dots.as<float>();
  const float* x_aux = tile.x_aux.as<float>();
  const float* y_aux = tile.y_aux.as<float>();
  float* values = args.values.as<float>();
  int64_t* indices = args.indices.as<int64_t>();
  float* row_max = args.row_max.data != nullptr ? args.row_max.as<float>() : nullptr;
  const unsigned blocks = capped_grid(rows, kSelectWarps);  // the kernels stride past it

  if (warp_queue_length(k) != 0) {
    dispatch_metric(tile.metric, [&](auto metric) {
      constexpr Metric M = decltype(metric)::value;
      dispatch_warp_queue(k, [&](auto queue) {
        constexpr int kQueue = decltype(queue)::value;
        warp_select_kernel<M, kQueue><<<blocks, kSelectThreads, 0, stream>>>(
            dots, x_aux, y_aux, rows, columns, tile.column_offset, k, values, indices, row_max);
        check_launch("warp_select_kernel");
      });
    });
    return;
  }

  const bool first = tile.column_offset == 0;
  dispatch_metric(tile.metric, [&](auto metric) {
    constexpr Metric M = decltype(metric)::value;
    heap_select_kernel<M><<<blocks, kSelectThreads, 0, stream>>>(
        dots, x_aux, y_aux, rows, columns, tile.column_offset, k, values, indices, row_max,
        first ? nullptr : lists.values, first ? nullptr : lists.indices,
        first ? nullptr : lists.max);
    check_launch("heap_select_kernel");
  });
  if (!first) {
    launch_merge_partial_topk(lists.values, lists.indices, lists.max, rows, k, 2, values,
                              indices, row_max, stream);
  }
}

void distance_tile(const DistanceTileArgs& args, void* stream_ptr) {
  using namespace detail;
  const DotTile& tile = args.tile;
  const int64_t rows = tile.dots.shape[0], columns = tile.dots.shape[1];
  if (rows <= 0 || columns <= 0) return;

  DeviceGuard guard(tile.dots.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const dim3 grid(capped_grid(columns, kDistanceThreads),
                  static_cast<unsigned>(rows < kMaxGridY ? rows : kMaxGridY));
  dispatch_metric(tile.metric, [&](auto metric) {
    constexpr Metric M = decltype(metric)::value;
    distance_tile_kernel<M><<<grid, kDistanceThreads, 0, stream>>>(
        tile.dots.as<float>(), tile.x_aux.as<float>(), tile.y_aux.as<float>(), rows, columns,
        args.out.shape[1], tile.column_offset, args.out.as<float>());
    check_launch("distance_tile_kernel");
  });
}

}  // namespace cuda
}  // namespace reid_fast
