// UTF-8 helpers for tokenizer.json: the lossy conversion Rust's String::from_utf8_lossy
// and Python's bytes.decode("utf-8", "replace") share, and GPT-2's byte <-> character
// map of the ByteLevel pre-tokenizer / decoder. Private to src/io.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cream::io::detail {

// `bytes` with every maximal invalid subsequence replaced by U+FFFD (Unicode's
// "substitution of maximal subparts"); valid input comes back unchanged.
std::string utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

// Appends the UTF-8 encoding of code point `cp`.
void append_utf8(std::string& out, uint32_t cp);

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100..
class ByteLevelMap {
 public:
  ByteLevelMap();
  // The UTF-8 text of byte b's character.
  const std::string& char_of(uint8_t b) const { return chars_[b]; }
  // The byte of code point `cp`, or -1 when it is not one of the 256 characters.
  int byte_of(uint32_t cp) const {
    const auto it = bytes_.find(cp);
    return it == bytes_.end() ? -1 : it->second;
  }
  // Each byte of `text` as its character.
  std::string encode(std::string_view text) const;

 private:
  std::array<std::string, 256> chars_;
  std::unordered_map<uint32_t, int> bytes_;
};

const ByteLevelMap& byte_level_map();

// Decodes one code point at `text[i]` (valid UTF-8 assumed), advancing i.
uint32_t next_code_point(std::string_view text, size_t& i);

}  // namespace cream::io::detail
