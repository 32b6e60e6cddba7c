// Shared helpers for the io tests: scratch folders, hand-built safetensors bytes, and
// assertions that a call fails with one cream::Error naming what it should.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "cream/util/error.h"

namespace cream::io::testing {

namespace fs = std::filesystem;

inline fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("cream_io_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline std::string length_prefix(uint64_t n) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return bytes;
}

// A safetensors file's bytes: length prefix, header text as given, then `data`.
inline std::string raw_safetensors(const std::string& header, const std::string& data = "") {
  return length_prefix(header.size()) + header + data;
}

inline void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::size_t count_entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// Runs `action`, requires a cream::Error (any other exception or none fails the test)
// and returns its message.
template <typename Action>
std::string error_message(Action&& action) {
  try {
    action();
  } catch (const cream::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected cream::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected cream::Error, nothing was thrown";
  return "";
}

// Asserts that `message` is one line containing every fragment.
inline void expect_mentions(const std::string& message, std::initializer_list<std::string> fragments) {
  EXPECT_EQ(message.find('\n'), std::string::npos) << "error spans several lines: " << message;
  for (const auto& fragment : fragments) {
    EXPECT_NE(message.find(fragment), std::string::npos) << "error lacks '" << fragment << "': " << message;
  }
}

}  // namespace cream::io::testing
