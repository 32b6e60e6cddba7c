// Options::validate(): every impossible configuration is refused before any
// work, with a message naming the parameter.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "cream/positions/options.h"
#include "cream/positions/sampler.h"
#include "cream/util/error.h"
#include "positions/test_support.h"

using namespace cream::positions;
using cream::positions::testing::make_options;

namespace {

void expect_rejected(const Options& options, const std::string& parameter) {
  try {
    options.validate();
    FAIL() << "expected an error naming " << parameter;
  } catch (const cream::Error& e) {
    EXPECT_NE(std::string(e.what()).find("positions." + parameter), std::string::npos) << e.what();
  }
  EXPECT_THROW(Sampler{options}, cream::Error);
}

Options with(Options options, const std::function<void(Options&)>& change) {
  change(options);
  return options;
}

}  // namespace

TEST(PositionOptions, DefaultsMatchMethodMd) {
  const Options options;
  EXPECT_EQ(options.method, Method::cream);
  EXPECT_EQ(options.sigma, 3.0);
  EXPECT_EQ(options.relativity_share, 0.5);
  EXPECT_FALSE(options.exact_truncnorm);
  EXPECT_EQ(options.branch_per, BranchPer::sequence);
  EXPECT_EQ(options.branch_batch_size, 3000);
  EXPECT_EQ(options.scale_factor(), 8);
  EXPECT_EQ(options.resolved_continuity_length(), 32);  // 4f at f = 8
  EXPECT_NO_THROW(options.validate());
}

TEST(PositionOptions, RejectsBadLengths) {
  const Options base = make_options(Method::cream, 512, 4096);
  expect_rejected(with(base, [](Options& o) { o.train_length = 511; o.target_length = 511 * 8; }), "train_length");
  expect_rejected(with(base, [](Options& o) { o.train_length = 0; }), "train_length");
  expect_rejected(with(base, [](Options& o) { o.target_length = 4000; }), "target_length");
  expect_rejected(with(base, [](Options& o) { o.target_length = 512; }), "target_length");
  expect_rejected(with(base, [](Options& o) { o.target_length = 256; }), "target_length");
  expect_rejected(with(base, [](Options& o) { o.method = Method::pose; o.target_length = 512; }), "target_length");
  expect_rejected(with(base, [](Options& o) { o.method = Method::full; o.target_length = 700; }), "target_length");
  // standard may train at L = N (plain fine-tuning / pretraining).
  EXPECT_NO_THROW(with(base, [](Options& o) { o.method = Method::standard; o.target_length = 512; }).validate());
}

TEST(PositionOptions, RejectsBadCreamParameters) {
  const Options base = make_options(Method::cream, 512, 4096);
  expect_rejected(with(base, [](Options& o) { o.sigma = 0; }), "sigma");
  expect_rejected(with(base, [](Options& o) { o.sigma = -1; }), "sigma");
  expect_rejected(with(base, [](Options& o) { o.sigma = std::nan(""); }), "sigma");
  expect_rejected(with(base, [](Options& o) { o.relativity_share = 1.5; }), "relativity_share");
  expect_rejected(with(base, [](Options& o) { o.relativity_share = -0.1; }), "relativity_share");
  expect_rejected(with(base, [](Options& o) { o.continuity_length = 0; }), "continuity_length");
  expect_rejected(with(base, [](Options& o) { o.continuity_length = 256; }), "continuity_length");  // m = 0
  expect_rejected(with(base, [](Options& o) { o.branch_batch_size = 0; }), "branch_batch_size");
  // Default k = 4f = 16 leaves no middle at N = 32, f = 4.
  expect_rejected(make_options(Method::cream, 32, 128), "continuity_length");
  // ... unless the continuity branch is never used.
  EXPECT_NO_THROW(with(make_options(Method::cream, 32, 128), [](Options& o) { o.relativity_share = 1; }).validate());
  EXPECT_NO_THROW(with(base, [](Options& o) { o.continuity_length = 255; }).validate());  // m = 2
  // A 2-token relativity head floor(2/3) = 0 would lose position 0.
  expect_rejected(with(make_options(Method::cream, 2, 8), [](Options& o) { o.relativity_share = 1; }), "train_length");
}

TEST(PositionOptions, BaselinesIgnoreCreamParameters) {
  Options options = make_options(Method::randpos, 512, 4096);
  options.sigma = -1;
  EXPECT_NO_THROW(options.validate());
}

TEST(PositionOptions, MethodNamesRoundTrip) {
  for (const Method m : {Method::cream, Method::pose, Method::randpos, Method::full, Method::standard})
    EXPECT_EQ(parse_method(method_name(m)), m);
  EXPECT_EQ(parse_branch_per("batch"), BranchPer::batch);
  try {
    parse_method("yarn");
    FAIL();
  } catch (const cream::Error& e) {
    EXPECT_NE(std::string(e.what()).find("positions.method"), std::string::npos);
  }
  EXPECT_THROW(parse_branch_per("epoch"), cream::Error);
}
