// Human-readable byte sizes, as HF's `max_shard_size` spells them.
#pragma once

#include <cstdint>
#include <string>

namespace cream::io {

// "5GB" -> 5'000'000'000 (KB/MB/GB/TB are decimal, as in HF), "2GiB" -> 2 * 2^30
// (KiB/MiB/GiB/TiB binary), "123" or "123B" -> 123 bytes. Units are case-insensitive,
// a space may separate number and unit, and a decimal fraction is allowed ("1.5GB");
// the result is rounded down to whole bytes. Throws cream::Error naming the text on
// anything else (empty, negative, unknown unit, overflow).
uint64_t parse_size(const std::string& text);

}  // namespace cream::io
