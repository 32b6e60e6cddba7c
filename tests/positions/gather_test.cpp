// Token gathering, fallbacks for short windows, and reproducibility.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "cream/positions/sampler.h"
#include "cream/util/error.h"
#include "positions/test_support.h"

using namespace cream::positions;
using cream::positions::testing::make_options;
using cream::util::Rng;

namespace {

// A document whose token at index i encodes i, so gathered tokens reveal where they came from.
std::vector<std::int32_t> numbered_document(std::int64_t length) {
  std::vector<std::int32_t> doc(length);
  for (std::int64_t i = 0; i < length; ++i) doc[i] = static_cast<std::int32_t>(1000 + i);
  return doc;
}

}  // namespace

TEST(Gather, TokensFromAnLWindowSitAtTheirPositions) {
  const std::int64_t n = 512, l = 4096;
  Sampler sampler(make_options(Method::cream, n, l));
  Rng rng(8);
  const auto doc = numbered_document(l);
  for (int i = 0; i < 500; ++i) {
    const Sample s = sampler.draw(l, rng);
    const auto tokens = gather(doc, s);
    ASSERT_EQ(tokens.size(), static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) ASSERT_EQ(tokens[j], 1000 + s.positions[j]);
    // The distance between any two gathered tokens in the document equals
    // the distance their positions claim.
    ASSERT_EQ(tokens[n - 1] - tokens[0], s.positions[n - 1] - s.positions[0]);
  }
}

TEST(Gather, ShortWindowFallbackNeverDuplicatesTokens) {
  const std::int64_t n = 96, l = 768;
  Sampler sampler(make_options(Method::cream, n, l));
  Rng rng(9);
  int fallbacks = 0;
  for (std::int64_t d = n; d < l; d += 3) {
    const auto doc = numbered_document(d);
    for (int i = 0; i < 20; ++i) {
      const Sample s = sampler.draw(d, rng);
      const auto tokens = gather(doc, s);
      const std::set<std::int32_t> distinct(tokens.begin(), tokens.end());
      ASSERT_EQ(distinct.size(), tokens.size()) << "|D| = " << d;
      // Tail tokens are the document's last t tokens, in order.
      const std::int64_t t = s.info.tail, m = s.info.middle, h = s.info.head;
      for (std::int64_t j = 0; j < t; ++j) ASSERT_EQ(tokens[n - t + j], 1000 + d - t + j);
      if (s.info.middle_fallback) {
        ++fallbacks;
        // The m tokens right before the tail.
        for (std::int64_t j = 0; j < m; ++j) ASSERT_EQ(tokens[h + j], 1000 + d - t - m + j);
      } else {
        for (std::int64_t j = 0; j < m; ++j) ASSERT_EQ(tokens[h + j], 1000 + s.positions[h + j]);
      }
    }
  }
  EXPECT_GT(fallbacks, 100);
}

TEST(Gather, PoseTakesTwoChunksFromTheCutDocument) {
  const std::int64_t n = 64, l = 256;
  Sampler sampler(make_options(Method::pose, n, l));
  Rng rng(10);
  const auto doc = numbered_document(3 * l);
  for (int i = 0; i < 500; ++i) {
    const Sample s = sampler.draw(3 * l, rng);
    const auto tokens = gather(doc, s);
    const std::int64_t a = s.info.head, b = s.info.chunk_end;
    ASSERT_LE(b, l) << "cut to L tokens";
    for (std::int64_t j = 0; j < a; ++j) ASSERT_EQ(tokens[j], 1000 + j);
    for (std::int64_t j = a; j < n; ++j) ASSERT_EQ(tokens[j], 1000 + b - (n - a) + (j - a));
  }
}

TEST(Gather, IndexOutsideTheWindowIsAnError) {
  Sampler sampler(make_options(Method::cream, 64, 256));
  Rng rng(1);
  const Sample s = sampler.draw(256, rng);
  const auto short_doc = numbered_document(100);
  EXPECT_THROW(gather(short_doc, s), cream::Error);
}

TEST(Reproducibility, SameSeedSameDrawsAndStateRestoreResumes) {
  for (const Method m : {Method::cream, Method::pose, Method::randpos}) {
    Options options = make_options(m, 512, 4096);
    options.branch_per = BranchPer::batch;
    options.branch_batch_size = 7;
    Sampler first(options), second(options);
    Rng rng_a(123), rng_b(123);
    for (int i = 0; i < 30; ++i) {
      const Sample a = first.draw(4096, rng_a), b = second.draw(4096, rng_b);
      ASSERT_EQ(a.positions, b.positions);
      ASSERT_EQ(a.token_indices, b.token_indices);
    }
    // Checkpoint (rng state + sampler state), continue, then resume a fresh sampler.
    const auto rng_state = rng_a.state();
    const std::int64_t draws = first.draws();
    const Branch batch_branch = first.batch_branch();
    std::vector<std::vector<std::int64_t>> expected;
    for (int i = 0; i < 30; ++i) expected.push_back(first.draw(4096, rng_a).positions);
    Sampler resumed(options);
    resumed.restore(draws, batch_branch);
    Rng rng_resumed;
    rng_resumed.set_state(rng_state);
    for (int i = 0; i < 30; ++i) ASSERT_EQ(resumed.draw(4096, rng_resumed).positions, expected[i]) << method_name(m);
    // A different seed gives different draws.
    Sampler other(options);
    Rng rng_other(124);
    EXPECT_NE(other.draw(4096, rng_other).positions, Sampler(options).draw(4096, *std::make_unique<Rng>(123)).positions);
  }
}
