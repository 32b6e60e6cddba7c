// The chi-square machinery the statistical tests rely on, checked against
// closed forms and against scipy.stats.chi2.sf values.
#include <gtest/gtest.h>

#include <cmath>

#include "positions/law_testing.h"

using namespace cream::positions::testing;

TEST(ChiSquare, SurvivalMatchesClosedFormsAndScipy) {
  for (const double x : {0.1, 1.0, 3.0, 10.0, 40.0}) {
    EXPECT_NEAR(chi_square_survival(x, 2), std::exp(-x / 2), 1e-14) << x;
    EXPECT_NEAR(chi_square_survival(x, 1), std::erfc(std::sqrt(x / 2)), 1e-14) << x;
  }
  // scipy.stats.chi2.sf(x, dof)
  EXPECT_NEAR(chi_square_survival(3.0, 5), 0.6999858358786276, 1e-13);
  EXPECT_NEAR(chi_square_survival(0.5, 3), 0.9188914116546758, 1e-13);
  EXPECT_NEAR(chi_square_survival(100, 50) / 3.454931382984871e-05, 1.0, 1e-10);
  EXPECT_NEAR(chi_square_survival(30, 60), 0.9995815503316723, 1e-13);
  EXPECT_NEAR(chi_square_survival(456.815, 435), 0.22659860298326603, 1e-12);
  EXPECT_NEAR(chi_square_survival(825.856, 435) / 1.4317447799120392e-26, 1.0, 1e-8);
  EXPECT_EQ(chi_square_survival(0, 4), 1.0);
}

TEST(ChiSquare, MergesSmallBinsAndDetectsAWrongLaw) {
  BinnedLaw fair;
  fair.pmf = std::vector<double>(10, 0.1);
  std::vector<std::int64_t> uniform_values, skewed_values;
  for (int i = 0; i < 1000; ++i) {
    uniform_values.push_back(i % 10);
    skewed_values.push_back(i % 10 < 5 ? i % 10 : (i % 3));
  }
  const auto ok = chi_square_test(fair, uniform_values);
  EXPECT_EQ(ok.statistic, 0.0);
  EXPECT_EQ(ok.dof, 9);
  EXPECT_LT(chi_square_test(fair, skewed_values).p_value, 1e-10);
  // 30 draws: expected 3 per bin, so bins are merged in pairs (expected 6).
  std::vector<std::int64_t> few(uniform_values.begin(), uniform_values.begin() + 30);
  EXPECT_EQ(chi_square_test(fair, few).dof, 4);
  // Values outside the stored range land in the (zero-mass) outer bins.
  std::vector<std::int64_t> outside = uniform_values;
  outside.push_back(-5);
  outside.push_back(20);
  EXPECT_LT(chi_square_test(fair, outside).p_value, 1.0);
}
