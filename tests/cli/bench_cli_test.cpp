// `cream bench train` as a user runs it: one JSON object with the shape echoed and a
// positive speed, a loss near ln(vocab) for a fresh model (the step really trains the
// model it built), and bad options as one line.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "cli_helpers.h"

using cream::test::contains;
using cream::test::run_cream;

TEST(BenchCli, TrainPrintsOneJsonObjectPerRun) {
  for (const char* dtype : {"fp32", "bf16"}) {
    const auto result = run_cream(std::string("bench train --layers 1 --hidden 32 --heads 2 --kv-heads 2 ") +
                                  "--intermediate 64 --vocab 64 --batch 2 --seq 16 --steps 2 --warmup 1 " +
                                  "--threads 1 --dtype " + dtype);
    ASSERT_EQ(result.status, 0) << dtype << ": " << result.output;
    const auto record = nlohmann::json::parse(result.output.substr(0, result.output.find('\n')));
    EXPECT_EQ(record.at("dtype"), dtype);
    EXPECT_EQ(record.at("impl"), "cream");
    EXPECT_EQ(record.at("shape").at("vocab"), 64);
    EXPECT_EQ(record.at("shape").at("seq"), 16);
    EXPECT_EQ(record.at("steps"), 2);
    EXPECT_GT(record.at("tokens_per_s").get<double>(), 0.0);
    EXPECT_NEAR(record.at("final_loss").get<double>(), std::log(64.0), 0.5) << dtype;
  }
}

TEST(BenchCli, BadOptionsAreOneLine) {
  const auto result = run_cream("bench train --dtype fp16 --steps 1");
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(cream::test::line_count(result.stderr_text), 1) << result.stderr_text;
  EXPECT_TRUE(contains(result.stderr_text, "--dtype")) << result.stderr_text;
}
