// Packing of x and y into float32 panels (shared by the pairwise and knn drivers).
#pragma once

#include <cstdint>

#include "cpu/cpu_kernels.h"
#include "reid_fast/tensor_view.h"
#include "reid_fast/workspace.h"

namespace reid_fast::cpu {

struct PackedPair {
  PackedRows x;
  PackedRows y;
  float* x_panels;
  float* y_panels;
  float* x_aux;
  float* y_aux;
};

// Takes the regions for packed x (n, d) and y (m, d) from the workspace (or, with a
// measuring carver, only counts them).
PackedPair take_packed_pair(WorkspaceCarver& carver, const CpuKernels& kernels, int64_t n,
                            int64_t m, int64_t d);

// Packs x and y in parallel and computes their per-row metric terms; ValueError naming
// the array and row if either holds a NaN or an infinity.
void pack_pair(const CpuKernels& kernels, const TensorView& x, const TensorView& y, Metric metric,
               const PackedPair& packed);

// Rows per work block: a multiple of the x panel, at most kMaxBlockRows, small enough that
// every thread gets a block when n allows.
int64_t block_rows_for(int64_t n, int threads, int x_panel);

}  // namespace reid_fast::cpu
