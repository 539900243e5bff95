// Bindings of topk_rows: the k smallest entries of each row of a dense float32 matrix, and
// the workspace it needs.
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
#include "reid_fast/ops.h"

namespace py = pybind11;

namespace reid_fast {
namespace {

std::size_t topk_rows_workspace(int64_t n, int64_t m, int64_t k, bool on_cuda, int device_id) {
  return by_device(
      on_cuda, [&] { return cpu::topk_rows_workspace_bytes(n, m, k); },
      [&] { return cuda::topk_rows_workspace_bytes(n, m, k, device_id); });
}

void topk_rows(const py::capsule& matrix_capsule, const py::capsule& values_capsule,
               const py::capsule& indices_capsule, const std::optional<py::capsule>& row_max_capsule,
               const py::capsule& workspace_capsule, int64_t k, std::uintptr_t stream) {
  TopkRowsArgs args;
  args.matrix = view_from_dlpack(matrix_capsule, "matrix");
  args.values = view_from_dlpack(values_capsule, "values");
  args.indices = view_from_dlpack(indices_capsule, "indices");
  args.row_max = optional_view(row_max_capsule, "row_max");
  args.workspace = view_from_dlpack(workspace_capsule, "workspace");
  args.k = k;
  expect_matrix(args.matrix, "matrix");
  expect_dtype(args.matrix, "matrix", DType::Float32);
  const int64_t n = args.matrix.shape[0], m = args.matrix.shape[1];
  check_k(k, m);
  expect_array(args.values, "values", {n, k}, DType::Float32, args.matrix);
  expect_array(args.indices, "indices", {n, k}, DType::Int64, args.matrix);
  if (args.row_max.data != nullptr) {
    expect_array(args.row_max, "row_max", {n}, DType::Float32, args.matrix);
  }
  check_workspace(args.workspace, args.matrix,
                  topk_rows_workspace(n, m, k, args.matrix.device == DeviceType::CUDA,
                                      args.matrix.device_id));
  run_on_device(args.matrix, stream, [&] { cpu::topk_rows(args); },
                [&](void* s) { cuda::topk_rows(args, s); });
}

}  // namespace

void register_topk_rows(py::module_& m) {
  m.def("topk_rows_workspace_bytes",
        [](int64_t n, int64_t m, int64_t k, const std::string& device, int device_id) {
          return topk_rows_workspace(n, m, k, is_cuda_device(device), device_id);
        });
  m.def("topk_rows", &topk_rows, py::arg("matrix"), py::arg("values"), py::arg("indices"),
        py::arg("row_max").none(true), py::arg("workspace"), py::arg("k"), py::arg("stream"));
}

}  // namespace reid_fast
