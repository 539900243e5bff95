// Bindings of pairwise_distance and knn: rows of x (n, d) against rows of y (m, d) under a
// metric given by number, and the workspace each needs.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "bindings/checks.h"
#include "bindings/dispatch.h"
#include "bindings/dlpack_view.h"
#include "bindings/register.h"
#include "reid_fast/errors.h"
#include "reid_fast/ops.h"

namespace py = pybind11;

namespace reid_fast {
namespace {

// x (n, d) and y (m, d): 2-D, same floating dtype, same device, same d.
void check_features(const TensorView& x, const TensorView& y) {
  expect_matrix(x, "x");
  expect_feature_dtype(x, "x");
  expect_matrix(y, "y");
  expect_feature_dtype(y, "y");
  if (y.dtype != x.dtype) {
    throw_type_error("y must have the same dtype as x (", dtype_name(x.dtype), "), got ",
                     dtype_name(y.dtype));
  }
  if (y.shape[1] != x.shape[1]) {
    throw_value_error("y must have as many columns as x (", x.shape[1], "), got shape ",
                      shape_string(y));
  }
  if (x.shape[1] == 0) throw_value_error("x must have at least one column, got shape ",
                                         shape_string(x));
  expect_same_device(y, "y", x);
  expect_supported_device(x);
}

std::size_t pairwise_workspace(int64_t n, int64_t m, int64_t d, bool on_cuda) {
  return by_device(
      on_cuda, [&] { return cpu::pairwise_distance_workspace_bytes(n, m, d); },
      [&] { return cuda::pairwise_distance_workspace_bytes(n, m, d); });
}

std::size_t knn_workspace(int64_t n, int64_t m, int64_t d, int64_t k, bool on_cuda,
                          int device_id) {
  return by_device(
      on_cuda, [&] { return cpu::knn_workspace_bytes(n, m, d, k); },
      [&] { return cuda::knn_workspace_bytes(n, m, d, k, device_id); });
}

void pairwise_distance(const py::capsule& x_capsule, const py::capsule& y_capsule,
                       const py::capsule& out_capsule, const py::capsule& workspace_capsule,
                       int metric, std::uintptr_t stream) {
  PairwiseArgs args;
  args.x = view_from_dlpack(x_capsule, "x");
  args.y = view_from_dlpack(y_capsule, "y");
  args.out = view_from_dlpack(out_capsule, "out");
  args.workspace = view_from_dlpack(workspace_capsule, "workspace");
  args.metric = metric_from_int(metric);
  check_features(args.x, args.y);
  const int64_t n = args.x.shape[0], m = args.y.shape[0], d = args.x.shape[1];
  expect_array(args.out, "out", {n, m}, DType::Float32, args.x);
  check_workspace(args.workspace, args.x,
                  pairwise_workspace(n, m, d, args.x.device == DeviceType::CUDA));
  run_on_device(args.x, stream, [&] { cpu::pairwise_distance(args); },
                [&](void* s) { cuda::pairwise_distance(args, s); });
}

void knn(const py::capsule& x_capsule, const py::capsule& y_capsule,
         const py::capsule& values_capsule, const py::capsule& indices_capsule,
         const std::optional<py::capsule>& row_max_capsule, const py::capsule& workspace_capsule,
         int64_t k, int metric, std::uintptr_t stream) {
  KnnArgs args;
  args.x = view_from_dlpack(x_capsule, "x");
  args.y = view_from_dlpack(y_capsule, "y");
  args.values = view_from_dlpack(values_capsule, "values");
  args.indices = view_from_dlpack(indices_capsule, "indices");
  args.workspace = view_from_dlpack(workspace_capsule, "workspace");
  args.metric = metric_from_int(metric);
  args.k = k;
  check_features(args.x, args.y);
  const int64_t n = args.x.shape[0], m = args.y.shape[0], d = args.x.shape[1];
  check_k(k, m);
  expect_array(args.values, "values", {n, k}, DType::Float32, args.x);
  expect_array(args.indices, "indices", {n, k}, DType::Int64, args.x);
  if (row_max_capsule) {
    args.row_max = view_from_dlpack(*row_max_capsule, "row_max");
    expect_array(args.row_max, "row_max", {n}, DType::Float32, args.x);
  }
  check_workspace(args.workspace, args.x,
                  knn_workspace(n, m, d, k, args.x.device == DeviceType::CUDA, args.x.device_id));
  run_on_device(args.x, stream, [&] { cpu::knn(args); }, [&](void* s) { cuda::knn(args, s); });
}

}  // namespace

void register_distance(py::module_& m) {
  m.attr("MAX_SQUARED_NORM") = kMaxSquaredNorm;
  m.def("pairwise_distance_workspace_bytes",
        [](int64_t n, int64_t m, int64_t d, const std::string& device) {
          return pairwise_workspace(n, m, d, is_cuda_device(device));
        });
  m.def("knn_workspace_bytes",
        [](int64_t n, int64_t m, int64_t d, int64_t k, const std::string& device, int device_id) {
          return knn_workspace(n, m, d, k, is_cuda_device(device), device_id);
        });
  m.def("pairwise_distance", &pairwise_distance, py::arg("x"), py::arg("y"), py::arg("out"),
        py::arg("workspace"), py::arg("metric"), py::arg("stream"));
  m.def("knn", &knn, py::arg("x"), py::arg("y"), py::arg("values"), py::arg("indices"),
        py::arg("row_max").none(true), py::arg("workspace"), py::arg("k"), py::arg("metric"),
        py::arg("stream"));
}

}  // namespace reid_fast
