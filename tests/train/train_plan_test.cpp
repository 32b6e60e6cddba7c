// --dry-run plans, the command entry point's config errors, and the rope section.
#include <gtest/gtest.h>

#include <sstream>

#include "trainer_test_support.h"
#include "cream/config/experiment.h"
#include "cream/model/presets.h"
#include "cream/train/rope_setup.h"
#include "cream/train/memory_plan.h"
#include "cream/train/trainer.h"
#include "cream/util/fs.h"

namespace cream::train {
namespace {

const std::string kSourceDir = CREAM_SOURCE_DIR;

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kLlama2Parameters = 6738415616ull;

PlanTarget h100(int world_size = 1) {
  PlanTarget target;
  target.world_size = world_size;
  target.device_memory = 80 * kGiB;
  return target;
}

const std::string kPaperConfig = kSourceDir + "/configs/llama2-7b-cream-linear-32k.yaml";

TEST(TrainPlan, PaperConfigPlansWithoutTheModelFolder) {
  const auto config = config::load_experiment(kPaperConfig);
  ASSERT_FALSE(std::filesystem::exists(config.model.path));
  const auto plan = plan_training(config, h100());
  EXPECT_NE(plan.model_source.find("model.arch llama2-7b"), std::string::npos);
  EXPECT_EQ(plan.parameters, 6738415616);  // Llama-2-7B
  EXPECT_EQ(plan.sequence_length, 4096);
  EXPECT_EQ(plan.accumulation, 32);
  EXPECT_EQ(plan.tokens_per_step, 32 * 4096);
  EXPECT_EQ(plan.steps, 1000);
  EXPECT_EQ(plan.model.max_position_embeddings, 32768);
  EXPECT_EQ(plan.model.rope.type, model::RopeType::Linear);
  EXPECT_EQ(plan.model.rope.factor, 8.0);
  // bf16 resolves to bf16-sr with float32 sums: 2 B weights, 4 B sums, 2 + 2 B moments.
  EXPECT_EQ(plan.settings.mode, config::MemoryMode::bf16_sr);
  EXPECT_TRUE(plan.device.cuda);  // device auto + --device-memory: a GPU elsewhere
  EXPECT_EQ(plan.memory.state.weights, 2 * kLlama2Parameters);
  EXPECT_EQ(plan.memory.state.gradients, 4 * kLlama2Parameters);
  EXPECT_EQ(plan.memory.state.optimizer, 4 * kLlama2Parameters);
  EXPECT_EQ(plan.memory.state.masters, 0u);
  // The goal: the default lean mode under 78 GiB on one 80 GB GPU.
  EXPECT_TRUE(plan.fits());
  EXPECT_LT(plan.memory.peak, 78 * kGiB);
  EXPECT_GT(plan.memory.peak, 10 * kLlama2Parameters);
  // Checkpointing keeps far less than the full activations: per layer and token CUDA
  // saves 16 x hidden + 8 x intermediate + 4 x heads + 8 bytes in bf16 (153,736 B).
  auto without = config;
  without.train.activation_checkpointing = false;
  const auto full = plan_training(without, h100());
  EXPECT_GT(full.memory.activations, 10 * plan.memory.activations);
  EXPECT_NEAR(static_cast<double>(full.memory.activations), 32.0 * 4096 * 153736, 0.02 * 32 * 4096 * 153736);
  EXPECT_FALSE(full.fits());
  // Two GPUs halve the accumulation.
  EXPECT_EQ(plan_training(config, h100(2)).accumulation, 16);
}

TEST(TrainPlan, DryRunPrintsEveryComponentAndThePeakAgainstCapacity) {
  std::ostringstream out;
  TrainCommand command;
  command.config_path = kPaperConfig;
  command.dry_run = true;
  EXPECT_EQ(run_train_command(command, h100(), true, out), 0);
  const auto text = out.str();
  for (const char* fragment :
       {"6738415616 parameters", "tokens per step: 131072", "accumulation 32", "steps: 1000", "train.memory_mode bf16-sr",
        "weights               12.55      2.00", "gradients             25.10      4.00",
        "optimizer states      25.10      4.00", "masters                0.00      0.00", "activations",
        "recomputed layer", "loss chunk", "working space", "peak", "capacity: --device-memory (cuda): 80.00 GiB",
        "fits: peak"})
    EXPECT_NE(text.find(fragment), std::string::npos) << fragment << " not in:\n" << text;

  // Over the device: the dry run says so and lists what fits, still exit 0.
  std::ostringstream over;
  command.overrides = {"train.activation_checkpointing=false"};
  EXPECT_EQ(run_train_command(command, h100(), true, over), 0);
  for (const char* fragment : {"does not fit: peak", "> 80.00 GiB", "fits with: --set train.activation_checkpointing=true"})
    EXPECT_NE(over.str().find(fragment), std::string::npos) << fragment << " not in:\n" << over.str();

  // Offload shows the host bytes apart.
  std::ostringstream offload;
  command.overrides = {"train.memory_mode=offload"};
  EXPECT_EQ(run_train_command(command, h100(), true, offload), 0);
  for (const char* fragment : {"optimizer states      50.21      8.00  host", "masters               25.10      4.00  host",
                               "host memory"})
    EXPECT_NE(offload.str().find(fragment), std::string::npos) << fragment << " not in:\n" << offload.str();
}

TEST(TrainPlan, RealRunOverTheDeviceIsRefusedInOneLineBeforeAnyWork) {
  TrainCommand command;
  command.config_path = kPaperConfig;
  command.overrides = {"train.activation_checkpointing=false"};
  std::ostringstream out;
  try {
    run_train_command(command, h100(), true, out);
    FAIL() << "a plan over the device must be refused";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const char* fragment : {"memory plan: peak", "exceeds --device-memory (cuda)'s 80.00 GiB", "largest: ",
                                 "activations 18.", "fits with: --set train.activation_checkpointing=true",
                                 "--no-memory-check"})
      EXPECT_NE(message.find(fragment), std::string::npos) << fragment << " not in: " << message;
  }
  EXPECT_TRUE(out.str().empty());
  EXPECT_FALSE(std::filesystem::exists("runs/llama2-7b-cream-linear-32k"));

  // Nothing fits a 16 GiB device: the line says so.
  auto small = h100();
  small.device_memory = 16 * kGiB;
  command.overrides = {};
  try {
    run_train_command(command, small, true, out);
    FAIL() << "a plan over the device must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no memory mode, checkpointing or micro-batch fits"), std::string::npos)
        << e.what();
  }
  // --world-size is for plans only: a real run is one process.
  test::expect_error([&] { run_train_command(command, h100(2), true, out); }, {"--world-size", "--dry-run"});
}

TEST(TrainPlan, CudaWithoutAGpuNamesTheWayToPlanForAnotherMachine) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU";
  std::ostringstream out;
  TrainCommand command;
  command.config_path = kPaperConfig;
  command.dry_run = true;
  command.overrides = {"model.device=cuda"};
  test::expect_error([&] { run_train_command(command, PlanTarget{}, true, out); },
                     {"model.device: cuda", "--device-memory"});
}

TEST(TrainPlan, EveryOptionThatFitsDoesFitWhenApplied) {
  const auto config = config::load_experiment(kPaperConfig, {"train.memory_mode=fp32-masters"});
  const auto plan = plan_training(config, h100());
  ASSERT_FALSE(plan.fits());  // 18 B/param: 113 GiB
  const auto options = options_that_fit(config, plan, 10);
  ASSERT_FALSE(options.empty());
  for (const auto& option : options) {
    std::vector<std::string> overrides = {"train.memory_mode=fp32-masters"};
    std::istringstream words(option);
    std::string word;
    while (words >> word)
      if (word != "--set") overrides.push_back(word);
    const auto changed = config::load_experiment(kPaperConfig, overrides);
    EXPECT_TRUE(plan_training(changed, h100()).fits()) << option;
    EXPECT_EQ(option.find("bf16-rtn"), std::string::npos) << "the control is never recommended: " << option;
  }
}

TEST(TrainPlan, TinyConfigsPlan) {
  for (const char* name : {"tiny-pretrain.yaml", "tiny-cream.yaml"}) {
    const auto config = config::load_experiment(kSourceDir + "/configs/" + name);
    if (!config.model.init.empty()) {
      const auto plan = plan_training(config);  // this machine's CPU
      EXPECT_EQ(plan.parameters, model::preset("tiny").num_parameters()) << name;
      EXPECT_FALSE(plan.device.cuda) << name;
      EXPECT_TRUE(plan.fits()) << name;
      EXPECT_GT(plan.device.capacity, 0u) << name;
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
