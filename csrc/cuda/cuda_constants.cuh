// Hardware constants shared by the CUDA kernels. Tuning constants of one op (threads per
// block, tile sizes, split thresholds) stay in that op's file.
#pragma once

namespace reid_fast {
namespace cuda {
namespace detail {

constexpr int kWarpSize = 32;               // lanes per warp
constexpr unsigned kFullMask = 0xffffffffu;  // every lane of a warp, for the *_sync intrinsics
constexpr long long kMaxGridX = 2147483647;  // blocks along gridDim.x
constexpr long long kMaxGridY = 65535;       // blocks along gridDim.y (and z)

}  // namespace detail
}  // namespace cuda
}  // namespace reid_fast
