#include "cream/io/size.h"

#include <cctype>
#include <limits>
#include <string_view>

#include "cream/util/error.h"

namespace cream::io {

namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Bytes per unit; 0 when the unit is not one we know.
uint64_t unit_bytes(std::string_view unit_text) {
  const auto unit = lowercase(unit_text);
  constexpr uint64_t kKilo = 1000, kKibi = 1024;
  if (unit.empty() || unit == "b") return 1;
  if (unit == "kb") return kKilo;
  if (unit == "mb") return kKilo * kKilo;
  if (unit == "gb") return kKilo * kKilo * kKilo;
  if (unit == "tb") return kKilo * kKilo * kKilo * kKilo;
  if (unit == "kib") return kKibi;
  if (unit == "mib") return kKibi * kKibi;
  if (unit == "gib") return kKibi * kKibi * kKibi;
  if (unit == "tib") return kKibi * kKibi * kKibi * kKibi;
  return 0;
}

}  // namespace

uint64_t parse_size(const std::string& text) {
  const auto fail = [&](const std::string& why) {
    return Error("size '" + text + "': " + why +
                 " (expected e.g. 123, 500MB, 5GB, 2GiB; KB/MB/GB/TB are decimal, KiB/MiB/GiB/TiB binary)");
  };
  std::size_t pos = 0;
  // 128-bit intermediates: digits * unit cannot overflow before we check the range.
  unsigned __int128 whole = 0;
  std::size_t whole_digits = 0;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
    whole = whole * 10 + static_cast<unsigned>(text[pos++] - '0');
    if (whole > std::numeric_limits<uint64_t>::max()) throw fail("number too large");
    ++whole_digits;
  }
  unsigned __int128 fraction = 0, fraction_scale = 1;
  std::size_t fraction_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      // Digits beyond 18 cannot change a whole-byte result for units up to 2^40.
      if (fraction_digits < 18) {
        fraction = fraction * 10 + static_cast<unsigned>(text[pos] - '0');
        fraction_scale *= 10;
      }
      ++pos;
      ++fraction_digits;
    }
    if (fraction_digits == 0) throw fail("missing digits after '.'");
  }
  if (whole_digits == 0) throw fail("must start with a non-negative number");
  if (pos < text.size() && text[pos] == ' ') ++pos;
  const uint64_t unit = unit_bytes(std::string_view(text).substr(pos));
  if (unit == 0) throw fail("unknown unit '" + text.substr(pos) + "'");
  const unsigned __int128 bytes = whole * unit + fraction * unit / fraction_scale;
  if (bytes > std::numeric_limits<uint64_t>::max()) throw fail("too large for 64 bits");
  return static_cast<uint64_t>(bytes);
}

}  // namespace cream::io
