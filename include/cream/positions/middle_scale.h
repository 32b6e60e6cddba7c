// The law of CREAM's middle scale r (docs/method.md step 3), in two variants:
//  * the authors' approximation (default): u ~ U(0,1) mapped through the
//    piecewise-linear interpolation of the points (c_j, x_j),
//    x_j = 2 + j (2f - 2) / 999, c_j = Phi((x_j - mu) / sigma), mu = 1 + f,
//    j = 0..999 (c NOT renormalised: u < c_0 gives x = 2, u > c_999 gives
//    x = 2f, so each end carries a point mass Phi((1 - f) / sigma));
//  * exact_truncnorm: x from the normal N(mu, sigma^2) truncated to [2, 2f],
//    by inverse CDF: x = mu + sigma * Phi^-1(Phi(a) + u (Phi(b) - Phi(a))),
//    a = (2 - mu)/sigma, b = (2f - mu)/sigma (computed on the side of the
//    median that keeps precision). No point masses; r = 2f has probability 0.
// In both cases r = floor(x), an integer in [2, 2f].
#pragma once

#include <cstdint>
#include <vector>

#include "cream/util/rng.h"

namespace cream::positions {

// Standard normal CDF (via erfc, accurate in both tails).
double normal_cdf(double z);
// Its inverse on (0, 1) (rational initial guess refined by Halley steps).
double normal_quantile(double p);

class MiddleScaleLaw {
 public:
  static constexpr int kGridPoints = 1000;

  MiddleScaleLaw(std::int64_t scale_factor, double sigma, bool exact_truncnorm);

  // x for a given u in [0, 1) (deterministic; exposed for tests).
  double x_for_uniform(double u) const;
  // One draw of r = floor(x), consuming one uniform from `rng`.
  std::int64_t draw(util::Rng& rng) const;

  std::int64_t min_scale() const { return 2; }
  std::int64_t max_scale() const { return 2 * scale_factor_; }

 private:
  double interpolated_x(double u) const;
  double truncated_normal_x(double u) const;

  std::int64_t scale_factor_;
  double mu_, sigma_;
  bool exact_;
  std::vector<double> grid_x_, grid_c_;
  double lower_tail_ = 0, upper_tail_ = 0;  // Phi(a) and 1 - Phi(b) for the exact law
};

}  // namespace cream::positions
