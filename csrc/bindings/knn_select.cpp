// Bindings of the framework-GEMM path of knn and pairwise_distance (docs/design.md 3.1):
// row_aux (the rows' metric terms), knn_select (a tile of dot products into running top-k
// lists) and distance_tile (a tile of dot products into a column block of distances), and
// the workspace knn_select needs.
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

// dots (r, t) float32, x_aux (r,) and y_aux (t,) float32 on the device of dots,
// column_offset >= 0.
DotTile dot_tile(const py::capsule& dots_capsule, const py::capsule& x_aux_capsule,
                 const py::capsule& y_aux_capsule, int metric, int64_t column_offset) {
  DotTile tile;
  tile.dots = view_from_dlpack(dots_capsule, "dots");
  tile.x_aux = view_from_dlpack(x_aux_capsule, "x_aux");
  tile.y_aux = view_from_dlpack(y_aux_capsule, "y_aux");
  tile.metric = metric_from_int(metric);
  tile.column_offset = column_offset;
  expect_matrix(tile.dots, "dots");
  expect_dtype(tile.dots, "dots", DType::Float32);
  expect_array(tile.x_aux, "x_aux", {tile.dots.shape[0]}, DType::Float32, tile.dots);
  expect_array(tile.y_aux, "y_aux", {tile.dots.shape[1]}, DType::Float32, tile.dots);
  if (column_offset < 0) throw_value_error("column_offset must be >= 0, got ", column_offset);
  expect_supported_device(tile.dots);
  return tile;
}

std::size_t knn_select_workspace(int64_t rows, int64_t columns, int64_t k, bool on_cuda) {
  return by_device(
      on_cuda, [&] { return cpu::knn_select_workspace_bytes(rows, columns, k); },
      [&] { return cuda::knn_select_workspace_bytes(rows, columns, k); });
}

void row_aux(const py::capsule& features_capsule, const py::capsule& out_capsule, int metric,
             std::uintptr_t stream) {
  RowAuxArgs args;
  args.features = view_from_dlpack(features_capsule, "features");
  args.out = view_from_dlpack(out_capsule, "out");
  args.metric = metric_from_int(metric);
  expect_matrix(args.features, "features");
  expect_feature_dtype(args.features, "features");
  expect_array(args.out, "out", {args.features.shape[0]}, DType::Float32, args.features);
  run_on_device(args.features, stream, [&] { cpu::row_aux(args); },
                [&](void* s) { cuda::row_aux(args, s); });
}

void knn_select(const py::capsule& dots_capsule, const py::capsule& x_aux_capsule,
                const py::capsule& y_aux_capsule, const py::capsule& values_capsule,
                const py::capsule& indices_capsule,
                const std::optional<py::capsule>& row_max_capsule,
                const py::capsule& workspace_capsule, int64_t k, int metric,
                int64_t column_offset, std::uintptr_t stream) {
  KnnSelectArgs args;
  args.tile = dot_tile(dots_capsule, x_aux_capsule, y_aux_capsule, metric, column_offset);
  args.values = view_from_dlpack(values_capsule, "values");
  args.indices = view_from_dlpack(indices_capsule, "indices");
  args.row_max = optional_view(row_max_capsule, "row_max");
  args.workspace = view_from_dlpack(workspace_capsule, "workspace");
  args.k = k;
  const TensorView& dots = args.tile.dots;
  const int64_t rows = dots.shape[0], columns = dots.shape[1];
  if (k < 1) throw_value_error("k must be >= 1, got ", k);
  expect_array(args.values, "values", {rows, k}, DType::Float32, dots);
  expect_array(args.indices, "indices", {rows, k}, DType::Int64, dots);
  if (args.row_max.data != nullptr) {
    expect_array(args.row_max, "row_max", {rows}, DType::Float32, dots);
  }
  check_workspace(args.workspace, dots,
                  knn_select_workspace(rows, columns, k, dots.device == DeviceType::CUDA));
  run_on_device(dots, stream, [&] { cpu::knn_select(args); },
                [&](void* s) { cuda::knn_select(args, s); });
}

void distance_tile(const py::capsule& dots_capsule, const py::capsule& x_aux_capsule,
                   const py::capsule& y_aux_capsule, const py::capsule& out_capsule, int metric,
                   int64_t column_offset, std::uintptr_t stream) {
  DistanceTileArgs args;
  args.tile = dot_tile(dots_capsule, x_aux_capsule, y_aux_capsule, metric, column_offset);
  args.out = view_from_dlpack(out_capsule, "out");
  const TensorView& dots = args.tile.dots;
  expect_matrix(args.out, "out");
  expect_dtype(args.out, "out", DType::Float32);
  expect_same_device(args.out, "out", dots);
  if (args.out.shape[0] != dots.shape[0] || column_offset + dots.shape[1] > args.out.shape[1]) {
    throw_value_error("out must have the rows of dots (", dots.shape[0],
                      ") and at least column_offset + its columns (", column_offset + dots.shape[1],
                      "), got shape ", shape_string(args.out));
  }
  run_on_device(dots, stream, [&] { cpu::distance_tile(args); },
                [&](void* s) { cuda::distance_tile(args, s); });
}

}  // namespace

void register_knn_select(py::module_& m) {
  m.def("row_aux", &row_aux, py::arg("features"), py::arg("out"), py::arg("metric"),
        py::arg("stream"));
  m.def("knn_select_workspace_bytes",
        [](int64_t rows, int64_t columns, int64_t k, const std::string& device) {
          return knn_select_workspace(rows, columns, k, is_cuda_device(device));
        });
  m.def("knn_select", &knn_select, py::arg("dots"), py::arg("x_aux"), py::arg("y_aux"),
        py::arg("values"), py::arg("indices"), py::arg("row_max").none(true),
        py::arg("workspace"), py::arg("k"), py::arg("metric"), py::arg("column_offset"),
        py::arg("stream"));
  m.def("distance_tile", &distance_tile, py::arg("dots"), py::arg("x_aux"), py::arg("y_aux"),
        py::arg("out"), py::arg("metric"), py::arg("column_offset"), py::arg("stream"));
}

}  // namespace reid_fast
