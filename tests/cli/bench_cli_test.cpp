// `cream bench` as a user runs it: one JSON line with every setting echoed, a positive
// speed, a loss near ln(vocab) for a fresh random model (the step really ran the model it
// built), FLOPs per token and MFU equal to values worked out by hand below, and bad
// flags refused in one line that names the flag.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cli_helpers.h"

using cream::test::contains;
using cream::test::run_cream;

namespace {

// The tiny preset: hidden 64, intermediate 172, 4 heads of 16, 2 kv heads, 2 layers,
// vocab 512, untied. Per layer: q 64x64 + k 64x32 + v 64x32 + o 64x64 = 12,288,
// MLP 3 x 64 x 172 = 33,024, two norms 128 -> 45,440. Two layers 90,880, embedding and
// lm_head 2 x 32,768, final norm 64: 156,480 parameters; without the input embedding
// table 123,712.
constexpr double kTinyParameters = 156480;
constexpr double kTinyMultiplying = 123712;
// 6 x 123,712 + 12 x 2 layers x 64 hidden x seq
double tiny_flops_per_token(double seq) { return 6 * kTinyMultiplying + 12 * 2 * 64 * seq; }

constexpr const char* kQuick = " --device cpu --threads 1 --seq 16 --micro-batch 2 --steps 2 --warmup 1";

nlohmann::json bench_json(const std::string& flags) {
  const auto result = run_cream("bench --preset tiny" + std::string(kQuick) + " " + flags);
  EXPECT_EQ(result.status, 0) << flags << ": " << result.output;
  if (result.status != 0) return nlohmann::json::object();
  // Exactly one line on stdout: the JSON object (logs go to stderr).
  const auto stdout_text = result.output.substr(0, result.output.size() - result.stderr_text.size());
  EXPECT_EQ(cream::test::line_count(stdout_text), 1) << stdout_text;
  return nlohmann::json::parse(stdout_text);
}

void expect_train_fields(const nlohmann::json& r, const std::string& mode) {
  EXPECT_EQ(r.at("bench"), "train");
  EXPECT_EQ(r.at("preset"), "tiny");
  EXPECT_EQ(r.at("memory_mode"), mode);
  EXPECT_EQ(r.at("dtype"), "bf16");
  EXPECT_EQ(r.at("device"), "cpu");
  EXPECT_EQ(r.at("threads"), 1);
  EXPECT_EQ(r.at("seq"), 16);
  EXPECT_EQ(r.at("micro_batch"), 2);
  EXPECT_EQ(r.at("steps"), 2);
  EXPECT_EQ(r.at("warmup"), 1);
  EXPECT_EQ(r.at("checkpointing"), "none");
  EXPECT_EQ(r.at("tokens_per_step"), 2 * 16);
  EXPECT_EQ(r.at("shape").at("parameters").get<double>(), kTinyParameters);
  EXPECT_FALSE(r.at("libtorch").get<std::string>().empty());
  EXPECT_GT(r.at("tokens_per_s").get<double>(), 0.0);
  EXPECT_EQ(r.at("flops_per_token").get<double>(), tiny_flops_per_token(16));
  EXPECT_TRUE(r.at("mfu").is_null()) << "no peak is known for a CPU";
  EXPECT_GT(r.at("peak_memory_bytes").get<double>(), 0.0);
  EXPECT_GT(r.at("memory").at("host").at("baseline").at("bytes").get<double>(), 0.0);
  EXPECT_TRUE(r.at("memory").at("device").is_null());
  // bf16 compute weights in both modes: 2 bytes per parameter.
  EXPECT_EQ(r.at("state_bytes").at("weights").get<double>(), 2 * kTinyParameters);
  EXPECT_NEAR(r.at("final_loss").get<double>(), std::log(512.0), 0.5);
  EXPECT_GT(r.at("grad_norm").get<double>(), 0.0);
}

void expect_refused(const std::string& flags, const std::string& flag) {
  const auto result = run_cream("bench --preset tiny" + std::string(kQuick) + " " + flags);
  EXPECT_EQ(result.status, 1) << flags;
  EXPECT_EQ(cream::test::line_count(result.stderr_text), 1) << result.stderr_text;
  EXPECT_TRUE(contains(result.stderr_text, flag)) << flags << " -> " << result.stderr_text;
}

TEST(BenchCli, AStepThatCannotFitIsRefusedBeforeAnyAllocation) {
  // Llama-2-7B, 256 sequences of 4096 tokens without checkpointing: terabytes of
  // activations, over any machine's memory. Refused at once, by the plan, in one line.
  const auto result = run_cream("bench --preset llama2-7b --device cpu --seq 4096 --micro-batch 256 --steps 1");
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(cream::test::line_count(result.stderr_text), 1) << result.stderr_text;
  for (const char* fragment : {"memory plan: peak", "cpu (physical RAM)", "--checkpointing all", "--no-memory-check"})
    EXPECT_TRUE(contains(result.stderr_text, fragment)) << fragment << " not in " << result.stderr_text;
}

TEST(BenchCli, Bf16AttentionRunsUnderThePinnedAvx2Kernels) {
  // The demo pins ATEN_CPU_CAPABILITY=avx2; LibTorch's CPU flash attention refuses bf16
  // then on AVX-512 machines, and cream falls back to the math path (model/llama.cpp).
  ::setenv("ATEN_CPU_CAPABILITY", "avx2", 1);
  const auto train = run_cream("bench --preset tiny" + std::string(kQuick) + " --seq 64 --memory-mode bf16-sr");
  const auto eval = run_cream("bench --preset tiny --device cpu --threads 1 --eval-length 64 --steps 1 --warmup 0");
  ::unsetenv("ATEN_CPU_CAPABILITY");
  for (const auto* result : {&train, &eval}) {
    ASSERT_EQ(result->status, 0) << result->output;
    const auto start = result->output.find('{');
    const auto json = nlohmann::json::parse(result->output.substr(start, result->output.find('\n', start) - start));
    EXPECT_NEAR(json.at("final_loss").get<double>(), std::log(512.0), 0.5);
  }
}

}  // namespace

TEST(BenchCli, TrainPrintsOneJsonLineInTheLeanMode) {
  const auto r = bench_json("--memory-mode bf16-sr");
  expect_train_fields(r, "bf16-sr");
  EXPECT_EQ(r.at("grad_accumulation"), "fp32");
}

TEST(BenchCli, TrainPrintsOneJsonLineWithFloat32Masters) {
  const auto r = bench_json("--memory-mode fp32-masters");
  expect_train_fields(r, "fp32-masters");
  EXPECT_TRUE(r.at("grad_accumulation").is_null());
  EXPECT_EQ(r.at("state_bytes").at("masters").get<double>(), 4 * kTinyParameters);
}

TEST(BenchCli, MicroBatchesAndCheckpointingAreEchoed) {
  const auto r = bench_json("--memory-mode bf16-rtn --grad-accumulation bf16 --micro-batches 2 --checkpointing every:2");
  EXPECT_EQ(r.at("memory_mode"), "bf16-rtn");
  EXPECT_EQ(r.at("grad_accumulation"), "bf16");
  EXPECT_EQ(r.at("checkpointing"), "every:2");
  EXPECT_EQ(r.at("micro_batches"), 2);
  EXPECT_EQ(r.at("tokens_per_step"), 2 * 2 * 16);
  EXPECT_NEAR(r.at("final_loss").get<double>(), std::log(512.0), 0.5);
}

TEST(BenchCli, StepInBackwardRunsWithoutClipping) {
  const auto r = bench_json("--memory-mode step-in-backward");
  EXPECT_EQ(r.at("memory_mode"), "step-in-backward");
  EXPECT_EQ(r.at("grad_clip"), 0.0);
  EXPECT_NEAR(r.at("final_loss").get<double>(), std::log(512.0), 0.5);
}

TEST(BenchCli, MfuIsTokensTimesFlopsOverThePeak) {
  const auto r = bench_json("--memory-mode bf16-sr --peak-tflops 2");
  const double tokens_per_s = r.at("tokens_per_s").get<double>();
  EXPECT_EQ(r.at("peak_tflops").get<double>(), 2.0);
  EXPECT_NEAR(r.at("mfu").get<double>(), tokens_per_s * 766848.0 / 2e12, 2e-5);
}

TEST(BenchCli, ShapeFlagsOverrideThePreset) {
  // 1 layer, hidden 32, 2 heads (kv heads follow), intermediate 64, vocab 64. Layer:
  // 4 x 32 x 32 + 3 x 32 x 64 + 2 x 32 = 10,304; + 2 x 64 x 32 + 32 = 14,432 parameters,
  // 12,384 without the embedding. FLOPs per token at 16: 6 x 12,384 + 12 x 32 x 16 = 80,448.
  const auto r = bench_json("--layers 1 --hidden 32 --heads 2 --intermediate 64 --vocab 64");
  EXPECT_EQ(r.at("custom_shape"), true);
  EXPECT_EQ(r.at("shape").at("kv_heads"), 2);
  EXPECT_EQ(r.at("shape").at("head_dim"), 16);
  EXPECT_EQ(r.at("shape").at("parameters").get<double>(), 14432.0);
  EXPECT_EQ(r.at("flops_per_token").get<double>(), 80448.0);
  EXPECT_NEAR(r.at("final_loss").get<double>(), std::log(64.0), 0.5);
}

TEST(BenchCli, EvalLengthTimesAForwardWithoutGradients) {
  const auto r = bench_json("--eval-length 64");
  EXPECT_EQ(r.at("bench"), "eval");
  EXPECT_EQ(r.at("eval_length"), 64);
  EXPECT_EQ(r.at("tokens_per_step"), 2 * 64);
  EXPECT_GT(r.at("tokens_per_s").get<double>(), 0.0);
  // A forward is a third of the training FLOPs at the eval length.
  EXPECT_NEAR(r.at("flops_per_token").get<double>(), tiny_flops_per_token(64) / 3, 1e-6);
  EXPECT_GT(r.at("peak_memory_bytes").get<double>(), 0.0);
  EXPECT_NEAR(r.at("final_loss").get<double>(), std::log(512.0), 0.5);
  EXPECT_FALSE(r.contains("memory_mode")) << "an eval forward has no optimizer state";
}

TEST(BenchCli, BadFlagsAreOneLineNamingTheFlag) {
  expect_refused("--memory-mode fp64-masters", "--memory-mode");
  expect_refused("--preset llama9-1t", "--preset");
  expect_refused("--dtype fp32 --memory-mode bf16-sr", "--memory-mode");
  expect_refused("--memory-mode fp32-masters --grad-accumulation bf16", "--grad-accumulation");
  expect_refused("--memory-mode step-in-backward --micro-batches 2", "--micro-batches");
  expect_refused("--checkpointing every:0", "--checkpointing");
  expect_refused("--eval-length 64 --memory-mode offload", "--memory-mode");
  expect_refused("--heads 3", "--heads");
  expect_refused("--dtype fp16", "--dtype");
}
