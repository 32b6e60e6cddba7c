// Every class of config error: one line, naming the file and the key path.
#include <filesystem>
#include <fstream>

#include "config/config_test_helpers.h"

namespace cream::config::testing {
namespace {

namespace fs = std::filesystem;

// Checks that `text` is refused with exactly `expected` (one line).
void expect_refused(const std::string& text, const std::string& expected,
                    const std::vector<std::string>& overrides = {}, int world_size = 1) {
  const auto message = parse_error(text, overrides, world_size);
  EXPECT_EQ(message, expected);
  EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
}

TEST(ConfigErrors, MinimalConfigIsAccepted) { EXPECT_EQ(parse_error(kMinimal), ""); }

TEST(ConfigErrors, UnknownKeySuggestsTheClosestKeyOfItsSection) {
  expect_refused(edited(kMinimal, "  lr: 2e-5", "  lrr: 2e-5"),
                 "cfg.yaml: optim.lrr: unknown key (did you mean optim.lr?)");
  expect_refused(edited(kMinimal, "  steps: 10", "  stpes: 10"),
                 "cfg.yaml: train.stpes: unknown key (did you mean train.steps?)");
}

TEST(ConfigErrors, UnknownKeySuggestsTheSectionThatHasIt) {
  expect_refused(edited(kMinimal, "  steps: 10", "  steps: 10\n  lr: 1e-4"),
                 "cfg.yaml: train.lr: unknown key (did you mean optim.lr?)");
  expect_refused(edited(kMinimal, "  steps: 10", "  steps: 10\n  warmup_step: 3"),
                 "cfg.yaml: train.warmup_step: unknown key (did you mean schedule.warmup_steps?)");
}

TEST(ConfigErrors, UnknownKeyWithoutCloseMatchListsTheSectionKeys) {
  expect_refused(edited(kMinimal, "  steps: 10", "  steps: 10\n  colour: blue"),
                 "cfg.yaml: train.colour: unknown key (train accepts: steps, global_batch, micro_batch, seed, "
                 "activation_checkpointing, activation_checkpointing_stride, grad_clip, memory_mode, "
                 "grad_accumulation)");
}

TEST(ConfigErrors, UnknownSectionSuggestsTheClosestSection) {
  expect_refused(edited(kMinimal, "optim:", "optm:"), "cfg.yaml: optm: unknown section (did you mean optim?)");
  expect_refused(kMinimal + "extras: {}\n", "cfg.yaml: extras: unknown section (sections: model, data, "
                                                 "positions, rope, train, optim, schedule, eval, checkpoint, log, dist)");
}

TEST(ConfigErrors, DuplicateSectionAtTopLevelNamesBothLines) {
  expect_refused(kMinimal + "train:\n  seed: 3\n",
                 "cfg.yaml: train: duplicate key (lines 7 and 13); remove one");
}

TEST(ConfigErrors, DuplicateKeyInsideASectionNamesBothLines) {
  expect_refused(edited(kMinimal, "  steps: 10\n", "  steps: 10\n  seed: 1\n  steps: 20\n"),
                 "cfg.yaml: train.steps: duplicate key (lines 8 and 10); remove one");
  expect_refused(edited(kMinimal, "  path: models/m\n", "  path: models/m\n  path: models/other\n"),
                 "cfg.yaml: model.path: duplicate key (lines 2 and 3); remove one");
}

TEST(ConfigErrors, DuplicateKeyInFlowMappingIsFoundToo) {
  expect_refused(kMinimal + "rope: {type: linear, type: ntk}\n",
                 "cfg.yaml: rope.type: duplicate key (line 13, columns 8 and 22); remove one");
}

TEST(ConfigErrors, DuplicateKeysAreReportedEvenWhenOverridden) {
  expect_refused(edited(kMinimal, "  steps: 10\n", "  steps: 10\n  steps: 20\n"),
                 "cfg.yaml: train.steps: duplicate key (lines 8 and 9); remove one", {"train.steps=30"});
}

TEST(ConfigErrors, WrongScalarTypesAreRefused) {
  expect_refused(edited(kMinimal, "steps: 10", "steps: abc"),
                 "cfg.yaml: train.steps: expected an integer, got \"abc\"");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 1.5"), "cfg.yaml: train.steps: expected an integer, got 1.5");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 1e3"), "cfg.yaml: train.steps: expected an integer, got 1e3");
  expect_refused(edited(kMinimal, "steps: 10", "steps: \"10\""),
                 "cfg.yaml: train.steps: expected an integer, got the string \"10\"");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 99999999999999999999"),
                 "cfg.yaml: train.steps: integer 99999999999999999999 does not fit in 64 bits");
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: fast"), "cfg.yaml: optim.lr: expected a finite number, got \"fast\"");
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: .inf"), "cfg.yaml: optim.lr: expected a finite number, got \".inf\"");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 10\n  activation_checkpointing: yes"),
                 "cfg.yaml: train.activation_checkpointing: expected true or false, got \"yes\"");
  expect_refused(edited(kMinimal, "output_dir: runs/x", "output_dir: [runs/x]"),
                 "cfg.yaml: checkpoint.output_dir: expected a string, got a list");
  expect_refused(edited(kMinimal, "steps: 10", "steps: {n: 10}"),
                 "cfg.yaml: train.steps: expected an integer, got a mapping");
}

TEST(ConfigErrors, EmptyValuesAreRefused) {
  expect_refused(edited(kMinimal, "steps: 10", "steps:"),
                 "cfg.yaml: train.steps: has no value (remove the key to use the default)");
  expect_refused(edited(kMinimal, "path: models/m", "path: \"\""),
                 "cfg.yaml: model.path: must not be empty (remove the key to use the default)");
}

TEST(ConfigErrors, WrongListShapesAreRefused) {
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: 2e-5\n  betas: [0.9]"),
                 "cfg.yaml: optim.betas: expected a list of 2 numbers, got a list of 1");
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: 2e-5\n  betas: [0.9, high]"),
                 "cfg.yaml: optim.betas[1]: expected a finite number, got \"high\"");
  expect_refused(kMinimal + "eval:\n  lengths: 4096\n",
                 "cfg.yaml: eval.lengths: expected a list of integers, got \"4096\"");
  expect_refused(kMinimal + "eval:\n  lengths: [4096, 8192.5]\n",
                 "cfg.yaml: eval.lengths[1]: expected an integer, got 8192.5");
}

TEST(ConfigErrors, UnknownEnumValueSuggestsAndListsTheChoices) {
  expect_refused(edited(kMinimal, "method: cream", "method: creem"),
                 "cfg.yaml: positions.method: unknown value \"creem\" (did you mean cream? expected one of: cream, "
                 "pose, randpos, full, standard)");
  expect_refused(kMinimal + "rope:\n  type: yarn_cream\n",
                 "cfg.yaml: rope.type: unknown value \"yarn_cream\" (did you mean yarn-cream? expected one of: none, "
                 "linear, ntk, dynamic, yarn, yarn-cream, llama3)");
  expect_refused(edited(kMinimal, "path: models/m", "path: models/m\n  dtype: float16"),
                 "cfg.yaml: model.dtype: unknown value \"float16\" (expected one of: bf16, fp32)");
}

TEST(ConfigErrors, HugeValuesDoNotOverflowTheChecks) {
  expect_refused(edited(kMinimal, "target_length: 32768", "target_length: 32768\n  continuity_length: 9223372036854775807"),
                 "cfg.yaml: positions.continuity_length: head and tail of 9223372036854775807 tokens each leave no "
                 "middle segment in train_length 4096 (need 2 x continuity_length < train_length; the default is 4 x "
                 "L/N = 32)");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 10\n  global_batch: 32\n  micro_batch: 9223372036854775807"),
                 "cfg.yaml: train.micro_batch: global_batch 32 is not divisible by micro_batch 9223372036854775807 x "
                 "world_size 2", {}, 2);
  expect_refused(edited(edited(kMinimal, "train_length: 4096", "train_length: 2"), "target_length: 32768",
                        "target_length: 9223372036854775806"),
                 "cfg.yaml: positions.continuity_length: head and tail of 9223372036854775807 tokens each leave no "
                 "middle segment in train_length 2 (need 2 x continuity_length < train_length; the default is 4 x L/N "
                 "= 9223372036854775807)");
}

TEST(ConfigErrors, StructureErrorsNameTheSection) {
  expect_refused(edited(kMinimal, "train:\n  steps: 10\n", "train: 10\n"),
                 "cfg.yaml: train: expected a mapping of keys, got \"10\"");
  expect_refused("- a\n- b\n", "cfg.yaml: (top level): expected a mapping of sections, got a list");
}

TEST(ConfigErrors, NegativeAndZeroCountsAreRefused) {
  expect_refused(edited(kMinimal, "steps: 10", "steps: -5"), "cfg.yaml: train.steps: must be >= 1, got -5");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 10\n  micro_batch: 0"),
                 "cfg.yaml: train.micro_batch: must be >= 1, got 0");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 10\n  seed: -1"), "cfg.yaml: train.seed: must be >= 0, got -1");
  expect_refused(edited(kMinimal, "path: models/m", "path: models/m\n  threads: -2"),
                 "cfg.yaml: model.threads: must be >= 0 (0 = one per core), got -2");
  expect_refused(kMinimal + "eval:\n  lengths: [4096, -1]\n", "cfg.yaml: eval.lengths[1]: must be >= 2, got -1");
  expect_refused(kMinimal + "log:\n  every: 0\n", "cfg.yaml: log.every: must be >= 1, got 0");
}

TEST(ConfigErrors, MissingRequiredKeysAreNamed) {
  expect_refused(edited(kMinimal, "  steps: 10\n", ""), "cfg.yaml: train.steps: missing required key");
  expect_refused(edited(kMinimal, "optim:\n  lr: 2e-5\n", ""), "cfg.yaml: optim.lr: missing required key");
  expect_refused(edited(kMinimal, "  method: cream\n", ""), "cfg.yaml: positions.method: missing required key");
  expect_refused(edited(kMinimal, "  target_length: 32768\n", ""),
                 "cfg.yaml: positions.target_length: missing required key");
  expect_refused(edited(kMinimal, "checkpoint:\n  output_dir: runs/x\n", ""),
                 "cfg.yaml: checkpoint.output_dir: missing required key");
  expect_refused("", "cfg.yaml: positions.method: missing required key");
}

TEST(ConfigErrors, ModelNeedsExactlyOneOfPathAndInit) {
  expect_refused(edited(kMinimal, "  path: models/m\n", ""),
                 "cfg.yaml: model: set exactly one of model.path (a Hugging Face folder to start from) and "
                 "model.init (a preset or model config file), got neither");
  expect_refused(edited(kMinimal, "  path: models/m\n", "  path: models/m\n  init: tiny\n"),
                 "cfg.yaml: model: set exactly one of model.path (a Hugging Face folder to start from) and "
                 "model.init (a preset or model config file), got both");
}

TEST(ConfigErrors, TargetLengthMustBeAMultipleOfTrainLength) {
  expect_refused(edited(kMinimal, "target_length: 32768", "target_length: 5000"),
                 "cfg.yaml: positions.target_length: 5000 is not a multiple >= 2 of train_length 4096 (method cream "
                 "needs L = f x N with integer f >= 2)");
  expect_refused(edited(kMinimal, "target_length: 32768", "target_length: 4096"),
                 "cfg.yaml: positions.target_length: 4096 is not a multiple >= 2 of train_length 4096 (method cream "
                 "needs L = f x N with integer f >= 2)");
  EXPECT_EQ(parse_error(edited(kMinimal, "target_length: 32768", "target_length: 12288")), "");  // f = 3
}

TEST(ConfigErrors, StandardMayTrainAtTargetEqualToTrainLength) {
  auto standard = edited(edited(kMinimal, "method: cream", "method: standard"), "target_length: 32768",
                         "target_length: 4096");
  EXPECT_EQ(parse_error(standard + "rope:\n  type: none\n"), "");
  expect_refused(edited(standard, "target_length: 4096", "target_length: 6000"),
                 "cfg.yaml: positions.target_length: 6000 is neither train_length 4096 nor a multiple of it (method "
                 "standard needs L = N or L = f x N with integer f >= 2)");
  // The default rope type is linear; at L = N its factor 1 would do nothing.
  expect_refused(standard, "cfg.yaml: rope.factor: rope.type linear with factor 1 scales nothing; use rope.type none "
                           "(or a target_length above train_length)");
}

TEST(ConfigErrors, TrainLengthMustBeEven) {
  expect_refused(edited(edited(kMinimal, "train_length: 4096", "train_length: 4095"), "target_length: 32768",
                        "target_length: 32760"),
                 "cfg.yaml: positions.train_length: must be even (the CREAM bounds need r*N/2 integral), got 4095");
}

TEST(ConfigErrors, LearningRateMustBePositive) {
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: 0"), "cfg.yaml: optim.lr: must be > 0, got 0.0");
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: -1e-4"), "cfg.yaml: optim.lr: must be > 0, got -1e-04");
}

TEST(ConfigErrors, OptimizerRangesAreChecked) {
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: 2e-5\n  betas: [0.9, 1.0]"),
                 "cfg.yaml: optim.betas: each beta must be in [0, 1), got 1.0");
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: 2e-5\n  eps: 0"), "cfg.yaml: optim.eps: must be > 0, got 0.0");
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: 2e-5\n  weight_decay: -0.1"),
                 "cfg.yaml: optim.weight_decay: must be >= 0, got -0.1");
  expect_refused(edited(kMinimal, "lr: 2e-5", "lr: 2e-5\n  name: sgd"),
                 "cfg.yaml: optim.name: unknown value \"sgd\" (expected one of: adamw)");
}

TEST(ConfigErrors, GlobalBatchMustSplitIntoMicroBatchesPerProcess) {
  const auto text = edited(kMinimal, "steps: 10", "steps: 10\n  global_batch: 32\n  micro_batch: 3");
  expect_refused(text, "cfg.yaml: train.micro_batch: global_batch 32 is not divisible by micro_batch 3 x world_size 1");
  const auto sixteen = edited(text, "micro_batch: 3", "micro_batch: 16");
  EXPECT_EQ(parse_error(sixteen, {}, 2), "");
  expect_refused(sixteen, "cfg.yaml: train.micro_batch: global_batch 32 is not divisible by micro_batch 16 x "
                          "world_size 4", {}, 4);
  EXPECT_EQ(parse_experiment(sixteen, "cfg.yaml", {}, 2).accumulation_steps(2), 1);
  EXPECT_EQ(parse_experiment(sixteen).accumulation_steps(1), 2);
}

TEST(ConfigErrors, MemoryModesRefuseWhatTheyCannotDo) {
  // The lean modes keep bf16 weights: not with model.dtype fp32.
  const auto fp32 = edited(kMinimal, "path: models/m", "path: models/m\n  dtype: fp32");
  for (const std::string mode : {"bf16-sr", "bf16-rtn", "offload", "step-in-backward"})
    expect_refused(edited(fp32, "steps: 10", "steps: 10\n  memory_mode: " + mode),
                   "cfg.yaml: train.memory_mode: " + mode +
                       " keeps bf16 weights; with model.dtype fp32 the only mode is fp32-masters");
  EXPECT_EQ(parse_error(edited(fp32, "steps: 10", "steps: 10\n  memory_mode: fp32-masters")), "");
  expect_refused(edited(kMinimal, "steps: 10", "steps: 10\n  memory_mode: bf16_sr"),
                 "cfg.yaml: train.memory_mode: unknown value \"bf16_sr\" (did you mean bf16-sr? expected one of: "
                 "fp32-masters, bf16-sr, bf16-rtn, offload, step-in-backward)");
  // The accumulation precision only exists where gradients accumulate in bf16 storage.
  expect_refused(edited(kMinimal, "steps: 10", "steps: 10\n  memory_mode: offload\n  grad_accumulation: bf16"),
                 "cfg.yaml: train.grad_accumulation: only applies with train.memory_mode bf16-sr or bf16-rtn, not "
                 "offload");
  EXPECT_EQ(parse_error(edited(kMinimal, "steps: 10", "steps: 10\n  memory_mode: bf16-rtn\n  grad_accumulation: bf16")),
            "");
}

TEST(ConfigErrors, StepInBackwardRefusesClippingAndAccumulation) {
  const auto mode = edited(kMinimal, "steps: 10", "steps: 10\n  memory_mode: step-in-backward");
  // grad_clip defaults to 1.0.
  expect_refused(mode, "cfg.yaml: train.grad_clip: step-in-backward updates each tensor as soon as its gradient is "
                       "final, before a global norm exists: set train.grad_clip 0, or choose another "
                       "train.memory_mode (bf16-sr clips)");
  const auto unclipped = edited(mode, "memory_mode", "grad_clip: 0\n  memory_mode");
  EXPECT_EQ(parse_error(unclipped), "");
  expect_refused(edited(unclipped, "grad_clip: 0", "grad_clip: 0\n  global_batch: 32"),
                 "cfg.yaml: train.global_batch: step-in-backward cannot accumulate micro-batches: global_batch 32 "
                 "must equal micro_batch 1 x world_size 1, or choose another train.memory_mode (bf16-sr accumulates)");
  // It updates inside backward, before the ranks' gradients are summed: one process only.
  expect_refused(edited(unclipped, "grad_clip: 0", "grad_clip: 0\n  global_batch: 4\n  micro_batch: 2"),
                 "cfg.yaml: train.memory_mode: step-in-backward updates each tensor inside backward, before the "
                 "ranks' gradients are averaged: it runs on one process only (with 2 processes use bf16-sr, "
                 "optionally dist.zero 1)",
                 {}, 2);
}

TEST(ConfigErrors, OutputDirMustNotBeOrBeInsideTheModelFolder) {
  expect_refused(edited(kMinimal, "output_dir: runs/x", "output_dir: models/m/run1"),
                 "cfg.yaml: checkpoint.output_dir: \"models/m/run1\" is inside the model folder (model.path) "
                 "\"models/m\"; a run must not write into what it reads");
  expect_refused(edited(kMinimal, "output_dir: runs/x", "output_dir: ./models/other/../m/"),
                 "cfg.yaml: checkpoint.output_dir: \"./models/other/../m/\" is the model folder (model.path) "
                 "\"models/m\"; a run must not write into what it reads");
  // A sibling whose name merely starts with the model's is fine.
  EXPECT_EQ(parse_error(edited(kMinimal, "output_dir: runs/x", "output_dir: models/m2")), "");
}

TEST(ConfigErrors, OutputDirThroughASymbolicLinkIsStillInsideTheModel) {
  const auto dir = fs::temp_directory_path() / ("cream_config_link_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "model");
  fs::create_directory_symlink(dir / "model", dir / "alias");
  const auto text = edited(edited(kMinimal, "path: models/m", "path: " + (dir / "model").string()),
                           "output_dir: runs/x", "output_dir: " + (dir / "alias" / "run").string());
  const auto message = parse_error(text);
  EXPECT_NE(message.find("checkpoint.output_dir: \"" + (dir / "alias" / "run").string() + "\" is inside the model "
                         "folder"),
            std::string::npos)
      << message;
  fs::remove_all(dir);
}

TEST(ConfigErrors, OutputDirMustNotBeInsideTheData) {
  expect_refused(kMinimal + "data:\n  train: data/t\n",
                 "cfg.yaml: checkpoint.output_dir (from --set): \"data/t/ckpt\" is inside the training data folder "
                 "(data.train) \"data/t\"; a run must not write into what it reads",
                 {"checkpoint.output_dir=data/t/ckpt"});
}

TEST(ConfigErrors, LinearFactorMustEqualTheExtensionFactor) {
  expect_refused(kMinimal + "rope:\n  type: linear\n  factor: 4\n",
                 "cfg.yaml: rope.factor: linear scaling must equal target_length / train_length = 8.0, got 4.0 (remove "
                 "the key to use the default)");
  EXPECT_EQ(parse_error(kMinimal + "rope:\n  type: linear\n  factor: 8.0\n"), "");
}

TEST(ConfigErrors, OtherRopeFactorsMayDifferButWarn) {
  const auto config = parse_experiment(kMinimal + "rope:\n  type: yarn\n  factor: 16\n", "cfg.yaml");
  ASSERT_EQ(config.warnings().size(), 1u);
  EXPECT_EQ(config.warnings()[0], "cfg.yaml: rope.factor: 16.0 differs from target_length / train_length = 8.0");
  EXPECT_TRUE(parse_experiment(kMinimal, "cfg.yaml").warnings().empty());
  expect_refused(kMinimal + "rope:\n  type: ntk\n  factor: 0.5\n", "cfg.yaml: rope.factor: must be >= 1, got 0.5");
}

TEST(ConfigErrors, RopeKeysOfAnotherTypeAreRefused) {
  expect_refused(kMinimal + "rope:\n  type: linear\n  beta_fast: 16\n",
                 "cfg.yaml: rope.beta_fast: only applies to rope.type yarn or yarn-cream (type is linear)");
  expect_refused(kMinimal + "rope:\n  type: yarn\n  high_freq_factor: 4\n",
                 "cfg.yaml: rope.high_freq_factor: only applies to rope.type llama3 (type is yarn)");
  expect_refused(kMinimal + "rope:\n  type: none\n  factor: 2\n",
                 "cfg.yaml: rope.factor: rope.type none scales nothing, so factor must be 1 or absent, got 2.0");
  expect_refused(kMinimal + "rope:\n  type: yarn\n  beta_fast: 1\n  beta_slow: 2\n",
                 "cfg.yaml: rope.beta_fast: must be > beta_slow 2.0, got 1.0");
  expect_refused(kMinimal + "rope:\n  type: llama3\n  low_freq_factor: 4\n  high_freq_factor: 1\n",
                 "cfg.yaml: rope.high_freq_factor: must be > low_freq_factor 4.0, got 1.0");
}

TEST(ConfigErrors, CreamOptionsOnlyApplyToCream) {
  const auto pose = edited(kMinimal, "method: cream", "method: pose");
  EXPECT_EQ(parse_error(pose), "");
  expect_refused(edited(pose, "target_length: 32768", "target_length: 32768\n  sigma: 2"),
                 "cfg.yaml: positions.sigma: only applies to method cream (method is pose)");
  expect_refused(edited(edited(kMinimal, "method: cream", "method: full"), "target_length: 32768",
                        "target_length: 32768\n  branch_per: batch"),
                 "cfg.yaml: positions.branch_per: only applies to method cream (method is full)");
}

TEST(ConfigErrors, CreamOptionRangesAreChecked) {
  auto with = [](const std::string& line) {
    return edited(kMinimal, "target_length: 32768", "target_length: 32768\n  " + line);
  };
  expect_refused(with("sigma: 0"), "cfg.yaml: positions.sigma: must be > 0, got 0.0");
  expect_refused(with("relativity_share: 1.5"), "cfg.yaml: positions.relativity_share: must be in [0, 1], got 1.5");
  expect_refused(with("continuity_length: -1"),
                 "cfg.yaml: positions.continuity_length: must be >= 0 (0 = 4 x L/N), got -1");
  expect_refused(with("continuity_length: 2048"),
                 "cfg.yaml: positions.continuity_length: head and tail of 2048 tokens each leave no middle segment "
                 "in train_length 4096 (need 2 x continuity_length < train_length; the default is 4 x L/N = 32)");
  expect_refused(with("branch_batch_size: 100"),
                 "cfg.yaml: positions.branch_batch_size: only applies with positions.branch_per batch");
  EXPECT_EQ(parse_error(with("branch_per: batch\n  branch_batch_size: 100")), "");
}

TEST(ConfigErrors, DefaultContinuityLengthCanBeTooLongForTinyModels) {
  // N = 64, L = 512: the default 4f = 32 leaves m = 64 - 2 x 32 = 0 middle tokens.
  const auto tiny = edited(edited(kMinimal, "train_length: 4096", "train_length: 64"), "target_length: 32768",
                           "target_length: 512");
  expect_refused(tiny, "cfg.yaml: positions.continuity_length: head and tail of 32 tokens each leave no middle "
                       "segment in train_length 64 (need 2 x continuity_length < train_length; the default is 4 x L/N "
                       "= 32)");
  EXPECT_EQ(parse_error(edited(tiny, "target_length: 512", "target_length: 512\n  continuity_length: 31")), "");
}

TEST(ConfigErrors, ContinuityLengthIsIrrelevantWithoutTheContinuityBranch) {
  const auto text = edited(kMinimal, "target_length: 32768", "target_length: 32768\n  continuity_length: 2048");
  EXPECT_NE(parse_error(text), "");
  EXPECT_EQ(parse_error(edited(text, "continuity_length: 2048", "continuity_length: 2048\n  relativity_share: 1")),
            "");
}

TEST(ConfigErrors, TheSamplersOwnChecksApplyToo) {
  // N = 2 passes the config's own checks when only the relativity branch is
  // drawn, but its head floor(N/3) would be empty: the sampler refuses it.
  const auto text = edited(edited(kMinimal, "train_length: 4096", "train_length: 2"), "target_length: 32768",
                           "target_length: 4\n  relativity_share: 1");
  expect_refused(text, "cfg.yaml: positions.train_length: must be >= 4 for cream's relativity branch (head floor(N/3) "
                       ">= 1), got 2");
  const auto options = parse_experiment(kMinimal).positions.sampler_options();
  EXPECT_EQ(options.method, positions::Method::cream);
  EXPECT_EQ(options.resolved_continuity_length(), 32);
  EXPECT_EQ(options.sigma, 3.0);
}

TEST(ConfigErrors, FullNeedsALongerTarget) {
  const auto full = edited(kMinimal, "method: cream", "method: full");
  EXPECT_EQ(parse_error(full), "");
  expect_refused(edited(full, "target_length: 32768", "target_length: 4096"),
                 "cfg.yaml: positions.target_length: 4096 is not a multiple >= 2 of train_length 4096 (method full "
                 "needs L = f x N with integer f >= 2)");
  EXPECT_EQ(parse_experiment(full, "cfg.yaml").warnings().size(), 1u);  // no activation checkpointing
}

TEST(ConfigErrors, ScheduleCombinationsAreChecked) {
  expect_refused(kMinimal + "schedule:\n  name: warmup_decay\n  warmup_steps: 11\n",
                 "cfg.yaml: schedule.warmup_steps: warm-up of 11 steps is longer than train.steps 10");
  expect_refused(kMinimal + "schedule:\n  name: cosine\n  min_lr: 1e-4\n",
                 "cfg.yaml: schedule.min_lr: must be <= optim.lr 2e-05, got 1e-04");
  expect_refused(kMinimal + "schedule:\n  min_lr: 1e-6\n",
                 "cfg.yaml: schedule.min_lr: has no effect with schedule.name constant and no warm-up (the rate is "
                 "optim.lr throughout)");
  // With a warm-up, min_lr is where a constant schedule's warm-up starts.
  EXPECT_EQ(parse_error(kMinimal + "schedule:\n  warmup_steps: 2\n  min_lr: 1e-6\n"), "");
  expect_refused(kMinimal + "schedule:\n  warmup_type: exp\n",
                 "cfg.yaml: schedule.warmup_type: unknown value \"exp\" (expected one of: linear, log)");
}

TEST(ConfigErrors, PeriodicEvaluationNeedsValidationData) {
  expect_refused(kMinimal + "eval:\n  every: 100\n",
                 "cfg.yaml: eval.every: evaluating every 100 steps needs data.valid (or set eval.every 0)");
  EXPECT_EQ(parse_error(kMinimal + "eval:\n  every: 100\ndata:\n  valid: data/v\n"), "");
}

TEST(ConfigErrors, InvalidYamlNamesLineAndColumn) {
  const auto message = parse_error(edited(kMinimal, "steps: 10", "steps: [10"));
  EXPECT_EQ(message.rfind("cfg.yaml:", 0), 0u) << message;
  EXPECT_NE(message.find(": invalid YAML: "), std::string::npos) << message;
  expect_refused(kMinimal + "---\n" + kMinimal, "cfg.yaml: expected one YAML document, got 2 (separated by ---)");
}

TEST(ConfigErrors, MissingFileIsNamed) {
  try {
    load_experiment("/nonexistent/cream.yaml");
    FAIL() << "no error";
  } catch (const cream::Error& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/cream.yaml: cannot open for reading");
  }
}

TEST(ConfigErrors, BadWorldSizeIsRefused) {
  expect_refused(kMinimal, "cfg.yaml: world_size must be >= 1, got 0", {}, 0);
}

}  // namespace
}  // namespace cream::config::testing
