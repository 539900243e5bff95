#include "dlpack_view.h"

#include <cstring>

#include "reid_fast/dlpack.h"
#include "reid_fast/errors.h"

namespace reid_fast {
namespace {

DType dtype_from_dlpack(const DLDataType& t, const std::string& name) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::Float32;
    if (t.code == kDLFloat && t.bits == 64) return DType::Float64;
    if (t.code == kDLFloat && t.bits == 16) return DType::Float16;
    if (t.code == kDLBfloat && t.bits == 16) return DType::BFloat16;
    if (t.code == kDLInt && t.bits == 64) return DType::Int64;
    if (t.code == kDLUInt && t.bits == 8) return DType::UInt8;
  }
  throw_type_error(name, " has an unsupported DLPack dtype (code ", int(t.code), ", bits ",
                   int(t.bits), ", lanes ", t.lanes, ")");
}

const char* device_name(DeviceType d) { return d == DeviceType::CPU ? "cpu" : "cuda"; }

}  // namespace

std::string shape_string(const TensorView& view) {
  std::string out = "(";
  for (int i = 0; i < view.ndim; ++i) {
    out += std::to_string(view.shape[i]);
    if (view.ndim == 1 || i + 1 < view.ndim) out += ",";
    if (i + 1 < view.ndim) out += " ";
  }
  return out + ")";
}

TensorView view_from_dlpack(const pybind11::capsule& capsule, const std::string& name) {
  if (std::strcmp(capsule.name(), "dltensor") != 0) {
    throw_type_error(name, " must be an unconsumed DLPack capsule named 'dltensor', got '",
                     capsule.name(), "'");
  }
  const auto* managed = capsule.get_pointer<DLManagedTensor>();
  if (managed == nullptr) throw_type_error(name, " is an empty DLPack capsule");
  const DLTensor& t = managed->dl_tensor;

  TensorView view;
  if (t.ndim < 0 || t.ndim > kMaxDims) {
    throw_value_error(name, " must have at most ", kMaxDims, " dimensions, got ", t.ndim);
  }
  view.ndim = t.ndim;
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) throw_value_error(name, " has a negative extent in dimension ", i);
    view.shape[i] = t.shape[i];
  }
  view.dtype = dtype_from_dlpack(t.dtype, name);

  switch (t.device.device_type) {
    case kDLCPU:
    case kDLCUDAHost: view.device = DeviceType::CPU; break;
    case kDLCUDA:
    case kDLCUDAManaged: view.device = DeviceType::CUDA; break;
    default:
      throw_type_error(name, " lives on an unsupported DLPack device type ",
                       int(t.device.device_type), " (reid_fast supports CPU and CUDA)");
  }
  view.device_id = t.device.device_id;

  if (t.strides != nullptr && view.numel() > 1) {
    int64_t expected = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
      if (t.shape[i] != 1 && t.strides[i] != expected) {
        throw_value_error(name, " must be contiguous (row-major), got shape ",
                          shape_string(view), " with stride ", t.strides[i],
                          " in dimension ", i);
      }
      expected *= t.shape[i];
    }
  }
  view.data = static_cast<char*>(t.data) + t.byte_offset;
  return view;
}

void expect_shape(const TensorView& view, const std::string& name,
                  std::initializer_list<int64_t> shape) {
  bool ok = view.ndim == static_cast<int>(shape.size());
  int i = 0;
  for (int64_t extent : shape) ok = ok && view.shape[i++] == extent;
  if (!ok) {
    TensorView wanted;
    wanted.ndim = static_cast<int>(shape.size());
    i = 0;
    for (int64_t extent : shape) wanted.shape[i++] = extent;
    throw_value_error(name, " must have shape ", shape_string(wanted), ", got ",
                      shape_string(view));
  }
}

void expect_dtype(const TensorView& view, const std::string& name, DType dtype) {
  if (view.dtype != dtype) {
    throw_type_error(name, " must be ", dtype_name(dtype), ", got ", dtype_name(view.dtype));
  }
}

void expect_same_device(const TensorView& view, const std::string& name,
                        const TensorView& reference) {
  if (view.device != reference.device ||
      (view.device == DeviceType::CUDA && view.device_id != reference.device_id)) {
    throw_value_error(name, " must be on the same device as x (", device_name(reference.device),
                      ":", reference.device_id, "), got ", device_name(view.device), ":",
                      view.device_id);
  }
}

}  // namespace reid_fast
