#include "cream/config/scalars.h"

#include <charconv>
#include <cmath>
#include <regex>

namespace cream::config {

std::optional<int64_t> parse_int(const std::string& text) {
  static const std::regex kInteger("[-+]?[0-9]+");
  if (!std::regex_match(text, kInteger)) return std::nullopt;
  const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(begin, text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(const std::string& text) {
  // The YAML 1.2 core-schema float, without the .inf / .nan spellings.
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (!std::regex_match(text, kFloat)) return std::nullopt;
  const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
  double value = 0.0;
  const auto [end, error] = std::from_chars(begin, text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(const std::string& text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

std::string format_double(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, result.ptr);
  // "8" would read back as an integer in other YAML tools; "8.0" stays a real.
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

}  // namespace cream::config
