// What every implementation of knn_select shares (docs/design.md 3.1): the bar a tile's
// candidate must clear to enter a row's running list, and the warp queue lengths of the CUDA
// selection. The order is ranks_before's (common/topk.h): value, then the lower index.
#pragma once

#include <cmath>
#include <cstdint>

#include "common/topk.h"
#include "reid_fast/hd.h"

namespace reid_fast {

// A candidate enters a running list of k entries only if it ranks before the list's k-th
// entry: the bar.
struct SelectBar {
  float value;
  int64_t index;

  REID_HD bool cleared_by(float candidate_value, int64_t candidate_index) const {
    return ranks_before(candidate_value, candidate_index, value, index);
  }
};

// The bar of a running list (values / indices: its k entries, ascending): its k-th entry, or
// (+inf, kEmptyIndex), which every candidate clears, when the tile is the first
// (column_offset == 0) and the list holds nothing yet. A list that has seen fewer than k
// columns ends in (+inf, kEmptyIndex) slots, so its bar lets every candidate in too.
REID_HD SelectBar running_bar(const float* values, const int64_t* indices, int64_t k,
                              int64_t column_offset) {
  if (column_offset == 0) return SelectBar{INFINITY, kEmptyIndex};
  return SelectBar{values[k - 1], indices[k - 1]};
}

// The CUDA selection keeps a row's running list in registers, a warp queue of a power of two
// entries between these bounds; larger k take the two-pass selection.
constexpr int kMinWarpQueue = 32;
constexpr int kMaxWarpQueue = 1024;

// The length of the warp queue that holds k entries, or 0 when k > kMaxWarpQueue.
REID_HD int warp_queue_length(int64_t k) {
  if (k > kMaxWarpQueue) return 0;
  int length = kMinWarpQueue;
  while (length < k) length *= 2;
  return length;
}

}  // namespace reid_fast
