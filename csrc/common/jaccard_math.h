// The Jaccard distance of two non-negative sparse rows from their sum of minima and their
// row sums (docs/design.md 3.3), shared by the CPU and CUDA implementations:
//   1 - sum min / sum max,  with sum max = sum_a + sum_b - sum min,
// which is 1 - m / (2 - m) for rows that sum to one; 1 where sum max is 0 (two empty rows).
#pragma once

#include "reid_fast/hd.h"

namespace reid_fast {

REID_HD float jaccard_from_sums(float sum_min, float sum_a, float sum_b) {
  const float sum_max = sum_a + sum_b - sum_min;
  return sum_max > 0.0f ? 1.0f - sum_min / sum_max : 1.0f;
}

// What an output slot receives: weight * J, plus keep * its previous value when keep != 0
// (re-ranking blends J into the already-weighted original distances in place; with keep == 0
// the previous value is never read, so the output may start uninitialised).
REID_HD float blend_jaccard(float jaccard, const float* slot, float weight, float keep) {
  return keep != 0.0f ? weight * jaccard + keep * *slot : weight * jaccard;
}

}  // namespace reid_fast
