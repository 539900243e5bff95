// A typed, non-owning view of an array: what the native core receives. The bindings build
// it from a DLPack tensor; the core never sees torch, NumPy or Python objects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace reid_fast {

enum class DType { Float32, Float64, Float16, BFloat16, Int64, UInt8 };
enum class DeviceType { CPU, CUDA };

constexpr int kMaxDims = 4;

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
  }
  return "unknown";
}

inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Float16:
    case DType::BFloat16: return 2;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
  }
  return 0;
}

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::Float32;
  DeviceType device = DeviceType::CPU;
  int device_id = 0;
  int ndim = 0;
  int64_t shape[kMaxDims] = {0, 0, 0, 0};

  int64_t numel() const {
    int64_t count = 1;
    for (int i = 0; i < ndim; ++i) count *= shape[i];
    return count;
  }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

}  // namespace reid_fast
