#include <gtest/gtest.h>

#include <cmath>

#include "cream/config/scalars.h"
#include "cream/config/suggest.h"

using namespace cream::config;

TEST(Scalars, IntegersAreStrict) {
  EXPECT_EQ(parse_int("32"), 32);
  EXPECT_EQ(parse_int("-1"), -1);
  EXPECT_EQ(parse_int("+7"), 7);
  EXPECT_EQ(parse_int("9223372036854775807"), INT64_MAX);
  EXPECT_FALSE(parse_int("9223372036854775808"));
  EXPECT_FALSE(parse_int("1.5"));
  EXPECT_FALSE(parse_int("1e3"));
  EXPECT_FALSE(parse_int("0x10"));
  EXPECT_FALSE(parse_int(""));
  EXPECT_FALSE(parse_int("12abc"));
}

TEST(Scalars, NumbersFollowTheYamlCoreSchemaButMustBeFinite) {
  EXPECT_EQ(parse_double("2e-5"), 2e-5);
  EXPECT_EQ(parse_double("0.9"), 0.9);
  EXPECT_EQ(parse_double(".5"), 0.5);
  EXPECT_EQ(parse_double("1."), 1.0);
  EXPECT_EQ(parse_double("-3"), -3.0);
  EXPECT_EQ(parse_double("+1E+2"), 100.0);
  EXPECT_FALSE(parse_double(".inf"));
  EXPECT_FALSE(parse_double(".nan"));
  EXPECT_FALSE(parse_double("1e999"));
  EXPECT_FALSE(parse_double("0x1p3"));
  EXPECT_FALSE(parse_double("abc"));
  EXPECT_FALSE(parse_double("1,5"));
}

TEST(Scalars, BooleansAreOnlyTrueAndFalse) {
  EXPECT_EQ(parse_bool("true"), true);
  EXPECT_EQ(parse_bool("False"), false);
  EXPECT_FALSE(parse_bool("yes"));
  EXPECT_FALSE(parse_bool("1"));
}

TEST(Scalars, DoublesFormatShortestAndRoundTrip) {
  EXPECT_EQ(format_double(2e-5), "2e-05");
  EXPECT_EQ(format_double(0.9), "0.9");
  EXPECT_EQ(format_double(8.0), "8.0");
  EXPECT_EQ(format_double(-0.0), "-0.0");
  EXPECT_EQ(format_double(1e300), "1e+300");
  for (double value : {1.0 / 3.0, 0.1 * std::log(8.0) + 1.0, 1e-8, 123456.789, 5e-324}) {
    EXPECT_EQ(parse_double(format_double(value)), value) << format_double(value);
  }
}

TEST(Suggest, EditDistanceCountsAdjacentSwapsOnce) {
  EXPECT_EQ(edit_distance("lrr", "lr"), 1u);
  EXPECT_EQ(edit_distance("stpes", "steps"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(Suggest, ClosestMatchOnlyForPlausibleTypos) {
  const std::vector<std::string> keys = {"steps", "global_batch", "micro_batch", "seed"};
  EXPECT_EQ(closest_match("stpes", keys), "steps");
  EXPECT_EQ(closest_match("micro_bach", keys), "micro_batch");
  EXPECT_EQ(closest_match("sed", keys), "seed");
  EXPECT_FALSE(closest_match("learning_rate", keys));
  EXPECT_FALSE(closest_match("x", keys));
}
