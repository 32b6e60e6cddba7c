// --dry-run plans, the command entry point's config errors, and the rope section.
#include <gtest/gtest.h>

#include <sstream>

#include "trainer_test_support.h"
#include "cream/config/experiment.h"
#include "cream/model/presets.h"
#include "cream/train/rope_setup.h"
#include "cream/train/trainer.h"
#include "cream/util/fs.h"

namespace cream::train {
namespace {

const std::string kSourceDir = CREAM_SOURCE_DIR;

TEST(TrainPlan, PaperConfigPlansWithoutTheModelFolder) {
  const auto config = config::load_experiment(kSourceDir + "/configs/llama2-7b-cream-linear-32k.yaml");
  ASSERT_FALSE(std::filesystem::exists(config.model.path));
  const auto plan = plan_training(config);
  EXPECT_NE(plan.model_source.find("model.arch llama2-7b"), std::string::npos);
  EXPECT_EQ(plan.parameters, 6738415616);  // Llama-2-7B
  EXPECT_EQ(plan.sequence_length, 4096);
  EXPECT_EQ(plan.accumulation, 32);
  EXPECT_EQ(plan.tokens_per_step, 32 * 4096);
  EXPECT_EQ(plan.steps, 1000);
  EXPECT_EQ(plan.model.max_position_embeddings, 32768);
  EXPECT_EQ(plan.model.rope.type, model::RopeType::Linear);
  EXPECT_EQ(plan.model.rope.factor, 8.0);
  // bf16: 2 + 4 bytes of weights, 2 + 4 of gradients, 8 of moments per parameter.
  EXPECT_EQ(plan.weight_bytes, 6ull * 6738415616ull);
  EXPECT_EQ(plan.gradient_bytes, 6ull * 6738415616ull);
  EXPECT_EQ(plan.optimizer_bytes, 8ull * 6738415616ull);
  EXPECT_GT(plan.activation_bytes, 0u);
  // Checkpointing keeps far less than the full activations.
  auto without = config;
  without.train.activation_checkpointing = false;
  EXPECT_GT(plan_training(without).activation_bytes, 10 * plan.activation_bytes);
  // Two GPUs halve the accumulation.
  EXPECT_EQ(plan_training(config, 2).accumulation, 16);

  std::ostringstream out;
  TrainCommand command;
  command.config_path = kSourceDir + "/configs/llama2-7b-cream-linear-32k.yaml";
  command.dry_run = true;
  EXPECT_EQ(run_train_command(command, out), 0);
  const auto text = out.str();
  for (const char* fragment : {"6738415616 parameters", "tokens per step: 131072", "accumulation 32", "steps: 1000",
                               "AdamW moments 50.21 GiB"})
    EXPECT_NE(text.find(fragment), std::string::npos) << fragment << " not in:\n" << text;
}

TEST(TrainPlan, TinyConfigsPlan) {
  for (const char* name : {"tiny-pretrain.yaml", "tiny-cream.yaml"}) {
    const auto config = config::load_experiment(kSourceDir + "/configs/" + name);
    if (!config.model.init.empty()) {
      const auto plan = plan_training(config);
      EXPECT_EQ(plan.parameters, model::preset("tiny").num_parameters()) << name;
    }
  }
}

TEST(TrainCommand, ConfigErrorsAreOneLineBeforeAnyWork) {
  const test::ScopedDir scoped("train_command");
  const auto& dir = scoped.path;
  const auto path = dir / "bad.yaml";
  std::string text = util::read_text_file(kSourceDir + "/configs/tiny-pretrain.yaml");
  text.replace(text.find("micro_batch: 16"), 15, "micro_batch: 5");
  test::write_file(path, text);
  std::ostringstream out;
  TrainCommand command;
  command.config_path = path;
  test::expect_error([&] { run_train_command(command, out); }, {"bad.yaml", "train.micro_batch"});
  command.config_path = kSourceDir + "/configs/tiny-pretrain.yaml";
  command.overrides = {"optim.lrr=1"};
  test::expect_error([&] { run_train_command(command, out); }, {"optim.lrr", "optim.lr"});
  command.overrides = {"train.steps=-3"};
  test::expect_error([&] { run_train_command(command, out); }, {"train.steps"});
  EXPECT_TRUE(out.str().empty());
  EXPECT_FALSE(std::filesystem::exists("runs/tiny-pretrain/config.yaml"));
}

config::ExperimentConfig extension_config(const std::string& rope_lines) {
  return config::parse_experiment(
      "model:\n  arch: tiny\n  path: none\npositions:\n  method: cream\n  train_length: 64\n  target_length: 1024\n"
      "  continuity_length: 8\nrope:\n" + rope_lines +
      "train:\n  steps: 1\noptim:\n  lr: 1e-3\ncheckpoint:\n  output_dir: x\n");
}

TEST(RopeSetup, TypeNoneKeepsTheModelsRope) {
  auto base = model::preset("tiny");
  base.rope.type = model::RopeType::Linear;
  base.rope.factor = 2.0;
  const auto result = apply_rope_section(base, extension_config("  type: none\n"));
  EXPECT_EQ(result.rope.type, model::RopeType::Linear);
  EXPECT_EQ(result.rope.factor, 2.0);
  EXPECT_EQ(result.max_position_embeddings, base.max_position_embeddings);
}

TEST(RopeSetup, ScalingTypesSetFactorWindowAndTheirKeys) {
  const auto base = model::preset("tiny");  // max_position_embeddings 512
  const auto linear = apply_rope_section(base, extension_config("  type: linear\n"));
  EXPECT_EQ(linear.rope.type, model::RopeType::Linear);
  EXPECT_EQ(linear.rope.factor, 16.0);
  EXPECT_EQ(linear.rope.original_max_position_embeddings, 64);
  EXPECT_EQ(linear.max_position_embeddings, 1024);

  const auto yarn = apply_rope_section(
      base, extension_config("  type: yarn-cream\n  beta_fast: 16\n  beta_slow: 2\n  attention_factor: 1.5\n"));
  EXPECT_EQ(yarn.rope.type, model::RopeType::YarnCream);
  EXPECT_EQ(yarn.rope.beta_fast, 16.0);
  EXPECT_EQ(yarn.rope.beta_slow, 2.0);
  EXPECT_EQ(yarn.rope.attention_factor, 1.5);

  const auto llama3 = apply_rope_section(base, extension_config("  type: llama3\n  low_freq_factor: 2\n"));
  EXPECT_EQ(llama3.rope.type, model::RopeType::Llama3);
  EXPECT_EQ(llama3.rope.low_freq_factor, 2.0);
  EXPECT_EQ(llama3.rope.high_freq_factor, 4.0);

  // dynamic's window is max_position_embeddings itself: it stays N, or positions below L would go unscaled.
  const auto dynamic = apply_rope_section(base, extension_config("  type: dynamic\n"));
  EXPECT_EQ(dynamic.max_position_embeddings, 64);
  EXPECT_EQ(dynamic.rope.factor, 16.0);

  for (const char* type : {"ntk", "dynamic", "yarn"})
    EXPECT_EQ(model::rope_type_name(apply_rope_section(base, extension_config(std::string("  type: ") + type + "\n")).rope.type),
              std::string(type));
}

}  // namespace
}  // namespace cream::train
