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

int cuda_device_count() {
#ifdef REID_FAST_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "reid_fast native core (use reid_fast.ops, not this module).";
  py::register_exception<ValueError>(m, "NativeValueError", PyExc_ValueError);
  py::register_exception<TypeError>(m, "NativeTypeError", PyExc_TypeError);

  m.def("build_info", &build_info);
  m.def("cuda_device_count", &cuda_device_count);
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
