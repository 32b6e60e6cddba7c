// --set section.key=value: applied to the YAML tree before typed parsing.
#include "config/config_test_helpers.h"

namespace cream::config::testing {
namespace {

TEST(ConfigOverrides, ReplaceExistingValues) {
  const auto config = parse_experiment(kMinimal, "cfg.yaml", {"train.steps=20", "optim.lr=1e-4"});
  EXPECT_EQ(config.train.steps, 20);
  EXPECT_EQ(config.optim.lr, 1e-4);
  EXPECT_EQ(config.overridden, (std::vector<std::string>{"train.steps", "optim.lr"}));
}

TEST(ConfigOverrides, AddKeysAndSectionsAbsentFromTheFile) {
  const auto config = parse_experiment(kMinimal, "cfg.yaml",
                                       {"log.every=5", "data.valid=data/v", "eval.every=50", "model.threads=2"});
  EXPECT_EQ(config.log.every, 5);
  EXPECT_EQ(config.data.valid, "data/v");
  EXPECT_EQ(config.eval.every, 50);
  EXPECT_EQ(config.model.threads, 2);
}

TEST(ConfigOverrides, FillAnEmptySection) {
  const auto config = parse_experiment(kMinimal + "log:\n", "cfg.yaml", {"log.every=7"});
  EXPECT_EQ(config.log.every, 7);
}

TEST(ConfigOverrides, ValuesAreYamlScalarsOrFlowLists) {
  const auto config = parse_experiment(
      kMinimal, "cfg.yaml",
      {"optim.betas=[0.9, 0.95]", "eval.lengths=[4096,32768]", "train.activation_checkpointing=true",
       "rope.type=yarn-cream", "model.path=\"my models/llama: 7b\""});
  EXPECT_EQ(config.optim.betas, (std::array<double, 2>{0.9, 0.95}));
  EXPECT_EQ(config.eval.lengths, (std::vector<int64_t>{4096, 32768}));
  EXPECT_TRUE(config.train.activation_checkpointing);
  EXPECT_EQ(config.rope.type, RopeType::yarn_cream);
  EXPECT_EQ(config.rope.beta_fast, 32.0);  // defaults resolved for the overridden type
  EXPECT_EQ(config.model.path, "my models/llama: 7b");
}

TEST(ConfigOverrides, LaterOverridesWin) {
  const auto config = parse_experiment(kMinimal, "cfg.yaml", {"train.steps=20", "train.steps=30"});
  EXPECT_EQ(config.train.steps, 30);
}

TEST(ConfigOverrides, NullOrNothingRemovesTheKey) {
  // Switching from a pretrained folder to a preset needs model.path removed.
  const auto config = parse_experiment(kMinimal, "cfg.yaml", {"model.path=", "model.init=tiny"});
  EXPECT_EQ(config.model.path, "");
  EXPECT_EQ(config.model.init, "tiny");
  const auto sigma = parse_experiment(
      edited(kMinimal, "target_length: 32768", "target_length: 32768\n  sigma: 2.5"), "cfg.yaml",
      {"positions.sigma=null"});
  EXPECT_EQ(sigma.positions.sigma, 3.0);
  EXPECT_EQ(parse_error(kMinimal, {"train.steps=~"}), "cfg.yaml: train.steps (from --set): missing required key");
}

TEST(ConfigOverrides, UnknownKeysAreRefusedWithASuggestion) {
  EXPECT_EQ(parse_error(kMinimal, {"train.stepz=5"}),
            "--set train.stepz=5: unknown key train.stepz (did you mean train.steps?)");
  EXPECT_EQ(parse_error(kMinimal, {"trian.steps=5"}),
            "--set trian.steps=5: unknown section trian (did you mean train?)");
  EXPECT_EQ(parse_error(kMinimal, {"train.lr=5"}), "--set train.lr=5: unknown key train.lr (did you mean optim.lr?)");
}

TEST(ConfigOverrides, MalformedArgumentsAreRefused) {
  const std::string usage = ": expected section.key=value (e.g. --set train.steps=100)";
  EXPECT_EQ(parse_error(kMinimal, {"train.steps"}), "--set train.steps" + usage);
  EXPECT_EQ(parse_error(kMinimal, {"steps=5"}), "--set steps=5" + usage);
  EXPECT_EQ(parse_error(kMinimal, {"train.steps.x=5"}), "--set train.steps.x=5" + usage);
  const auto invalid = parse_error(kMinimal, {"optim.betas=[0.9"});
  EXPECT_EQ(invalid.rfind("--set optim.betas=[0.9: invalid YAML value: ", 0), 0u) << invalid;
}

TEST(ConfigOverrides, WrongTypesAreCheckedLikeTheFileAndSaySo) {
  EXPECT_EQ(parse_error(kMinimal, {"train.steps=abc"}),
            "cfg.yaml: train.steps (from --set): expected an integer, got \"abc\"");
  EXPECT_EQ(parse_error(kMinimal, {"train.steps=2.5"}),
            "cfg.yaml: train.steps (from --set): expected an integer, got 2.5");
  EXPECT_EQ(parse_error(kMinimal, {"eval.lengths=[4096, x]"}),
            "cfg.yaml: eval.lengths[1] (from --set): expected an integer, got \"x\"");
  EXPECT_EQ(parse_error(kMinimal, {"optim.betas=0.9"}),
            "cfg.yaml: optim.betas (from --set): expected a list of 2 numbers, got \"0.9\"");
  EXPECT_EQ(parse_error(kMinimal, {"train.global_batch=32", "train.micro_batch=3"}),
            "cfg.yaml: train.micro_batch (from --set): global_batch 32 is not divisible by micro_batch 3 x "
            "world_size 1");
  EXPECT_EQ(parse_error(kMinimal, {"positions.method=creem"}),
            "cfg.yaml: positions.method (from --set): unknown value \"creem\" (did you mean cream? expected one of: "
            "cream, pose, randpos, full, standard)");
}

TEST(ConfigOverrides, UnknownKeysInTheFileAreReportedFirst) {
  EXPECT_EQ(parse_error(edited(kMinimal, "  lr: 2e-5", "  lrr: 2e-5"), {"optim.lr=1e-3"}),
            "cfg.yaml: optim.lrr: unknown key (did you mean optim.lr?)");
}

}  // namespace
}  // namespace cream::config::testing
