// Bindings of the sparse steps of k-reciprocal re-ranking: rerank_reciprocal (the weights V)
// and rerank_query_expansion (V'), both two-phase CSR producers, and their workspaces.
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

// The CSR output of the two-phase sparse steps: counts (rows,) in the count phase, else
// indptr (rows + 1,), indices (nnz,) int64 and values (nnz,) float32.
void check_two_phase(const TensorView& counts, const TensorView& indptr, const TensorView& indices,
                     const TensorView& values, int64_t rows, const TensorView& on) {
  if (indices.data == nullptr) {
    expect_array(counts, "counts", {rows}, DType::Int64, on);
    return;
  }
  expect_array(indptr, "indptr", {rows + 1}, DType::Int64, on);
  expect_vector(indices, "indices", DType::Int64, on);
  expect_vector(values, "values", DType::Float32, on);
  if (indices.shape[0] != values.shape[0]) {
    throw_value_error("values must have as many entries as indices (", indices.shape[0],
                      "), got shape ", shape_string(values));
  }
}

std::size_t reciprocal_workspace(int64_t rows, int64_t k1, bool on_cuda) {
  return by_device(
      on_cuda, [&] { return cpu::rerank_reciprocal_workspace_bytes(rows, k1); },
      [&] { return cuda::rerank_reciprocal_workspace_bytes(rows, k1); });
}

std::size_t query_expansion_workspace(int64_t rows, int64_t k2, int64_t max_row_nnz,
                                      bool on_cuda) {
  return by_device(
      on_cuda, [&] { return cpu::rerank_query_expansion_workspace_bytes(rows, k2, max_row_nnz); },
      [&] { return cuda::rerank_query_expansion_workspace_bytes(rows, k2, max_row_nnz); });
}

void rerank_reciprocal(const py::capsule& rank_capsule,
                       const std::optional<py::capsule>& features_capsule,
                       const std::optional<py::capsule>& dense_capsule,
                       const py::capsule& row_scale_capsule,
                       const std::optional<py::capsule>& counts_capsule,
                       const std::optional<py::capsule>& indptr_capsule,
                       const std::optional<py::capsule>& indices_capsule,
                       const std::optional<py::capsule>& values_capsule,
                       const py::capsule& workspace_capsule, std::uintptr_t stream) {
  ReciprocalArgs args;
  args.rank = view_from_dlpack(rank_capsule, "rank");
  args.distances.features = optional_view(features_capsule, "features");
  args.distances.dense = optional_view(dense_capsule, "dense");
  args.distances.row_scale = view_from_dlpack(row_scale_capsule, "row_scale");
  args.counts = optional_view(counts_capsule, "counts");
  args.indptr = optional_view(indptr_capsule, "indptr");
  args.indices = optional_view(indices_capsule, "indices");
  args.values = optional_view(values_capsule, "values");
  args.workspace = view_from_dlpack(workspace_capsule, "workspace");
  const TensorView& rank = args.rank;
  if (rank.ndim != 2 || rank.shape[1] < 2) {
    throw_value_error("rank must be 2-D with at least 2 columns (k1 + 1), got shape ",
                      shape_string(rank));
  }
  expect_dtype(rank, "rank", DType::Int64);
  const int64_t rows = rank.shape[0];
  const bool has_features = args.distances.features.data != nullptr;
  if (has_features == (args.distances.dense.data != nullptr)) {
    throw_value_error("exactly one of features and dense must be given");
  }
  if (has_features) {
    const TensorView& f = args.distances.features;
    if (f.ndim != 2 || f.shape[0] != rows) {
      throw_value_error("features must have shape (", rows, ", d), got ", shape_string(f));
    }
    expect_feature_dtype(f, "features");
    expect_same_device(f, "features", rank);
  } else {
    expect_array(args.distances.dense, "dense", {rows, rows}, DType::Float32, rank);
  }
  expect_array(args.distances.row_scale, "row_scale", {rows}, DType::Float32, rank);
  check_two_phase(args.counts, args.indptr, args.indices, args.values, rows, rank);
  check_workspace(args.workspace, rank,
                  reciprocal_workspace(rows, rank.shape[1] - 1, rank.device == DeviceType::CUDA));
  run_on_device(rank, stream, [&] { cpu::rerank_reciprocal(args); },
                [&](void* s) { cuda::rerank_reciprocal(args, s); });
}

void rerank_query_expansion(const py::capsule& rank_capsule, int64_t k2,
                            const py::capsule& v_indptr_capsule,
                            const py::capsule& v_indices_capsule,
                            const py::capsule& v_values_capsule, int64_t max_row_nnz,
                            const std::optional<py::capsule>& counts_capsule,
                            const std::optional<py::capsule>& indptr_capsule,
                            const std::optional<py::capsule>& indices_capsule,
                            const std::optional<py::capsule>& values_capsule,
                            const py::capsule& workspace_capsule, std::uintptr_t stream) {
  QueryExpansionArgs args;
  args.rank = view_from_dlpack(rank_capsule, "rank");
  args.k2 = k2;
  args.v_indptr = view_from_dlpack(v_indptr_capsule, "v_indptr");
  args.v_indices = view_from_dlpack(v_indices_capsule, "v_indices");
  args.v_values = view_from_dlpack(v_values_capsule, "v_values");
  args.counts = optional_view(counts_capsule, "counts");
  args.indptr = optional_view(indptr_capsule, "indptr");
  args.indices = optional_view(indices_capsule, "indices");
  args.values = optional_view(values_capsule, "values");
  args.workspace = view_from_dlpack(workspace_capsule, "workspace");
  const TensorView& rank = args.rank;
  expect_matrix(rank, "rank");
  expect_dtype(rank, "rank", DType::Int64);
  const int64_t rows = rank.shape[0];
  if (k2 < 1 || k2 > rank.shape[1]) {
    throw_value_error("k2 must be between 1 and the rank width ", rank.shape[1], ", got ", k2);
  }
  expect_array(args.v_indptr, "v_indptr", {rows + 1}, DType::Int64, rank);
  expect_vector(args.v_indices, "v_indices", DType::Int64, rank);
  expect_vector(args.v_values, "v_values", DType::Float32, rank);
  check_two_phase(args.counts, args.indptr, args.indices, args.values, rows, rank);
  check_workspace(args.workspace, rank,
                  query_expansion_workspace(rows, k2, max_row_nnz,
                                            rank.device == DeviceType::CUDA));
  run_on_device(rank, stream, [&] { cpu::rerank_query_expansion(args); },
                [&](void* s) { cuda::rerank_query_expansion(args, s); });
}

}  // namespace

void register_rerank(py::module_& m) {
  m.def("rerank_reciprocal_workspace_bytes",
        [](int64_t rows, int64_t k1, const std::string& device) {
          return reciprocal_workspace(rows, k1, is_cuda_device(device));
        });
  m.def("rerank_reciprocal", &rerank_reciprocal, py::arg("rank"), py::arg("features").none(true),
        py::arg("dense").none(true), py::arg("row_scale"), py::arg("counts").none(true),
        py::arg("indptr").none(true), py::arg("indices").none(true),
        py::arg("values").none(true), py::arg("workspace"), py::arg("stream"));
  m.def("rerank_query_expansion_workspace_bytes",
        [](int64_t rows, int64_t k2, int64_t max_row_nnz, const std::string& device) {
          return query_expansion_workspace(rows, k2, max_row_nnz, is_cuda_device(device));
        });
  m.def("rerank_query_expansion", &rerank_query_expansion, py::arg("rank"), py::arg("k2"),
        py::arg("v_indptr"), py::arg("v_indices"), py::arg("v_values"), py::arg("max_row_nnz"),
        py::arg("counts").none(true), py::arg("indptr").none(true),
        py::arg("indices").none(true), py::arg("values").none(true), py::arg("workspace"),
        py::arg("stream"));
}

}  // namespace reid_fast
