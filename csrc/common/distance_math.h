// Per-element distance math shared by every implementation of pairwise_distance and knn.
//
// Each metric is computed from the dot product <x, y> and one per-row term of each side
// ("aux"), all in float32:
//   sqeuclidean  max(0, |x|^2 + |y|^2 - 2 <x, y>)      aux = |.|^2
//   euclidean    sqrt(sqeuclidean)                      aux = |.|^2
//   cosine       1 - <x, y> * (1/|x|) * (1/|y|)         aux = 1 / max(|.|, kCosineEps)
//   inner        -<x, y>  (negated, so that smaller means closer for every metric)
#pragma once

#include <cmath>

#include "reid_fast/hd.h"

namespace reid_fast {

enum class Metric : int { Euclidean = 0, SqEuclidean = 1, Cosine = 2, Inner = 3 };

constexpr float kCosineEps = 1e-12f;

// The largest squared norm of a row the distances accept: a quarter of float32's largest
// value (a norm of about 9.2e18), so that every intermediate of every metric
// (|x|^2 + |y|^2 - 2 <x, y>, |<x, y>| <= |x| |y|) stays finite. Larger rows are refused
// with a ValueError, as NaN and Inf are: their float32 distances would be 0, Inf or NaN.
constexpr float kMaxSquaredNorm = 3.4028234663852886e38f / 4.0f;

// The per-row term of a metric, from the row's sum of squares.
REID_HD float metric_aux(Metric metric, float sum_squares) {
  switch (metric) {
    case Metric::Euclidean:
    case Metric::SqEuclidean: return sum_squares;
    case Metric::Cosine: {
      const float norm = sqrtf(sum_squares);
      return 1.0f / (norm > kCosineEps ? norm : kCosineEps);
    }
    case Metric::Inner: return 0.0f;
  }
  return 0.0f;
}

template <Metric M>
REID_HD float finalize_distance(float dot, float x_aux, float y_aux) {
  if constexpr (M == Metric::SqEuclidean || M == Metric::Euclidean) {
    float squared = x_aux + y_aux - 2.0f * dot;
    squared = squared > 0.0f ? squared : 0.0f;
    if constexpr (M == Metric::Euclidean) return sqrtf(squared);
    return squared;
  } else if constexpr (M == Metric::Cosine) {
    return 1.0f - dot * x_aux * y_aux;
  } else {
    return -dot;
  }
}

// Calls fn(std::integral_constant-like tag) with the metric as a compile-time constant.
template <Metric M>
struct MetricTag {
  static constexpr Metric value = M;
};

template <typename Fn>
decltype(auto) dispatch_metric(Metric metric, Fn&& fn) {
  switch (metric) {
    case Metric::Euclidean: return fn(MetricTag<Metric::Euclidean>{});
    case Metric::SqEuclidean: return fn(MetricTag<Metric::SqEuclidean>{});
    case Metric::Cosine: return fn(MetricTag<Metric::Cosine>{});
    case Metric::Inner: break;
  }
  return fn(MetricTag<Metric::Inner>{});
}

}  // namespace reid_fast
