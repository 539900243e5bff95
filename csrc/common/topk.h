// k-smallest selection shared by the CPU and CUDA knn: a bounded max-heap of
// (value, index) pairs ordered lexicographically, so ties always go to the lower index
// whatever order the candidates arrive in, and the merge of sorted partial lists.
#pragma once

#include <cmath>
#include <cstdint>

#include "reid_fast/hd.h"

namespace reid_fast {

// Index of an empty slot: sorts after every real candidate.
constexpr int64_t kEmptyIndex = INT64_MAX;

// Strict "a ranks before b": smaller value, then lower index.
REID_HD bool ranks_before(float value_a, int64_t index_a, float value_b, int64_t index_b) {
  return value_a < value_b || (value_a == value_b && index_a < index_b);
}

// A max-heap (worst candidate at the root) over caller-owned arrays of capacity k.
struct TopkHeap {
  float* values;
  int64_t* indices;
  int64_t capacity;
  int64_t size;

  REID_HD bool accepts(float value, int64_t index) const {
    return size < capacity || ranks_before(value, index, values[0], indices[0]);
  }

  REID_HD void sift_down(int64_t pos, int64_t count) {
    const float value = values[pos];
    const int64_t index = indices[pos];
    while (true) {
      int64_t child = 2 * pos + 1;
      if (child >= count) break;
      if (child + 1 < count &&
          ranks_before(values[child], indices[child], values[child + 1], indices[child + 1])) {
        ++child;
      }
      if (!ranks_before(value, index, values[child], indices[child])) break;
      values[pos] = values[child];
      indices[pos] = indices[child];
      pos = child;
    }
    values[pos] = value;
    indices[pos] = index;
  }

  // Offers a candidate; keeps the k best seen so far.
  REID_HD void push(float value, int64_t index) {
    if (size < capacity) {
      int64_t pos = size++;
      while (pos > 0) {
        const int64_t parent = (pos - 1) / 2;
        if (!ranks_before(values[parent], indices[parent], value, index)) break;
        values[pos] = values[parent];
        indices[pos] = indices[parent];
        pos = parent;
      }
      values[pos] = value;
      indices[pos] = index;
    } else if (ranks_before(value, index, values[0], indices[0])) {
      values[0] = value;
      indices[0] = index;
      sift_down(0, size);
    }
  }

  // Sorts the heap in place into ascending rank order; unfilled slots become
  // (+inf, kEmptyIndex).
  REID_HD void sort_ascending() {
    for (int64_t end = size - 1; end > 0; --end) {
      const float value = values[0];
      const int64_t index = indices[0];
      values[0] = values[end];
      indices[0] = indices[end];
      values[end] = value;
      indices[end] = index;
      sift_down(0, end);
    }
    for (int64_t i = size; i < capacity; ++i) {
      values[i] = INFINITY;
      indices[i] = kEmptyIndex;
    }
  }
};

// Most partial lists one merge takes (callers split the gallery at most this many ways).
constexpr int kMaxMergeLists = 64;

// Merges `lists` ascending lists of length k (stored k apart) into the k best, ascending.
// lists is small, so each output scans the list heads linearly.
REID_HD void merge_sorted_lists(const float* values, const int64_t* indices, int64_t lists,
                                int64_t k, float* out_values, int64_t* out_indices) {
  int64_t cursor[kMaxMergeLists];
  for (int64_t l = 0; l < lists; ++l) cursor[l] = 0;
  for (int64_t out = 0; out < k; ++out) {
    int64_t best = -1;
    for (int64_t l = 0; l < lists; ++l) {
      if (cursor[l] >= k) continue;
      const int64_t at = l * k + cursor[l];
      if (best < 0 || ranks_before(values[at], indices[at], values[best * k + cursor[best]],
                                   indices[best * k + cursor[best]])) {
        best = l;
      }
    }
    const int64_t at = best * k + cursor[best];
    out_values[out] = values[at];
    out_indices[out] = indices[at];
    ++cursor[best];
  }
}

}  // namespace reid_fast
