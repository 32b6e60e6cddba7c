#include "text_check.h"

#include <cstdint>

namespace cream::data {

const char* compression_format(std::string_view head) {
  auto starts = [&](std::string_view magic) { return head.substr(0, magic.size()) == magic; };
  if (starts("\x1f\x8b")) return "gzip";
  if (starts("\x28\xb5\x2f\xfd")) return "zstd";
  if (starts("\xfd" "7zXZ")) return "xz";
  if (starts("BZh")) return "bzip2";
  return nullptr;
}

std::optional<size_t> first_non_text_byte(std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  size_t i = 0;
  while (i < size) {
    const uint8_t lead = data[i];
    if (lead == 0) return i;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // Sequence length and the range its second byte must lie in (RFC 3629, table 3-7 of
    // the Unicode standard): this excludes overlongs, surrogates and > U+10FFFF.
    size_t length = 0;
    uint8_t low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead == 0xE0) length = 3, low = 0xA0;
    else if (lead >= 0xE1 && lead <= 0xEC) length = 3;
    else if (lead == 0xED) length = 3, high = 0x9F;
    else if (lead >= 0xEE && lead <= 0xEF) length = 3;
    else if (lead == 0xF0) length = 4, low = 0x90;
    else if (lead >= 0xF1 && lead <= 0xF3) length = 4;
    else if (lead == 0xF4) length = 4, high = 0x8F;
    else return i;
    if (i + length > size) return i;
    if (data[i + 1] < low || data[i + 1] > high) return i;
    for (size_t k = 2; k < length; ++k)
      if (data[i + k] < 0x80 || data[i + k] > 0xBF) return i;
    i += length;
  }
  return std::nullopt;
}

}  // namespace cream::data
