#include "cream/util/parse.h"

#include <gtest/gtest.h>

#include <limits>

namespace cream::util {
namespace {

TEST(ParseNumbers, IntegersMustFillTheWholeText) {
  EXPECT_EQ(parse_integer("12"), 12);
  EXPECT_EQ(parse_integer("-7"), -7);
  EXPECT_EQ(parse_integer("9223372036854775807"), std::numeric_limits<int64_t>::max());
  for (const char* bad : {"", "12x", "x12", "1.5", "99999999999999999999", "1e3"})
    EXPECT_FALSE(parse_integer(bad).has_value()) << bad;
}

TEST(ParseNumbers, RealsMustBeFiniteAndFillTheWholeText) {
  EXPECT_DOUBLE_EQ(*parse_real("2.5"), 2.5);
  EXPECT_DOUBLE_EQ(*parse_real("1e-3"), 1e-3);
  EXPECT_DOUBLE_EQ(*parse_real("-4"), -4.0);
  for (const char* bad : {"", "2.5.1", "abc", "inf", "nan", "1e999", "3 "})
    EXPECT_FALSE(parse_real(bad).has_value()) << bad;
}

}  // namespace
}  // namespace cream::util
