#include <gtest/gtest.h>

#include <cmath>

#include "cream/model/config.h"
#include "cream/model/rope.h"
#include "model_fixtures.h"

using cream::model::LlamaConfig;
using cream::model::testing::fixture;
using cream::model::testing::read_json;

// Every variant, several configs: inverse frequencies and attention factor against the
// independent float64 reference (scripts/reference/llama_reference.py) to 1e-12 relative.
TEST(Rope, FrequenciesMatchReferenceForEveryVariant) {
  const auto cases = read_json(fixture("rope_expected.json"));
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    const std::string name = c["name"];
    const auto config = LlamaConfig::from_json(c["config"], name);
    const auto got = cream::model::rope_frequencies(config, c["max_position"].get<int64_t>());
    const auto expected = c["inv_freq"].get<std::vector<double>>();
    ASSERT_EQ(got.inv_freq.size(), expected.size()) << name;
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_NEAR(got.inv_freq[i], expected[i], 1e-12 * std::abs(expected[i])) << name << " i=" << i;
    const double factor = c["attention_factor"];
    EXPECT_NEAR(got.attention_factor, factor, 1e-12 * std::abs(factor)) << name;
  }
}

TEST(Rope, ScaledVariantsReallyDifferFromPlainRope) {
  // Guards against a fixture where every variant silently degenerates to the default.
  const auto cases = read_json(fixture("rope_expected.json"));
  const auto plain = cases[0]["inv_freq"].get<std::vector<double>>();
  for (const auto& c : cases) {
    const std::string name = c["name"];
    if (name == "default" || name == "dynamic_below_window" || name == "yarn_factor_below_one" ||
        c["inv_freq"].size() != plain.size() || c["config"].value("rope_theta", 10000.0) != 10000.0 ||
        c["config"].contains("rope_parameters"))
      continue;
    EXPECT_NE(c["inv_freq"].get<std::vector<double>>(), plain) << name;
  }
}

TEST(Rope, TablesAreFloat64AnglesCastLate) {
  auto config = LlamaConfig::from_json(read_json(fixture("rope_configs/yarn.json")), "yarn");
  const auto positions = torch::tensor({0L, 5L, 4095L, 262143L}, torch::kLong).view({2, 2});
  const auto freqs = cream::model::rope_frequencies(config, 262143);
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kDouble}) {
    const auto tables = cream::model::rope_tables(config, positions, dtype);
    ASSERT_EQ(tables.cos.scalar_type(), dtype);
    ASSERT_EQ(tables.cos.sizes(), (std::vector<int64_t>{2, 2, config.head_dim}));
    const auto cos = tables.cos.to(torch::kDouble);
    const auto sin = tables.sin.to(torch::kDouble);
    const double tolerance = dtype == torch::kBFloat16 ? 1e-2 : (dtype == torch::kFloat ? 1e-7 : 1e-15);
    const int64_t half = config.head_dim / 2;
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t t = 0; t < 2; ++t) {
        const double p = static_cast<double>(positions[b][t].item<int64_t>());
        for (int64_t i = 0; i < config.head_dim; ++i) {
          const double angle = p * freqs.inv_freq[static_cast<size_t>(i % half)];
          EXPECT_NEAR(cos[b][t][i].item<double>(), std::cos(angle) * freqs.attention_factor, tolerance);
          EXPECT_NEAR(sin[b][t][i].item<double>(), std::sin(angle) * freqs.attention_factor, tolerance);
        }
      }
    }
  }
}

TEST(Rope, DynamicDependsOnTheLargestPositionOfTheBatch) {
  auto config = LlamaConfig::from_json(read_json(fixture("rope_configs/dynamic.json")), "dynamic");
  const auto short_batch = torch::tensor({0L, 1L, 2L}, torch::kLong).view({1, 3});
  const auto long_batch = torch::tensor({0L, 1L, 9000L}, torch::kLong).view({1, 3});
  const auto a = cream::model::rope_tables(config, short_batch, torch::kDouble);
  const auto b = cream::model::rope_tables(config, long_batch, torch::kDouble);
  // Position 1 gets a different angle once the batch reaches past the window.
  EXPECT_GT((a.cos[0][1] - b.cos[0][1]).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(cream::model::rope_depends_on_positions(config));
}

TEST(Rope, ApplyRopeRotatesPairsByTheAngle) {
  // A vector with x1 = 1 and x2 = 0 in pair i becomes (cos a, sin a) in that pair.
  LlamaConfig config = LlamaConfig::from_json(read_json(fixture("rope_configs/default.json")), "default");
  const int64_t d = config.head_dim, half = d / 2;
  const auto positions = torch::tensor({3L}, torch::kLong).view({1, 1});
  const auto tables = cream::model::rope_tables(config, positions, torch::kDouble);
  auto x = torch::zeros({1, 1, 1, d}, torch::kDouble);
  x[0][0][0][1] = 1.0;
  const auto y = cream::model::apply_rope(x, tables);
  const double angle = 3.0 * cream::model::rope_frequencies(config).inv_freq[1];
  EXPECT_NEAR(y[0][0][0][1].item<double>(), std::cos(angle), 1e-15);
  EXPECT_NEAR(y[0][0][0][1 + half].item<double>(), std::sin(angle), 1e-15);
  EXPECT_NEAR(y.abs().sum().item<double>(), std::abs(std::cos(angle)) + std::abs(std::sin(angle)), 1e-15);
}
