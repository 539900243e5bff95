// PYBIND11_MODULE reid_fast._C: DLPack capsules in, checks, then the CPU or CUDA op.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "dlpack_view.h"
#include "reid_fast/errors.h"
#include "reid_fast/ops.h"

namespace py = pybind11;
using namespace reid_fast;

namespace {

Metric metric_from_int(int metric) {
  if (metric < 0 || metric > static_cast<int>(Metric::Inner)) {
    throw_value_error("metric must be 0..3 (euclidean, sqeuclidean, cosine, inner), got ",
                      metric);
  }
  return static_cast<Metric>(metric);
}

bool is_cuda_device(const std::string& device) {
  if (device == "cpu") return false;
  if (device == "cuda") return true;
  throw_value_error("device must be 'cpu' or 'cuda', got '", device, "'");
}

#ifndef REID_FAST_WITH_CUDA
[[noreturn]] void throw_no_cuda() {
  throw_runtime_error(
      "reid_fast was built without CUDA: CUDA arrays cannot be used. Rebuild with nvcc on "
      "PATH (see README, 'Building without CUDA') or move the arrays to the CPU.");
}
#endif

// x (n, d) and y (m, d): 2-D, same floating dtype, same device, same d.
void check_features(const TensorView& x, const TensorView& y) {
  const TensorView* pair[2] = {&x, &y};
  const char* names[2] = {"x", "y"};
  for (int i = 0; i < 2; ++i) {
    const TensorView& v = *pair[i];
    if (v.ndim != 2) throw_value_error(names[i], " must be 2-D, got shape ", shape_string(v));
    if (v.dtype != DType::Float32 && v.dtype != DType::Float16 && v.dtype != DType::BFloat16) {
      throw_type_error(names[i], " must be float32, float16 or bfloat16, got ",
                       dtype_name(v.dtype));
    }
  }
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
#ifndef REID_FAST_WITH_CUDA
  if (x.device == DeviceType::CUDA) throw_no_cuda();
#endif
}

void check_workspace(const TensorView& workspace, const TensorView& x, std::size_t needed) {
  expect_dtype(workspace, "workspace", DType::UInt8);
  expect_same_device(workspace, "workspace", x);
  if (workspace.ndim != 1 || workspace.nbytes() < needed) {
    throw_value_error("workspace must be a 1-D uint8 array of at least ", needed,
                      " bytes, got shape ", shape_string(workspace));
  }
}

std::size_t pairwise_workspace(int64_t n, int64_t m, int64_t d, bool cuda) {
  if (!cuda) return cpu::pairwise_distance_workspace_bytes(n, m, d);
#ifdef REID_FAST_WITH_CUDA
  return cuda::pairwise_distance_workspace_bytes(n, m, d);
#else
  throw_no_cuda();
#endif
}

std::size_t knn_workspace(int64_t n, int64_t m, int64_t d, int64_t k, bool cuda, int device_id) {
  if (!cuda) return cpu::knn_workspace_bytes(n, m, d, k);
#ifdef REID_FAST_WITH_CUDA
  return cuda::knn_workspace_bytes(n, m, d, k, device_id);
#else
  (void)device_id;
  throw_no_cuda();
#endif
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
  expect_shape(args.out, "out", {n, m});
  expect_dtype(args.out, "out", DType::Float32);
  expect_same_device(args.out, "out", args.x);
  const bool cuda = args.x.device == DeviceType::CUDA;
  check_workspace(args.workspace, args.x, pairwise_workspace(n, m, d, cuda));

  py::gil_scoped_release release;
  if (!cuda) {
    cpu::pairwise_distance(args);
    return;
  }
#ifdef REID_FAST_WITH_CUDA
  cuda::pairwise_distance(args, reinterpret_cast<void*>(stream));
#else
  (void)stream;
#endif
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
  if (k < 1 || k > m) throw_value_error("k must be between 1 and m = ", m, ", got ", k);
  expect_shape(args.values, "values", {n, k});
  expect_dtype(args.values, "values", DType::Float32);
  expect_same_device(args.values, "values", args.x);
  expect_shape(args.indices, "indices", {n, k});
  expect_dtype(args.indices, "indices", DType::Int64);
  expect_same_device(args.indices, "indices", args.x);
  if (row_max_capsule) {
    args.row_max = view_from_dlpack(*row_max_capsule, "row_max");
    expect_shape(args.row_max, "row_max", {n});
    expect_dtype(args.row_max, "row_max", DType::Float32);
    expect_same_device(args.row_max, "row_max", args.x);
  }
  const bool cuda = args.x.device == DeviceType::CUDA;
  check_workspace(args.workspace, args.x, knn_workspace(n, m, d, k, cuda, args.x.device_id));

  py::gil_scoped_release release;
  if (!cuda) {
    cpu::knn(args);
    return;
  }
#ifdef REID_FAST_WITH_CUDA
  cuda::knn(args, reinterpret_cast<void*>(stream));
#else
  (void)stream;
#endif
}

// Releases the GIL and runs the op on the device of `on`.
template <typename CpuFn, typename CudaFn>
void run_on_device(const TensorView& on, std::uintptr_t stream, CpuFn&& cpu_fn, CudaFn&& cuda_fn) {
  py::gil_scoped_release release;
  if (on.device == DeviceType::CPU) {
    cpu_fn();
    return;
  }
#ifdef REID_FAST_WITH_CUDA
  cuda_fn(reinterpret_cast<void*>(stream));
#else
  (void)stream;
  (void)cuda_fn;
  throw_no_cuda();
#endif
}

TensorView optional_view(const std::optional<py::capsule>& capsule, const std::string& name) {
  return capsule ? view_from_dlpack(*capsule, name) : TensorView{};
}

void expect_vector(const TensorView& view, const std::string& name, DType dtype,
                   const TensorView& on) {
  if (view.ndim != 1) throw_value_error(name, " must be 1-D, got shape ", shape_string(view));
  expect_dtype(view, name, dtype);
  expect_same_device(view, name, on);
}

std::size_t topk_rows_workspace(int64_t n, int64_t m, int64_t k, bool cuda, int device_id) {
  if (!cuda) return cpu::topk_rows_workspace_bytes(n, m, k);
#ifdef REID_FAST_WITH_CUDA
  return cuda::topk_rows_workspace_bytes(n, m, k, device_id);
#else
  (void)device_id;
  throw_no_cuda();
#endif
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
  if (args.matrix.ndim != 2) {
    throw_value_error("matrix must be 2-D, got shape ", shape_string(args.matrix));
  }
  expect_dtype(args.matrix, "matrix", DType::Float32);
  const int64_t n = args.matrix.shape[0], m = args.matrix.shape[1];
  if (k < 1 || k > m) throw_value_error("k must be between 1 and m = ", m, ", got ", k);
  expect_shape(args.values, "values", {n, k});
  expect_dtype(args.values, "values", DType::Float32);
  expect_same_device(args.values, "values", args.matrix);
  expect_shape(args.indices, "indices", {n, k});
  expect_dtype(args.indices, "indices", DType::Int64);
  expect_same_device(args.indices, "indices", args.matrix);
  if (args.row_max.data != nullptr) {
    expect_shape(args.row_max, "row_max", {n});
    expect_dtype(args.row_max, "row_max", DType::Float32);
    expect_same_device(args.row_max, "row_max", args.matrix);
  }
  const bool cuda = args.matrix.device == DeviceType::CUDA;
  check_workspace(args.workspace, args.matrix,
                  topk_rows_workspace(n, m, k, cuda, args.matrix.device_id));
  run_on_device(args.matrix, stream, [&] { cpu::topk_rows(args); },
                [&](void* s) {
#ifdef REID_FAST_WITH_CUDA
                  cuda::topk_rows(args, s);
#else
                  (void)s;
#endif
                });
}

void ranking_metrics(const py::capsule& distances, const py::capsule& query_ids,
                     const py::capsule& gallery_ids, const py::capsule& query_cams,
                     const py::capsule& gallery_cams, const py::capsule& average_precision,
                     const py::capsule& average_precision_at_top,
                     const py::capsule& inverse_negative_penalty,
                     const py::capsule& first_positive_rank, const py::capsule& num_positives,
                     bool same_camera_junk, int64_t top) {
  RankingArgs args;
  args.distances = view_from_dlpack(distances, "distances");
  if (args.distances.ndim != 2) {
    throw_value_error("distances must be 2-D, got shape ", shape_string(args.distances));
  }
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

std::size_t reciprocal_workspace(int64_t rows, int64_t k1, bool cuda) {
  if (!cuda) return cpu::rerank_reciprocal_workspace_bytes(rows, k1);
#ifdef REID_FAST_WITH_CUDA
  return cuda::rerank_reciprocal_workspace_bytes(rows, k1);
#else
  throw_no_cuda();
#endif
}

// The CSR output of the two-phase sparse steps: counts (rows,) in the count phase, else
// indptr (rows + 1,), indices (nnz,) int64 and values (nnz,) float32.
void check_two_phase(const TensorView& counts, const TensorView& indptr, const TensorView& indices,
                     const TensorView& values, int64_t rows, const TensorView& on) {
  if (indices.data == nullptr) {
    expect_shape(counts, "counts", {rows});
    expect_dtype(counts, "counts", DType::Int64);
    expect_same_device(counts, "counts", on);
    return;
  }
  expect_shape(indptr, "indptr", {rows + 1});
  expect_dtype(indptr, "indptr", DType::Int64);
  expect_same_device(indptr, "indptr", on);
  expect_vector(indices, "indices", DType::Int64, on);
  expect_vector(values, "values", DType::Float32, on);
  if (indices.shape[0] != values.shape[0]) {
    throw_value_error("values must have as many entries as indices (", indices.shape[0],
                      "), got shape ", shape_string(values));
  }
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
    if (f.dtype != DType::Float32 && f.dtype != DType::Float16 && f.dtype != DType::BFloat16) {
      throw_type_error("features must be float32, float16 or bfloat16, got ", dtype_name(f.dtype));
    }
    expect_same_device(f, "features", rank);
  } else {
    expect_shape(args.distances.dense, "dense", {rows, rows});
    expect_dtype(args.distances.dense, "dense", DType::Float32);
    expect_same_device(args.distances.dense, "dense", rank);
  }
  expect_shape(args.distances.row_scale, "row_scale", {rows});
  expect_dtype(args.distances.row_scale, "row_scale", DType::Float32);
  expect_same_device(args.distances.row_scale, "row_scale", rank);
  check_two_phase(args.counts, args.indptr, args.indices, args.values, rows, rank);
  const bool cuda = rank.device == DeviceType::CUDA;
  check_workspace(args.workspace, rank, reciprocal_workspace(rows, rank.shape[1] - 1, cuda));
  run_on_device(rank, stream, [&] { cpu::rerank_reciprocal(args); },
                [&](void* s) {
#ifdef REID_FAST_WITH_CUDA
                  cuda::rerank_reciprocal(args, s);
#else
                  (void)s;
#endif
                });
}

std::size_t query_expansion_workspace(int64_t rows, int64_t k2, int64_t max_row_nnz, bool cuda) {
  if (!cuda) return cpu::rerank_query_expansion_workspace_bytes(rows, k2, max_row_nnz);
#ifdef REID_FAST_WITH_CUDA
  return cuda::rerank_query_expansion_workspace_bytes(rows, k2, max_row_nnz);
#else
  throw_no_cuda();
#endif
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
  if (rank.ndim != 2) throw_value_error("rank must be 2-D, got shape ", shape_string(rank));
  expect_dtype(rank, "rank", DType::Int64);
  const int64_t rows = rank.shape[0];
  if (k2 < 1 || k2 > rank.shape[1]) {
    throw_value_error("k2 must be between 1 and the rank width ", rank.shape[1], ", got ", k2);
  }
  expect_shape(args.v_indptr, "v_indptr", {rows + 1});
  expect_dtype(args.v_indptr, "v_indptr", DType::Int64);
  expect_same_device(args.v_indptr, "v_indptr", rank);
  expect_vector(args.v_indices, "v_indices", DType::Int64, rank);
  expect_vector(args.v_values, "v_values", DType::Float32, rank);
  check_two_phase(args.counts, args.indptr, args.indices, args.values, rows, rank);
  const bool cuda = rank.device == DeviceType::CUDA;
  check_workspace(args.workspace, rank, query_expansion_workspace(rows, k2, max_row_nnz, cuda));
  run_on_device(rank, stream, [&] { cpu::rerank_query_expansion(args); },
                [&](void* s) {
#ifdef REID_FAST_WITH_CUDA
                  cuda::rerank_query_expansion(args, s);
#else
                  (void)s;
#endif
                });
}

std::size_t jaccard_workspace(int64_t query_rows, int64_t gallery_rows, int64_t gallery_nnz,
                              int64_t num_columns, int64_t max_gallery_rows, bool cuda) {
  if (!cuda) {
    return cpu::jaccard_workspace_bytes(query_rows, gallery_rows, gallery_nnz, num_columns,
                                        max_gallery_rows);
  }
#ifdef REID_FAST_WITH_CUDA
  return cuda::jaccard_workspace_bytes(query_rows, gallery_rows, gallery_nnz, num_columns,
                                       max_gallery_rows);
#else
  throw_no_cuda();
#endif
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
  const int64_t problems = args.query_offsets.shape[0] - 1;
  if (problems < 0 || args.gallery_offsets.shape[0] != problems + 1 ||
      args.out_offsets.shape[0] != problems + 1) {
    throw_value_error("query_offsets, gallery_offsets and out_offsets must have the same length");
  }
  const bool cuda = on.device == DeviceType::CUDA;
  check_workspace(args.workspace, on,
                  jaccard_workspace(args.q_indptr.shape[0] - 1, args.g_indptr.shape[0] - 1,
                                    args.g_indices.shape[0], num_columns, max_gallery_rows, cuda));
  run_on_device(on, stream, [&] { cpu::jaccard(args); },
                [&](void* s) {
#ifdef REID_FAST_WITH_CUDA
                  cuda::jaccard(args, s);
#else
                  (void)s;
#endif
                });
}

py::dict build_info() {
  py::dict info;
#ifdef REID_FAST_WITH_CUDA
  info["cuda"] = true;
  info["cuda_version"] = REID_FAST_CUDA_VERSION;
  info["cuda_architectures"] = REID_FAST_CUDA_ARCHITECTURES;
#else
  info["cuda"] = false;
  info["cuda_version"] = py::none();
  info["cuda_architectures"] = py::none();
#endif
#ifdef REID_FAST_WITH_OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  info["openmp_threads"] = cpu::max_threads();
  info["compiler"] = REID_FAST_CXX_COMPILER;
  info["build_type"] = REID_FAST_BUILD_TYPE;
  info["cpu_kernels"] = cpu::kernel_isa();
  return info;
}

// (devices the CUDA runtime sees, its error string or None, whether that error only means
// "no device or no driver"); (0, None, True) without CUDA.
py::tuple cuda_devices() {
#ifdef REID_FAST_WITH_CUDA
  const cuda::DeviceQuery query = cuda::query_devices();
  return py::make_tuple(query.count,
                        query.error.empty() ? py::object(py::none()) : py::object(py::str(query.error)),
                        query.absent);
#else
  return py::make_tuple(0, py::none(), true);
#endif
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "reid_fast native core (use reid_fast.ops, not this module).";
  py::register_exception<ValueError>(m, "NativeValueError", PyExc_ValueError);
  py::register_exception<TypeError>(m, "NativeTypeError", PyExc_TypeError);

  m.def("build_info", &build_info);
  m.def("cuda_devices", &cuda_devices);
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
  m.def("topk_rows_workspace_bytes",
        [](int64_t n, int64_t m, int64_t k, const std::string& device, int device_id) {
          return topk_rows_workspace(n, m, k, is_cuda_device(device), device_id);
        });
  m.def("topk_rows", &topk_rows, py::arg("matrix"), py::arg("values"), py::arg("indices"),
        py::arg("row_max").none(true), py::arg("workspace"), py::arg("k"), py::arg("stream"));
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
  m.def("jaccard_workspace_bytes",
        [](int64_t query_rows, int64_t gallery_rows, int64_t gallery_nnz, int64_t num_columns,
           int64_t max_gallery_rows, const std::string& device) {
          return jaccard_workspace(query_rows, gallery_rows, gallery_nnz, num_columns,
                                   max_gallery_rows, is_cuda_device(device));
        });
  m.def("jaccard", &jaccard);
  m.def("ranking_metrics", &ranking_metrics);
}
