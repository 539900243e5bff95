// Runs an op, or sizes its workspace, on the device of its arrays. The only place in the
// bindings that depends on whether the CUDA kernels were compiled in (REID_FAST_WITH_CUDA):
// in a build without them, a CUDA array raises the "built without CUDA" RuntimeError and the
// cuda_fn callbacks are never called, so the cuda:: ops they name need no definition there.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>

#include "reid_fast/errors.h"
#include "reid_fast/tensor_view.h"

namespace reid_fast {

#ifdef REID_FAST_WITH_CUDA
inline constexpr bool kBuiltWithCuda = true;
#else
inline constexpr bool kBuiltWithCuda = false;
#endif

[[noreturn]] inline void throw_no_cuda() {
  throw_runtime_error(
      "reid_fast was built without CUDA: CUDA arrays cannot be used. Rebuild with nvcc on "
      "PATH (see README, 'Building without CUDA') or move the arrays to the CPU.");
}

// Raises the "built without CUDA" error for a CUDA array in a build without CUDA.
inline void expect_supported_device(const TensorView& view) {
  if (!kBuiltWithCuda && view.device == DeviceType::CUDA) throw_no_cuda();
}

// The workspace bytes of an op: cpu_fn() on the CPU, cuda_fn() on CUDA.
template <typename CpuFn, typename CudaFn>
std::size_t by_device(bool on_cuda, CpuFn&& cpu_fn, [[maybe_unused]] CudaFn&& cuda_fn) {
  if (!on_cuda) return cpu_fn();
  if constexpr (kBuiltWithCuda) {
    return cuda_fn();
  } else {
    throw_no_cuda();
  }
}

// Releases the GIL and runs the op on the device of `on`: cpu_fn(), or cuda_fn(stream) with
// the caller's cudaStream_t as a void*.
template <typename CpuFn, typename CudaFn>
void run_on_device(const TensorView& on, [[maybe_unused]] std::uintptr_t stream, CpuFn&& cpu_fn,
                   [[maybe_unused]] CudaFn&& cuda_fn) {
  expect_supported_device(on);
  pybind11::gil_scoped_release release;
  if (on.device == DeviceType::CPU) {
    cpu_fn();
    return;
  }
  if constexpr (kBuiltWithCuda) cuda_fn(reinterpret_cast<void*>(stream));
}

}  // namespace reid_fast
