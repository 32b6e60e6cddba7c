// Small shared helpers for tests/positions.
#pragma once

#include <cstdint>
#include <optional>

#include "cream/positions/options.h"

namespace cream::positions::testing {

inline Options make_options(Method method, std::int64_t n, std::int64_t l) {
  Options options;
  options.method = method;
  options.train_length = n;
  options.target_length = l;
  return options;
}

}  // namespace cream::positions::testing
