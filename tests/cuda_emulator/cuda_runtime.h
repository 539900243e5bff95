// The CUDA runtime API as far as reid_fast's kernels use it, on the emulated machine
// (reid_emu.h). Found as <cuda_runtime.h> because the emulator's build puts this folder
// first on the include path.
#pragma once

#include <cstddef>

#include "reid_emu.h"

#define CUDART_VERSION 13000  // the runtime the emulated build stands for

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
};

enum cudaDeviceAttr {
  cudaDevAttrMultiProcessorCount = 16,
};

const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaGetLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device);
cudaError_t cudaMemsetAsync(void* pointer, int value, std::size_t bytes, cudaStream_t stream = nullptr);
