// Batched Jaccard distance on the CPU. Per problem: an inverted index of the gallery rows
// (column -> (gallery row, value)), then OpenMP over query rows, each accumulating its sums
// of minima for every gallery row in a dense per-thread buffer. The accumulation order is
// fixed (query columns ascending, gallery rows ascending), so results are deterministic.
#include <algorithm>

#include "common/jaccard_math.h"
#include "cpu/cpu_kernels.h"
#include "reid_fast/ops.h"
#include "reid_fast/workspace.h"

namespace reid_fast::cpu {
namespace {

struct JaccardScratch {
  int64_t* column_start;  // num_columns + 1
  int64_t* posting_row;   // gallery nnz of one problem
  float* posting_value;
  float* gallery_sum;     // gallery rows of one problem
  float* sum_min;         // threads x max gallery rows
};

JaccardScratch take_scratch(WorkspaceCarver& carver, int64_t gallery_rows, int64_t gallery_nnz,
                            int64_t num_columns, int64_t max_gallery_rows) {
  JaccardScratch s;
  s.column_start = carver.take<int64_t>(size_sum(num_columns, 1));
  s.posting_row = carver.take<int64_t>(gallery_nnz);
  s.posting_value = carver.take<float>(gallery_nnz);
  s.gallery_sum = carver.take<float>(gallery_rows);
  s.sum_min = carver.take<float>(size_product({max_threads(), max_gallery_rows}));
  return s;
}

float row_sum(const float* values, int64_t begin, int64_t end) {
  float sum = 0.0f;
  for (int64_t p = begin; p < end; ++p) sum += values[p];
  return sum;
}

}  // namespace

std::size_t jaccard_workspace_bytes(int64_t, int64_t gallery_rows, int64_t gallery_nnz,
                                    int64_t num_columns, int64_t max_gallery_rows) {
  WorkspaceCarver carver;
  take_scratch(carver, gallery_rows, gallery_nnz, num_columns, max_gallery_rows);
  return carver.bytes();
}

void jaccard(const JaccardArgs& args) {
  const int64_t problems = args.query_offsets.shape[0] - 1;
  const int64_t* q_offsets = args.query_offsets.as<int64_t>();
  const int64_t* g_offsets = args.gallery_offsets.as<int64_t>();
  const int64_t* out_offsets = args.out_offsets.as<int64_t>();
  const int64_t* q_indptr = args.q_indptr.as<int64_t>();
  const int64_t* q_indices = args.q_indices.as<int64_t>();
  const float* q_values = args.q_values.as<float>();
  const int64_t* g_indptr = args.g_indptr.as<int64_t>();
  const int64_t* g_indices = args.g_indices.as<int64_t>();
  const float* g_values = args.g_values.as<float>();
  int64_t max_gallery_rows = 0;
  for (int64_t b = 0; b < problems; ++b) {
    max_gallery_rows = std::max(max_gallery_rows, g_offsets[b + 1] - g_offsets[b]);
  }
  WorkspaceCarver carver(args.workspace.data);
  const JaccardScratch s = take_scratch(carver, args.g_indptr.shape[0] - 1, args.g_indices.shape[0],
                                        args.num_columns, max_gallery_rows);
  float* out = args.out.as<float>();

  for (int64_t b = 0; b < problems; ++b) {
    const int64_t g0 = g_offsets[b], g1 = g_offsets[b + 1], rows = g1 - g0;
    const int64_t q0 = q_offsets[b], q1 = q_offsets[b + 1];
    // Inverted index of this problem's gallery rows, postings in ascending row order.
    std::fill(s.column_start, s.column_start + args.num_columns + 1, 0);
    for (int64_t p = g_indptr[g0]; p < g_indptr[g1]; ++p) ++s.column_start[g_indices[p] + 1];
    for (int64_t c = 0; c < args.num_columns; ++c) s.column_start[c + 1] += s.column_start[c];
    for (int64_t j = 0; j < rows; ++j) {
      s.gallery_sum[j] = row_sum(g_values, g_indptr[g0 + j], g_indptr[g0 + j + 1]);
      for (int64_t p = g_indptr[g0 + j]; p < g_indptr[g0 + j + 1]; ++p) {
        const int64_t slot = s.column_start[g_indices[p]]++;
        s.posting_row[slot] = j;
        s.posting_value[slot] = g_values[p];
      }
    }
    // The fill advanced each column's start to the next column's: shift back.
    for (int64_t c = args.num_columns; c > 0; --c) s.column_start[c] = s.column_start[c - 1];
    s.column_start[0] = 0;

    float* block = out + out_offsets[b];
#pragma omp parallel for schedule(dynamic, 16) num_threads(max_threads())
    for (int64_t i = q0; i < q1; ++i) {
      float* sum_min = s.sum_min + thread_index() * max_gallery_rows;
      std::fill(sum_min, sum_min + rows, 0.0f);
      for (int64_t p = q_indptr[i]; p < q_indptr[i + 1]; ++p) {
        const float value = q_values[p];
        const int64_t column = q_indices[p];
        for (int64_t e = s.column_start[column]; e < s.column_start[column + 1]; ++e) {
          sum_min[s.posting_row[e]] += std::min(value, s.posting_value[e]);
        }
      }
      const float query_sum = row_sum(q_values, q_indptr[i], q_indptr[i + 1]);
      float* row = block + (i - q0) * rows;
      for (int64_t j = 0; j < rows; ++j) {
        row[j] = blend_jaccard(jaccard_from_sums(sum_min[j], query_sum, s.gallery_sum[j]),
                               &row[j], args.weight, args.keep);
      }
    }
  }
}

}  // namespace reid_fast::cpu
