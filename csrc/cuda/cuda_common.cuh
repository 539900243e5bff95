// Internal helpers shared by the CUDA translation units: error checks, the device guard,
// dtype dispatch, the row-norm ("aux") launcher and the shared-memory
// tiled dot-product routine used by both pairwise_distance and knn.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/distance_math.h"
#include "common/half_convert.h"
#include "common/topk.h"
#include "cuda/cuda_constants.cuh"
#include "reid_fast/errors.h"
#include "reid_fast/ops.h"
#include "reid_fast/tensor_view.h"
#include "reid_fast/workspace.h"

namespace reid_fast {
namespace cuda {
namespace detail {

// ---------------------------------------------------------------------------------------
// Host-side helpers.

// Throws std::runtime_error("reid_fast: <what>: <cudaGetErrorString>") unless ok.
inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("reid_fast: CUDA error in ") + what + ": " +
                             cudaGetErrorString(status));
  }
}

// After a kernel launch: reports a bad launch (configuration, no kernel image, ...).
inline void check_launch(const char* kernel_name) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("reid_fast: CUDA error launching ") + kernel_name +
                             ": " + cudaGetErrorString(status));
  }
}

// Makes `device` current for the scope; restores the previous device on exit, exceptions
// included.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) {
      check_cuda(cudaSetDevice(device), "cudaSetDevice");
      changed_ = true;
    }
  }
  ~DeviceGuard() {
    if (changed_) (void)cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// Calls fn(Float32Load{}) / fn(Float16Load{}) / fn(BFloat16Load{}) for the array's dtype.
template <typename Fn>
void dispatch_loader(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::Float32: fn(Float32Load{}); return;
    case DType::Float16: fn(Float16Load{}); return;
    case DType::BFloat16: fn(BFloat16Load{}); return;
    default: break;
  }
  throw_type_error("reid_fast CUDA: features must be float32, float16 or bfloat16, got ",
                   dtype_name(dtype));
}

// Writes out[r] = metric_aux(metric, sum of squares of row r) for the `rows` rows of a
// (rows, d) float32/float16/bfloat16 array. Defined in device.cu. rows == 0 launches nothing.
void launch_row_aux(const void* data, DType dtype, int64_t rows, int64_t d, Metric metric,
                    float* out, cudaStream_t stream);

// ---------------------------------------------------------------------------------------
// Device-side tile routine.

constexpr int kTile = 64;                    // rows of x and of y per tile
constexpr int kTileK = 16;                   // depth of one shared-memory chunk
constexpr int kTileThreads = 256;            // threads per block (16 x 16)
constexpr int kMicro = 4;                    // 4 x 4 register micro-tile per thread
constexpr int kTileLd = kTile + 1;           // padded leading dimension in shared memory
constexpr int kTileSide = kTile / kMicro;    // 16 threads along each side
constexpr int kLoadsPerThread = kTile * kTileK / kTileThreads;  // 4

static_assert(kTileSide * kTileSide == kTileThreads, "256 threads form a 16 x 16 grid");
static_assert(kLoadsPerThread * kTileThreads == kTile * kTileK, "even chunk loads");

// Shared memory staging for one chunk: element [kk][r] is feature k0 + kk of row r.
struct TileSmem {
  float xs[kTileK][kTileLd];
  float ys[kTileK][kTileLd];
};

// acc[i][j] = <x[row0 + ty + 16 i], y[col0 + tx + 16 j]> with tx = threadIdx.x % 16,
// ty = threadIdx.x / 16, over all d features, in float32 (rows >= n_rows of x and rows
// >= n_cols of y read as zeros). Must be called by all 256 threads of the block (it
// synchronises the block); on return the shared staging buffers may be reused.
template <typename Loader>
__device__ __forceinline__ void tile_dot(const void* __restrict__ x, int64_t n_rows,
                                         const void* __restrict__ y, int64_t n_cols,
                                         int64_t d, int64_t row0, int64_t col0,
                                         TileSmem& smem, float (&acc)[kMicro][kMicro]) {
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kTileSide;
  const int ty = tid / kTileSide;

#pragma unroll
  for (int i = 0; i < kMicro; ++i) {
#pragma unroll
    for (int j = 0; j < kMicro; ++j) acc[i][j] = 0.0f;
  }

  for (int64_t k0 = 0; k0 < d; k0 += kTileK) {
    // Stage the chunk: 16 consecutive threads read 16 consecutive features of one row.
#pragma unroll
    for (int e = 0; e < kLoadsPerThread; ++e) {
      const int flat = tid + e * kTileThreads;
      const int r = flat / kTileK;
      const int kk = flat % kTileK;
      const int64_t feature = k0 + kk;
      const int64_t xrow = row0 + r;
      const int64_t yrow = col0 + r;
      smem.xs[kk][r] =
          (xrow < n_rows && feature < d) ? Loader::load(x, xrow * d + feature) : 0.0f;
      smem.ys[kk][r] =
          (yrow < n_cols && feature < d) ? Loader::load(y, yrow * d + feature) : 0.0f;
    }
    __syncthreads();

#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[kMicro];
      float b[kMicro];
#pragma unroll
      for (int i = 0; i < kMicro; ++i) a[i] = smem.xs[kk][ty + kTileSide * i];
#pragma unroll
      for (int j = 0; j < kMicro; ++j) b[j] = smem.ys[kk][tx + kTileSide * j];
#pragma unroll
      for (int i = 0; i < kMicro; ++i) {
#pragma unroll
        for (int j = 0; j < kMicro; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    __syncthreads();
  }
}


// ---------------------------------------------------------------------------------------
// Launch and warp helpers of the re-ranking / Jaccard / topk_rows kernels.

// Blocks for `work` items at `per_block` items per block, clamped to [1, 2^31 - 1]; kernels
// launched with it stride over whatever the grid does not cover.
// Streaming multiprocessors of a device (at least 1).
inline int64_t multiprocessor_count(int device_id) {
  int sms = 0;
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device_id),
             "cudaDeviceGetAttribute(cudaDevAttrMultiProcessorCount)");
  return sms < 1 ? 1 : sms;
}

// Ways S to split the m columns of a top-k selection when `units` work units (one per row
// or row block) fall short of `target_units`: enough to reach the target, but at most
// kMaxMergeLists, at least min_columns columns per split, and S * k <= m so the partial
// lists are never larger than the rows. The same function sizes the workspace and runs
// the op.
inline int64_t column_splits(int64_t units, int64_t target_units, int64_t m, int64_t k,
                             int64_t min_columns) {
  if (units <= 0 || m <= 0 || k <= 0 || units >= target_units) return 1;
  int64_t splits = (target_units + units - 1) / units;
  if (splits > kMaxMergeLists) splits = kMaxMergeLists;
  if (splits > m / min_columns) splits = m / min_columns;
  if (splits > m / k) splits = m / k;
  return splits < 1 ? 1 : splits;
}

// The partial lists of a split selection: values / indices [n][S][k], maxima [n][S]; all
// null when S == 1 (the selection then writes the outputs directly).
struct PartialTopk {
  float* values = nullptr;
  int64_t* indices = nullptr;
  float* max = nullptr;
};

inline PartialTopk take_partial_topk(WorkspaceCarver& carver, int64_t n, int64_t k,
                                     int64_t splits) {
  PartialTopk partial;
  if (splits > 1) {
    partial.values = carver.take<float>(size_product({n, splits, k}));
    partial.indices = carver.take<int64_t>(size_product({n, splits, k}));
    partial.max = carver.take<float>(size_product({n, splits}));
  }
  return partial;
}

// Merges each row's S sorted partial top-k lists ([n][S][k], from a gallery split) into
// values / indices (n, k), and row_max[i] = max of partial_max[i][.] when row_max is not
// null. Defined in device.cu; used by knn and topk_rows.
void launch_merge_partial_topk(const float* partial_values, const int64_t* partial_indices,
                               const float* partial_max, int64_t n, int64_t k, int64_t splits,
                               float* values, int64_t* indices, float* row_max,
                               cudaStream_t stream);

inline unsigned capped_grid(int64_t work, int64_t per_block) {
  const int64_t wanted = work <= 0 ? 1 : (work + per_block - 1) / per_block;
  return static_cast<unsigned>(wanted < kMaxGridX ? wanted : kMaxGridX);
}

// Inclusive prefix sum of `value` over the lanes of a full warp (lane 0 first). Must be
// called by all 32 lanes (full-mask shuffles).
__device__ __forceinline__ long long warp_inclusive_sum(long long value) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
#pragma unroll
  for (int offset = 1; offset < kWarpSize; offset *= 2) {
    const long long other = __shfl_up_sync(kFullMask, value, offset);
    if (lane >= offset) value += other;
  }
  return value;
}

// The candidates of the lanes set in `accepted` (one __ballot_sync) enter a heap the warp
// shares: lane 0 calls push_lane(b) for each set bit b in increasing lane order (push
// rejects what no longer qualifies, and the selection does not depend on the order
// candidates arrive in, common/topk.h); every lane then sets heap.size to the same value
// (push grows the heap by one per candidate until it holds `capacity`, so the count is
// known before lane 0's pushes advance its own copy), and the warp synchronises so that
// lane 0's heap writes are visible to all. Called by the whole warp.
template <typename Heap, typename PushLane>
__device__ __forceinline__ void warp_push_accepted(Heap& heap, int64_t capacity,
                                                   unsigned accepted, int lane,
                                                   PushLane push_lane) {
  const int64_t grown = heap.size + __popc(accepted);
  if (lane == 0) {
    unsigned pending = accepted;
    while (pending != 0u) {
      const int b = __ffs(static_cast<int>(pending)) - 1;
      pending &= pending - 1u;
      push_lane(b);
    }
  }
  heap.size = grown < capacity ? grown : capacity;
  __syncwarp(kFullMask);
}

// Bits of the lanes below this one (for ranks within a __ballot_sync mask).
__device__ __forceinline__ unsigned lanes_below_mask() {
  const unsigned lane = threadIdx.x % kWarpSize;
  return lane == 0u ? 0u : (kFullMask >> (kWarpSize - lane));
}

}  // namespace detail
}  // namespace cuda
}  // namespace reid_fast
