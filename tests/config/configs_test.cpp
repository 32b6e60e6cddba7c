// Every shipped file in configs/ validates, says what method.md prescribes,
// and every key is documented in configs/README.md.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "cream/config/experiment.h"
#include "cream/util/fs.h"

namespace cream::config {
namespace {

namespace fs = std::filesystem;

const fs::path kConfigs = fs::path(CREAM_SOURCE_DIR) / "configs";

std::map<std::string, ExperimentConfig> load_all() {
  std::map<std::string, ExperimentConfig> configs;
  for (const auto& entry : fs::directory_iterator(kConfigs)) {
    if (entry.path().extension() != ".yaml") continue;
    try {
      configs.emplace(entry.path().filename().string(), load_experiment(entry.path()));
    } catch (const cream::Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
  return configs;
}

TEST(ShippedConfigs, EveryFileValidatesAndRoundTrips) {
  const auto configs = load_all();
  EXPECT_GE(configs.size(), 5u);
  for (const auto& [name, config] : configs) {
    EXPECT_EQ(parse_experiment(to_yaml(config), name), config) << name;
    EXPECT_TRUE(config.warnings().empty()) << name << ": " << config.warnings().front();
  }
}

TEST(ShippedConfigs, PaperRecipeLinear) {
  const auto c = load_experiment(kConfigs / "llama2-7b-cream-linear-32k.yaml");
  EXPECT_EQ(c.model.arch, "llama2-7b");
  EXPECT_EQ(c.model.dtype, Dtype::bf16);
  EXPECT_EQ(c.positions.method, PositionMethod::cream);
  EXPECT_EQ(c.positions.train_length, 4096);
  EXPECT_EQ(c.positions.target_length, 32768);
  EXPECT_EQ(c.positions.sigma, 3.0);
  EXPECT_EQ(c.positions.continuity_length, 32);
  EXPECT_EQ(c.rope.type, RopeType::linear);
  EXPECT_EQ(c.rope.factor, 8.0);
  EXPECT_EQ(c.train.steps, 1000);
  EXPECT_EQ(c.train.global_batch, 32);
  EXPECT_EQ(c.accumulation_steps(2), 16);  // the authors' 16 sequences per GPU on 2 GPUs
  EXPECT_TRUE(c.train.activation_checkpointing);
  EXPECT_EQ(c.optim.name, OptimizerName::adamw);
  EXPECT_EQ(c.optim.lr, 2e-5);
  EXPECT_EQ(c.optim.weight_decay, 0.0);
  EXPECT_EQ(c.schedule.name, ScheduleName::warmup_decay);
  EXPECT_EQ(c.schedule.warmup_steps, 10);
  EXPECT_EQ(c.schedule.warmup_type, WarmupType::log);
  EXPECT_EQ(c.schedule.min_lr, 0.0);
}

TEST(ShippedConfigs, PaperRecipeYarnDiffersOnlyInRopeAndOutput) {
  const auto linear = load_experiment(kConfigs / "llama2-7b-cream-linear-32k.yaml");
  const auto yarn = load_experiment(kConfigs / "llama2-7b-cream-yarn-32k.yaml");
  EXPECT_EQ(yarn.rope.type, RopeType::yarn_cream);
  EXPECT_EQ(yarn.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(*yarn.rope.attention_factor, 0.1 * std::log(8.0) + 1.0);
  std::vector<std::string> changed;
  for (const auto& change : diff_for_resume(linear, yarn)) changed.push_back(change.key_path);
  EXPECT_EQ(changed, (std::vector<std::string>{"rope.type", "rope.beta_fast", "rope.beta_slow",
                                               "rope.attention_factor", "checkpoint.output_dir"}));
}

TEST(ShippedConfigs, ChatVariant) {
  const auto c = load_experiment(kConfigs / "llama2-7b-chat-cream-32k.yaml");
  EXPECT_EQ(c.train.steps, 100);
  EXPECT_EQ(c.schedule.warmup_steps, 0);
  EXPECT_NE(c.model.path.find("chat"), std::string::npos);
  EXPECT_NE(c.data.train.find("sharegpt"), std::string::npos);
  EXPECT_EQ(c.positions.target_length, 8 * c.positions.train_length);
}

TEST(ShippedConfigs, TinyPretrainThenTinyCream) {
  const auto pretrain = load_experiment(kConfigs / "tiny-pretrain.yaml");
  EXPECT_EQ(pretrain.model.init, "tiny");
  EXPECT_EQ(pretrain.positions.method, PositionMethod::standard);
  EXPECT_EQ(pretrain.positions.train_length, 64);
  EXPECT_EQ(pretrain.positions.target_length, 64);
  EXPECT_EQ(pretrain.rope.type, RopeType::none);
  EXPECT_EQ(pretrain.model.device, Device::cpu);

  const auto cream = load_experiment(kConfigs / "tiny-cream.yaml");
  EXPECT_EQ(cream.positions.method, PositionMethod::cream);
  EXPECT_EQ(cream.positions.train_length, 64);
  EXPECT_EQ(cream.positions.target_length, 8 * 64);
  EXPECT_EQ(cream.rope.type, RopeType::linear);
  EXPECT_EQ(cream.rope.factor, 8.0);
  // tiny-cream starts from tiny-pretrain's final checkpoint.
  const auto final_step = "step-" + std::string(6 - std::to_string(pretrain.train.steps).size(), '0') +
                          std::to_string(pretrain.train.steps);
  EXPECT_EQ(fs::path(cream.model.path), fs::path(pretrain.checkpoint.output_dir) / final_step);
}

TEST(ShippedConfigs, ReadmeDocumentsEveryKey) {
  const auto readme = util::read_text_file(kConfigs / "README.md");
  for (const auto& path : known_key_paths()) {
    EXPECT_NE(readme.find("`" + path + "`"), std::string::npos) << path << " is not documented in configs/README.md";
  }
}

}  // namespace
}  // namespace cream::config
