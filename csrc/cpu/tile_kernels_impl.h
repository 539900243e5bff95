// The CPU tile kernels, written once and compiled once per instruction set: each
// tile_kernels_<isa>.cpp defines REID_CPU_ISA (namespace), REID_CPU_VEC_FLOATS (floats per
// vector register) and REID_CPU_MR (micro-kernel rows) and includes this file with its own
// compiler flags. GCC/Clang vector extensions keep the micro-kernel's accumulators in
// registers; loads go through memcpy, so no alignment is assumed.
//
// Blocking (BLIS-style): a block of x rows against the y columns in chunks of kChunkColumns,
// the depth in chunks of kDepthChunk; the y micro-panel (kDepthChunk x kNR floats) stays in
// L1 while the x micro-panels of the block stream from L2. Products accumulate in a
// per-thread scratch tile, then the epilogue turns them into distances (distance_math.h)
// and either stores them (pairwise) or selects the k best per row (knn).
#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "common/distance_math.h"
#include "common/half_convert.h"
#include "common/topk.h"
#include "cpu/cpu_kernels.h"

namespace reid_fast::cpu::REID_CPU_ISA {
namespace {

constexpr int kW = REID_CPU_VEC_FLOATS;
constexpr int kMR = REID_CPU_MR;
constexpr int kNV = 2;
constexpr int kNR = kW * kNV;
// Also the run of products summed in registers before they are added to the scratch tile:
// 128 keeps float32 dot products as accurate as torch's (tests/ops/test_knn_accuracy.py;
// 256 was about 2% less accurate) at the same speed.
constexpr int64_t kDepthChunk = 128;
constexpr int64_t kChunkColumns = 512;
static_assert(kChunkColumns % kNR == 0, "column chunks must hold whole y panels");

typedef float vfloat __attribute__((vector_size(kW * sizeof(float))));

inline vfloat vload(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void vstore(float* p, vfloat v) { std::memcpy(p, &v, sizeof(v)); }
// s - (+0) == s for every float (unlike s + 0 for s = -0), so this folds to a broadcast.
inline vfloat vsplat(float s) { return s - vfloat{}; }

// c (kMR x kNR, row stride ldc) = [c +] a_panel (depth x kMR) * b_panel (depth x kNR).
inline void micro_kernel(int64_t depth, const float* a, const float* b, float* c, int64_t ldc,
                         bool accumulate) {
  vfloat acc[kMR][kNV];
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kNV; ++v) acc[i][v] = vfloat{};
  for (int64_t p = 0; p < depth; ++p) {
    vfloat bv[kNV];
    for (int v = 0; v < kNV; ++v) bv[v] = vload(b + v * kW);
#pragma GCC unroll 16
    for (int i = 0; i < kMR; ++i) {
      const vfloat ai = vsplat(a[i]);
      for (int v = 0; v < kNV; ++v) acc[i][v] += ai * bv[v];
    }
    a += kMR;
    b += kNR;
  }
  for (int i = 0; i < kMR; ++i) {
    for (int v = 0; v < kNV; ++v) {
      float* dst = c + i * ldc + v * kW;
      vstore(dst, accumulate ? vload(dst) + acc[i][v] : acc[i][v]);
    }
  }
}

// scratch[r][j] = <x row (block.row_begin + r), y row (col + j)> for the block's rows and
// the padded columns [col, col + padded_columns).
void dot_products(const PackedRows& x, const PackedRows& y, const Block& block, int64_t col,
                  int64_t padded_columns, float* scratch) {
  const int64_t depth = x.depth;
  const int64_t row_panels = (block.row_end - block.row_begin + kMR - 1) / kMR;
  const float* x_first = x.panels + (block.row_begin / kMR) * depth * kMR;
  const float* y_first = y.panels + (col / kNR) * depth * kNR;
  for (int64_t p0 = 0; p0 < depth; p0 += kDepthChunk) {
    const int64_t chunk = depth - p0 < kDepthChunk ? depth - p0 : kDepthChunk;
    for (int64_t jr = 0; jr < padded_columns; jr += kNR) {
      const float* b = y_first + (jr / kNR) * depth * kNR + p0 * kNR;
      for (int64_t ir = 0; ir < row_panels; ++ir) {
        const float* a = x_first + ir * depth * kMR + p0 * kMR;
        micro_kernel(chunk, a, b, scratch + ir * kMR * kChunkColumns + jr, kChunkColumns, p0 > 0);
      }
    }
  }
}

template <typename Loader>
void pack_rows(const void* src, int64_t rows, int64_t depth, int panel, Metric metric,
               int64_t row_begin, int64_t row_end, float* panels, float* aux) {
  double sum_squares[kMaxPanel];  // in double: as accurate as a pairwise float sum, or more
  float poison[kMaxPanel];  // sum of value * 0: stays 0 unless a value is NaN or infinite
  for (int64_t first = row_begin; first < row_end; first += panel) {
    float* dst = panels + (first / panel) * depth * panel;
    const int live = static_cast<int>(rows - first < panel ? rows - first : panel);
    for (int r = 0; r < panel; ++r) sum_squares[r] = poison[r] = 0.0f;
    for (int64_t f = 0; f < depth; ++f) {
      for (int r = 0; r < live; ++r) {
        const float value = Loader::load(src, (first + r) * depth + f);
        dst[f * panel + r] = value;
        sum_squares[r] += static_cast<double>(value) * value;
        poison[r] += value * 0.0f;
      }
      for (int r = live; r < panel; ++r) dst[f * panel + r] = 0.0f;
    }
    for (int r = 0; r < live; ++r) {
      // NaN marks a NaN or Inf value, Inf a row beyond kMaxSquaredNorm (never a metric term).
      const float squares = static_cast<float>(sum_squares[r]);
      aux[first + r] = poison[r] != 0.0f              ? NAN
                       : !(squares <= kMaxSquaredNorm) ? INFINITY
                                                      : metric_aux(metric, squares);
    }
  }
}

void pack(const void* src, DType dtype, int64_t rows, int64_t depth, int panel, Metric metric,
          int64_t row_begin, int64_t row_end, float* panels, float* aux) {
  switch (dtype) {
    case DType::Float16:
      return pack_rows<Float16Load>(src, rows, depth, panel, metric, row_begin, row_end, panels,
                                    aux);
    case DType::BFloat16:
      return pack_rows<BFloat16Load>(src, rows, depth, panel, metric, row_begin, row_end, panels,
                                     aux);
    default:
      return pack_rows<Float32Load>(src, rows, depth, panel, metric, row_begin, row_end, panels,
                                    aux);
  }
}

// dist[j] = distance(dot[j]) for j < columns, in place.
template <Metric M>
inline void finalize_row(float* row, int64_t columns, float x_aux, const float* y_aux) {
  for (int64_t j = 0; j < columns; ++j) row[j] = finalize_distance<M>(row[j], x_aux, y_aux[j]);
}

inline float row_maximum(const float* row, int64_t columns) {
  vfloat best = vsplat(-INFINITY);
  int64_t j = 0;
  for (; j + kW <= columns; j += kW) {
    const vfloat v = vload(row + j);
    best = v > best ? v : best;
  }
  float result = -INFINITY;
  for (int l = 0; l < kW; ++l) result = best[l] > result ? best[l] : result;
  for (; j < columns; ++j) result = row[j] > result ? row[j] : result;
  return result;
}

template <Metric M>
void pairwise_block_impl(const PackedRows& x, const PackedRows& y, const Block& block,
                         float* scratch, float* out) {
  for (int64_t col = block.col_begin; col < block.col_end; col += kChunkColumns) {
    const int64_t columns = block.col_end - col < kChunkColumns ? block.col_end - col
                                                                : kChunkColumns;
    dot_products(x, y, block, col, (columns + kNR - 1) / kNR * kNR, scratch);
    for (int64_t i = block.row_begin; i < block.row_end; ++i) {
      float* row = scratch + (i - block.row_begin) * kChunkColumns;
      finalize_row<M>(row, columns, x.aux[i], y.aux + col);
      std::memcpy(out + i * y.rows + col, row, columns * sizeof(float));
    }
  }
}

// A function object (not a function pointer) so that nth_element and sort inline it.
struct CandidateBefore {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return ranks_before(a.value, a.index, b.value, b.index);
  }
};

// Keeps the best k of the count candidates in buffer[0, k), the k-th best at k - 1.
inline int64_t cut_to_best(Candidate* buffer, int64_t count, int64_t k) {
  std::nth_element(buffer, buffer + (k - 1), buffer + count, CandidateBefore{});
  return k;
}

// Whether any of row[0, kW) is <= threshold: lets the selection skip a whole vector of
// distances with one compare, the common case once the threshold has settled.
inline bool any_at_most(const float* row, float threshold) {
  const vfloat v = vload(row);
#if defined(__AVX512F__)
  return _mm512_cmp_ps_mask(reinterpret_cast<__m512>(v), _mm512_set1_ps(threshold), _CMP_LE_OQ) != 0;
#elif defined(__AVX__)
  return _mm256_movemask_ps(_mm256_cmp_ps(reinterpret_cast<__m256>(v), _mm256_set1_ps(threshold),
                                          _CMP_LE_OQ)) != 0;
#else
  bool any = false;
  for (int l = 0; l < kW; ++l) any |= v[l] <= threshold;
  return any;
#endif
}

// Selection of one row's k best: every value not worse than the threshold (the k-th best
// kept so far) is appended to the row's candidate buffer, which is cut back to the best k
// only when it is full. That costs O(1) amortised per accepted candidate instead of a heap
// update, and stays exact: the final cut and sort use the full (value, index) order.
struct RowSelector {
  Candidate* buffer = nullptr;
  int64_t capacity = 0;
  int64_t k = 0;
  int64_t count = 0;
  float threshold = INFINITY;

  RowSelector() = default;
  RowSelector(Candidate* buffer_, int64_t k_)
      : buffer(buffer_), capacity(candidate_capacity(k_)), k(k_) {}

  // Offers row[j] with index first_index + j for j < columns.
  void offer(const float* row, int64_t columns, int64_t first_index) {
    for (int64_t j0 = 0; j0 < columns; j0 += kW) {
      const int64_t j_end = j0 + kW < columns ? j0 + kW : columns;
      if (j_end - j0 == kW && !any_at_most(row + j0, threshold)) continue;
      for (int64_t j = j0; j < j_end; ++j) {
        if (row[j] > threshold) continue;
        if (count == capacity) {
          count = cut_to_best(buffer, count, k);
          threshold = buffer[k - 1].value;
          if (row[j] > threshold) continue;
        }
        buffer[count++] = Candidate{row[j], first_index + j};
      }
    }
  }

  // Writes the best k ascending; slots beyond the candidates seen get (+inf, kEmptyIndex).
  void finish(float* values, int64_t* indices) {
    if (count > k) count = cut_to_best(buffer, count, k);
    std::sort(buffer, buffer + count, CandidateBefore{});
    for (int64_t s = 0; s < k; ++s) {
      values[s] = s < count ? buffer[s].value : INFINITY;
      indices[s] = s < count ? buffer[s].index : kEmptyIndex;
    }
  }
};

inline void update_max(float* best, const float* row, int64_t columns) {
  if (best == nullptr) return;
  const float chunk_max = row_maximum(row, columns);
  *best = chunk_max > *best ? chunk_max : *best;
}

template <Metric M>
void knn_block_impl(const PackedRows& x, const PackedRows& y, const Block& block,
                    float* scratch, Candidate* candidates, const TopkTarget& target) {
  const int64_t block_rows = block.row_end - block.row_begin;
  const int64_t capacity = candidate_capacity(target.k);
  RowSelector selectors[kMaxBlockRows];
  for (int64_t r = 0; r < block_rows; ++r) {
    selectors[r] = RowSelector(candidates + r * capacity, target.k);
    if (target.row_max != nullptr) {
      target.row_max[(block.row_begin + r) * target.max_stride] = -INFINITY;
    }
  }
  for (int64_t col = block.col_begin; col < block.col_end; col += kChunkColumns) {
    const int64_t columns = block.col_end - col < kChunkColumns ? block.col_end - col
                                                                : kChunkColumns;
    dot_products(x, y, block, col, (columns + kNR - 1) / kNR * kNR, scratch);
    for (int64_t r = 0; r < block_rows; ++r) {
      const int64_t i = block.row_begin + r;
      float* row = scratch + r * kChunkColumns;
      finalize_row<M>(row, columns, x.aux[i], y.aux + col);
      update_max(target.row_max == nullptr ? nullptr : target.row_max + i * target.max_stride,
                 row, columns);
      selectors[r].offer(row, columns, col);
    }
  }
  for (int64_t r = 0; r < block_rows; ++r) {
    const int64_t i = block.row_begin + r;
    selectors[r].finish(target.values + i * target.row_stride,
                        target.indices + i * target.row_stride);
  }
}

void topk_rows_block(const float* matrix, int64_t columns, int64_t row_begin, int64_t row_end,
                     Candidate* candidates, const TopkTarget& target) {
  for (int64_t i = row_begin; i < row_end; ++i) {
    const float* row = matrix + i * columns;
    RowSelector selector(candidates, target.k);
    selector.offer(row, columns, 0);
    selector.finish(target.values + i * target.row_stride, target.indices + i * target.row_stride);
    if (target.row_max != nullptr) {
      target.row_max[i * target.max_stride] = -INFINITY;
      update_max(target.row_max + i * target.max_stride, row, columns);
    }
  }
}

void pairwise_block(Metric metric, const PackedRows& x, const PackedRows& y, const Block& block,
                    float* scratch, float* out) {
  dispatch_metric(metric, [&](auto tag) {
    pairwise_block_impl<decltype(tag)::value>(x, y, block, scratch, out);
  });
}

void knn_block(Metric metric, const PackedRows& x, const PackedRows& y, const Block& block,
               float* scratch, Candidate* candidates, const TopkTarget& target) {
  dispatch_metric(metric, [&](auto tag) {
    knn_block_impl<decltype(tag)::value>(x, y, block, scratch, candidates, target);
  });
}

}  // namespace

const CpuKernels& kernels() {
  static const CpuKernels table{REID_CPU_ISA_NAME, kMR,        kNR,       static_cast<int>(kChunkColumns),
                                &pack,             &pairwise_block, &knn_block, &topk_rows_block};
  return table;
}

}  // namespace reid_fast::cpu::REID_CPU_ISA
