// parse_size: HF-style shard sizes (decimal KB/MB/GB/TB, binary KiB/MiB/GiB/TiB).
#include <gtest/gtest.h>

#include "cream/io/size.h"
#include "io_test_helpers.h"

namespace cream::io {
namespace {

TEST(ParseSize, AcceptsDecimalBinaryAndPlainBytes) {
  EXPECT_EQ(parse_size("5GB"), 5'000'000'000ull);
  EXPECT_EQ(parse_size("500MB"), 500'000'000ull);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("123"), 123u);
  EXPECT_EQ(parse_size("123B"), 123u);
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("10KB"), 10'000u);
  EXPECT_EQ(parse_size("10KiB"), 10'240u);
  EXPECT_EQ(parse_size("3MiB"), 3u << 20);
  EXPECT_EQ(parse_size("1TB"), 1'000'000'000'000ull);
  EXPECT_EQ(parse_size("1TiB"), 1ull << 40);
  EXPECT_EQ(parse_size("5gb"), 5'000'000'000ull);
  EXPECT_EQ(parse_size("2 GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("1.5GB"), 1'500'000'000ull);
  EXPECT_EQ(parse_size("0.5KiB"), 512u);
  EXPECT_EQ(parse_size("1.0000001KB"), 1000u) << "rounded down to whole bytes";
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, RefusesAnythingElseNamingTheText) {
  for (const std::string bad : {"", "GB", "-5GB", "5XB", "5 G", "1.2.3", "1.", ".5GB", "5GB ", " 5GB", "5  GB",
                                "18446744073709551616", "20000000TB", "1e9", "five"}) {
    const auto message = testing::error_message([&] { parse_size(bad); });
    testing::expect_mentions(message, {"size '" + bad + "'"});
  }
}

}  // namespace
}  // namespace cream::io
