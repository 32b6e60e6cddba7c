// What `cream data prepare` accepts as input bytes: UTF-8 text (plain or JSONL), never a
// compressed or binary file tokenized as if it were text.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace cream::data {

// The compression format whose magic bytes `head` (a file's first bytes) starts with:
// "gzip", "zstd", "xz" or "bzip2"; nullptr for anything else.
const char* compression_format(std::string_view head);

// The index of the first byte that is not part of UTF-8 text: a NUL byte, or the start
// of an invalid sequence (a stray continuation byte, an overlong form, a surrogate, a
// code point above U+10FFFF, or a sequence cut short). nullopt when all of it is text.
std::optional<size_t> first_non_text_byte(std::string_view bytes);

}  // namespace cream::data
