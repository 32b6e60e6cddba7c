// What data prepare accepts as text: UTF-8 exactly as RFC 3629 defines it (the expected
// offsets are where Python's strict decoder reports its UnicodeDecodeError on the same
// byte strings), and compressed files told by their magic bytes.
#include <gtest/gtest.h>

#include <string>

#include "data/text_check.h"

namespace cream::data {
namespace {

TEST(TextCheck, ValidUtf8IsTextAtEveryLength) {
  EXPECT_EQ(first_non_text_byte(""), std::nullopt);
  EXPECT_EQ(first_non_text_byte("plain ASCII\n\ttabs"), std::nullopt);
  EXPECT_EQ(first_non_text_byte("caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 e\xcc\x81"), std::nullopt);
  EXPECT_EQ(first_non_text_byte("\xef\xbf\xbf \xf4\x8f\xbf\xbf"), std::nullopt);  // U+FFFF, U+10FFFF
}

TEST(TextCheck, TheFirstByteThatIsNotTextIsFound) {
  EXPECT_EQ(first_non_text_byte(std::string("hello\0world", 11)), 5u);  // NUL: a binary file
  EXPECT_EQ(first_non_text_byte("caf\xe9"), 3u);                        // Latin-1
  EXPECT_EQ(first_non_text_byte("ab\x80"), 2u);                         // stray continuation
  EXPECT_EQ(first_non_text_byte("x\xc0\x80"), 1u);                      // overlong NUL
  EXPECT_EQ(first_non_text_byte("x\xe0\x80\x80"), 1u);                  // overlong 3-byte
  EXPECT_EQ(first_non_text_byte("x\xed\xa0\x80"), 1u);                  // surrogate U+D800
  EXPECT_EQ(first_non_text_byte("x\xf4\x90\x80\x80"), 1u);              // above U+10FFFF
  EXPECT_EQ(first_non_text_byte("x\xf5\x80\x80\x80"), 1u);              // no such lead byte
  EXPECT_EQ(first_non_text_byte("ok \xe4\xb8"), 3u);                    // cut short at the end
  EXPECT_EQ(first_non_text_byte("ok \xe4\x41\x41"), 3u);                // continuation missing
}

TEST(TextCheck, CompressedFilesAreToldByTheirMagicBytes) {
  EXPECT_STREQ(compression_format("\x1f\x8b\x08\x00"), "gzip");
  EXPECT_STREQ(compression_format("\x28\xb5\x2f\xfd\x24"), "zstd");
  EXPECT_STREQ(compression_format("\xfd" "7zXZ\x00"), "xz");
  EXPECT_STREQ(compression_format("BZh91AY"), "bzip2");
  EXPECT_EQ(compression_format("{\"text\": \"x\"}"), nullptr);
  EXPECT_EQ(compression_format(""), nullptr);
}

}  // namespace
}  // namespace cream::data
