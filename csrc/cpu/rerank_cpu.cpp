// Sparse steps of k-reciprocal re-ranking on the CPU (docs/design.md 3.2, steps 3-6): the
// expanded reciprocal sets and their weights (V), then local query expansion (V'). Both
// run in two phases (count, then fill the caller's CSR arrays); rows run in parallel and
// each row's values are summed in a fixed order, so results are deterministic.
#include <algorithm>
#include <cmath>

#include "common/distance_math.h"
#include "common/half_convert.h"
#include "common/rerank_math.h"
#include "cpu/cpu_kernels.h"
#include "reid_fast/ops.h"
#include "reid_fast/workspace.h"

namespace reid_fast::cpu {
namespace {

struct ReciprocalScratch {
  int64_t* reciprocal;  // R(i, k1)
  int64_t* candidate;   // R(c, h)
  int64_t* expansion;   // R*(i) before and after sort + unique
  float* weights;
};

ReciprocalScratch take_reciprocal_scratch(WorkspaceCarver& carver, int64_t k1, int threads,
                                          int slot) {
  const int64_t k = k1 + 1, h = expansion_neighbours(k1) + 1, most = max_expansion_size(k1);
  auto* reciprocal = carver.take<int64_t>(int64_t(threads) * k);
  auto* candidate = carver.take<int64_t>(int64_t(threads) * h);
  auto* expansion = carver.take<int64_t>(int64_t(threads) * most);
  auto* weights = carver.take<float>(int64_t(threads) * most);
  if (reciprocal == nullptr) return ReciprocalScratch{};
  return ReciprocalScratch{reciprocal + slot * k, candidate + slot * h, expansion + slot * most,
                           weights + slot * most};
}

// R*(i), ascending and unique; returns its size.
int64_t expanded_set(const int64_t* rank, int64_t width, int64_t i, const ReciprocalScratch& s) {
  const int64_t k1 = width - 1, h = expansion_neighbours(k1);
  const int64_t reciprocal_size = reciprocal_neighbours(rank, width, i, k1, s.reciprocal);
  int64_t size = 0;
  for (int64_t a = 0; a < reciprocal_size; ++a) s.expansion[size++] = s.reciprocal[a];
  for (int64_t a = 0; a < reciprocal_size; ++a) {
    const int64_t candidate_size = reciprocal_neighbours(rank, width, s.reciprocal[a], h, s.candidate);
    if (joins_expansion(s.candidate, candidate_size, s.reciprocal, reciprocal_size)) {
      for (int64_t b = 0; b < candidate_size; ++b) s.expansion[size++] = s.candidate[b];
    }
  }
  std::sort(s.expansion, s.expansion + size);
  return std::unique(s.expansion, s.expansion + size) - s.expansion;
}

// Sums of a[t] * b[t] over t < d in kLanes interleaved partial sums (independent chains,
// so the loop vectorises and is not bound by the latency of one running sum).
template <typename Loader>
float dot_product(const void* f, int64_t a_row, int64_t b_row, int64_t d) {
  constexpr int kLanes = 8;
  float partial[kLanes] = {};
  int64_t t = 0;
  for (; t + kLanes <= d; t += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      partial[l] += Loader::load(f, a_row * d + t + l) * Loader::load(f, b_row * d + t + l);
    }
  }
  for (; t < d; ++t) partial[0] += Loader::load(f, a_row * d + t) * Loader::load(f, b_row * d + t);
  float sum = 0.0f;
  for (int l = 0; l < kLanes; ++l) sum += partial[l];
  return sum;
}

// Dn[i, j] for the listed j, from features or from the dense matrix.
template <typename Loader>
void feature_distances(const RerankDistances& source, int64_t i, const int64_t* columns,
                       int64_t count, float* out) {
  const int64_t d = source.features.shape[1];
  const void* f = source.features.data;
  const float scale = source.row_scale.as<float>()[i];
  const float xx = dot_product<Loader>(f, i, i, d);
  for (int64_t c = 0; c < count; ++c) {
    const int64_t j = columns[c];
    const float dot = dot_product<Loader>(f, i, j, d), yy = dot_product<Loader>(f, j, j, d);
    out[c] = finalize_distance<Metric::SqEuclidean>(dot, xx, yy) * scale;
  }
}

void normalised_distances(const RerankDistances& source, int64_t i, const int64_t* columns,
                          int64_t count, float* out) {
  if (source.dense.data != nullptr) {
    const int64_t n = source.dense.shape[1];
    const float* row = source.dense.as<float>() + i * n;
    const float scale = source.row_scale.as<float>()[i];
    for (int64_t c = 0; c < count; ++c) out[c] = row[columns[c]] * scale;
    return;
  }
  switch (source.features.dtype) {
    case DType::Float16: return feature_distances<Float16Load>(source, i, columns, count, out);
    case DType::BFloat16: return feature_distances<BFloat16Load>(source, i, columns, count, out);
    default: return feature_distances<Float32Load>(source, i, columns, count, out);
  }
}

}  // namespace

std::size_t rerank_reciprocal_workspace_bytes(int64_t, int64_t k1) {
  WorkspaceCarver carver;
  take_reciprocal_scratch(carver, k1, max_threads(), 0);
  return carver.bytes();
}

void rerank_reciprocal(const ReciprocalArgs& args) {
  const int64_t rows = args.rank.shape[0], width = args.rank.shape[1];
  const int64_t* rank = args.rank.as<int64_t>();
  const bool count_only = args.indices.data == nullptr;
  const int threads = max_threads();
#pragma omp parallel num_threads(threads)
  {
    WorkspaceCarver carver(args.workspace.data);
    const ReciprocalScratch scratch = take_reciprocal_scratch(carver, width - 1, threads,
                                                              thread_index());
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t size = expanded_set(rank, width, i, scratch);
      if (count_only) {
        args.counts.as<int64_t>()[i] = size;
        continue;
      }
      normalised_distances(args.distances, i, scratch.expansion, size, scratch.weights);
      float total = 0.0f;
      for (int64_t c = 0; c < size; ++c) {
        scratch.weights[c] = std::exp(-scratch.weights[c]);
        total += scratch.weights[c];
      }
      const int64_t start = args.indptr.as<int64_t>()[i];
      for (int64_t c = 0; c < size; ++c) {
        args.indices.as<int64_t>()[start + c] = scratch.expansion[c];
        args.values.as<float>()[start + c] = scratch.weights[c] / total;
      }
    }
  }
}

std::size_t rerank_query_expansion_workspace_bytes(int64_t, int64_t k2, int64_t) {
  WorkspaceCarver carver;
  carver.take<int64_t>(size_product({max_threads(), k2}));
  return carver.bytes();
}

void rerank_query_expansion(const QueryExpansionArgs& args) {
  const int64_t rows = args.rank.shape[0], width = args.rank.shape[1], k2 = args.k2;
  const int64_t* rank = args.rank.as<int64_t>();
  const int64_t* v_indptr = args.v_indptr.as<int64_t>();
  const int64_t* v_indices = args.v_indices.as<int64_t>();
  const float* v_values = args.v_values.as<float>();
  const bool count_only = args.indices.data == nullptr;
  const float inverse = 1.0f / static_cast<float>(k2);
  const int threads = max_threads();
#pragma omp parallel num_threads(threads)
  {
    WorkspaceCarver carver(args.workspace.data);
    int64_t* cursor = carver.take<int64_t>(int64_t(threads) * k2) + thread_index() * k2;
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < rows; ++i) {
      // k2-way merge of the sorted rows V[rank[i][r]]; each column's values are summed in
      // the order r = 0, 1, ..., k2 - 1.
      for (int64_t r = 0; r < k2; ++r) cursor[r] = v_indptr[rank[i * width + r]];
      int64_t out = count_only ? 0 : args.indptr.as<int64_t>()[i];
      int64_t distinct = 0;
      while (true) {
        int64_t column = INT64_MAX;
        for (int64_t r = 0; r < k2; ++r) {
          if (cursor[r] < v_indptr[rank[i * width + r] + 1]) {
            column = std::min(column, v_indices[cursor[r]]);
          }
        }
        if (column == INT64_MAX) break;
        float sum = 0.0f;
        for (int64_t r = 0; r < k2; ++r) {
          if (cursor[r] < v_indptr[rank[i * width + r] + 1] && v_indices[cursor[r]] == column) {
            sum += v_values[cursor[r]++];
          }
        }
        ++distinct;
        if (!count_only) {
          args.indices.as<int64_t>()[out] = column;
          args.values.as<float>()[out++] = sum * inverse;
        }
      }
      if (count_only) args.counts.as<int64_t>()[i] = distinct;
    }
  }
}

}  // namespace reid_fast::cpu
