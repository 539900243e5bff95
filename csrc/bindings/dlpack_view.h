// DLPack capsule -> TensorView, with every check the native core relies on.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "reid_fast/tensor_view.h"

namespace reid_fast {

// Reads a "dltensor" capsule without taking ownership: the capsule (and the producer's
// array behind it) must stay alive for the duration of the call. Accepts contiguous
// row-major tensors of the dtypes in DType on CPU or CUDA devices.
TensorView view_from_dlpack(const pybind11::capsule& capsule, const std::string& name);

std::string shape_string(const TensorView& view);

void expect_shape(const TensorView& view, const std::string& name,
                  std::initializer_list<int64_t> shape);
void expect_dtype(const TensorView& view, const std::string& name, DType dtype);
void expect_same_device(const TensorView& view, const std::string& name,
                        const TensorView& reference);

}  // namespace reid_fast
