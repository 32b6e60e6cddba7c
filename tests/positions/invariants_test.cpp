// Invariants every sample must satisfy (method.md), over thousands of draws.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "cream/positions/sampler.h"
#include "cream/util/error.h"
#include "positions/test_support.h"

using namespace cream::positions;
using cream::positions::testing::make_options;
using cream::util::Rng;

namespace {

void expect_strictly_increasing_below(const std::vector<std::int64_t>& positions, std::int64_t l) {
  ASSERT_FALSE(positions.empty());
  EXPECT_GE(positions.front(), 0);
  EXPECT_LT(positions.back(), l);
  for (std::size_t i = 1; i < positions.size(); ++i) ASSERT_LT(positions[i - 1], positions[i]) << "at " << i;
}

void expect_run(const std::vector<std::int64_t>& values, std::int64_t begin, std::int64_t count, std::int64_t first) {
  for (std::int64_t i = 0; i < count; ++i) ASSERT_EQ(values[begin + i], first + i) << "index " << begin + i;
}

// Layout of method.md steps 1-6 for one cream sample from a window of d tokens.
void expect_cream_layout(const Sample& s, const Options& o, std::int64_t d) {
  const std::int64_t n = o.train_length, l = o.target_length, f = o.scale_factor();
  const SampleInfo& info = s.info;
  ASSERT_EQ(static_cast<std::int64_t>(s.positions.size()), n);
  ASSERT_EQ(static_cast<std::int64_t>(s.token_indices.size()), n);
  expect_strictly_increasing_below(s.positions, l);
  EXPECT_EQ(s.positions.front(), 0);
  EXPECT_EQ(s.positions.back(), l - 1);
  const std::int64_t h = info.branch == Branch::relativity ? n / 3 : o.resolved_continuity_length();
  ASSERT_EQ(info.head, h);
  ASSERT_EQ(info.tail, h);
  ASSERT_EQ(info.middle, n - 2 * h);
  const std::int64_t m = info.middle, r = info.scale, e = info.middle_end;
  ASSERT_GE(r, 2);
  ASSERT_LE(r, 2 * f);
  ASSERT_GE(2 * e, 2 * h + (m - 1) * r - 1);  // e >= floor(h + (m-1) r/2)
  ASSERT_LE(e, r * n / 2 - h - 1);
  expect_run(s.positions, 0, h, 0);
  expect_run(s.positions, h, m, e - m + 1);
  expect_run(s.positions, h + m, h, l - h);
  // Tokens: head, middle (at its positions, or right before the tail), tail.
  expect_run(s.token_indices, 0, h, 0);
  const bool fallback = e >= d - h;
  ASSERT_EQ(info.middle_fallback, fallback);
  expect_run(s.token_indices, h, m, fallback ? d - h - m : e - m + 1);
  expect_run(s.token_indices, h + m, h, d - h);
  std::set<std::int64_t> distinct(s.token_indices.begin(), s.token_indices.end());
  ASSERT_EQ(static_cast<std::int64_t>(distinct.size()), n) << "duplicated tokens";
  ASSERT_LT(*distinct.rbegin(), d);
  if (d == l) {
    ASSERT_EQ(s.token_indices, s.positions) << "with |D| = L every token sits at its position";
  }
}

}  // namespace

class CreamInvariants : public ::testing::TestWithParam<std::tuple<std::int64_t, std::int64_t>> {};

TEST_P(CreamInvariants, EverySampleHasTheMethodMdLayout) {
  const auto [n, l] = GetParam();
  Options options = make_options(Method::cream, n, l);
  Sampler sampler(options);
  Rng rng(2024);
  const int draws = n >= 4096 ? 400 : 3000;
  int relativity = 0;
  for (int i = 0; i < draws; ++i) {
    // Alternate window lengths: exactly L, the minimum N, in between, longer than L.
    const std::int64_t windows[] = {l, n, n + (l - n) / 3, l + 17};
    const std::int64_t d = windows[i % 4];
    const Sample s = sampler.draw(d, rng);
    expect_cream_layout(s, options, d);
    if (::testing::Test::HasFatalFailure()) return;
    relativity += s.info.branch == Branch::relativity;
  }
  EXPECT_GT(relativity, 0);
  EXPECT_LT(relativity, draws);
}

INSTANTIATE_TEST_SUITE_P(Sizes, CreamInvariants,
                         ::testing::Values(std::make_tuple(64, 256), std::make_tuple(48, 96),
                                           std::make_tuple(512, 4096), std::make_tuple(4096, 32768),
                                           std::make_tuple(100, 1000)));

TEST(CreamInvariants, CustomOptionsKeepTheLayout) {
  Options options = make_options(Method::cream, 40, 200);
  options.sigma = 0.5;
  options.continuity_length = 1;
  options.relativity_share = 0.2;
  options.exact_truncnorm = true;
  Sampler sampler(options);
  Rng rng(7);
  for (int i = 0; i < 3000; ++i) {
    const std::int64_t d = 40 + (i * 7) % 200;
    expect_cream_layout(sampler.draw(d, rng), options, d);
    if (HasFatalFailure()) return;
  }
}

TEST(PoseInvariants, ChunksAndShift) {
  for (const auto& [n, l] : {std::make_pair<std::int64_t, std::int64_t>(64, 256), {512, 4096}, {7 * 2, 14 * 3}}) {
    Sampler sampler(make_options(Method::pose, n, l));
    Rng rng(5);
    for (int i = 0; i < 2000; ++i) {
      const std::int64_t windows[] = {l, n, n + 37 % (l - n + 1), 3 * l};
      const std::int64_t d = windows[i % 4];
      const Sample s = sampler.draw(d, rng);
      const auto& info = s.info;
      ASSERT_EQ(static_cast<std::int64_t>(s.positions.size()), n);
      expect_strictly_increasing_below(s.positions, l);
      EXPECT_EQ(s.positions.front(), 0);
      const std::int64_t a = info.head, shift = info.shift, b = info.chunk_end;
      ASSERT_GE(a, 1);
      ASSERT_LE(a, (n + 1) / 2);
      ASSERT_GE(shift, 0);
      ASSERT_LE(shift, l - n);
      ASSERT_GE(b, n);
      ASSERT_LE(b, std::min(d, l));  // the document is cut to at most L tokens
      expect_run(s.positions, 0, a, 0);
      expect_run(s.positions, a, n - a, a + shift);
      expect_run(s.token_indices, 0, a, 0);
      expect_run(s.token_indices, a, n - a, b - (n - a));
      EXPECT_EQ(info.middle_end, s.positions.back());
      if (HasFatalFailure()) return;
    }
  }
}

TEST(RandposInvariants, DistinctSortedPositionsAndPrefixTokens) {
  for (const auto& [n, l] : {std::make_pair<std::int64_t, std::int64_t>(64, 128), {512, 4096}}) {
    Sampler sampler(make_options(Method::randpos, n, l));
    Rng rng(3);
    std::vector<std::int64_t> prefix(n);
    std::iota(prefix.begin(), prefix.end(), 0);
    for (int i = 0; i < 2000; ++i) {
      const Sample s = sampler.draw(n + i % 50, rng);
      ASSERT_EQ(static_cast<std::int64_t>(s.positions.size()), n);
      expect_strictly_increasing_below(s.positions, l);
      ASSERT_EQ(s.token_indices, prefix);
    }
  }
}

TEST(PrefixMethods, FullAndStandardAreTheIdentity) {
  Rng rng(1);
  Sampler full(make_options(Method::full, 64, 256));
  Sample s = full.draw(256, rng);
  ASSERT_EQ(s.positions.size(), 256u);
  for (std::int64_t i = 0; i < 256; ++i) ASSERT_EQ(s.positions[i], i);
  EXPECT_EQ(s.token_indices, s.positions);
  EXPECT_THROW(full.draw(255, rng), cream::Error);  // full needs |D| >= L

  Sampler standard(make_options(Method::standard, 64, 64));
  s = standard.draw(1000, rng);
  ASSERT_EQ(s.positions.size(), 64u);
  for (std::int64_t i = 0; i < 64; ++i) ASSERT_EQ(s.positions[i], i);
  EXPECT_EQ(s.token_indices, s.positions);
}

TEST(SamplerPreconditions, ShortWindowsAreRefusedWithAClearMessage) {
  Rng rng(1);
  for (const Method m : {Method::cream, Method::pose, Method::randpos, Method::standard}) {
    Sampler sampler(make_options(m, 64, 256));
    try {
      sampler.draw(63, rng);
      FAIL() << method_name(m);
    } catch (const cream::Error& e) {
      EXPECT_NE(std::string(e.what()).find("at least 64 tokens"), std::string::npos) << e.what();
    }
  }
}
