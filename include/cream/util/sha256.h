// SHA-256 (FIPS 180-4), used to fingerprint tokenizer files so that prepared data
// and models can be checked for compatibility without trusting file names.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace cream::util {

// Incremental hasher: update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest();
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

// Lower-case hex SHA-256 of a byte string.
std::string sha256_hex(std::string_view data);

// Lower-case hex SHA-256 of a file's contents (streamed); throws cream::Error naming the file.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace cream::util
