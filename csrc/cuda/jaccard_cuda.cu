// Batched Jaccard distance on CUDA (docs/design.md 3.3): for problem b, every query row i in
// [query_offsets[b], query_offsets[b + 1]) against every gallery row j in
// [gallery_offsets[b], gallery_offsets[b + 1]): 1 - m / (s_i + s_j - m), m = sum over shared
// columns of min(q[i, l], g[j, l]) (jaccard_from_sums).
//
// The gallery is turned into an inverted index bucketed by (gallery tile, column), where the
// gallery tiles are the fixed global row ranges [t T, (t + 1) T), T = kJaccardTile. Kernels, all
// on the caller's stream, none reading device data on the host:
//   jaccard_row_sums_kernel    thread per row, serial ascending sum: s of query and gallery rows.
//   (cudaMemsetAsync)          bucket counters = 0.
//   jaccard_bucket_count_kernel  warp per gallery row, lane per entry: atomicAdd on the
//                              (row / T, column) bucket's counter (integer, so exact).
//   jaccard_scan_kernel        one 1024-thread block: bucket_start = exclusive prefix sum of
//                              the counters (bucket_start[buckets] = total).
//   (cudaMemsetAsync)          bucket counters = 0 (they become fill cursors).
//   jaccard_bucket_fill_kernel warp per gallery row: (row, value) into its bucket. The order
//                              inside a bucket depends on the atomics, but nothing below
//                              depends on that order: a bucket holds each row at most once.
//   jaccard_kernel             128-thread block per (query row, tile split); grid-stride. The
//                              block finds its problem by binary search over query_offsets,
//                              then for each gallery tile of the problem it owns: zeroes a
//                              shared accumulator of T floats, walks the query row's columns in
//                              ascending order (their bucket ranges staged in shared memory,
//                              128 at a time), and for each column adds min(q, g) of the
//                              bucket's entries into acc[row] (one thread per entry, a
//                              __syncthreads between columns), then writes the tile's
//                              distances. Each m is summed in ascending column order, as the
//                              CPU does, so results are deterministic.
// Workspace: q_sum float [Q] | g_sum float [G] | bucket_count uint32 [tiles C] |
//            bucket_start int64 [tiles C + 1] | entry_row int32 [gallery nnz] |
//            entry_value float [gallery nnz], tiles = ceil(G / T). max_gallery_rows is not
//            needed (the accumulator is a shared-memory tile).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/jaccard_math.h"
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_constants.cuh"

namespace reid_fast {
namespace cuda {
namespace detail {
namespace {

constexpr int64_t kJaccardTile = 4096;  // gallery rows per tile (shared accumulator floats)
constexpr int kJaccardThreads = 128;
constexpr int kJaccardRowWarps = 8;     // warps per block of the count / fill kernels
constexpr int kJaccardRowThreads = kJaccardRowWarps * kWarpSize;
constexpr int kJaccardSumThreads = 128;
constexpr int kScanThreads = 1024;
constexpr int kScanItems = 8;           // consecutive counters per thread per chunk
constexpr int kScanWarps = kScanThreads / kWarpSize;
constexpr int64_t kJaccardBlocksPerSm = 16;

static_assert(kScanWarps == kWarpSize, "the scan's second level is one warp");

int64_t jaccard_tiles(int64_t gallery_rows) {
  return gallery_rows > 0 ? (gallery_rows + kJaccardTile - 1) / kJaccardTile : 0;
}

struct JaccardLayout {
  float* q_sum;             // [Q]
  float* g_sum;             // [G]
  unsigned* bucket_count;   // [tiles * C]
  int64_t* bucket_start;    // [tiles * C + 1]
  int32_t* entry_row;       // [gallery nnz]
  float* entry_value;       // [gallery nnz]
  int64_t buckets;          // tiles * C
};

JaccardLayout carve_jaccard(WorkspaceCarver& carver, int64_t query_rows, int64_t gallery_rows,
                            int64_t gallery_nnz, int64_t num_columns) {
  const int64_t q = query_rows > 0 ? query_rows : 0;
  const int64_t g = gallery_rows > 0 ? gallery_rows : 0;
  const int64_t nnz = gallery_nnz > 0 ? gallery_nnz : 0;
  const int64_t c = num_columns > 0 ? num_columns : 0;
  JaccardLayout layout{};
  layout.buckets = size_product({jaccard_tiles(g), c});
  layout.q_sum = carver.take<float>(q);
  layout.g_sum = carver.take<float>(g);
  layout.bucket_count = carver.take<unsigned>(layout.buckets);
  layout.bucket_start = carver.take<int64_t>(size_sum(layout.buckets, 1));
  layout.entry_row = carver.take<int32_t>(nnz);
  layout.entry_value = carver.take<float>(nnz);
  return layout;
}

// out[r] = sum of values[indptr[r] .. indptr[r + 1]), in ascending order.
__global__ void __launch_bounds__(kJaccardSumThreads)
    jaccard_row_sums_kernel(const int64_t* __restrict__ indptr, const float* __restrict__ values,
                            int64_t rows, float* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kJaccardSumThreads;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kJaccardSumThreads + threadIdx.x; r < rows;
       r += stride) {
    float sum = 0.0f;
    const int64_t end = indptr[r + 1];
    for (int64_t e = indptr[r]; e < end; ++e) sum += values[e];
    out[r] = sum;
  }
}

// Warp per gallery row j (grid-stride), lane per entry. Fill == false: counts the entries of
// each (j / T, column) bucket. Fill == true: writes (j, value) at bucket_start + cursor.
// Entries whose column is outside [0, C) are ignored by both.
template <bool kFill>
__global__ void __launch_bounds__(kJaccardRowThreads)
    jaccard_bucket_kernel(const int64_t* __restrict__ indptr, const int64_t* __restrict__ indices,
                          const float* __restrict__ values, int64_t rows, int64_t num_columns,
                          unsigned* __restrict__ bucket_count,
                          const int64_t* __restrict__ bucket_start,
                          int32_t* __restrict__ entry_row, float* __restrict__ entry_value) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t warp_in_grid = static_cast<int64_t>(blockIdx.x) * kJaccardRowWarps +
                               static_cast<int64_t>(threadIdx.x) / kWarpSize;
  const int64_t warps_in_grid = static_cast<int64_t>(gridDim.x) * kJaccardRowWarps;
  for (int64_t j = warp_in_grid; j < rows; j += warps_in_grid) {
    const int64_t tile_base = (j / kJaccardTile) * num_columns;
    const int64_t end = indptr[j + 1];
    for (int64_t e = indptr[j] + lane; e < end; e += kWarpSize) {
      const int64_t column = indices[e];
      if (column < 0 || column >= num_columns) continue;
      const int64_t bucket = tile_base + column;
      const unsigned slot = atomicAdd(bucket_count + bucket, 1u);
      if constexpr (kFill) {
        const int64_t at = bucket_start[bucket] + static_cast<int64_t>(slot);
        entry_row[at] = static_cast<int32_t>(j);
        entry_value[at] = values[e];
      }
    }
  }
}

// One block of 1024 threads: start[b] = sum of count[0 .. b) for b <= len.
__global__ void __launch_bounds__(kScanThreads)
    jaccard_scan_kernel(const unsigned* __restrict__ count, int64_t len,
                        int64_t* __restrict__ start) {
  __shared__ long long warp_totals[kScanWarps];
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % kWarpSize;
  const int warp = tid / kWarpSize;
  constexpr int64_t kChunk = static_cast<int64_t>(kScanThreads) * kScanItems;
  long long carry = 0;  // identical in every thread
  for (int64_t base = 0; base < len; base += kChunk) {  // block-uniform
    const int64_t first = base + static_cast<int64_t>(tid) * kScanItems;
    long long items[kScanItems];
    long long sum = 0;
#pragma unroll
    for (int it = 0; it < kScanItems; ++it) {
      const int64_t idx = first + it;
      items[it] = idx < len ? static_cast<long long>(count[idx]) : 0;
      sum += items[it];
    }
    const long long inclusive = warp_inclusive_sum(sum);
    if (lane == kWarpSize - 1) warp_totals[warp] = inclusive;
    __syncthreads();
    if (warp == 0) warp_totals[lane] = warp_inclusive_sum(warp_totals[lane]);
    __syncthreads();
    long long prefix = carry + (warp > 0 ? warp_totals[warp - 1] : 0) + inclusive - sum;
#pragma unroll
    for (int it = 0; it < kScanItems; ++it) {
      const int64_t idx = first + it;
      if (idx < len) start[idx] = prefix;
      prefix += items[it];
    }
    carry += warp_totals[kScanWarps - 1];
    __syncthreads();  // everyone has read warp_totals before the next chunk rewrites it
  }
  if (tid == 0) start[len] = carry;
}

struct JaccardParams {
  const int64_t* q_indptr;
  const int64_t* q_indices;
  const float* q_values;
  const int64_t* query_offsets;
  const int64_t* gallery_offsets;
  const int64_t* out_offsets;
  int64_t problems;
  int64_t query_rows;
  int64_t num_columns;
  int64_t splits;  // tile splits per query row (items = query_rows * splits)
  const float* q_sum;
  const float* g_sum;
  const int64_t* bucket_start;
  const int32_t* entry_row;
  const float* entry_value;
  float* out;
  int64_t out_size;
  float weight;  // out = blend_jaccard(J, out, weight, keep)
  float keep;
};

__global__ void __launch_bounds__(kJaccardThreads) jaccard_kernel(const JaccardParams p) {
  __shared__ float acc[kJaccardTile];
  __shared__ int64_t range_begin[kJaccardThreads];
  __shared__ int64_t range_end[kJaccardThreads];
  __shared__ float range_value[kJaccardThreads];

  const int tid = static_cast<int>(threadIdx.x);
  const int64_t items = p.query_rows * p.splits;
  // Every quantity that steers a loop or a __syncthreads below is computed identically by all
  // threads of the block (from the item, kernel arguments and shared memory).
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int64_t qrow = item / p.splits;
    const int64_t split = item - qrow * p.splits;

    // Problem b: the last one with query_offsets[b] <= qrow; qrow must also be < its end.
    int64_t lo = 0;
    int64_t hi = p.problems;  // first b in [0, problems) with query_offsets[b] > qrow
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (p.query_offsets[mid] <= qrow) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    const int64_t b = lo - 1;
    if (b < 0 || qrow >= p.query_offsets[b + 1]) continue;  // rows outside every problem
    const int64_t g0 = p.gallery_offsets[b];
    const int64_t g1 = p.gallery_offsets[b + 1];
    if (g1 <= g0) continue;
    const int64_t out_row = p.out_offsets[b] + (qrow - p.query_offsets[b]) * (g1 - g0) - g0;
    const int64_t q_begin = p.q_indptr[qrow];
    const int64_t q_count = p.q_indptr[qrow + 1] - q_begin;
    const float q_sum = p.q_sum[qrow];

    const int64_t first_tile = g0 / kJaccardTile;
    const int64_t last_tile = (g1 - 1) / kJaccardTile;
    for (int64_t tile = first_tile + split; tile <= last_tile; tile += p.splits) {
      const int64_t tile_row0 = tile * kJaccardTile;
      const int64_t row_begin = g0 > tile_row0 ? g0 : tile_row0;
      const int64_t row_end = g1 < tile_row0 + kJaccardTile ? g1 : tile_row0 + kJaccardTile;
      const int64_t* tile_start = p.bucket_start + tile * p.num_columns;

      for (int64_t r = row_begin + tid; r < row_end; r += kJaccardThreads) {
        acc[r - tile_row0] = 0.0f;
      }
      __syncthreads();

      for (int64_t c0 = 0; c0 < q_count; c0 += kJaccardThreads) {
        // Stage the bucket ranges of up to 128 query columns.
        const int64_t x = c0 + tid;
        int64_t begin = 0;
        int64_t end = 0;
        float value = 0.0f;
        if (x < q_count) {
          const int64_t column = p.q_indices[q_begin + x];
          value = p.q_values[q_begin + x];
          if (column >= 0 && column < p.num_columns) {
            begin = tile_start[column];
            end = tile_start[column + 1];
          }
        }
        range_begin[tid] = begin;
        range_end[tid] = end;
        range_value[tid] = value;
        __syncthreads();

        const int64_t staged = q_count - c0 < kJaccardThreads ? q_count - c0 : kJaccardThreads;
        for (int64_t y = 0; y < staged; ++y) {  // columns in ascending order
          const int64_t e0 = range_begin[y];
          const int64_t e1 = range_end[y];
          if (e1 <= e0) continue;  // block-uniform (shared values)
          const float qv = range_value[y];
          for (int64_t e = e0 + tid; e < e1; e += kJaccardThreads) {
            const int64_t row = p.entry_row[e];
            // The bucket may hold rows of other problems sharing this tile.
            if (row >= row_begin && row < row_end) {
              acc[row - tile_row0] += fminf(qv, p.entry_value[e]);
            }
          }
          __syncthreads();  // the next column may add to the same rows
        }
        __syncthreads();  // the staged ranges are read before the next chunk rewrites them
      }

      for (int64_t r = row_begin + tid; r < row_end; r += kJaccardThreads) {
        const int64_t at = out_row + r;
        if (at >= 0 && at < p.out_size) {
          p.out[at] = blend_jaccard(jaccard_from_sums(acc[r - tile_row0], q_sum, p.g_sum[r]),
                                    &p.out[at], p.weight, p.keep);
        }
      }
      __syncthreads();  // the accumulator is read before the next tile zeroes it
    }
  }
}

}  // namespace
}  // namespace detail

std::size_t jaccard_workspace_bytes(int64_t query_rows, int64_t gallery_rows, int64_t gallery_nnz,
                                    int64_t num_columns, int64_t max_gallery_rows) {
  (void)max_gallery_rows;  // the per-query accumulator is a shared-memory tile
  WorkspaceCarver carver;
  detail::carve_jaccard(carver, query_rows, gallery_rows, gallery_nnz, num_columns);
  return carver.bytes();
}

void jaccard(const JaccardArgs& args, void* stream_ptr) {
  using namespace detail;
  const int64_t query_rows = args.q_indptr.shape[0] - 1;
  const int64_t gallery_rows = args.g_indptr.shape[0] - 1;
  const int64_t gallery_nnz = args.g_indices.shape[0];
  const int64_t num_columns = args.num_columns;
  const int64_t problems = args.query_offsets.shape[0] - 1;
  const int64_t out_size = args.out.numel();
  if (query_rows <= 0 || gallery_rows <= 0 || problems <= 0 || out_size <= 0) return;
  if (gallery_rows > INT32_MAX) {
    throw_value_error("reid_fast CUDA jaccard: at most 2^31 - 1 gallery rows, got ",
                      gallery_rows);
  }

  DeviceGuard guard(args.q_indptr.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);

  WorkspaceCarver carver(args.workspace.data);
  const JaccardLayout layout =
      carve_jaccard(carver, query_rows, gallery_rows, gallery_nnz, num_columns);

  const int64_t* g_indptr = args.g_indptr.as<int64_t>();
  const int64_t* g_indices = args.g_indices.as<int64_t>();
  const float* g_values = args.g_values.as<float>();

  jaccard_row_sums_kernel<<<capped_grid(query_rows, kJaccardSumThreads), kJaccardSumThreads, 0,
                            stream>>>(args.q_indptr.as<int64_t>(), args.q_values.as<float>(),
                                      query_rows, layout.q_sum);
  check_launch("jaccard_row_sums_kernel");
  jaccard_row_sums_kernel<<<capped_grid(gallery_rows, kJaccardSumThreads), kJaccardSumThreads, 0,
                            stream>>>(g_indptr, g_values, gallery_rows, layout.g_sum);
  check_launch("jaccard_row_sums_kernel");

  if (layout.buckets > 0) {
    const std::size_t count_bytes = static_cast<std::size_t>(layout.buckets) * sizeof(unsigned);
    const unsigned row_blocks = capped_grid(gallery_rows, kJaccardRowWarps);
    check_cuda(cudaMemsetAsync(layout.bucket_count, 0, count_bytes, stream),
               "cudaMemsetAsync(bucket counters)");
    jaccard_bucket_kernel<false><<<row_blocks, kJaccardRowThreads, 0, stream>>>(
        g_indptr, g_indices, g_values, gallery_rows, num_columns, layout.bucket_count, nullptr,
        nullptr, nullptr);
    check_launch("jaccard_bucket_kernel<count>");
    jaccard_scan_kernel<<<1, kScanThreads, 0, stream>>>(layout.bucket_count, layout.buckets,
                                                        layout.bucket_start);
    check_launch("jaccard_scan_kernel");
    check_cuda(cudaMemsetAsync(layout.bucket_count, 0, count_bytes, stream),
               "cudaMemsetAsync(bucket cursors)");
    jaccard_bucket_kernel<true><<<row_blocks, kJaccardRowThreads, 0, stream>>>(
        g_indptr, g_indices, g_values, gallery_rows, num_columns, layout.bucket_count,
        layout.bucket_start, layout.entry_row, layout.entry_value);
    check_launch("jaccard_bucket_kernel<fill>");
  }

  // Tile splits per query row: enough (query row, split) items to fill the GPU, never more
  // than the gallery has tiles.
  const int64_t target_blocks =
      kJaccardBlocksPerSm * multiprocessor_count(args.q_indptr.device_id);
  const int64_t tiles = jaccard_tiles(gallery_rows);
  int64_t splits = (target_blocks + query_rows - 1) / query_rows;
  if (splits > tiles) splits = tiles;
  if (splits < 1) splits = 1;

  JaccardParams params{};
  params.q_indptr = args.q_indptr.as<int64_t>();
  params.q_indices = args.q_indices.as<int64_t>();
  params.q_values = args.q_values.as<float>();
  params.query_offsets = args.query_offsets.as<int64_t>();
  params.gallery_offsets = args.gallery_offsets.as<int64_t>();
  params.out_offsets = args.out_offsets.as<int64_t>();
  params.problems = problems;
  params.query_rows = query_rows;
  params.num_columns = layout.buckets > 0 ? num_columns : 0;  // no buckets: no column matches
  params.splits = splits;
  params.q_sum = layout.q_sum;
  params.g_sum = layout.g_sum;
  params.bucket_start = layout.bucket_start;
  params.entry_row = layout.entry_row;
  params.entry_value = layout.entry_value;
  params.out = args.out.as<float>();
  params.out_size = out_size;
  params.weight = args.weight;
  params.keep = args.keep;
  jaccard_kernel<<<capped_grid(query_rows * splits, 1), kJaccardThreads, 0, stream>>>(params);
  check_launch("jaccard_kernel");
}

}  // namespace cuda
}  // namespace reid_fast
