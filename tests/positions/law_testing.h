// Helpers for the statistical tests: exact laws from the committed fixtures
// (scripts/reference/positions_law.py) and a chi-square goodness-of-fit test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cream::positions::testing {

// Survival function of the chi-square law with `dof` degrees of freedom:
// P(X > x) = Q(dof/2, x/2), the regularized upper incomplete gamma function.
double chi_square_survival(double x, double dof);

// pmf[i] = P(offset + i*width <= X < offset + (i+1)*width); mass outside the
// stored range is mass_below / mass_above.
struct BinnedLaw {
  std::int64_t offset = 0, width = 1;
  std::vector<double> pmf;
  double mass_below = 0, mass_above = 0;
  static BinnedLaw from_json(const nlohmann::json& json);
};

struct ChiSquareResult {
  double statistic = 0, p_value = 0;
  int dof = 0;
  std::string describe() const;
};

// Goodness of fit of the observed values to the law: adjacent bins are merged
// (left to right) until each expected count is >= 5.
ChiSquareResult chi_square_test(const BinnedLaw& law, const std::vector<std::int64_t>& values);

// tests/fixtures/positions/<name>, parsed.
nlohmann::json load_fixture(const std::string& name);

}  // namespace cream::positions::testing
