// Exceptions of the native core. The bindings translate them into Python's ValueError,
// TypeError and RuntimeError; the core never asserts or aborts on bad input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace reid_fast {

struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

template <typename... Parts>
[[noreturn]] void throw_value_error(Parts&&... parts) {
  throw ValueError(concat(std::forward<Parts>(parts)...));
}

template <typename... Parts>
[[noreturn]] void throw_type_error(Parts&&... parts) {
  throw TypeError(concat(std::forward<Parts>(parts)...));
}

template <typename... Parts>
[[noreturn]] void throw_runtime_error(Parts&&... parts) {
  throw std::runtime_error(concat(std::forward<Parts>(parts)...));
}

}  // namespace reid_fast
