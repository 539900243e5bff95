// The emulated machine behind reid_emu.h and cuda_runtime.h: fibers, barriers, warp
// intrinsics, shared memory, launches and the runtime API.
#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cuda_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define REID_EMU_ASAN 1
#endif

// --- Context switches. On x86-64 a switch of our own: it saves the callee-saved registers,
// the SSE and x87 control words and the stack pointer, and makes no system call (swapcontext
// sets the signal mask every time, and AddressSanitizer's interceptor of it clears the shadow
// of the whole target stack: together about 20 times slower). Elsewhere, ucontext.
#if defined(__x86_64__)
extern "C" void reid_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl reid_emu_switch
  .type reid_emu_switch, @function
reid_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size reid_emu_switch, .-reid_emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");
#endif

struct CUstream_st {
  int device;
};

namespace reid_emu {
namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 1024;
constexpr std::size_t kStackBytes = 256 * 1024;
// The top of a stack that an exiting fiber leaves with stale AddressSanitizer poison.
constexpr std::size_t kStackExitBytes = 16 * 1024;
constexpr std::size_t kStaticSharedLimit = 48 * 1024;

enum class State { Ready, AtBarrier, AtWarpOp, Exited };
enum class WarpOpKind { SyncWarp, Ballot, Shuffle };

struct WarpOp {
  WarpOpKind kind = WarpOpKind::SyncWarp;
  Shuffle shuffle = Shuffle::Index;
  unsigned mask = 0;
  const char* file = "";
  int line = 0;
  uint64_t value = 0;
  int argument = 0;
  uint64_t result = 0;

  bool same_call(const WarpOp& other) const {
    return kind == other.kind && shuffle == other.shuffle && mask == other.mask &&
           line == other.line && std::strcmp(file, other.file) == 0;
  }
};

#if defined(__x86_64__)
struct Context {
  void* sp = nullptr;
};

void switch_context(Context& from, const Context& to) { reid_emu_switch(&from.sp, to.sp); }

// A context that starts entry() on the stack [stack, stack + bytes), as if reid_emu_switch
// returned into it: six zero registers and the control words under entry's address, with a
// null return address above (entry never returns) and the ABI's 16-byte alignment at entry.
void make_context(Context& context, char* stack, std::size_t bytes, void (*entry)()) {
  auto* top = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t(15));
  top[-1] = 0;
  top[-2] = reinterpret_cast<uint64_t>(entry);
  for (int r = 3; r <= 8; ++r) top[-r] = 0;
  uint32_t mxcsr = 0;
  uint16_t control = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(control));
  std::memcpy(&top[-9], &mxcsr, sizeof mxcsr);
  std::memcpy(reinterpret_cast<char*>(&top[-9]) + 4, &control, sizeof control);
  context.sp = &top[-9];
}
#else
struct Context {
  ucontext_t uc{};
};

void switch_context(Context& from, const Context& to) { swapcontext(&from.uc, &to.uc); }

void make_context(Context& context, char* stack, std::size_t bytes, void (*entry)()) {
  getcontext(&context.uc);
  context.uc.uc_stack.ss_sp = stack;
  context.uc.uc_stack.ss_size = bytes;
  context.uc.uc_link = nullptr;
  makecontext(&context.uc, entry, 0);
}
#endif

struct Fiber {
  Context context;
  char* stack = nullptr;
  uint3 index{0, 0, 0};
  int linear = 0;
  State state = State::Ready;
  WarpOp op;
  const char* barrier_file = "";
  int barrier_line = 0;
};

struct Machine {
  int device_count = 1;
  int driver_version = CUDART_VERSION;  // 0: no driver installed
  int multiprocessors = 132;
  int array_device = 0;
  int current_device = 0;
  cudaError_t last_error = cudaSuccess;
  std::vector<CUstream_st> streams;
  std::map<std::string, long long> launches;
};

Machine& machine() {
  static Machine instance;
  return instance;
}

// The launch in progress.
struct Grid {
  const char* name = "";
  dim3 grid;
  dim3 block;
  uint3 block_index{0, 0, 0};
  int threads = 0;
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;        // the block's threads
  std::vector<char*> stacks;        // fiber stacks, kept across launches
  std::map<std::string, void*> shared;
  std::size_t shared_bytes = 0;
  Fiber* running = nullptr;
  Context scheduler;
  const void* scheduler_stack_bottom = nullptr;
  std::size_t scheduler_stack_size = 0;
};

Grid& grid_state() {
  static Grid instance;
  return instance;
}

[[noreturn]] void fail(const char* format, ...) {
  const Grid& g = grid_state();
  std::fprintf(stderr, "reid_emu: error");
  if (g.running != nullptr || g.threads > 0) {
    std::fprintf(stderr, " in kernel %s, block (%u, %u, %u)", g.name, g.block_index.x,
                 g.block_index.y, g.block_index.z);
  }
  std::fprintf(stderr, ": ");
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::_Exit(3);
}

Fiber& running_fiber(const char* what) {
  Fiber* fiber = grid_state().running;
  if (fiber == nullptr) fail("%s used outside a kernel", what);
  return *fiber;
}

// --- Fiber switches, annotated for AddressSanitizer's stack bookkeeping.

void enter_fiber(Fiber& fiber) {
  Grid& g = grid_state();
  g.running = &fiber;
#ifdef REID_EMU_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, fiber.stack, kStackBytes);
  switch_context(g.scheduler, fiber.context);
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#else
  switch_context(g.scheduler, fiber.context);
#endif
  g.running = nullptr;
}

void leave_fiber(Fiber& fiber, bool exiting) {
  Grid& g = grid_state();
#ifdef REID_EMU_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(exiting ? nullptr : &fake_stack, g.scheduler_stack_bottom,
                                 g.scheduler_stack_size);
  switch_context(fiber.context, g.scheduler);
  __sanitizer_finish_switch_fiber(fake_stack, &g.scheduler_stack_bottom, &g.scheduler_stack_size);
#else
  (void)exiting;
  switch_context(fiber.context, g.scheduler);
#endif
}

void fiber_main() {
  Grid& g = grid_state();
#ifdef REID_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g.scheduler_stack_bottom, &g.scheduler_stack_size);
#endif
  (*g.body)();
  Fiber& fiber = *g.running;
  fiber.state = State::Exited;
  leave_fiber(fiber, true);
  fail("an exited thread was resumed");
}

// --- Scheduling.

std::vector<int> schedule_order(int threads, std::mt19937_64& random) {
  static const std::string mode = [] {
    const char* value = std::getenv("REID_EMU_SCHEDULE");
    return std::string(value != nullptr ? value : "forward");
  }();
  std::vector<int> order(threads);
  for (int t = 0; t < threads; ++t) order[t] = t;
  if (mode == "reverse") {
    std::reverse(order.begin(), order.end());
  } else if (mode.rfind("random", 0) == 0) {
    std::shuffle(order.begin(), order.end(), random);
  } else if (mode != "forward") {
    fail("REID_EMU_SCHEDULE must be forward, reverse or random:SEED, got '%s'", mode.c_str());
  }
  return order;
}

uint64_t schedule_seed() {
  const char* value = std::getenv("REID_EMU_SCHEDULE");
  if (value == nullptr) return 0;
  const char* colon = std::strchr(value, ':');
  return colon == nullptr ? 0 : std::strtoull(colon + 1, nullptr, 10);
}

std::string describe(const Fiber& fiber) {
  char text[256];
  switch (fiber.state) {
    case State::Ready: std::snprintf(text, sizeof text, "running"); break;
    case State::Exited: std::snprintf(text, sizeof text, "exited"); break;
    case State::AtBarrier:
      std::snprintf(text, sizeof text, "at __syncthreads (%s:%d)", fiber.barrier_file,
                    fiber.barrier_line);
      break;
    case State::AtWarpOp: {
      const char* names[] = {"__syncwarp", "__ballot_sync", "a shuffle"};
      std::snprintf(text, sizeof text, "at %s (%s:%d, mask 0x%08x)",
                    names[static_cast<int>(fiber.op.kind)], fiber.op.file, fiber.op.line,
                    fiber.op.mask);
      break;
    }
  }
  return text;
}

// "threads 0-31, 64: at __syncthreads (...)" lines, grouping threads in the same state.
std::string describe_block(const std::vector<Fiber>& fibers) {
  std::map<std::string, std::vector<int>> groups;
  for (const Fiber& fiber : fibers) groups[describe(fiber)].push_back(fiber.linear);
  std::string out;
  for (const auto& [where, threads] : groups) {
    out += "\n  threads ";
    for (std::size_t i = 0; i < threads.size();) {
      std::size_t j = i;
      while (j + 1 < threads.size() && threads[j + 1] == threads[j] + 1) ++j;
      if (i > 0) out += ", ";
      out += std::to_string(threads[i]);
      if (j > i) out += "-" + std::to_string(threads[j]);
      i = j + 1;
    }
    out += ": " + where;
  }
  return out;
}

// Completes the warp operations whose lanes have all arrived; true if any completed.
bool resolve_warp(std::vector<Fiber>& fibers, int warp) {
  const int first = warp * kWarp;
  const int lanes = std::min(kWarp, static_cast<int>(fibers.size()) - first);
  bool progressed = false;
  for (int lane = 0; lane < lanes; ++lane) {
    Fiber& leader = fibers[first + lane];
    if (leader.state != State::AtWarpOp) continue;
    const WarpOp& op = leader.op;
    if ((op.mask >> lane & 1u) == 0) {
      fail("thread %d (lane %d) calls a warp intrinsic at %s:%d with mask 0x%08x, which does "
           "not name its own lane",
           leader.linear, lane, op.file, op.line, op.mask);
    }
    bool complete = true;
    for (int other = 0; other < kWarp; ++other) {
      if ((op.mask >> other & 1u) == 0) continue;
      if (other >= lanes) {
        fail("warp intrinsic at %s:%d names lane %d (mask 0x%08x), which the block does not "
             "have (%d threads)",
             op.file, op.line, other, op.mask, static_cast<int>(fibers.size()));
      }
      const Fiber& peer = fibers[first + other];
      if (peer.state == State::Exited) {
        fail("lane %d (thread %d) exited without reaching the warp intrinsic at %s:%d that "
             "lane %d waits at with mask 0x%08x",
             other, peer.linear, op.file, op.line, lane, op.mask);
      }
      if (peer.state != State::AtWarpOp || !peer.op.same_call(op)) complete = false;
    }
    if (!complete) continue;
    unsigned ballot_bits = 0;
    for (int other = 0; other < kWarp; ++other) {
      if ((op.mask >> other & 1u) != 0 && fibers[first + other].op.value != 0) {
        ballot_bits |= 1u << other;
      }
    }
    for (int other = 0; other < kWarp; ++other) {
      if ((op.mask >> other & 1u) == 0) continue;
      Fiber& member = fibers[first + other];
      WarpOp& mine = member.op;
      if (op.kind == WarpOpKind::Ballot) {
        mine.result = ballot_bits;
      } else if (op.kind == WarpOpKind::Shuffle) {
        int source = other;
        switch (op.shuffle) {
          case Shuffle::Index: source = mine.argument & (kWarp - 1); break;
          case Shuffle::Xor: source = other ^ (mine.argument & (kWarp - 1)); break;
          case Shuffle::Up: source = other - mine.argument < 0 ? other : other - mine.argument; break;
          case Shuffle::Down:
            source = other + mine.argument >= kWarp ? other : other + mine.argument;
            break;
        }
        if ((op.mask >> source & 1u) == 0) {
          fail("lane %d shuffles from lane %d at %s:%d, which mask 0x%08x leaves out (the "
               "result is undefined)",
               other, source, op.file, op.line, op.mask);
        }
        mine.result = fibers[first + source].op.value;
      }
      member.state = State::Ready;
    }
    progressed = true;
  }
  return progressed;
}

// Releases the block barrier once every thread waits at the same __syncthreads.
bool resolve_barrier(std::vector<Fiber>& fibers) {
  const Fiber* waiting = nullptr;
  for (const Fiber& fiber : fibers) {
    if (fiber.state == State::AtBarrier) {
      waiting = &fiber;
      break;
    }
  }
  if (waiting == nullptr) return false;
  bool any_exited = false;
  for (const Fiber& fiber : fibers) {
    if (fiber.state == State::Ready || fiber.state == State::AtWarpOp) return false;
    if (fiber.state == State::Exited) any_exited = true;
  }
  bool same_site = true;
  for (const Fiber& fiber : fibers) {
    if (fiber.state == State::AtBarrier &&
        (fiber.barrier_line != waiting->barrier_line ||
         std::strcmp(fiber.barrier_file, waiting->barrier_file) != 0)) {
      same_site = false;
    }
  }
  if (any_exited || !same_site) {
    fail("a __syncthreads is not reached by every thread of the block:%s",
         describe_block(fibers).c_str());
  }
  for (Fiber& fiber : fibers) fiber.state = State::Ready;
  return true;
}

void release_shared(Grid& g) {
  for (auto& entry : g.shared) ::operator delete(entry.second, std::align_val_t(64));
  g.shared.clear();
  g.shared_bytes = 0;
}

void run_block(Grid& g, std::mt19937_64& random) {
  std::vector<Fiber>& fibers = g.fibers;
  for (int t = 0; t < g.threads; ++t) {
    Fiber& fiber = fibers[t];
    fiber.linear = t;
    fiber.index = uint3{t % g.block.x, (t / g.block.x) % g.block.y, t / (g.block.x * g.block.y)};
    fiber.state = State::Ready;
#ifdef REID_EMU_ASAN
    // The frames of the switch out of an exited fiber never returned: clear their poison.
    __asan_unpoison_memory_region(fiber.stack + kStackBytes - kStackExitBytes, kStackExitBytes);
#endif
    make_context(fiber.context, fiber.stack, kStackBytes, fiber_main);
  }
  const int warps = (g.threads + kWarp - 1) / kWarp;
  while (true) {
    bool progressed = false;
    for (int t : schedule_order(g.threads, random)) {
      if (fibers[t].state != State::Ready) continue;
      enter_fiber(fibers[t]);
      progressed = true;
    }
    bool all_exited = true;
    for (const Fiber& fiber : fibers) all_exited = all_exited && fiber.state == State::Exited;
    if (all_exited) break;
    for (int w = 0; w < warps; ++w) progressed = resolve_warp(fibers, w) || progressed;
    progressed = resolve_barrier(fibers) || progressed;
    if (!progressed) fail("deadlock: no thread of the block can go on:%s", describe_block(fibers).c_str());
  }
  release_shared(g);
}

void wait_at_warp_op(WarpOp op) {
  Fiber& fiber = running_fiber("a warp intrinsic");
  fiber.op = op;
  fiber.state = State::AtWarpOp;
  leave_fiber(fiber, false);
}

void set_error(cudaError_t error) {
  if (machine().last_error == cudaSuccess) machine().last_error = error;
}

}  // namespace

const uint3& thread_idx() { return running_fiber("threadIdx").index; }
const uint3& block_idx() {
  running_fiber("blockIdx");
  return grid_state().block_index;
}
const dim3& block_dim() {
  running_fiber("blockDim");
  return grid_state().block;
}
const dim3& grid_dim() {
  running_fiber("gridDim");
  return grid_state().grid;
}

void sync_block(const char* file, int line) {
  Fiber& fiber = running_fiber("__syncthreads");
  fiber.barrier_file = file;
  fiber.barrier_line = line;
  fiber.state = State::AtBarrier;
  leave_fiber(fiber, false);
}

void sync_warp(unsigned mask, const char* file, int line) {
  WarpOp op;
  op.kind = WarpOpKind::SyncWarp;
  op.mask = mask;
  op.file = file;
  op.line = line;
  wait_at_warp_op(op);
}

unsigned ballot(unsigned mask, bool predicate, const char* file, int line) {
  WarpOp op;
  op.kind = WarpOpKind::Ballot;
  op.mask = mask;
  op.file = file;
  op.line = line;
  op.value = predicate ? 1 : 0;
  wait_at_warp_op(op);
  return static_cast<unsigned>(running_fiber("__ballot_sync").op.result);
}

uint64_t shuffle_bits(unsigned mask, uint64_t bits, int argument, Shuffle kind, const char* file,
                      int line) {
  WarpOp op;
  op.kind = WarpOpKind::Shuffle;
  op.shuffle = kind;
  op.mask = mask;
  op.file = file;
  op.line = line;
  op.value = bits;
  op.argument = argument;
  wait_at_warp_op(op);
  return running_fiber("a shuffle").op.result;
}

void* shared_allocation(const char* key, std::size_t bytes, std::size_t alignment) {
  running_fiber("__shared__ memory");
  Grid& g = grid_state();
  auto found = g.shared.find(key);
  if (found != g.shared.end()) return found->second;
  if (alignment > 64) fail("__shared__ %s needs %zu-byte alignment", key, alignment);
  g.shared_bytes += bytes;
  if (g.shared_bytes > kStaticSharedLimit) {
    fail("static __shared__ memory of the block is %zu bytes, over the %zu-byte limit (%s)",
         g.shared_bytes, kStaticSharedLimit, key);
  }
  void* memory = ::operator new(bytes, std::align_val_t(64));
  std::memset(memory, 0xFF, bytes);  // unwritten shared memory reads as NaN / -1
  g.shared.emplace(key, memory);
  return memory;
}

bool begin_launch(const char* name, dim3 grid, dim3 block, std::size_t dynamic_shared,
                  cudaStream_t stream) {
  Machine& m = machine();
  const unsigned long long threads =
      static_cast<unsigned long long>(block.x) * block.y * block.z;
  const bool valid_block = block.x >= 1 && block.y >= 1 && block.z >= 1 && block.x <= 1024 &&
                           block.y <= 1024 && block.z <= 64 && threads <= kMaxThreads;
  const bool valid_grid = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 2147483647u &&
                          grid.y <= 65535 && grid.z <= 65535;
  if (!valid_block || !valid_grid || dynamic_shared != 0) {
    set_error(cudaErrorInvalidConfiguration);
    return false;
  }
  const int stream_device = stream == nullptr ? m.current_device : stream->device;
  if (stream_device != m.current_device) {
    set_error(cudaErrorInvalidResourceHandle);
    return false;
  }
  if (m.current_device != m.array_device) {
    fail("kernel %s launched on device %d, but its arrays live on device %d (a missing device "
         "guard)",
         name, m.current_device, m.array_device);
  }
  ++m.launches[name];
  return true;
}

void run_grid(const char* name, dim3 grid, dim3 block, const std::function<void()>& body) {
  Grid& g = grid_state();
  if (g.body != nullptr) fail("kernel %s launched from inside kernel %s", name, g.name);
  g.name = name;
  g.grid = grid;
  g.block = block;
  g.threads = static_cast<int>(block.x * block.y * block.z);
  g.body = &body;
  while (g.stacks.size() < static_cast<std::size_t>(g.threads)) {
    void* stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) fail("cannot map a fiber stack");
    g.stacks.push_back(static_cast<char*>(stack));
  }
  g.fibers.assign(g.threads, Fiber{});
  for (int t = 0; t < g.threads; ++t) g.fibers[t].stack = g.stacks[t];
  std::mt19937_64 random(schedule_seed());
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        g.block_index = uint3{x, y, z};
        run_block(g, random);
      }
    }
  }
  g.body = nullptr;
  g.threads = 0;
}

void configure(int device_count, int driver_version, int multiprocessors, int array_device) {
  Machine& m = machine();
  m.device_count = device_count;
  m.driver_version = driver_version;
  m.multiprocessors = multiprocessors;
  m.array_device = array_device;
  m.current_device = 0;
  m.last_error = cudaSuccess;
  m.launches.clear();
  m.streams.clear();
  m.streams.reserve(device_count);
  for (int d = 0; d < device_count; ++d) m.streams.push_back(CUstream_st{d});
}

cudaStream_t stream_on(int device) {
  Machine& m = machine();
  if (device < 0 || device >= static_cast<int>(m.streams.size())) {
    fail("no stream for device %d (%d devices)", device, m.device_count);
  }
  return &m.streams[device];
}

int current_device() { return machine().current_device; }

std::vector<std::pair<std::string, long long>> launch_counts() {
  return {machine().launches.begin(), machine().launches.end()};
}

}  // namespace reid_emu

// ---------------------------------------------------------------------------------------
// Runtime API.

using reid_emu::machine;

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  const cudaError_t error = machine().last_error;
  machine().last_error = cudaSuccess;
  return error;
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 0;
  if (machine().driver_version < CUDART_VERSION) return cudaErrorInsufficientDriver;
  *count = machine().device_count;
  return machine().device_count > 0 ? cudaSuccess : cudaErrorNoDevice;
}

cudaError_t cudaDriverGetVersion(int* version) {
  *version = machine().driver_version;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = machine().current_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= machine().device_count) return cudaErrorInvalidDevice;
  machine().current_device = device;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device < 0 || device >= machine().device_count) return cudaErrorInvalidDevice;
  if (attribute != cudaDevAttrMultiProcessorCount) return cudaErrorInvalidValue;
  *value = machine().multiprocessors;
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* pointer, int value, std::size_t bytes, cudaStream_t stream) {
  reid_emu::Machine& m = machine();
  const int stream_device = stream == nullptr ? m.current_device : stream->device;
  if (stream_device != m.current_device) return cudaErrorInvalidResourceHandle;
  if (m.current_device != m.array_device) {
    reid_emu::fail("cudaMemsetAsync on device %d, but the arrays live on device %d (a missing "
                   "device guard)",
                   m.current_device, m.array_device);
  }
  std::memset(pointer, value, bytes);
  return cudaSuccess;
}
