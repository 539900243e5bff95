// Per-query ranking metrics from the ranks of the query's positives (docs/design.md 3.4 and 4),
// written once for every implementation. Ranks are 1-based among the non-junk gallery
// items and are added in increasing order.
#pragma once

#include <cstdint>

#include "reid_fast/hd.h"

namespace reid_fast {

enum class GalleryStatus : int { Negative, Positive, Junk };

// Junk: identity -1, and under the Market-1501 / VeRi-776 rule the query's identity seen
// by the query's (known) camera. A query of identity -1 has no positive.
REID_HD GalleryStatus gallery_status(int64_t query_id, int64_t query_cam, int64_t gallery_id,
                                     int64_t gallery_cam, bool same_camera_junk) {
  if (gallery_id == -1) return GalleryStatus::Junk;
  if (gallery_id != query_id) return GalleryStatus::Negative;
  if (same_camera_junk && query_cam != -1 && gallery_cam == query_cam) return GalleryStatus::Junk;
  return GalleryStatus::Positive;
}

// AP = mean_j j / r_j; AP@top = sum_{r_j <= top} j / r_j / min(n, top); INP = n / r_n.
struct RankingAccumulator {
  double precision_sum = 0.0;
  double precision_top_sum = 0.0;
  int64_t hits = 0;
  int64_t first = 0;
  int64_t last = 0;

  REID_HD void add(int64_t rank, int64_t top) {
    ++hits;
    const double precision = double(hits) / double(rank);
    precision_sum += precision;
    if (rank <= top) precision_top_sum += precision;
    if (hits == 1) first = rank;
    last = rank;
  }
  REID_HD double average_precision() const { return precision_sum / double(hits); }
  REID_HD double average_precision_at_top(int64_t top) const {
    return precision_top_sum / double(hits < top ? hits : top);
  }
  REID_HD double inverse_negative_penalty() const { return double(hits) / double(last); }
};

}  // namespace reid_fast
