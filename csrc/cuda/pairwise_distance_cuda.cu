// pairwise_distance on CUDA: out[i][j] = finalize_distance<M>(<x_i, y_j>, aux(x_i), aux(y_j)).
//
// Two kernels on the caller's stream: row_aux (device.cu) writes the per-row terms of x and y
// into the workspace, then pairwise_kernel computes 64 x 64 tiles of dot products with the
// shared tile routine and finalizes them in registers.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/cuda_common.cuh"

namespace reid_fast {
namespace cuda {
namespace detail {
namespace {

struct PairwiseLayout {
  float* x_aux;
  float* y_aux;
};

PairwiseLayout carve_pairwise(WorkspaceCarver& carver, int64_t n, int64_t m) {
  PairwiseLayout layout;
  layout.x_aux = carver.take<float>(n);
  layout.y_aux = carver.take<float>(m);
  return layout;
}

// Grid: x and y each index tiles along one side (tiles_x = tiles of the larger side, on
// grid.x); both stride so that any tile count is covered. The loop bounds depend on the
// block only, so every thread reaches the same __syncthreads.
template <typename Loader, Metric M>
__global__ void __launch_bounds__(kTileThreads)
    pairwise_kernel(const void* __restrict__ x, const void* __restrict__ y,
                    const float* __restrict__ x_aux, const float* __restrict__ y_aux,
                    float* __restrict__ out, int64_t n, int64_t m, int64_t d,
                    int64_t tiles_x, int64_t tiles_y, bool rows_on_grid_x) {
  __shared__ TileSmem smem;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kTileSide;
  const int ty = tid / kTileSide;

  for (int64_t by = blockIdx.y; by < tiles_y; by += gridDim.y) {
    for (int64_t bx = blockIdx.x; bx < tiles_x; bx += gridDim.x) {
      const int64_t row0 = (rows_on_grid_x ? bx : by) * kTile;
      const int64_t col0 = (rows_on_grid_x ? by : bx) * kTile;

      float acc[kMicro][kMicro];
      tile_dot<Loader>(x, n, y, m, d, row0, col0, smem, acc);

#pragma unroll
      for (int i = 0; i < kMicro; ++i) {
        const int64_t row = row0 + ty + kTileSide * i;
        if (row >= n) continue;
        const float xa = x_aux[row];
        float* out_row = out + row * m;
#pragma unroll
        for (int j = 0; j < kMicro; ++j) {
          const int64_t col = col0 + tx + kTileSide * j;
          if (col < m) out_row[col] = finalize_distance<M>(acc[i][j], xa, y_aux[col]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace detail

std::size_t pairwise_distance_workspace_bytes(int64_t n, int64_t m, int64_t d) {
  (void)d;
  WorkspaceCarver carver;
  detail::carve_pairwise(carver, n, m);
  return carver.bytes();
}

void pairwise_distance(const PairwiseArgs& args, void* stream_ptr) {
  using namespace detail;
  const int64_t n = args.x.shape[0];
  const int64_t m = args.y.shape[0];
  const int64_t d = args.x.shape[1];
  if (n <= 0 || m <= 0) return;  // empty output: nothing to enqueue

  DeviceGuard guard(args.x.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);

  WorkspaceCarver carver(args.workspace.data);
  const PairwiseLayout layout = carve_pairwise(carver, n, m);

  launch_row_aux(args.x.data, args.x.dtype, n, d, args.metric, layout.x_aux, stream);
  launch_row_aux(args.y.data, args.y.dtype, m, d, args.metric, layout.y_aux, stream);

  const int64_t row_tiles = (n + kTile - 1) / kTile;
  const int64_t col_tiles = (m + kTile - 1) / kTile;
  const bool rows_on_grid_x = row_tiles >= col_tiles;
  const int64_t tiles_x = rows_on_grid_x ? row_tiles : col_tiles;
  const int64_t tiles_y = rows_on_grid_x ? col_tiles : row_tiles;
  const dim3 grid(static_cast<unsigned>(tiles_x < kMaxGridX ? tiles_x : kMaxGridX),
                  static_cast<unsigned>(tiles_y < kMaxGridY ? tiles_y : kMaxGridY));
  float* out = args.out.as<float>();

  dispatch_loader(args.x.dtype, [&](auto loader) {
    using Loader = decltype(loader);
    dispatch_metric(args.metric, [&](auto tag) {
      constexpr Metric M = decltype(tag)::value;
      pairwise_kernel<Loader, M><<<grid, kTileThreads, 0, stream>>>(
          args.x.data, args.y.data, layout.x_aux, layout.y_aux, out, n, m, d, tiles_x,
          tiles_y, rows_on_grid_x);
      check_launch("pairwise_kernel");
    });
  });
}

}  // namespace cuda
}  // namespace reid_fast
