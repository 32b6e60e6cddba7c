// Defaults, the resolved config (to_yaml round trip) and the resume checks.
#include <cmath>
#include <filesystem>

#include "config/config_test_helpers.h"
#include "cream/util/fs.h"

namespace cream::config::testing {
namespace {

namespace fs = std::filesystem;

TEST(ConfigDefaults, OptionalKeysTakeTheDocumentedDefaults) {
  const auto c = parse_experiment(kMinimal);
  EXPECT_EQ(c.model.path, "models/m");
  EXPECT_EQ(c.model.init, "");
  EXPECT_EQ(c.model.arch, "");
  EXPECT_EQ(c.model.dtype, Dtype::bf16);
  EXPECT_EQ(c.model.device, Device::auto_select);
  EXPECT_EQ(c.model.tokenizer, "models/m/tokenizer.model");
  EXPECT_EQ(c.model.threads, 0);
  EXPECT_EQ(c.data.train, "");
  EXPECT_EQ(c.data.valid, "");
  EXPECT_EQ(c.data.short_docs, ShortDocs::pack);
  EXPECT_EQ(c.positions.sigma, 3.0);
  EXPECT_EQ(c.positions.continuity_length, 32);  // 4f with f = 8
  EXPECT_EQ(c.positions.relativity_share, 0.5);
  EXPECT_EQ(c.positions.exact_truncnorm, false);
  EXPECT_EQ(c.positions.branch_per, BranchPer::sequence);
  EXPECT_FALSE(c.positions.branch_batch_size);
  EXPECT_EQ(c.rope.type, RopeType::linear);
  EXPECT_EQ(c.rope.factor, 8.0);
  EXPECT_FALSE(c.rope.beta_fast || c.rope.beta_slow || c.rope.attention_factor);
  EXPECT_FALSE(c.rope.low_freq_factor || c.rope.high_freq_factor);
  EXPECT_EQ(c.train.global_batch, 1);
  EXPECT_EQ(c.train.micro_batch, 1);
  EXPECT_EQ(c.train.seed, 0);
  EXPECT_FALSE(c.train.activation_checkpointing);
  EXPECT_EQ(c.train.grad_clip, 1.0);
  EXPECT_EQ(c.optim.name, OptimizerName::adamw);
  EXPECT_EQ(c.optim.betas, (std::array<double, 2>{0.9, 0.999}));
  EXPECT_EQ(c.optim.eps, 1e-8);
  EXPECT_EQ(c.optim.weight_decay, 0.0);
  EXPECT_EQ(c.schedule.name, ScheduleName::constant);
  EXPECT_EQ(c.schedule.warmup_steps, 0);
  EXPECT_EQ(c.schedule.warmup_type, WarmupType::linear);
  EXPECT_EQ(c.schedule.min_lr, 0.0);
  EXPECT_EQ(c.eval.every, 0);
  EXPECT_EQ(c.eval.lengths, (std::vector<int64_t>{32768}));
  EXPECT_EQ(c.eval.batches, 8);
  EXPECT_EQ(c.checkpoint.every, 0);
  EXPECT_EQ(c.checkpoint.keep, 0);
  EXPECT_EQ(c.log.every, 1);
  EXPECT_EQ(c.accumulation_steps(), 1);
}

TEST(ConfigDefaults, ContinuityLengthZeroMeansFourTimesTheFactor) {
  const auto c = parse_experiment(
      edited(kMinimal, "target_length: 32768", "target_length: 16384\n  continuity_length: 0"));
  EXPECT_EQ(c.positions.continuity_length, 16);
}

TEST(ConfigDefaults, BranchPerBatchDefaultsToTheAuthorsBatchOf3000) {
  const auto c = parse_experiment(edited(kMinimal, "target_length: 32768", "target_length: 32768\n  branch_per: batch"));
  EXPECT_EQ(c.positions.branch_batch_size, 3000);
}

TEST(ConfigDefaults, RopeTypeSpecificDefaults) {
  const auto yarn = parse_experiment(kMinimal + "rope:\n  type: yarn\n");
  EXPECT_EQ(yarn.rope.beta_fast, 32.0);
  EXPECT_EQ(yarn.rope.beta_slow, 1.0);
  EXPECT_DOUBLE_EQ(*yarn.rope.attention_factor, 0.1 * std::log(8.0) + 1.0);  // 1.2079441541679836
  const auto llama3 = parse_experiment(kMinimal + "rope:\n  type: llama3\n");
  EXPECT_EQ(llama3.rope.low_freq_factor, 1.0);
  EXPECT_EQ(llama3.rope.high_freq_factor, 4.0);
  EXPECT_FALSE(llama3.rope.beta_fast);
  const auto none = parse_experiment(kMinimal + "rope:\n  type: none\n");
  EXPECT_EQ(none.rope.factor, 1.0);
}

TEST(ConfigDefaults, NonCreamMethodsLeaveCreamOptionsUnset) {
  const auto c = parse_experiment(edited(kMinimal, "method: cream", "method: randpos"));
  EXPECT_FALSE(c.positions.sigma || c.positions.continuity_length || c.positions.relativity_share ||
               c.positions.exact_truncnorm || c.positions.branch_per);
}

TEST(ConfigDefaults, ExplicitTokenizerIsKept) {
  const auto c = parse_experiment(edited(kMinimal, "path: models/m", "path: models/m\n  tokenizer: tok/t.model"));
  EXPECT_EQ(c.model.tokenizer, "tok/t.model");
  const auto init = parse_experiment(edited(kMinimal, "path: models/m", "init: tiny"));
  EXPECT_EQ(init.model.tokenizer, "");  // a preset has no folder to take one from
}

// A config that sets every key, including strings that YAML would misread unquoted.
const std::string kEverything = edited(edited(kMinimal, "  path: models/m\n",
                                              "  path: \"null\"\n  arch: \"8\"\n  dtype: fp32\n  device: cpu\n"
                                              "  tokenizer: \"tok: a/b 'c'.model\"\n  threads: 3\n"),
                                       "  target_length: 32768\n",
                                       "  target_length: 32768\n  sigma: 2.5\n  continuity_length: 20\n"
                                       "  relativity_share: 0.25\n  exact_truncnorm: true\n  branch_per: batch\n"
                                       "  branch_batch_size: 10\n") +
                                "data:\n  train: data/t\n  valid: data/v\n  short_docs: skip\n"
                                "rope:\n  type: yarn-cream\n  beta_fast: 16\n  beta_slow: 0.5\n"
                                "  attention_factor: 1.1\n"
                                "schedule:\n  name: cosine\n  warmup_steps: 3\n  warmup_type: log\n  min_lr: 1e-6\n"
                                "eval:\n  every: 5\n  lengths: [4096, 8192, 32768]\n  batches: 2\n"
                                "log:\n  every: 2\n";

TEST(ConfigResolved, RoundTripsThroughToYaml) {
  for (const auto& text : {kMinimal, kEverything}) {
    const auto config = parse_experiment(text, "a.yaml");
    const auto yaml = to_yaml(config);
    const auto again = parse_experiment(yaml, "b.yaml");
    EXPECT_EQ(again, config) << yaml;
    EXPECT_EQ(to_yaml(again), yaml);
    EXPECT_EQ(flatten(again), flatten(config));
  }
}

TEST(ConfigResolved, KeepsTrickyStringsExactly) {
  const auto again = parse_experiment(to_yaml(parse_experiment(kEverything)));
  EXPECT_EQ(again.model.path, "null");
  EXPECT_EQ(again.model.arch, "8");
  EXPECT_EQ(again.model.tokenizer, "tok: a/b 'c'.model");
}

TEST(ConfigResolved, WritesEveryResolvedKey) {
  const auto yaml = to_yaml(parse_experiment(kMinimal));
  for (const auto* line : {"  factor: 8.0\n", "  continuity_length: 32\n", "  sigma: 3.0\n", "  tokenizer: "
                           "\"models/m/tokenizer.model\"\n", "  lengths: [32768]\n", "  betas: [0.9, 0.999]\n",
                           "  lr: 2e-05\n", "  eps: 1e-08\n", "  name: constant\n", "  every: 1\n"}) {
    EXPECT_NE(yaml.find(line), std::string::npos) << line << " missing from\n" << yaml;
  }
  EXPECT_EQ(yaml.find("beta_fast"), std::string::npos);  // not a yarn config
  EXPECT_EQ(yaml.find("init:"), std::string::npos);      // unset
}

TEST(ConfigResolved, FlattenListsEveryKeyThatHasAValueInDocumentOrder) {
  const auto flat = flatten(parse_experiment(kEverything));
  const auto known = known_key_paths();
  std::vector<std::string> paths;
  for (const auto& entry : flat) paths.push_back(entry.first);
  std::vector<std::string> expected;
  for (const auto& path : known) {
    // grad_accumulation only applies to bf16-sr / bf16-rtn; kEverything is fp32.
    if (path != "model.init" && path != "rope.low_freq_factor" && path != "rope.high_freq_factor" &&
        path != "train.grad_accumulation") {
      expected.push_back(path);
    }
  }
  EXPECT_EQ(paths, expected);
}

TEST(ConfigResolved, EqualityComparesEveryKey) {
  const auto a = parse_experiment(kEverything, "a.yaml");
  EXPECT_EQ(a, parse_experiment(kEverything, "b.yaml"));  // the source is not part of the config
  for (const auto& set : {"train.seed=1", "eval.lengths=[4096]", "model.tokenizer=t.model", "optim.betas=[0.9,0.99]",
                          "positions.exact_truncnorm=false", "rope.attention_factor=1.2"}) {
    EXPECT_NE(a, parse_experiment(kEverything, "a.yaml", {set})) << set;
  }
}

TEST(ConfigResolved, WriteResolvedConfigIsLoadable) {
  const auto dir = fs::temp_directory_path() / ("cream_config_run_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto config = parse_experiment(kEverything);
  write_resolved_config(config, dir);
  EXPECT_EQ(load_experiment(dir / kResolvedConfigName), config);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temporaries
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cream::config::testing
