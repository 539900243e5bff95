// CUDA device queries and the per-row "aux" kernel (sum of squares -> metric_aux) shared by
// pairwise_distance and knn.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/topk.h"
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_constants.cuh"
#include "reid_fast/errors.h"

namespace reid_fast {
namespace cuda {

DeviceQuery query_devices() {
  DeviceQuery query;
  const cudaError_t status = cudaGetDeviceCount(&query.count);
  if (status == cudaSuccess) return query;
  (void)cudaGetLastError();  // do not leave the error for a later launch check to find
  query.count = 0;
  int driver = 0;  // CUDA version the driver supports, 0 when no driver is installed
  (void)cudaDriverGetVersion(&driver);
  query.absent = status == cudaErrorNoDevice || (status == cudaErrorInsufficientDriver && driver == 0);
  if (status == cudaErrorInsufficientDriver && driver == 0) {
    query.error = "no CUDA driver is installed";
  } else if (status == cudaErrorInsufficientDriver) {
    query.error = concat(cudaGetErrorString(status), " (the driver supports CUDA ", driver / 1000,
                         ".", driver % 1000 / 10, ", reid_fast's runtime is CUDA ",
                         CUDART_VERSION / 1000, ".", CUDART_VERSION % 1000 / 10, ")");
  } else {
    query.error = cudaGetErrorString(status);
  }
  return query;
}

namespace detail {
namespace {

constexpr int kAuxThreads = 256;
constexpr int kAuxRowsPerBlock = kAuxThreads / kWarpSize;

// One warp per row: out[row] = metric_aux(metric, sum over features of x[row][f]^2).
template <typename Loader>
__global__ void __launch_bounds__(kAuxThreads)
    row_aux_kernel(const void* __restrict__ data, int64_t rows, int64_t d, Metric metric,
                   float* __restrict__ out) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kAuxRowsPerBlock;
  // The row depends on the warp only, so the loop (and the shuffles in it) is warp-uniform.
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kAuxRowsPerBlock + warp; row < rows;
       row += stride) {
    const int64_t base = row * d;
    float sum = 0.0f;
    for (int64_t f = lane; f < d; f += kWarpSize) {
      const float v = Loader::load(data, base + f);
      sum += v * v;
    }
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      sum += __shfl_xor_sync(kFullMask, sum, offset);
    }
    if (lane == 0) out[row] = metric_aux(metric, sum);
  }
}

constexpr int kMergeThreads = 128;

// One thread per row: merges its S sorted partial lists into the outputs.
__global__ void __launch_bounds__(kMergeThreads)
    merge_partial_topk_kernel(const float* __restrict__ partial_values,
                              const int64_t* __restrict__ partial_indices,
                              const float* __restrict__ partial_max, int64_t n, int64_t k,
                              int64_t splits, float* __restrict__ values,
                              int64_t* __restrict__ indices, float* __restrict__ row_max) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kMergeThreads;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kMergeThreads + threadIdx.x; row < n;
       row += stride) {
    const int64_t lists_offset = row * splits * k;
    merge_sorted_lists(partial_values + lists_offset, partial_indices + lists_offset, splits,
                       k, values + row * k, indices + row * k);
    if (row_max != nullptr) {
      float best = -INFINITY;
      for (int64_t s = 0; s < splits; ++s) best = fmaxf(best, partial_max[row * splits + s]);
      row_max[row] = best;
    }
  }
}

}  // namespace

void launch_merge_partial_topk(const float* partial_values, const int64_t* partial_indices,
                               const float* partial_max, int64_t n, int64_t k, int64_t splits,
                               float* values, int64_t* indices, float* row_max,
                               cudaStream_t stream) {
  merge_partial_topk_kernel<<<capped_grid(n, kMergeThreads), kMergeThreads, 0, stream>>>(
      partial_values, partial_indices, partial_max, n, k, splits, values, indices, row_max);
  check_launch("merge_partial_topk_kernel");
}

void launch_row_aux(const void* data, DType dtype, int64_t rows, int64_t d, Metric metric,
                    float* out, cudaStream_t stream) {
  if (rows <= 0) return;
  const unsigned blocks = capped_grid(rows, kAuxRowsPerBlock);  // the kernel strides past it
  dispatch_loader(dtype, [&](auto loader) {
    using Loader = decltype(loader);
    row_aux_kernel<Loader><<<blocks, kAuxThreads, 0, stream>>>(data, rows, d, metric, out);
    check_launch("row_aux_kernel");
  });
}

}  // namespace detail
}  // namespace cuda
}  // namespace reid_fast
