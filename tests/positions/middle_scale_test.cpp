// Normal CDF / quantile and the shape of the middle-scale map.
#include <gtest/gtest.h>

#include <cmath>

#include "cream/positions/middle_scale.h"
#include "cream/util/error.h"

using namespace cream::positions;

TEST(NormalFunctions, KnownValuesAndRoundTrip) {
  EXPECT_NEAR(normal_cdf(0), 0.5, 1e-16);
  EXPECT_NEAR(normal_cdf(1.959963984540054), 0.975, 1e-15);
  EXPECT_NEAR(normal_cdf(-7 / 3.0), 0.0098153286286453, 1e-15);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-13);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
  for (const double p : {1e-300, 1e-100, 1e-20, 1e-8, 0.001, 0.02425, 0.1, 0.3, 0.5, 0.7, 0.97575, 0.999, 1 - 1e-12}) {
    const double z = normal_quantile(p);
    const double back = p < 0.5 ? normal_cdf(z) : 1 - normal_cdf(-z) ;
    EXPECT_NEAR(back / p, 1.0, 1e-12) << "p = " << p;
  }
  EXPECT_THROW(normal_quantile(0.0), cream::Error);
  EXPECT_THROW(normal_quantile(1.0), cream::Error);
}

TEST(MiddleScale, MapsAreMonotoneAndStayInRange) {
  for (const bool exact : {false, true}) {
    for (const std::int64_t f : {2, 4, 8, 64}) {
      for (const double sigma : {0.3, 3.0, 50.0}) {
        MiddleScaleLaw law(f, sigma, exact);
        double previous = 2.0;
        for (int i = 0; i <= 20000; ++i) {
          const double u = std::min(i / 20000.0, 1.0 - 0x1.0p-53);
          const double x = law.x_for_uniform(u);
          ASSERT_GE(x, 2.0) << "exact " << exact << " f " << f << " sigma " << sigma << " u " << u;
          ASSERT_LE(x, 2.0 * f);
          ASSERT_GE(x, previous - 1e-12) << "f " << f << " sigma " << sigma << " u " << u;
          previous = x;
        }
      }
    }
  }
}

TEST(MiddleScale, ExactTruncatedNormalQuantiles) {
  // x(u) is the inverse of the truncated CDF: F(x) = (Phi((x-mu)/s) - Phi(a)) / (Phi(b) - Phi(a)).
  const double mu = 9, s = 3, a = normal_cdf(-7 / 3.0), b = normal_cdf(7 / 3.0);
  MiddleScaleLaw law(8, 3.0, true);
  for (const double u : {0.0, 1e-9, 0.01, 0.25, 0.5, 0.75, 0.99, 1 - 1e-9}) {
    const double x = law.x_for_uniform(u);
    EXPECT_NEAR((normal_cdf((x - mu) / s) - a) / (b - a), u, 1e-12) << "u = " << u;
  }
  EXPECT_NEAR(law.x_for_uniform(0.5), 9.0, 1e-12);
}
