// The samplers' laws against the exact laws computed independently by
// scripts/reference/positions_law.py (committed in tests/fixtures/positions/):
// chi-square goodness of fit at fixed seeds, p > 1e-3.
#include <gtest/gtest.h>

#include <string>

#include "cream/positions/sampler.h"
#include "positions/law_testing.h"
#include "positions/test_support.h"

using namespace cream::positions;
using cream::positions::testing::BinnedLaw;
using cream::positions::testing::chi_square_test;
using cream::positions::testing::load_fixture;
using cream::positions::testing::make_options;
using cream::util::Rng;

namespace {

constexpr double kMinPValue = 1e-3;

struct LawCase {
  std::string fixture;
  int draws;
};

Options options_from(const nlohmann::json& config, Method method) {
  Options options = make_options(method, config["train_length"], config["target_length"]);
  options.sigma = config["sigma"];
  options.continuity_length = config["continuity_length"].get<std::int64_t>();
  options.relativity_share = config["relativity_share"];
  return options;
}

void expect_fits(const nlohmann::json& law, const std::vector<std::int64_t>& values, const std::string& what) {
  const auto result = chi_square_test(BinnedLaw::from_json(law), values);
  EXPECT_GT(result.p_value, kMinPValue) << what << ": " << result.describe();
  EXPECT_GT(result.dof, 0) << what;
}

}  // namespace

class CreamLaw : public ::testing::TestWithParam<std::tuple<LawCase, bool>> {};

TEST_P(CreamLaw, BranchScaleAndMiddleEndFollowTheExactLaw) {
  const auto& [law_case, exact] = GetParam();
  const auto fixture = load_fixture(law_case.fixture);
  Options options = options_from(fixture["config"], Method::cream);
  options.exact_truncnorm = exact;
  Sampler sampler(options);
  Rng rng(exact ? 77 : 78);
  std::vector<std::int64_t> branches, scales, ends;
  std::int64_t relativity = 0;
  for (int i = 0; i < law_case.draws; ++i) {
    const Sample s = sampler.draw(options.target_length, rng);
    relativity += s.info.branch == Branch::relativity;
    scales.push_back(s.info.scale);
    ends.push_back(s.info.middle_end);
  }
  const auto& cream = fixture["cream"];
  // Branch share: binomial, as a two-bin chi-square.
  const double p = cream["p_relativity"];
  const nlohmann::json branch_law = {{"offset", 0}, {"width", 1}, {"pmf", {1 - p, p}}, {"mass_below", 0.0}, {"mass_above", 0.0}};
  for (int i = 0; i < law_case.draws; ++i) branches.push_back(i < relativity ? 1 : 0);
  expect_fits(branch_law, branches, "branch share");
  expect_fits(exact ? cream["r_exact_truncnorm"] : cream["r"], scales, "middle scale r");
  expect_fits(exact ? cream["e_exact_truncnorm"] : cream["e"], ends, "middle end e");
  if (exact) {
    EXPECT_EQ(std::count(scales.begin(), scales.end(), 2 * options.scale_factor()), 0)
        << "the exact truncated normal has no point mass at 2f";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CreamLaw,
                         ::testing::Combine(::testing::Values(LawCase{"cream_law_N64_L256.json", 40000},
                                                              LawCase{"cream_law_N40_L200_custom.json", 40000},
                                                              LawCase{"cream_law_N512_L4096.json", 30000},
                                                              LawCase{"cream_law_N4096_L32768.json", 20000}),
                                            ::testing::Bool()));

TEST(CreamLaw, PointMassesAtTheEndsOfTheScaleRange) {
  // The authors' interpolation is not renormalised: r = 2f carries Phi((1-f)/sigma)
  // exactly (~0.98% at f = 8, sigma = 3).
  const auto fixture = load_fixture("cream_law_N4096_L32768.json");
  const double mass = fixture["cream"]["r_point_mass_at_2f"];
  EXPECT_NEAR(mass, 0.0098153286286453, 1e-12);
  EXPECT_NEAR(fixture["cream"]["r"]["pmf"].back().get<double>(), mass, 1e-15);
  MiddleScaleLaw law(8, 3.0, false);
  EXPECT_EQ(law.x_for_uniform(0.0), 2.0);
  EXPECT_EQ(law.x_for_uniform(mass * 0.999), 2.0);
  EXPECT_EQ(law.x_for_uniform(1.0 - mass * 0.999), 16.0);
  EXPECT_GT(law.x_for_uniform(mass * 1.001), 2.0);
  EXPECT_NEAR(law.x_for_uniform(0.5), 9.0, 1e-12);  // the median is mu = 1 + f
}

TEST(CreamLaw, BranchPerBatchTossesOncePerBatch) {
  Options options = make_options(Method::cream, 64, 256);
  options.branch_per = BranchPer::batch;
  options.branch_batch_size = 50;
  Sampler sampler(options);
  Rng rng(4);
  std::vector<std::int64_t> batch_coins;
  for (int batch = 0; batch < 2000; ++batch) {
    const Branch first = sampler.draw(256, rng).info.branch;
    for (int i = 1; i < 50; ++i) ASSERT_EQ(sampler.draw(256, rng).info.branch, first) << "batch " << batch;
    batch_coins.push_back(first == Branch::relativity ? 1 : 0);
  }
  const nlohmann::json fair = {{"offset", 0}, {"width", 1}, {"pmf", {0.5, 0.5}}, {"mass_below", 0.0}, {"mass_above", 0.0}};
  expect_fits(fair, batch_coins, "per-batch coin");
}

TEST(PoseLaw, ChunkStartShiftAndEndFollowTheExactLaw) {
  for (const std::string name : {"cream_law_N64_L256.json", "cream_law_N512_L4096.json", "cream_law_N4096_L32768.json"}) {
    const auto fixture = load_fixture(name);
    const Options options = options_from(fixture["config"], Method::pose);
    const std::int64_t n = options.train_length, l = options.target_length;
    Sampler sampler(options);
    Rng rng(31);
    for (const auto& [window_text, b_law] : fixture["pose"]["b_for_window"].items()) {
      const std::int64_t window = std::stoll(window_text);
      std::vector<std::int64_t> a, s, first_shifted, b;
      for (int i = 0; i < 20000; ++i) {
        const Sample sample = sampler.draw(window, rng);
        a.push_back(sample.info.head);
        s.push_back(sample.info.shift);
        first_shifted.push_back(sample.positions[sample.info.head]);
        b.push_back(sample.info.chunk_end);
      }
      const std::string what = name + " window " + window_text;
      expect_fits(fixture["pose"]["a"], a, what + " a");
      expect_fits(fixture["pose"]["s"], s, what + " s");
      expect_fits(fixture["pose"]["first_shifted"], first_shifted, what + " a + s");
      if (window > n) expect_fits(b_law, b, what + " b");
      if (window == n) {
        EXPECT_EQ(*std::min_element(b.begin(), b.end()), n);
      }
      (void)l;
    }
  }
}

TEST(RandposLaw, SmallestAndMedianPositionsFollowTheExactLaw) {
  for (const auto& [name, draws] : {std::make_pair(std::string("cream_law_N64_L256.json"), 20000),
                                    std::make_pair(std::string("cream_law_N512_L4096.json"), 10000),
                                    std::make_pair(std::string("cream_law_N4096_L32768.json"), 1500)}) {
    const auto fixture = load_fixture(name);
    const Options options = options_from(fixture["config"], Method::randpos);
    const std::int64_t k = fixture["randpos"]["order_statistic_k"];
    Sampler sampler(options);
    Rng rng(17);
    std::vector<std::int64_t> smallest, kth;
    for (int i = 0; i < draws; ++i) {
      const Sample s = sampler.draw(options.train_length, rng);
      smallest.push_back(s.positions.front());
      kth.push_back(s.positions[k - 1]);
    }
    expect_fits(fixture["randpos"]["min"], smallest, name + " smallest position");
    expect_fits(fixture["randpos"]["order_statistic"], kth, name + " k-th smallest position");
  }
}
