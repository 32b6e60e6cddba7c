// SHA-256 against FIPS 180-4 example vectors and Python hashlib (values below were
// produced with hashlib.sha256 for bytes (i*7+3) % 256, i = 0..n-1).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cream/util/error.h"
#include "cream/util/sha256.h"

namespace {

std::string pattern_bytes(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>((i * 7 + 3) % 256));
  return s;
}

}  // namespace

TEST(Sha256, FipsExampleVectors) {
  using cream::util::sha256_hex;
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundariesMatchHashlib) {
  const std::pair<size_t, const char*> expected[] = {
      {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
      {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
      {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
      {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
      {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
      {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
      {1000, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"},
  };
  for (const auto& [n, hex] : expected) EXPECT_EQ(cream::util::sha256_hex(pattern_bytes(n)), hex) << n;
}

TEST(Sha256, IncrementalUpdatesEqualOneShot) {
  const auto data = pattern_bytes(1000);
  for (size_t step : {1u, 3u, 63u, 64u, 65u, 200u}) {
    cream::util::Sha256 hasher;
    for (size_t i = 0; i < data.size(); i += step) hasher.update(std::string_view(data).substr(i, step));
    EXPECT_EQ(hasher.hex_digest(), "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371") << step;
  }
}

TEST(Sha256, FileHashAndMissingFile) {
  const auto path = std::filesystem::temp_directory_path() / ("cream_sha256_" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << "abc";
  EXPECT_EQ(cream::util::sha256_file(path), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(path);
  try {
    cream::util::sha256_file(path);
    FAIL() << "expected an error";
  } catch (const cream::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
  }
}
