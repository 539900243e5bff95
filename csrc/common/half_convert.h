// float16 / bfloat16 bit patterns -> float32, identical on host and device.
#pragma once

#include <cstdint>
#include <cstring>

#include "reid_fast/hd.h"

namespace reid_fast {

REID_HD float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
#endif
}

// bfloat16 is the upper half of a float32.
REID_HD float bfloat16_to_float(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

// IEEE 754 binary16 -> binary32, exact for every input (subnormals, infinities, NaN).
REID_HD float float16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1Fu) return bits_to_float(sign | 0x7F800000u | (mantissa << 13));
  if (exponent != 0) return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_to_float(sign);
  // Subnormal: normalise the mantissa.
  uint32_t shift = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shift;
  }
  mantissa &= 0x3FFu;
  return bits_to_float(sign | ((113u - shift) << 23) | (mantissa << 13));
}

// Loads element i of a float32 / float16 / bfloat16 buffer as float32.
struct Float32Load {
  REID_HD static float load(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; }
};
struct Float16Load {
  REID_HD static float load(const void* p, int64_t i) {
    return float16_to_float(static_cast<const uint16_t*>(p)[i]);
  }
};
struct BFloat16Load {
  REID_HD static float load(const void* p, int64_t i) {
    return bfloat16_to_float(static_cast<const uint16_t*>(p)[i]);
  }
};

}  // namespace reid_fast
