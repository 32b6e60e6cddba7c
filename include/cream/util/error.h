// Errors are exceptions with context, caught once in main and printed as one line.
#pragma once

#include <stdexcept>
#include <string>

namespace cream {

// The one exception type user-facing failures use. The message is complete on
// its own: it names the file, tensor or config key that is wrong.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws cream::Error when `condition` is false. Message built only on failure.
#define CREAM_CHECK(condition, message_expr)            \
  do {                                                  \
    if (!(condition)) throw ::cream::Error(message_expr); \
  } while (0)

}  // namespace cream
