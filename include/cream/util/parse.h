// Whole-string number parsing for command-line and config values: "12" is an integer,
// "12x", "" and " 12" are not. Callers turn nullopt into an error naming their flag.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cream::util {

// The integer spelled by all of `text`, or nullopt (also on overflow).
std::optional<int64_t> parse_integer(const std::string& text);
// The finite real spelled by all of `text`, or nullopt (also for inf / nan).
std::optional<double> parse_real(const std::string& text);

}  // namespace cream::util
