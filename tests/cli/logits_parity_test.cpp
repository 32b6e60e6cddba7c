// `cream logits` on HF-layout folders it did not write (written by hand by
// scripts/reference/llama_reference.py) against that script's independent float64
// forward pass: every RoPE variant, GQA, MHA, biases, tied embeddings (with and without
// a stray lm_head), positions up to 262143. Tolerance (issue: foundation): per row,
// max|a - b| <= 1e-4 x max|reference row|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_helpers.h"
#include "cream/io/safetensors.h"
#include "cream/util/fs.h"

namespace fs = std::filesystem;
using cream::test::run_cream;

namespace {

const fs::path kFixtures = fs::path(CREAM_SOURCE_DIR) / "tests" / "fixtures" / "model";

std::string join(const nlohmann::json& values) {
  std::string text;
  for (const auto& v : values) text += (text.empty() ? "" : " ") + std::to_string(v.get<int64_t>());
  return text;
}

// The case's model as a folder of its own: its config.json next to the shared weights.
fs::path assemble_model(const nlohmann::json& test_case, const fs::path& dir) {
  const auto folder = dir / test_case["name"].get<std::string>();
  fs::create_directories(folder);
  fs::copy_file(kFixtures / test_case["config"].get<std::string>(), folder / "config.json");
  fs::copy_file(kFixtures / test_case["weights"].get<std::string>() / "model.safetensors",
                folder / "model.safetensors");
  return folder;
}

std::vector<float> read_f32(const cream::io::SafetensorsFile& file, const std::string& name) {
  const auto* info = file.find(name);
  EXPECT_NE(info, nullptr) << name;
  std::vector<float> values(info->numel());
  std::memcpy(values.data(), file.data(*info), info->nbytes());
  return values;
}

}  // namespace

TEST(LogitsParity, AgreesWithTheFloat64ReferenceForEveryCase) {
  const auto dir = cream::test::fresh_dir("parity");
  const auto cases = nlohmann::json::parse(cream::util::read_text_file(kFixtures / "logits_cases.json"));
  cream::io::SafetensorsFile expected_file(kFixtures / "expected_logits.safetensors");
  ASSERT_GE(cases.size(), 13u);
  for (const auto& test_case : cases) {
    const auto name = test_case["name"].get<std::string>();
    const auto model = assemble_model(test_case, dir);
    const auto* info = expected_file.find(name);
    ASSERT_NE(info, nullptr) << name;
    const int64_t rows_per_case = info->shape[1], vocab = info->shape[2];
    const auto* expected = reinterpret_cast<const double*>(expected_file.data(*info));
    // Dynamic NTK depends on the largest position of the forward pass: the reference ran
    // both rows in one batch, so only the row holding the batch maximum is comparable.
    const size_t rows = name == "rope_dynamic" ? 1 : test_case["tokens"].size();
    for (size_t b = 0; b < rows; ++b) {
      const auto out = dir / (name + "_" + std::to_string(b) + ".safetensors");
      auto result = run_cream("logits --model " + model.string() + " --tokens \"" + join(test_case["tokens"][b]) +
                              "\" --positions \"" + join(test_case["positions"][b]) + "\" --out " + out.string() +
                              " --threads 1");
      ASSERT_EQ(result.status, 0) << name << ": " << result.output;
      cream::io::SafetensorsFile got_file(out);
      const auto got = read_f32(got_file, "logits");
      ASSERT_EQ(static_cast<int64_t>(got.size()), rows_per_case * vocab) << name;
      for (int64_t t = 0; t < rows_per_case; ++t) {
        const double* reference = expected + (b * rows_per_case + t) * vocab;
        double scale = 0, worst = 0;
        for (int64_t v = 0; v < vocab; ++v) {
          scale = std::max(scale, std::abs(reference[v]));
          worst = std::max(worst, std::abs(reference[v] - got[t * vocab + v]));
        }
        EXPECT_LE(worst, 1e-4 * scale) << name << " row " << b << " token " << t;
      }
    }
  }
  fs::remove_all(dir);
}
