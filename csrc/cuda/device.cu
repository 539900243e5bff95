// CUDA device queries and the per-row "aux" kernel (sum of squares -> metric_aux) shared by
// pairwise_distance and knn.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/cuda_common.cuh"

namespace reid_fast {
namespace cuda {

int device_count() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // do not leave the error for a later launch check to find
    return 0;
  }
  return count;
}

namespace detail {
namespace {

constexpr int kAuxThreads = 256;
constexpr int kWarpSize = 32;
constexpr int kAuxRowsPerBlock = kAuxThreads / kWarpSize;
constexpr unsigned kFullMask = 0xffffffffu;

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

}  // namespace

void launch_row_aux(const void* data, DType dtype, int64_t rows, int64_t d, Metric metric,
                    float* out, cudaStream_t stream) {
  if (rows <= 0) return;
  const int64_t wanted = (rows + kAuxRowsPerBlock - 1) / kAuxRowsPerBlock;
  const int64_t max_blocks = 2147483647;  // gridDim.x limit; the kernel strides past it
  const unsigned blocks = static_cast<unsigned>(wanted < max_blocks ? wanted : max_blocks);
  dispatch_loader(dtype, [&](auto loader) {
    using Loader = decltype(loader);
    row_aux_kernel<Loader><<<blocks, kAuxThreads, 0, stream>>>(data, rows, d, metric, out);
    check_launch("row_aux_kernel");
  });
}

}  // namespace detail
}  // namespace cuda
}  // namespace reid_fast
