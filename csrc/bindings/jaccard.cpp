// Bindings of the batched Jaccard distance between rows of a query and a gallery CSR, and
// the workspace it needs.
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
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

std::size_t jaccard_workspace(int64_t query_rows, int64_t gallery_rows, int64_t gallery_nnz,
                              int64_t num_columns, int64_t max_gallery_rows, bool on_cuda) {
  return by_device(
      on_cuda,
      [&] {
        return cpu::jaccard_workspace_bytes(query_rows, gallery_rows, gallery_nnz, num_columns,
                                            max_gallery_rows);
      },
      [&] {
        return cuda::jaccard_workspace_bytes(query_rows, gallery_rows, gallery_nnz, num_columns,
                                             max_gallery_rows);
      });
}

void jaccard(const py::capsule& q_indptr, const py::capsule& q_indices, const py::capsule& q_values,
             const py::capsule& g_indptr, const py::capsule& g_indices, const py::capsule& g_values,
             const py::capsule& query_offsets, const py::capsule& gallery_offsets,
             const py::capsule& out_offsets, int64_t num_columns, int64_t max_gallery_rows,
             const py::capsule& out_capsule, const py::capsule& workspace_capsule, float weight,
             float keep, std::uintptr_t stream) {
  JaccardArgs args;
  args.weight = weight;
  args.keep = keep;
  args.q_indptr = view_from_dlpack(q_indptr, "query.indptr");
  args.q_indices = view_from_dlpack(q_indices, "query.indices");
  args.q_values = view_from_dlpack(q_values, "query.values");
  args.g_indptr = view_from_dlpack(g_indptr, "gallery.indptr");
  args.g_indices = view_from_dlpack(g_indices, "gallery.indices");
  args.g_values = view_from_dlpack(g_values, "gallery.values");
  args.query_offsets = view_from_dlpack(query_offsets, "query_offsets");
  args.gallery_offsets = view_from_dlpack(gallery_offsets, "gallery_offsets");
  args.out_offsets = view_from_dlpack(out_offsets, "out_offsets");
  args.num_columns = num_columns;
  args.out = view_from_dlpack(out_capsule, "out");
  args.workspace = view_from_dlpack(workspace_capsule, "workspace");
  const TensorView& on = args.q_values;
  for (auto* v : {&args.q_indptr, &args.q_indices, &args.g_indptr, &args.g_indices,
                  &args.query_offsets, &args.gallery_offsets, &args.out_offsets}) {
    expect_vector(*v, "an index array", DType::Int64, on);
  }
  expect_vector(args.q_values, "query.values", DType::Float32, on);
  expect_vector(args.g_values, "gallery.values", DType::Float32, on);
  expect_vector(args.out, "out", DType::Float32, on);
  if (num_columns < 0) throw_value_error("num_columns must be >= 0, got ", num_columns);
  if (max_gallery_rows < 0) {
    throw_value_error("max_gallery_rows must be >= 0, got ", max_gallery_rows);
  }
  const int64_t problems = args.query_offsets.shape[0] - 1;
  if (problems < 0 || args.gallery_offsets.shape[0] != problems + 1 ||
      args.out_offsets.shape[0] != problems + 1) {
    throw_value_error("query_offsets, gallery_offsets and out_offsets must have the same length");
  }
  check_workspace(args.workspace, on,
                  jaccard_workspace(args.q_indptr.shape[0] - 1, args.g_indptr.shape[0] - 1,
                                    args.g_indices.shape[0], num_columns, max_gallery_rows,
                                    on.device == DeviceType::CUDA));
  run_on_device(on, stream, [&] { cpu::jaccard(args); }, [&](void* s) { cuda::jaccard(args, s); });
}

}  // namespace

void register_jaccard(py::module_& m) {
  m.def("jaccard_workspace_bytes",
        [](int64_t query_rows, int64_t gallery_rows, int64_t gallery_nnz, int64_t num_columns,
           int64_t max_gallery_rows, const std::string& device) {
          return jaccard_workspace(query_rows, gallery_rows, gallery_nnz, num_columns,
                                   max_gallery_rows, is_cuda_device(device));
        });
  m.def("jaccard", &jaccard);
}

}  // namespace reid_fast
