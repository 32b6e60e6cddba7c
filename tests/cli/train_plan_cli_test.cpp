// `cream train --dry-run`'s memory plan through the binary: --device-memory and
// --world-size, and their one-line errors.
#include <gtest/gtest.h>

#include "cli_helpers.h"

namespace cream::test {
namespace {

const std::string kPaperConfig = std::string(CREAM_SOURCE_DIR) + "/configs/llama2-7b-cream-linear-32k.yaml";

TEST(TrainPlanCli, DryRunPlansForAnotherMachine) {
  const auto plan = run_cream("train -c " + kPaperConfig + " --dry-run --device-memory 80GiB --world-size 2");
  ASSERT_EQ(plan.status, 0) << plan.output;
  for (const char* fragment : {"x world 2 x accumulation 16", "memory plan per process: train.memory_mode bf16-sr",
                               "weights               12.55      2.00", "peak", "capacity: --device-memory (cuda): 80.00 GiB",
                               "fits: peak"})
    EXPECT_TRUE(contains(plan.output, fragment)) << fragment << " not in:\n" << plan.output;
  // Decimal units as HF spells them: 40 GB is 37.25 GiB, too small for 7B.
  const auto small = run_cream("train -c " + kPaperConfig + " --dry-run --device-memory 40GB");
  ASSERT_EQ(small.status, 0) << small.output;
  EXPECT_TRUE(contains(small.output, "37.25 GiB")) << small.output;
  EXPECT_TRUE(contains(small.output, "does not fit")) << small.output;
}

TEST(TrainPlanCli, BadPlanArgumentsAreOneLineErrors) {
  const auto unit = run_cream("train -c " + kPaperConfig + " --dry-run --device-memory 80XB");
  EXPECT_EQ(unit.status, 1);
  EXPECT_TRUE(contains(unit.stderr_text, "80XB")) << unit.stderr_text;
  EXPECT_EQ(line_count(unit.stderr_text), 1) << unit.stderr_text;
  const auto world = run_cream("train -c " + kPaperConfig + " --world-size 2");
  EXPECT_EQ(world.status, 1);
  EXPECT_TRUE(contains(world.stderr_text, "--world-size: only with --dry-run")) << world.stderr_text;
  // A real run of the 7B recipe on an 80 GB GPU without checkpointing: refused, with the fix.
  const auto refused = run_cream("train -c " + kPaperConfig +
                                 " --device-memory 80GiB --set train.activation_checkpointing=false");
  EXPECT_EQ(refused.status, 1);
  EXPECT_EQ(line_count(refused.stderr_text), 1) << refused.stderr_text;
  EXPECT_TRUE(contains(refused.stderr_text, "fits with: --set train.activation_checkpointing=true"))
      << refused.stderr_text;
}

}  // namespace
}  // namespace cream::test
