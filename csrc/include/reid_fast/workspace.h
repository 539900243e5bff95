// Carves caller-allocated workspace into aligned regions. The same layout code runs twice:
// once without a base pointer to measure the bytes needed, once to hand out the regions.
// A region count that is negative, or a total that does not fit in a byte count, is a
// ValueError, so that no caller can wrap the size and carve past its buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>

#include "reid_fast/errors.h"

namespace reid_fast {

// The product of non-negative sizes (element counts of a region), or a ValueError when it
// does not fit in int64: region sizes are computed with these, never with a raw product.
inline int64_t size_product(std::initializer_list<int64_t> factors) {
  int64_t product = 1;
  for (const int64_t factor : factors) {
    if (factor < 0) throw_value_error("workspace size factor ", factor, " must be >= 0");
    if (__builtin_mul_overflow(product, factor, &product)) {
      throw_value_error("workspace size overflows int64; the sizes are too large");
    }
  }
  return product;
}

// a + b for non-negative sizes, or a ValueError when it does not fit in int64.
inline int64_t size_sum(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &sum)) {
    throw_value_error("workspace size ", a, " + ", b, " is negative or overflows int64");
  }
  return sum;
}

class WorkspaceCarver {
 public:
  static constexpr std::size_t kAlignment = 256;

  explicit WorkspaceCarver(void* base = nullptr) : base_(static_cast<char*>(base)) {}

  template <typename T>
  T* take(int64_t count) {
    // Regions start at kAlignment boundaries relative to an aligned base; the caller
    // allocates bytes() + kAlignment so the base itself can be rounded up.
    const std::size_t start = offset_;
    if (count < 0) throw_value_error("workspace region of ", count, " elements: sizes must be >= 0");
    // start + count * sizeof(T) + 2 * kAlignment (rounding up, then bytes()) must fit.
    const std::size_t room = std::numeric_limits<std::size_t>::max() - start - 2 * kAlignment;
    if (static_cast<std::size_t>(count) > room / sizeof(T)) {
      throw_value_error("workspace region of ", count, " elements of ", sizeof(T),
                        " bytes overflows the addressable size; the sizes are too large");
    }
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
