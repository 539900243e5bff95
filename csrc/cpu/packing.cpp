#include "cpu/packing.h"

#include <algorithm>
#include <cmath>

#include "reid_fast/errors.h"

namespace reid_fast::cpu {

namespace {
int64_t round_up(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

void pack_rows_parallel(const CpuKernels& kernels, const TensorView& src, const char* name, int panel,
                        Metric metric, float* panels, float* aux) {
  const int64_t rows = src.shape[0];
  const int64_t depth = src.shape[1];
  const int64_t panel_count = (rows + panel - 1) / panel;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panel_count; ++p) {
    const int64_t begin = p * panel;
    kernels.pack(src.data, src.dtype, rows, depth, panel, metric, begin,
                 std::min(rows, begin + panel), panels, aux);
  }
  for (int64_t i = 0; i < rows; ++i) {
    if (std::isnan(aux[i])) {
      throw_value_error(name, " must be finite, got a NaN or Inf value in row ", i);
    }
    if (std::isinf(aux[i])) {
      throw_value_error(name, " row ", i, " is too large for float32 distances: its squared norm "
                        "exceeds ", kMaxSquaredNorm, " (a norm of about 9.2e18); rescale the "
                        "features");
    }
  }
}
}  // namespace

PackedPair take_packed_pair(WorkspaceCarver& carver, const CpuKernels& kernels, int64_t n,
                            int64_t m, int64_t d) {
  PackedPair packed;
  packed.x_panels = carver.take<float>(size_product({round_up(n, kernels.x_panel), d}));
  packed.y_panels = carver.take<float>(size_product({round_up(m, kernels.y_panel), d}));
  packed.x_aux = carver.take<float>(n);
  packed.y_aux = carver.take<float>(m);
  packed.x = PackedRows{packed.x_panels, packed.x_aux, n, d};
  packed.y = PackedRows{packed.y_panels, packed.y_aux, m, d};
  return packed;
}

void pack_pair(const CpuKernels& kernels, const TensorView& x, const TensorView& y, Metric metric,
               const PackedPair& packed) {
  pack_rows_parallel(kernels, x, "x", kernels.x_panel, metric, packed.x_panels, packed.x_aux);
  pack_rows_parallel(kernels, y, "y", kernels.y_panel, metric, packed.y_panels, packed.y_aux);
}

int64_t block_rows_for(int64_t n, int threads, int x_panel) {
  // As few blocks as the cap allows, rounded up to a multiple of the thread count so
  // that the threads get equal shares.
  const int64_t cap = kMaxBlockRows / x_panel * x_panel;
  const int64_t blocks = round_up(std::max<int64_t>(1, (n + cap - 1) / cap), std::max(threads, 1));
  return std::max<int64_t>(x_panel, round_up((n + blocks - 1) / blocks, x_panel));
}

}  // namespace reid_fast::cpu
