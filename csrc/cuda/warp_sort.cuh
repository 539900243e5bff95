// Sorting networks over the registers of one warp, for the k-selection of knn_select
// (docs/design.md 3.1). A sequence of kRegs * 32 (value, index) entries lives in the arrays
// value[kRegs] / index[kRegs] of the 32 lanes: entry e is register e / 32 of lane e % 32.
// Entries are ordered by ranks_before (common/topk.h): value, then the lower index; indices
// are distinct except in (+inf, kEmptyIndex) padding, whose copies are interchangeable.
//
// Bitonic networks: a compare-exchange of entries e and e ^ distance is a swap between two
// registers of each lane when distance >= 32, and a __shfl_xor_sync between lanes otherwise.
// The loops have compile-time bounds and are unrolled, so the arrays stay in registers.
// Every function must be called by all 32 lanes of the warp together.
#pragma once

#include <cstdint>

#include "common/topk.h"
#include "cuda/cuda_constants.cuh"

namespace reid_fast {
namespace cuda {
namespace detail {

// One compare-exchange step of a bitonic network over the whole sequence: entries e and
// e ^ distance (distance a power of two) end in ascending order where e & block == 0 and in
// descending order elsewhere (block = the length of the sequence: ascending everywhere).
template <int kRegs>
__device__ __forceinline__ void bitonic_step(float (&value)[kRegs], int64_t (&index)[kRegs],
                                             int block, int distance) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  if (distance >= kWarpSize) {
    // Partners in the same lane: registers r and r + reg_distance. block >= 2 * distance >= 64,
    // so e & block depends on the register only.
    const int reg_distance = distance / kWarpSize;
#pragma unroll
    for (int r = 0; r < kRegs; ++r) {
      if ((r & reg_distance) != 0) continue;
      const int s = r + reg_distance;
      const bool ascending = ((r * kWarpSize) & block) == 0;
      const bool misordered = ascending ? ranks_before(value[s], index[s], value[r], index[r])
                                        : ranks_before(value[r], index[r], value[s], index[s]);
      if (misordered) {
        const float v = value[r];
        const int64_t i = index[r];
        value[r] = value[s];
        index[r] = index[s];
        value[s] = v;
        index[s] = i;
      }
    }
  } else {
    // Partners in lanes lane ^ distance: the lower entry of an ascending pair keeps the one
    // that ranks first, and so on. Both lanes decide from the same pair, so they agree.
    const bool lower = (lane & distance) == 0;
#pragma unroll
    for (int r = 0; r < kRegs; ++r) {
      const bool ascending = ((r * kWarpSize + lane) & block) == 0;
      const float other_value = __shfl_xor_sync(kFullMask, value[r], distance);
      const int64_t other_index = static_cast<int64_t>(
          __shfl_xor_sync(kFullMask, static_cast<long long>(index[r]), distance));
      const bool keep_first = lower == ascending;
      if (ranks_before(other_value, other_index, value[r], index[r]) == keep_first) {
        value[r] = other_value;
        index[r] = other_index;
      }
    }
  }
}

// Sorts the sequence ascending (a full bitonic sort: log2(L) (log2(L) + 1) / 2 steps).
template <int kRegs>
__device__ __forceinline__ void warp_sort(float (&value)[kRegs], int64_t (&index)[kRegs]) {
  constexpr int kLength = kRegs * kWarpSize;
#pragma unroll
  for (int log_block = 1; (1 << log_block) <= kLength; ++log_block) {
#pragma unroll
    for (int log_distance = log_block - 1; log_distance >= 0; --log_distance) {
      bitonic_step(value, index, 1 << log_block, 1 << log_distance);
    }
  }
}

// value / index (ascending) become the first kRegs * 32 entries, ascending, of their union
// with other_value / other_index (ascending, kOtherRegs * 32 entries). Entry e of the first
// sequence meets entry L - 1 - e of the second (L = kRegs * 32; register kRegs - 1 - r meets
// register r of the mirrored lane 31 - lane) and keeps the one that ranks first: that keeps
// the L first entries of the union, as a bitonic sequence, which log2(L) steps then sort.
template <int kRegs, int kOtherRegs>
__device__ __forceinline__ void warp_merge_first(float (&value)[kRegs], int64_t (&index)[kRegs],
                                                 const float (&other_value)[kOtherRegs],
                                                 const int64_t (&other_index)[kOtherRegs]) {
  constexpr int kLength = kRegs * kWarpSize;
  constexpr int kPairs = kRegs < kOtherRegs ? kRegs : kOtherRegs;
#pragma unroll
  for (int r = 0; r < kPairs; ++r) {
    const float mirrored_value = __shfl_xor_sync(kFullMask, other_value[r], kWarpSize - 1);
    const int64_t mirrored_index = static_cast<int64_t>(
        __shfl_xor_sync(kFullMask, static_cast<long long>(other_index[r]), kWarpSize - 1));
    const int mine = kRegs - 1 - r;
    if (ranks_before(mirrored_value, mirrored_index, value[mine], index[mine])) {
      value[mine] = mirrored_value;
      index[mine] = mirrored_index;
    }
  }
#pragma unroll
  for (int log_distance = 0; (2 << log_distance) <= kLength; ++log_distance) {
    // Half-cleaners from distance L / 2 down to 1.
    const int distance = kLength >> (log_distance + 1);
    bitonic_step(value, index, kLength, distance);
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace reid_fast
