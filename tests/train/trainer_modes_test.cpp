// The memory modes through the whole training loop on the tiny CPU run: each learns,
// each stops and resumes to the bit (the rounding generator included), offload equals
// fp32-masters, lean checkpoints are bf16 HF folders, a checkpoint of one mode resumes
// in another (converted and logged), step-in-backward's NaN stop.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "cream/io/checkpoint_folder.h"
#include "cream/io/safetensors.h"
#include "cream/model/weights.h"
#include "cream/train/run_folder.h"
#include "cream/train/trainer.h"
#include "cream/train/trainer_state.h"
#include "cream/util/fs.h"
#include "trainer_test_support.h"

namespace cream::train {
namespace {

using test::expect_error;
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

// The settings of each mode on the tiny run (bf16 compute; step-in-backward cannot clip
// nor accumulate: one micro-batch of 2 per step).
std::vector<std::string> mode_settings(const std::string& mode) {
  std::vector<std::string> s{"model.dtype=bf16"};
  if (mode == "bf16-sr-bf16") return {"model.dtype=bf16", "train.memory_mode=bf16-sr", "train.grad_accumulation=bf16"};
  s.push_back("train.memory_mode=" + mode);
  if (mode == "step-in-backward") {
    s.push_back("train.grad_clip=0");
    s.push_back("train.global_batch=2");
  }
  return s;
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class MemoryModes : public ::testing::TestWithParam<std::string> {};

TEST_P(MemoryModes, LowersTheLossOnTheTinyRun) {
  const test::ScopedDir scoped("modes_loss");
  Trainer trainer(tiny_experiment(scoped.path / "run", with(mode_settings(GetParam()),
                                                           {"train.steps=20", "optim.lr=1e-2", "checkpoint.every=0",
                                                            "schedule.name=constant", "schedule.warmup_steps=0"})));
  const auto l = losses(trainer.train());
  ASSERT_EQ(l.size(), 20u);
  const double last = (l[17] + l[18] + l[19]) / 3;
  EXPECT_LT(last, 0.85 * l.front()) << GetParam() << ": first " << l.front() << " last " << last;
}

TEST_P(MemoryModes, StopAndResumeIsBitExact) {
  const test::ScopedDir scoped("modes_resume");
  const auto overrides = with(mode_settings(GetParam()), {"train.steps=4", "checkpoint.every=0"});
  Trainer straight(tiny_experiment(scoped.path / "straight", overrides));
  const auto expected = losses(straight.train());
  TrainHooks hooks;
  hooks.after_backward = [](int64_t step, model::LlamaForCausalLMImpl&) {
    if (step == 1) std::raise(SIGINT);
  };
  auto got = losses(Trainer(tiny_experiment(scoped.path / "resumed", overrides), {}, hooks).train());
  ASSERT_EQ(got.size(), 2u);
  TrainOptions options;
  options.resume = true;
  Trainer resumed(tiny_experiment(scoped.path / "resumed", overrides), options);
  const auto rest = losses(resumed.train());
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected) << GetParam();
  expect_same_weights(straight, resumed);
}

INSTANTIATE_TEST_SUITE_P(EachMode, MemoryModes,
                         ::testing::Values("bf16-sr", "bf16-sr-bf16", "bf16-rtn", "offload", "step-in-backward"),
                         [](const auto& info) {
                           return std::regex_replace(info.param, std::regex("-"), "_");
                         });

TEST(TrainerModes, OffloadTrainsExactlyLikeFp32MastersOnTheCpu) {
  const test::ScopedDir scoped("modes_offload");
  const std::vector<std::string> common{"model.dtype=bf16", "train.steps=4", "checkpoint.every=0", "train.grad_clip=0.5"};
  Trainer masters(tiny_experiment(scoped.path / "masters", with(common, {"train.memory_mode=fp32-masters"})));
  Trainer offload(tiny_experiment(scoped.path / "offload", with(common, {"train.memory_mode=offload"})));
  const auto a = masters.train(), b = offload.train();
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].loss, b.steps[i].loss) << "step " << i + 1;
    EXPECT_EQ(a.steps[i].grad_norm, b.steps[i].grad_norm) << "step " << i + 1;
  }
  expect_same_weights(masters, offload);
  EXPECT_EQ(offload.state_bytes().host, offload.state_bytes().masters + offload.state_bytes().optimizer);
}

TEST(TrainerModes, Bf16SrCheckpointIsABf16HfFolderWithTheRoundingGenerator) {
  const test::ScopedDir scoped("modes_layout");
  Trainer trainer(tiny_experiment(scoped.path / "run", {"model.dtype=bf16", "train.steps=2"}));
  EXPECT_EQ(*trainer.config().train.memory_mode, config::MemoryMode::bf16_sr) << "the bf16 default";
  const auto folder = *trainer.train().last_checkpoint;
  const auto json = nlohmann::json::parse(std::ifstream(folder / "config.json"));
  EXPECT_EQ(json.at("torch_dtype"), "bfloat16");
  const io::CheckpointFolder weights(folder);
  EXPECT_EQ(weights.info("model.norm.weight").dtype, io::DType::BF16);
  const io::SafetensorsFile optimizer(folder / kOptimizerStateFile);
  std::map<std::string, io::DType> dtypes;
  for (const auto& info : optimizer.tensors()) dtypes[info.name] = info.dtype;
  EXPECT_EQ(dtypes.at("exp_avg.model.norm.weight"), io::DType::BF16);
  EXPECT_EQ(dtypes.at("rounding_rng"), io::DType::U8);
  EXPECT_EQ(dtypes.at("step"), io::DType::I64);
  // The folder loads as an HF model and holds exactly the trained bf16 weights.
  const auto loaded = model::load_model(folder, torch::kCPU, torch::kBFloat16);
  const auto params = loaded->named_parameters();
  for (const auto& [name, tensor] : trainer.master_weights()) {
    EXPECT_EQ(tensor.scalar_type(), torch::kBFloat16) << name;
    EXPECT_TRUE(torch::equal(*params.find(name), tensor)) << name;
  }
}

// A run saved with fp32-masters continues in bf16-sr: the protected key needs --force,
// the float32 weights and moments are rounded into bf16 and the log says so. A checkpoint
// of before train.memory_mode existed (no key in its config.yaml: float32 files from a
// bf16 run) converts the same way without --force.
TEST(TrainerModes, ResumesAnFp32MastersCheckpointInBf16Sr) {
  const test::ScopedDir scoped("modes_convert");
  const auto run = scoped.path / "run";
  Trainer(tiny_experiment(run, {"model.dtype=bf16", "train.memory_mode=fp32-masters", "train.steps=2"})).train();
  TrainOptions options;
  options.resume = true;
  const std::vector<std::string> lean{"model.dtype=bf16", "train.steps=4"};
  expect_error([&] { Trainer t(tiny_experiment(run, lean), options); }, {"train.memory_mode"});
  options.force = true;
  testing::internal::CaptureStderr();
  Trainer converted(tiny_experiment(run, lean), options);
  const auto log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("holds float32 weights, loaded as bfloat16"), std::string::npos) << log;
  EXPECT_NE(log.find("converted float32 -> bfloat16"), std::string::npos) << log;
  EXPECT_NE(log.find("restarts from train.seed"), std::string::npos) << log;
  EXPECT_EQ(converted.step(), 2);
  const auto result = converted.train();
  EXPECT_EQ(result.final_step, 4);
  for (const auto& step : result.steps) EXPECT_TRUE(std::isfinite(step.loss));
  EXPECT_EQ(io::CheckpointFolder(*result.last_checkpoint).info("model.norm.weight").dtype, io::DType::BF16);

  // The old layout: drop the key from the saved config; no --force needed any more.
  const auto old_run = scoped.path / "old";
  Trainer(tiny_experiment(old_run, {"model.dtype=bf16", "train.memory_mode=fp32-masters", "train.steps=2"})).train();
  const auto saved_yaml = old_run / "step-000002" / "config.yaml";
  const auto text = util::read_text_file(saved_yaml);
  util::write_file_atomic(saved_yaml, std::regex_replace(text, std::regex("\\n *memory_mode:[^\\n]*"), ""));
  ASSERT_EQ(util::read_text_file(saved_yaml).find("memory_mode"), std::string::npos);
  options.force = false;
  testing::internal::CaptureStderr();
  Trainer old(tiny_experiment(old_run, lean), options);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("converted float32 -> bfloat16"), std::string::npos);
  EXPECT_EQ(old.train().final_step, 4);
}

TEST(TrainerModes, StepInBackwardStopsWithoutSavingANonFiniteStep) {
  const test::ScopedDir scoped("modes_nan");
  const auto run = scoped.path / "run";
  TrainHooks hooks;
  // After step 2's backward: the next backward (step 3) hands model.norm.weight a NaN gradient.
  hooks.after_backward = [](int64_t step, model::LlamaForCausalLMImpl& model) {
    if (step == 1) model.model->norm->weight.register_hook([](const torch::Tensor& g) { return g * std::nan(""); });
  };
  Trainer trainer(tiny_experiment(run, with(mode_settings("step-in-backward"), {"checkpoint.every=2"})), {}, hooks);
  expect_error([&] { trainer.train(); }, {"step 3", "gradient norm nan", "without saving", "step-000002"});
  EXPECT_EQ(trainer.step(), 2);
  const auto saved = complete_checkpoints(run);
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved.back().step, 2);
  for (const auto& [name, tensor] : trainer.master_weights())
    EXPECT_TRUE(torch::isfinite(tensor).all().item<bool>()) << name << ": the NaN tensor's update was masked";
}

}  // namespace
}  // namespace cream::train
