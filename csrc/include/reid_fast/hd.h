// REID_HD marks functions compiled for both host and device: the per-element math in
// csrc/common is written once and used by the CPU and the CUDA implementations.
#pragma once

#if defined(__CUDACC__)
#define REID_HD __host__ __device__ __forceinline__
#else
// Always inlined on the host: the same header is compiled into per-ISA translation units
// (AVX2, AVX-512), and an out-of-line copy could be shared between them by the linker.
#define REID_HD inline __attribute__((always_inline))
#endif
