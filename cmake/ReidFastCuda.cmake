# Decides whether the CUDA kernels are compiled: REID_FAST_WITH_CUDA=ON (default) and a
# working nvcc. Sets REID_FAST_CUDA_ENABLED and enables the CUDA language with a static
# runtime. Without nvcc the module builds CPU-only and says so.
include(CheckLanguage)

set(REID_FAST_CUDA_ENABLED OFF)
if(REID_FAST_WITH_CUDA)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(REID_FAST_CUDA_ENABLED ON)
    message(STATUS "reid_fast: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")
  else()
    message(STATUS "reid_fast: no CUDA compiler found, building the CPU-only module")
  endif()
else()
  message(STATUS "reid_fast: CUDA disabled (REID_FAST_WITH_CUDA=OFF), building the CPU-only module")
endif()
