// Carves caller-allocated workspace into aligned regions. The same layout code runs twice:
// once without a base pointer to measure the bytes needed, once to hand out the regions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace reid_fast {

class WorkspaceCarver {
 public:
  static constexpr std::size_t kAlignment = 256;

  explicit WorkspaceCarver(void* base = nullptr) : base_(static_cast<char*>(base)) {}

  template <typename T>
  T* take(int64_t count) {
    // Regions start at kAlignment boundaries relative to an aligned base; the caller
    // allocates bytes() + kAlignment so the base itself can be rounded up.
    const std::size_t start = offset_;
    offset_ = round_up(start + static_cast<std::size_t>(count) * sizeof(T));
    return base_ == nullptr ? nullptr : reinterpret_cast<T*>(aligned_base() + start);
  }

  // Bytes the caller must allocate for the regions taken so far.
  std::size_t bytes() const { return offset_ + kAlignment; }

 private:
  static std::size_t round_up(std::size_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  char* aligned_base() const {
    const auto address = reinterpret_cast<std::uintptr_t>(base_);
    return base_ + (round_up(address) - address);
  }

  char* base_;
  std::size_t offset_ = 0;
};

}  // namespace reid_fast
