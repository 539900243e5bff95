// Bindings of build_info (what this build compiled in) and cuda_devices (what the CUDA
// runtime sees on this machine).
#include <pybind11/pybind11.h>

#include "bindings/register.h"
#include "reid_fast/ops.h"

namespace py = pybind11;

namespace reid_fast {
namespace {

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

void register_runtime_info(py::module_& m) {
  m.def("build_info", &build_info);
  m.def("cuda_devices", &cuda_devices);
}

}  // namespace reid_fast
