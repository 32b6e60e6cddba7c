#include "positions/law_testing.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cream::positions::testing {
namespace {

// Regularized lower gamma P(a, x) by its power series (x < a + 1).
double lower_gamma_series(double a, double x) {
  double term = 1.0 / a, sum = term;
  for (int n = 1; n < 10000; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * 1e-16) break;
  }
  return sum * std::exp(-x + a * std::log(x) - std::lgamma(a));
}

// Regularized upper gamma Q(a, x) by its continued fraction (x >= a + 1),
// evaluated with the modified Lentz method.
double upper_gamma_fraction(double a, double x) {
  constexpr double kTiny = 1e-300;
  double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-16) break;
  }
  return std::exp(-x + a * std::log(x) - std::lgamma(a)) * h;
}

}  // namespace

double chi_square_survival(double x, double dof) {
  if (x <= 0) return 1.0;
  const double a = dof / 2, half_x = x / 2;
  return half_x < a + 1 ? 1.0 - lower_gamma_series(a, half_x) : upper_gamma_fraction(a, half_x);
}

BinnedLaw BinnedLaw::from_json(const nlohmann::json& json) {
  BinnedLaw law;
  law.offset = json.at("offset").get<std::int64_t>();
  law.width = json.at("width").get<std::int64_t>();
  law.pmf = json.at("pmf").get<std::vector<double>>();
  law.mass_below = json.at("mass_below").get<double>();
  law.mass_above = json.at("mass_above").get<double>();
  return law;
}

std::string ChiSquareResult::describe() const {
  std::ostringstream out;
  out << "chi2 = " << statistic << ", dof = " << dof << ", p = " << p_value;
  return out.str();
}

ChiSquareResult chi_square_test(const BinnedLaw& law, const std::vector<std::int64_t>& values) {
  // Bin 0: below the stored range; bins 1..n: law.pmf; bin n+1: above.
  const std::size_t n = law.pmf.size();
  std::vector<double> expected(n + 2), observed(n + 2, 0.0);
  const double total = static_cast<double>(values.size());
  expected[0] = law.mass_below * total;
  for (std::size_t i = 0; i < n; ++i) expected[i + 1] = law.pmf[i] * total;
  expected[n + 1] = law.mass_above * total;
  for (const std::int64_t v : values) {
    if (v < law.offset) {
      observed[0] += 1;
      continue;
    }
    const auto bin = static_cast<std::size_t>((v - law.offset) / law.width);
    observed[bin < n ? bin + 1 : n + 1] += 1;
  }
  std::vector<double> merged_expected, merged_observed;
  double e = 0, o = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    e += expected[i];
    o += observed[i];
    if (e >= 5) {
      merged_expected.push_back(e);
      merged_observed.push_back(o);
      e = o = 0;
    }
  }
  if (merged_expected.empty()) throw std::runtime_error("chi_square_test: too few observations");
  merged_expected.back() += e;  // the remainder joins the last group
  merged_observed.back() += o;
  ChiSquareResult result;
  for (std::size_t i = 0; i < merged_expected.size(); ++i) {
    const double diff = merged_observed[i] - merged_expected[i];
    result.statistic += diff * diff / merged_expected[i];
  }
  result.dof = static_cast<int>(merged_expected.size()) - 1;
  result.p_value = result.dof > 0 ? chi_square_survival(result.statistic, result.dof) : 1.0;
  return result;
}

nlohmann::json load_fixture(const std::string& name) {
  const std::string path = std::string(CREAM_SOURCE_DIR) + "/tests/fixtures/positions/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path);
  return nlohmann::json::parse(in);
}

}  // namespace cream::positions::testing
