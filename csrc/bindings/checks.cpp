#include "bindings/checks.h"

#include "bindings/dlpack_view.h"
#include "reid_fast/errors.h"

namespace reid_fast {

bool is_cuda_device(const std::string& device) {
  if (device == "cpu") return false;
  if (device == "cuda") return true;
  throw_value_error("device must be 'cpu' or 'cuda', got '", device, "'");
}

TensorView optional_view(const std::optional<pybind11::capsule>& capsule, const std::string& name) {
  return capsule ? view_from_dlpack(*capsule, name) : TensorView{};
}

void expect_matrix(const TensorView& view, const std::string& name) {
  if (view.ndim != 2) throw_value_error(name, " must be 2-D, got shape ", shape_string(view));
}

void expect_vector(const TensorView& view, const std::string& name, DType dtype,
                   const TensorView& on) {
  if (view.ndim != 1) throw_value_error(name, " must be 1-D, got shape ", shape_string(view));
  expect_dtype(view, name, dtype);
  expect_same_device(view, name, on);
}

void expect_array(const TensorView& view, const std::string& name,
                  std::initializer_list<int64_t> shape, DType dtype, const TensorView& on) {
  expect_shape(view, name, shape);
  expect_dtype(view, name, dtype);
  expect_same_device(view, name, on);
}

void expect_feature_dtype(const TensorView& view, const std::string& name) {
  if (view.dtype != DType::Float32 && view.dtype != DType::Float16 &&
      view.dtype != DType::BFloat16) {
    throw_type_error(name, " must be float32, float16 or bfloat16, got ", dtype_name(view.dtype));
  }
}

Metric metric_from_int(int metric) {
  if (metric < 0 || metric > static_cast<int>(Metric::Inner)) {
    throw_value_error("metric must be 0..3 (euclidean, sqeuclidean, cosine, inner), got ",
                      metric);
  }
  return static_cast<Metric>(metric);
}

void check_k(int64_t k, int64_t m) {
  if (k < 1 || k > m) throw_value_error("k must be between 1 and m = ", m, ", got ", k);
}

void check_workspace(const TensorView& workspace, const TensorView& x, std::size_t needed) {
  expect_dtype(workspace, "workspace", DType::UInt8);
  expect_same_device(workspace, "workspace", x);
  if (workspace.ndim != 1 || workspace.nbytes() < needed) {
    throw_value_error("workspace must be a 1-D uint8 array of at least ", needed,
                      " bytes, got shape ", shape_string(workspace));
  }
}

}  // namespace reid_fast
