// Argument checks shared by the op bindings. Each raises ValueError or TypeError naming the
// argument and showing what it got.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "common/distance_math.h"
#include "reid_fast/tensor_view.h"

namespace reid_fast {

// device is "cpu" (false) or "cuda" (true).
bool is_cuda_device(const std::string& device);

// The view of an optional capsule; data == nullptr when it is None.
TensorView optional_view(const std::optional<pybind11::capsule>& capsule, const std::string& name);

// view is 2-D.
void expect_matrix(const TensorView& view, const std::string& name);

// view is 1-D, of dtype, on the device of `on`.
void expect_vector(const TensorView& view, const std::string& name, DType dtype,
                   const TensorView& on);

// view has exactly this shape and dtype and is on the device of `on`.
void expect_array(const TensorView& view, const std::string& name,
                  std::initializer_list<int64_t> shape, DType dtype, const TensorView& on);

// view is float32, float16 or bfloat16 (the feature dtypes).
void expect_feature_dtype(const TensorView& view, const std::string& name);

// The metric of a native code (0..3, the order of reid_fast.METRICS).
Metric metric_from_int(int metric);

// 1 <= k <= m (the columns a top-k selects from).
void check_k(int64_t k, int64_t m);

// workspace is a 1-D uint8 array of at least `needed` bytes on the device of x.
void check_workspace(const TensorView& workspace, const TensorView& x, std::size_t needed);

}  // namespace reid_fast
