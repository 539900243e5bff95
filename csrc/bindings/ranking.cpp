// Bindings of ranking_metrics: per-query average precision, mINP and first-positive ranks
// from a (query, gallery) distance matrix, on the CPU.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/checks.h"
#include "bindings/dlpack_view.h"
#include "bindings/register.h"
#include "reid_fast/errors.h"
#include "reid_fast/ops.h"

namespace py = pybind11;

namespace reid_fast {
namespace {

void ranking_metrics(const py::capsule& distances, const py::capsule& query_ids,
                     const py::capsule& gallery_ids, const py::capsule& query_cams,
                     const py::capsule& gallery_cams, const py::capsule& average_precision,
                     const py::capsule& average_precision_at_top,
                     const py::capsule& inverse_negative_penalty,
                     const py::capsule& first_positive_rank, const py::capsule& num_positives,
                     bool same_camera_junk, int64_t top) {
  RankingArgs args;
  args.distances = view_from_dlpack(distances, "distances");
  expect_matrix(args.distances, "distances");
  expect_dtype(args.distances, "distances", DType::Float32);
  if (args.distances.device != DeviceType::CPU) {
    throw_value_error("ranking_metrics runs on the CPU; got distances on CUDA");
  }
  if (top < 1) throw_value_error("top must be >= 1, got ", top);
  const int64_t q = args.distances.shape[0], g = args.distances.shape[1];
  const auto vector = [&](const py::capsule& capsule, const char* name, DType dtype,
                          int64_t length) {
    TensorView view = view_from_dlpack(capsule, name);
    expect_vector(view, name, dtype, args.distances);
    expect_shape(view, name, {length});
    return view;
  };
  args.query_ids = vector(query_ids, "query_ids", DType::Int64, q);
  args.gallery_ids = vector(gallery_ids, "gallery_ids", DType::Int64, g);
  args.query_cams = vector(query_cams, "query_cams", DType::Int64, q);
  args.gallery_cams = vector(gallery_cams, "gallery_cams", DType::Int64, g);
  args.average_precision = vector(average_precision, "average_precision", DType::Float64, q);
  args.average_precision_at_top =
      vector(average_precision_at_top, "average_precision_at_top", DType::Float64, q);
  args.inverse_negative_penalty =
      vector(inverse_negative_penalty, "inverse_negative_penalty", DType::Float64, q);
  args.first_positive_rank = vector(first_positive_rank, "first_positive_rank", DType::Int64, q);
  args.num_positives = vector(num_positives, "num_positives", DType::Int64, q);
  args.same_camera_junk = same_camera_junk;
  args.top = top;
  py::gil_scoped_release release;
  cpu::ranking_metrics(args);
}

}  // namespace

void register_ranking(py::module_& m) { m.def("ranking_metrics", &ranking_metrics); }

}  // namespace reid_fast
