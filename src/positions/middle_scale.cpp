#include "cream/positions/middle_scale.h"

#include <algorithm>
#include <cmath>

#include "cream/util/error.h"

namespace cream::positions {

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

namespace {

// Acklam's rational approximation of the normal quantile (relative error
// ~1e-9), used only as a starting point for the Halley refinement below.
double quantile_initial_guess(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  if (p < kLow) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - kLow) return -quantile_initial_guess(1 - p);
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

}  // namespace

double normal_quantile(double p) {
  constexpr double kSqrtTwoPi = 2.5066282746310005024157652848110;
  CREAM_CHECK(p > 0 && p < 1, "normal_quantile: p must lie in (0, 1), got " + std::to_string(p));
  // Work in the lower half, where Phi(z) = p is resolved to full relative precision.
  if (p > 0.5) return -normal_quantile(1 - p);
  double z = quantile_initial_guess(p);
  for (int step = 0; step < 2; ++step) {
    const double error = normal_cdf(z) - p;
    const double ratio = error * kSqrtTwoPi * std::exp(0.5 * z * z);  // error / pdf(z)
    z -= ratio / (1 + 0.5 * z * ratio);                                       // Halley
  }
  return z;
}

MiddleScaleLaw::MiddleScaleLaw(std::int64_t scale_factor, double sigma, bool exact_truncnorm)
    : scale_factor_(scale_factor), mu_(1.0 + static_cast<double>(scale_factor)), sigma_(sigma), exact_(exact_truncnorm) {
  CREAM_CHECK(scale_factor >= 2, "MiddleScaleLaw: scale factor f must be >= 2");
  CREAM_CHECK(sigma > 0, "MiddleScaleLaw: sigma must be positive");
  const double f = static_cast<double>(scale_factor);
  grid_x_.resize(kGridPoints);
  grid_c_.resize(kGridPoints);
  for (int j = 0; j < kGridPoints; ++j) {
    grid_x_[j] = 2.0 + j * (2.0 * f - 2.0) / (kGridPoints - 1);
    grid_c_[j] = normal_cdf((grid_x_[j] - mu_) / sigma_);
  }
  lower_tail_ = normal_cdf((2.0 - mu_) / sigma_);
  upper_tail_ = normal_cdf(-(2.0 * f - mu_) / sigma_);
}

double MiddleScaleLaw::interpolated_x(double u) const {
  // First grid point with c > u; u < c_0 and u >= c_999 are the end masses.
  const auto above = std::upper_bound(grid_c_.begin(), grid_c_.end(), u);
  if (above == grid_c_.begin()) return grid_x_.front();
  if (above == grid_c_.end()) return grid_x_.back();
  const std::size_t j = static_cast<std::size_t>(above - grid_c_.begin()) - 1;  // c_j <= u < c_{j+1}
  // The fraction first: with tiny sigma, c can step from 0 to a denormal, and
  // a slope dx/dc would overflow.
  const double fraction = (u - grid_c_[j]) / (grid_c_[j + 1] - grid_c_[j]);
  return std::min(grid_x_[j] + fraction * (grid_x_[j + 1] - grid_x_[j]), grid_x_[j + 1]);
}

double MiddleScaleLaw::truncated_normal_x(double u) const {
  const double mass = 1.0 - lower_tail_ - upper_tail_;
  const double p = lower_tail_ + u * mass;
  double z = 0;
  if (p <= 0.5) {
    z = p > 0 ? normal_quantile(p) : (2.0 - mu_) / sigma_;
  } else {
    const double q = upper_tail_ + (1.0 - u) * mass;  // 1 - p without cancellation
    z = q > 0 ? -normal_quantile(q) : (2.0 * scale_factor_ - mu_) / sigma_;
  }
  return std::clamp(mu_ + sigma_ * z, 2.0, 2.0 * static_cast<double>(scale_factor_));
}

double MiddleScaleLaw::x_for_uniform(double u) const {
  return exact_ ? truncated_normal_x(u) : interpolated_x(u);
}

std::int64_t MiddleScaleLaw::draw(util::Rng& rng) const {
  const double x = x_for_uniform(rng.uniform01());
  const auto r = static_cast<std::int64_t>(std::floor(x));
  return std::clamp<std::int64_t>(r, min_scale(), max_scale());
}

}  // namespace cream::positions
