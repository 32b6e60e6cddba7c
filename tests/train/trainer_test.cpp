// The training loop end to end on a tiny model: learning, activation checkpointing,
// bit-exact stop-and-resume, killed saves, the NaN guard, bf16, checkpoint layout.
// The memory modes end to end: tests/train/trainer_modes_test.cpp.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "cream/io/checkpoint_folder.h"
#include "cream/model/presets.h"
#include "cream/model/weights.h"
#include "cream/train/memory_plan.h"
#include "cream/train/run_folder.h"
#include "cream/train/trainer.h"
#include "cream/train/trainer_state.h"
#include "trainer_test_support.h"

namespace cream::train {
namespace {

using test::expect_error;
using test::fresh_dir;
using test::tiny_experiment;

std::vector<double> losses(const TrainResult& result) {
  std::vector<double> out;
  for (const auto& step : result.steps) out.push_back(step.loss);
  return out;
}

void expect_same_weights(const Trainer& a, const Trainer& b) {
  const auto wa = a.master_weights(), wb = b.master_weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(wa[i].first, wb[i].first);
    EXPECT_TRUE(torch::equal(wa[i].second, wb[i].second)) << wa[i].first;
  }
}

double mean_of_last(const std::vector<double>& values, size_t count) {
  double sum = 0;
  for (size_t i = values.size() - count; i < values.size(); ++i) sum += values[i];
  return sum / static_cast<double>(count);
}

TEST(Trainer, LossFallsOnRepetitiveData) {
  const test::ScopedDir scoped("trainer_loss");
  const auto& dir = scoped.path;
  Trainer trainer(tiny_experiment(dir / "run", {"train.steps=30", "optim.lr=1e-2", "checkpoint.every=0",
                                                "schedule.name=constant", "schedule.warmup_steps=0"}));
  const auto result = trainer.train();
  const auto l = losses(result);
  ASSERT_EQ(l.size(), 30u);
  // Random init: close to ln(vocab = 400) ~ 6.0.
  EXPECT_GT(l.front(), 5.0);
  EXPECT_LT(mean_of_last(l, 5), 0.8 * l.front()) << "first " << l.front() << " last " << l.back();
  for (const auto& step : result.steps) EXPECT_GT(step.grad_norm, 0.0);
  ASSERT_TRUE(result.last_checkpoint);
  EXPECT_EQ(result.last_checkpoint->filename(), "step-000030");
}

TEST(Trainer, ActivationCheckpointingGivesTheSameTraining) {
  const test::ScopedDir scoped("trainer_actckpt");
  const auto& dir = scoped.path;
  Trainer plain(tiny_experiment(dir / "plain", {"train.steps=3"}));
  Trainer checkpointed(tiny_experiment(dir / "ckpt", {"train.steps=3", "train.activation_checkpointing=true"}));
  const auto a = losses(plain.train());
  const auto b = losses(checkpointed.train());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::abs(a[i])) << "step " << i + 1;
  const auto wa = plain.master_weights(), wb = checkpointed.master_weights();
  for (size_t i = 0; i < wa.size(); ++i)
    EXPECT_TRUE(torch::allclose(wa[i].second, wb[i].second, 1e-5, 1e-6)) << wa[i].first;
}

// Accumulation must give the token-weighted mean over the whole step: two micro-batches
// of 2 sequences train exactly like one micro-batch of 4 (same windows, same draws).
TEST(Trainer, AccumulationEqualsOneLargeMicroBatch) {
  const test::ScopedDir scoped("trainer_accumulation");
  const auto& dir = scoped.path;
  Trainer accumulated(tiny_experiment(dir / "accumulated", {"train.steps=2"}));
  Trainer single(tiny_experiment(dir / "single", {"train.steps=2", "train.micro_batch=4"}));
  const auto a = accumulated.train(), b = single.train();
  ASSERT_EQ(a.steps.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(a.steps[i].loss, b.steps[i].loss, 1e-5) << "step " << i + 1;
    EXPECT_NEAR(a.steps[i].grad_norm, b.steps[i].grad_norm, 1e-4 * b.steps[i].grad_norm) << "step " << i + 1;
  }
  const auto wa = accumulated.master_weights(), wb = single.master_weights();
  for (size_t i = 0; i < wa.size(); ++i)
    EXPECT_TRUE(torch::allclose(wa[i].second, wb[i].second, 1e-4, 1e-5)) << wa[i].first;
}

// Runs 6 steps straight, and 6 steps as 4 (stopped by SIGINT raised during step 4)
// plus a resume: losses and final weights must be identical to the bit.
class StopAndResume : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_dir("trainer_resume");
    straight_ = std::make_unique<Trainer>(tiny_experiment(dir_ / "straight"));
    straight_losses_ = losses(straight_->train());
    ASSERT_EQ(straight_losses_.size(), 6u);
  }

  // The first 4 steps; the stop arrives while step 4 runs and it is finished and saved.
  std::vector<double> run_first_part(const fs::path& run) {
    TrainHooks hooks;
    hooks.after_backward = [](int64_t step, model::LlamaForCausalLMImpl&) {
      if (step == 3) std::raise(SIGINT);
    };
    Trainer first(tiny_experiment(run, {"checkpoint.every=3"}), {}, hooks);
    const auto result = first.train();
    EXPECT_TRUE(result.stopped_by_signal);
    EXPECT_EQ(result.final_step, 4);
    return losses(result);
  }

  void expect_resume_matches(const fs::path& run, const std::vector<double>& first_part,
                             const std::vector<std::string>& overrides = {"checkpoint.every=3"}) {
    TrainOptions options;
    options.resume = true;
    Trainer second(tiny_experiment(run, overrides), options);
    EXPECT_EQ(second.step(), 4);
    const auto rest = losses(second.train());
    std::vector<double> all = first_part;
    all.insert(all.end(), rest.begin(), rest.end());
    ASSERT_EQ(all.size(), straight_losses_.size());
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], straight_losses_[i]) << "step " << i + 1;
    expect_same_weights(*straight_, second);
  }

  void TearDown() override {
    straight_.reset();
    fs::remove_all(dir_);
  }

  fs::path dir_;
  std::unique_ptr<Trainer> straight_;
  std::vector<double> straight_losses_;
};

TEST_F(StopAndResume, ReproducesTheUninterruptedRunBitForBit) {
  const auto run = dir_ / "resumed";
  const auto first = run_first_part(run);
  // checkpoint.every=3 saved step 3; the signal saved step 4.
  const auto saved = complete_checkpoints(run);
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved.back().step, 4);
  expect_resume_matches(run, first);
}

TEST_F(StopAndResume, IgnoresASaveKilledMidway) {
  const auto run = dir_ / "killed";
  const auto first = run_first_part(run);
  // A save of step 5 killed before its marker, and a killed save's temporary folder.
  fs::create_directories(run / "step-000005");
  test::write_file(run / "step-000005" / "model.safetensors", "truncated");
  fs::create_directories(run / ".tmp-step-000006-1234");
  test::write_file(run / ".tmp-step-000006-1234" / "config.json", "{");
  ASSERT_EQ(latest_complete_checkpoint(run)->step, 4);
  expect_resume_matches(run, first);
  EXPECT_FALSE(fs::exists(run / ".tmp-step-000006-1234"));
}

TEST_F(StopAndResume, RefusesAChangedConfigUnlessForced) {
  const auto run = dir_ / "changed";
  run_first_part(run);
  TrainOptions options;
  options.resume = true;
  expect_error([&] { Trainer t(tiny_experiment(run, {"checkpoint.every=3", "positions.sigma=2.0"}), options); },
               {"positions.sigma"});
  // A fresh start must not mix with the existing checkpoints.
  expect_error([&] { Trainer t(tiny_experiment(run, {"checkpoint.every=3"})); }, {"--resume", "step-000004"});
  // log.every is not protected: the run resumes without --force.
  {
    Trainer relogged(tiny_experiment(run, {"checkpoint.every=3", "log.every=2"}), options);
    EXPECT_EQ(relogged.step(), 4);
  }  // one run per folder: this one lets go before the next starts
  // The protected change goes through with --force.
  options.force = true;
  Trainer forced(tiny_experiment(run, {"checkpoint.every=3", "positions.sigma=2.0"}), options);
  EXPECT_EQ(forced.step(), 4);
  EXPECT_EQ(forced.train().final_step, 6);
}

TEST(Trainer, NonFiniteGradientStopsBeforeTheOptimizerStep) {
  const test::ScopedDir scoped("trainer_nan");
  const auto& dir = scoped.path;
  TrainHooks hooks;
  hooks.after_backward = [](int64_t step, model::LlamaForCausalLMImpl& model) {
    if (step == 2) model.model->norm->weight.mutable_grad().fill_(std::nan(""));
  };
  Trainer trainer(tiny_experiment(dir / "run"), {}, hooks);
  expect_error([&] { trainer.train(); }, {"step 3", "gradient norm nan", "before the optimizer step", "step-000002"});
  EXPECT_EQ(trainer.step(), 2);
  const auto saved = complete_checkpoints(dir / "run");
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved.back().step, 2);
  // The weights are those after step 2: the NaN never reached them.
  for (const auto& [name, tensor] : trainer.master_weights()) EXPECT_TRUE(torch::isfinite(tensor).all().item<bool>()) << name;
}

TEST(Trainer, Bf16TrainsWithFloat32Masters) {
  const test::ScopedDir scoped("trainer_bf16");
  const auto& dir = scoped.path;
  Trainer trainer(tiny_experiment(dir / "run", {"model.dtype=bf16", "train.memory_mode=fp32-masters",
                                                "train.steps=20", "optim.lr=1e-2", "checkpoint.every=0",
                                                "schedule.name=constant", "schedule.warmup_steps=0"}));
  const auto result = trainer.train();
  const auto l = losses(result);
  EXPECT_LT(mean_of_last(l, 3), 0.85 * l.front());
  for (const auto& [name, tensor] : trainer.master_weights()) EXPECT_EQ(tensor.scalar_type(), torch::kFloat) << name;
  // The checkpoint holds the float32 masters.
  const io::CheckpointFolder folder(*result.last_checkpoint);
  EXPECT_EQ(folder.info("model.norm.weight").dtype, io::DType::F32);
}

TEST(Trainer, Bf16ResumeIsBitExactToo) {
  const test::ScopedDir scoped("trainer_bf16_resume");
  const auto& dir = scoped.path;
  const std::vector<std::string> overrides{"model.dtype=bf16", "train.memory_mode=fp32-masters", "train.steps=4",
                                           "checkpoint.every=0"};
  Trainer straight(tiny_experiment(dir / "straight", overrides));
  const auto expected = losses(straight.train());
  TrainHooks hooks;
  hooks.after_backward = [](int64_t step, model::LlamaForCausalLMImpl&) {
    if (step == 1) std::raise(SIGINT);
  };
  auto got = losses(Trainer(tiny_experiment(dir / "resumed", overrides), {}, hooks).train());
  ASSERT_EQ(got.size(), 2u);
  TrainOptions options;
  options.resume = true;
  Trainer resumed(tiny_experiment(dir / "resumed", overrides), options);
  const auto rest = losses(resumed.train());
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected);
  expect_same_weights(straight, resumed);
}

TEST(Trainer, CheckpointIsAnHfFolderWithTrainerState) {
  const test::ScopedDir scoped("trainer_layout");
  const auto& dir = scoped.path;
  Trainer trainer(tiny_experiment(dir / "run", {"train.steps=2", "checkpoint.keep=1", "checkpoint.every=1",
                                                "eval.every=2", "rope.type=yarn"}));
  const auto result = trainer.train();
  const auto folder = dir / "run" / "step-000002";
  ASSERT_EQ(*result.last_checkpoint, folder);
  EXPECT_FALSE(fs::exists(dir / "run" / "step-000001")) << "keep: 1 prunes older checkpoints";
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.model", "trainer_state.json",
                           "optimizer.safetensors", "config.yaml", "COMPLETE"})
    EXPECT_TRUE(fs::exists(folder / name)) << name;
  EXPECT_TRUE(fs::exists(dir / "run" / "config.yaml"));

  // config.json: the experiment's RoPE scaling and the tokenizer's vocabulary (400).
  const auto json = nlohmann::json::parse(std::ifstream(folder / "config.json"));
  EXPECT_EQ(json.at("vocab_size"), 400);
  EXPECT_EQ(json.at("torch_dtype"), "float32");
  EXPECT_EQ(json.at("rope_scaling").at("rope_type"), "yarn");
  EXPECT_EQ(json.at("rope_scaling").at("factor"), 4.0);
  EXPECT_EQ(json.at("rope_scaling").at("original_max_position_embeddings"), 32);

  // The model folder loads and holds exactly the master weights.
  const auto loaded = model::load_model(folder);
  const auto masters = trainer.master_weights();
  const auto params = loaded->named_parameters();
  ASSERT_EQ(params.size(), masters.size());
  for (const auto& [name, tensor] : masters) EXPECT_TRUE(torch::equal(*params.find(name), tensor)) << name;

  const auto state = read_trainer_state(folder);
  EXPECT_EQ(state.step, 2);
  EXPECT_EQ(state.sampler_draws, 8);  // 2 steps x 4 sequences
  EXPECT_EQ(state.loader.at("index"), 8);
  EXPECT_EQ(state.config_fingerprint, config::fingerprint(trainer.config()));

  // Validation at both lengths, logged to metrics.jsonl.
  ASSERT_EQ(result.evals.size(), 2u);
  for (const auto& eval : result.evals) {
    EXPECT_GT(eval.loss, 0.0);
    EXPECT_DOUBLE_EQ(eval.perplexity, std::exp(eval.loss));
    EXPECT_EQ(eval.windows, 4);
  }
  std::ifstream metrics(dir / "run" / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(metrics, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].at("step"), 2);
  EXPECT_DOUBLE_EQ(lines[1].at("eval_loss_128").get<double>(), result.evals[1].loss);
  for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s", "memory"}) EXPECT_TRUE(lines[0].contains(key)) << key;
}

TEST(Trainer, SetupErrorsAreOneLine) {
  const test::ScopedDir scoped("trainer_errors");
  const auto& dir = scoped.path;
  expect_error([&] { Trainer t(tiny_experiment(dir / "run", {"data.train=" + (dir / "missing").string()})); },
               {"missing"});
  expect_error([&] { Trainer t(tiny_experiment(dir / "run", {"model.init=no-such-preset"})); },
               {"model.init", "no-such-preset"});
  // The validation set (6 documents of ~400 tokens) has no window of 4096 tokens.
  expect_error([&] { Trainer t(tiny_experiment(dir / "run", {"eval.every=1", "eval.lengths=[32,4096]"})); },
               {"eval.lengths", "4096"});
  if (!torch::cuda::is_available())
    expect_error([&] { Trainer t(tiny_experiment(dir / "run", {"model.device=cuda"})); }, {"model.device"});
}

TEST(Trainer, OneRunPerFolder) {
  const test::ScopedDir scoped("trainer_lock");
  const auto run = scoped.path / "run";
  {
    Trainer first(tiny_experiment(run));
    // A second writer, before the first has trained or written anything: refused.
    expect_error([&] { Trainer second(tiny_experiment(run)); }, {"checkpoint.output_dir", "is in use", "pid"});
  }
  Trainer after(tiny_experiment(run));  // the lock went with the first
}

TEST(Trainer, AFailedSetupLeavesNoFolderBehind) {
  const test::ScopedDir scoped("trainer_failed_setup");
  const auto run = scoped.path / "run";
  // A model folder with a config.json but no weights fails while loading, after the run
  // folder was created and locked.
  const auto weightless = scoped.path / "weightless";
  fs::create_directories(weightless);
  auto model_config = model::preset("tiny");
  model_config.vocab_size = 4096;
  std::ofstream(weightless / "config.json") << model_config.to_json().dump();
  auto config = tiny_experiment(run);
  config.model.init.clear();
  config.model.path = weightless.string();
  expect_error([&] { Trainer t(config); }, {"weightless"});
  EXPECT_FALSE(fs::exists(run));
}

TEST(Trainer, DryRunPlansTheModelTheRunBuilds) {
  const test::ScopedDir scoped("trainer_plan_vocab");
  const auto config = tiny_experiment(scoped.path / "run");
  const auto plan = plan_training(config);
  Trainer trainer(config);
  // model.init tiny has 512 entries; the run (and so the plan) takes the tokenizer's.
  EXPECT_EQ(plan.model.vocab_size, trainer.model_config().vocab_size);
  EXPECT_NE(plan.model.vocab_size, 512);
  EXPECT_EQ(plan.parameters, trainer.model_config().num_parameters());
}

}  // namespace
}  // namespace cream::train
