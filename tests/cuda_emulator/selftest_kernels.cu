// Kernels that check the emulator itself: correct ones whose results tests/native/test_cuda_emulator.py
// compares with hand-computed values, and ones with a planted defect that the emulator (or
// AddressSanitizer) must report. Built with the same source transform as reid_fast's kernels.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace reid_emu_selftest {
namespace {

constexpr unsigned kFull = 0xffffffffu;
using Results = std::map<std::string, std::vector<int64_t>>;

// Two warps; row t of out (8 entries) holds what lane t got from each intrinsic.
__global__ void warp_intrinsics_kernel(int64_t* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int lane = t % 32;
  int64_t* row = out + t * 8;
  row[0] = __ballot_sync(kFull, lane % 3 == 0);
  row[1] = __shfl_xor_sync(kFull, lane * 10, 5);
  row[2] = __shfl_up_sync(kFull, lane * 10, 3);
  row[3] = __shfl_down_sync(kFull, lane * 10, 4);
  row[4] = __shfl_sync(kFull, lane * 10 + t / 32, 7);
  row[5] = __shfl_xor_sync(kFull, (1LL << 40) + lane, 1);
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  row[6] = __ballot_sync(half, lane % 2 == 1);
  __syncwarp(kFull);
  row[7] = __shfl_sync(half, lane, (lane & 16) + 15);
}

// A shared-memory tree sum per block of 128 threads, a barrier between levels.
__global__ void block_sum_kernel(const int64_t* in, int64_t* out) {
  __shared__ int64_t partial[128];
  const int t = static_cast<int>(threadIdx.x);
  partial[t] = in[blockIdx.x * 128 + t];
  __syncthreads();
  for (int stride = 64; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// Every thread of a 3-D grid of 3-D blocks writes its indices.
__global__ void indices_kernel(int64_t* out) {
  const int64_t block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int64_t thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int64_t* row = out + (block * blockDim.x * blockDim.y * blockDim.z + thread) * 6;
  row[0] = blockIdx.x;
  row[1] = blockIdx.y;
  row[2] = blockIdx.z;
  row[3] = threadIdx.x;
  row[4] = threadIdx.y;
  row[5] = threadIdx.z;
}

__global__ void atomic_kernel(unsigned* counter, int64_t* old) {
  old[blockIdx.x * blockDim.x + threadIdx.x] = atomicAdd(counter, 1u);
}

// --- Planted defects.

__global__ void divergent_barrier_kernel() {
  if (threadIdx.x == 5) return;
  __syncthreads();
}

__global__ void partial_warp_kernel() {
  if (threadIdx.x % 32 != 3) (void)__ballot_sync(kFull, true);
  __syncwarp(kFull);
}

__global__ void deadlock_kernel() {
  if (threadIdx.x % 32 < 16) {
    (void)__ballot_sync(kFull, true);
  } else {
    (void)__ballot_sync(kFull, false);
  }
}

__global__ void shared_overflow_kernel() {
  __shared__ float values[64];
  values[threadIdx.x + 1] = 1.0f;
}

__global__ void global_overflow_kernel(int64_t* out) { out[threadIdx.x + 1] = 1; }

__global__ void uninitialised_shared_kernel(int64_t* out) {
  __shared__ int64_t never_written[32];
  out[threadIdx.x] = never_written[threadIdx.x];
}

__global__ void oversized_shared_kernel() {
  __shared__ float big[13 * 1024];
  big[threadIdx.x] = 0.0f;
}

}  // namespace

void run(const std::string& which, Results& results) {
  if (which == "warp") {
    std::vector<int64_t> out(64 * 8);
    warp_intrinsics_kernel<<<1, 64>>>(out.data());
    results["out"] = out;
  } else if (which == "block_sum") {
    std::vector<int64_t> in(3 * 128), out(3);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int64_t>(i * i);
    block_sum_kernel<<<3, 128>>>(in.data(), out.data());
    results["out"] = out;
  } else if (which == "indices") {
    const dim3 grid(3, 2, 2), block(4, 2, 3);
    std::vector<int64_t> out(3 * 2 * 2 * 4 * 2 * 3 * 6);
    indices_kernel<<<grid, block>>>(out.data());
    results["out"] = out;
  } else if (which == "atomic") {
    unsigned counter = 0;
    std::vector<int64_t> old(2 * 96);
    atomic_kernel<<<2, 96>>>(&counter, old.data());
    results["old"] = old;
    results["counter"] = {counter};
  } else if (which == "bad_launch") {
    divergent_barrier_kernel<<<1, 2048>>>();  // too many threads: not launched
    results["error"] = {static_cast<int64_t>(cudaGetLastError())};
    divergent_barrier_kernel<<<dim3(1, 70000), 32>>>();
    results["error_grid"] = {static_cast<int64_t>(cudaGetLastError())};
  } else if (which == "divergent_barrier") {
    divergent_barrier_kernel<<<1, 64>>>();
  } else if (which == "partial_warp") {
    partial_warp_kernel<<<1, 32>>>();
  } else if (which == "deadlock") {
    deadlock_kernel<<<1, 32>>>();
  } else if (which == "shared_overflow") {
    shared_overflow_kernel<<<1, 64>>>();
  } else if (which == "global_overflow") {
    std::vector<int64_t> out(32);
    global_overflow_kernel<<<1, 32>>>(out.data());
  } else if (which == "uninitialised_shared") {
    std::vector<int64_t> out(32);
    uninitialised_shared_kernel<<<1, 32>>>(out.data());
    results["out"] = out;
  } else if (which == "oversized_shared") {
    oversized_shared_kernel<<<1, 32>>>();
  } else {
    std::fprintf(stderr, "emu_driver: unknown self-test %s\n", which.c_str());
    std::exit(2);
  }
}

}  // namespace reid_emu_selftest
