// The native ops, as the bindings call them. Every array is a contiguous row-major view
// allocated by the caller (outputs and workspace included); shapes, dtypes and devices
// have been checked by the bindings before these run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/distance_math.h"
#include "reid_fast/tensor_view.h"

namespace reid_fast {

// pairwise_distance: x (n, d), y (m, d) float32/float16/bfloat16 -> out (n, m) float32.
struct PairwiseArgs {
  TensorView x, y, out, workspace;
  Metric metric;
};

// knn: the k nearest rows of y for every row of x, ascending, ties by lower index.
// values (n, k) float32, indices (n, k) int64, row_max (n,) float32 or data == nullptr.
struct KnnArgs {
  TensorView x, y, values, indices, row_max, workspace;
  int64_t k;
  Metric metric;
};

// The framework-GEMM path of knn and pairwise_distance (docs/design.md 3.1): the array
// framework computes a tile of dot products, these ops turn it into distances and select or
// write them.
//
// row_aux: out (r,) float32 = metric_aux(metric, sum of squares of each row of features (r, d)
// float32/float16/bfloat16), the per-row term of common/distance_math.h.
struct RowAuxArgs {
  TensorView features, out;
  Metric metric;
};

// A tile of dot products: dots (r, t) float32, row i against gallery column column_offset + j;
// x_aux (r,) and y_aux (t,) float32 are the row_aux of the tile's query rows and gallery rows.
struct DotTile {
  TensorView dots, x_aux, y_aux;
  int64_t column_offset;
  Metric metric;
};

// knn_select: merges the tile's distances into running lists values (r, k) float32 / indices
// (r, k) int64, ascending by (value, index). With column_offset == 0 the lists are written
// from the tile alone; otherwise they hold the k best of the columns before the tile (slots
// past the columns seen so far hold (+inf, kEmptyIndex)). row_max (r,) float32 (data ==
// nullptr: not wanted) is likewise the running maximum.
struct KnnSelectArgs {
  DotTile tile;
  TensorView values, indices, row_max, workspace;
  int64_t k;
};

// distance_tile: writes the tile's distances into columns [column_offset, column_offset + t)
// of out (r, m) float32.
struct DistanceTileArgs {
  DotTile tile;
  TensorView out;
};

// topk_rows: the k smallest entries of each row of a dense float32 matrix (n, m), ascending,
// ties by lower index: values (n, k) float32, indices (n, k) int64, row_max (n,) float32
// or data == nullptr.
struct TopkRowsArgs {
  TensorView matrix, values, indices, row_max, workspace;
  int64_t k;
};

// The normalised distances Dn[i, j] re-ranking reads (docs/design.md 3.2): D[i, j] * row_scale[i]
// (row_scale = 1 / row maximum), with D either the squared Euclidean distance between rows
// of features (N, d) float32/float16/bfloat16, or a dense (N, N) float32 matrix. Exactly one
// of features / dense has data.
struct RerankDistances {
  TensorView features, dense, row_scale;
};

// Steps 3-5 of re-ranking, the sparse V. rank (N, k1 + 1) int64 holds each row's k1 + 1
// nearest under Dn, ascending. Two phases: with indices.data == nullptr, writes
// counts (N,) int64 = |R*(i)|; otherwise reads indptr (N + 1,) int64 (the prefix sums of
// those counts) and writes each row's columns ascending into indices (nnz,) int64 and its
// weights exp(-Dn[i, j]) / sum over R*(i) into values (nnz,) float32.
struct ReciprocalArgs {
  TensorView rank;
  RerankDistances distances;
  TensorView counts, indptr, indices, values, workspace;
};

// Step 6, local query expansion: V'[i] = (1 / k2) sum of V[rank[i][r]] for r < k2, with V in
// CSR (v_indptr (N + 1,), v_indices ascending per row, v_values). Same two phases as
// ReciprocalArgs for the output CSR (counts / indptr, indices, values).
struct QueryExpansionArgs {
  TensorView rank;
  int64_t k2;
  TensorView v_indptr, v_indices, v_values;
  TensorView counts, indptr, indices, values, workspace;
};

// Batched Jaccard distance (docs/design.md 3.3). Problem b pairs query rows
// [query_offsets[b], query_offsets[b + 1]) of the query CSR with gallery rows
// [gallery_offsets[b], gallery_offsets[b + 1]) of the gallery CSR (non-negative values,
// columns < num_columns, ascending within a row) and writes its (q_b, g_b) row-major block
// of distances J = 1 - sum min / (sum_i + sum_j - sum min) (1 where the denominator is 0)
// into out (float32) from out_offsets[b], as blend_jaccard(J, out, weight, keep):
// weight * J, plus keep * (what out held) when keep != 0. Offsets are int64 arrays of B + 1
// entries.
struct JaccardArgs {
  TensorView q_indptr, q_indices, q_values;
  TensorView g_indptr, g_indices, g_values;
  TensorView query_offsets, gallery_offsets, out_offsets;
  int64_t num_columns;
  TensorView out, workspace;
  float weight = 1.0f;
  float keep = 0.0f;
};

// Ranking metrics (docs/design.md 3.4, 4): distances (q, g) float32; query_ids, query_cams (q,)
// and gallery_ids, gallery_cams (g,) int64 (-1 = junk identity / unknown camera). Writes per
// query average_precision, average_precision_at_top, inverse_negative_penalty (q,) float64
// (NaN without a positive), first_positive_rank and num_positives (q,) int64.
struct RankingArgs {
  TensorView distances, query_ids, gallery_ids, query_cams, gallery_cams;
  TensorView average_precision, average_precision_at_top, inverse_negative_penalty;
  TensorView first_positive_rank, num_positives;
  bool same_camera_junk;
  int64_t top;
};

namespace cpu {
void ranking_metrics(const RankingArgs& args);
std::size_t pairwise_distance_workspace_bytes(int64_t n, int64_t m, int64_t d);
void pairwise_distance(const PairwiseArgs& args);
std::size_t knn_workspace_bytes(int64_t n, int64_t m, int64_t d, int64_t k);
void knn(const KnnArgs& args);
std::size_t topk_rows_workspace_bytes(int64_t n, int64_t m, int64_t k);
void topk_rows(const TopkRowsArgs& args);
void row_aux(const RowAuxArgs& args);
std::size_t knn_select_workspace_bytes(int64_t rows, int64_t columns, int64_t k);
void knn_select(const KnnSelectArgs& args);
void distance_tile(const DistanceTileArgs& args);
std::size_t rerank_reciprocal_workspace_bytes(int64_t rows, int64_t k1);
void rerank_reciprocal(const ReciprocalArgs& args);
std::size_t rerank_query_expansion_workspace_bytes(int64_t rows, int64_t k2, int64_t max_row_nnz);
void rerank_query_expansion(const QueryExpansionArgs& args);
std::size_t jaccard_workspace_bytes(int64_t query_rows, int64_t gallery_rows, int64_t gallery_nnz,
                                    int64_t num_columns, int64_t max_gallery_rows);
void jaccard(const JaccardArgs& args);
int max_threads();
// The instruction set the CPU GEMM kernel dispatched to on this machine ("avx512", "avx2", "generic").
const char* kernel_isa();
}  // namespace cpu

// Declared in every build, defined only where the CUDA kernels are compiled
// (REID_FAST_WITH_CUDA); the bindings reach them through bindings/dispatch.h, which never
// calls them in a build without CUDA.
namespace cuda {
// stream is a cudaStream_t; the kernels are enqueued on it, nothing waits for them.
std::size_t pairwise_distance_workspace_bytes(int64_t n, int64_t m, int64_t d);
void pairwise_distance(const PairwiseArgs& args, void* stream);
std::size_t knn_workspace_bytes(int64_t n, int64_t m, int64_t d, int64_t k, int device_id);
void knn(const KnnArgs& args, void* stream);
std::size_t topk_rows_workspace_bytes(int64_t n, int64_t m, int64_t k, int device_id);
void topk_rows(const TopkRowsArgs& args, void* stream);
void row_aux(const RowAuxArgs& args, void* stream);
std::size_t knn_select_workspace_bytes(int64_t rows, int64_t columns, int64_t k);
void knn_select(const KnnSelectArgs& args, void* stream);
void distance_tile(const DistanceTileArgs& args, void* stream);
std::size_t rerank_reciprocal_workspace_bytes(int64_t rows, int64_t k1);
void rerank_reciprocal(const ReciprocalArgs& args, void* stream);
std::size_t rerank_query_expansion_workspace_bytes(int64_t rows, int64_t k2, int64_t max_row_nnz);
void rerank_query_expansion(const QueryExpansionArgs& args, void* stream);
std::size_t jaccard_workspace_bytes(int64_t query_rows, int64_t gallery_rows, int64_t gallery_nnz,
                                    int64_t num_columns, int64_t max_gallery_rows);
void jaccard(const JaccardArgs& args, void* stream);
// What the CUDA runtime sees: the device count (0 when it cannot be used) and, when the query
// failed, the runtime's error string (no device, no driver, a driver older than the runtime,
// ...); absent is true when the failure only means there is nothing to run on (no device, no
// driver) rather than something broken.
struct DeviceQuery {
  int count = 0;
  std::string error;
  bool absent = false;
};
DeviceQuery query_devices();
}  // namespace cuda

}  // namespace reid_fast
