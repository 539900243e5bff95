// Ranking metrics on the CPU without sorting the gallery (docs/design.md 3.4): per query, the
// positives are sorted by (distance, index); every non-junk negative is placed among them,
// and the ranks of the positives follow from the running count. The placement starts from
// a uniform grid over the positives' distance range (a few cells per positive, each
// holding the first positive at or above the cell's start) and finishes with exact
// comparisons, so it costs O(1) per gallery item whatever the grid's rounding.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "common/ranking_math.h"
#include "cpu/cpu_kernels.h"
#include "reid_fast/ops.h"

namespace reid_fast::cpu {
namespace {

constexpr int64_t kCellsPerPositive = 4;

// Sorted keys and a grid over [keys.front(), keys.back()] that jump-starts the search for
// the number of keys below a value.
class PositionIndex {
 public:
  void build(const std::vector<float>& keys) {
    keys_ = keys.data();
    n_ = int64_t(keys.size());
    lowest_ = keys.front();
    const float span = keys.back() - lowest_;
    const int64_t cells = n_ * kCellsPerPositive;
    scale_ = span > 0.0f ? float(cells) / span : 0.0f;
    start_.resize(cells + 1);
    int64_t b = 0;
    for (int64_t c = 0; c <= cells; ++c) {
      const float cell_low = scale_ > 0.0f ? lowest_ + float(c) / scale_ : lowest_;
      while (b < n_ && keys_[b] < cell_low) ++b;
      start_[c] = b;
    }
  }

  // The number of keys strictly below d, for keys.front() <= d <= keys.back().
  int64_t count_below(float d) const {
    const int64_t cells = int64_t(start_.size()) - 1;
    int64_t cell = int64_t((d - lowest_) * scale_);
    cell = cell < 0 ? 0 : (cell > cells ? cells : cell);
    int64_t b = start_[cell];
    while (b > 0 && keys_[b - 1] >= d) --b;
    while (b < n_ && keys_[b] < d) ++b;
    return b;
  }

 private:
  const float* keys_ = nullptr;
  int64_t n_ = 0;
  float lowest_ = 0.0f, scale_ = 0.0f;
  std::vector<int64_t> start_;
};

}  // namespace

void ranking_metrics(const RankingArgs& args) {
  const int64_t q = args.distances.shape[0], g = args.distances.shape[1];
  const float* distances = args.distances.as<float>();
  const int64_t* query_ids = args.query_ids.as<int64_t>();
  const int64_t* gallery_ids = args.gallery_ids.as<int64_t>();
  const int64_t* query_cams = args.query_cams.as<int64_t>();
  const int64_t* gallery_cams = args.gallery_cams.as<int64_t>();
  const double nan = std::numeric_limits<double>::quiet_NaN();
#pragma omp parallel num_threads(max_threads())
  {
    std::vector<std::pair<float, int64_t>> positives;
    std::vector<float> keys;
    std::vector<int64_t> preceding;  // negatives placed before positive b (b = 0..n)
    PositionIndex index;
#pragma omp for schedule(dynamic, 8)
    for (int64_t i = 0; i < q; ++i) {
      const float* row = distances + i * g;
      const int64_t qid = query_ids[i], qcam = query_cams[i];
      positives.clear();
      for (int64_t j = 0; j < g; ++j) {
        if (gallery_status(qid, qcam, gallery_ids[j], gallery_cams[j], args.same_camera_junk) ==
            GalleryStatus::Positive) {
          positives.emplace_back(row[j], j);
        }
      }
      const int64_t n = int64_t(positives.size());
      args.num_positives.as<int64_t>()[i] = n;
      if (n == 0) {
        args.average_precision.as<double>()[i] = nan;
        args.average_precision_at_top.as<double>()[i] = nan;
        args.inverse_negative_penalty.as<double>()[i] = nan;
        args.first_positive_rank.as<int64_t>()[i] = 0;
        continue;
      }
      // Collected in index order, so a stable sort by distance orders by (distance, index).
      std::stable_sort(positives.begin(), positives.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      keys.resize(n);
      for (int64_t b = 0; b < n; ++b) keys[b] = positives[b].first;
      preceding.assign(n + 1, 0);
      index.build(keys);
      const float lowest = keys.front(), highest = keys.back();
      for (int64_t j = 0; j < g; ++j) {
        if (gallery_status(qid, qcam, gallery_ids[j], gallery_cams[j], args.same_camera_junk) !=
            GalleryStatus::Negative) {
          continue;
        }
        const float d = row[j];
        int64_t before;
        if (d < lowest) {
          before = 0;
        } else if (d > highest) {
          before = n;
        } else {
          before = index.count_below(d);
          while (before < n && keys[before] == d && positives[before].second < j) ++before;
        }
        ++preceding[before];
      }
      RankingAccumulator acc;
      int64_t negatives_before = 0;
      for (int64_t b = 0; b < n; ++b) {
        negatives_before += preceding[b];
        acc.add(1 + b + negatives_before, args.top);
      }
      args.average_precision.as<double>()[i] = acc.average_precision();
      args.average_precision_at_top.as<double>()[i] = acc.average_precision_at_top(args.top);
      args.inverse_negative_penalty.as<double>()[i] = acc.inverse_negative_penalty();
      args.first_positive_rank.as<int64_t>()[i] = acc.first;
    }
  }
}

}  // namespace reid_fast::cpu
