// YAML 1.2 core-schema scalars as the config reads and writes them. Strict on
// purpose: "1.5" is not an integer, "yes" is not a boolean, ".inf" is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cream::config {

// Decimal integers with an optional sign ("32", "-1", "+7"); nullopt otherwise
// or when the value does not fit in int64.
std::optional<int64_t> parse_int(const std::string& text);

// Finite decimal numbers: integers, "2e-5", "0.9", ".5", "1."; nullopt for
// anything else, including ".inf", ".nan" and hexadecimal.
std::optional<double> parse_double(const std::string& text);

// true / True / TRUE / false / False / FALSE.
std::optional<bool> parse_bool(const std::string& text);

// The shortest decimal text that reads back as exactly `value`, always with a
// decimal point or exponent so that it reads as a real ("2e-05", "0.9", "8.0").
std::string format_double(double value);

}  // namespace cream::config
