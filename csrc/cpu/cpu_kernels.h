// The CPU tile kernels, compiled once per instruction set (tile_kernels_*.cpp) and chosen
// at run time by cpu_kernels(). The OpenMP drivers (pairwise_distance_cpu.cpp,
// knn_cpu.cpp) split the work into blocks and call these per block.
#pragma once

#include <cstdint>

#include "common/distance_math.h"
#include "reid_fast/tensor_view.h"

namespace reid_fast::cpu {

// Rows packed into panels of `panel` rows: panel p holds depth x panel floats, element
// (row p*panel + r, feature f) at [p * depth * panel + f * panel + r]; rows past the end
// are zero. aux[i] = metric_aux(sum of squares of row i), NaN when row i holds a NaN or an
// infinity, Inf when its sum of squares exceeds kMaxSquaredNorm (the drivers turn both into
// an error naming the row).
// Bounds shared by the drivers and the kernels.
constexpr int64_t kMaxBlockRows = 256;
constexpr int kMaxPanel = 64;

struct PackedRows {
  const float* panels;
  const float* aux;
  int64_t rows;
  int64_t depth;
};

// Rows [row_begin, row_end) of x against columns [col_begin, col_end) of y.
// row_begin is a multiple of the x panel, col_begin of the y panel.
struct Block {
  int64_t row_begin, row_end, col_begin, col_end;
};

// Where knn_block keeps its per-row heaps: row i's k slots start at
// values + i * row_stride (same for indices); row_max (may be null) at row_max[i * max_stride].
struct TopkTarget {
  float* values;
  int64_t* indices;
  int64_t row_stride;
  int64_t k;
  float* row_max;
  int64_t max_stride;
};

// A knn candidate; each block row collects them in a buffer of
// candidate_capacity(k) entries that is cut back to the best k whenever it fills.
struct Candidate {
  float value;
  int64_t index;
};
inline int64_t candidate_capacity(int64_t k) { return 2 * k + 128; }

struct CpuKernels {
  const char* isa;
  int x_panel;  // rows per x panel (micro-kernel rows)
  int y_panel;  // rows per y panel (micro-kernel columns)
  // Largest number of y rows a block's scratch covers at once; scratch holds
  // block_rows x scratch_columns floats.
  int scratch_columns;

  // Converts rows [row_begin, row_end) of src (rows x depth, dtype) to packed float32
  // panels; row_begin is a multiple of panel. Fills aux for those rows.
  void (*pack)(const void* src, DType dtype, int64_t rows, int64_t depth, int panel,
               Metric metric, int64_t row_begin, int64_t row_end, float* panels, float* aux);
  // out[i * m + j] = distance for the block; scratch holds
  // (row_end - row_begin) x scratch_columns floats.
  void (*pairwise_block)(Metric metric, const PackedRows& x, const PackedRows& y,
                         const Block& block, float* scratch, float* out);
  // Top-k of each block row over the block's columns, sorted ascending, written to target
  // (slots beyond the block's column count hold (+inf, kEmptyIndex)). candidates holds
  // block rows x candidate_capacity(k) entries.
  void (*knn_block)(Metric metric, const PackedRows& x, const PackedRows& y, const Block& block,
                    float* scratch, Candidate* candidates, const TopkTarget& target);
  // Top-k of rows [row_begin, row_end) of a dense (rows, columns) float32 matrix into
  // target (row_max: the row's maximum); candidates holds candidate_capacity(k) entries.
  void (*topk_rows_block)(const float* matrix, int64_t columns, int64_t row_begin,
                          int64_t row_end, Candidate* candidates, const TopkTarget& target);
};

// The fastest kernels this CPU supports.
const CpuKernels& cpu_kernels();

// The calling thread's number inside an OpenMP parallel region (0 without OpenMP).
int thread_index();


}  // namespace reid_fast::cpu
