// The native ops, as the bindings call them. Every array is a contiguous row-major view
// allocated by the caller (outputs and workspace included); shapes, dtypes and devices
// have been checked by the bindings before these run.
#pragma once

#include <cstddef>
#include <cstdint>

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

namespace cpu {
std::size_t pairwise_distance_workspace_bytes(int64_t n, int64_t m, int64_t d);
void pairwise_distance(const PairwiseArgs& args);
std::size_t knn_workspace_bytes(int64_t n, int64_t m, int64_t d, int64_t k);
void knn(const KnnArgs& args);
int max_threads();
// The instruction set the CPU GEMM kernel dispatched to on this machine ("avx512", "avx2", "generic").
const char* kernel_isa();
}  // namespace cpu

#ifdef REID_FAST_WITH_CUDA
namespace cuda {
// stream is a cudaStream_t; the kernels are enqueued on it, nothing waits for them.
std::size_t pairwise_distance_workspace_bytes(int64_t n, int64_t m, int64_t d);
void pairwise_distance(const PairwiseArgs& args, void* stream);
std::size_t knn_workspace_bytes(int64_t n, int64_t m, int64_t d, int64_t k, int device_id);
void knn(const KnnArgs& args, void* stream);
int device_count();
}  // namespace cuda
#endif

}  // namespace reid_fast
