// The sparse steps of k-reciprocal re-ranking on CUDA (docs/design.md 3.2, steps 3-6).
//
// rerank_reciprocal (V), both phases run the same kernels on the caller's stream:
//   row_aux (device.cu)        fill phase from features only: |f_i|^2 into the workspace.
//   reciprocal_sets_kernel     one warp per row i (256-thread blocks, grid-stride): lane p
//                              takes j = rank[i][p] and looks for i in rank_k1(j); ballots
//                              compact R(i, k1) and R(i, h) (rank order) into the workspace.
//   expansion_kernel           one warp per workspace slot (256-thread blocks, W slots,
//                              grid-stride over rows): R*(i) = R(i, k1) plus the qualifying
//                              R(c, h) (joins_expansion, one lane per c), collected into the
//                              slot's list of s entries; the warp sorts it (warp_sort: runs of
//                              32 in registers, then merge-path merges, O(s log s)) and keeps
//                              the first of each run of equal columns, its position being the
//                              number of kept entries before it (a ballot prefix count). Count
//                              phase: counts[i] = |R*(i)|. Fill phase: the
//                              columns go to indices[indptr[i] + pos], then the weights
//                              exp(-Dn[i, j]) (dense: one lane per column; features: the warp
//                              computes each dot product over d), summed by lane 0 in ascending
//                              column order and divided by the sum.
//   Workspace: aux float [N] | rk int64 [N (k1 + 1)] | rk_len int64 [N] | rh int64 [N (h + 1)]
//              | rh_len int64 [N] | star int64 [W cap] | star_scratch int64 [W cap], with
//              cap = (k1 + 1)(h + 2) (max_expansion_size) and W = min(N, 8192) slots, fewer
//              when the lists would exceed 2^26 entries each (1 GiB in all; k1 above 125).
//
// rerank_query_expansion (V'), both phases:
//   query_expansion_kernel     one thread per workspace slot (128-thread blocks, T slots,
//                              grid-stride over rows): a k2-way merge of the sorted rows
//                              V[rank[i][r]], r < k2; each distinct column's values are summed
//                              in the order r = 0 .. k2 - 1 and multiplied by 1 / k2. Count phase
//                              writes the number of distinct columns.
//   Workspace: cursor, end, head int64 [k2 T] each (element r of slot s at r * T + s, so that
//              neighbouring threads touch neighbouring words), T = min(N, 131072) slots.
//
// Nothing uses atomics or depends on scheduling: results are deterministic.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/rerank_math.h"
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_constants.cuh"

namespace reid_fast {
namespace cuda {
namespace detail {
namespace {

constexpr int kRerankThreads = 256;
constexpr int kRerankWarpsPerBlock = kRerankThreads / kWarpSize;
constexpr int64_t kReciprocalSlots = 8192;  // warps (with a private list each) in flight
// Most list entries (star and star_scratch each) over all slots: a large k1 gets fewer slots.
constexpr int64_t kReciprocalListEntries = int64_t{1} << 26;
constexpr int kQeThreads = 128;
constexpr int64_t kQeSlots = 131072;  // threads (with private cursors each) in flight
constexpr int64_t kNoColumn = INT64_MAX;

// ---------------------------------------------------------------------------------------
// Reciprocal sets and V.

struct ReciprocalLayout {
  float* aux;               // [N] squared norms of the features (fill phase, features only)
  int64_t* rk;              // [N][K] R(i, k1) in rank order
  int64_t* rk_len;          // [N]
  int64_t* rh;              // [N][H] R(i, h) in rank order
  int64_t* rh_len;          // [N]
  int64_t* star;            // [W][cap] R*(i) before dedup, one list per slot
  int64_t* star_scratch;    // [W][cap] the other buffer of each slot's merge sort
  int64_t slots;            // W
  int64_t cap;              // max_expansion_size(k1)
};

ReciprocalLayout carve_reciprocal(WorkspaceCarver& carver, int64_t rows, int64_t k1) {
  const int64_t rows_ = rows > 0 ? rows : 0;
  const int64_t k1_ = k1 > 0 ? k1 : 0;
  const int64_t width = k1_ + 1;
  const int64_t h_width = expansion_neighbours(k1_) + 1;
  ReciprocalLayout layout{};
  layout.cap = max_expansion_size(k1_);
  int64_t slots = kReciprocalListEntries / layout.cap;  // cap >= 2
  if (slots < 1) slots = 1;
  if (slots > kReciprocalSlots) slots = kReciprocalSlots;
  layout.slots = slots < rows_ ? slots : rows_;
  layout.aux = carver.take<float>(rows_);
  layout.rk = carver.take<int64_t>(size_product({rows_, width}));
  layout.rk_len = carver.take<int64_t>(rows_);
  layout.rh = carver.take<int64_t>(size_product({rows_, h_width}));
  layout.rh_len = carver.take<int64_t>(rows_);
  layout.star = carver.take<int64_t>(size_product({layout.slots, layout.cap}));
  layout.star_scratch = carver.take<int64_t>(size_product({layout.slots, layout.cap}));
  return layout;
}

// One warp per row i: R(i, k1) = { j = rank[i][p], p <= k1 : i in rank_k1(j) } and
// R(i, h) = { j = rank[i][p], p <= h : i in rank_h(j) }, both in rank order. Entries of rank
// outside [0, n) are skipped.
__global__ void __launch_bounds__(kRerankThreads)
    reciprocal_sets_kernel(const int64_t* __restrict__ rank, int64_t n, int64_t width,
                           int64_t h, int64_t* __restrict__ rk, int64_t* __restrict__ rk_len,
                           int64_t* __restrict__ rh, int64_t* __restrict__ rh_len) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t warp_in_grid = static_cast<int64_t>(blockIdx.x) * kRerankWarpsPerBlock +
                               static_cast<int64_t>(threadIdx.x) / kWarpSize;
  const int64_t warps_in_grid = static_cast<int64_t>(gridDim.x) * kRerankWarpsPerBlock;
  const int64_t h_width = h + 1;
  const unsigned below = lanes_below_mask();

  // Warp-uniform loops (the row depends on the warp only; width is a kernel argument).
  for (int64_t i = warp_in_grid; i < n; i += warps_in_grid) {
    const int64_t* rank_i = rank + i * width;
    int64_t size_k = 0;
    int64_t size_h = 0;
    for (int64_t p0 = 0; p0 < width; p0 += kWarpSize) {
      const int64_t p = p0 + lane;
      bool in_k = false;
      bool in_h = false;
      int64_t j = 0;
      if (p < width) {
        j = rank_i[p];
        if (j >= 0 && j < n) {
          const int64_t* rank_j = rank + j * width;
          int64_t q = width;
          for (int64_t t = 0; t < width; ++t) {
            if (rank_j[t] == i) {
              q = t;
              break;
            }
          }
          in_k = q < width;
          in_h = p <= h && q <= h;
        }
      }
      const unsigned ballot_k = __ballot_sync(kFullMask, in_k);
      const unsigned ballot_h = __ballot_sync(kFullMask, in_h);
      if (in_k) rk[i * width + size_k + __popc(ballot_k & below)] = j;
      if (in_h) rh[i * h_width + size_h + __popc(ballot_h & below)] = j;
      size_k += __popc(ballot_k);
      size_h += __popc(ballot_h);
    }
    if (lane == 0) {
      rk_len[i] = size_k;
      rh_len[i] = size_h;
    }
  }
}

enum class ExpansionMode : int { Count = 0, FillDense = 1, FillFeatures = 2 };

struct ExpansionParams {
  const int64_t* rk;
  const int64_t* rk_len;
  const int64_t* rh;
  const int64_t* rh_len;
  int64_t n;
  int64_t width;    // k1 + 1
  int64_t h_width;  // h + 1
  int64_t cap;
  int64_t slots;
  int64_t* star;
  int64_t* star_scratch;
  // Count phase.
  int64_t* counts;
  // Fill phase.
  const int64_t* indptr;
  int64_t* indices;
  float* values;
  const float* row_scale;
  const float* dense;     // (n, n), FillDense
  const void* features;   // (n, d), FillFeatures
  int64_t d;
  const float* aux;       // squared norms, FillFeatures
};

// The 32 values of a warp in ascending order across its lanes (a bitonic network over
// shuffles). Must be called by all 32 lanes.
__device__ __forceinline__ int64_t warp_sort32(int64_t value) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
#pragma unroll
  for (int size = 2; size <= kWarpSize; size *= 2) {
#pragma unroll
    for (int stride = size / 2; stride > 0; stride /= 2) {
      const int64_t other = __shfl_xor_sync(kFullMask, value, stride);
      const bool ascending = (lane & size) == 0;  // always true in the last round
      const bool lower = (lane & stride) == 0;
      const bool take_smaller = lower == ascending;
      value = (take_smaller == (other < value)) ? other : value;
    }
  }
  return value;
}

// How many of the first `diagonal` entries of the merge of the ascending lists a and b come
// from a, equal entries being taken from a first (the merge-path split).
__device__ __forceinline__ int64_t merge_path(const int64_t* a, int64_t a_len, const int64_t* b,
                                              int64_t b_len, int64_t diagonal) {
  int64_t low = diagonal > b_len ? diagonal - b_len : 0;
  int64_t high = diagonal < a_len ? diagonal : a_len;
  while (low < high) {
    const int64_t mid = low + (high - low) / 2;
    if (a[mid] <= b[diagonal - 1 - mid]) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low;
}

// Sorts list[0, size) ascending with the whole warp and returns the buffer holding the result
// (list or scratch, each of at least size entries): runs of 32 are sorted in registers, then
// neighbouring runs are merged, run lengths doubling, between the two buffers. Each lane merges
// an equal share of a pair's output, starting where merge_path puts it, so one round costs
// O(size / 32 + log size) per lane and the whole sort O(size log size) work. Must be called by
// all 32 lanes with the same arguments.
__device__ __forceinline__ int64_t* warp_sort(int64_t* list, int64_t* scratch, int64_t size) {
  const int64_t lane = static_cast<int64_t>(threadIdx.x) % kWarpSize;
  for (int64_t base = 0; base < size; base += kWarpSize) {  // warp-uniform
    const int64_t at = base + lane;
    // Padding sorts last, so the chunk's entries stay in its first lanes.
    const int64_t value = warp_sort32(at < size ? list[at] : kNoColumn);
    if (at < size) list[at] = value;
  }
  __syncwarp(kFullMask);
  int64_t* from = list;
  int64_t* to = scratch;
  for (int64_t run = kWarpSize; run < size; run *= 2) {  // warp-uniform
    for (int64_t start = 0; start < size; start += 2 * run) {
      const int64_t* a = from + start;
      const int64_t a_len = run < size - start ? run : size - start;
      const int64_t* b = a + a_len;
      const int64_t b_len = run < size - start - a_len ? run : size - start - a_len;
      const int64_t total = a_len + b_len;
      const int64_t share = (total + kWarpSize - 1) / kWarpSize;
      const int64_t begin = lane * share < total ? lane * share : total;
      const int64_t end = begin + share < total ? begin + share : total;
      int64_t i = merge_path(a, a_len, b, b_len, begin);
      int64_t j = begin - i;
      for (int64_t out = begin; out < end; ++out) {
        const bool from_a = j >= b_len || (i < a_len && a[i] <= b[j]);
        to[start + out] = from_a ? a[i++] : b[j++];
      }
    }
    __syncwarp(kFullMask);  // the round is complete before the next one reads it
    int64_t* const merged = to;
    to = from;
    from = merged;
  }
  return from;
}

// One warp per slot, rows slot, slot + W, ... (see the file comment).
template <typename Loader, ExpansionMode kMode>
__global__ void __launch_bounds__(kRerankThreads) expansion_kernel(const ExpansionParams p) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t slot = static_cast<int64_t>(blockIdx.x) * kRerankWarpsPerBlock +
                       static_cast<int64_t>(threadIdx.x) / kWarpSize;
  if (slot >= p.slots) return;  // whole warps only: the slot depends on the warp
  int64_t* list = p.star + slot * p.cap;
  int64_t* list_scratch = p.star_scratch + slot * p.cap;

  for (int64_t i = slot; i < p.n; i += p.slots) {
    // --- R*(i) before dedup: R(i, k1), then every qualifying R(c, h), into list[0, size).
    const int64_t reciprocal_size = p.rk_len[i];
    const int64_t* reciprocal = p.rk + i * p.width;
    for (int64_t t = lane; t < reciprocal_size; t += kWarpSize) list[t] = reciprocal[t];
    int64_t size = reciprocal_size;  // warp-uniform
    for (int64_t c0 = 0; c0 < reciprocal_size; c0 += kWarpSize) {
      const int64_t t = c0 + lane;
      long long add = 0;
      const int64_t* candidate = nullptr;
      if (t < reciprocal_size) {
        const int64_t c = reciprocal[t];  // in [0, n): reciprocal_sets_kernel checked it
        const int64_t candidate_size = p.rh_len[c];
        candidate = p.rh + c * p.h_width;
        if (joins_expansion(candidate, candidate_size, reciprocal, reciprocal_size)) {
          add = candidate_size;
        }
      }
      const long long inclusive = warp_inclusive_sum(add);
      const int64_t at = size + (inclusive - add);
      for (int64_t a = 0; a < add; ++a) list[at + a] = candidate[a];
      size += __shfl_sync(kFullMask, inclusive, kWarpSize - 1);
    }
    __syncwarp(kFullMask);  // the list is complete and visible to every lane

    // --- Sorted, then the first of each run of equal columns kept: R*(i) ascending, the
    // position of a kept entry being the number of kept entries before it.
    const int64_t* sorted = warp_sort(list, list_scratch, size);
    int64_t base = 0;
    int64_t row_nnz = 0;
    if constexpr (kMode != ExpansionMode::Count) {
      base = p.indptr[i];
      row_nnz = p.indptr[i + 1] - base;
    }
    int64_t distinct = 0;  // warp-uniform
    for (int64_t e0 = 0; e0 < size; e0 += kWarpSize) {
      const int64_t e = e0 + lane;
      const bool kept = e < size && (e == 0 || sorted[e] != sorted[e - 1]);
      const unsigned ballot = __ballot_sync(kFullMask, kept);
      if constexpr (kMode != ExpansionMode::Count) {
        // Never write past this row's slice of the output, whatever the caller's indptr says.
        const int64_t position = distinct + __popc(ballot & lanes_below_mask());
        if (kept && position < row_nnz) p.indices[base + position] = sorted[e];
      }
      distinct += __popc(ballot);
    }

    if constexpr (kMode == ExpansionMode::Count) {
      if (lane == 0) p.counts[i] = distinct;
    } else {
      const int64_t nnz = distinct < row_nnz ? distinct : row_nnz;
      __syncwarp(kFullMask);  // the row's columns are visible to every lane

      // --- Weights exp(-Dn[i, j]), then normalised by their sum in ascending column order.
      const float scale = p.row_scale[i];
      int64_t* row_indices = p.indices + base;
      float* row_values = p.values + base;
      if constexpr (kMode == ExpansionMode::FillDense) {
        const float* dense_row = p.dense + i * p.n;
        for (int64_t t = lane; t < nnz; t += kWarpSize) {
          row_values[t] = expf(-(dense_row[row_indices[t]] * scale));
        }
      } else {
        const float aux_i = p.aux[i];
        const int64_t row_i = i * p.d;
        for (int64_t t = 0; t < nnz; ++t) {  // warp-uniform: the warp shares each dot product
          const int64_t j = row_indices[t];
          const int64_t row_j = j * p.d;
          float dot = 0.0f;
          for (int64_t f = lane; f < p.d; f += kWarpSize) {
            dot += Loader::load(p.features, row_i + f) * Loader::load(p.features, row_j + f);
          }
#pragma unroll
          for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
            dot += __shfl_xor_sync(kFullMask, dot, offset);
          }
          if (lane == 0) {
            const float distance =
                finalize_distance<Metric::SqEuclidean>(dot, aux_i, p.aux[j]) * scale;
            row_values[t] = expf(-distance);
          }
        }
      }
      __syncwarp(kFullMask);
      float total = 0.0f;
      if (lane == 0) {
        for (int64_t t = 0; t < nnz; ++t) total += row_values[t];
      }
      total = __shfl_sync(kFullMask, total, 0);
      __syncwarp(kFullMask);  // lane 0 has read every weight before any is rewritten
      for (int64_t t = lane; t < nnz; t += kWarpSize) row_values[t] = row_values[t] / total;
    }
    __syncwarp(kFullMask);  // every lane is done with the slot's lists before the next row
  }
}

// ---------------------------------------------------------------------------------------
// Query expansion.

struct QueryExpansionLayout {
  int64_t* cursor;  // [k2][T]
  int64_t* end;     // [k2][T]
  int64_t* head;    // [k2][T] column at the cursor, kNoColumn once the list is exhausted
  int64_t slots;    // T
};

QueryExpansionLayout carve_query_expansion(WorkspaceCarver& carver, int64_t rows, int64_t k2) {
  const int64_t rows_ = rows > 0 ? rows : 0;
  const int64_t k2_ = k2 > 0 ? k2 : 0;
  QueryExpansionLayout layout{};
  layout.slots = rows_ < kQeSlots ? rows_ : kQeSlots;
  layout.cursor = carver.take<int64_t>(size_product({k2_, layout.slots}));
  layout.end = carver.take<int64_t>(size_product({k2_, layout.slots}));
  layout.head = carver.take<int64_t>(size_product({k2_, layout.slots}));
  return layout;
}

struct QueryExpansionParams {
  const int64_t* rank;
  int64_t n;
  int64_t width;   // rank columns
  int64_t lists;   // min(k2, width)
  float inverse;   // 1 / k2
  const int64_t* v_indptr;
  const int64_t* v_indices;
  const float* v_values;
  int64_t* cursor;
  int64_t* end;
  int64_t* head;
  int64_t slots;
  int64_t* counts;        // count phase (indices == nullptr)
  const int64_t* indptr;  // fill phase
  int64_t* indices;
  float* values;
};

__global__ void __launch_bounds__(kQeThreads) query_expansion_kernel(const QueryExpansionParams p) {
  const int64_t slot = static_cast<int64_t>(blockIdx.x) * kQeThreads + threadIdx.x;
  if (slot >= p.slots) return;  // no warp-level operations below: divergence is fine
  const bool fill = p.indices != nullptr;
  int64_t* cursor = p.cursor + slot;
  int64_t* end = p.end + slot;
  int64_t* head = p.head + slot;
  const int64_t stride = p.slots;

  for (int64_t i = slot; i < p.n; i += p.slots) {
    for (int64_t r = 0; r < p.lists; ++r) {
      const int64_t c = p.rank[i * p.width + r];
      int64_t b = 0;
      int64_t e = 0;
      if (c >= 0 && c < p.n) {
        b = p.v_indptr[c];
        e = p.v_indptr[c + 1];
      }
      cursor[r * stride] = b;
      end[r * stride] = e;
      head[r * stride] = b < e ? p.v_indices[b] : kNoColumn;
    }
    int64_t base = 0;
    int64_t row_nnz = 0;
    if (fill) {
      base = p.indptr[i];
      row_nnz = p.indptr[i + 1] - base;
    }
    int64_t distinct = 0;
    while (true) {
      int64_t column = kNoColumn;
      for (int64_t r = 0; r < p.lists; ++r) {
        const int64_t at = head[r * stride];
        column = at < column ? at : column;
      }
      if (column == kNoColumn) break;
      float sum = 0.0f;
      for (int64_t r = 0; r < p.lists; ++r) {
        if (head[r * stride] != column) continue;
        const int64_t at = cursor[r * stride];
        if (fill) sum += p.v_values[at];
        const int64_t next = at + 1;
        cursor[r * stride] = next;
        head[r * stride] = next < end[r * stride] ? p.v_indices[next] : kNoColumn;
      }
      if (fill && distinct < row_nnz) {
        p.indices[base + distinct] = column;
        p.values[base + distinct] = sum * p.inverse;
      }
      ++distinct;
    }
    if (!fill) p.counts[i] = distinct;
  }
}

}  // namespace
}  // namespace detail

std::size_t rerank_reciprocal_workspace_bytes(int64_t rows, int64_t k1) {
  WorkspaceCarver carver;
  detail::carve_reciprocal(carver, rows, k1);
  return carver.bytes();
}

void rerank_reciprocal(const ReciprocalArgs& args, void* stream_ptr) {
  using namespace detail;
  const int64_t n = args.rank.shape[0];
  const int64_t width = args.rank.shape[1];
  if (n <= 0) return;  // no rows: nothing to enqueue
  const bool count_phase = args.indices.data == nullptr;

  DeviceGuard guard(args.rank.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);

  if (width <= 0) {  // no neighbours: every R*(i) is empty
    if (count_phase) {
      check_cuda(cudaMemsetAsync(args.counts.data, 0, static_cast<std::size_t>(n) * sizeof(int64_t),
                                 stream),
                 "cudaMemsetAsync(counts)");
    }
    return;
  }
  const int64_t k1 = width - 1;
  const int64_t h = expansion_neighbours(k1);

  WorkspaceCarver carver(args.workspace.data);
  const ReciprocalLayout layout = carve_reciprocal(carver, n, k1);

  const bool from_features = args.distances.features.data != nullptr;
  if (!count_phase && from_features) {
    launch_row_aux(args.distances.features.data, args.distances.features.dtype, n,
                   args.distances.features.shape[1], Metric::SqEuclidean, layout.aux, stream);
  }

  const int64_t* rank = args.rank.as<int64_t>();
  reciprocal_sets_kernel<<<capped_grid(n, kRerankWarpsPerBlock), kRerankThreads, 0, stream>>>(
      rank, n, width, h, layout.rk, layout.rk_len, layout.rh, layout.rh_len);
  check_launch("reciprocal_sets_kernel");

  ExpansionParams params{};
  params.rk = layout.rk;
  params.rk_len = layout.rk_len;
  params.rh = layout.rh;
  params.rh_len = layout.rh_len;
  params.n = n;
  params.width = width;
  params.h_width = h + 1;
  params.cap = layout.cap;
  params.slots = layout.slots;
  params.star = layout.star;
  params.star_scratch = layout.star_scratch;
  const unsigned blocks = capped_grid(layout.slots, kRerankWarpsPerBlock);

  if (count_phase) {
    params.counts = args.counts.as<int64_t>();
    expansion_kernel<Float32Load, ExpansionMode::Count>
        <<<blocks, kRerankThreads, 0, stream>>>(params);
    check_launch("expansion_kernel");
    return;
  }

  params.indptr = args.indptr.as<int64_t>();
  params.indices = args.indices.as<int64_t>();
  params.values = args.values.as<float>();
  params.row_scale = args.distances.row_scale.as<float>();
  if (!from_features) {
    params.dense = args.distances.dense.as<float>();
    expansion_kernel<Float32Load, ExpansionMode::FillDense>
        <<<blocks, kRerankThreads, 0, stream>>>(params);
    check_launch("expansion_kernel");
    return;
  }
  params.features = args.distances.features.data;
  params.d = args.distances.features.shape[1];
  params.aux = layout.aux;
  dispatch_loader(args.distances.features.dtype, [&](auto loader) {
    using Loader = decltype(loader);
    expansion_kernel<Loader, ExpansionMode::FillFeatures>
        <<<blocks, kRerankThreads, 0, stream>>>(params);
    check_launch("expansion_kernel");
  });
}

std::size_t rerank_query_expansion_workspace_bytes(int64_t rows, int64_t k2, int64_t max_row_nnz) {
  (void)max_row_nnz;  // the k2-way merge needs no per-row column buffer
  WorkspaceCarver carver;
  detail::carve_query_expansion(carver, rows, k2);
  return carver.bytes();
}

void rerank_query_expansion(const QueryExpansionArgs& args, void* stream_ptr) {
  using namespace detail;
  const int64_t n = args.rank.shape[0];
  const int64_t width = args.rank.shape[1];
  const int64_t k2 = args.k2;
  if (n <= 0) return;  // no rows: nothing to enqueue
  const bool count_phase = args.indices.data == nullptr;

  DeviceGuard guard(args.rank.device_id);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);

  if (k2 <= 0) {  // no neighbours to average: every row of V' is empty
    if (count_phase) {
      check_cuda(cudaMemsetAsync(args.counts.data, 0, static_cast<std::size_t>(n) * sizeof(int64_t),
                                 stream),
                 "cudaMemsetAsync(counts)");
    }
    return;
  }

  WorkspaceCarver carver(args.workspace.data);
  const QueryExpansionLayout layout = carve_query_expansion(carver, n, k2);

  QueryExpansionParams params{};
  params.rank = args.rank.as<int64_t>();
  params.n = n;
  params.width = width;
  params.lists = k2 < width ? k2 : width;  // the bindings check k2 <= width; never read past
  params.inverse = 1.0f / static_cast<float>(k2);
  params.v_indptr = args.v_indptr.as<int64_t>();
  params.v_indices = args.v_indices.as<int64_t>();
  params.v_values = args.v_values.as<float>();
  params.cursor = layout.cursor;
  params.end = layout.end;
  params.head = layout.head;
  params.slots = layout.slots;
  if (count_phase) {
    params.counts = args.counts.as<int64_t>();
  } else {
    params.indptr = args.indptr.as<int64_t>();
    params.indices = args.indices.as<int64_t>();
    params.values = args.values.as<float>();
  }
  query_expansion_kernel<<<capped_grid(layout.slots, kQeThreads), kQeThreads, 0, stream>>>(params);
  check_launch("query_expansion_kernel");
}

}  // namespace cuda
}  // namespace reid_fast
