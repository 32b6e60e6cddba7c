// The bytes of one input file of `cream data prepare`, decompressed as they stream in:
// plain files as they are, gzip (zlib) and zstd (libzstd) told by their magic bytes,
// whatever the file is called. Other compressions are refused by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace cream::data {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Up to `size` bytes into `out`; 0 at the end. Errors (a corrupt or truncated stream)
  // throw cream::Error naming the file.
  virtual size_t read(char* out, size_t size) = 0;
  // "plain", "gzip" or "zstd".
  virtual const char* format() const = 0;
  // Bytes of the file (compressed ones, for a compressed file) consumed so far: progress
  // against the file's size.
  virtual uint64_t file_position() const = 0;
};

// Opens `path`; cream::Error when it cannot be opened, is compressed with a format this
// build cannot read, or is compressed with xz / bzip2.
std::unique_ptr<ByteSource> open_byte_source(const std::filesystem::path& path);

// The file name without a compression suffix (.gz, .zst, .zstd), for telling JSONL
// from plain text by the name: "train.jsonl.zst" -> "train.jsonl".
std::filesystem::path without_compression_suffix(const std::filesystem::path& path);

}  // namespace cream::data
