// reid_emu: the CUDA execution model on the host, so that reid_fast's real .cu kernels run
// (and are checked) on a machine without a GPU. tests/emulated_cuda.py builds and drives it;
// its docstring says what the emulation catches and what it cannot.
//
// Model:
// - A launch runs its blocks one after another. Each CUDA thread of a block is a fiber
//   (ucontext) with its own stack; one fiber runs at a time, until it reaches a barrier, a
//   warp-synchronous intrinsic or the end of the kernel. The order in which runnable fibers
//   are resumed is set by REID_EMU_SCHEDULE (forward, reverse or random:SEED).
// - __syncthreads releases the block once every thread waits at that same barrier; a thread
//   that exited or waits elsewhere is reported as an error, as is a block that can make no
//   progress (deadlock).
// - Warp intrinsics (__syncwarp, __ballot_sync, __shfl_*_sync) complete once every lane named
//   by the mask has reached the same call with the same mask; a lane that exited, a lane that
//   calls with a mask that does not name it, or a shuffle from a lane outside the mask is an
//   error.
// - __shared__ variables (rewritten by the source transform into shared_variable<T>) are one
//   heap allocation each per block, filled with 0xFF bytes (NaN / -1) at block start so that
//   reads of shared memory nobody wrote show up, freed at block end, and bounds-checked by
//   AddressSanitizer; their total must fit the 48 KiB static limit.
// - Launch configurations are validated as the driver does (block <= 1024 threads, grid.y and
//   grid.z <= 65535); a launch on a stream of another device, or while the current device is
//   not the one the arrays live on, is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// ---------------------------------------------------------------------------------------
// Language: qualifiers compile away. __shared__ has no definition on purpose: the source
// transform rewrites every declaration, and one it missed fails to compile.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct uint3 {
  unsigned x, y, z;
};

// The 16-byte vector type of 128-bit loads (CUDA aligns it to 16 bytes too, so that a
// misaligned float4 access is reported by UndefinedBehaviorSanitizer here).
struct alignas(16) float4 {
  float x, y, z, w;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct CUstream_st;
typedef CUstream_st* cudaStream_t;

namespace reid_emu {

// ---------------------------------------------------------------------------------------
// Built-in variables of the running fiber.
const uint3& thread_idx();
const uint3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();

// ---------------------------------------------------------------------------------------
// Synchronisation and warp intrinsics (file and line identify the call site).
void sync_block(const char* file, int line);
void sync_warp(unsigned mask, const char* file, int line);
unsigned ballot(unsigned mask, bool predicate, const char* file, int line);

enum class Shuffle { Index, Up, Down, Xor };
uint64_t shuffle_bits(unsigned mask, uint64_t bits, int argument, Shuffle kind, const char* file,
                      int line);

template <typename T>
T shuffle(unsigned mask, T value, int argument, Shuffle kind, const char* file, int line) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffles move 4 or 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle_bits(mask, bits, argument, kind, file, line);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// ---------------------------------------------------------------------------------------
// Shared memory: the block's instance of the variable declared as `key`.
void* shared_allocation(const char* key, std::size_t bytes, std::size_t alignment);

template <typename T>
T& shared_variable(const char* key) {
  return *static_cast<T*>(shared_allocation(key, sizeof(T), alignof(T)));
}

// ---------------------------------------------------------------------------------------
// Launches: `kernel<<<grid, block, shared, stream>>>(args)` is rewritten by the source
// transform into `::reid_emu::launch(&kernel, "kernel", grid, block, shared, stream)(args)`.
bool begin_launch(const char* name, dim3 grid, dim3 block, std::size_t dynamic_shared,
                  cudaStream_t stream);
void run_grid(const char* name, dim3 grid, dim3 block, const std::function<void()>& body);

template <typename... Params>
struct Launch {
  void (*kernel)(Params...);
  const char* name;
  dim3 grid;
  dim3 block;
  std::size_t dynamic_shared;
  cudaStream_t stream;

  template <typename... Args>
  void operator()(Args&&... args) const {
    // The arguments are converted to the parameter types once, on the host, as a launch does.
    const std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
    if (!begin_launch(name, grid, block, dynamic_shared, stream)) return;
    run_grid(name, grid, block, [&] {
      auto copy = params;  // every thread gets its own copy of the parameters
      std::apply(kernel, copy);
    });
  }
};

template <typename... Params>
Launch<Params...> launch(void (*kernel)(Params...), const char* name, dim3 grid, dim3 block,
                         std::size_t dynamic_shared = 0, cudaStream_t stream = nullptr) {
  return Launch<Params...>{kernel, name, grid, block, dynamic_shared, stream};
}

// ---------------------------------------------------------------------------------------
// The emulated machine, set up by the driver: its devices, the CUDA version its driver
// supports (e.g. 13000; 0 = no driver installed), multiprocessors per device, and the device
// the op's arrays live on.
void configure(int device_count, int driver_version, int multiprocessors, int array_device);
cudaStream_t stream_on(int device);
int current_device();
// Kernel names with their launch counts, for the coverage check.
std::vector<std::pair<std::string, long long>> launch_counts();

}  // namespace reid_emu

#define threadIdx (::reid_emu::thread_idx())
#define blockIdx (::reid_emu::block_idx())
#define blockDim (::reid_emu::block_dim())
#define gridDim (::reid_emu::grid_dim())
#define warpSize 32

#define __syncthreads() ::reid_emu::sync_block(__FILE__, __LINE__)
#define __syncwarp(mask) ::reid_emu::sync_warp((mask), __FILE__, __LINE__)
#define __ballot_sync(mask, predicate) \
  ::reid_emu::ballot((mask), (predicate), __FILE__, __LINE__)
#define __shfl_sync(mask, value, lane) \
  ::reid_emu::shuffle((mask), (value), (lane), ::reid_emu::Shuffle::Index, __FILE__, __LINE__)
#define __shfl_up_sync(mask, value, delta) \
  ::reid_emu::shuffle((mask), (value), (delta), ::reid_emu::Shuffle::Up, __FILE__, __LINE__)
#define __shfl_down_sync(mask, value, delta) \
  ::reid_emu::shuffle((mask), (value), (delta), ::reid_emu::Shuffle::Down, __FILE__, __LINE__)
#define __shfl_xor_sync(mask, value, lane_mask) \
  ::reid_emu::shuffle((mask), (value), (lane_mask), ::reid_emu::Shuffle::Xor, __FILE__, __LINE__)

inline int __popc(unsigned value) { return __builtin_popcount(value); }
inline int __ffs(int value) { return __builtin_ffs(value); }

// One fiber runs at a time, so a read-modify-write is atomic.
template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
