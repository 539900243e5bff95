// The set logic of k-reciprocal re-ranking (docs/design.md 3.2, steps 3-4), written once for the
// CPU and CUDA implementations. rank points at the (rows, k1 + 1) int64 nearest-neighbour
// lists, ascending, so rank_k(i) is the first k + 1 entries of row i.
#pragma once

#include <cstdint>

#include "reid_fast/hd.h"

namespace reid_fast {

// h = round-half-to-even(k1 / 2), the neighbourhood of the expansion candidates.
REID_HD int64_t expansion_neighbours(int64_t k1) {
  const int64_t half = k1 / 2;
  if (k1 % 2 == 0) return half;
  return half % 2 == 0 ? half : half + 1;  // k1 / 2 = half + 0.5: round to the even one
}

// Whether target is among the first `count` entries of row `row`.
REID_HD bool in_first(const int64_t* rank, int64_t width, int64_t row, int64_t target,
                      int64_t count) {
  const int64_t* list = rank + row * width;
  for (int64_t t = 0; t < count; ++t) {
    if (list[t] == target) return true;
  }
  return false;
}

// R(i, k) = { j in rank_k(i) : i in rank_k(j) }, in rank order; returns its size.
REID_HD int64_t reciprocal_neighbours(const int64_t* rank, int64_t width, int64_t i, int64_t k,
                                      int64_t* out) {
  int64_t size = 0;
  for (int64_t t = 0; t <= k; ++t) {
    const int64_t j = rank[i * width + t];
    if (in_first(rank, width, j, i, k + 1)) out[size++] = j;
  }
  return size;
}

// Whether the candidate set R(c, h) joins the expansion of R(i, k1): more than two thirds of
// it must lie in R(i, k1) (3 |R(c,h) ∩ R(i,k1)| > 2 |R(c,h)|, in integers).
REID_HD bool joins_expansion(const int64_t* candidate, int64_t candidate_size,
                             const int64_t* reciprocal, int64_t reciprocal_size) {
  int64_t shared = 0;
  for (int64_t a = 0; a < candidate_size; ++a) {
    for (int64_t b = 0; b < reciprocal_size; ++b) {
      if (candidate[a] == reciprocal[b]) {
        ++shared;
        break;
      }
    }
  }
  return 3 * shared > 2 * candidate_size;
}

// Largest |R*(i)|: R(i, k1) plus up to k1 + 1 sets R(c, h) of at most h + 1 entries.
REID_HD int64_t max_expansion_size(int64_t k1) {
  return (k1 + 1) * (expansion_neighbours(k1) + 2);
}

}  // namespace reid_fast
