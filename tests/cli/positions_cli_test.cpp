// `cream positions` takes the values the YAML keys take, and its errors name the flag the
// user typed, not the YAML key behind it.
#include <gtest/gtest.h>

#include "cli_helpers.h"

namespace cream::test {
namespace {

const std::string kCream = "positions --method cream --train-length 64 --target-length 256 --samples 2";

TEST(PositionsCli, ContinuityLengthZeroIsTheDefaultAsInYaml) {
  const auto zero = run_cream(kCream + " --seed 3 --continuity-length 0");
  const auto unset = run_cream(kCream + " --seed 3");
  const auto explicit_default = run_cream(kCream + " --seed 3 --continuity-length 16");  // 4 x 256/64
  ASSERT_EQ(zero.status, 0) << zero.output;
  EXPECT_EQ(zero.output, unset.output);
  EXPECT_EQ(zero.output, explicit_default.output);
}

TEST(PositionsCli, ErrorsNameTheFlagTyped) {
  const auto bad = run_cream(kCream + " --continuity-length 40");  // 64 - 2 x 40 < 1
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(line_count(bad.stderr_text), 1) << bad.stderr_text;
  EXPECT_TRUE(contains(bad.stderr_text, "--continuity-length")) << bad.stderr_text;
  EXPECT_FALSE(contains(bad.stderr_text, "positions.continuity_length")) << bad.stderr_text;
  const auto sigma = run_cream(kCream + " --sigma -1");
  EXPECT_EQ(sigma.status, 1);
  EXPECT_TRUE(contains(sigma.stderr_text, "--sigma")) << sigma.stderr_text;
}

}  // namespace
}  // namespace cream::test
