// The CPU side of the framework-GEMM path of knn and pairwise_distance (docs/design.md 3.1):
// the framework's GEMM gives a tile of dot products; these turn it into distances
// (common/distance_math.h) and select (knn_select) or write (distance_tile) them. OpenMP over
// rows. knn_select is the CUDA selection's twin: the same running lists, the same order
// (common/topk.h), so the same result for the same dot products.
#include <algorithm>
#include <cmath>

#include "common/distance_math.h"
#include "common/half_convert.h"
#include "common/tile_select.h"
#include "common/topk.h"
#include "cpu/cpu_kernels.h"
#include "reid_fast/errors.h"
#include "reid_fast/ops.h"
#include "reid_fast/workspace.h"

namespace reid_fast::cpu {
namespace {

// Rows per OpenMP chunk: a row of a tile is too little work to schedule alone.
constexpr int64_t kRowsPerChunk = 16;

// Each thread's pair of lists [2][k]: slot 0 a copy of the running list, slot 1 the tile's
// best k (a TopkHeap, then sorted), merged back into the running list.
struct SelectRegions {
  float* values;
  int64_t* indices;
};

SelectRegions take_select_regions(WorkspaceCarver& carver, int64_t k) {
  const int64_t entries = size_product({max_threads(), 2, k});
  return SelectRegions{carver.take<float>(entries), carver.take<int64_t>(entries)};
}

template <typename Loader>
void row_aux_rows(const void* features, int64_t rows, int64_t d, Metric metric, float* out) {
#pragma omp parallel for schedule(static) num_threads(max_threads())
  for (int64_t row = 0; row < rows; ++row) {
    double sum = 0.0;  // like the packing of the fused kernels (tile_kernels_impl.h)
    for (int64_t f = 0; f < d; ++f) {
      const float v = Loader::load(features, row * d + f);
      sum += static_cast<double>(v) * v;
    }
    out[row] = metric_aux(metric, static_cast<float>(sum));
  }
}

// Selects row `row` of the tile into its running list (values_row / indices_row, k entries).
template <Metric M>
float select_row(const DotTile& tile, int64_t row, int64_t k, float* values_row,
                 int64_t* indices_row, float* lists_values, int64_t* lists_indices) {
  const int64_t columns = tile.dots.shape[1];
  const float* dots = tile.dots.as<float>() + row * columns;
  const float x_aux = tile.x_aux.as<float>()[row];
  const float* y_aux = tile.y_aux.as<float>();
  const bool first = tile.column_offset == 0;
  const SelectBar bar = running_bar(values_row, indices_row, k, tile.column_offset);
  // The first tile's heap is the running list itself; later ones go to slot 1 and merge.
  TopkHeap heap = first ? TopkHeap{values_row, indices_row, k, 0}
                        : TopkHeap{lists_values + k, lists_indices + k, k, 0};
  float tile_max = -INFINITY;
  for (int64_t c = 0; c < columns; ++c) {
    const float v = finalize_distance<M>(dots[c], x_aux, y_aux[c]);
    tile_max = std::max(tile_max, v);
    const int64_t index = tile.column_offset + c;
    if (bar.cleared_by(v, index)) heap.push(v, index);
  }
  heap.sort_ascending();
  if (!first) {
    std::copy(values_row, values_row + k, lists_values);
    std::copy(indices_row, indices_row + k, lists_indices);
    merge_sorted_lists(lists_values, lists_indices, 2, k, values_row, indices_row);
  }
  return tile_max;
}

}  // namespace

void row_aux(const RowAuxArgs& args) {
  const int64_t rows = args.features.shape[0], d = args.features.shape[1];
  float* out = args.out.as<float>();
  const void* features = args.features.data;
  switch (args.features.dtype) {
    case DType::Float32: row_aux_rows<Float32Load>(features, rows, d, args.metric, out); return;
    case DType::Float16: row_aux_rows<Float16Load>(features, rows, d, args.metric, out); return;
    case DType::BFloat16: row_aux_rows<BFloat16Load>(features, rows, d, args.metric, out); return;
    default: break;
  }
  throw_type_error("features must be float32, float16 or bfloat16, got ",
                   dtype_name(args.features.dtype));
}

std::size_t knn_select_workspace_bytes(int64_t, int64_t, int64_t k) {
  WorkspaceCarver carver;
  take_select_regions(carver, k);
  return carver.bytes();
}

void knn_select(const KnnSelectArgs& args) {
  const int64_t rows = args.tile.dots.shape[0], k = args.k;
  WorkspaceCarver carver(args.workspace.data);
  const SelectRegions lists = take_select_regions(carver, k);
  float* values = args.values.as<float>();
  int64_t* indices = args.indices.as<int64_t>();
  float* row_max = args.row_max.as<float>();
  const bool first = args.tile.column_offset == 0;
  dispatch_metric(args.tile.metric, [&](auto tag) {
    constexpr Metric M = decltype(tag)::value;
#pragma omp parallel for schedule(dynamic, kRowsPerChunk) num_threads(max_threads())
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t slot = int64_t(thread_index()) * 2 * k;
      const float tile_max = select_row<M>(args.tile, row, k, values + row * k,
                                           indices + row * k, lists.values + slot,
                                           lists.indices + slot);
      if (row_max != nullptr) row_max[row] = first ? tile_max : std::max(row_max[row], tile_max);
    }
  });
}

void distance_tile(const DistanceTileArgs& args) {
  const DotTile& tile = args.tile;
  const int64_t rows = tile.dots.shape[0], columns = tile.dots.shape[1];
  const int64_t out_columns = args.out.shape[1];
  const float* dots = tile.dots.as<float>();
  const float* x_aux = tile.x_aux.as<float>();
  const float* y_aux = tile.y_aux.as<float>();
  float* out = args.out.as<float>() + tile.column_offset;
  dispatch_metric(tile.metric, [&](auto tag) {
    constexpr Metric M = decltype(tag)::value;
#pragma omp parallel for schedule(static) num_threads(max_threads())
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t c = 0; c < columns; ++c) {
        out[row * out_columns + c] =
            finalize_distance<M>(dots[row * columns + c], x_aux[row], y_aux[c]);
      }
    }
  });
}

}  // namespace reid_fast::cpu
